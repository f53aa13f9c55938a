"""Small, valid PDF files for the fakes (certificates, signature records).

One page of Helvetica text with a correct cross-reference table, so a PDF reader opens it
and a byte-level check (``%PDF-`` header, ``%%EOF`` trailer) passes. The output depends
only on the lines given: equal lines give equal bytes, hence a stable SHA-256.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["minimal_pdf"]


def _escape(text: str) -> bytes:
    # PDF literal strings: backslash and parentheses escaped; Latin-1 (WinAnsi) text.
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def minimal_pdf(lines: Sequence[str], *, title: str = "certmail_async fake") -> bytes:
    """A one-page PDF showing ``lines`` (deterministic bytes).

    Examples:
        >>> pdf = minimal_pdf(["Certificate of delivery", "a@example.com"])
        >>> pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
        True
    """
    text = [b"BT /F1 11 Tf 56 790 Td 14 TL"]
    for line in lines:
        text.append(b"(" + _escape(line) + b") Tj T*")
    text.append(b"ET")
    stream = b"\n".join(text)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Title (" + _escape(title) + b") /Producer (certmail_async.testing) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        b"trailer\n<< /Size "
        + str(len(objects) + 1).encode()
        + b" /Root 1 0 R /Info 6 0 R >>\nstartxref\n"
        + str(xref).encode()
        + b"\n%%EOF\n"
    )
    return bytes(out)
