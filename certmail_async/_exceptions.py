"""The one exception tree of certmail_async.

Every error the SDK raises is a [CertmailError][certmail_async.CertmailError]. Users never
need to import aiohttp or asyncio to catch a failure: those exceptions are translated in
exactly one place,
``certmail_async._transport.Transport._send_once``.

::

    CertmailError
    ├── ValidationError            bad input, raised before any request is sent
    ├── APIError                   the provider answered, but not with a usable success
    │   ├── APIStatusError         an HTTP error status
    │   │   ├── BadRequestError (400)
    │   │   ├── AuthenticationError (401)
    │   │   ├── PaymentRequiredError (402)       insufficient wallet credit (openapi.it)
    │   │   ├── PermissionDeniedError (403)
    │   │   │   └── OutOfCreditsError            no credits or e-mails left (LegallyMail)
    │   │   ├── NotFoundError (404)
    │   │   ├── ConflictError (406, 409, 422, 428) validation or state conflict at the provider
    │   │   ├── RateLimitError (429, .retry_after)
    │   │   └── ServerError (5xx)
    │   └── ResponseDecodeError    a success status whose body could not be decoded
    │       └── ResponseTooLargeError  past the ResponseLimits (counted after decompression)
    ├── TransportError             no usable answer (connection reset, protocol error)
    │   ├── ConnectError           the connection could not be opened: nothing was sent
    │   └── RequestTimeoutError    no answer in time
    ├── DeliveryUnknownError       a send may or may not have happened; never resent blindly
    ├── JobMismatchError           a job id re-run with other content (before any request)
    ├── JobLockedError             another live owner runs this job (before any request)
    ├── JournalError               the journal is corrupt, unreadable, read-only or damaged
    ├── JobNotFoundError           no such job in the journal (status, export; also a KeyError)
    ├── ReceiptParseError          a PEC .eml or daticert.xml could not be read (receipts/)
    │   ├── UnsafeXMLError         entities, DTD subset, external references: refused
    │   └── ReceiptTooLargeError   past the size limit, refused before parsing
    └── CallbackVerificationError  an openapi.it callback without the right secret

Every error carries ``provider``, ``operation``, ``status`` (HTTP status or ``None``),
``code`` (the provider's own error code, where it has one) and ``message`` (the provider's
text, scrubbed of secrets). ``str(err)`` reads as one line for a human.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "CertmailError",
    "ConflictError",
    "ConnectError",
    "DeliveryUnknownError",
    "JobLockedError",
    "JobMismatchError",
    "JobNotFoundError",
    "JournalError",
    "NotFoundError",
    "OutOfCreditsError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "TransportError",
    "ValidationError",
]


class CertmailError(Exception):
    """Base of every error raised by certmail_async.

    Examples:
        >>> from certmail_async import CertmailError
        >>> try:
        ...     raise CertmailError("boom", provider="pecmassiva", operation="sends.create")
        ... except CertmailError as err:
        ...     print(err)
        pecmassiva sends.create: boom
    """

    provider: str | None
    operation: str | None
    status: int | None
    code: int | str | None
    message: str

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        code: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.operation = operation
        self.status = status
        self.code = code

    def _where(self) -> str:
        parts = [p for p in (self.provider, self.operation) if p]
        return " ".join(parts)

    def _detail(self) -> str:
        bits = []
        if self.status is not None:
            bits.append(f"HTTP {self.status}")
        if self.code is not None:
            bits.append(f"code {self.code}")
        head = ", ".join(bits)
        if head and self.message:
            return f"{head}: {self.message}"
        return head or self.message

    def __str__(self) -> str:
        where = self._where()
        detail = self._detail()
        return f"{where}: {detail}" if where else detail

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, operation={self.operation!r}, "
            f"status={self.status!r}, code={self.code!r}, message={self.message!r})"
        )


class ValidationError(CertmailError, ValueError):
    """Input the provider would refuse; raised before any request leaves the process.

    ``field`` names the offending argument (``recipients[2]``, ``attachments[0].filename``).

    Examples:
        >>> err = ValidationError("not a valid address", field="recipients[0]")
        >>> print(err)
        recipients[0]: not a valid address
    """

    field: str | None

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        provider: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, operation=operation)
        self.field = field

    def __str__(self) -> str:
        where = self._where()
        detail = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {detail}" if where else detail


class APIError(CertmailError):
    """The provider answered, but not with a usable success.

    ``body`` keeps the decoded error body (with credential fields masked) for diagnosis.
    """

    body: Any

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        code: int | str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, provider=provider, operation=operation, status=status, code=code)
        self.body = body


class APIStatusError(APIError):
    """The provider answered with an HTTP error status (see ``status``)."""


class BadRequestError(APIStatusError):
    """HTTP 400: the provider rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the token or the mailbox credentials are missing or wrong."""


class PaymentRequiredError(APIStatusError):
    """HTTP 402: insufficient wallet credit; the message usually names the balance."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the credentials are valid but not allowed to do this."""


class OutOfCreditsError(PermissionDeniedError):
    """HTTP 403 because the account has no credits or e-mails left."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such resource."""


class ConflictError(APIStatusError):
    """HTTP 406/409/422/428: the provider refused the input or the resource's state."""


class RateLimitError(APIStatusError):
    """HTTP 429: the provider's rate limit was hit.

    ``retry_after`` is the wait the provider asked for, in seconds, or ``None``.
    """

    retry_after: float | None

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """HTTP 5xx: the provider failed.

    For a send, see [DeliveryUnknownError][certmail_async.DeliveryUnknownError].
    """


class ResponseDecodeError(APIError):
    """A success status whose body is not what the provider documents.

    ``body`` holds the start of the raw answer, scrubbed of secrets.
    """


class ResponseTooLargeError(ResponseDecodeError):
    """An answer longer than the ``ResponseLimits`` (bytes counted after decompression).

    The rest was not read and the connection was dropped. ``limit`` is the limit in bytes.

    Examples:
        >>> err = ResponseTooLargeError("too big", limit=1024)
        >>> err.limit, isinstance(err, ResponseDecodeError)
        (1024, True)
    """

    limit: int | None

    def __init__(self, message: str, *, limit: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.limit = limit


class TransportError(CertmailError):
    """No usable answer: the connection broke or the answer was not HTTP."""


class ConnectError(TransportError):
    """The connection could not be opened; the request was never sent."""


class RequestTimeoutError(TransportError):
    """No answer within the time limit (named so it does not shadow the builtin)."""


class DeliveryUnknownError(CertmailError):
    """A send may or may not have happened: do not resend before checking.

    Raised instead of a retry when a call that sends (PEC Massiva ``POST /send``,
    LegallyMail ``POST /api/send``...) got a 5xx, a timeout or a reset. There is no
    idempotency key at any provider, so only the provider's own lists (receipts, inbox,
    sent e-mails) can tell whether it went out. ``cause`` is the underlying error; ``body``
    the provider's answer when it had one (scrubbed of secrets, cut short), e.g. a success
    status whose answer could not be decoded.

    Examples:
        >>> from certmail_async import DeliveryUnknownError
        >>> err = DeliveryUnknownError("timed out", provider="pecmassiva",
        ...                            operation="sends.create")
        >>> "may or may not have happened" in str(err)
        True
    """

    cause: CertmailError | None
    reference: str | None
    body: Any

    def __init__(
        self,
        message: str,
        *,
        cause: CertmailError | None = None,
        provider: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        code: int | str | None = None,
        reference: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, provider=provider, operation=operation, status=status, code=code)
        self.cause = cause
        self.reference = reference
        self.body = body

    def __str__(self) -> str:
        base = super().__str__()
        return (
            f"{base} - the send may or may not have happened; check the provider's records "
            "before sending again"
        )


class JobMismatchError(CertmailError, ValueError):
    """A bulk job id was run again with content that differs from its journal.

    Raised before any request of the run, naming the first chunk (``seq``) that differs.
    Use a new job id for new content.
    """

    seq: int | None

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message, provider=None, operation="bulk.run")
        self.seq = seq


class JobLockedError(CertmailError):
    """Another live owner holds this bulk job's lease: raised before any request.

    ``owner`` describes the holder (owner id, host, pid) and ``expires_in`` the seconds until
    its lease lapses unless renewed. Run with ``wait=True`` (``--wait``) to wait for it.
    """

    owner: str | None
    expires_in: float | None

    def __init__(
        self, message: str, *, owner: str | None = None, expires_in: float | None = None
    ) -> None:
        super().__init__(message, provider=None, operation="bulk.run")
        self.owner = owner
        self.expires_in = expires_in


class JournalError(CertmailError):
    """The bulk journal cannot be used safely: corrupt, unreadable, read-only or damaged.

    ``path`` names the journal (never a password: URLs are shown without credentials).
    Raised before any request, so nothing is sent on a journal that cannot record it.
    """

    path: str | None

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message, provider=None, operation="bulk.journal")
        self.path = path


class JobNotFoundError(CertmailError, KeyError):
    """No job with this id in the journal (``status``, ``export``, ``resume``).

    Also a ``KeyError``, for code written before it existed. ``path`` names the journal.

    Examples:
        >>> from certmail_async import JobNotFoundError
        >>> str(JobNotFoundError("no job 'x' in jobs.sqlite", job_id="x", path="jobs.sqlite"))
        "bulk.journal: no job 'x' in jobs.sqlite"
    """

    job_id: str | None
    path: str | None

    def __init__(self, message: str, *, job_id: str | None = None, path: str | None = None) -> None:
        super().__init__(message, provider=None, operation="bulk.journal")
        self.job_id = job_id
        self.path = path


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    406: ConflictError,
    409: ConflictError,
    422: ConflictError,
    428: ConflictError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, APIStatusError)
