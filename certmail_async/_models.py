"""Models shared by several providers."""

from __future__ import annotations

import enum
import mimetypes
import os
import re
from pathlib import Path
from typing import Any

import attrs

from ._exceptions import ValidationError
from ._validation import (
    check_attachment_fields,
    check_email,
    check_header_text,
    check_optional,
    check_pattern,
)

__all__ = ["PHONE", "Attachment", "OpenEnum", "Signer", "check_signer_fields"]


#: A phone number as people write it: optional +, ASCII digits, spaces, dots, dashes, parens.
PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{4,19}", re.ASCII)


def _to_bytes(value: object) -> object:
    # bytearray and memoryview are frozen into bytes; anything else is left for the check.
    return bytes(value) if isinstance(value, bytearray | memoryview) else value


class OpenEnum(enum.Enum):
    """An enum whose unknown wire values become pseudo-members instead of errors.

    Providers add states without notice; a decoder that refused them would break users.
    Unknown values keep their raw string in ``.value`` and report ``known == False``.

    Examples:
        >>> class Color(OpenEnum):
        ...     RED = "red"
        >>> Color("red").known, Color("mauve").known, Color("mauve").value
        (True, False, 'mauve')
        >>> Color("mauve") is Color("mauve")
        True
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = object.__new__(cls)
        member._name_ = "UNKNOWN"
        member._value_ = value
        cls._value2member_map_[value] = member  # the same object next time
        return member

    @property
    def known(self) -> bool:
        """Whether the value is one the SDK knows (not a pseudo-member)."""
        return self._name_ in type(self).__members__


@attrs.frozen(kw_only=True)
class Attachment:
    """A file to attach; base64 encoding happens in each provider's wire module.

    Checked at construction ([ValidationError][certmail_async.ValidationError] naming the field):
    ``filename`` is a plain name (no path, no control characters: it goes in a header),
    ``content`` is bytes (a ``bytearray`` is copied), ``mime_type`` is ``type/subtype``.

    Examples:
        >>> a = Attachment(filename="invoice.pdf", content=b"%PDF-1.7 ...",
        ...                mime_type="application/pdf")
        >>> a
        Attachment(filename='invoice.pdf', mime_type='application/pdf', size=12)
    """

    filename: str
    content: bytes = attrs.field(repr=False, converter=_to_bytes)
    mime_type: str = "application/octet-stream"

    def __attrs_post_init__(self) -> None:
        check_attachment_fields(self.filename, self.content, self.mime_type, field="")

    @property
    def size(self) -> int:
        """Size of the content in bytes."""
        return len(self.content)

    @classmethod
    def from_path(cls, path: str | Path, *, mime_type: str | None = None) -> Attachment:
        """Read a file; the MIME type is guessed from its name unless given.

        Examples:
            >>> Attachment.from_path(None)
            Traceback (most recent call last):
            certmail_async._exceptions.ValidationError: path: expected a path, got NoneType
        """
        if not isinstance(path, str | os.PathLike):
            raise ValidationError(f"expected a path, got {type(path).__name__}", field="path")
        p = Path(path)
        guessed = mime_type or mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        return cls(filename=p.name, content=p.read_bytes(), mime_type=guessed)

    def __repr__(self) -> str:
        size = len(self.content) if isinstance(self.content, bytes) else "?"
        return f"Attachment(filename={self.filename!r}, mime_type={self.mime_type!r}, size={size})"


@attrs.frozen(kw_only=True)
class Signer:
    """A person asked to sign a document (LegallyMail e-signature).

    ``name`` goes in mail headers (no control characters), ``email`` must be an address and
    ``phone`` digits with an optional ``+``: checked at construction.

    Examples:
        >>> Signer(name="Mario Rossi", email="mario@example.it",
        ...        phone="+39 333 1234567")
        Signer(name='Mario Rossi', email='mario@example.it', phone='+39 333 1234567')
        >>> Signer(name="Mario Rossi", email="not an address")
        Traceback (most recent call last):
        ...
        certmail_async._exceptions.ValidationError: email: ...
    """

    name: str
    email: str
    phone: str | None = None

    def __attrs_post_init__(self) -> None:
        check_signer_fields(self.name, self.email, self.phone, field="")


def check_signer_fields(name: object, email: object, phone: object, *, field: str) -> None:
    """The parts of a [Signer][certmail_async.Signer] (``field`` prefixes the names in errors).

    Examples:
        >>> check_signer_fields("Anna", "anna@example.com", "333 1234567", field="signers[0].")
    """
    check_header_text(name, field=f"{field}name", max_len=200)
    check_email(email, field=f"{field}email")
    check_optional(
        phone, check_pattern, pattern=PHONE, field=f"{field}phone", what="a phone number"
    )
