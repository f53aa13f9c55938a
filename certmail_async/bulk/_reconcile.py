"""Per-provider sending and reconciliation for the bulk dispatcher.

Reconciliation answers one question after a crash or an uncertain answer: did this chunk
reach the provider? Each lane has at most one chunk in flight, so the question is always
about the last chunk a lane touched.

* PEC Massiva appends the send code to the subject of every receipt. The inbox is searched
  for receipts whose subject (minus that code) has the chunk's subject digest, whose code
  no other chunk of the job has claimed, dated after the chunk went in flight (less a clock
  skew allowance); a delivery receipt naming one of the chunk's recipients settles it. A
  non-acceptance notice means the provider refused it: failed, not sent.
* LegallyMail lists the latest 25 e-mails: the newest one with the chunk's subject digest,
  an unclaimed tracking id and exactly the chunk's recipients is the send.

Not found is not "not sent": the chunk stays UNKNOWN until the caller decides
(``retry_unknown=True``) or a later reconciliation finds it (receipts can take minutes).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .._transport import BeforeSend
from ..legallymail import EmailStatus, LegallyMailClient
from ..pecmassiva import PecMassivaClient
from ..receipts import Outcome, ReceiptKind, classify_subject
from ._journal import ChunkRecord
from ._models import ChunkStatus, OutgoingMessage, subject_digest

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = ["Adapter", "Chunk", "LegallyMailAdapter", "PecMassivaAdapter", "SendReport"]


@attrs.frozen(kw_only=True)
class Chunk:
    """One send: a slice of a message's recipients, with its seq and fingerprints."""

    seq: int
    provider: str
    recipients: tuple[str, ...]
    message: OutgoingMessage = attrs.field(repr=False)
    digest: str
    subject_digest: str

    def record(self, job_id: str, status: ChunkStatus = ChunkStatus.PENDING) -> ChunkRecord:
        """This chunk as a journal record."""
        return ChunkRecord(
            job_id=job_id,
            seq=self.seq,
            provider=self.provider,
            recipients=self.recipients,
            digest=self.digest,
            subject_digest=self.subject_digest,
            status=status,
            key=self.message.key,
        )


@attrs.frozen(kw_only=True)
class SendReport:
    """What a send (or a reconciliation) established."""

    status: ChunkStatus
    provider_ids: tuple[str, ...] = ()
    failed_recipients: Mapping[str, str] = attrs.field(factory=dict)
    error: str | None = None


class Adapter:
    """How the dispatcher drives one provider client."""

    name: str = ""
    client: Any

    @property
    def lane_key(self) -> Hashable:
        """The pacing scope: one lane per scope."""
        return self.client._transport.scope  # type: ignore[no-any-return]

    @property
    def interval(self) -> float:
        """Seconds between two sends of this lane (0 when pacing is off)."""
        rate = self.client._transport.rate_limit
        return float(rate.interval) if rate is not None else 0.0

    def max_chunk(self) -> int:
        """The largest chunk one send takes."""
        raise NotImplementedError

    async def send(self, chunk: Chunk, before_send: BeforeSend | None = None) -> SendReport:
        """Send one chunk."""
        raise NotImplementedError

    async def reconcile(
        self, record: ChunkRecord, chunk: Chunk | None, claimed: set[str], skew: float
    ) -> SendReport | None:
        """Find a chunk at the provider; None when not found."""
        raise NotImplementedError


class PecMassivaAdapter(Adapter):
    """PEC Massiva: one ``POST /send`` per chunk; receipts to reconcile."""

    name = "pecmassiva"

    def __init__(self, client: PecMassivaClient, chunk_size: int | None = None) -> None:
        self.client = client
        self._chunk = chunk_size or client.max_recipients or 50

    def max_chunk(self) -> int:
        """Configured chunk size (PEC Massiva documents no per-send limit)."""
        return self._chunk

    async def send(self, chunk: Chunk, before_send: BeforeSend | None = None) -> SendReport:
        """``sends.create`` for the chunk."""
        m = chunk.message
        result = await self.client.sends.create(
            recipients=chunk.recipients,
            subject=m.subject,
            body=m.body,
            attachments=m.attachments,
            sender=m.sender,
            before_send=before_send,
        )
        return SendReport(status=ChunkStatus.SENT, provider_ids=(result.code,))

    async def reconcile(
        self, record: ChunkRecord, chunk: Chunk | None, claimed: set[str], skew: float
    ) -> SendReport | None:
        """Look for the chunk's receipts in the inbox (or by the reference we kept)."""
        client = self.client
        for code in record.provider_ids:  # a DeliveryUnknownError that carried a code
            summary = await client.sends.receipts(code)
            if summary.receipts:
                return self._report(code, summary.receipts, record)
        since = record.in_flight_at - timedelta(seconds=skew) if record.in_flight_at else None
        codes: dict[str, datetime] = {}
        q = chunk.message.subject if chunk is not None else None
        async for message in client.inbox.list(q=q):
            if message.kind in (ReceiptKind.UNKNOWN, ReceiptKind.ANOMALY_ENVELOPE):
                continue
            base, _, code = classify_subject(message.subject)[1].rpartition(" ")
            if not code or code in claimed or subject_digest(base) != record.subject_digest:
                continue
            if since is not None and message.date < since:
                continue
            codes[code] = message.date
        wanted = {r.lower() for r in record.recipients}
        for code in sorted(codes, key=lambda c: codes[c], reverse=True):
            summary = await client.sends.receipts(code)
            named = {r.concerns for r in summary.receipts if r.concerns}
            if named & wanted or (not named and len(codes) == 1):
                return self._report(code, summary.receipts, record)
        return None

    @staticmethod
    def _report(code: str, receipts: Any, record: ChunkRecord) -> SendReport:
        if any(r.kind is ReceiptKind.NON_ACCEPTANCE for r in receipts):
            return SendReport(
                status=ChunkStatus.FAILED,
                provider_ids=(code,),
                error="the provider refused the message (non-acceptance notice)",
            )
        failed = {
            r.concerns: f"non-delivery: {r.subject}"
            for r in receipts
            if r.concerns and r.outcome is Outcome.FAILED and r.concerns in record.recipients
        }
        return SendReport(status=ChunkStatus.SENT, provider_ids=(code,), failed_recipients=failed)


class LegallyMailAdapter(Adapter):
    """LegallyMail: one ``POST /api/send`` per chunk (<= 10 recipients); the e-mail list."""

    name = "legallymail"

    def __init__(self, client: LegallyMailClient, chunk_size: int | None = None) -> None:
        self.client = client
        self._chunk = min(chunk_size or client.max_recipients, client.max_recipients)

    def max_chunk(self) -> int:
        """The account's recipients per send (10 unless raised)."""
        return self._chunk

    async def send(self, chunk: Chunk, before_send: BeforeSend | None = None) -> SendReport:
        """``emails.send``; recipients that failed are reported, the chunk is SENT."""
        m = chunk.message
        out = await self.client.emails.send(
            recipients=chunk.recipients,
            subject=m.subject,
            html=m.body,
            attachments=m.attachments,
            before_send=before_send,
        )
        ids = (out.tracking_id, *(r.tracking_id for r in out.recipients if r.tracking_id))
        failed = {r.email: r.error_details or "failed" for r in out.failed_recipients}
        if out.success_count == 0 and out.recipients:
            return SendReport(
                status=ChunkStatus.FAILED, provider_ids=ids, failed_recipients=failed,
                error="every recipient failed",
            )  # fmt: skip
        return SendReport(status=ChunkStatus.SENT, provider_ids=ids, failed_recipients=failed)

    async def reconcile(
        self, record: ChunkRecord, chunk: Chunk | None, claimed: set[str], skew: float
    ) -> SendReport | None:
        """The newest listed e-mail with this subject and exactly these recipients."""
        wanted = {r.lower() for r in record.recipients}
        for email in await self.client.emails.list(limit=25):
            if (
                email.tracking_id in claimed
                or subject_digest(email.subject) != record.subject_digest
            ):
                continue
            if email.recipient_count != len(wanted):
                continue
            if not email.is_multi_recipient and email.recipient.lower() not in wanted:
                continue
            detail = await self.client.emails.retrieve(email.tracking_id)
            if {r.email.lower() for r in detail.recipients} != wanted and email.is_multi_recipient:
                continue
            ids = (detail.tracking_id, *(r.tracking_id for r in detail.recipients if r.tracking_id))
            failed = {
                r.email: r.error_details or "failed"
                for r in detail.recipients
                if r.status is EmailStatus.FAILED
            }
            return SendReport(status=ChunkStatus.SENT, provider_ids=ids, failed_recipients=failed)
        return None
