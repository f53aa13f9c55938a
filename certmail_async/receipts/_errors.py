"""Errors of the receipt parsers: one branch of the ``CertmailError`` tree.

::

    CertmailError
    └── ReceiptParseError          a PEC provider message or daticert.xml could not be read
        ├── UnsafeXMLError         a DTD subset, an entity or an external reference (XXE,
        │                          billion laughs, quadratic blow-up): refused, never expanded
        └── ReceiptTooLargeError   past the documented size limit, refused before parsing
"""

from __future__ import annotations

from .._exceptions import CertmailError

__all__ = ["ReceiptParseError", "ReceiptTooLargeError", "UnsafeXMLError"]


class ReceiptParseError(CertmailError, ValueError):
    """A PEC provider message (``.eml``) or its ``daticert.xml`` could not be read.

    ``part`` names what failed (``"daticert.xml"``, ``"message"``). The raw bytes are never
    part of the error: keep them yourself, they are the legal evidence.

    Example:
        >>> from certmail_async.receipts import parse_daticert
        >>> try:
        ...     parse_daticert(b"<postacert")
        ... except ReceiptParseError as err:
        ...     print(err.part)
        daticert.xml
    """

    part: str

    def __init__(self, message: str, *, part: str, operation: str = "receipts.parse") -> None:
        super().__init__(message, operation=operation)
        self.part = part


class UnsafeXMLError(ReceiptParseError):
    """XML that declares entities, carries an internal DTD subset or references outside data.

    Provider ``daticert.xml`` files never need any of these; billion-laughs, quadratic
    blow-up and external-entity documents all land here at the first declaration, before
    anything is expanded or fetched.

    Example:
        >>> from certmail_async.receipts import parse_daticert
        >>> bomb = b'<!DOCTYPE p [<!ENTITY a "aaaa">]><postacert tipo="accettazione"/>'
        >>> try:
        ...     parse_daticert(bomb)
        ... except UnsafeXMLError as err:
        ...     print(err.message)
        refused: the XML has an internal DTD subset
    """


class ReceiptTooLargeError(ReceiptParseError):
    """Input past the size limit (``limit`` bytes); refused before any parsing.

    Example:
        >>> from certmail_async.receipts import parse_eml
        >>> try:
        ...     parse_eml(b"x" * 2048, max_size=1024)
        ... except ReceiptTooLargeError as err:
        ...     print(err.size, err.limit)
        2048 1024
    """

    size: int
    limit: int

    def __init__(self, message: str, *, part: str, size: int, limit: int) -> None:
        super().__init__(message, part=part)
        self.size = size
        self.limit = limit
