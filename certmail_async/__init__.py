"""certmail_async: an async-first SDK for Italian certified e-mail.

Providers: PEC Massiva (bulk PEC sending and receipts), LegallyMail (certified-evidence
e-mail and e-signature) and openapi.it PEC (mailbox provisioning, with openapi.com OAuth
tokens). Import everything from here; fakes for tests live in ``certmail_async.testing``.

Example:
    >>> from certmail_async import PecMassivaClient, RateLimit, DeliveryUnknownError
"""

from typing import TYPE_CHECKING, Any

from ._exceptions import (
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CertmailError,
    ClientClosedError,
    ConflictError,
    ConnectError,
    DeliveryUnknownError,
    JobLockedError,
    JobMismatchError,
    JobNotFoundError,
    JournalError,
    NotFoundError,
    OutOfCreditsError,
    PacingUnavailableError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    ValidationError,
)
from ._lazy import LazyNames

if TYPE_CHECKING:
    from ._models import (
        Attachment,
        OpenEnum,
        Signer,
    )
    from ._pacing import (
        LocalPacing,
        PacingBackend,
        PacingState,
        RateLimit,
    )
    from ._pacing_redis import (
        RedisPacing,
    )
    from ._response import (
        RawResponse,
        ResponseInfo,
        raw_response,
        response_info,
    )
    from ._retry import (
        RetryPolicy,
    )
    from ._tokens import (
        TokenSource,
    )
    from ._types import (
        NOT_GIVEN,
        NotGiven,
        ResponseLimits,
        SecretStr,
        Timeout,
    )
    from .bulk import (
        BulkDispatcher,
        ChunkOutcome,
        ChunkStatus,
        Estimate,
        JobStatus,
        Journal,
        OutgoingMessage,
        PostgresJournal,
        Progress,
        RecipientRecord,
        SQLiteJournal,
    )
    from .legallymail import (
        AccountInfo,
        Certificate,
        Email,
        EmailDetail,
        EmailList,
        EmailStatus,
        EvidenceFile,
        LegallyMailClient,
        RecipientDetail,
        RecipientResult,
        SendOutcome,
        SignatureRequest,
        SignatureStatus,
        SignerStatus,
    )
    from .openapi_pec import (
        Callback,
        CallbackEvent,
        CallbackMethod,
        CallbackVerificationError,
        CommunicationRole,
        CommunicationState,
        CustomerSubtype,
        CustomerType,
        DomainCheck,
        IdDocument,
        IdDocumentType,
        Mailbox,
        MailboxEvent,
        MailboxEvents,
        MailboxRegistration,
        MailboxState,
        MailboxSummary,
        MailboxType,
        MailboxUser,
        OAuthClient,
        OAuthTokenSource,
        OpenapiPecClient,
        RegistryCommunication,
        RegistryCommunicationEvent,
        RegistryCommunicationRequest,
        RegistryCommunicationSummary,
        Scope,
        Sex,
        Token,
        TokenLimits,
        UnknownCallbackEvent,
    )
    from .pecmassiva import (
        InboxMessage,
        InboxMessageDetail,
        InboxPage,
        PecMassivaClient,
        Quota,
        SendResult,
        SendTracker,
        TrackedSend,
    )
    from .receipts import (
        Daticert,
        DaticertRecipient,
        DeliveryPendingError,
        DeliveryReport,
        DeliveryState,
        DeliveryVariant,
        DocumentUnavailableError,
        EvidenceSource,
        LegallyMailOutcome,
        LegallyMailState,
        NotPDFError,
        OriginalMessage,
        Outcome,
        PecErrorClass,
        PecHeaders,
        PecRecipientType,
        ProviderMessage,
        Receipt,
        ReceiptEvidence,
        ReceiptKind,
        ReceiptParseError,
        ReceiptSummary,
        ReceiptTooLargeError,
        RecipientOutcome,
        UnsafeXMLError,
    )

# Everything but the exceptions loads on first use (PEP 562): `import certmail_async`
# stays cheap (no aiohttp, no validators) and `from certmail_async import X` loads
# only X's module.
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "_models": (
        "Attachment",
        "OpenEnum",
        "Signer",
    ),
    "_pacing": (
        "LocalPacing",
        "PacingBackend",
        "PacingState",
        "RateLimit",
    ),
    "_pacing_redis": ("RedisPacing",),
    "_response": ("RawResponse", "ResponseInfo", "raw_response", "response_info"),
    "_retry": ("RetryPolicy",),
    "_tokens": ("TokenSource",),
    "_types": (
        "NOT_GIVEN",
        "NotGiven",
        "ResponseLimits",
        "SecretStr",
        "Timeout",
    ),
    "bulk": (
        "BulkDispatcher",
        "ChunkOutcome",
        "ChunkStatus",
        "Estimate",
        "JobStatus",
        "Journal",
        "OutgoingMessage",
        "PostgresJournal",
        "Progress",
        "RecipientRecord",
        "SQLiteJournal",
    ),
    "legallymail": (
        "AccountInfo",
        "Certificate",
        "Email",
        "EmailDetail",
        "EmailList",
        "EmailStatus",
        "EvidenceFile",
        "LegallyMailClient",
        "RecipientDetail",
        "RecipientResult",
        "SendOutcome",
        "SignatureRequest",
        "SignatureStatus",
        "SignerStatus",
    ),
    "openapi_pec": (
        "Callback",
        "CallbackEvent",
        "CallbackMethod",
        "CallbackVerificationError",
        "CommunicationRole",
        "CommunicationState",
        "CustomerSubtype",
        "CustomerType",
        "DomainCheck",
        "IdDocument",
        "IdDocumentType",
        "Mailbox",
        "MailboxEvent",
        "MailboxEvents",
        "MailboxRegistration",
        "MailboxState",
        "MailboxSummary",
        "MailboxType",
        "MailboxUser",
        "OAuthClient",
        "OAuthTokenSource",
        "OpenapiPecClient",
        "RegistryCommunication",
        "RegistryCommunicationEvent",
        "RegistryCommunicationRequest",
        "RegistryCommunicationSummary",
        "Scope",
        "Sex",
        "Token",
        "TokenLimits",
        "UnknownCallbackEvent",
    ),
    "pecmassiva": (
        "InboxMessage",
        "InboxMessageDetail",
        "InboxPage",
        "PecMassivaClient",
        "Quota",
        "SendResult",
        "SendTracker",
        "TrackedSend",
    ),
    "receipts": (
        "Daticert",
        "DaticertRecipient",
        "DeliveryPendingError",
        "DeliveryReport",
        "DeliveryState",
        "DeliveryVariant",
        "DocumentUnavailableError",
        "EvidenceSource",
        "LegallyMailOutcome",
        "LegallyMailState",
        "NotPDFError",
        "OriginalMessage",
        "Outcome",
        "PecErrorClass",
        "PecHeaders",
        "PecRecipientType",
        "ProviderMessage",
        "Receipt",
        "ReceiptEvidence",
        "ReceiptKind",
        "ReceiptParseError",
        "ReceiptSummary",
        "ReceiptTooLargeError",
        "RecipientOutcome",
        "UnsafeXMLError",
    ),
}

# Public subpackages, reachable as attributes (``certmail_async.bulk``) as when they were
# imported eagerly.
_SUBPACKAGES = frozenset(
    {"bulk", "legallymail", "loadtest", "openapi_pec", "pecmassiva", "receipts", "sync", "testing"}
)


_NAMES = LazyNames(__name__, globals(), _LAZY_MODULES, subpackages=_SUBPACKAGES)


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access and cache the name here.

    Examples:
        >>> import certmail_async
        >>> certmail_async.RateLimit.__name__
        'RateLimit'
    """
    return _NAMES.load(name)


def __dir__() -> list[str]:
    """List the module's names, the lazily loaded public ones included."""
    return _NAMES.names()


__version__ = "0.1.0"
"""The installed version of certmail_async (Semantic Versioning).

Examples:
    >>> import certmail_async
    >>> major, minor, patch = map(int, certmail_async.__version__.split("."))
    >>> (major, minor) >= (0, 1)
    True
"""

__all__ = [
    "APIError",
    "APIStatusError",
    "AccountInfo",
    "Attachment",
    "AuthenticationError",
    "BadRequestError",
    "BulkDispatcher",
    "Callback",
    "CallbackEvent",
    "CallbackMethod",
    "CallbackVerificationError",
    "Certificate",
    "CertmailError",
    "ChunkOutcome",
    "ChunkStatus",
    "ClientClosedError",
    "CommunicationRole",
    "CommunicationState",
    "ConflictError",
    "ConnectError",
    "CustomerSubtype",
    "CustomerType",
    "Daticert",
    "DaticertRecipient",
    "DeliveryPendingError",
    "DeliveryReport",
    "DeliveryState",
    "DeliveryUnknownError",
    "DeliveryVariant",
    "DocumentUnavailableError",
    "DomainCheck",
    "Email",
    "EmailDetail",
    "EmailList",
    "EmailStatus",
    "Estimate",
    "EvidenceFile",
    "EvidenceSource",
    "IdDocument",
    "IdDocumentType",
    "InboxMessage",
    "InboxMessageDetail",
    "InboxPage",
    "JobLockedError",
    "JobMismatchError",
    "JobNotFoundError",
    "JobStatus",
    "Journal",
    "JournalError",
    "LegallyMailClient",
    "LegallyMailOutcome",
    "LegallyMailState",
    "LocalPacing",
    "Mailbox",
    "MailboxEvent",
    "MailboxEvents",
    "MailboxRegistration",
    "MailboxState",
    "MailboxSummary",
    "MailboxType",
    "MailboxUser",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "NotPDFError",
    "OAuthClient",
    "OAuthTokenSource",
    "OpenEnum",
    "OpenapiPecClient",
    "OriginalMessage",
    "OutOfCreditsError",
    "Outcome",
    "OutgoingMessage",
    "PacingBackend",
    "PacingState",
    "PacingUnavailableError",
    "PaymentRequiredError",
    "PecErrorClass",
    "PecHeaders",
    "PecMassivaClient",
    "PecRecipientType",
    "PermissionDeniedError",
    "PostgresJournal",
    "Progress",
    "ProviderMessage",
    "Quota",
    "RateLimit",
    "RateLimitError",
    "RawResponse",
    "Receipt",
    "ReceiptEvidence",
    "ReceiptKind",
    "ReceiptParseError",
    "ReceiptSummary",
    "ReceiptTooLargeError",
    "RecipientDetail",
    "RecipientOutcome",
    "RecipientRecord",
    "RecipientResult",
    "RedisPacing",
    "RegistryCommunication",
    "RegistryCommunicationEvent",
    "RegistryCommunicationRequest",
    "RegistryCommunicationSummary",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ResponseInfo",
    "ResponseLimits",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SQLiteJournal",
    "Scope",
    "SecretStr",
    "SendOutcome",
    "SendResult",
    "SendTracker",
    "ServerError",
    "Sex",
    "SignatureRequest",
    "SignatureStatus",
    "Signer",
    "SignerStatus",
    "Timeout",
    "Token",
    "TokenLimits",
    "TokenSource",
    "TrackedSend",
    "TransportError",
    "UnknownCallbackEvent",
    "UnsafeXMLError",
    "ValidationError",
    "__version__",
    "raw_response",
    "response_info",
]
