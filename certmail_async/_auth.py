"""The one auth seam: credentials applied by the transport at the last moment.

An :class:`Auth` (the shape of httpx's ``Auth``) gets an :class:`AuthRequest` (the
operation, its headers and its JSON body) right before the transport writes it, and adds
the credentials the provider wants: a bearer header, Basic credentials, mailbox headers or
body fields. Every secret it places goes through :meth:`AuthRequest.secret`, which

* registers the secret with the transport's :class:`~certmail_async._redact.Redactor`
  (so a refreshed token is scrubbed from errors and logs in every encoding), and
* returns it as a :class:`~certmail_async._redact.Masked` string, whose ``repr`` is the
  mask: no SDK frame holds a plaintext credential in a local variable, and a traceback
  captured with ``capture_locals=True`` shows none.

Wire builders never see a credential: a provider's Auth subclass (``pecmassiva/_auth.py``,
``legallymail/_auth.py``) knows where its provider wants them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._exceptions import ValidationError
from ._redact import Masked, Redactor
from ._tokens import TokenSource
from ._types import SecretStr
from ._validation import check_secret

if TYPE_CHECKING:
    from ._transport import Operation

__all__ = [
    "MAX_SECRET_LEN",
    "Auth",
    "AuthRequest",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "check_secret_length",
    "scope_digest",
]

#: The longest credential accepted (characters): real tokens and passwords are far shorter,
#: and a huge one would only make every request and every scrub slower.
MAX_SECRET_LEN = 4096


def check_secret_length(value: str | SecretStr, *, field: str) -> SecretStr:
    """``value`` as a :class:`SecretStr`, refused when longer than :data:`MAX_SECRET_LEN`.

    The error names the field and the limit, never the value.

    Example:
        >>> check_secret_length("x" * 5000, field="token")
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: token: longer than 4096 characters
    """
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    if len(secret.get_secret_value()) > MAX_SECRET_LEN:
        raise ValidationError(f"longer than {MAX_SECRET_LEN} characters", field=field)
    return secret


def scope_digest(*parts: str) -> str:
    """A stable, non-reversible scope key from secret material (e.g. a token).

    Example:
        >>> len(scope_digest("token"))
        16
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


class AuthRequest:
    """What an :class:`Auth` may change in a request about to be written.

    ``json`` is the transport's own copy of the JSON body (a ``dict`` or ``None``).

    Example:
        >>> from certmail_async._transport import Operation
        >>> req = AuthRequest(Operation(provider="p", name="n", method="GET", path="/"),
        ...                   headers={}, json=None, redactor=Redactor())
        >>> req.headers["Authorization"] = req.secret(SecretStr("tok-1234"), prefix="Bearer ")
        >>> req.headers
        {'Authorization': '**********'}
    """

    __slots__ = ("_redactor", "headers", "json", "op")

    def __init__(
        self,
        op: Operation,
        *,
        headers: dict[str, str],
        json: dict[str, Any] | None,
        redactor: Redactor,
    ) -> None:
        self.op = op
        self.headers = headers
        self.json = json
        self._redactor = redactor

    def secret(self, value: SecretStr, *, prefix: str = "") -> Masked:
        """``prefix + value`` ready for the wire, with ``value`` registered for redaction."""
        self._redactor.add(value.get_secret_value())
        return Masked(prefix + value.get_secret_value())

    def set_body_field(self, key: str, value: str | Masked) -> None:
        """Set one field of the JSON body (a copy: the caller's dict is left alone)."""
        self.json = {**(self.json or {}), key: value}

    def __repr__(self) -> str:
        return f"AuthRequest({self.op.name}, headers={list(self.headers)})"


class Auth:
    """Base of the credential strategies; subclasses override :meth:`apply`.

    ``secrets()`` lists what the redactor must know from the start; :meth:`apply` registers
    anything it learns later (a refreshed token) through :meth:`AuthRequest.secret`.

    Example:
        >>> class ApiKeyHeader(Auth):
        ...     def __init__(self, key: str) -> None:
        ...         self._key = SecretStr(key)
        ...     async def apply(self, request: AuthRequest) -> None:
        ...         request.headers["X-Api-Key"] = request.secret(self._key)
        ...     def secrets(self) -> Iterable[SecretStr]:
        ...         return (self._key,)
    """

    #: A stable, non-secret identity for pacing scopes (a digest of the credential).
    scope_key: str = ""

    async def apply(self, request: AuthRequest) -> None:
        """Add the credentials to ``request``."""

    def secrets(self) -> Iterable[SecretStr]:
        """The secrets known at construction (registered with the redactor up front)."""
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class NoAuth(Auth):
    """No credentials (a public endpoint)."""


class BearerAuth(Auth):
    """``Authorization: Bearer <token>``, from a fixed token or a refreshing TokenSource.

    ``raw=True`` sends the token without the ``Bearer`` prefix (a LegallyMail placement).

    Example:
        >>> BearerAuth("tok-1234").scope_key == scope_digest("tok-1234")
        True
    """

    def __init__(self, token: str | SecretStr | TokenSource, *, raw: bool = False) -> None:
        self._prefix = "" if raw else "Bearer "
        if isinstance(token, TokenSource):
            self._source: TokenSource | None = token
            self._token: SecretStr | None = None
            self.scope_key = token.scope_key
        else:
            self._source = None
            self._token = check_secret_length(token, field="token")
            self.scope_key = scope_digest(self._token.get_secret_value())

    async def apply(self, request: AuthRequest) -> None:
        """Set the ``Authorization`` header (asking the TokenSource for a live token)."""
        if self._source is not None:
            request.headers["Authorization"] = request.secret(
                _checked_token(await self._source.get(), request.op), prefix=self._prefix
            )
        elif self._token is not None:
            request.headers["Authorization"] = request.secret(self._token, prefix=self._prefix)

    def secrets(self) -> Iterable[SecretStr]:
        """The fixed token (a TokenSource's tokens are registered as they are used)."""
        return () if self._token is None else (self._token,)


def _checked_token(value: object, op: Operation) -> SecretStr:
    """A TokenSource's token, held to the constructor's rules (a ValidationError if not).

    A source is user code: ``None``, a number, blanks or CR/LF would otherwise become a raw
    TypeError, an aiohttp header error or a misleading decode error.
    """
    try:
        return check_secret_length(check_secret(value, field="token", token=True), field="token")
    except ValidationError as error:
        error.provider, error.operation = op.provider, op.name
        raise error from None


class BasicAuth(Auth):
    """``Authorization: Basic base64(user:password)`` (openapi.com: e-mail and API key).

    The password, ``username:password`` (so its base64, the header's value, at any
    alignment) and the encoded credentials are registered for redaction.

    Example:
        >>> BasicAuth("me@example.com", "key-1234").scope_key != ""
        True
    """

    def __init__(
        self, username: str, password: str | SecretStr, *, field: str = "password"
    ) -> None:
        self._username = username
        self._password = check_secret_length(password, field=field)
        self._pair = SecretStr(f"{username}:{self._password.get_secret_value()}")
        self._encoded = SecretStr(
            base64.b64encode(f"{username}:{self._password.get_secret_value()}".encode()).decode(
                "ascii"
            )
        )
        self.scope_key = scope_digest(username)

    async def apply(self, request: AuthRequest) -> None:
        """Set the ``Authorization`` header."""
        request.headers["Authorization"] = request.secret(self._encoded, prefix="Basic ")

    def secrets(self) -> Iterable[SecretStr]:
        """The password, ``username:password`` and the encoded credentials."""
        unpadded = SecretStr(self._encoded.get_secret_value().rstrip("="))
        return (self._password, self._pair, self._encoded, unpadded)
