# A lane: one provider's chunks, sent one after the other, each journaled around its send
# ----------------------------------------------------------------------------------------
#
# One lane per provider client (= one pacing scope). A lane is a single task that sends its
# chunks one after the other, in seq order, through the client, whose gate keeps the
# documented cap. Order per provider comes from the lane, not from the limiter.
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
# error; its chunks stay PENDING and a later run sends them. A ConnectError or a
# PacingUnavailableError (nothing left the process) pauses the lane and retries, backing
# off, until ``outage_budget`` runs out; then the lane stops, chunks pending. Progress
# says so ("provider unreachable, retry in 20 s"). FAILED chunks are final unless a run
# asks for ``retry_failed=True``.
#
# Fencing up to the write: the in-flight commit is fenced by the journal, but it runs
# before the pacing departure (which can sleep an interval), the credentials and the HTTP
# write. So every attempt also passes a synchronous last-moment guard (``last_check``,
# called by the transport right before the request is handed to the session): it raises
# JobLockedError, nothing written, once the lease has ``lease_margin`` seconds or less
# left, by the wall clock (the journal's, for SQLite) and by the monotonic clock. The
# heartbeat renews every ttl/3, so a healthy owner always holds more than 2/3 ttl; an owner
# that was stopped (SIGSTOP, a paused VM) wakes up past its margin and sends nothing. A
# takeover needs the lease expired, so a stale owner can write only before expiry, i.e.
# before any takeover; what remains is the moment between the guard and the bytes leaving
# (microseconds on a pooled connection, up to the connect time on a new one, which the
# margin covers for a running process). docs/bulk.md says so.
#
# A stopped lane drains its queue without sending (those chunks were journaled pending by
# the reader); so does every lane once the run is stopping (the input broke).
"""The lanes of a bulk run: per-provider, in-order sending with the journal around each send."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import anyio
import attrs

from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    CertmailError,
    ConnectError,
    DeliveryUnknownError,
    JobLockedError,
    JournalError,
    PacingUnavailableError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from .._retry import Failure, OpKind, RetryPolicy, decide
from ._adapters import Adapter
from ._journal import Journal
from ._models import Chunk, ChunkOutcome, ChunkRecord, ChunkStatus, Lease, SendReport
from ._progress import Tracker
from ._resume import Reconciler, outcome_of

if TYPE_CHECKING:  # annotations only: anyio loads its streams with the first run
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["Hook", "Lane", "LaneSettings", "Run", "lease_margin"]

log = logging.getLogger("certmail_async.bulk")

#: A test hook called at the journal points of a send: (point, seq).
Hook = Callable[[str, int], None]

_ACCOUNT_ERRORS = (AuthenticationError, PaymentRequiredError, PermissionDeniedError)


def lease_margin(ttl: float, connect: float | None) -> float:
    """Seconds before its lease ends that a lane stops writing requests.

    At least a third of the ttl, and up to the connect time plus a second (a new
    connection must be open and written before the lease ends), capped at half the ttl (a
    third below a 6 s ttl) so an owner whose heartbeat (every ttl/3) keeps up always
    passes, with room for a slow renewal.

    Example:
        >>> lease_margin(30.0, 5.0), lease_margin(9.0, 5.0), lease_margin(1.5, 5.0)
        (10.0, 4.5, 0.5)
    """
    cap = ttl / 2 if ttl >= 6.0 else ttl / 3  # the heartbeat keeps >= 1 s (or ttl/3) of slack
    reach = cap if connect is None else min(connect + 1.0, cap)
    return max(ttl / 3, reach)


@attrs.define
class Run:
    """The state of one run: its lease, its lanes, and why it stopped.

    ``deadline`` is when the lease ends on this process's monotonic clock (taken before
    the journal call that set ``lease``), kept by the heartbeat with ``lease``.
    """

    job_id: str
    lease: Lease
    deadline: float = math.inf
    lanes: dict[str, str] = attrs.field(factory=dict)
    stopped: dict[str, CertmailError] = attrs.field(factory=dict)
    lost: JobLockedError | None = None
    stopping: bool = False  # the input failed: no new send

    def all_stopped(self) -> bool:
        return bool(self.lanes) and len(self.stopped) == len(self.lanes)

    def check_lease(self, margin: float) -> None:
        """Raise JobLockedError when the lease has ``margin`` seconds or less left.

        Synchronous and cheap: the last thing before a request is written.
        """
        lease = self.lease
        left = min(lease.expires_at.timestamp() - time.time(), self.deadline - time.monotonic())
        if self.lost is not None or left <= margin:
            raise JobLockedError(
                f"job {self.job_id!r}: the lease of {lease.owner_id} (token {lease.token}) "
                f"has {max(left, 0.0):.3f} s left, within its {margin:.3f} s safety margin "
                "(heartbeat late, or this process was stopped): the request was not written",
                owner=f"{lease.owner_id}@{lease.host} pid {lease.pid}",
                expires_in=max(left, 0.0),
            )


class LaneSettings(Protocol):
    """How patient a lane is: the dispatcher's arguments of these names, read when used."""

    lease_ttl: float
    max_rate_limit_retries: int
    outage_budget: float
    outage_backoff: RetryPolicy
    reconcile_tries: int
    reconcile_backoff: float


class _LaneStop(Exception):
    """A lane cannot go on (account error, outage budget spent, an unsettled send)."""

    def __init__(self, error: CertmailError) -> None:
        super().__init__(str(error))
        self.error = error


@attrs.define(kw_only=True)
class Lane:
    """One provider's lane in one run: sends its chunks in seq order, journaled, fenced."""

    adapter: Adapter
    state: Run
    journal: Journal
    reconciler: Reconciler
    settings: LaneSettings
    tracker: Tracker
    out: MemoryObjectSendStream[ChunkOutcome]
    hook: Hook

    async def run(self, queue: MemoryObjectReceiveStream[Chunk]) -> None:
        """Send every chunk of ``queue`` until it closes (or drain it once stopped)."""
        async with queue:
            async for chunk in queue:
                await self.send_one(chunk)  # once stopped: drained, pending for a later run
            if self.adapter.name not in self.state.stopped:
                self.tracker.lane(self.adapter.name, "done")

    async def send_one(self, chunk: Chunk) -> bool:
        """Send one chunk and hand its outcome on; False (nothing sent) once the lane stopped.

        A lane stop (account error, outage budget spent, an unsettled send) is recorded in
        ``state.stopped``; a lost lease or a journal failure propagates.
        """
        state, adapter, tracker = self.state, self.adapter, self.tracker
        if state.stopping or adapter.name in state.stopped:
            return False
        try:
            outcome = await self._send_chunk(chunk)
        except _LaneStop as stop:
            state.stopped[adapter.name] = stop.error
            tracker.lane(adapter.name, f"stopped: {stop.error}")
            log.warning(
                "job %s: %s lane stopped: %s", state.job_id, adapter.name, stop.error,
                extra={"job_id": state.job_id, "provider": adapter.name, "seq": chunk.seq},
            )  # fmt: skip
            return False
        if outcome is not None:
            await tracker.emit(self.out, outcome)
        return True

    async def _send_chunk(self, chunk: Chunk) -> ChunkOutcome | None:
        """Send one chunk; retry only what provably did not happen (429, no connection)."""
        state, adapter, tracker = self.state, self.adapter, self.tracker
        record = chunk.record(state.job_id)
        rate_limited = outage_tries = 0
        outage_since: float | None = None
        margin = lease_margin(self.settings.lease_ttl, adapter.connect_timeout)
        while True:
            marked = refused = False

            def last_check() -> None:
                # Right before the request is handed to the session (after the pacing
                # departure and the credentials): a lease about to end writes nothing.
                nonlocal refused
                try:
                    state.check_lease(margin)
                except JobLockedError:
                    refused = True
                    raise

            async def before_send() -> None:
                # After the pacing slot, right before the request is written: a crash while
                # waiting for the slot leaves the chunk pending, surely unsent. Fenced: an
                # owner whose lease was taken over gets JobLockedError here and sends nothing.
                nonlocal marked
                self.hook("before_in_flight", chunk.seq)
                await self.journal.mark_in_flight(state.lease, record)
                marked = True
                self.hook("after_in_flight", chunk.seq)

            try:
                report = await adapter.send(chunk, before_send, last_check)
                break
            except (JobLockedError, JournalError):
                # The guard stopped it: surely unsent. Pending again if the journal still
                # takes our lease (a late heartbeat, not a takeover): then try once more.
                if refused and marked and await self._unsent_after_guard(record):
                    continue
                raise  # the journal refused (lease lost, journal broken): never a chunk outcome
            except RateLimitError as error:
                # Refused, not processed; the scope is paused. Same chunk again: order holds.
                if error.status is None:
                    # Refused locally: the scope's pause (capped by the retry policy) is
                    # longer than the call's deadline. Nothing left the process; a lane
                    # waits the pause out instead of spinning through its retries.
                    await self._back_to_pending(record, marked, error)
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
                if rate_limited > self.settings.max_rate_limit_retries:
                    await self._back_to_pending(record, marked, error)
                    raise _LaneStop(error) from error
            except (ConnectError, PacingUnavailableError) as error:
                # Nothing left the process (the provider or the shared pacing gate did not
                # answer): the lane pauses and tries again (outage budget).
                await self._back_to_pending(record, marked, error)
                now = time.monotonic()
                outage_since = now if outage_since is None else outage_since
                left = self.settings.outage_budget - (now - outage_since)
                if left <= 0:
                    raise _LaneStop(error) from error
                pause = min(self._outage_pause(outage_tries), left)
                outage_tries += 1
                what = "pacing gate" if isinstance(error, PacingUnavailableError) else "provider"
                tracker.lane(
                    adapter.name,
                    f"paused: {what} unreachable, retry in {math.ceil(pause)} s",
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
                await self._back_to_pending(record, marked, error)
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
        self.hook("after_response", chunk.seq)
        await self.journal.mark_done(
            state.lease, record, report.status, provider_ids=report.provider_ids,
            error=report.error, failed_recipients=report.failed_recipients,
        )  # fmt: skip
        self.hook("after_done", chunk.seq)
        if report.status is ChunkStatus.UNKNOWN:
            return await self._settle_in_lane(chunk, report)
        return outcome_of(
            record, report.status, provider_ids=report.provider_ids, error=report.error,
            failed=report.failed_recipients,
        )  # fmt: skip

    def _outage_pause(self, tries: int) -> float:
        # The SDK's one retry decision (no second backoff loop here); at least half the
        # base, so a full-jitter zero does not spin against a dead host.
        policy = self.settings.outage_backoff
        decision = decide(
            kind=OpKind.SEND, failure=Failure.CONNECT, attempt=tries,
            max_retries=tries + 1, policy=policy,
        )  # fmt: skip
        return max(decision.wait, policy.base / 2)

    async def _back_to_pending(
        self, record: ChunkRecord, marked: bool, error: CertmailError
    ) -> None:
        if marked:  # committed in flight, but provably not sent: pending again
            await self.journal.mark_done(
                self.state.lease, record, ChunkStatus.PENDING, error=f"not sent: {error}"
            )

    async def _unsent_after_guard(self, record: ChunkRecord) -> bool:
        """The guard stopped the write: the chunk is pending again. True when recorded.

        Fenced like every transition: refused (False; the chunk stays in flight, to be
        reconciled) when the lease was taken over or lapsed, or the run lost it.
        """
        if self.state.lost is not None:
            return False
        with (
            anyio.move_on_after(5.0, shield=True),
            contextlib.suppress(JobLockedError, JournalError),
        ):
            await self.journal.mark_done(
                self.state.lease, record, ChunkStatus.PENDING,
                error="not sent: the lease was about to end",
            )  # fmt: skip
            return True
        return False

    async def _settle_in_lane(self, chunk: Chunk, report: SendReport) -> ChunkOutcome | None:
        """Reconcile an unknown send before the lane's next send; stop the lane if we cannot."""
        state, adapter = self.state, self.adapter
        extra = {"job_id": state.job_id, "provider": adapter.name, "seq": chunk.seq}
        log.warning("chunk %s: send unknown: %s", chunk.seq, report.error, extra=extra)
        settled = await self.reconciler.settle_patiently(
            lambda: state.lease, chunk, state.job_id,
            tries=self.settings.reconcile_tries, backoff=self.settings.reconcile_backoff,
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
        await self.tracker.emit(
            self.out, outcome_of(record, ChunkStatus.UNKNOWN, provider_ids=report.provider_ids,
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
