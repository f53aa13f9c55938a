"""Input checks that run before any request leaves the process.

Each failure is a :class:`~certmail_async.ValidationError` naming the offending field, so
a caller (or the bulk dispatcher) can fail that one input without a round trip.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

import email_validator

from ._exceptions import ValidationError
from ._models import Attachment

__all__ = [
    "check_attachments",
    "check_email",
    "check_recipients",
    "check_text",
]

_BAD_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]")


# A fast path for the common case. email-validator costs ~90 us per address (IDNA tables,
# Unicode checks), a third of a send's client-side CPU. Plain ASCII addresses in this
# conservative subset are certainly accepted by email-validator with the same normalised
# form (local part as is, domain lower-cased); tests check that against the library.
# Everything else (Unicode, quoted local parts, odd labels, special-use domains) goes to it.
_FAST_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*\Z")
_FAST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_SPECIAL_USE = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)
# Multi-label entries would need a suffix match; today the list holds single labels only.
_SPECIAL_USE_SUFFIXES = tuple("." + d for d in _SPECIAL_USE if "." in d)


def _fast_normalize(address: str) -> str | None:
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or len(local) > 64 or not _FAST_LOCAL.match(local):
        return None
    domain = domain.lower()
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not labels[-1].isalpha() or len(labels[-1]) < 2:
        return None
    if not all(_FAST_LABEL.match(label) and label[2:4] != "--" for label in labels):
        return None
    if labels[-1] in _SPECIAL_USE or domain in _SPECIAL_USE:
        return None
    if _SPECIAL_USE_SUFFIXES and domain.endswith(_SPECIAL_USE_SUFFIXES):
        return None
    return f"{local}@{domain}"


@functools.lru_cache(maxsize=8192)
def _normalize(address: str) -> str:
    """The normalised address, or an error text prefixed with NUL (cached either way)."""
    fast = _fast_normalize(address)
    if fast is not None:
        return fast
    try:
        info = email_validator.validate_email(
            address, check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as error:
        return "\0" + str(error)
    return info.normalized


def check_email(address: object, *, field: str) -> str:
    """Return the normalised address or raise ValidationError (no DNS lookup).

    Example:
        >>> check_email(" Mario.Rossi@PEC.Example.it ", field="to")
        'Mario.Rossi@pec.example.it'
    """
    if not isinstance(address, str):
        raise ValidationError(
            f"expected an e-mail address string, got {type(address).__name__}", field=field
        )
    result = _normalize(address.strip())
    if result.startswith("\0"):
        raise ValidationError(f"{address!r} is not a valid address: {result[1:]}", field=field)
    return result


def check_recipients(
    recipients: Iterable[str] | str,
    *,
    field: str = "recipients",
    max_count: int | None = None,
) -> tuple[str, ...]:
    """Validate a non-empty list of addresses, without duplicates, at most ``max_count``."""
    if isinstance(recipients, str):
        recipients = [recipients]
    checked = tuple(check_email(a, field=f"{field}[{i}]") for i, a in enumerate(recipients))
    if not checked:
        raise ValidationError("at least one recipient is required", field=field)
    if max_count is not None and len(checked) > max_count:
        raise ValidationError(
            f"{len(checked)} recipients, at most {max_count} per send", field=field
        )
    seen: set[str] = set()
    for i, address in enumerate(checked):
        key = address.lower()
        if key in seen:
            raise ValidationError(f"{address!r} appears twice", field=f"{field}[{i}]")
        seen.add(key)
    return checked


def check_text(value: object, *, field: str, allow_empty: bool = False) -> str:
    """A string that is not blank (unless ``allow_empty``)."""
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {type(value).__name__}", field=field)
    if not allow_empty and not value.strip():
        raise ValidationError("must not be empty", field=field)
    return value


def check_attachments(
    attachments: Sequence[Attachment],
    *,
    field: str = "attachments",
    max_bytes: int | None = None,
) -> tuple[Attachment, ...]:
    """Attachments with a plain file name and content; total size at most ``max_bytes``."""
    checked = tuple(attachments)
    total = 0
    for i, att in enumerate(checked):
        where = f"{field}[{i}]"
        if not isinstance(att, Attachment):
            raise ValidationError(f"expected an Attachment, got {type(att).__name__}", field=where)
        name = att.filename
        if not name.strip() or _BAD_FILENAME.search(name) or name in {".", ".."}:
            raise ValidationError(f"{name!r} is not a plain file name", field=f"{where}.filename")
        if len(name) > 255:
            raise ValidationError("file name longer than 255 characters", field=f"{where}.filename")
        if not isinstance(att.content, bytes | bytearray | memoryview):
            raise ValidationError("content must be bytes", field=f"{where}.content")
        if not att.content:
            raise ValidationError("attachment is empty", field=f"{where}.content")
        total += att.size
    if max_bytes is not None and total > max_bytes:
        raise ValidationError(
            f"attachments total {total} bytes, over the limit of {max_bytes}", field=field
        )
    return checked
