"""certmail_async: an async-first SDK for Italian certified e-mail.

Providers: PEC Massiva (bulk PEC sending and receipts) and LegallyMail (certified-evidence
e-mail and e-signature), with openapi.it PEC to follow. Import everything from here; fakes
for tests live in ``certmail_async.testing``.

Example:
    >>> from certmail_async import PecMassivaClient, RateLimit, DeliveryUnknownError
"""

from ._exceptions import (
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CertmailError,
    ConflictError,
    ConnectError,
    DeliveryUnknownError,
    NotFoundError,
    OutOfCreditsError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
)
from ._models import Attachment, OpenEnum, Signer
from ._pacing import RateLimit
from ._retry import RetryPolicy
from ._types import NOT_GIVEN, NotGiven, SecretStr, Timeout
from .legallymail import (
    AccountInfo,
    Certificate,
    Email,
    EmailDetail,
    EmailStatus,
    LegallyMailClient,
    RecipientDetail,
    RecipientResult,
    SendOutcome,
    SignatureRequest,
    SignatureStatus,
    SignerStatus,
)
from .pecmassiva import (
    InboxMessage,
    InboxMessageDetail,
    InboxPage,
    PecMassivaClient,
    Quota,
    SendResult,
)
from .receipts import Outcome, Receipt, ReceiptKind, ReceiptSummary

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "APIStatusError",
    "AccountInfo",
    "Attachment",
    "AuthenticationError",
    "BadRequestError",
    "Certificate",
    "CertmailError",
    "ConflictError",
    "ConnectError",
    "DeliveryUnknownError",
    "Email",
    "EmailDetail",
    "EmailStatus",
    "InboxMessage",
    "InboxMessageDetail",
    "InboxPage",
    "LegallyMailClient",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "OpenEnum",
    "OutOfCreditsError",
    "Outcome",
    "PaymentRequiredError",
    "PecMassivaClient",
    "PermissionDeniedError",
    "Quota",
    "RateLimit",
    "RateLimitError",
    "Receipt",
    "ReceiptKind",
    "ReceiptSummary",
    "RecipientDetail",
    "RecipientResult",
    "ResponseDecodeError",
    "RetryPolicy",
    "SecretStr",
    "SendOutcome",
    "SendResult",
    "ServerError",
    "SignatureRequest",
    "SignatureStatus",
    "Signer",
    "SignerStatus",
    "Timeout",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "__version__",
]
