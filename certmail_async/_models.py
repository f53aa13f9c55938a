"""Models shared by several providers."""

from __future__ import annotations

import enum
import mimetypes
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Attachment", "OpenEnum", "Signer"]


class OpenEnum(enum.Enum):
    """An enum whose unknown wire values become pseudo-members instead of errors.

    Providers add states without notice; a decoder that refused them would break users.
    Unknown values keep their raw string in ``.value`` and report ``known == False``.

    Example:
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

    Example:
        >>> a = Attachment(filename="invoice.pdf", content=b"%PDF-1.7 ...",
        ...                mime_type="application/pdf")
        >>> a
        Attachment(filename='invoice.pdf', mime_type='application/pdf', size=12)
    """

    filename: str
    content: bytes = attrs.field(repr=False)
    mime_type: str = "application/octet-stream"

    @property
    def size(self) -> int:
        """Size of the content in bytes."""
        return len(self.content)

    @classmethod
    def from_path(cls, path: str | Path, *, mime_type: str | None = None) -> Attachment:
        """Read a file; the MIME type is guessed from its name unless given."""
        p = Path(path)
        guessed = mime_type or mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        return cls(filename=p.name, content=p.read_bytes(), mime_type=guessed)

    def __repr__(self) -> str:
        return (
            f"Attachment(filename={self.filename!r}, mime_type={self.mime_type!r}, "
            f"size={self.size})"
        )


@attrs.frozen(kw_only=True)
class Signer:
    """A person asked to sign a document (LegallyMail e-signature).

    Example:
        >>> Signer(name="Mario Rossi", email="mario@example.it", phone="+39 333 1234567")
        Signer(name='Mario Rossi', email='mario@example.it', phone='+39 333 1234567')
    """

    name: str
    email: str
    phone: str | None = None
