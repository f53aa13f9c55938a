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
    │       ├── ResponseTooLargeError  past the ResponseLimits (counted after decompression)
    │       └── NotPDFError        a document download that is not a PDF (receipts/)
    ├── TransportError             no usable answer (connection reset, protocol error)
    │   ├── ConnectError           the connection could not be opened: nothing was sent
    │   └── RequestTimeoutError    no answer in time
    ├── DeliveryUnknownError       a send may or may not have happened; never resent blindly
    ├── JobMismatchError           a job id re-run with other content (before any request)
    ├── JobLockedError             another live owner runs this job (before any request)
    ├── JournalError               the journal is corrupt, unreadable, read-only or damaged
    ├── PacingUnavailableError     the shared pacing gate (Redis) did not answer: nothing sent
    ├── JobNotFoundError           no such job in the journal (status, export; also a KeyError)
    ├── ReceiptParseError          a PEC .eml or daticert.xml could not be read (receipts/)
    │   ├── UnsafeXMLError         entities, DTD subset, external references: refused
    │   └── ReceiptTooLargeError   past the size limit, refused before parsing
    ├── DeliveryPendingError       a wait for final outcomes hit its deadline (receipts/)
    ├── DocumentUnavailableError   no document URL, or one on a host the token never goes to
    └── CallbackVerificationError  an openapi.it callback without the right secret

Every error carries ``provider``, ``operation``, ``status`` (HTTP status or ``None``),
``code`` (the provider's own error code, where it has one) and ``message`` (the provider's
text, scrubbed of secrets). ``str(err)`` reads as one line for a human. ``response`` is
the [ResponseInfo][certmail_async.ResponseInfo] of the answer behind the error (headers
scrubbed, the provider's request id), ``None`` when no answer arrived; ``headers`` and
``request_id`` are its shortcuts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from ._response import ResponseInfo

__all__ = [
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "CertmailError",
    "ClientClosedError",
    "ConflictError",
    "ConnectError",
    "DeliveryUnknownError",
    "JobLockedError",
    "JobMismatchError",
    "JobNotFoundError",
    "JournalError",
    "NotFoundError",
    "OutOfCreditsError",
    "PacingUnavailableError",
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

    ``response`` is the [ResponseInfo][certmail_async.ResponseInfo] of the answer behind
    the error (``None`` when no answer arrived); ``headers`` and ``request_id`` are its
    shortcuts (empty and ``None`` then).

    Examples:
        >>> from certmail_async import CertmailError
        >>> try:
        ...     raise CertmailError("boom", provider="pecmassiva",
        ...                         operation="sends.create")
        ... except CertmailError as err:
        ...     print(err)
        pecmassiva sends.create: boom
    """

    provider: str | None
    operation: str | None
    status: int | None
    code: int | str | None
    message: str
    #: The answer behind this error (``None``: no answer arrived, or raised before any).
    response: ResponseInfo | None = None

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

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The answer's headers, scrubbed of secrets (empty when no answer arrived)."""
        if self.response is not None:
            return self.response.headers
        from multidict import CIMultiDict, CIMultiDictProxy

        return CIMultiDictProxy(CIMultiDict())

    @property
    def request_id(self) -> str | None:
        """The provider's request id, when its answer carried one (usually ``None``)."""
        return None if self.response is None else self.response.request_id

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


class ClientClosedError(CertmailError, RuntimeError):
    """The client (or the client it was copied from) was closed; nothing was sent.

    Copies made with ``with_options`` share their parent's session, so closing the parent
    closes them too. Also raised, before any wait, for a client whose HTTP session was
    made on another event loop (an earlier ``asyncio.run``). Also a ``RuntimeError``, for
    code written before it existed.

    Examples:
        >>> import asyncio
        >>> from certmail_async import ClientClosedError, PecMassivaClient
        >>> async def main() -> str:
        ...     client = PecMassivaClient(token="t", username="box@pecmassiva.com",
        ...                               password="p", base_url="http://127.0.0.1:9")
        ...     copy = client.with_options(timeout=5)
        ...     await client.aclose()
        ...     try:
        ...         await copy.quota.retrieve()
        ...     except ClientClosedError as err:
        ...         return type(err).__name__
        ...     return "sent"
        >>> asyncio.run(main())
        'ClientClosedError'
    """


class APIError(CertmailError):
    """The provider answered, but not with a usable success.

    ``body`` keeps the decoded error body (with credential fields masked) for diagnosis.

    Examples:
        >>> from certmail_async import APIError, NotFoundError
        >>> err = NotFoundError("no such send", provider="pecmassiva",
        ...                     operation="sends.receipts", status=404)
        >>> isinstance(err, APIError), err.status
        (True, 404)
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
    """The provider answered with an HTTP error status (see ``status``).

    A status without a class of its own (418, say) is raised as this class.

    Examples:
        >>> from certmail_async import APIStatusError
        >>> try:
        ...     raise APIStatusError("I'm a teapot", status=418)
        ... except APIStatusError as err:
        ...     print(err.status, err.message)
        418 I'm a teapot
    """


class BadRequestError(APIStatusError):
    """HTTP 400: the provider rejected the request as malformed.

    Examples:
        >>> from certmail_async import APIStatusError, BadRequestError
        >>> err = BadRequestError("bad body", provider="legallymail", status=400)
        >>> isinstance(err, APIStatusError), err.status
        (True, 400)
    """


class AuthenticationError(APIStatusError):
    """HTTP 401: the token or the mailbox credentials are missing or wrong.

    Examples:
        >>> import asyncio
        >>> from certmail_async import AuthenticationError
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> int | None:
        ...     async with run_fake("pecmassiva") as fake:
        ...         async with fake.client(token="wrong") as client:
        ...             try:
        ...                 await client.quota.retrieve()
        ...             except AuthenticationError as err:
        ...                 return err.status
        ...     return None
        >>> asyncio.run(main())
        401
    """


class PaymentRequiredError(APIStatusError):
    """HTTP 402: insufficient wallet credit; the message usually names the balance.

    Examples:
        >>> from certmail_async import PaymentRequiredError
        >>> err = PaymentRequiredError("credito insufficiente", provider="openapi_pec",
        ...                            operation="mailboxes.register", status=402)
        >>> print(err)
        openapi_pec mailboxes.register: HTTP 402: credito insufficiente
    """


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the credentials are valid but not allowed to do this.

    Examples:
        >>> from certmail_async import PermissionDeniedError
        >>> PermissionDeniedError("scope missing", status=403).status
        403
    """


class OutOfCreditsError(PermissionDeniedError):
    """HTTP 403 because the account has no credits or e-mails left.

    Examples:
        >>> from certmail_async import OutOfCreditsError, PermissionDeniedError
        >>> err = OutOfCreditsError("no e-mails left", status=403)
        >>> isinstance(err, PermissionDeniedError)
        True
    """


class NotFoundError(APIStatusError):
    """HTTP 404: no such resource.

    Examples:
        >>> import asyncio
        >>> from certmail_async import NotFoundError
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> int | None:
        ...     async with run_fake("pecmassiva") as fake:
        ...         fake.state.faults.inject("GET", "*", status=404)
        ...         async with fake.client() as client:
        ...             try:
        ...                 await client.quota.retrieve()
        ...             except NotFoundError as err:
        ...                 return err.status
        ...     return None
        >>> asyncio.run(main())
        404
    """


class ConflictError(APIStatusError):
    """HTTP 406/409/422/428: the provider refused the input or the resource's state.

    Examples:
        >>> from certmail_async import ConflictError
        >>> err = ConflictError("mailbox already active", status=409)
        >>> err.status, err.message
        (409, 'mailbox already active')
    """


class RateLimitError(APIStatusError):
    """HTTP 429: the provider's rate limit was hit.

    ``retry_after`` is the wait the provider asked for, in seconds, or ``None``. Reads
    are retried after it on their own; this reaches you when the retries run out or the
    wait would pass the call's deadline.

    Examples:
        >>> import asyncio
        >>> from certmail_async import RateLimitError
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> float | None:
        ...     async with run_fake("pecmassiva") as fake:
        ...         fake.state.faults.inject("GET", "*", status=429,
        ...                                  retry_after="7")
        ...         async with fake.client() as client:
        ...             try:
        ...                 await client.quota.retrieve(max_retries=0)
        ...             except RateLimitError as err:
        ...                 return err.retry_after
        ...     return None
        >>> asyncio.run(main())
        7.0
    """

    retry_after: float | None

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """HTTP 5xx: the provider failed.

    Reads are retried first. A send is never retried and is reported as a
    [DeliveryUnknownError][certmail_async.DeliveryUnknownError] instead.

    Examples:
        >>> import asyncio
        >>> from certmail_async import ServerError
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> int | None:
        ...     async with run_fake("pecmassiva") as fake:
        ...         fake.state.faults.inject("GET", "*", status=503)
        ...         async with fake.client() as client:
        ...             try:
        ...                 await client.quota.retrieve(max_retries=0)
        ...             except ServerError as err:
        ...                 return err.status
        ...     return None
        >>> asyncio.run(main())
        503
    """


class ResponseDecodeError(APIError):
    """A success status whose body is not what the provider documents.

    ``body`` holds the start of the raw answer, scrubbed of secrets.

    Examples:
        >>> from certmail_async import APIError, ResponseDecodeError
        >>> err = ResponseDecodeError("data.available: missing", body='{"data": {}}')
        >>> isinstance(err, APIError), err.body
        (True, '{"data": {}}')
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
    """No usable answer: the connection broke or the answer was not HTTP.

    Examples:
        >>> from certmail_async import ConnectError, RequestTimeoutError, TransportError
        >>> issubclass(ConnectError, TransportError)
        True
        >>> issubclass(RequestTimeoutError, TransportError)
        True
    """


class ConnectError(TransportError):
    """The connection could not be opened; the request was never sent.

    Examples:
        >>> import asyncio
        >>> from certmail_async import ConnectError
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> str:
        ...     async with run_fake("pecmassiva") as fake:
        ...         pass  # the fake stops here: nothing listens on its URL
        ...     async with fake.client() as client:
        ...         try:
        ...             await client.quota.retrieve(max_retries=0)
        ...         except ConnectError:
        ...             return "not sent"
        ...     return "sent"
        >>> asyncio.run(main())
        'not sent'
    """


class RequestTimeoutError(TransportError):
    """No answer within the time limit (named so it does not shadow the builtin).

    Examples:
        >>> import asyncio
        >>> from certmail_async import RequestTimeoutError
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> str:
        ...     async with run_fake("pecmassiva") as fake:
        ...         fake.state.faults.inject("GET", "*", delay=1.0)
        ...         async with fake.client() as client:
        ...             try:
        ...                 await client.quota.retrieve(timeout=0.1, max_retries=0)
        ...             except RequestTimeoutError:
        ...                 return "timed out"
        ...     return "answered"
        >>> asyncio.run(main())
        'timed out'
    """


class DeliveryUnknownError(CertmailError):
    """A send may or may not have happened: do not resend before checking.

    Raised instead of a retry when a call that sends (PEC Massiva ``POST /send``,
    LegallyMail ``POST /api/send``...) got a 5xx, a timeout or a reset. There is no
    idempotency key at any provider, so only the provider's own lists (receipts, inbox,
    sent e-mails) can tell whether it went out. ``cause`` is the underlying error; ``body``
    the provider's answer when it had one (scrubbed of secrets, cut short), e.g. a success
    status whose answer could not be decoded.

    Examples:
        >>> import asyncio
        >>> from certmail_async import DeliveryUnknownError
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> tuple[str, int]:
        ...     async with run_fake("pecmassiva") as fake:
        ...         # The fake records the send, then answers 500.
        ...         fake.state.faults.inject("POST", "/send", status=500,
        ...                                  after_record=True)
        ...         async with fake.client() as client:
        ...             try:
        ...                 await client.sends.create(
        ...                     recipients=["mario.rossi@pec.example.it"],
        ...                     subject="Avviso", body="Testo")
        ...             except DeliveryUnknownError as err:
        ...                 return type(err.cause).__name__, len(fake.state.ledger)
        ...     return "sent", 0
        >>> asyncio.run(main())  # unknown to the client, yet it did go out
        ('ServerError', 1)
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

    Examples:
        >>> from certmail_async import JobMismatchError
        >>> err = JobMismatchError("chunk 3 differs from the journal", seq=3)
        >>> err.seq, err.operation
        (3, 'bulk.run')
    """

    seq: int | None

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message, provider=None, operation="bulk.run")
        self.seq = seq


class JobLockedError(CertmailError):
    """Another live owner holds this bulk job's lease: raised before any request.

    ``owner`` describes the holder (owner id, host, pid) and ``expires_in`` the seconds until
    its lease lapses unless renewed. Run with ``wait=True`` (``--wait``) to wait for it.

    Examples:
        >>> from certmail_async import JobLockedError
        >>> err = JobLockedError("job avvisi is running elsewhere",
        ...                      owner="worker-2 on host-b pid 4242", expires_in=12.5)
        >>> err.owner, err.expires_in
        ('worker-2 on host-b pid 4242', 12.5)
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

    Examples:
        >>> from certmail_async import JournalError
        >>> print(JournalError("the journal is read-only", path="jobs.sqlite"))
        bulk.journal: the journal is read-only
    """

    path: str | None

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message, provider=None, operation="bulk.journal")
        self.path = path


class PacingUnavailableError(CertmailError):
    """The shared pacing gate (the Redis gate) did not answer in time: nothing was sent.

    A paced request needs its slot from the gate; with the gate unreachable none leaves the
    process (the gate fails closed, never falling back to unpaced or per-process pacing).
    Raised after a bounded wait (``RedisPacing(max_outage=...)``, or the call's deadline);
    the next call tries again, so sending resumes by itself once Redis answers. ``url``
    names the gate without its password. The bulk dispatcher treats it like an outage:
    the chunk stays pending and the lane retries within its ``outage_budget``.

    Examples:
        >>> from certmail_async import PacingUnavailableError
        >>> err = PacingUnavailableError("no answer in 10.0 s",
        ...                              url="redis://:***@redis.internal:6379/0")
        >>> print(err)
        pacing: no answer in 10.0 s
        >>> err.url
        'redis://:***@redis.internal:6379/0'
    """

    url: str | None

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message, provider=None, operation="pacing")
        self.url = url


class JobNotFoundError(CertmailError, KeyError):
    """No job with this id in the journal (``status``, ``export``, ``resume``).

    Also a ``KeyError``, for code written before it existed. ``path`` names the journal.

    Examples:
        >>> from certmail_async import JobNotFoundError
        >>> err = JobNotFoundError("no job 'x' in jobs.sqlite", job_id="x",
        ...                        path="jobs.sqlite")
        >>> print(err)
        bulk.journal: no job 'x' in jobs.sqlite
        >>> isinstance(err, KeyError)
        True
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
