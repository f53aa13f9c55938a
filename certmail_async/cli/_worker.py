"""``certmail worker``: join the jobs enqueued in a shared journal and run their lanes.

A worker process owns one lane (one provider of one job) at a time through the lane's
lease, sends its chunks in order at the provider's cap (through the Redis gate with
``--pacing-url``, so every worker of a scope shares one cap), and takes another lane when
that one is done. Jobs come from ``certmail bulk ... --journal URL --no-run`` (or
``BulkDispatcher.enqueue``): each carries the options it was enqueued with (provider,
chunk size, tag, fake flags), so a worker builds its client from them and credentials
from the environment of its own host.

Exit codes (the job commands' table, over the jobs this worker looked at): 0 every
recipient sent; 3 some failed; 4 some unknown; 5 chunks left pending (a lane stopped, or
the worker was stopped by SIGTERM before the end); 2 usage (no such job, a job not enqueued
for workers); 1 the journal cannot be used. SIGTERM (or SIGINT): the chunk in flight
finishes and is recorded, the lane is released, the worker exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
from rich.console import Console
from rich.progress import Progress as Bar
from rich.progress import TaskID

from .._exceptions import JobLockedError, JobNotFoundError
from .._pacing_redis import RedisPacing
from ..bulk import BulkDispatcher, ChunkStatus, Journal, LaneState, PostgresJournal, SQLiteJournal
from ._bulk import (
    EXIT_LOCKED,
    EXIT_OK,
    JobSpec,
    JobSummary,
    UsageError,
    _messages,
    _say_estimate,
    journal_spec,
    make_client,
    pacing_backend,
)
from ._progress import job_progress

__all__ = ["WorkerOptions", "enqueue_job", "run_worker"]


@attrs.frozen(kw_only=True)
class WorkerOptions:
    """What ``certmail worker`` was asked to do."""

    journal: str
    job_id: str | None = None
    follow: bool = False
    poll_interval: float = 2.0
    lease_ttl: float = 30.0
    pacing_url: str | None = None
    outage_budget: float = 600.0


@attrs.define
class _Worker:
    """One ``certmail worker`` process: its journal, what it saw, how to stop it."""

    options: WorkerOptions
    console: Console
    journal: Journal
    stopping: bool = False
    current: BulkDispatcher | None = None
    seen: list[str] = attrs.field(factory=list)  # jobs looked at, for the summary
    wakeup: asyncio.Event = attrs.field(factory=asyncio.Event)
    pacing: RedisPacing | None = None
    sent: Counter[str] = attrs.field(factory=Counter)
    skipped: set[str] = attrs.field(factory=set)  # jobs enqueued by code, not by the CLI

    def asked_to_stop(self) -> bool:
        """Whether SIGTERM (or SIGINT) arrived (a call: the signal sets it meanwhile)."""
        return self.stopping

    def stop(self) -> None:
        """SIGTERM: finish the chunk in flight, release the lane, take nothing more."""
        if not self.stopping:
            self.console.print("[yellow]stopping: finishing the send in flight[/]")
        self.stopping = True
        self.wakeup.set()
        if self.current is not None:
            self.current.stop_work()


async def enqueue_job(
    spec: JobSpec, *, journal: str, job_id: str, console: Console, wait: bool = False
) -> int:
    """``certmail bulk --no-run``: journal the job for workers and send nothing.

    Needs no credentials (nothing is sent): workers bring their own. Returns the exit code.
    """
    client = make_client(spec["provider"], base_url=None, fake_credentials=True, time_scale=1.0)
    async with (
        client,
        BulkDispatcher(
            clients=[client],
            journal=journal_spec(journal),
            chunk_sizes={spec["provider"]: int(spec["chunk_size"])}
            if spec.get("chunk_size")
            else None,
            correlation_tag=spec.get("tag") == "1",
        ) as dispatcher,
    ):
        _say_estimate(console, dispatcher.estimate(_messages(spec)))
        try:
            result = await dispatcher.enqueue(job_id, _messages(spec), meta=dict(spec), wait=wait)
        except JobLockedError as error:
            console.print(f"locked: {error}")
            return EXIT_LOCKED
        shown = dispatcher.journal.display_name
    sends = sum(result.chunks.values())
    console.print(
        f"job {job_id} {'enqueued again' if result.existed else 'enqueued'}: {sends} sends "
        f"pending ({result.recipients} recipients)"
        + (f", {result.failed} items failed (invalid input)" if result.failed else "")
        + f"; nothing was sent. Start workers: certmail worker --journal {shown} --job {job_id}"
    )
    return EXIT_OK


def _open(journal: str) -> Journal:
    spec = journal_spec(journal)
    if isinstance(spec, str):
        return PostgresJournal(spec)
    if not spec.is_file():
        raise UsageError(f"no journal at {spec} (enqueue a job first: certmail bulk --no-run)")
    return SQLiteJournal(spec)


async def run_worker(options: WorkerOptions, console: Console) -> JobSummary:
    """Run lanes of enqueued jobs until none is left (or forever with ``follow``)."""
    journal = _open(options.journal)
    worker = _Worker(options=options, console=console, journal=journal)
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, worker.stop)
            handled.append(sig)
    try:
        worker.pacing = pacing_backend(options.pacing_url)
        if options.job_id is not None:
            await _check_job(journal, options.job_id)
        with job_progress(console) as bar:
            await _loop(worker, bar)
        return await _summary(worker)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        if worker.pacing is not None:
            await worker.pacing.aclose()
        await journal.aclose()


async def _check_job(journal: Journal, job_id: str) -> None:
    if await journal.job_meta(job_id) is None:
        raise UsageError(f"no job {job_id!r} in {journal.display_name}")
    if not await journal.lanes(job_id):
        raise UsageError(
            f"job {job_id!r} was not enqueued for workers: enqueue it with `certmail bulk ... "
            "--no-run`, or run it with `certmail resume`"
        )


async def _loop(worker: _Worker, bar: Bar) -> None:
    options, journal = worker.options, worker.journal
    tasks: dict[str, TaskID] = {}
    while not worker.stopping:
        states = await journal.lanes(options.job_id)
        await _show(worker, bar, tasks, states)
        took = False
        for job_id in _jobs(states):
            if worker.asked_to_stop():
                return
            if job_id in worker.skipped:
                continue
            took = await _work_on(worker, bar, tasks, job_id) or took
        if took:
            continue
        states = await journal.lanes(options.job_id)
        await _show(worker, bar, tasks, states)
        waiting = any(
            s.remaining and s.stopped is None and s.job_id not in worker.skipped for s in states
        )
        if not options.follow and not waiting:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.wakeup.wait(), options.poll_interval)


def _jobs(states: list[LaneState]) -> Iterator[str]:
    """Jobs with a lane that looks free and has work, oldest first, each once."""
    seen: set[str] = set()
    for s in states:
        if s.runnable and s.job_id not in seen:
            seen.add(s.job_id)
            yield s.job_id


async def _work_on(worker: _Worker, bar: Bar, tasks: dict[str, TaskID], job_id: str) -> bool:
    """Run the lanes of one job this worker can take now; True when it sent or settled any."""
    options = worker.options
    meta = await worker.journal.job_meta(job_id)
    if meta is None or "provider" not in meta or "input" not in meta:
        worker.skipped.add(job_id)
        worker.console.print(
            f"[yellow]job {job_id}: enqueued by code, not by `certmail bulk`; run it with "
            "BulkDispatcher.work() (skipped)[/]"
        )
        return False
    spec = JobSpec(meta)
    if job_id not in worker.seen:
        worker.seen.append(job_id)
    from ._app import _refuse_fake_flags  # the one check of the fakes-only flags

    _refuse_fake_flags(
        spec.get("base_url") or None,
        spec.get("fake_credentials") == "1",
        float(spec.get("time_scale") or 1.0),
    )
    client = make_client(
        spec["provider"],
        base_url=spec.get("base_url") or None,
        fake_credentials=spec.get("fake_credentials") == "1",
        time_scale=float(spec.get("time_scale", "1")),
    )
    extra: dict[str, Any] = {"pacing": worker.pacing} if worker.pacing is not None else {}
    did = False
    async with (
        client,
        BulkDispatcher(
            clients=[client],
            journal=worker.journal,
            chunk_sizes={spec["provider"]: int(spec["chunk_size"])}
            if spec.get("chunk_size")
            else None,
            correlation_tag=spec.get("tag") == "1",
            lease_ttl=options.lease_ttl,
            outage_budget=options.outage_budget,
            **extra,
        ) as dispatcher,
    ):
        worker.current = dispatcher
        if worker.asked_to_stop():
            return False
        try:
            async for outcome in dispatcher.work(job_id, wait=False):
                did = True
                worker.sent[outcome.status.value] += len(outcome.recipients)
                if outcome.status is ChunkStatus.UNKNOWN:
                    worker.console.print(
                        f"[yellow]unknown[/] {job_id} chunk {outcome.seq}: {outcome.error}"
                    )
                await _show(worker, bar, tasks, await worker.journal.lanes(job_id), only=job_id)
        except JobNotFoundError as error:
            raise UsageError(str(error)) from None
        finally:
            worker.current = None
    return did


async def _show(
    worker: _Worker,
    bar: Bar,
    tasks: dict[str, TaskID],
    states: list[LaneState],
    *,
    only: str | None = None,
) -> None:
    """One bar per job: recipients final out of all, from the shared journal."""
    jobs = sorted({s.job_id for s in states if only is None or s.job_id == only})
    for job_id in jobs:
        if job_id in worker.skipped:
            continue
        _, recipients = await worker.journal.counts(job_id)
        total = sum(recipients.values())
        done = total - recipients.get("pending", 0) - recipients.get("in_flight", 0)
        lanes = [s for s in states if s.job_id == job_id]
        tally = " ".join(
            f"{s.lane}:{_lane_text(s)}" for s in lanes
        ) + " " + " ".join(f"{k}={v}" for k, v in sorted(recipients.items()))  # fmt: skip
        if job_id not in tasks:
            tasks[job_id] = bar.add_task(job_id, total=total, tally="")
        bar.update(tasks[job_id], completed=done, total=total, tally=tally)


def _lane_text(state: LaneState) -> str:
    if state.stopped:
        return "stopped"
    if state.live and state.holder is not None:
        return f"{state.holder.host}/{state.holder.pid}"
    return "done" if not state.remaining else "free"


async def _summary(worker: _Worker) -> JobSummary:
    """The summary (and exit code) over the jobs this worker looked at."""
    summary = JobSummary()
    jobs = [worker.options.job_id] if worker.options.job_id else worker.seen
    stops: list[str] = []
    for job_id in jobs:
        _, recipients = await worker.journal.counts(job_id)
        summary.recipients.update(recipients)
        for state in await worker.journal.lanes(job_id):
            if state.stopped and state.remaining:
                stops.append(f"{job_id} {state.lane}: {state.stopped}")
    if stops:
        summary.stopped = "; ".join(stops) + " (enqueue the job again to reopen a lane)"
    elif worker.stopping and (summary.recipients["pending"] or summary.recipients["in_flight"]):
        summary.stopped = "the worker was stopped (SIGTERM); other workers go on"
    return summary
