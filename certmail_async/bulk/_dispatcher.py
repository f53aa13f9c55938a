# The bulk dispatcher: chunked, paced, ordered fan-out with a write-ahead journal
# --------------------------------------------------------------------------------
#
# Input: any iterable or async iterable of OutgoingMessage, read lazily. Each message's
# recipients are validated (a bad address fails that recipient only) and split into chunks
# of at most the provider's per-send limit (LegallyMail 10 by default; PEC Massiva
# configurable). Every chunk gets a seq in input order.
#
# Fan-out: one lane per provider client (= one pacing scope). A lane is a single task that
# sends its chunks one after the other, in seq order, through the client, whose gate keeps
# the documented cap. Lanes run concurrently. Order per provider therefore comes from the
# lane, not from the limiter. A 429 retries the same chunk at the head of the lane after
# the scope's pause, so order is kept.
#
# Back-pressure: the reader feeds bounded per-lane queues and outcomes leave through a
# bounded stream; a slow lane or a slow consumer slows the reader, so memory stays flat
# whatever the input size. (A slow lane also holds back faster ones when their messages
# interleave in the input; split jobs by provider for full speed on each.)
#
# Safety: per chunk, the journal commits ``in_flight`` BEFORE the request and the outcome
# right after. The in_flight commit happens once the pacing gate has granted the slot, just
# before the request is written (the send's explicit ``before_send`` hook): a crash while a
# lane waits for its slot therefore leaves the chunk pending (surely unsent) instead of in doubt. In
# the random-kill soak this cut the chunks left in doubt from about one per kill to one.
# Nothing that may have been sent is ever sent again without reconciliation:
# a 5xx, timeout or reset is UNKNOWN; a crash leaves ``in_flight``. Running a job id again
# first re-reads the input and checks each journaled chunk's digest (a mismatch is a
# JobMismatchError before any request), then reconciles in-flight and unknown chunks
# against the provider, then sends what was never sent. Unknown chunks are resent only
# with ``retry_unknown=True`` (and only when reconciliation still cannot find them).
"""BulkDispatcher: send many messages at the providers' caps, at most once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._exceptions import (
    APIError,
    CertmailError,
    ConnectError,
    DeliveryUnknownError,
    JobMismatchError,
    RateLimitError,
    ValidationError,
)
from .._transport import BeforeSend
from .._validation import check_email
from ..legallymail import LegallyMailClient
from ..pecmassiva import PecMassivaClient
from ._journal import ChunkRecord, Journal, SQLiteJournal
from ._models import (
    ChunkOutcome,
    ChunkStatus,
    Estimate,
    JobStatus,
    OutgoingMessage,
    Progress,
    RecipientRecord,
    content_digest,
    digest,
    subject_digest,
)
from ._reconcile import Adapter, Chunk, LegallyMailAdapter, PecMassivaAdapter, SendReport

__all__ = ["BulkDispatcher"]

Hook = Callable[[str, int], None]
_FINAL = (ChunkStatus.SENT, ChunkStatus.FAILED, ChunkStatus.SKIPPED)
_VERIFY_WINDOW = 2000


class BulkDispatcher:
    """Send many messages through provider clients: chunked, paced, ordered, journaled.

    Example:
        >>> from certmail_async import BulkDispatcher, OutgoingMessage
        >>> async def main(pm, lm) -> None:  # doctest: +SKIP
        ...     messages = (OutgoingMessage(provider="legallymail", recipients=[addr],
        ...                                 subject="Avviso", body="<p>...</p>")
        ...                 for addr in addresses)
        ...     async with BulkDispatcher(clients=[pm, lm], journal="jobs.sqlite") as d:
        ...         async for outcome in d.run("avvisi-2026-11", messages):
        ...             print(outcome.seq, outcome.status.value)
    """

    def __init__(
        self,
        *,
        clients: Sequence[PecMassivaClient | LegallyMailClient],
        journal: str | Path | Journal = "jobs.sqlite",
        chunk_sizes: Mapping[str, int] | None = None,
        queue_size: int = 64,
        on_progress: Callable[[Progress], None] | None = None,
        reconcile_skew: float = 120.0,
        max_rate_limit_retries: int = 1000,
        max_connect_retries: int = 10,
        hook: Hook | None = None,
    ) -> None:
        sizes = dict(chunk_sizes or {})
        self._adapters: dict[str, Adapter] = {}
        for client in clients:
            adapter: Adapter
            if isinstance(client, PecMassivaClient):
                adapter = PecMassivaAdapter(client, sizes.get("pecmassiva"))
            elif isinstance(client, LegallyMailClient):
                adapter = LegallyMailAdapter(client, sizes.get("legallymail"))
            else:
                raise TypeError(f"no bulk support for {type(client).__name__}")
            if adapter.name in self._adapters:
                raise ValueError(f"two clients for {adapter.name}: give one per provider")
            self._adapters[adapter.name] = adapter
        self._owns_journal = not hasattr(journal, "mark_in_flight")
        self.journal: Any = SQLiteJournal(journal) if isinstance(journal, str | Path) else journal
        self.queue_size = queue_size
        self.on_progress = on_progress
        self.reconcile_skew = reconcile_skew
        self.max_rate_limit_retries = max_rate_limit_retries
        self.max_connect_retries = max_connect_retries
        self._hook = hook or (lambda _point, _seq: None)
        self.progress: Progress | None = None

    async def __aenter__(self) -> BulkDispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the journal if the dispatcher opened it (clients are yours to close)."""
        if self._owns_journal:
            await self.journal.aclose()

    # -- planning -----------------------------------------------------------------------

    def _fingerprint(self) -> str:
        return digest(sorted((n, a.max_chunk()) for n, a in self._adapters.items()))

    def estimate(self, messages: Iterable[OutgoingMessage]) -> Estimate:
        """How many chunks per provider and how long at the caps (reads ``messages`` once).

        Example:
            >>> # 100,000 LegallyMail recipients, 10 per send, one send per 6.3 s:
            >>> # Estimate(recipients=100000, chunks={'legallymail': 10000}, hours=17.5)
        """
        chunks: Counter[str] = Counter()
        count = recipients = 0
        for m in messages:
            count += 1
            recipients += len(m.recipients)
            adapter = self._adapters.get(m.provider)
            if adapter is not None:
                chunks[m.provider] += -(-len(m.recipients) // adapter.max_chunk())
        seconds = max((n * self._adapters[p].interval for p, n in chunks.items()), default=0.0)
        return Estimate(messages=count, recipients=recipients, chunks=dict(chunks), seconds=seconds)

    # -- running ------------------------------------------------------------------------

    def run(
        self,
        job_id: str,
        messages: Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage],
        *,
        retry_unknown: bool = False,
        estimate: Estimate | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> AsyncIterator[ChunkOutcome]:
        """Send ``messages`` as job ``job_id``; yields one :class:`ChunkOutcome` per chunk.

        Running an existing job id resumes it: chunks already final come back as SKIPPED,
        in-flight and unknown ones are reconciled first, the rest is sent. ``estimate``
        (from :meth:`estimate`) gives progress its totals and ETA.
        """
        return self._stream(job_id, messages, retry_unknown, estimate, meta)

    def resume(
        self,
        job_id: str,
        messages: Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage] | None = None,
        *,
        retry_unknown: bool = False,
        estimate: Estimate | None = None,
    ) -> AsyncIterator[ChunkOutcome]:
        """Resume a job after a crash. Without ``messages``: only reconcile what was in flight."""
        if messages is None:
            return self._reconcile_only(job_id)
        return self._stream(job_id, messages, retry_unknown, estimate, None)

    async def _stream(
        self,
        job_id: str,
        messages: Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage],
        retry_unknown: bool,
        estimate: Estimate | None,
        meta: Mapping[str, str] | None,
    ) -> AsyncIterator[ChunkOutcome]:
        send, receive = anyio.create_memory_object_stream[ChunkOutcome](self.queue_size)
        worker = asyncio.ensure_future(
            self._work(job_id, messages, send, retry_unknown, estimate, meta)
        )
        try:
            async with receive:
                async for outcome in receive:
                    yield outcome
            await worker  # re-raises the worker's error (e.g. JobMismatchError)
        finally:
            if not worker.done():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

    async def _work(
        self,
        job_id: str,
        messages: Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage],
        out: MemoryObjectSendStream[ChunkOutcome],
        retry_unknown: bool,
        estimate: Estimate | None,
        meta: Mapping[str, str] | None,
    ) -> None:
        async with out:
            tracker = _Tracker(self, estimate)
            fingerprint = self._fingerprint()
            existed = await self.journal.open_job(
                job_id, fingerprint, {"providers": ",".join(sorted(self._adapters)), **(meta or {})}
            )
            chunks = self._chunks(job_id, messages)
            held: list[Chunk] = []
            if existed:
                held = await self._verify_and_reconcile(job_id, chunks, out, tracker, retry_unknown)
            await self._fan_out(job_id, held, chunks, out, tracker)

    async def _verify_and_reconcile(
        self,
        job_id: str,
        chunks: AsyncIterator[Chunk | ChunkOutcome],
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
        retry_unknown: bool,
    ) -> list[Chunk]:
        """Re-read the journaled prefix of the input; no request until it all matches."""
        frontier = await self.journal.max_seq(job_id)
        held: list[Chunk] = []
        uncertain: list[tuple[ChunkRecord, Chunk]] = []
        replays: list[ChunkOutcome] = []
        window: dict[int, ChunkRecord] = {}
        window_end = -1
        seen = -1
        while seen < frontier:
            try:
                item = await chunks.__anext__()
            except StopAsyncIteration:
                raise JobMismatchError(
                    f"job {job_id!r} journals {frontier + 1} chunks but the input has only "
                    f"{seen + 1}: this is not the same input",
                    seq=seen + 1,
                ) from None
            seq = item.seq
            seen = seq
            if seq > window_end:
                window_end = seq + _VERIFY_WINDOW
                window = await self.journal.digests(job_id, seq, window_end)
            record = window.get(seq)
            item_digest = item.digest if isinstance(item, Chunk) else None
            if record is not None and item_digest is not None and record.digest != item_digest:
                raise JobMismatchError(
                    f"job {job_id!r}: chunk {seq} differs from the journal; "
                    "use a new job id for new content",
                    seq=seq,
                )
            if isinstance(item, ChunkOutcome):  # invalid recipients: final without a request
                replays.append(_skipped(record) if record else item)
            elif record is None or record.status is ChunkStatus.PENDING:
                held.append(item)
            elif record.status in (ChunkStatus.IN_FLIGHT, ChunkStatus.UNKNOWN):
                uncertain.append((record, item))
            else:
                replays.append(_skipped(record))
        for outcome in replays:
            await tracker.emit(out, outcome)
        for record, chunk in uncertain:
            found = await self._reconcile(job_id, record, chunk)
            if found is not None:
                await tracker.emit(out, found)
            elif retry_unknown:
                held.append(chunk)
            else:
                reason = (
                    record.error or "in flight when the last run stopped; not found at the provider"
                )
                await self.journal.mark_done(
                    record, ChunkStatus.UNKNOWN, provider_ids=record.provider_ids, error=reason
                )
                await tracker.emit(out, _outcome(record, ChunkStatus.UNKNOWN, error=reason))
        held.sort(key=lambda c: c.seq)
        return held

    async def _reconcile(
        self, job_id: str, record: ChunkRecord, chunk: Chunk | None
    ) -> ChunkOutcome | None:
        adapter = self._adapters.get(record.provider)
        if adapter is None:
            return None
        claimed = await self.journal.claimed_ids(job_id, record.provider)
        claimed -= set(record.provider_ids)
        report = await adapter.reconcile(record, chunk, claimed, self.reconcile_skew)
        if report is None:
            return None
        await self.journal.mark_done(
            record,
            report.status,
            provider_ids=report.provider_ids,
            error=report.error,
            failed_recipients=report.failed_recipients,
        )
        return _outcome(
            record,
            report.status,
            provider_ids=report.provider_ids,
            error=report.error or "found at the provider after an interruption",
            failed=report.failed_recipients,
        )

    async def _reconcile_only(self, job_id: str) -> AsyncIterator[ChunkOutcome]:
        """Reconcile in-flight and unknown chunks without re-reading the input."""
        for record in await self.journal.records(
            job_id, [ChunkStatus.IN_FLIGHT, ChunkStatus.UNKNOWN]
        ):
            found = await self._reconcile(job_id, record, None)
            if found is not None:
                yield found
                continue
            reason = (
                record.error or "in flight when the last run stopped; not found at the provider"
            )
            await self.journal.mark_done(
                record, ChunkStatus.UNKNOWN, provider_ids=record.provider_ids, error=reason
            )
            yield _outcome(record, ChunkStatus.UNKNOWN, error=reason)

    async def _fan_out(
        self,
        job_id: str,
        held: list[Chunk],
        chunks: AsyncIterator[Chunk | ChunkOutcome],
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
    ) -> None:
        lanes: dict[str, MemoryObjectSendStream[Chunk]] = {}
        async with anyio.create_task_group() as tg:
            for name, adapter in self._adapters.items():
                send, receive = anyio.create_memory_object_stream[Chunk](self.queue_size)
                lanes[name] = send
                tg.start_soon(self._lane, job_id, adapter, receive, out.clone(), tracker)
            try:
                pending: list[ChunkRecord] = []
                for chunk in held:
                    await lanes[chunk.provider].send(chunk)
                async for item in chunks:
                    if isinstance(item, ChunkOutcome):
                        await tracker.emit(out, item)
                        continue
                    pending.append(item.record(job_id))
                    if len(pending) >= 200:
                        await self.journal.add_pending(pending)
                        pending = []
                    await lanes[item.provider].send(item)
                await self.journal.add_pending(pending)
            finally:
                for stream in lanes.values():
                    await stream.aclose()

    async def _lane(
        self,
        job_id: str,
        adapter: Adapter,
        queue: MemoryObjectReceiveStream[Chunk],
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
    ) -> None:
        async with queue, out:
            async for chunk in queue:
                outcome = await self._send_chunk(job_id, adapter, chunk)
                await tracker.emit(out, outcome)

    async def _send_chunk(self, job_id: str, adapter: Adapter, chunk: Chunk) -> ChunkOutcome:
        record = chunk.record(job_id)

        async def before_send() -> None:
            # Runs after the pacing slot is granted, right before the request is written:
            # a crash while waiting for the slot leaves the chunk pending, surely unsent.
            self._hook("before_in_flight", chunk.seq)
            await self.journal.mark_in_flight(record)
            self._hook("after_in_flight", chunk.seq)

        report = await self._attempt(adapter, chunk, before_send)
        self._hook("after_response", chunk.seq)
        await self.journal.mark_done(
            record,
            report.status,
            provider_ids=report.provider_ids,
            error=report.error,
            failed_recipients=report.failed_recipients,
        )
        self._hook("after_done", chunk.seq)
        return _outcome(
            record,
            report.status,
            provider_ids=report.provider_ids,
            error=report.error,
            failed=report.failed_recipients,
        )

    async def _attempt(self, adapter: Adapter, chunk: Chunk, before_send: BeforeSend) -> SendReport:
        """Send one chunk; retry only what provably did not happen (429, no connection)."""
        rate_limited = connect_failures = 0
        while True:
            try:
                return await adapter.send(chunk, before_send)
            except RateLimitError as error:
                # Not processed; the scope is paused. Same chunk again: order is kept.
                rate_limited += 1
                if rate_limited > self.max_rate_limit_retries:
                    return SendReport(status=ChunkStatus.FAILED, error=f"rate limited: {error}")
            except ConnectError as error:
                connect_failures += 1
                if connect_failures > self.max_connect_retries:
                    return SendReport(status=ChunkStatus.FAILED, error=f"not sent: {error}")
                await anyio.sleep(min(60.0, 0.5 * 2**connect_failures))
            except DeliveryUnknownError as error:
                ids = (error.reference,) if error.reference else ()
                return SendReport(status=ChunkStatus.UNKNOWN, provider_ids=ids, error=str(error))
            except ValidationError as error:
                return SendReport(status=ChunkStatus.FAILED, error=str(error))
            except APIError as error:
                # 4xx (and a decode error on a success status would be unknown, see below)
                if error.status is not None and 400 <= error.status < 500:
                    return SendReport(status=ChunkStatus.FAILED, error=str(error))
                return SendReport(status=ChunkStatus.UNKNOWN, error=str(error))
            except CertmailError as error:
                return SendReport(status=ChunkStatus.UNKNOWN, error=str(error))

    async def _chunks(
        self,
        job_id: str,
        messages: Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage],
    ) -> AsyncIterator[Chunk | ChunkOutcome]:
        """Validate and split messages into chunks with seqs, lazily, in input order."""
        seq = 0
        async for message in _aiter(messages):
            adapter = self._adapters.get(message.provider)
            problem = _message_problem(message, adapter)
            valid: list[str] = []
            bad: dict[str, str] = {}
            if problem is None:
                seen: set[str] = set()
                for address in message.recipients:
                    try:
                        normal = check_email(address, field="recipient")
                    except ValidationError as error:
                        bad[str(address)] = error.message
                        continue
                    if normal.lower() in seen:
                        bad[normal] = "duplicate recipient in the same message"
                        continue
                    seen.add(normal.lower())
                    valid.append(normal)
            else:
                bad = {str(a): problem for a in message.recipients} or {"": problem}
            if bad:
                yield await self._final_failure(job_id, seq, message, bad)
                seq += 1
            if valid and adapter is not None:
                size = adapter.max_chunk()
                for start in range(0, len(valid), size):
                    part = tuple(valid[start : start + size])
                    yield Chunk(
                        seq=seq,
                        provider=message.provider,
                        recipients=part,
                        message=message,
                        digest=content_digest(message.provider, part, message),
                        subject_digest=subject_digest(message.subject),
                    )
                    seq += 1

    async def _final_failure(
        self, job_id: str, seq: int, message: OutgoingMessage, bad: Mapping[str, str]
    ) -> ChunkOutcome:
        recipients = tuple(bad)
        record = ChunkRecord(
            job_id=job_id,
            seq=seq,
            provider=message.provider,
            recipients=recipients,
            digest=content_digest(message.provider, recipients, message),
            subject_digest=subject_digest(message.subject),
            status=ChunkStatus.FAILED,
            key=message.key,
            error="invalid input; not sent",
            failed_recipients=dict(bad),
        )
        if await self.journal.get(job_id, seq) is None:
            await self.journal.add_final(record)
        return _outcome(record, ChunkStatus.FAILED, error=record.error, failed=bad)

    # -- reporting ------------------------------------------------------------------------

    async def status(self, job_id: str) -> JobStatus:
        """Counts per state and the chunks that need a decision."""
        meta = await self.journal.job_meta(job_id)
        if meta is None:
            raise KeyError(f"no job {job_id!r} in the journal")
        chunks, recipients = await self.journal.counts(job_id)
        unknown = await self.journal.records(job_id, [ChunkStatus.UNKNOWN])
        flying = await self.journal.records(job_id, [ChunkStatus.IN_FLIGHT])
        created = meta.pop("created_at", None)
        return JobStatus(
            job_id=job_id,
            chunks=chunks,
            recipients=recipients,
            unknown=tuple(_outcome(r, r.status, error=r.error) for r in unknown),
            in_flight=tuple(_outcome(r, r.status) for r in flying),
            created_at=datetime.fromisoformat(created) if created else None,
            meta=meta,
        )

    async def export(self, job_id: str) -> AsyncIterator[RecipientRecord]:
        """Every recipient of the job with its provider ids and state (for audits)."""
        for record in await self.journal.records(job_id):
            # LegallyMail ids are (parent, one per recipient in order): give each its own.
            per_recipient = len(record.provider_ids) == len(record.recipients) + 1
            for i, recipient in enumerate(record.recipients):
                failed = record.failed_recipients.get(recipient)
                sent = record.status is ChunkStatus.SENT
                status = ChunkStatus.FAILED if failed and sent else record.status
                ids = (
                    (record.provider_ids[0], record.provider_ids[i + 1])
                    if per_recipient
                    else record.provider_ids
                )
                yield RecipientRecord(
                    job_id=job_id,
                    seq=record.seq,
                    provider=record.provider,
                    recipient=recipient,
                    status=status,
                    provider_ids=ids,
                    error=failed or record.error,
                    key=record.key,
                    updated_at=record.updated_at,
                )


def _message_problem(message: OutgoingMessage, adapter: Adapter | None) -> str | None:
    if adapter is None:
        return f"no client for provider {message.provider!r}"
    if not message.subject.strip():
        return "empty subject"
    if not message.body.strip():
        return "empty body"
    return None


def _outcome(
    record: ChunkRecord,
    status: ChunkStatus,
    *,
    provider_ids: Sequence[str] | None = None,
    error: str | None = None,
    failed: Mapping[str, str] | None = None,
) -> ChunkOutcome:
    return ChunkOutcome(
        seq=record.seq,
        provider=record.provider,
        recipients=record.recipients,
        status=status,
        provider_ids=tuple(provider_ids if provider_ids is not None else record.provider_ids),
        error=error,
        key=record.key,
        failed_recipients=dict(failed if failed is not None else record.failed_recipients),
    )


def _skipped(record: ChunkRecord) -> ChunkOutcome:
    outcome = _outcome(record, ChunkStatus.SKIPPED, error=record.error)
    return attrs.evolve(outcome, previous=record.status)


async def _aiter(
    messages: Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage],
) -> AsyncIterator[OutgoingMessage]:
    if isinstance(messages, AsyncIterable):
        async for m in messages:
            yield m
    else:
        for i, m in enumerate(messages):
            yield m
            if i % 256 == 255:
                # A long synchronous input must not starve the lanes.
                await anyio.lowlevel.checkpoint()


class _Tracker:
    """Counts outcomes, computes progress (ETA from the caps) and calls the callback."""

    def __init__(self, dispatcher: BulkDispatcher, estimate: Estimate | None) -> None:
        self.dispatcher = dispatcher
        self.estimate = estimate
        self.started = time.perf_counter()
        self.counts: Counter[str] = Counter()
        self.chunks_done: Counter[str] = Counter()
        self.recipients_done = 0

    async def emit(self, out: MemoryObjectSendStream[ChunkOutcome], outcome: ChunkOutcome) -> None:
        self.counts[outcome.status.value] += 1
        self.chunks_done[outcome.provider] += 1
        self.recipients_done += len(outcome.recipients)
        self.dispatcher.progress = progress = self.snapshot()
        if self.dispatcher.on_progress is not None:
            self.dispatcher.on_progress(progress)
        await out.send(outcome)

    def snapshot(self) -> Progress:
        elapsed = time.perf_counter() - self.started
        est = self.estimate
        eta = None
        if est is not None:
            eta = max(
                (
                    max(n - self.chunks_done[p], 0) * self.dispatcher._adapters[p].interval
                    for p, n in est.chunks.items()
                    if p in self.dispatcher._adapters
                ),
                default=0.0,
            )
        return Progress(
            done_chunks=sum(self.chunks_done.values()),
            done_recipients=self.recipients_done,
            total_chunks=sum(est.chunks.values()) if est else None,
            total_recipients=est.recipients if est else None,
            counts=dict(self.counts),
            elapsed=elapsed,
            rate=self.recipients_done / elapsed if elapsed > 0 else 0.0,
            eta=eta,
        )
