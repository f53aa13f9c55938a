"""certmail_async: an async-first SDK for Italian certified e-mail.

Providers: PEC Massiva (bulk PEC sending and receipts), with LegallyMail and openapi.it PEC
to follow. Import everything from here; fakes for tests live in ``certmail_async.testing``.

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
from ._models import Attachment
from ._pacing import RateLimit
from ._retry import RetryPolicy
from ._types import NOT_GIVEN, NotGiven, SecretStr, Timeout
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
    "Attachment",
    "AuthenticationError",
    "BadRequestError",
    "CertmailError",
    "ConflictError",
    "ConnectError",
    "DeliveryUnknownError",
    "InboxMessage",
    "InboxMessageDetail",
    "InboxPage",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
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
    "ResponseDecodeError",
    "RetryPolicy",
    "SecretStr",
    "SendResult",
    "ServerError",
    "Timeout",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "__version__",
]
