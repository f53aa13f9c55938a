"""Redaction of secrets from headers, bodies and free text.

Two layers keep a secret out of logs, reprs, errors and journals:

1. *By name*: headers such as ``Authorization`` or ``x-password`` and body fields such as
   ``password`` or ``token`` are replaced wholesale, whatever their value.
2. *By value*: a :class:`Redactor` knows the secret values a client holds and scrubs them
   from any text (a provider may echo a token back in an error message).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "SENSITIVE_FIELDS", "SENSITIVE_HEADERS", "Redactor", "redact_body"]

MASK = "**********"

SENSITIVE_HEADERS = frozenset({"authorization", "x-password", "proxy-authorization", "cookie"})
SENSITIVE_FIELDS = frozenset(
    {"password", "token", "api_key", "apikey", "refresh_token", "refreshtoken", "secret"}
)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with credential headers masked."""
    return {k: (MASK if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


def redact_body(body: Any) -> Any:
    """Return a copy of a JSON-like body with credential fields masked, recursively."""
    if isinstance(body, Mapping):
        return {
            k: (MASK if str(k).lower() in SENSITIVE_FIELDS else redact_body(v))
            for k, v in body.items()
        }
    if isinstance(body, list | tuple):
        return [redact_body(v) for v in body]
    return body


class Redactor:
    """Scrubs known secret values out of text.

    Example:
        >>> r = Redactor(["s3cret-token"])
        >>> r.scrub("bad token s3cret-token")
        'bad token **********'
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Very short values would mask ordinary words; a 4+ character secret is the floor.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def add(self, secret: str) -> None:
        """Also scrub ``secret`` from now on (a refreshed token, a token passed as an id)."""
        if len(secret) >= 4 and secret not in self._secrets:
            self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        """Replace every known secret in ``text`` with the mask."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"
