"""PEC receipts: kinds from subjects, headers and ``daticert.xml``; per-recipient outcomes.

LegallyMail is not PEC and has none of these; its evidence is read by
``legallymail_outcomes``, in its own vocabulary.
"""

from typing import TYPE_CHECKING, Any

from .._lazy import LazyNames
from ._errors import (
    DeliveryPendingError,
    DocumentUnavailableError,
    NotPDFError,
    ReceiptParseError,
    ReceiptTooLargeError,
    UnsafeXMLError,
)

if TYPE_CHECKING:
    from ._daticert import (
        MAX_DATICERT_SIZE,
        Daticert,
        DaticertRecipient,
        DeliveryVariant,
        PecErrorClass,
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
    from ._kinds import (
        EvidenceSource,
        Outcome,
        PecRecipientType,
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

# The parsers (XML, MIME) and the LegallyMail reading load on first use (PEP 562): a
# client that only sends never pays for them. The errors are cheap and load eagerly.
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "_daticert": (
        "MAX_DATICERT_SIZE",
        "Daticert",
        "DaticertRecipient",
        "DeliveryVariant",
        "PecErrorClass",
        "parse_daticert",
    ),
    "_eml": (
        "MAX_BOUNDARY_LINES",
        "MAX_EML_SIZE",
        "MAX_ENCODED_WORDS",
        "MAX_HEADER_LENGTH",
        "MAX_HEADER_LINES",
        "MAX_MIME_CONTAINERS",
        "MAX_PARTS",
        "MAX_TOTAL_HEADER_LINES",
        "OriginalMessage",
        "PecHeaders",
        "ProviderMessage",
        "parse_eml",
    ),
    "_kinds": (
        "EvidenceSource",
        "Outcome",
        "PecRecipientType",
        "Receipt",
        "ReceiptKind",
        "ReceiptSummary",
        "classify_subject",
        "kind_from_wire",
    ),
    "_legallymail": ("LegallyMailOutcome", "LegallyMailState", "legallymail_outcomes"),
    "_outcomes": (
        "DeliveryReport",
        "DeliveryState",
        "ReceiptEvidence",
        "RecipientOutcome",
        "delivery_report",
    ),
}


_NAMES = LazyNames(__name__, globals(), _LAZY_MODULES)


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access and cache the name here.

    Examples:
        >>> from certmail_async import receipts
        >>> receipts.ReceiptKind.DELIVERY.value
        'avvenuta-consegna'
    """
    return _NAMES.load(name)


def __dir__() -> list[str]:
    """List the module's names, the lazily loaded public ones included."""
    return _NAMES.names()


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
