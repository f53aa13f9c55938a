"""Models shared by several providers."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import attrs

__all__ = ["Attachment"]


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
