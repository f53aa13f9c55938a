# Workers: many processes, on many hosts, share the jobs of one journal
# ----------------------------------------------------------------------
#
# Enqueue. ``BulkDispatcher.enqueue`` reads the input once, under the JOB lease: it
# journals every chunk pending (FAILED for invalid input), stores what each chunk sends
# (subject, body, attachments, sender: JSON, content-addressed by SHA-256, once per job
# and content) and opens one lane lease per provider (``add_lanes``); then it releases the
# job. Nothing is sent. Enqueuing the same job id again verifies the input against the
# journal (JobMismatchError for other content, as a re-run does), journals what is new and
# reopens lanes a worker stopped.
#
# Work. A worker owns ONE lane at a time, through the lane's lease (fencing token, expiry
# on the journal's clock, heartbeat every ttl/3): ``acquire_lane`` gives it a free lane
# that has work (released, lapsed, or held by a pid that is gone on this host), never one
# another worker holds, so a lane (= a provider, = a pacing scope) has one sender and its
# chunks leave in seq order. Taking a lane, the worker first settles what the previous
# owner left in doubt (in flight or unknown chunks of that lane), on evidence only (the
# reconciler of _resume.py, as a resume does: found -> SENT with the evidence, not found ->
# UNKNOWN with the reason, never resent). Then it asks the journal for the lane's next
# pending chunks in seq order (``next_chunks``, fenced), rebuilds each from its stored
# payload (its subject digest must match the journal's) and sends it through the same
# Lane as a run does: in flight committed (fenced by the lane token) before the request
# leaves, the last-moment lease guard, the outcome right after, an unknown send reconciled
# in the lane before the next one.
#
# Ends of a lane. No pending chunk left: the worker drops the payloads its lane no longer
# needs and releases the lane. A lane stop (account error, outage budget spent, a send it
# could not settle) is recorded with ``stop_lane``: no worker takes that lane again until
# the job is enqueued again (a person decides, as they would re-run a stopped job). A lost
# lease (taken over after a pause) stops the lane at once; the worker goes on with other
# lanes. ``stop()`` (SIGTERM in ``certmail worker``) lets the chunk in flight finish,
# releases the lane and ends the work.
#
# Waiting. With nothing to take, a worker still waits while work remains in lanes others
# hold (it takes a lane over if its owner dies: after the lease lapses, or at once when the
# owner's pid is gone on this host), polling every ``poll_interval`` (jittered, bounded);
# it returns once no lane it can run has work, or keeps polling for new jobs (``follow``).
"""Workers: lanes of enqueued jobs, owned through lane leases by processes on many hosts."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._exceptions import CertmailError, JobLockedError, JobNotFoundError, JournalError
from .._models import Attachment
from ._input import InputError, Messages, read_chunks, tag
from ._lanes import Lane, Run
from ._models import (
    Chunk,
    ChunkOutcome,
    ChunkRecord,
    ChunkStatus,
    LaneState,
    Lease,
    OutgoingMessage,
    subject_digest,
)
from ._progress import Tracker
from ._resume import Invalid, verify

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

    from ._dispatcher import BulkDispatcher

__all__ = ["Enqueued", "WorkerState", "decode_payload", "encode_payload", "enqueue", "work"]

log = logging.getLogger("certmail_async.bulk")

_BATCH = 200  # chunks (and payloads) written per transaction while enqueuing
_NEXT = 16  # chunks a lane owner asks the journal for at once
_IN_DOUBT = (ChunkStatus.IN_FLIGHT, ChunkStatus.UNKNOWN)
_PAGE = 500


@attrs.frozen(kw_only=True)
class Enqueued:
    """What `BulkDispatcher.enqueue` left in the journal for workers.

    ``chunks`` and ``recipients``: the job's chunks (recipients) per lane still pending or
    in flight; ``failed``: input items that failed without a request; ``existed``: the job
    was already in the journal (its input was verified against it).

    Examples:
        >>> Enqueued(job_id="avvisi", chunks={"pecmassiva": 120}, recipients=120,
        ...          failed=0, existed=False).chunks["pecmassiva"]
        120
    """

    job_id: str
    chunks: Mapping[str, int]
    recipients: int
    failed: int
    existed: bool


@attrs.define
class WorkerState:
    """What one worker is doing (for progress and ``stop()``)."""

    owner_id: str = attrs.field(factory=lambda: uuid.uuid4().hex[:12])
    stopping: bool = False
    current: Run | None = None
    lanes_done: int = 0
    wakeup: anyio.Event | None = None  # set by stop(): a waiting worker ends at once

    def stop(self) -> None:
        """Finish the chunk in flight, release the lane, take no other (see the module)."""
        self.stopping = True
        if self.current is not None:
            self.current.stopping = True
        if self.wakeup is not None:
            self.wakeup.set()


# -- payloads ------------------------------------------------------------------------------


def encode_payload(message: OutgoingMessage) -> tuple[str, bytes]:
    """What a chunk of ``message`` sends, as stored for workers: (SHA-256 ref, JSON bytes).

    Recipients and key are not part of it (the journal keeps them per chunk), so the
    chunks of messages that share a subject, body and attachments share one payload.

    Examples:
        >>> m = OutgoingMessage(provider="legallymail", recipients=["a@example.com"],
        ...                     subject="Avviso", body="<p>1</p>", key="k1")
        >>> ref, data = encode_payload(m)
        >>> ref == encode_payload(attrs.evolve(m, recipients=("b@example.com",), key="k2"))[0]
        True
    """
    data = json.dumps(
        {
            "v": 1,
            "subject": message.subject,
            "body": message.body,
            "sender": message.sender,
            "attachments": [
                {
                    "filename": a.filename,
                    "mime_type": a.mime_type,
                    "content": base64.b64encode(a.content).decode("ascii"),
                }
                for a in message.attachments
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return hashlib.sha256(data).hexdigest(), data


def decode_payload(data: bytes, record: ChunkRecord) -> Chunk:
    """The `Chunk` a worker sends: the journal's record plus its stored payload.

    The subject as sent (with the correlation tag when the job uses one) must have the
    record's subject digest; anything else is a JournalError (never a wrong send).

    Examples:
        >>> m = OutgoingMessage(provider="legallymail", recipients=["a@example.com"],
        ...                     subject="Avviso", body="<p>1</p>")
        >>> record = ChunkRecord(job_id="j", seq=0, provider="legallymail",
        ...                      recipients=("a@example.com",), digest="d",
        ...                      subject_digest=subject_digest("Avviso"),
        ...                      status=ChunkStatus.PENDING)
        >>> decode_payload(encode_payload(m)[1], record).message.body
        '<p>1</p>'
    """
    where = f"job {record.job_id!r} chunk {record.seq}"
    try:
        fields: Any = json.loads(data)
        subject = fields["subject"]
        message = OutgoingMessage(
            provider=record.provider,  # type: ignore[arg-type]
            recipients=record.recipients,
            subject=subject,
            body=fields["body"],
            attachments=[
                Attachment(
                    filename=a["filename"],
                    content=base64.b64decode(a["content"], validate=True),
                    mime_type=a["mime_type"],
                )
                for a in fields["attachments"]
            ],
            key=record.key,
            sender=fields["sender"],
        )
    except (ValueError, KeyError, TypeError, CertmailError) as error:
        raise JournalError(f"{where}: its stored payload cannot be read ({error})") from None
    for sent in (subject, subject + tag(record.job_id, record.seq)):
        if subject_digest(sent) == record.subject_digest:
            return Chunk(
                seq=record.seq, provider=record.provider, recipients=record.recipients,
                message=message, subject=sent, digest=record.digest,
                subject_digest=record.subject_digest,
            )  # fmt: skip
    raise JournalError(f"{where}: its stored payload is not this chunk's (subject differs)")


# -- enqueue -------------------------------------------------------------------------------


async def enqueue(
    d: BulkDispatcher,
    job_id: str,
    messages: Messages,
    meta: Mapping[str, str] | None,
    wait: bool,
) -> Enqueued:
    """Journal a job for workers under the job lease (see the module comment)."""
    lease, deadline = await d._acquire(job_id, wait)
    state = Run(job_id=job_id, lease=lease, deadline=deadline)
    failed, existed = 0, False
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(d._heartbeat, state, tg.cancel_scope)
            try:
                failed, existed = await _enqueue(d, state, messages, meta)
            except InputError as broken:
                raise broken.error from None
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:  # one error, never a group
        raise _first(group) from None
    finally:
        with anyio.move_on_after(5.0, shield=True):
            if state.lost is None:
                try:
                    await d.journal.release(state.lease)
                except CertmailError as error:
                    log.warning("job %s: could not release its lease (%s)", job_id, error)
    if state.lost is not None:
        raise state.lost
    chunks: dict[str, int] = {}
    recipients = 0
    after = -1
    while page := await d.journal.records(
        job_id, [ChunkStatus.PENDING, ChunkStatus.IN_FLIGHT], after_seq=after, limit=_PAGE
    ):
        for record in page:
            chunks[record.provider] = chunks.get(record.provider, 0) + 1
            recipients += len(record.recipients)
        after = page[-1].seq
    log.info(
        "job %s enqueued for workers: %s", job_id,
        " ".join(f"{k}={v}" for k, v in sorted(chunks.items())) or "nothing pending",
        extra={"job_id": job_id},
    )  # fmt: skip
    return Enqueued(
        job_id=job_id, chunks=chunks, recipients=recipients, failed=failed, existed=existed
    )


async def _enqueue(
    d: BulkDispatcher, state: Run, messages: Messages, meta: Mapping[str, str] | None
) -> tuple[int, bool]:
    """Journal the input (verified first when the job exists); (failed items, existed)."""
    journal, job_id = d.journal, state.job_id
    existed = await journal.open_job(
        state.lease,
        d._fingerprint(),
        {"providers": ",".join(sorted(d._adapters)), **(meta or {})},
    )
    items = read_chunks(job_id, messages, d._adapters, correlation_tag=d.correlation_tag)
    pending: list[ChunkRecord] = []
    payloads: list[tuple[int, str, bytes]] = []
    failed = 0

    async def flush() -> None:
        nonlocal pending, payloads
        if pending:
            await journal.add_pending(state.lease, pending)
        if payloads:
            await journal.add_payloads(state.lease, payloads)
        pending, payloads = [], []

    if existed:
        found = await verify(journal, job_id, items, retry_failed=False)
        for chunk in (*found.held, *(c for _, c in found.uncertain)):
            payloads.append((chunk.seq, *encode_payload(chunk.message)))
            if len(payloads) >= _BATCH:
                await flush()
        failed += sum(1 for o in found.replays if o.previous is ChunkStatus.FAILED)
    async for item in items:
        if isinstance(item, Invalid):
            if await journal.get(job_id, item.record.seq) is None:
                await journal.add_final(state.lease, item.record)
            failed += 1
            continue
        pending.append(item.record(job_id))
        payloads.append((item.seq, *encode_payload(item.message)))
        if len(pending) >= _BATCH:
            await flush()
    await flush()
    await journal.add_lanes(state.lease, sorted(d._adapters))
    return failed, existed


# -- work ----------------------------------------------------------------------------------


async def work(
    d: BulkDispatcher,
    worker: WorkerState,
    job_id: str | None,
    out: MemoryObjectSendStream[ChunkOutcome],
    *,
    follow: bool,
    wait: bool,
    poll_interval: float,
) -> None:
    """Run lanes of enqueued jobs (one at a time) until no work remains, or forever."""
    journal = d.journal
    mine = sorted(d._adapters)
    async with out:
        if job_id is not None:
            await _check_enqueued(d, job_id)
        while not worker.stopping:
            states = [s for s in await journal.lanes(job_id) if s.lane in mine]
            took = False
            for job in _candidates(states):
                started = time.monotonic()
                lease = await journal.acquire_lane(
                    job, owner_id=worker.owner_id, ttl=d.lease_ttl, lanes=mine
                )
                if lease is None:
                    continue
                await _run_lane(d, worker, lease, started + d.lease_ttl, out)
                took = True
                break
            if took:
                continue
            waiting = any(s.remaining and s.stopped is None for s in states)
            if not follow and not (wait and waiting):
                return
            await _pause(worker, poll_interval)


def _candidates(states: list[LaneState]) -> list[str]:
    """Jobs with a lane that looks free and has work, oldest job first."""
    jobs: list[str] = []
    for s in states:
        if s.runnable and s.job_id not in jobs:
            jobs.append(s.job_id)
    return jobs


async def _pause(worker: WorkerState, poll_interval: float) -> None:
    """Wait about ``poll_interval`` (jittered: workers do not poll in step), or until stop()."""
    if worker.wakeup is None:
        worker.wakeup = anyio.Event()
    with anyio.move_on_after(poll_interval * random.uniform(0.5, 1.0)):  # noqa: S311
        await worker.wakeup.wait()


async def _check_enqueued(d: BulkDispatcher, job_id: str) -> None:
    journal = d.journal
    if await journal.job_meta(job_id) is None:
        raise JobNotFoundError(
            f"no job {job_id!r} in {journal.display_name}",
            job_id=job_id,
            path=journal.display_name,
        )
    if not await journal.lanes(job_id):
        raise JobNotFoundError(
            f"job {job_id!r} in {journal.display_name} was not enqueued for workers (enqueue "
            "it: `certmail bulk ... --no-run` or BulkDispatcher.enqueue; or run it with "
            "`certmail resume`)",
            job_id=job_id,
            path=journal.display_name,
        )


async def _run_lane(
    d: BulkDispatcher,
    worker: WorkerState,
    lease: Lease,
    deadline: float,
    out: MemoryObjectSendStream[ChunkOutcome],
) -> None:
    """Own one lane: settle what its last owner left in doubt, then send its chunks."""
    job_id, name = lease.job_id, lease.lane
    state = Run(job_id=job_id, lease=lease, deadline=deadline)
    state.lanes[name] = "sending"
    worker.current = state
    if worker.stopping:
        state.stopping = True
    tracker = Tracker(d._adapters, None, state.lanes, d._publish)
    extra = {"job_id": job_id, "provider": name, "token": lease.token}
    log.info("job %s: lane %s taken (token %s)", job_id, name, lease.token, extra=extra)
    lane = Lane(
        adapter=d._adapters[name], state=state, journal=d.journal, reconciler=d._reconciler,
        settings=d, tracker=tracker, out=out, hook=d._hook,
    )  # fmt: skip
    try:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(d._heartbeat, state, tg.cancel_scope)
                await _settle_lane(d, state, tracker, out)
                await _send_lane(d, state, lane)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise _first(group) from None
    except JobLockedError as error:  # taken over (this worker was paused): go on elsewhere
        state.lost = state.lost or error
    finally:
        worker.current = None
        worker.lanes_done += 1
        with anyio.move_on_after(5.0, shield=True):
            await _leave_lane(d, state, name)


async def _settle_lane(
    d: BulkDispatcher, state: Run, tracker: Tracker, out: MemoryObjectSendStream[ChunkOutcome]
) -> None:
    """Reconcile the lane's in-flight and unknown chunks (evidence only) before any send."""
    journal, job_id, name = d.journal, state.job_id, state.lease.lane
    after = -1
    while page := await journal.records(job_id, _IN_DOUBT, after_seq=after, limit=_PAGE):
        after = page[-1].seq
        mine = [r for r in page if r.provider == name]
        stored = await journal.payloads(job_id, [r.seq for r in mine]) if mine else {}
        for record in mine:
            chunk = decode_payload(stored[record.seq], record) if record.seq in stored else None
            settled = await d._reconciler.settle(state.lease, record, chunk)
            if settled.outcome is not None:
                await tracker.emit(out, settled.outcome)
            else:
                await tracker.emit(
                    out, await d._reconciler.give_up(state.lease, record, settled.reason)
                )


async def _send_lane(d: BulkDispatcher, state: Run, lane: Lane) -> None:
    """Send the lane's pending chunks in seq order until none is left or the lane stops."""
    journal, job_id = d.journal, state.job_id
    while not state.stopping and lane.adapter.name not in state.stopped:
        records = await journal.next_chunks(state.lease, _NEXT)
        if not records:
            lane.tracker.lane(lane.adapter.name, "done")
            return
        stored = await journal.payloads(job_id, [r.seq for r in records])
        for record in records:
            if record.seq not in stored:
                raise JournalError(
                    f"job {job_id!r} chunk {record.seq}: no stored payload (was the job "
                    "enqueued? `certmail bulk --no-run` or BulkDispatcher.enqueue stores it)"
                )
            if not await lane.send_one(decode_payload(stored[record.seq], record)):
                return


async def _leave_lane(d: BulkDispatcher, state: Run, name: str) -> None:
    """Stop, or release, the lane (nothing to do when its lease was lost)."""
    journal, lease = d.journal, state.lease
    extra = {"job_id": state.job_id, "provider": name}
    if state.lost is not None:
        log.warning("job %s: lane %s lost: %s", state.job_id, name, state.lost, extra=extra)
        return
    try:
        stop = state.stopped.get(name)
        if stop is not None:
            reason = f"{type(stop).__name__}: {stop}"
            await journal.stop_lane(lease, reason)
            log.warning("job %s: lane %s stopped: %s", state.job_id, name, reason, extra=extra)
            return
        if not state.stopping:
            await journal.drop_payloads(lease)
        await journal.release(lease)
        log.info("job %s: lane %s released", state.job_id, name, extra=extra)
    except CertmailError as error:
        log.warning(
            "job %s: lane %s not released (%s); it lapses in %s s",
            state.job_id, name, error, d.lease_ttl, extra=extra,
        )  # fmt: skip


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error a lane's task group failed with (a lost lease first)."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    for leaf in leaves:
        if isinstance(leaf, JobLockedError):
            return leaf
    return leaves[0] if leaves else group
