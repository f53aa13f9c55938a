"""PEC receipts: kinds from subjects, headers and ``daticert.xml``; per-recipient outcomes.

LegallyMail is not PEC and has none of these; its evidence is read by
``legallymail_outcomes``, in its own vocabulary.
"""

from ._daticert import (
    MAX_DATICERT_SIZE,
    Daticert,
    DaticertRecipient,
    DeliveryVariant,
    PecErrorClass,
    PecRecipientType,
    parse_daticert,
)
from ._eml import (
    MAX_BOUNDARY_LINES,
    MAX_EML_SIZE,
    MAX_ENCODED_WORDS,
    MAX_HEADER_LENGTH,
    MAX_HEADER_LINES,
    MAX_MIME_CONTAINERS,
    MAX_PARTS,
    MAX_TOTAL_HEADER_LINES,
    OriginalMessage,
    PecHeaders,
    ProviderMessage,
    parse_eml,
)
from ._errors import (
    DeliveryPendingError,
    DocumentUnavailableError,
    NotPDFError,
    ReceiptParseError,
    ReceiptTooLargeError,
    UnsafeXMLError,
)
from ._kinds import (
    EvidenceSource,
    Outcome,
    Receipt,
    ReceiptKind,
    ReceiptSummary,
    classify_subject,
    kind_from_wire,
)
from ._legallymail import LegallyMailOutcome, LegallyMailState, legallymail_outcomes
from ._outcomes import (
    DeliveryReport,
    DeliveryState,
    ReceiptEvidence,
    RecipientOutcome,
    delivery_report,
)

__all__ = [
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
    "MAX_DATICERT_SIZE",
    "MAX_BOUNDARY_LINES",
    "MAX_EML_SIZE",
    "MAX_ENCODED_WORDS",
    "MAX_HEADER_LENGTH",
    "MAX_HEADER_LINES",
    "MAX_MIME_CONTAINERS",
    "MAX_PARTS",
    "MAX_TOTAL_HEADER_LINES",
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
    "classify_subject",
    "delivery_report",
    "kind_from_wire",
    "legallymail_outcomes",
    "parse_daticert",
    "parse_eml",
]
