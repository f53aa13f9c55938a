"""Errors of delivery evidence: receipt parsers, tracking, documents (``CertmailError`` tree).

::

    CertmailError
    ├── ReceiptParseError          a PEC provider message or daticert.xml could not be read
    │   ├── UnsafeXMLError         a DTD subset, an entity or an external reference (XXE,
    │   │                          billion laughs, quadratic blow-up): refused, never expanded
    │   └── ReceiptTooLargeError   past the documented size limit, refused before parsing
    ├── DeliveryPendingError       a wait for final outcomes reached its deadline (.reports)
    ├── DocumentUnavailableError   no document URL, or one on a host the token never goes to
    └── APIError
        └── ResponseDecodeError
            └── NotPDFError        a document download answered with something not a PDF
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import CertmailError, ResponseDecodeError

__all__ = [
    "DeliveryPendingError",
    "DocumentUnavailableError",
    "NotPDFError",
    "ReceiptParseError",
    "ReceiptTooLargeError",
    "UnsafeXMLError",
]


class ReceiptParseError(CertmailError, ValueError):
    """A PEC provider message (``.eml``) or its ``daticert.xml`` could not be read.

    ``part`` names what failed (``"daticert.xml"``, ``"message"``). The raw bytes are never
    part of the error: keep them yourself, they are the legal evidence.

    Examples:
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

    Examples:
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

    ``parse_eml``'s structure limits (``MAX_MIME_CONTAINERS`` and the others) raise it
    too: then ``size`` is the count seen and ``limit`` the count allowed, and the message
    names the limit.

    Examples:
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


class DeliveryPendingError(CertmailError):
    """A wait for final outcomes reached its deadline with some recipients still pending.

    ``reports`` maps each send (PEC Massiva code or LegallyMail tracking id) still pending
    to what is known of it (a ``DeliveryReport``, or a tuple of ``LegallyMailOutcome``):
    nothing is lost by the timeout.

    Examples:
        >>> err = DeliveryPendingError("not final after 60 s", reports={"1": None})
        >>> sorted(err.reports)
        ['1']
    """

    reports: Mapping[str, Any]

    def __init__(
        self,
        message: str,
        *,
        reports: Mapping[str, Any],
        provider: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, operation=operation)
        self.reports = dict(reports)

    @property
    def report(self) -> Any:
        """The one report when a single send was waited for (else None)."""
        return next(iter(self.reports.values())) if len(self.reports) == 1 else None


class DocumentUnavailableError(CertmailError):
    """A document that cannot be fetched with the API token, so it is not requested.

    Raised before any request when the provider gave no URL, or a URL on a host other than
    the client's configured base URL: the API token is only ever sent to that host.

    Examples:
        >>> err = DocumentUnavailableError("on another host", provider="legallymail",
        ...                                operation="signatures.document")
        >>> print(err)
        legallymail signatures.document: on another host
    """


class NotPDFError(ResponseDecodeError):
    """A document download answered 2xx with something that is not a PDF.

    Typically a web application's login page: the route wants a browser session, not the
    API token. ``content_type`` and ``size`` describe what came back; ``body`` its start.

    Examples:
        >>> err = NotPDFError("not a PDF", content_type="text/html", size=120)
        >>> isinstance(err, ResponseDecodeError), err.content_type
        (True, 'text/html')
    """

    content_type: str | None
    size: int | None

    def __init__(
        self, message: str, *, content_type: str | None = None, size: int | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.content_type = content_type
        self.size = size
