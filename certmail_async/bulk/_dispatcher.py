# The bulk dispatcher: chunked, paced, ordered fan-out with a write-ahead journal
# --------------------------------------------------------------------------------
#
# A run reads the caller's messages lazily and checks each one as it is read (_input.py),
# hands every chunk to its provider's lane (_lanes.py: the journal around each send, failure
# scopes, reconciliation in the lane) and reports progress (_progress.py). A re-run first
# verifies its input against the journal and settles what may have been sent (_resume.py);
# status and export only read the journal (_report.py).
#
# Ownership: run() and resume() take the job's lease (a fencing token in the journal)
# before ANY request, reconciliation reads included. A live owner means JobLockedError (or,
# with wait=True, a bounded wait). A heartbeat renews the lease every ttl/3; every journal
# transition checks the token, so an owner whose lease was taken over cannot commit and,
# since a chunk is committed in_flight right before its request leaves, cannot send. On
# losing the lease every lane stops at once and the run raises JobLockedError. Each send
# also passes the lane's last-moment lease guard (_lanes.py), right before it is written.
#
# Live runs: the dispatcher keeps every run it started until it ends. A caller that stops
# reading (``break`` out of ``async for``) leaves the run iterator for the garbage collector;
# closing the iterator (``aclose()`` on it) or the dispatcher (``aclose()``, the end of
# ``async with``) cancels the run through its own anyio cancel scope and waits for it, so
# it releases its lease (shielded, bounded) before the journal closes. Each run takes the
# lease under its own owner id: two dispatchers in one process exclude each other.
#
# Fan-out: one lane per provider client (= one pacing scope), each a single task sending
# its chunks in seq order. The reader journals chunks pending (in batches) before a lane
# can send them, and FAILED input items at once.
#
# Back-pressure: the reader feeds bounded per-lane queues and outcomes leave through a
# bounded stream; a slow lane or a slow consumer slows the reader, so memory stays flat.
"""BulkDispatcher: send many messages at the providers' caps, at most once, in order."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from .._client_base import BaseClient
from .._exceptions import CertmailError, JobLockedError, ValidationError
from .._pacing import PacingBackend
from .._retry import RetryPolicy
from ._adapters import Adapter, make_adapters
from ._input import (
    InputError,
    Messages,
    check_chunk_sizes,
    check_job_id,
    check_messages,
    check_positive,
    read_chunks,
)
from ._journal import Journal
from ._journal_sqlite import SQLiteJournal
from ._lanes import Hook, Lane, Run
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
    digest,
)
from ._progress import Tracker
from ._report import export_records, job_status
from ._resume import Invalid, Reconciler, outcome_of, verify
from ._worker import Enqueued, WorkerState, enqueue, work

if TYPE_CHECKING:  # annotations only: anyio loads its streams with the first run
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ..legallymail import LegallyMailClient
    from ..pecmassiva import PecMassivaClient

__all__ = ["BulkDispatcher"]

log = logging.getLogger("certmail_async.bulk")

_PENDING_BATCH = 200
_RELEASE_TIMEOUT = 5.0  # seconds a stopping run may take to release its lease


def open_journal(journal: str | Path | Journal) -> tuple[Journal, bool]:
    """The journal a spec names, and whether the dispatcher owns (and closes) it.

    A ``str`` or ``Path`` is a SQLite file; ``"postgresql://..."`` (or ``postgres://``)
    selects the PostgreSQL journal (the ``postgres`` extra). Anything else must implement
    [Journal][certmail_async.Journal].
    """
    from ._journal_postgres import PostgresJournal, is_postgres_url  # loaded on first use

    if isinstance(journal, str) and is_postgres_url(journal):
        return PostgresJournal(journal), True
    if isinstance(journal, str | Path):
        if isinstance(journal, str) and not journal:
            raise ValidationError("must name a journal file", field="journal")
        return SQLiteJournal(journal), True
    return journal, False


class BulkDispatcher:
    """Send many messages through provider clients: chunked, paced, ordered, journaled.

    Examples:
        Two messages through a PEC Massiva fake whose second is scaled to 50 ms:

        >>> import asyncio, os, tempfile
        >>> from certmail_async import BulkDispatcher, OutgoingMessage, RateLimit
        >>> from certmail_async.testing import run_fake
        >>> second = RateLimit(requests=1, per=0.05, margin=0)
        >>> messages = [OutgoingMessage(provider="pecmassiva", subject="Avviso",
        ...                             body="<p>...</p>", recipients=[address])
        ...             for address in ("anna@pec.example.it", "luca@pec.example.it")]
        >>> async def main(journal: str) -> list[tuple[int, str]]:
        ...     async with run_fake("pecmassiva", send_rate=second) as fake:
        ...         async with fake.client() as pm, BulkDispatcher(
        ...             clients=[pm], journal=journal
        ...         ) as dispatcher:
        ...             run = dispatcher.run("avvisi-2026-11", messages)
        ...             return [(o.seq, o.status.value) async for o in run]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(os.path.join(folder, "jobs.sqlite")))
        [(0, 'sent'), (1, 'sent')]

    ``lease_ttl``: seconds a run's lease on its job lasts unless renewed (renewed every
    third of it). ``max_wait``: how long ``wait=True`` waits for another owner.
    ``reconcile_skew``: the clock allowance of reconciliation (seconds). ``reconcile_tries``
    and ``reconcile_backoff``: how often and how patiently a lane looks for a send whose
    answer was lost before it stops. ``outage_budget``: seconds a lane keeps retrying an
    unreachable provider (or pacing gate). ``pacing``: a backend every client is paced
    through for this dispatcher's runs (e.g. a [RedisPacing][certmail_async.RedisPacing]
    shared by the workers of one job); the clients you passed are not changed (the
    dispatcher uses copies that share their sessions). ``correlation_tag=True`` appends
    `` [cm:<job>-<seq>]`` to every subject, which makes reconciliation certain (recipients
    see it; it changes the subject and so the job's digests: choose it when the job
    starts).
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
        pacing: PacingBackend | None = None,
    ) -> None:
        given: object = clients
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise ValidationError("must be a list of provider clients", field="clients")
        sizes = check_chunk_sizes(chunk_sizes)
        check_positive(queue_size, "queue_size", integer=True)
        check_positive(lease_ttl, "lease_ttl")
        check_positive(max_wait, "max_wait")
        check_positive(outage_budget, "outage_budget")
        check_positive(reconcile_tries, "reconcile_tries", integer=True)
        if type(reconcile_skew) not in (int, float) or not 0 <= reconcile_skew < math.inf:
            raise ValidationError("must be a number of seconds >= 0", field="reconcile_skew")
        if pacing is not None:
            if not isinstance(pacing, PacingBackend):
                raise ValidationError(
                    "must be a PacingBackend such as RedisPacing(url)", field="pacing"
                )
            # Copies that share the sessions: the caller's clients keep their own pacing.
            clients = [
                c.with_options(pacing=pacing) if isinstance(c, BaseClient) else c for c in clients
            ]
        self._adapters: dict[str, Adapter] = make_adapters(clients, sizes)
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
        # Live runs and the cancel scope each runs in (see "Live runs" above).
        self._runs: dict[asyncio.Task[None], anyio.CancelScope] = {}
        self._workers: list[WorkerState] = []  # live work() iterators, for stop_work()

    async def __aenter__(self) -> BulkDispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the runs still live (their leases released), then close the journal.

        The journal is closed only if the dispatcher opened it; clients are yours to close.
        """
        for worker in list(self._runs):
            await self._stop(worker)
        if self._owns_journal:
            await self.journal.aclose()

    async def _stop(self, worker: asyncio.Task[None]) -> None:
        """Cancel a run through its cancel scope and wait (bounded) until it released."""
        scope = self._runs.get(worker)
        if scope is not None:
            scope.cancel()
        if not worker.done():
            with anyio.move_on_after(_RELEASE_TIMEOUT + 1.0, shield=True):
                await asyncio.wait({worker})
        if worker.done() and not worker.cancelled():
            worker.exception()  # retrieved: the caller who stopped reading chose to drop it

    @staticmethod
    async def _scoped(scope: anyio.CancelScope, work: Awaitable[None]) -> None:
        with scope:
            await work
        if scope.cancel_called:  # stopped by aclose(): whoever still reads must know
            raise CertmailError(
                "the bulk run was stopped: its dispatcher was closed (chunks not sent stay "
                "pending for a later run)",
                operation="bulk.run",
            )

    def _publish(self, progress: Progress) -> None:
        """Keep a run's latest progress as ``progress`` and hand it to ``on_progress``."""
        self.progress = progress
        if self.on_progress is not None:
            self.on_progress(progress)

    # -- planning -----------------------------------------------------------------------

    def _fingerprint(self) -> str:
        sizes = sorted((n, a.max_chunk()) for n, a in self._adapters.items())
        return digest(sizes, "tag") if self.correlation_tag else digest(sizes)

    def estimate(self, messages: Iterable[OutgoingMessage]) -> Estimate:
        """How many chunks per provider and how long at the caps (reads ``messages`` once).

        Examples:
            >>> # 100,000 LegallyMail recipients, 10 per send, one send per 6.006 s:
            >>> # Estimate(recipients=100000, chunks={'legallymail': 10000}, hours=16.68)
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
        """Send ``messages`` as job ``job_id``; yields one `ChunkOutcome` per chunk.

        Running an existing job id resumes it: chunks already final come back as SKIPPED,
        in-flight and unknown ones are reconciled first, the rest is sent.
        ``retry_unknown`` resends unknown chunks still not found at the provider (never an
        ambiguous one, nor one whose evidence may lie beyond the provider's list: "out of
        view", to be checked at the provider and decided by you); ``retry_failed`` resends
        FAILED chunks. ``wait`` waits (up to ``max_wait``) for another live owner of the job
        instead of raising JobLockedError.
        A lane stopped by an account error, an outage or an unsettled send leaves its chunks
        pending and, once the other lanes are done, the run raises that error.
        ``estimate`` (from `estimate`) gives progress its totals and ETA.

        Examples:
            >>> # run = dispatcher.run("job-1", messages, retry_failed=True)
            >>> # async for outcome in run:
            >>> #     print(outcome.seq, outcome.status.value, outcome.error)
        """
        check_job_id(job_id)
        check_messages(messages)
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

        Examples:
            >>> # [o async for o in dispatcher.resume("job-1")]  # reconcile only
        """
        check_job_id(job_id)
        if messages is None:
            return self._stream(job_id, None, False, False, wait, None, None)
        check_messages(messages)
        return self._stream(job_id, messages, retry_unknown, retry_failed, wait, estimate, None)

    async def enqueue(
        self,
        job_id: str,
        messages: Messages,
        *,
        meta: Mapping[str, str] | None = None,
        wait: bool = False,
    ) -> Enqueued:
        """Journal ``messages`` as job ``job_id`` for workers, and send nothing.

        Every chunk is journaled pending (invalid input: FAILED), with what it sends
        (subject, body, attachments: kept in the journal until its lane no longer needs
        them), and the job gets one lane per provider that workers (``work()``,
        ``certmail worker``) take over, one worker per lane. Enqueuing an existing job id
        verifies the input against the journal first (JobMismatchError for other content),
        adds what is new and reopens lanes a worker stopped. Takes the job's lease while it
        runs (``wait`` as in ``run()``).

        Examples:
            >>> # await dispatcher.enqueue("avvisi-2026-11", messages())  # Enqueued(...)
        """
        check_job_id(job_id)
        check_messages(messages)
        return await enqueue(self, job_id, messages, meta, wait)

    def work(
        self,
        job_id: str | None = None,
        *,
        follow: bool = False,
        wait: bool = True,
        poll_interval: float = 2.0,
    ) -> AsyncIterator[ChunkOutcome]:
        """Work as one of many workers on enqueued jobs: yields the outcomes this worker sent.

        Takes one free lane at a time (of ``job_id``, or of every enqueued job, oldest
        first) among the providers of this dispatcher's clients, through the lane's lease:
        one owner per lane, so per-provider order holds. A lane is first reconciled (what
        its last owner left in flight or unknown, on evidence only), then its pending
        chunks are sent in seq order. With nothing free to take, ``wait`` keeps polling
        (every ``poll_interval`` seconds, jittered) while other workers still hold lanes
        with work, so a dead worker's lane is taken over once its lease lapses; the
        iterator ends when no lane has work left (``follow=True``: never, it waits for new
        jobs). ``stop_work()`` ends it gracefully.

        Examples:
            >>> # async for outcome in dispatcher.work():  # on every worker host
            >>> #     print(outcome.provider, outcome.seq, outcome.status.value)
        """
        if job_id is not None:
            check_job_id(job_id)
        check_positive(poll_interval, "poll_interval")
        state = WorkerState()
        self._workers.append(state)

        def make(out: MemoryObjectSendStream[ChunkOutcome]) -> Awaitable[None]:
            return work(
                self, state, job_id, out, follow=follow, wait=wait, poll_interval=poll_interval
            )

        return self._serve(make, lambda: self._workers.remove(state))

    def stop_work(self) -> None:
        """Ask every running ``work()`` of this dispatcher to end gracefully (SIGTERM).

        The chunk in flight finishes and its outcome is recorded, the lane is released,
        no other lane is taken, and the ``work()`` iterators end.

        Examples:
            >>> # loop.add_signal_handler(signal.SIGTERM, dispatcher.stop_work)
        """
        for state in self._workers:
            state.stop()

    def _stream(
        self,
        job_id: str,
        messages: Messages | None,
        retry_unknown: bool,
        retry_failed: bool,
        wait: bool,
        estimate: Estimate | None,
        meta: Mapping[str, str] | None,
    ) -> AsyncIterator[ChunkOutcome]:
        def make(out: MemoryObjectSendStream[ChunkOutcome]) -> Awaitable[None]:
            return self._work(
                job_id, messages, out, retry_unknown, retry_failed, wait, estimate, meta
            )

        return self._serve(make)

    async def _serve(
        self,
        make: Callable[[MemoryObjectSendStream[ChunkOutcome]], Awaitable[None]],
        done: Callable[[], None] | None = None,
    ) -> AsyncIterator[ChunkOutcome]:
        """Run ``make(out)`` as a stoppable task; yield what it sends to ``out``."""
        send, receive = anyio.create_memory_object_stream[ChunkOutcome](self.queue_size)
        scope = anyio.CancelScope()
        work = make(send)
        worker = asyncio.ensure_future(self._scoped(scope, work))
        self._runs[worker] = scope
        worker.add_done_callback(self._forget)
        try:
            async with receive:
                async for outcome in receive:
                    yield outcome
            await worker  # re-raises the worker's error (JobMismatchError, JobLockedError...)
        finally:
            try:
                if not worker.done():
                    await self._stop(worker)  # the caller stopped reading: release the lease
            finally:
                send.close()  # the worker closes it, unless cancelled before it started
                if done is not None:
                    done()

    def _forget(self, worker: asyncio.Task[None]) -> None:
        self._runs.pop(worker, None)

    async def _acquire(self, job_id: str, wait: bool) -> tuple[Lease, float]:
        """The job's lease under a fresh owner id, and when it ends (monotonic clock)."""
        owner = uuid.uuid4().hex[:12]  # one per run: two runs never share a lease
        deadline = time.monotonic() + self.max_wait
        delay = min(0.05, self.lease_ttl / 10)
        while True:
            try:
                started = time.monotonic()
                # Shielded: a run cancelled while the journal grants the lease still gets
                # it back, and its ``finally`` releases it.
                with anyio.CancelScope(shield=True):
                    lease = await self.journal.acquire(job_id, owner_id=owner, ttl=self.lease_ttl)
                return lease, started + self.lease_ttl
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

    async def _heartbeat(self, state: Run, scope: anyio.CancelScope) -> None:
        while True:
            # Every ttl/3 from the last renewal's start: a slow renewal does not add up.
            await anyio.sleep(max(state.deadline - self.lease_ttl * 2 / 3 - time.monotonic(), 0))
            try:
                started = time.monotonic()
                state.lease = await self.journal.renew(state.lease, ttl=self.lease_ttl)
                state.deadline = started + self.lease_ttl  # what the lanes' guard reads
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
            lease, lease_deadline = await self._acquire(job_id, wait)
            state = Run(job_id=job_id, lease=lease, deadline=lease_deadline)
            tracker = Tracker(self._adapters, estimate, state.lanes, self._publish)
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
                except InputError as failed:  # the input broke while verifying a re-run
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
                with anyio.move_on_after(_RELEASE_TIMEOUT, shield=True):
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
        state: Run,
        messages: Messages,
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: Tracker,
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
        items = read_chunks(job_id, messages, self._adapters, correlation_tag=self.correlation_tag)
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
                elif retry_unknown and settled.resendable:
                    held.append(chunk)
                else:
                    given_up = await self._reconciler.give_up(state.lease, record, settled.reason)
                    await tracker.emit(out, given_up)
            held.sort(key=lambda c: c.seq)
        await self._fan_out(state, held, items, out, tracker)

    async def _reconcile_only(
        self, state: Run, out: MemoryObjectSendStream[ChunkOutcome], tracker: Tracker
    ) -> None:
        """Reconcile in-flight and unknown chunks without re-reading the input."""
        async for outcome in self._reconciler.reconcile_job(lambda: state.lease, state.job_id):
            await tracker.emit(out, outcome)

    async def _fan_out(
        self,
        state: Run,
        held: list[Chunk],
        items: AsyncIterator[Chunk | Invalid],
        out: MemoryObjectSendStream[ChunkOutcome],
        tracker: Tracker,
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
                    # settings=self: a lane reads its patience (outage_budget...) from here
                    lane = Lane(
                        adapter=adapter, state=state, journal=self.journal,
                        reconciler=self._reconciler, settings=self, tracker=tracker,
                        out=out, hook=self._hook,
                    )  # fmt: skip
                    tg.start_soon(lane.run, receive)
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
                except InputError as failed:
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

    # -- reporting ------------------------------------------------------------------------

    async def status(self, job_id: str) -> JobStatus:
        """Counts per state, the chunks that need a decision, and the evidence used.

        Raises [JobNotFoundError][certmail_async.JobNotFoundError] for a job the journal
        does not hold.

        Examples:
            >>> # (await dispatcher.status("job-1")).finished
        """
        return await job_status(self.journal, job_id)

    def export(self, job_id: str) -> AsyncIterator[RecipientRecord]:
        """Every recipient of the job with its provider ids and state (for audits), in pages.

        Examples:
            >>> # async for row in dispatcher.export("job-1"):
            >>> #     print(row.recipient, row.status.value)
        """
        return export_records(self.journal, job_id)


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
    leaves = [leaf.error if isinstance(leaf, InputError) else leaf for leaf in leaves]
    for kind in (JobLockedError, KeyboardInterrupt, SystemExit):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0] if leaves else group
