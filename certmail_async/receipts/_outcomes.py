"""Per-recipient outcomes of a PEC send, from any set of receipts, in any arrival order.

The rules are the reference's final-outcome table (``pec-receipts.md`` §2.1) applied per
recipient address, never per arrival order; the result depends only on the *set* of
receipts (duplicates count once), so polling the same send twice, or reading receipts from
PEC Massiva's API and from the mailbox, gives the same answer.

For one recipient, the first rule that matches decides:

1. a delivery receipt (``avvenuta-consegna``) naming it: **delivered**. A delivery always
   wins over a delay warning (and over a contradicting notice, which is kept as a
   ``conflicts`` note);
2. a non-delivery notice (``errore-consegna``, the non-standard ``mancata-consegna``, or the
   documented Aruba case: a delay warning whose ``errore-esteso`` starts ``5.4.1``):
   **not delivered**;
3. a virus detection (``rilevazione-virus``) naming it, or naming nobody: **failed**;
4. a non-acceptance notice for the message: **failed, never sent** (every recipient);
5. a delay warning (``preavviso-errore-consegna``): **pending with a warning**. Subject-only
   evidence cannot tell the 12-hour warning from the final time-limit notice (they share a
   prefix), so two distinct such notices for one recipient read as **not delivered**;
6. an acceptance: **pending**, or **accepted (external)** for an ordinary address
   (``destinatari tipo="esterno"``), for which no PEC delivery receipt comes (unconfirmed);
7. nothing yet: **pending**.

A per-recipient receipt that names nobody (a subject-only receipt whose text does not name
the address) is assigned to the recipient only when the send has exactly one; otherwise it
is kept in ``unassigned``, never dropped. Envelopes, anomalies and unknown messages are kept
in ``other``.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import attrs

from ._kinds import (
    EvidenceSource,
    Outcome,
    PecRecipientType,
    Receipt,
    ReceiptKind,
    is_permanent_warning,
    normalise_address,
)

__all__ = [
    "DeliveryReport",
    "DeliveryState",
    "ReceiptEvidence",
    "RecipientOutcome",
    "delivery_report",
]


@runtime_checkable
class ReceiptEvidence(Protocol):
    """What the aggregation reads from a receipt: a Receipt or a ProviderMessage provides it.

    Examples:
        >>> from datetime import datetime, UTC
        >>> isinstance(Receipt(date=datetime(2024, 1, 1, tzinfo=UTC), subject="x"),
        ...            ReceiptEvidence)
        True
    """

    @property
    def kind(self) -> ReceiptKind:
        """The receipt kind."""

    @property
    def evidence(self) -> EvidenceSource:
        """Where the kind was read from."""

    @property
    def timestamp(self) -> datetime | None:
        """When the receipt was issued."""

    @property
    def concerns(self) -> str | None:
        """The recipient it is about, if it names one."""

    @property
    def extended_error(self) -> str | None:
        """``errore-esteso``, when known."""


class DeliveryState(enum.Enum):
    """What happened to a PEC message for one recipient (``pec-receipts.md`` §2.1).

    Examples:
        >>> DeliveryState.DELIVERED.final, DeliveryState.DELAYED.final
        (True, False)
    """

    DELIVERED = "delivered"
    NOT_DELIVERED = "not-delivered"
    FAILED = "failed"  # a virus was detected
    NEVER_SENT = "never-sent"  # the sender's provider refused the message
    DELAYED = "pending-warning"  # a delay warning; delivery may still happen
    ACCEPTED_EXTERNAL = "accepted-external"  # an ordinary address: no delivery receipt comes
    PENDING = "pending"

    @property
    def final(self) -> bool:
        """Whether no further receipt is expected to change this state."""
        return self not in (DeliveryState.PENDING, DeliveryState.DELAYED)

    @property
    def outcome(self) -> Outcome:
        """The coarse [Outcome][certmail_async.Outcome] (``FAILED`` for every final failure)."""
        return {
            DeliveryState.DELIVERED: Outcome.DELIVERED,
            DeliveryState.DELAYED: Outcome.WARNING,
            DeliveryState.PENDING: Outcome.PENDING,
            DeliveryState.ACCEPTED_EXTERNAL: Outcome.PENDING,
        }.get(self, Outcome.FAILED)


_PER_RECIPIENT = frozenset(
    {
        ReceiptKind.DELIVERY,
        ReceiptKind.NON_DELIVERY,
        ReceiptKind.DELIVERY_WARNING,
        ReceiptKind.TAKEN_IN_CHARGE,
        ReceiptKind.VIRUS_DETECTION,
    }
)
_MESSAGE_LEVEL = frozenset({ReceiptKind.ACCEPTANCE, ReceiptKind.NON_ACCEPTANCE})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _identity(r: ReceiptEvidence) -> tuple[str, ...]:
    from ._eml import ProviderMessage  # the parsers (MIME, XML) load on first use

    # Content identity: equal receipts (the same item polled twice) count once, and the
    # order of the result never depends on the order of the input.
    if isinstance(r, ProviderMessage):
        if r.raw:
            return ("eml", hashlib.sha256(r.raw).hexdigest())
        return ("eml", repr(attrs.evolve(r, raw=b"")))
    if isinstance(r, Receipt):
        return ("subject", r.date.isoformat(), r.subject, r.body, r.sender or "", r.recipient or "")
    return ("other", type(r).__name__, repr(r))


def _when(r: ReceiptEvidence) -> datetime:
    when = r.timestamp
    if when is None:
        return _EPOCH
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _order(r: ReceiptEvidence) -> tuple[int, datetime, str, tuple[str, ...]]:
    return (0 if r.timestamp is not None else 1, _when(r), r.kind.value, _identity(r))


def _concerns(r: ReceiptEvidence) -> str | None:
    who = r.concerns
    return normalise_address(who) if who else None


def _is_non_delivery(r: ReceiptEvidence) -> bool:
    return r.kind is ReceiptKind.NON_DELIVERY or is_permanent_warning(r.kind, r.extended_error)


@attrs.frozen(kw_only=True)
class RecipientOutcome:
    """The state of one recipient and the receipts that prove it, in time order.

    ``decided_by`` is the receipt the state rests on (None while nothing is known),
    ``evidence`` its source, ``rule`` the documented rule applied when it is more than the
    kind (``"aruba-5.4.1"``, ``"second time-limit notice"``, ``"only recipient"``,
    ``"external recipient"``), ``conflicts`` the receipts that contradict the state.

    Examples:
        >>> from datetime import datetime, UTC
        >>> r = Receipt(date=datetime(2024, 5, 21, tzinfo=UTC), subject="CONSEGNA: x",
        ...             body='ed indirizzato a "a@pec.example.it" è stato consegnato')
        >>> out = delivery_report([r])["a@pec.example.it"]
        >>> out.state.value, out.delivered_at.day, out.evidence.value
        ('delivered', 21, 'subject')
    """

    address: str
    state: DeliveryState
    receipts: tuple[ReceiptEvidence, ...] = ()
    decided_by: ReceiptEvidence | None = None
    rule: str | None = None
    recipient_type: PecRecipientType | None = None
    conflicts: tuple[ReceiptEvidence, ...] = ()

    @property
    def final(self) -> bool:
        """Whether no further receipt is expected to change the state."""
        return self.state.final

    @property
    def evidence(self) -> EvidenceSource | None:
        """The source of the deciding receipt (daticert, headers or subject)."""
        return self.decided_by.evidence if self.decided_by is not None else None

    def _first(self, *kinds: ReceiptKind) -> datetime | None:
        times = [r.timestamp for r in self.receipts if r.kind in kinds and r.timestamp]
        return min(times, key=lambda t: _when_of(t)) if times else None

    @property
    def accepted_at(self) -> datetime | None:
        """When the sender's provider accepted the message."""
        return self._first(ReceiptKind.ACCEPTANCE)

    @property
    def delivered_at(self) -> datetime | None:
        """When the first delivery receipt for this recipient was issued."""
        return self._first(ReceiptKind.DELIVERY)

    @property
    def warned_at(self) -> datetime | None:
        """When the first delay warning was issued."""
        return self._first(ReceiptKind.DELIVERY_WARNING)

    @property
    def failed_at(self) -> datetime | None:
        """When the deciding failure notice was issued (None unless the state is a failure)."""
        if self.state.outcome is not Outcome.FAILED or self.decided_by is None:
            return None
        return self.decided_by.timestamp


def _when_of(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """Per-recipient outcomes of one send, with every receipt kept.

    Index it by address (case and ``<>`` ignored). ``other`` holds envelopes, anomalies and
    unknown messages; ``unassigned`` per-recipient receipts that name no recipient.

    Examples:
        >>> report = delivery_report([], recipients=["A@pec.example.it"])
        >>> report["a@pec.example.it"].state, report.final
        (<DeliveryState.PENDING: 'pending'>, False)
    """

    recipients: tuple[RecipientOutcome, ...]
    receipts: tuple[ReceiptEvidence, ...] = ()
    other: tuple[ReceiptEvidence, ...] = ()
    unassigned: tuple[ReceiptEvidence, ...] = ()

    def __getitem__(self, address: str) -> RecipientOutcome:
        wanted = normalise_address(address)
        for outcome in self.recipients:
            if outcome.address == wanted:
                return outcome
        raise KeyError(address)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        wanted = normalise_address(address)
        return any(o.address == wanted for o in self.recipients)

    @property
    def final(self) -> bool:
        """Whether every recipient has a final state (False with no recipients)."""
        return bool(self.recipients) and all(o.final for o in self.recipients)

    @property
    def states(self) -> Mapping[str, DeliveryState]:
        """Address -> state."""
        return {o.address: o.state for o in self.recipients}

    def count(self, state: DeliveryState) -> int:
        """How many recipients are in ``state``."""
        return sum(1 for o in self.recipients if o.state is state)


def delivery_report(
    receipts: Iterable[ReceiptEvidence], *, recipients: Iterable[str] = ()
) -> DeliveryReport:
    """Aggregate the receipts of one send per recipient address.

    ``recipients`` are the addresses the message was sent to (recommended: without them a
    recipient appears only once a receipt names it). Receipts may be PEC Massiva
    [Receipt][certmail_async.Receipt] items (subject-derived) or
    [ProviderMessage][certmail_async.ProviderMessage] results of
    [parse_eml][certmail_async.receipts.parse_eml], mixed; the order they arrive in never
    changes the result.

    Examples:
        >>> from datetime import datetime, UTC
        >>> t = datetime(2024, 5, 21, 10, tzinfo=UTC)
        >>> said = 'ed indirizzato a "b@pec.example.it"'
        >>> report = delivery_report(
        ...     [Receipt(date=t, subject="AVVISO DI MANCATA CONSEGNA: x", body=said),
        ...      Receipt(date=t, subject="ACCETTAZIONE: x")],
        ...     recipients=["a@pec.example.it", "b@pec.example.it"])
        >>> [report[a].state.value for a in ("a@pec.example.it", "b@pec.example.it")]
        ['pending', 'not-delivered']
    """
    from ._eml import ProviderMessage  # the parsers (MIME, XML) load on first use

    unique: dict[tuple[str, ...], ReceiptEvidence] = {}
    for r in receipts:
        unique.setdefault(_identity(r), r)
    ordered = tuple(sorted(unique.values(), key=_order))

    types: dict[str, PecRecipientType | None] = {}
    addresses: set[str] = set()
    for address in recipients:
        addresses.add(normalise_address(address))
    message_level: list[ReceiptEvidence] = []
    per: dict[str, list[ReceiptEvidence]] = {}
    nameless: list[ReceiptEvidence] = []
    other: list[ReceiptEvidence] = []
    for r in ordered:
        if r.kind in _MESSAGE_LEVEL:
            message_level.append(r)
            if isinstance(r, ProviderMessage):
                for listed in r.recipients:
                    addresses.add(listed.address)
                    if listed.type is not None:
                        types.setdefault(listed.address, listed.type)
        elif r.kind in _PER_RECIPIENT:
            who = _concerns(r)
            if who is None:
                nameless.append(r)
            else:
                addresses.add(who)
                per.setdefault(who, []).append(r)
        else:
            other.append(r)

    unassigned: list[ReceiptEvidence] = []
    only = next(iter(addresses)) if len(addresses) == 1 else None
    by_rule: dict[int, str] = {}
    everyone: list[ReceiptEvidence] = []
    for r in nameless:
        if only is not None:
            per.setdefault(only, []).append(r)
            by_rule[id(r)] = "only recipient"
        elif r.kind is ReceiptKind.VIRUS_DETECTION:
            everyone.append(r)  # a virus in the message concerns every recipient
        else:
            unassigned.append(r)

    outcomes = tuple(
        _decide(
            address,
            sorted([*per.get(address, ()), *everyone], key=_order),
            message_level,
            types.get(address),
            by_rule,
        )
        for address in sorted(addresses)
    )
    return DeliveryReport(
        recipients=outcomes,
        receipts=ordered,
        other=tuple(other),
        unassigned=tuple(unassigned),
    )


def _decide(
    address: str,
    own: list[ReceiptEvidence],
    message_level: list[ReceiptEvidence],
    recipient_type: PecRecipientType | None,
    by_rule: dict[int, str],
) -> RecipientOutcome:
    evidence = tuple(sorted([*own, *message_level], key=_order))
    deliveries = [r for r in own if r.kind is ReceiptKind.DELIVERY]
    failures = [r for r in own if _is_non_delivery(r)]
    viruses = [r for r in own if r.kind is ReceiptKind.VIRUS_DETECTION]
    refusals = [r for r in message_level if r.kind is ReceiptKind.NON_ACCEPTANCE]
    warnings = [
        r
        for r in own
        if r.kind is ReceiptKind.DELIVERY_WARNING
        and not is_permanent_warning(r.kind, r.extended_error)
    ]
    acceptances = [r for r in message_level if r.kind is ReceiptKind.ACCEPTANCE]

    state: DeliveryState
    decided: ReceiptEvidence | None
    rule: str | None = None
    conflicts: tuple[ReceiptEvidence, ...] = ()
    if deliveries:
        state, decided = DeliveryState.DELIVERED, deliveries[0]
        conflicts = tuple(sorted([*failures, *viruses, *refusals], key=_order))
    elif failures:
        # A real non-delivery notice is stronger proof than a reclassified warning.
        proper = [r for r in failures if r.kind is ReceiptKind.NON_DELIVERY]
        decided = (proper or failures)[0]
        state = DeliveryState.NOT_DELIVERED
        if not proper:
            rule = "aruba-5.4.1"
    elif viruses:
        state, decided = DeliveryState.FAILED, viruses[0]
    elif refusals:
        state, decided = DeliveryState.NEVER_SENT, refusals[0]
    elif warnings:
        subject_only = [r for r in warnings if r.evidence is EvidenceSource.SUBJECT]
        if len(subject_only) >= 2:
            state, decided, rule = (
                DeliveryState.NOT_DELIVERED,
                subject_only[1],
                "second time-limit notice",
            )
        else:
            state, decided = DeliveryState.DELAYED, warnings[0]
    elif acceptances:
        decided = acceptances[0]
        if recipient_type is PecRecipientType.EXTERNAL:
            state, rule = DeliveryState.ACCEPTED_EXTERNAL, "external recipient"
        else:
            state = DeliveryState.PENDING
    else:
        state, decided = DeliveryState.PENDING, None
    if rule is None and decided is not None:
        rule = by_rule.get(id(decided))
    return RecipientOutcome(
        address=address,
        state=state,
        receipts=evidence,
        decided_by=decided,
        rule=rule,
        recipient_type=recipient_type,
        conflicts=conflicts,
    )
