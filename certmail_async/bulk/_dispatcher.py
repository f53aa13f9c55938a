# The bulk dispatcher: chunked, paced, ordered fan-out with a write-ahead journal
# --------------------------------------------------------------------------------
#
# Input: any iterable or async iterable of OutgoingMessage, read lazily. Each item is
# checked as it is read: a bad item (not an OutgoingMessage, a bad field) or a bad address
# becomes a FAILED outcome naming the field, journaled, and the job goes on. Valid
# recipients are split into chunks of at most the provider's per-send limit (LegallyMail 10
# by default; PEC Massiva configurable). Every chunk gets a seq in input order.
#
# Ownership: run() and resume() take the job's lease (a fencing token in the journal)
# before ANY request, reconciliation reads included. A live owner means JobLockedError (or,
# with wait=True, a bounded wait). A heartbeat renews the lease every ttl/3; every journal
# transition checks the token, so an owner whose lease was taken over cannot commit and,
# since a chunk is committed in_flight right before its request leaves, cannot send. On
# losing the lease every lane stops at once and the run raises JobLockedError.
#
# Fan-out: one lane per provider client (= one pacing scope). A lane is a single task that
# sends its chunks one after the other, in seq order, through the client, whose gate keeps
# the documented cap. Order per provider comes from the lane, not from the limiter.
#
# Back-pressure: the reader feeds bounded per-lane queues and outcomes leave through a
# bounded stream; a slow lane or a slow consumer slows the reader, so memory stays flat.
#
# Safety: per chunk, the journal commits ``in_flight`` once the pacing gate granted the
# slot, right before the request is written (the send's explicit ``before_send`` hook),
# and the outcome right after. Nothing that may have been sent is sent again without
# reconciliation. A send that ends UNKNOWN (5xx, timeout, reset) is reconciled IN ITS LANE,
# before the lane's next send, while the provider still lists it (LegallyMail shows only
# its latest 25 e-mails; PEC Massiva receipts take a moment, so a few tries with a short
# backoff). If it cannot be settled, the lane stops with DeliveryUnknownError and its
# remaining chunks stay pending for a later run, rather than pushing the evidence out of
# view. Settling needs unique evidence (see _resume.py).
#
# Failure scopes: only the chunk's own content fails a chunk (an invalid recipient, a 400,
# a ValidationError). Account causes (401, 402, 403 / no credit) stop the lane with that
# error; its chunks stay PENDING and a later run sends them. A ConnectError (nothing left
# the process) pauses the lane and retries, backing off, until ``outage_budget`` runs out;
# then the lane stops, chunks pending. Progress says so ("provider unreachable, retry in
# 20 s"). FAILED chunks are final unless a run asks for ``retry_failed=True``.
"""BulkDispatcher: send many messages at the providers' caps, at most once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    CertmailError,
    ConnectError,
    DeliveryUnknownError,
    JobLockedError,
    JournalError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from .._retry import Failure, OpKind, RetryPolicy, decide
from .._validation import check_email
from ..legallymail import LegallyMailClient
from ..pecmassiva import PecMassivaClient
from ._adapters import Adapter, LegallyMailAdapter, PecMassivaAdapter
from ._journal import Journal
from ._journal_sqlite import SQLiteJournal
from ._models import (
    Chunk,
    ChunkOutcome,
    ChunkRecord,
    ChunkStatus,
    Estimate,
    JobStatus,
    Lease,
    OutgoingMessage,
    Progress,
    RecipientRecord,
    SendReport,
    check_outgoing_message,
    content_digest,
    digest,
    subject_digest,
)
from ._report import export_records, job_status
from ._resume import Invalid, Reconciler, outcome_of, verify

__all__ = ["BulkDispatcher"]

log = logging.getLogger("certmail_async.bulk")

Hook = Callable[[str, int], None]
Messages = Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage]
_PROVIDERS = ("pecmassiva", "legallymail")
_ACCOUNT_ERRORS = (AuthenticationError, PaymentRequiredError, PermissionDeniedError)
_PENDING_BATCH = 200


class _InputError(Exception):
    """The caller's own input iterator raised: carried out of the machinery, then re-raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _LaneStop(Exception):
    """A lane cannot go on (account error, outage budget spent, an unsettled send)."""

    def __init__(self, error: CertmailError) -> None:
        super().__init__(str(error))
        self.error = error


def _check_positive(value: object, field: str, *, integer: bool = False) -> None:
    ok_type = type(value) is int if integer else type(value) in (int, float)
    if not ok_type or not math.isfinite(value) or value <= 0:  # type: ignore[arg-type,operator]
        kind = "a positive integer" if integer else "a positive number"
        raise ValidationError(f"must be {kind}, got {value!r}", field=field)


def open_journal(journal: str | Path | Journal) -> tuple[Journal, bool]:
    """The journal a spec names, and whether the dispatcher owns (and closes) it.

    A ``str`` or ``Path`` is a SQLite file; ``"postgresql://..."`` selects the PostgreSQL
    journal (when installed). Anything else must implement :class:`Journal`.
    """
    if isinstance(journal, str) and journal.startswith(("postgresql://", "postgres://")):
        raise ValidationError(
            "the PostgreSQL journal is not available in this version", field="journal"
        )
    if isinstance(journal, str | Path):
        if isinstance(journal, str) and not journal:
            raise ValidationError("must name a journal file", field="journal")
        return SQLiteJournal(journal), True
    return journal, False


@attrs.define
class _Run:
    """The state of one run: its lease, its lanes, and why it stopped."""

    job_id: str
    lease: Lease
    lanes: dict[str, str] = attrs.field(factory=dict)
    stopped: dict[str, CertmailError] = attrs.field(factory=dict)
    lost: JobLockedError | None = None
    stopping: bool = False  # the input failed: no new send

    def all_stopped(self) -> bool:
        return bool(self.lanes) and len(self.stopped) == len(self.lanes)


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

    ``lease_ttl``: seconds a run's lease on its job lasts unless renewed (renewed every
    third of it). ``max_wait``: how long ``wait=True`` waits for another owner.
    ``reconcile_skew``: the clock allowance of reconciliation (seconds). ``reconcile_tries``
    and ``reconcile_backoff``: how often and how patiently a lane looks for a send whose
    answer was lost before it stops. ``outage_budget``: seconds a lane keeps retrying an
    unreachable provider. ``correlation_tag=True`` appends `` [cm:<job>-<seq>]`` to every
    subject, which makes reconciliation certain (recipients see it; it changes the subject
    and so the job's digests: choose it when the job starts).
    """

    def __init__(
        self,
        *,
        clients: Sequence[PecMassivaClient | LegallyMailClient],
        journal: str | Path | Journal = "jobs.sqlite",
        chunk_sizes: Mapping[str, int] | None = None,
        queue_size: int = 64,
        on_progress: Callable[[Progress], None] | None = None,
        reconcile_skew: float = 2.0,
        reconcile_tries: int = 3,
        reconcile_backoff: float = 2.0,
        max_rate_limit_retries: int = 1000,
        outage_budget: float = 600.0,
        outage_backoff: RetryPolicy = RetryPolicy(base=1.0, cap=30.0),
        lease_ttl: float = 30.0,
        max_wait: float = 3600.0,
        correlation_tag: bool = False,
        hook: Hook | None = None,
    ) -> None:
        given: object = clients
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise ValidationError("must be a list of provider clients", field="clients")
        sizes: dict[str, int] = {}
        if chunk_sizes is not None:
            if not isinstance(chunk_sizes, Mapping):
                raise ValidationError("must map provider names to sizes", field="chunk_sizes")
            for name, size in chunk_sizes.items():
                if name not in _PROVIDERS:
                    raise ValidationError(
                        f"unknown provider {name!r}", field=f"chunk_sizes[{name!r}]"
                    )
                _check_positive(size, f"chunk_sizes[{name!r}]", integer=True)
                sizes[name] = size
        _check_positive(queue_size, "queue_size", integer=True)
        _check_positive(lease_ttl, "lease_ttl")
        _check_positive(max_wait, "max_wait")
        _check_positive(outage_budget, "outage_budget")
        _check_positive(reconcile_tries, "reconcile_tries", integer=True)
        if type(reconcile_skew) not in (int, float) or not 0 <= reconcile_skew < math.inf:
            raise ValidationError("must be a number of seconds >= 0", field="reconcile_skew")
        self._adapters: dict[str, Adapter] = {}
        for client in clients:
            adapter: Adapter
            if isinstance(client, PecMassivaClient):
                adapter = PecMassivaAdapter(client, sizes.get("pecmassiva"))
            elif isinstance(client, LegallyMailClient):
                adapter = LegallyMailAdapter(client, sizes.get("legallymail"))
            else:
                raise ValidationError(
                    f"no bulk support for {type(client).__name__}", field="clients"
                )
            if adapter.name in self._adapters:
                raise ValidationError(
                    f"two clients for {adapter.name}: give one per provider", field="clients"
                )
            self._adapters[adapter.name] = adapter
        self.journal: Journal
        self.journal, self._owns_journal = open_journal(journal)
        self.queue_size = queue_size
        self.on_progress = on_progress
        self.reconcile_skew = float(reconcile_skew)
        self.reconcile_tries = reconcile_tries
        self.reconcile_backoff = reconcile_backoff
        self.max_rate_limit_retries = max_rate_limit_retries
        self.outage_budget = outage_budget
        self.outage_backoff = outage_backoff
        self.lease_ttl = lease_ttl
        self.max_wait = max_wait
        self.correlation_tag = correlation_tag
        self._hook = hook or (lambda _point, _seq: None)
        self._reconciler = Reconciler(self.journal, self._adapters, skew=self.reconcile_skew)
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
        sizes = sorted((n, a.max_chunk()) for n, a in self._adapters.items())
        return digest(sizes, "tag") if self.correlation_tag else digest(sizes)

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
            item: object = m
            if not isinstance(item, OutgoingMessage) or not isinstance(item.recipients, tuple):
                continue
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
        messages: Messages,
        *,
        retry_unknown: bool = False,
        retry_failed: bool = False,
        wait: bool = False,
        estimate: Estimate | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> AsyncIterator[ChunkOutcome]:
        """Send ``messages`` as job ``job_id``; yields one :class:`ChunkOutcome` per chunk.

        Running an existing job id resumes it: chunks already final come back as SKIPPED,
        in-flight and unknown ones are reconciled first, the rest is sent.
        ``retry_unknown`` resends unknown chunks still not found at the provider (never an
        ambiguous one); ``retry_failed`` resends FAILED chunks. ``wait`` waits (up to
        ``max_wait``) for another live owner of the job instead of raising JobLockedError.
        A lane stopped by an account error, an outage or an unsettled send leaves its chunks
        pending and, once the other lanes are done, the run raises that error.
        ``estimate`` (from :meth:`estimate`) gives progress its totals and ETA.

        Example:
            >>> # async for outcome in dispatcher.run("job-1", messages, retry_failed=True):
            >>> #     print(outcome.seq, outcome.status.value, outcome.error)
        """
        _check_job_id(job_id)
        _check_messages(messages)
        return self._stream(job_id, messages, retry_unknown, retry_failed, wait, estimate, meta)

    def resume(
        self,
        job_id: str,
        messages: Messages | None = None,
        *,
        retry_unknown: bool = False,
        retry_failed: bool = False,
        wait: bool = False,
        estimate: Estimate | None = None,
    ) -> AsyncIterator[ChunkOutcome]:
        """Resume a job after a crash. Without ``messages``: only reconcile what was in flight.

        Example:
            >>> # [o async for o in dispatcher.resume("job-1")]  # reconcile only
        """
        _check_job_id(job_id)
        if messages is None:
            return self._stream(job_id, None, False, False, wait, None, None)
        _check_messages(messages)
        return self._stream(job_id, messages, retry_unknown, retry_failed, wait, estimate, None)

    async def _stream(
        self,
        job_id: str,
        messages: Messages | None,
        retry_unknown: bool,
        retry_failed: bool,
        wait: bool,
        estimate: Estimate | None,
        meta: Mapping[str, str] | None,
    ) -> AsyncIterator[ChunkOutcome]:
        send, receive = anyio.create_memory_object_stream[ChunkOutcome](self.queue_size)
        worker = asyncio.ensure_future(
            self._work(job_id, messages, send, retry_unknown, retry_failed, wait, estimate, meta)
        )
        try:
            async with receive:
                async for outcome in receive:
                    yield outcome
            await worker  # re-raises the worker's error (JobMismatchError, JobLockedError...)
        finally:
            try:
                if not worker.done():
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
            finally:
                send.close()  # the worker closes it, unless cancelled before it started

    async def _acquire(self, job_id: str, wait: bool) -> Lease:
        owner = uuid.uuid4().hex[:12]
        deadline = time.monotonic() + self.max_wait
        delay = min(0.05, self.lease_ttl / 10)
        while True:
            try:
                return await self.journal.acquire(job_id, owner_id=owner, ttl=self.lease_ttl)
            except JobLockedError as error:
                left = deadline - time.monotonic()
                if not wait or left <= 0:
                    raise
                log.info(
                    "job %s is locked by %s; waiting", job_id, error.owner,
                    extra={"job_id": job_id},
                )  # fmt: skip
                await anyio.sleep(min(delay, left))
                delay = min(delay * 2, self.lease_ttl / 3, 5.0)

    async def _heartbeat(self, state: _Run, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(self.lease_ttl / 3)
            try:
                state.lease = await self.journal.renew(state.lease, ttl=self.lease_ttl)
            except JobLockedError as error:
                log.warning(
                    "job %s: lease lost (%s); stopping every lane", state.job_id, error,
                    extra={"job_id": state.job_id},
                )  # fmt: skip
                state.lost = error
                scope.cancel()
                return

    async def _work(
        self,
        job_id: str,
        messages: Messages | None,
        out: MemoryObjectSendStream[ChunkOutcome],
        retry_unknown: bool,
        retry_failed: bool,
        wait: bool,
        estimate: Estimate | None,
        meta: Mapping[str, str] | None,
    ) -> None:
        async with out:
            lease = await self._acquire(job_id, wait)
            state = _Run(job_id=job_id, lease=lease)
            tracker = _Tracker(self, estimate, state)
            log.info(
                "job %s started (%s)", job_id, ", ".join(sorted(self._adapters)) or "no lanes",
                extra={"job_id": job_id},
            )  # fmt: skip
            try:
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._heartbeat, state, tg.cancel_scope)
                        if messages is None:
                            await self._reconcile_only(state, out, tracker)
                        else:
                            await self._job(
                                state, messages, out, tracker, retry_unknown, retry_failed, meta
                            )
                        tg.cancel_scope.cancel()
                except BaseExceptionGroup as group:
                    raise _unwrap(group) from None
                except _InputError as failed:  # the input broke while verifying a re-run
                    raise failed.error from None
                if state.lost is not None:
                    raise state.lost
                if state.stopped:
                    raise next(iter(state.stopped.values()))
            except JobLockedError as error:
                if state.lost is None:
                    state.lost = error
                raise
            finally:
                log.info(
                    "job %s ended: %s%s", job_id,
                    " ".join(f"{k}={v}" for k, v in sorted(tracker.counts.items())) or "nothing",
                    f"; stopped lanes: {', '.join(sorted(state.stopped))}" if state.stopped
                    else "",
                    extra={"job_id": job_id, "counts": dict(tracker.counts)},
                )  # fmt: skip
                with anyio.CancelScope(shield=True):
                    if state.lost is None:
                        try:
                            await self.journal.release(state.lease)
                        except CertmailError as error:  # never mask the run's own outcome
                            log.warning(
                                "job %s: could not release its lease (%s); it lapses in %s s",
                                job_id, error, self.lease_ttl, extra={"job_id": job_id},
                            )  # fmt: skip

    async def _job(
        self,
        state: _Run,
        messages: Messages,
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
        retry_unknown: bool,
        retry_failed: bool,
        meta: Mapping[str, str] | None,
    ) -> None:
        job_id = state.job_id
        existed = await self.journal.open_job(
            state.lease,
            self._fingerprint(),
            {"providers": ",".join(sorted(self._adapters)), **(meta or {})},
        )
        items = self._items(job_id, messages)
        held: list[Chunk] = []
        if existed:
            found = await verify(self.journal, job_id, items, retry_failed=retry_failed)
            held = found.held
            for outcome in found.replays:
                await tracker.emit(out, outcome)
            for record, chunk in found.uncertain:
                settled = await self._reconciler.settle(state.lease, record, chunk)
                if settled.outcome is not None:
                    await tracker.emit(out, settled.outcome)
                elif retry_unknown and not settled.ambiguous:
                    held.append(chunk)
                else:
                    given_up = await self._reconciler.give_up(state.lease, record, settled.reason)
                    await tracker.emit(out, given_up)
            held.sort(key=lambda c: c.seq)
        await self._fan_out(state, held, items, out, tracker)

    async def _reconcile_only(
        self, state: _Run, out: MemoryObjectSendStream[ChunkOutcome], tracker: _Tracker
    ) -> None:
        """Reconcile in-flight and unknown chunks without re-reading the input."""
        async for outcome in self._reconciler.reconcile_job(lambda: state.lease, state.job_id):
            await tracker.emit(out, outcome)

    async def _fan_out(
        self,
        state: _Run,
        held: list[Chunk],
        items: AsyncIterator[Chunk | Invalid],
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
    ) -> None:
        lanes: dict[str, MemoryObjectSendStream[Chunk]] = {}
        queues: list[MemoryObjectReceiveStream[Chunk]] = []
        input_error: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                for name, adapter in self._adapters.items():
                    send, receive = anyio.create_memory_object_stream[Chunk](self.queue_size)
                    lanes[name] = send
                    queues.append(receive)
                    state.lanes[name] = "sending"
                    tg.start_soon(self._lane, state, adapter, receive, out, tracker)
                pending: list[ChunkRecord] = []
                try:
                    for chunk in held:
                        await lanes[chunk.provider].send(chunk)
                    async for item in items:
                        if isinstance(item, Invalid):
                            if await self.journal.get(state.job_id, item.record.seq) is None:
                                await self.journal.add_final(state.lease, item.record)
                            await tracker.emit(
                                out,
                                outcome_of(
                                    item.record, ChunkStatus.FAILED, error=item.record.error
                                ),
                            )
                            continue
                        pending.append(item.record(state.job_id))
                        if len(pending) >= _PENDING_BATCH:
                            await self.journal.add_pending(state.lease, pending)
                            pending = []
                        if item.provider not in state.stopped:
                            await lanes[item.provider].send(item)
                        elif state.all_stopped():
                            break  # every lane stopped: the rest stays for a later run
                except _InputError as failed:
                    # The caller's input broke: no new send, but the lanes finish the chunk
                    # they are sending (cut short, it would be left in doubt).
                    state.stopping = True
                    input_error = failed.error
                except BaseException:
                    state.stopping = True  # cancelled or the journal failed: stop now
                    raise
                finally:
                    with anyio.CancelScope(shield=True):
                        if pending and state.lost is None:
                            await self.journal.add_pending(state.lease, pending)
                        for stream in lanes.values():
                            await stream.aclose()
        finally:
            for queue in queues:  # a lane cancelled before it started never closed it
                queue.close()
        if input_error is not None:
            raise input_error

    async def _lane(
        self,
        state: _Run,
        adapter: Adapter,
        queue: MemoryObjectReceiveStream[Chunk],
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
    ) -> None:
        async with queue:
            async for chunk in queue:
                if state.stopping or adapter.name in state.stopped:
                    continue  # drained, not sent: pending for a later run
                try:
                    outcome = await self._send_chunk(state, adapter, chunk, out, tracker)
                except _LaneStop as stop:
                    state.stopped[adapter.name] = stop.error
                    tracker.lane(adapter.name, f"stopped: {stop.error}")
                    log.warning(
                        "job %s: %s lane stopped: %s", state.job_id, adapter.name, stop.error,
                        extra={"job_id": state.job_id, "provider": adapter.name,
                               "seq": chunk.seq},
                    )  # fmt: skip
                    continue
                if outcome is not None:
                    await tracker.emit(out, outcome)
            if adapter.name not in state.stopped:
                tracker.lane(adapter.name, "done")

    async def _send_chunk(
        self,
        state: _Run,
        adapter: Adapter,
        chunk: Chunk,
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
    ) -> ChunkOutcome | None:
        """Send one chunk; retry only what provably did not happen (429, no connection)."""
        record = chunk.record(state.job_id)
        rate_limited = outage_tries = 0
        outage_since: float | None = None
        while True:
            marked = False

            async def before_send() -> None:
                # After the pacing slot, right before the request is written: a crash while
                # waiting for the slot leaves the chunk pending, surely unsent. Fenced: an
                # owner whose lease was taken over gets JobLockedError here and sends nothing.
                nonlocal marked
                self._hook("before_in_flight", chunk.seq)
                await self.journal.mark_in_flight(state.lease, record)
                marked = True
                self._hook("after_in_flight", chunk.seq)

            try:
                report = await adapter.send(chunk, before_send)
                break
            except (JobLockedError, JournalError):
                raise  # the journal refused (lease lost, journal broken): never a chunk outcome
            except RateLimitError as error:
                # Refused, not processed; the scope is paused. Same chunk again: order holds.
                if error.status is None:
                    # Refused locally: the scope's pause (capped by the retry policy) is
                    # longer than the call's deadline. Nothing left the process; a lane
                    # waits the pause out instead of spinning through its retries.
                    await self._back_to_pending(state, record, marked, error)
                    tracker.lane(
                        adapter.name,
                        f"paused by the provider's rate limit, retry in "
                        f"{math.ceil(error.retry_after or 0)} s",
                        notice=True,
                    )
                    await anyio.sleep(max(error.retry_after or 0.0, 0.001))
                    tracker.lane(adapter.name, "sending")
                    continue
                rate_limited += 1
                if rate_limited > self.max_rate_limit_retries:
                    await self._back_to_pending(state, record, marked, error)
                    raise _LaneStop(error) from error
            except ConnectError as error:
                # Nothing left the process: the lane pauses and tries again (outage budget).
                await self._back_to_pending(state, record, marked, error)
                now = time.monotonic()
                outage_since = now if outage_since is None else outage_since
                left = self.outage_budget - (now - outage_since)
                if left <= 0:
                    raise _LaneStop(error) from error
                pause = min(self._outage_pause(outage_tries), left)
                outage_tries += 1
                tracker.lane(
                    adapter.name,
                    f"paused: provider unreachable, retry in {math.ceil(pause)} s",
                    notice=True,
                )
                await anyio.sleep(pause)
                tracker.lane(adapter.name, "sending")
            except DeliveryUnknownError as error:
                ids = (error.reference,) if error.reference else ()
                report = SendReport(status=ChunkStatus.UNKNOWN, provider_ids=ids, error=str(error))
                break
            except _ACCOUNT_ERRORS as error:
                # The account, not the chunk: stop the lane, keep the chunk pending.
                await self._back_to_pending(state, record, marked, error)
                raise _LaneStop(error) from error
            except ValidationError as error:
                report = SendReport(status=ChunkStatus.FAILED, error=str(error))
                break
            except APIStatusError as error:
                if error.status is not None and 400 <= error.status < 500:
                    report = SendReport(status=ChunkStatus.FAILED, error=str(error))
                else:
                    report = SendReport(status=ChunkStatus.UNKNOWN, error=str(error))
                break
            except CertmailError as error:
                report = SendReport(status=ChunkStatus.UNKNOWN, error=str(error))
                break
        self._hook("after_response", chunk.seq)
        await self.journal.mark_done(
            state.lease, record, report.status, provider_ids=report.provider_ids,
            error=report.error, failed_recipients=report.failed_recipients,
        )  # fmt: skip
        self._hook("after_done", chunk.seq)
        if report.status is ChunkStatus.UNKNOWN:
            return await self._settle_in_lane(state, adapter, chunk, report, out, tracker)
        return outcome_of(
            record, report.status, provider_ids=report.provider_ids, error=report.error,
            failed=report.failed_recipients,
        )  # fmt: skip

    def _outage_pause(self, tries: int) -> float:
        # The SDK's one retry decision (no second backoff loop here); at least half the
        # base, so a full-jitter zero does not spin against a dead host.
        decision = decide(
            kind=OpKind.SEND, failure=Failure.CONNECT, attempt=tries,
            max_retries=tries + 1, policy=self.outage_backoff,
        )  # fmt: skip
        return max(decision.wait, self.outage_backoff.base / 2)

    async def _back_to_pending(
        self, state: _Run, record: ChunkRecord, marked: bool, error: CertmailError
    ) -> None:
        if marked:  # committed in flight, but provably not sent: pending again
            await self.journal.mark_done(
                state.lease, record, ChunkStatus.PENDING, error=f"not sent: {error}"
            )

    async def _settle_in_lane(
        self,
        state: _Run,
        adapter: Adapter,
        chunk: Chunk,
        report: SendReport,
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: _Tracker,
    ) -> ChunkOutcome | None:
        """Reconcile an unknown send before the lane's next send; stop the lane if we cannot."""
        extra = {"job_id": state.job_id, "provider": adapter.name, "seq": chunk.seq}
        log.warning("chunk %s: send unknown: %s", chunk.seq, report.error, extra=extra)
        settled = await self._reconciler.settle_patiently(
            lambda: state.lease, chunk, state.job_id,
            tries=self.reconcile_tries, backoff=self.reconcile_backoff,
        )  # fmt: skip
        if settled.outcome is not None:
            return settled.outcome
        reason = settled.reason
        error = f"{report.error}; {reason}"
        record = chunk.record(state.job_id)
        await self.journal.mark_done(
            state.lease, record, ChunkStatus.UNKNOWN, provider_ids=report.provider_ids,
            error=error,
        )  # fmt: skip
        await tracker.emit(
            out, outcome_of(record, ChunkStatus.UNKNOWN, provider_ids=report.provider_ids,
                            error=error)
        )  # fmt: skip
        raise _LaneStop(
            DeliveryUnknownError(
                f"chunk {chunk.seq} of job {state.job_id!r} may have been sent and could not "
                f"be settled ({reason}); the {adapter.name} lane stopped so the evidence "
                "stays in view: resume the job later",
                provider=adapter.name,
                operation="bulk.reconcile",
            )
        )

    async def _items(self, job_id: str, messages: Messages) -> AsyncIterator[Chunk | Invalid]:
        """Check and split messages into chunks with seqs, lazily, in input order."""
        seq = 0
        async for index, value in _aiter(messages):
            message, problem = _checked(value, self._adapters)
            if message is None:
                yield Invalid(record=_invalid_record(job_id, seq, index, value, problem))
                seq += 1
                continue
            adapter = self._adapters[message.provider]
            given = digest([str(a) for a in message.recipients])  # every address, as given
            valid: list[str] = []
            bad: dict[str, str] = {}
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
            subject = message.subject
            if bad:
                recipients = tuple(bad)
                yield Invalid(
                    record=ChunkRecord(
                        job_id=job_id, seq=seq, provider=message.provider,
                        recipients=recipients,
                        digest=digest(content_digest(message.provider, recipients, message),
                                      given),
                        subject_digest=subject_digest(subject), status=ChunkStatus.FAILED,
                        key=message.key, error="invalid recipients; not sent",
                        failed_recipients=dict(bad),
                    )
                )  # fmt: skip
                seq += 1
            size = adapter.max_chunk()
            for start in range(0, len(valid), size):
                part = tuple(valid[start : start + size])
                sent_subject = subject + self._tag(job_id, seq) if self.correlation_tag else subject
                yield Chunk(
                    seq=seq,
                    provider=message.provider,
                    recipients=part,
                    message=message,
                    subject=sent_subject,
                    digest=digest(content_digest(message.provider, part, message), given),
                    subject_digest=subject_digest(sent_subject),
                )
                seq += 1

    @staticmethod
    def _tag(job_id: str, seq: int) -> str:
        return f" [cm:{digest(job_id)[:4]}-{seq}]"

    # -- reporting ------------------------------------------------------------------------

    async def status(self, job_id: str) -> JobStatus:
        """Counts per state, the chunks that need a decision, and the evidence used.

        Raises :class:`~certmail_async.JobNotFoundError` for a job the journal does not hold.

        Example:
            >>> # (await dispatcher.status("job-1")).finished
        """
        return await job_status(self.journal, job_id)

    def export(self, job_id: str) -> AsyncIterator[RecipientRecord]:
        """Every recipient of the job with its provider ids and state (for audits), in pages.

        Example:
            >>> # async for row in dispatcher.export("job-1"): print(row.recipient, row.status)
        """
        return export_records(self.journal, job_id)


def _check_job_id(job_id: object) -> None:
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValidationError(
            f"must be a non-empty str, got {type(job_id).__name__}"
            + (" (empty)" if isinstance(job_id, str) else ""),
            field="job_id",
        )


def _check_messages(messages: object) -> None:
    if isinstance(messages, str | bytes | Mapping) or not isinstance(
        messages, Iterable | AsyncIterable
    ):
        raise ValidationError(
            f"must be an iterable of OutgoingMessage, got {type(messages).__name__}",
            field="messages",
        )


def _checked(value: object, adapters: Mapping[str, Adapter]) -> tuple[OutgoingMessage | None, str]:
    """The message, or None and what is wrong with it (naming the field)."""
    try:
        message = check_outgoing_message(value)
    except ValidationError as error:
        return None, str(error)
    if message.provider not in adapters:
        return None, f"provider: no client for provider {message.provider!r}"
    if not message.subject.strip():
        return None, "subject: empty subject"
    if not message.body.strip():
        return None, "body: empty body"
    return message, ""


def _invalid_record(job_id: str, seq: int, index: int, value: object, problem: str) -> ChunkRecord:
    """A FAILED record for an input item that is not a usable message."""
    provider = getattr(value, "provider", None)
    recipients = getattr(value, "recipients", None)
    if isinstance(recipients, list | tuple) and all(isinstance(r, str) for r in recipients):
        shown = tuple(recipients)
    elif isinstance(recipients, str):
        shown = (recipients,)
    else:
        shown = ()
    subject = getattr(value, "subject", None)
    key = getattr(value, "key", None)
    return ChunkRecord(
        job_id=job_id,
        seq=seq,
        provider=provider if isinstance(provider, str) else "?",
        recipients=shown,
        digest=digest("invalid", type(value).__name__, repr(value)),
        subject_digest=subject_digest(subject if isinstance(subject, str) else ""),
        status=ChunkStatus.FAILED,
        key=key if isinstance(key, str) else None,
        error=f"invalid message (item {index}): {problem}; not sent",
    )


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a task group failed with (a lost lease first), never the group."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    leaves = [leaf.error if isinstance(leaf, _InputError) else leaf for leaf in leaves]
    for kind in (JobLockedError, KeyboardInterrupt, SystemExit):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0] if leaves else group


async def _aiter(messages: Messages) -> AsyncIterator[tuple[int, object]]:
    """The caller's messages with their index; its own errors come out as _InputError."""
    index = 0
    if isinstance(messages, AsyncIterable):
        try:
            stream = aiter(messages)
        except Exception as error:
            raise _InputError(error) from error
        while True:
            try:
                m = await anext(stream)
            except StopAsyncIteration:
                return
            except Exception as error:
                raise _InputError(error) from error
            yield index, m
            index += 1
    else:
        try:
            items = iter(messages)
        except Exception as error:
            raise _InputError(error) from error
        while True:
            try:
                m = next(items)
            except StopIteration:
                return
            except Exception as error:
                raise _InputError(error) from error
            yield index, m
            index += 1
            if index % 256 == 0:
                # A long synchronous input must not starve the lanes.
                await anyio.lowlevel.checkpoint()


class _Tracker:
    """Counts outcomes, computes progress (ETA from the caps) and calls the callback."""

    def __init__(self, dispatcher: BulkDispatcher, estimate: Estimate | None, state: _Run) -> None:
        self.dispatcher = dispatcher
        self.estimate = estimate
        self.state = state
        self.started = time.perf_counter()
        self.counts: Counter[str] = Counter()
        self.chunks_done: Counter[str] = Counter()
        self.recipients_done = 0
        self.notice: str | None = None

    def lane(self, name: str, text: str, *, notice: bool = False) -> None:
        """A lane changed state: say so in the progress."""
        self.state.lanes[name] = text
        if notice or text.startswith("stopped"):
            self.notice = f"{name}: {text.removeprefix('paused: ')}"
        elif self.notice is not None and self.notice.startswith(f"{name}:"):
            self.notice = None
        self._publish()

    def _publish(self) -> None:
        self.dispatcher.progress = progress = self.snapshot()
        if self.dispatcher.on_progress is not None:
            self.dispatcher.on_progress(progress)

    async def emit(self, out: MemoryObjectSendStream[ChunkOutcome], outcome: ChunkOutcome) -> None:
        """Count one outcome, publish progress, hand the outcome to the caller."""
        self.counts[outcome.status.value] += 1
        self.chunks_done[outcome.provider] += 1
        self.recipients_done += len(outcome.recipients)
        self._publish()
        await out.send(outcome)

    def snapshot(self) -> Progress:
        """The progress now."""
        elapsed = time.perf_counter() - self.started
        est = self.estimate
        adapters = self.dispatcher._adapters
        eta = None
        if est is not None:
            eta = max(
                (
                    max(n - self.chunks_done[p], 0) * adapters[p].interval
                    for p, n in est.chunks.items()
                    if p in adapters
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
            notice=self.notice,
            lanes=dict(self.state.lanes),
        )
