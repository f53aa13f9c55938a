# Per-provider sending and the search for evidence of a send
# ----------------------------------------------------------
#
# Reconciliation answers one question after a crash or an uncertain answer: did THIS chunk
# reach the provider? An adapter only gathers candidates, provider records that match the
# chunk on every field the provider exposes; ``_resume.Reconciler`` then decides (claimed by
# no chunk of any job, no rival in-doubt chunk) and stores the evidence.
#
# * PEC Massiva appends the send code to the subject of every receipt ("CONSEGNA: <subject>
#   <code>"). The inbox is searched with the subject; each code found is read back
#   (``GET /send/{code}``). Subjects are compared exactly: after the receipt prefix one
#   separator space is dropped and nothing else, so an original subject's own leading or
#   trailing spaces are kept (a receipt that does not follow that format matches nothing:
#   the chunk stays UNKNOWN). A candidate's
#   receipts name exactly the chunk's recipients (delivery / non-delivery receipts name one
#   recipient each), carry the chunk's subject, and, where the receipt carries the body
#   (the delivery receipt does, per pecmassiva.md 6.2), the chunk's body. Its time is the
#   earliest receipt's date (second precision, with a zone).
# * LegallyMail lists the latest 25 e-mails (no paging, no filter): a candidate has the
#   chunk's subject, exactly its recipients (``GET /api/email``), and a ``created_at``
#   inside the window. LegallyMail exposes no body or body digest. Its timestamps are naive
#   with an undocumented zone: they are read in the client's ``timezone=`` (UTC when not
#   set); a wrong zone pushes a record out of the window, so the chunk stays UNKNOWN (the
#   safe side), never a false SENT. When the list is full and its oldest e-mail is not
#   older than the window's start, the send may lie beyond the list: the search says
#   ``out_of_view`` and nothing found is NOT read as "not sent" (retry_unknown leaves the
#   chunk alone; see _resume.py).
"""Bulk adapters: how the dispatcher sends through each provider and finds its sends."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from .._exceptions import ValidationError
from .._transport import BeforeSend, LastCheck
from ..legallymail._models import EmailStatus
from ..receipts import Outcome, Receipt, ReceiptKind
from ..receipts._kinds import _PREFIXES
from ._models import Chunk, ChunkRecord, ChunkStatus, SendReport, subject_digest

if TYPE_CHECKING:  # the clients are the caller's: imported where a client is checked
    from ..legallymail import LegallyMailClient
    from ..pecmassiva import PecMassivaClient

__all__ = [
    "Adapter",
    "Candidate",
    "LegallyMailAdapter",
    "PecMassivaAdapter",
    "Search",
    "make_adapters",
    "receipt_subject",
]

#: How many e-mails LegallyMail's ``GET /api/emails`` lists at most (the latest ones).
LM_LIST_WINDOW = 25


@attrs.frozen(kw_only=True)
class Candidate:
    """A provider record that matches an in-doubt chunk on every exposed field.

    Example:
        >>> Candidate(record_id="2020082610003492", created_at=None, matched=("subject",),
        ...           report=SendReport(status=ChunkStatus.SENT)).record_id
        '2020082610003492'
    """

    record_id: str
    created_at: datetime | None
    matched: tuple[str, ...]
    report: SendReport


@attrs.frozen(kw_only=True)
class Search:
    """What an adapter found for an in-doubt chunk.

    ``out_of_view``: the provider's list does not reach back to the start of the search
    window (LegallyMail shows its latest 25 e-mails), so a send may exist beyond it and
    finding nothing proves nothing.
    """

    candidates: tuple[Candidate, ...] = ()
    out_of_view: bool = False


def receipt_subject(subject: str) -> tuple[str, str] | None:
    """The original subject, exactly as sent, and the send code of a receipt's subject.

    A receipt reads ``PREFIX: <original subject> <code>``: after the prefix exactly one
    separator space is dropped, so the original keeps its own spaces. None when the
    subject has no receipt prefix, no separator or no code.

    Example:
        >>> receipt_subject("CONSEGNA:  Avviso  2020082610003492")
        (' Avviso ', '2020082610003492')
        >>> receipt_subject("Re: hello") is None
        True
    """
    text = subject.lstrip()
    upper = text.upper()
    for prefix, _kind in _PREFIXES:
        if upper.startswith(prefix):
            rest = text[len(prefix) :]
            break
    else:
        return None
    if not rest.startswith(" "):
        return None
    base, separator, code = rest[1:].rpartition(" ")
    if not separator or not code:
        return None
    return base, code


def _aware(when: datetime) -> datetime:
    # A naive LegallyMail time was not given a zone by the client (``timezone=``): UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _normal(text: str) -> str:
    return " ".join(text.split())


class Adapter:
    """How the dispatcher drives one provider client (one lane per adapter).

    Example:
        >>> from certmail_async import LegallyMailClient
        >>> LegallyMailAdapter(LegallyMailClient(token="t0ken")).max_chunk()
        10
    """

    name: str = ""
    client: PecMassivaClient | LegallyMailClient

    @property
    def lane_key(self) -> Hashable:
        """The pacing scope: one lane per scope."""
        return self.client._transport.scope

    @property
    def connect_timeout(self) -> float | None:
        """The client's connect time limit (seconds; None: no limit)."""
        return self.client._transport.timeout.connect

    @property
    def interval(self) -> float:
        """Seconds between two sends of this lane (0 when pacing is off)."""
        rate = self.client._transport.rate_limit
        return float(rate.interval) if rate is not None else 0.0

    def max_chunk(self) -> int:
        """The largest chunk one send takes."""
        raise NotImplementedError

    async def send(
        self,
        chunk: Chunk,
        before_send: BeforeSend | None = None,
        last_check: LastCheck | None = None,
    ) -> SendReport:
        """Send one chunk (``before_send`` runs once the slot is granted, before the write).

        ``last_check`` is called right before each attempt's request is handed to the
        session; what it raises propagates with nothing written (the lane's lease guard).
        """
        raise NotImplementedError

    async def candidates(
        self, record: ChunkRecord, chunk: Chunk | None, since: datetime, until: datetime
    ) -> Search:
        """Provider records created in ``[since, until)`` that match the chunk."""
        raise NotImplementedError


class PecMassivaAdapter(Adapter):
    """PEC Massiva: one ``POST /send`` per chunk; receipts and the inbox as evidence."""

    name = "pecmassiva"

    def __init__(self, client: PecMassivaClient, chunk_size: int | None = None) -> None:
        self.client: PecMassivaClient = client
        self._chunk = chunk_size or client.max_recipients or 50

    def max_chunk(self) -> int:
        """Configured chunk size (PEC Massiva documents no per-send limit)."""
        return self._chunk

    async def send(
        self,
        chunk: Chunk,
        before_send: BeforeSend | None = None,
        last_check: LastCheck | None = None,
    ) -> SendReport:
        """``sends.create`` for the chunk."""
        m = chunk.message
        result = await self.client.sends.create(
            recipients=chunk.recipients,
            subject=chunk.subject,
            body=m.body,
            attachments=m.attachments,
            sender=m.sender,
            before_send=before_send,
            last_check=last_check,
        )
        return SendReport(status=ChunkStatus.SENT, provider_ids=(result.code,))

    async def candidates(
        self, record: ChunkRecord, chunk: Chunk | None, since: datetime, until: datetime
    ) -> Search:
        """Send codes whose receipts name exactly the chunk's recipients, subject and body."""
        codes: list[str] = list(record.provider_ids)  # a code a DeliveryUnknownError carried
        q = chunk.subject if chunk is not None else None
        async for message in self.client.inbox.list(q=q):
            if message.kind in (ReceiptKind.UNKNOWN, ReceiptKind.ANOMALY_ENVELOPE):
                continue
            parsed = receipt_subject(message.subject)
            if parsed is None:
                continue
            base, code = parsed
            if subject_digest(base) == record.subject_digest and code not in codes:
                codes.append(code)
        found: list[Candidate] = []
        for code in codes:
            summary = await self.client.sends.receipts(code)
            candidate = self._match(code, summary.receipts, record, chunk, since, until)
            if candidate is not None:
                found.append(candidate)
        return Search(candidates=tuple(found))

    def _match(
        self,
        code: str,
        receipts: Sequence[Receipt],
        record: ChunkRecord,
        chunk: Chunk | None,
        since: datetime,
        until: datetime,
    ) -> Candidate | None:
        known = [r for r in receipts if r.kind is not ReceiptKind.UNKNOWN]
        if not known:
            return None
        for r in known:
            parsed = receipt_subject(r.subject)
            if (
                parsed is None
                or parsed[1] != code
                or subject_digest(parsed[0]) != record.subject_digest
            ):
                return None
        created = min(r.date for r in known)
        if not since <= created < until:
            return None
        named = {r.concerns for r in known if r.concerns}
        if named != {a.lower() for a in record.recipients}:
            return None  # receipts must name every recipient of the chunk, and no other
        matched = ["recipients", "subject", "created_at"]
        if chunk is not None:
            bodies = [_normal(r.body) for r in known if r.kind is ReceiptKind.DELIVERY and r.body]
            if bodies:
                wanted = _normal(chunk.message.body)
                if not all(wanted in b for b in bodies):
                    return None
                matched.append("body")
        if chunk is not None and chunk.subject != chunk.message.subject:
            matched.append("tag")
        return Candidate(
            record_id=code,
            created_at=created,
            matched=tuple(matched),
            report=self._report(code, known, record),
        )

    @staticmethod
    def _report(code: str, receipts: Sequence[Receipt], record: ChunkRecord) -> SendReport:
        if any(r.kind is ReceiptKind.NON_ACCEPTANCE for r in receipts):
            return SendReport(
                status=ChunkStatus.FAILED,
                provider_ids=(code,),
                error="the provider refused the message (non-acceptance notice)",
            )
        wanted = {a.lower(): a for a in record.recipients}
        failed = {
            wanted[r.concerns]: f"non-delivery: {r.subject}"
            for r in receipts
            if r.concerns in wanted and r.outcome is Outcome.FAILED
        }
        return SendReport(status=ChunkStatus.SENT, provider_ids=(code,), failed_recipients=failed)


class LegallyMailAdapter(Adapter):
    """LegallyMail: one ``POST /api/send`` per chunk (<= 10 recipients); the e-mail list."""

    name = "legallymail"

    def __init__(self, client: LegallyMailClient, chunk_size: int | None = None) -> None:
        self.client: LegallyMailClient = client
        self._chunk = min(chunk_size or client.max_recipients, client.max_recipients)

    def max_chunk(self) -> int:
        """The account's recipients per send (10 unless raised)."""
        return self._chunk

    async def send(
        self,
        chunk: Chunk,
        before_send: BeforeSend | None = None,
        last_check: LastCheck | None = None,
    ) -> SendReport:
        """``emails.send``; recipients that failed are reported, the chunk is SENT."""
        m = chunk.message
        out = await self.client.emails.send(
            recipients=chunk.recipients,
            subject=chunk.subject,
            html=m.body,
            attachments=m.attachments,
            before_send=before_send,
            last_check=last_check,
        )
        ids = (out.tracking_id, *(r.tracking_id for r in out.recipients if r.tracking_id))
        failed = {r.email: r.error_details or "failed" for r in out.failed_recipients}
        if out.success_count == 0 and out.recipients:
            return SendReport(
                status=ChunkStatus.FAILED, provider_ids=ids, failed_recipients=failed,
                error="every recipient failed",
            )  # fmt: skip
        return SendReport(status=ChunkStatus.SENT, provider_ids=ids, failed_recipients=failed)

    async def candidates(
        self, record: ChunkRecord, chunk: Chunk | None, since: datetime, until: datetime
    ) -> Search:
        """Listed e-mails (the latest 25) with this subject, exactly these recipients, in time.

        ``out_of_view`` when the list is full and its oldest e-mail is not older than
        ``since``: the send may be beyond the list.
        """
        wanted = {r.lower() for r in record.recipients}
        found: list[Candidate] = []
        listed = await self.client.emails.list(limit=LM_LIST_WINDOW)
        stamps = [e.created_at or e.sent_at for e in listed]
        out_of_view = len(listed) >= LM_LIST_WINDOW and (
            None in stamps or min(_aware(s) for s in stamps if s is not None) >= since
        )
        for email in listed:
            if subject_digest(email.subject) != record.subject_digest:
                continue
            if email.recipient_count != len(wanted):
                continue
            if not email.is_multi_recipient and email.recipient.lower() not in wanted:
                continue
            stamp = email.created_at or email.sent_at
            if stamp is None:
                continue
            created = _aware(stamp)
            if not since <= created < until:
                continue
            detail = await self.client.emails.retrieve(email.tracking_id)
            if {r.email.lower() for r in detail.recipients} != wanted:
                continue
            ids = (detail.tracking_id, *(r.tracking_id for r in detail.recipients if r.tracking_id))
            failed = {
                r.email: r.error_details or "failed"
                for r in detail.recipients
                if r.status is EmailStatus.FAILED
            }
            status = ChunkStatus.FAILED if len(failed) == len(wanted) else ChunkStatus.SENT
            matched = ["recipients", "subject", "created_at"]
            if chunk is not None and chunk.subject != chunk.message.subject:
                matched.append("tag")
            found.append(
                Candidate(
                    record_id=detail.tracking_id,
                    created_at=created,
                    matched=tuple(matched),
                    report=SendReport(
                        status=status,
                        provider_ids=ids,
                        failed_recipients=failed,
                        error="every recipient failed" if status is ChunkStatus.FAILED else None,
                    ),
                )
            )
        return Search(candidates=tuple(found), out_of_view=out_of_view)


def make_adapters(
    clients: Sequence[PecMassivaClient | LegallyMailClient], sizes: Mapping[str, int]
) -> dict[str, Adapter]:
    """One adapter per client by provider name (``sizes``: chunk sizes by provider name).

    Raises ValidationError for a client without bulk support or two clients of one provider.
    """
    from ..legallymail import LegallyMailClient
    from ..pecmassiva import PecMassivaClient

    adapters: dict[str, Adapter] = {}
    for client in clients:
        adapter: Adapter
        if isinstance(client, PecMassivaClient):
            adapter = PecMassivaAdapter(client, sizes.get("pecmassiva"))
        elif isinstance(client, LegallyMailClient):
            adapter = LegallyMailAdapter(client, sizes.get("legallymail"))
        else:
            raise ValidationError(f"no bulk support for {type(client).__name__}", field="clients")
        if adapter.name in adapters:
            raise ValidationError(
                f"two clients for {adapter.name}: give one per provider", field="clients"
            )
        adapters[adapter.name] = adapter
    return adapters
