"""PEC receipt kinds read from a subject prefix, and per-recipient outcomes.

PEC Massiva exposes receipts only as mailbox messages (date, subject, body), so the kind
comes from the subject prefix, matched longest first (``AVVISO DI MANCATA CONSEGNA PER
VIRUS:`` wins over ``AVVISO DI MANCATA CONSEGNA:``). Unknown subjects are kept as
``ReceiptKind.UNKNOWN`` with their raw text: they never stop processing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from .._models import OpenEnum

if TYPE_CHECKING:
    from ._outcomes import DeliveryReport

__all__ = [
    "EvidenceSource",
    "Outcome",
    "PecRecipientType",
    "Receipt",
    "ReceiptKind",
    "ReceiptSummary",
    "classify_subject",
    "kind_from_wire",
    "addressed_to",
    "is_permanent_warning",
    "normalise_address",
    "normalise_message_id",
]


class ReceiptKind(enum.Enum):
    """The kind of a PEC provider message; values are the ``daticert.xml`` ``tipo`` strings.

    Examples:
        >>> classify_subject("CONSEGNA: Invio di prova 2020082610003492")[0]
        <ReceiptKind.DELIVERY: 'avvenuta-consegna'>
    """

    ACCEPTANCE = "accettazione"
    NON_ACCEPTANCE = "non-accettazione"
    TAKEN_IN_CHARGE = "presa-in-carico"
    DELIVERY = "avvenuta-consegna"
    NON_DELIVERY = "errore-consegna"
    DELIVERY_WARNING = "preavviso-errore-consegna"
    VIRUS_DETECTION = "rilevazione-virus"
    TRANSPORT_ENVELOPE = "posta-certificata"
    ANOMALY_ENVELOPE = "errore"
    UNKNOWN = "unknown"


# The daticert.xml ``tipo`` / ``X-Ricevuta`` vocabulary, plus the values public parsers accept
# defensively: ``mancata-consegna`` (not an RFC 6109 value; a probable non-delivery, raw kept
# by every caller) and ``errore`` (anomaly contexts).
_WIRE_KINDS: dict[str, ReceiptKind] = {
    **{k.value: k for k in ReceiptKind if k is not ReceiptKind.UNKNOWN},
    "mancata-consegna": ReceiptKind.NON_DELIVERY,
}


def kind_from_wire(raw: str | None) -> ReceiptKind:
    """The kind for a ``tipo`` / ``X-Ricevuta`` / ``X-Trasporto`` string (UNKNOWN otherwise).

    Matching ignores case and surrounding blanks; callers keep the raw string.

    Examples:
        >>> kind_from_wire(" Avvenuta-Consegna ")
        <ReceiptKind.DELIVERY: 'avvenuta-consegna'>
        >>> kind_from_wire("mancata-consegna")  # non-standard: read as non-delivery
        <ReceiptKind.NON_DELIVERY: 'errore-consegna'>
        >>> kind_from_wire("ricevuta-strana")
        <ReceiptKind.UNKNOWN: 'unknown'>
    """
    if not raw:
        return ReceiptKind.UNKNOWN
    return _WIRE_KINDS.get(raw.strip().lower(), ReceiptKind.UNKNOWN)


def normalise_address(text: str) -> str:
    """An address as receipts are compared: blanks, quotes and ``<>`` removed, lower case.

    Examples:
        >>> normalise_address(' "<Rcpt@PEC.example.it>" ')
        'rcpt@pec.example.it'
    """
    return text.strip().strip("\"'").strip().strip("<>").strip().lower()


def normalise_message_id(text: str) -> str:
    """A Message-ID without blanks and angle brackets (the correlation key).

    Examples:
        >>> normalise_message_id(" <abc@pec.example.it> ")
        'abc@pec.example.it'
    """
    return "".join(text.split()).strip("<>")


class EvidenceSource(enum.Enum):
    """Where a receipt's kind was read from; ``strength`` orders them.

    ``daticert.xml`` (the provider's signed certification data) beats the ``X-Ricevuta`` /
    ``X-Trasporto`` headers, which beat the subject prefix (all PEC Massiva exposes).

    Examples:
        >>> EvidenceSource.DATICERT.strength > EvidenceSource.SUBJECT.strength
        True
    """

    DATICERT = "daticert"
    HEADERS = "headers"
    SUBJECT = "subject"

    @property
    def strength(self) -> int:
        """3 for daticert.xml, 2 for headers, 1 for the subject."""
        return {"daticert": 3, "headers": 2, "subject": 1}[self.value]


class Outcome(enum.Enum):
    """What a receipt means for a recipient, apart from its raw kind.

    Examples:
        >>> from datetime import datetime, timezone
        >>> from certmail_async import Outcome, Receipt
        >>> at = datetime(2024, 5, 21, 10, tzinfo=timezone.utc)
        >>> Receipt(date=at, subject="CONSEGNA: Avviso").outcome is Outcome.DELIVERED
        True
        >>> warning = "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: Avviso"
        >>> Receipt(date=at, subject=warning).outcome.value  # may still be delivered
        'warning'
    """

    PENDING = "pending"  # accepted, not yet delivered
    DELIVERED = "delivered"  # final success
    FAILED = "failed"  # final failure
    WARNING = "warning"  # a delay notice: delivery may still happen
    INFORMATIONAL = "informational"  # envelopes, taken-in-charge, unknown


# Longest prefix first; matched case-insensitively after leading blanks.
_PREFIXES: tuple[tuple[str, ReceiptKind], ...] = tuple(
    sorted(
        [
            ("AVVISO DI NON ACCETTAZIONE PER VIRUS:", ReceiptKind.NON_ACCEPTANCE),
            ("AVVISO DI NON ACCETTAZIONE:", ReceiptKind.NON_ACCEPTANCE),
            # Subject-only: the 12-hour warning and the final time-limit notice share this
            # prefix, so it is a warning until a delivery or a second notice arrives.
            ("AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO:", ReceiptKind.DELIVERY_WARNING),
            ("AVVISO DI MANCATA CONSEGNA PER VIRUS:", ReceiptKind.NON_DELIVERY),
            ("AVVISO DI MANCATA CONSEGNA:", ReceiptKind.NON_DELIVERY),
            ("PREAVVISO DI MANCATA CONSEGNA:", ReceiptKind.DELIVERY_WARNING),
            ("ACCETTAZIONE:", ReceiptKind.ACCEPTANCE),
            ("CONSEGNA:", ReceiptKind.DELIVERY),
            ("POSTA CERTIFICATA:", ReceiptKind.TRANSPORT_ENVELOPE),
            ("PRESA IN CARICO:", ReceiptKind.TAKEN_IN_CHARGE),
            ("PROBLEMA DI SICUREZZA:", ReceiptKind.VIRUS_DETECTION),
            ("ANOMALIA MESSAGGIO:", ReceiptKind.ANOMALY_ENVELOPE),
        ],
        key=lambda p: len(p[0]),
        reverse=True,
    )
)

_OUTCOMES = {
    ReceiptKind.ACCEPTANCE: Outcome.PENDING,
    ReceiptKind.NON_ACCEPTANCE: Outcome.FAILED,
    ReceiptKind.DELIVERY: Outcome.DELIVERED,
    ReceiptKind.NON_DELIVERY: Outcome.FAILED,
    ReceiptKind.DELIVERY_WARNING: Outcome.WARNING,
    ReceiptKind.VIRUS_DETECTION: Outcome.FAILED,
}

# The standard receipt text names the recipient: '... ed indirizzato a "rcpt@x.it" ...'.
_ADDRESSED_TO = re.compile(
    r'indirizzato\s+a:?\s*"?<?([^"<>\s,;]+@[^"<>\s,;]+)', re.IGNORECASE | re.ASCII
)


def addressed_to(text: str) -> str | None:
    """The recipient a standard receipt text names (``... indirizzato a "x@y.it" ...``).

    Examples:
        >>> addressed_to('ed indirizzato a "Rcpt@pec.example.it" è stato consegnato')
        'rcpt@pec.example.it'
    """
    match = _ADDRESSED_TO.search(text)
    return match.group(1).rstrip(".").lower() if match else None


def is_permanent_warning(kind: ReceiptKind, extended_error: str | None) -> bool:
    """The documented Aruba quirk: a delay warning whose ``errore-esteso`` starts ``5.4.1``.

    A 5.x.x code is a permanent failure, so PagoPA's production code reclassifies such a
    ``preavviso-errore-consegna`` as a final non-delivery; so does this SDK (the raw kind
    stays ``DELIVERY_WARNING``).

    Examples:
        >>> is_permanent_warning(ReceiptKind.DELIVERY_WARNING, "5.4.1 - Recipient address rejected")
        True
        >>> is_permanent_warning(ReceiptKind.DELIVERY_WARNING, "4.4.1 timeout")
        False
    """
    return (
        kind is ReceiptKind.DELIVERY_WARNING
        and extended_error is not None
        and extended_error.lstrip().startswith("5.4.1")
    )


def classify_subject(subject: str) -> tuple[ReceiptKind, str]:
    """Return the kind and the original subject (after the prefix) of a provider message.

    Examples:
        >>> classify_subject("AVVISO DI MANCATA CONSEGNA PER VIRUS: Fattura 12")
        (<ReceiptKind.NON_DELIVERY: 'errore-consegna'>, 'Fattura 12')
        >>> classify_subject("Re: hello")
        (<ReceiptKind.UNKNOWN: 'unknown'>, 'Re: hello')
    """
    text = subject.lstrip()
    for prefix, kind in _PREFIXES:
        # ASCII case folding only: "ﬆ".upper() is "ST", which would shift the cut.
        head = text[: len(prefix)]
        if head.isascii() and head.upper() == prefix:
            return kind, text[len(prefix) :].strip()
    return ReceiptKind.UNKNOWN, subject


@attrs.frozen(kw_only=True)
class Receipt:
    """One provider message about a send, as a mailbox shows it.

    ``kind`` is read from the subject prefix (weaker evidence than ``daticert.xml``, which
    PEC Massiva does not expose); ``subject`` keeps the raw text.

    Examples:
        >>> from datetime import datetime, UTC
        >>> r = Receipt(date=datetime(2020, 8, 26, tzinfo=UTC),
        ...             subject="CONSEGNA: Prova 2020082610003492", body="")
        >>> r.kind, r.outcome
        (<ReceiptKind.DELIVERY: 'avvenuta-consegna'>, <Outcome.DELIVERED: 'delivered'>)
    """

    date: datetime
    subject: str
    body: str = ""
    sender: str | None = None
    recipient: str | None = None

    @property
    def kind(self) -> ReceiptKind:
        """The receipt kind from the subject prefix."""
        return classify_subject(self.subject)[0]

    @property
    def original_subject(self) -> str:
        """The subject of the original message, without the receipt prefix."""
        return classify_subject(self.subject)[1]

    @property
    def outcome(self) -> Outcome:
        """What this receipt means for the recipient it concerns."""
        return _OUTCOMES.get(self.kind, Outcome.INFORMATIONAL)

    @property
    def concerns(self) -> str | None:
        """The original recipient this receipt is about, when the body text names one."""
        return addressed_to(self.body)

    @property
    def timestamp(self) -> datetime:
        """When the receipt was issued (the mailbox date; same as ``date``)."""
        return self.date

    @property
    def evidence(self) -> EvidenceSource:
        """Always ``EvidenceSource.SUBJECT``: PEC Massiva shows no headers nor XML."""
        return EvidenceSource.SUBJECT

    @property
    def raw_kind(self) -> str | None:
        """None: a mailbox item carries no ``tipo`` string (the subject is the raw form)."""
        return None

    @property
    def extended_error(self) -> str | None:
        """None: no ``errore-esteso`` without daticert.xml."""
        return None


@attrs.frozen(kw_only=True)
class ReceiptSummary:
    """Receipts of one send, aggregated per recipient (a later receipt never erases one).

    Examples:
        >>> ReceiptSummary(code="123", receipts=()).accepted
        False
    """

    code: str
    receipts: tuple[Receipt, ...]

    @property
    def accepted(self) -> bool:
        """Whether the sender's provider accepted the message (an acceptance receipt)."""
        return any(r.kind is ReceiptKind.ACCEPTANCE for r in self.receipts)

    @property
    def rejected(self) -> bool:
        """Whether the message was refused at submission (a non-acceptance notice)."""
        return any(r.kind is ReceiptKind.NON_ACCEPTANCE for r in self.receipts)

    @property
    def outcomes(self) -> dict[str, Outcome]:
        """The outcome per recipient address named by a receipt (arrival order never matters).

        The coarse view of ``report``; a delivery wins over any warning.
        """
        return {o.address: o.state.outcome for o in self.report().recipients}

    def outcome_for(self, address: str) -> Outcome:
        """The outcome for one recipient: pending until a receipt names it."""
        return self.report(recipients=[address])[address].state.outcome

    def report(self, *, recipients: Iterable[str] = ()) -> DeliveryReport:
        """Per-recipient states of this send, with the receipts that prove them.

        Pass the addresses the message went to: a recipient no receipt names yet is then
        reported as pending (or never sent after a non-acceptance) instead of missing.

        Examples:
            >>> ReceiptSummary(code="1", receipts=()).report(recipients=["a@pec.it"]).final
            False
        """
        from ._outcomes import delivery_report  # late: the aggregation builds on Receipt

        return delivery_report(self.receipts, recipients=recipients)

    def by_kind(self, kind: ReceiptKind) -> tuple[Receipt, ...]:
        """The receipts of one kind."""
        return tuple(r for r in self.receipts if r.kind is kind)


class PecRecipientType(OpenEnum):
    """``destinatari/@tipo``: a PEC mailbox or an ordinary e-mail address (open enum).

    Read from ``daticert.xml``; defined here, with the kinds, so that the outcome models
    name it without importing the XML parser.

    Examples:
        >>> PecRecipientType("esterno")
        <PecRecipientType.EXTERNAL: 'esterno'>
    """

    CERTIFIED = "certificato"
    EXTERNAL = "esterno"
