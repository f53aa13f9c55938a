"""Input checks that run before any request leaves the process.

Each failure is a :class:`~certmail_async.ValidationError` naming the offending field, so
a caller (or the bulk dispatcher) can fail that one input without a round trip.
"""

from __future__ import annotations

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


def check_email(address: object, *, field: str) -> str:
    """Return the normalised address or raise ValidationError (no DNS lookup)."""
    if not isinstance(address, str):
        raise ValidationError(
            f"expected an e-mail address string, got {type(address).__name__}", field=field
        )
    try:
        info = email_validator.validate_email(
            address.strip(), check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as error:
        raise ValidationError(f"{address!r} is not a valid address: {error}", field=field) from None
    return info.normalized


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
