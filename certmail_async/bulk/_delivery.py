"""Delivery evidence a journal keeps: each recipient's latest outcome, archived receipts.

A chunk's journal row says whether the provider took the send; the delivery evidence says
what happened to each recipient after that, and on what proof. ``certmail receipts JOB``
(see `refresh_evidence`) reads it from the providers and stores, per recipient, one
`RecipientEvidence` row: the outcome (PEC Massiva's `DeliveryState`, LegallyMail's
`LegallyMailState`, never mixed), whether it is final, where it was read from and how
strong that is, the rule applied, the kind of the deciding receipt and its raw form, the
event times, the provider ids and the digests of the certificate files saved. A row is
replaced only by one of the same or a higher ``rank``: evidence never goes back (a refresh
after receipts were deleted from the INBOX cannot turn "delivered" into "pending").

PEC Massiva receipts saved to the evidence directory are recorded as `ArchivedReceipt`
(kind, time, SHA-256 of the saved item, the file): what ``--cleanup`` checks before it
deletes a send's receipts from the INBOX. The journal holds no receipt text (it quotes the
message body), only digests; the text is in the evidence directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ..receipts import (
    DeliveryState,
    EvidenceSource,
    LegallyMailOutcome,
    LegallyMailState,
    Receipt,
    RecipientOutcome,
)

if TYPE_CHECKING:  # a parameter's annotation only: the downloads load with the client
    from ..legallymail._evidence import EvidenceFile

__all__ = [
    "ArchivedReceipt",
    "CertificateDigest",
    "RecipientEvidence",
    "certificates_from_json",
    "certificates_to_json",
    "evidence_from_legallymail",
    "evidence_from_pec",
    "receipt_digest",
    "receipt_json",
]

# Rank: how far an outcome is along; a stored row is never replaced by a lower rank.
_PEC_RANK = {
    DeliveryState.PENDING: 0,
    DeliveryState.DELAYED: 1,
    DeliveryState.ACCEPTED_EXTERNAL: 2,
    DeliveryState.DELIVERED: 3,
    DeliveryState.NOT_DELIVERED: 3,
    DeliveryState.FAILED: 3,
    DeliveryState.NEVER_SENT: 3,
}
_LM_RANK = {
    LegallyMailState.PENDING: 0,
    LegallyMailState.SENT: 1,
    LegallyMailState.DELIVERED: 2,
    LegallyMailState.READ: 3,
    LegallyMailState.FAILED: 3,
}


@attrs.frozen(kw_only=True)
class CertificateDigest:
    """A certificate (or other evidence file) saved for a recipient, by its digest.

    ``path`` is relative to the evidence directory; ``matches`` compares ``sha256`` with
    the provider's ``provider_hash`` (None when that is not a SHA-256).

    Examples:
        >>> CertificateDigest(kind="read", sha256="ab" * 32, size=812,
        ...                   path="job/cm_rec_1-read.pdf").kind
        'read'
    """

    kind: str
    sha256: str
    size: int
    path: str
    provider_hash: str | None = None
    matches: bool | None = None
    confirmed_at: datetime | None = None
    has_tsq: bool | None = None
    has_tsr: bool | None = None


@attrs.frozen(kw_only=True)
class RecipientEvidence:
    """One recipient's latest delivery evidence, as the journal stores it.

    ``outcome`` is the provider's own vocabulary (a `DeliveryState` value for PEC Massiva,
    a `LegallyMailState` value for LegallyMail); ``source`` is ``daticert``, ``headers``
    or ``subject`` for PEC, ``legallymail`` for LegallyMail; ``strength`` orders the proof
    (PEC: 3 daticert.xml, 2 headers, 1 subject; LegallyMail: 3 a certificate PDF saved
    whose hash matches the provider's, 2 a time-stamped certificate, 1 the status alone).
    ``kind`` is the deciding receipt's kind (or certificate type), ``raw_kind`` its raw
    ``tipo`` when the source had one. ``provider_id`` is the send code (PEC Massiva) or the
    e-mail's tracking id (LegallyMail), ``recipient_ref`` LegallyMail's recipient id.

    Examples:
        >>> row = RecipientEvidence(
        ...     job_id="avvisi", seq=0, recipient="a@pec.example.it",
        ...     provider="pecmassiva", outcome="delivered", final=True, rank=3,
        ...     source="subject", strength=1)
        >>> row.final, row.certificates
        (True, ())
    """

    job_id: str
    seq: int
    recipient: str
    provider: str
    outcome: str
    final: bool
    rank: int
    source: str
    strength: int
    provider_id: str | None = None
    recipient_ref: str | None = None
    rule: str | None = None
    kind: str | None = None
    raw_kind: str | None = None
    accepted_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None
    warned_at: datetime | None = None
    decided_at: datetime | None = None
    receipts: int = 0
    receipts_digest: str | None = None
    certificates: tuple[CertificateDigest, ...] = ()
    error: str | None = None
    updated_at: datetime | None = None
    cleaned_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ArchivedReceipt:
    """A PEC Massiva receipt saved to the evidence directory, as the journal records it.

    ``digest`` is the SHA-256 of the receipt's canonical JSON (`receipt_json`): the same
    receipt read twice has the same digest. ``file`` is where its JSON was saved, relative
    to the evidence directory.

    Examples:
        >>> ArchivedReceipt(job_id="avvisi", seq=0, provider_id="2024052110153",
        ...                 digest="ab" * 32, kind="avvenuta-consegna").kind
        'avvenuta-consegna'
    """

    job_id: str
    seq: int
    provider_id: str
    digest: str
    kind: str
    received_at: datetime | None = None
    file: str | None = None
    archived_at: datetime | None = None


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """A PEC Massiva receipt as the JSON object saved for it (stable key order).

    Examples:
        >>> from datetime import datetime, UTC
        >>> r = Receipt(date=datetime(2024, 5, 21, 10, tzinfo=UTC), subject="CONSEGNA: x")
        >>> receipt_json(r)["kind"]
        'avvenuta-consegna'
    """
    return {
        "date": receipt.date.isoformat(),
        "kind": receipt.kind.value,
        "subject": receipt.subject,
        "body": receipt.body,
        "sender": receipt.sender,
        "recipient": receipt.recipient,
    }


def receipt_digest(receipt: Receipt) -> str:
    """The SHA-256 of a receipt's canonical JSON.

    Examples:
        >>> from datetime import datetime, UTC
        >>> r = Receipt(date=datetime(2024, 5, 21, 10, tzinfo=UTC), subject="CONSEGNA: x")
        >>> len(receipt_digest(r))
        64
    """
    text = json.dumps(receipt_json(receipt), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest_of(receipts: Iterable[Any]) -> str | None:
    digests = sorted(receipt_digest(r) for r in receipts if isinstance(r, Receipt))
    if not digests:
        return None
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def evidence_from_pec(
    job_id: str, seq: int, provider_id: str, outcome: RecipientOutcome
) -> RecipientEvidence:
    """The journal row of one PEC recipient's outcome (a `RecipientOutcome`).

    Examples:
        >>> from certmail_async.receipts import delivery_report
        >>> report = delivery_report((), recipients=["a@pec.example.it"])
        >>> evidence_from_pec("avvisi", 0, "123", report["a@pec.example.it"]).outcome
        'pending'
    """
    decided = outcome.decided_by
    source = outcome.evidence or EvidenceSource.SUBJECT
    raw = getattr(decided, "raw_kind", None)
    return RecipientEvidence(
        job_id=job_id,
        seq=seq,
        recipient=outcome.address,
        provider="pecmassiva",
        provider_id=provider_id,
        outcome=outcome.state.value,
        final=outcome.final,
        rank=_PEC_RANK.get(outcome.state, 0),
        source=source.value,
        strength=source.strength if decided is not None else 0,
        rule=outcome.rule,
        kind=decided.kind.value if decided is not None else None,
        raw_kind=raw if isinstance(raw, str) else None,
        accepted_at=outcome.accepted_at,
        delivered_at=outcome.delivered_at,
        failed_at=outcome.failed_at,
        warned_at=outcome.warned_at,
        decided_at=decided.timestamp if decided is not None else None,
        receipts=len(outcome.receipts),
        receipts_digest=_digest_of(outcome.receipts),
    )


def evidence_from_legallymail(
    job_id: str,
    seq: int,
    outcome: LegallyMailOutcome,
    files: Sequence[EvidenceFile] = (),
    *,
    relative_to: Any = None,
) -> RecipientEvidence:
    """The journal row of one LegallyMail recipient, with the certificate files saved.

    Examples:
        >>> from certmail_async import EmailStatus
        >>> out = LegallyMailOutcome(address="a@example.com", state=LegallyMailState.READ,
        ...                          status=EmailStatus("read"))
        >>> evidence_from_legallymail("avvisi", 0, out).outcome
        'read'
    """
    deciding = {
        LegallyMailState.READ: "read",
        LegallyMailState.DELIVERED: "delivered",
    }.get(outcome.state)
    cert = outcome.certificate(deciding) if deciding else None
    digests = tuple(
        CertificateDigest(
            kind=f.kind,
            sha256=f.sha256,
            size=f.size,
            path=str(f.path.relative_to(relative_to)) if relative_to else str(f.path),
            provider_hash=f.provider_hash,
            matches=f.hash_matches,
            confirmed_at=f.confirmed_at,
            has_tsq=f.has_tsq,
            has_tsr=f.has_tsr,
        )
        for f in files
    )
    strength = 1
    if cert is not None and cert.has_tsq and cert.has_tsr:
        strength = 2
    if cert is not None and any(d.kind == deciding and d.matches for d in digests):
        strength = 3
    decided_at = {
        LegallyMailState.READ: outcome.read_at,
        LegallyMailState.DELIVERED: outcome.delivered_at,
        LegallyMailState.SENT: outcome.sent_at,
    }.get(outcome.state)
    if cert is not None and cert.confirmed_at is not None:
        decided_at = cert.confirmed_at
    return RecipientEvidence(
        job_id=job_id,
        seq=seq,
        recipient=outcome.address,
        provider="legallymail",
        provider_id=outcome.parent_tracking_id,
        recipient_ref=outcome.tracking_id,
        outcome=outcome.state.value,
        final=outcome.final,
        rank=_LM_RANK.get(outcome.state, 0),
        source="legallymail",
        strength=strength,
        kind=cert.certificate_type if cert is not None else None,
        raw_kind=outcome.status.value,
        accepted_at=outcome.sent_at,
        delivered_at=outcome.delivered_at,
        read_at=outcome.read_at,
        failed_at=None,
        decided_at=decided_at,
        receipts=len(outcome.certificates),
        certificates=digests,
        error=outcome.error_details,
    )


def certificates_to_json(certificates: Sequence[CertificateDigest]) -> str:
    """The JSON a journal stores for certificate digests (``"[]"`` for none).

    Examples:
        >>> certificates_to_json(())
        '[]'
    """
    return json.dumps(
        [
            {
                "kind": c.kind,
                "sha256": c.sha256,
                "size": c.size,
                "path": c.path,
                "provider_hash": c.provider_hash,
                "matches": c.matches,
                "confirmed_at": c.confirmed_at.isoformat() if c.confirmed_at else None,
                "has_tsq": c.has_tsq,
                "has_tsr": c.has_tsr,
            }
            for c in certificates
        ]
    )


def certificates_from_json(text: str | None) -> tuple[CertificateDigest, ...]:
    """Certificate digests back from `certificates_to_json`.

    Examples:
        >>> certificates_from_json('[]')
        ()
    """
    if not text or text == "[]":
        return ()
    items: list[Mapping[str, Any]] = json.loads(text)
    return tuple(
        CertificateDigest(
            kind=str(c["kind"]),
            sha256=str(c["sha256"]),
            size=int(c["size"]),
            path=str(c["path"]),
            provider_hash=c.get("provider_hash"),
            matches=c.get("matches"),
            confirmed_at=(
                datetime.fromisoformat(c["confirmed_at"]) if c.get("confirmed_at") else None
            ),
            has_tsq=c.get("has_tsq"),
            has_tsr=c.get("has_tsr"),
        )
        for c in items
    )
