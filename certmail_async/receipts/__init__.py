"""PEC receipt kinds and outcomes (LegallyMail is not PEC and has none of these)."""

from ._kinds import Outcome, Receipt, ReceiptKind, ReceiptSummary, classify_subject

__all__ = ["Outcome", "Receipt", "ReceiptKind", "ReceiptSummary", "classify_subject"]
