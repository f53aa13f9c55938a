# Resuming a job: verify the input, then settle what may have been sent
# ----------------------------------------------------------------------
#
# Verification. Running a job id again re-reads the input from the start and compares each
# item's digest with the journaled chunk of the same seq, in pages, before any request. The
# digest covers every recipient of the message exactly as given, valid or not, so a changed
# address (even one replaced by an invalid one) is a JobMismatchError, never a replay.
#
# Reconciliation marks an in-doubt chunk (IN_FLIGHT after a crash, UNKNOWN after a 5xx,
# timeout or reset) SENT only on unique evidence:
#
# 1. the adapter lists candidates: provider records naming every recipient of the chunk
#    and no other, with its subject (and its body where the provider exposes it), created
#    in ``[in_flight_at - skew, next send + skew)``; "next send" is the first later
#    ``in_flight_at`` of the same provider in the journal (any job), or now. ``skew``
#    (``reconcile_skew``, 2 s by default) allows for the provider's clock and for its
#    timestamps having whole seconds; both bounds are floored to the second;
# 2. candidates claimed by any chunk of any job in this journal are dropped;
# 3. exactly one candidate must remain, and no OTHER in-doubt chunk (any job) may be able to
#    own it (same provider, subject and recipients, its own window containing the record).
#
# Otherwise the chunk stays UNKNOWN, with a reason naming what was found. The evidence
# (record id, fields matched, its time) goes to the journal with the outcome.
#
# Out of view: when the provider's list no longer reaches back to the chunk's window
# (LegallyMail's latest 25 e-mails, filled since by other sends), finding nothing proves
# nothing. The reason then carries OUT_OF_VIEW, the journal keeps it in the chunk's error
# text (the schema has no field for it; OUT_OF_VIEW is the one place that names it), and
# every later run recognises it: such a chunk stays UNKNOWN, ``retry_unknown`` never
# resends it. The user checks the provider (dashboard, ``emails.retrieve``) and, to send
# it after all, sends those recipients as a new job.
"""Verification of a re-run's input and evidence-only reconciliation of in-doubt chunks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta

import anyio
import attrs

from .._exceptions import CertmailError, JobMismatchError
from ._adapters import Adapter, Candidate
from ._journal import Journal
from ._models import Chunk, ChunkOutcome, ChunkRecord, ChunkStatus, Evidence, Lease

__all__ = [
    "OUT_OF_VIEW",
    "Invalid",
    "Reconciler",
    "Settlement",
    "Verified",
    "is_out_of_view",
    "outcome_of",
    "verify",
]

log = logging.getLogger("certmail_async.bulk")

_PAGE = 500
_IN_DOUBT = (ChunkStatus.IN_FLIGHT, ChunkStatus.UNKNOWN)

#: The mark of an in-doubt chunk whose evidence may lie beyond the provider's list window.
#: Kept in the chunk's error text in the journal; a chunk carrying it is never resent by
#: ``retry_unknown`` (see :func:`is_out_of_view`).
OUT_OF_VIEW = "out of view (the provider's list no longer reaches back to this send)"


def is_out_of_view(record: ChunkRecord) -> bool:
    """Whether an earlier run found the chunk's evidence out of the provider's view.

    Example:
        >>> is_out_of_view(ChunkRecord(job_id="j", seq=0, provider="legallymail",
        ...                            recipients=("a@example.com",), digest="d",
        ...                            subject_digest="s", status=ChunkStatus.UNKNOWN,
        ...                            error=f"HTTP 500; {OUT_OF_VIEW}"))
        True
    """
    return record.error is not None and OUT_OF_VIEW in record.error


@attrs.frozen(kw_only=True)
class Invalid:
    """An input item that fails without a request (bad message or recipients): FAILED."""

    record: ChunkRecord


@attrs.frozen(kw_only=True)
class Settlement:
    """What reconciliation established: an outcome, or why the chunk stays UNKNOWN."""

    outcome: ChunkOutcome | None = None
    reason: str = ""
    ambiguous: bool = False
    out_of_view: bool = False  # the evidence may lie beyond the provider's list

    @property
    def resendable(self) -> bool:
        """Whether ``retry_unknown`` may send the chunk again: neither ambiguous nor out of view."""
        return self.outcome is None and not self.ambiguous and not self.out_of_view


@attrs.frozen(kw_only=True)
class Verified:
    """The journaled prefix of a re-run's input, sorted by what it needs."""

    replays: list[ChunkOutcome]  # final already: SKIPPED
    uncertain: list[tuple[ChunkRecord, Chunk]]  # in doubt: reconcile first
    held: list[Chunk]  # never sent (or FAILED with retry_failed): send


def outcome_of(
    record: ChunkRecord,
    status: ChunkStatus,
    *,
    provider_ids: tuple[str, ...] | None = None,
    error: str | None = None,
    failed: Mapping[str, str] | None = None,
    evidence: Evidence | None = None,
) -> ChunkOutcome:
    """A :class:`ChunkOutcome` from a journal record."""
    return ChunkOutcome(
        seq=record.seq,
        provider=record.provider,
        recipients=record.recipients,
        status=status,
        provider_ids=provider_ids if provider_ids is not None else record.provider_ids,
        error=error,
        key=record.key,
        failed_recipients=dict(failed if failed is not None else record.failed_recipients),
        evidence=evidence if evidence is not None else record.evidence,
    )


def skipped(record: ChunkRecord) -> ChunkOutcome:
    """A chunk final in an earlier run, replayed without a request."""
    return attrs.evolve(outcome_of(record, ChunkStatus.SKIPPED, error=record.error),
                        previous=record.status)  # fmt: skip


async def verify(
    journal: Journal,
    job_id: str,
    items: AsyncIterator[Chunk | Invalid],
    *,
    retry_failed: bool,
) -> Verified:
    """Re-read the journaled prefix of the input; no request until all of it matches."""
    frontier = await journal.max_seq(job_id)
    out = Verified(replays=[], uncertain=[], held=[])
    page: dict[int, ChunkRecord] = {}
    page_end = -1
    seen = -1
    while seen < frontier:
        try:
            item = await items.__anext__()
        except StopAsyncIteration:
            raise JobMismatchError(
                f"job {job_id!r} journals {frontier + 1} chunks but the input has only "
                f"{seen + 1}: this is not the same input",
                seq=seen + 1,
            ) from None
        seq = item.record.seq if isinstance(item, Invalid) else item.seq
        seen = seq
        if seq > page_end:
            rows = await journal.records(job_id, after_seq=seq - 1, limit=_PAGE)
            page = {r.seq: r for r in rows}
            page_end = rows[-1].seq if rows else seq
        record = page.get(seq)
        item_digest = item.record.digest if isinstance(item, Invalid) else item.digest
        if record is not None and record.digest != item_digest:
            raise JobMismatchError(
                f"job {job_id!r}: chunk {seq} differs from the journal; "
                "use a new job id for new content",
                seq=seq,
            )
        if isinstance(item, Invalid):
            out.replays.append(skipped(record) if record is not None else
                               outcome_of(item.record, ChunkStatus.FAILED,
                                          error=item.record.error))  # fmt: skip
        elif record is None or record.status is ChunkStatus.PENDING:
            out.held.append(item)
        elif record.status in _IN_DOUBT:
            out.uncertain.append((record, item))
        elif record.status is ChunkStatus.FAILED and retry_failed:
            out.held.append(item)
        else:
            out.replays.append(skipped(record))
    return out


def _floor(when: datetime) -> datetime:
    return when.replace(microsecond=0)


class Reconciler:
    """Settles in-doubt chunks against the providers' records, on unique evidence only.

    Example:
        >>> # reconciler = Reconciler(journal, adapters, skew=2.0)
        >>> # settlement = await reconciler.settle(lease, record, chunk)
    """

    def __init__(self, journal: Journal, adapters: Mapping[str, Adapter], *, skew: float) -> None:
        self.journal = journal
        self.adapters = adapters
        self.skew = timedelta(seconds=skew)

    async def _window(self, record: ChunkRecord) -> tuple[datetime, datetime] | None:
        if record.in_flight_at is None:
            return None
        start = record.in_flight_at
        nxt = await self.journal.next_in_flight_at(record.provider, start)
        end = nxt if nxt is not None else datetime.now(UTC)
        return _floor(start - self.skew), end + self.skew

    async def settle(self, lease: Lease, record: ChunkRecord, chunk: Chunk | None) -> Settlement:
        """Mark ``record`` SENT (or FAILED) on unique evidence; otherwise say why not.

        A chunk an earlier run found out of view stays so (its reason keeps OUT_OF_VIEW).
        """
        settled = await self._settle(lease, record, chunk)
        if settled.outcome is None and (settled.out_of_view or is_out_of_view(record)):
            reason = settled.reason
            if OUT_OF_VIEW not in reason:
                reason = f"{reason}; {OUT_OF_VIEW}"
            settled = attrs.evolve(settled, reason=reason, out_of_view=True)
        return settled

    async def _settle(self, lease: Lease, record: ChunkRecord, chunk: Chunk | None) -> Settlement:
        adapter = self.adapters.get(record.provider)
        if adapter is None:
            return Settlement(reason=f"no {record.provider} client to look for it")
        window = await self._window(record)
        if window is None:
            return Settlement(reason="no in-flight time in the journal to bound the search")
        try:
            search = await adapter.candidates(record, chunk, *window)
        except CertmailError as error:
            return Settlement(reason=f"could not read the provider's records: {error}")
        found = search.candidates
        ids = [c.record_id for c in found]
        claimed = await self.journal.claimed(record.provider, ids) if ids else set()
        claimed -= set(record.provider_ids)  # claimed by this very chunk (a 5xx's reference)
        free = [c for c in found if c.record_id not in claimed]
        if not free:
            if search.out_of_view or is_out_of_view(record):
                # Once out of view, always: a later look proves nothing either.
                reason = (
                    f"{OUT_OF_VIEW}: not found among the provider's latest records, it may "
                    "have been sent; check the provider (dashboard, emails.retrieve) and "
                    "decide (to send it, use a new job)"
                )
                return self._log(record, Settlement(reason=reason, out_of_view=True))
            reason = "not found at the provider"
            if found:
                reason += f" (matching records {sorted(claimed)} belong to other chunks)"
            return self._log(record, Settlement(reason=reason))
        if len(free) > 1:
            names = ", ".join(c.record_id for c in free)
            return self._log(
                record,
                Settlement(
                    reason=f"ambiguous: provider records {names} could each be this send",
                    ambiguous=True,
                ),
            )
        candidate = free[0]
        rivals = await self._rivals(record, candidate)
        if rivals:
            return self._log(
                record,
                Settlement(
                    reason=(
                        f"ambiguous: provider record {candidate.record_id} could belong to "
                        f"chunk {record.job_id}:{record.seq} or {', '.join(rivals)}"
                    ),
                    ambiguous=True,
                ),
            )
        return self._log(record, await self._claim(lease, record, candidate))

    async def _claim(self, lease: Lease, record: ChunkRecord, found: Candidate) -> Settlement:
        report = found.report
        evidence = Evidence(
            record_id=found.record_id,
            matched=found.matched,
            created_at=found.created_at,
            note="found at the provider after an interruption",
        )
        error = report.error or "found at the provider after an interruption"
        await self.journal.mark_done(
            lease,
            record,
            report.status,
            provider_ids=report.provider_ids,
            error=error,
            failed_recipients=report.failed_recipients,
            evidence=evidence,
        )
        return Settlement(
            outcome=outcome_of(
                record,
                report.status,
                provider_ids=report.provider_ids,
                error=error,
                failed=report.failed_recipients,
                evidence=evidence,
            )
        )

    async def _rivals(self, record: ChunkRecord, found: Candidate) -> list[str]:
        """Other in-doubt chunks (any job) that could own the same provider record."""
        wanted = {a.lower() for a in record.recipients}
        rivals: list[str] = []
        for job in await self.journal.jobs():
            after = -1
            while True:
                rows = await self.journal.records(job, _IN_DOUBT, after_seq=after, limit=_PAGE)
                for other in rows:
                    if (other.job_id, other.seq) == (record.job_id, record.seq):
                        continue
                    if (
                        other.provider != record.provider
                        or other.subject_digest != record.subject_digest
                        or {a.lower() for a in other.recipients} != wanted
                    ):
                        continue
                    window = await self._window(other)
                    at = found.created_at
                    if window is None or at is None or window[0] <= at < window[1]:
                        rivals.append(f"{other.job_id}:{other.seq}")
                if len(rows) < _PAGE:
                    break
                after = rows[-1].seq
        return rivals

    async def settle_patiently(
        self, lease: Callable[[], Lease], chunk: Chunk, job_id: str, *, tries: int,
        backoff: float,
    ) -> Settlement:  # fmt: skip
        """Settle a chunk that just went UNKNOWN: ``tries`` looks, backing off (receipts lag).

        Stops early on an ambiguous or out-of-view answer.
        """
        settled = Settlement(reason="not found at the provider")
        for attempt in range(tries):
            if attempt:
                await anyio.sleep(backoff * 2 ** (attempt - 1))
            record = await self.journal.get(job_id, chunk.seq)
            if record is None or record.status is not ChunkStatus.UNKNOWN:
                break
            settled = await self.settle(lease(), record, chunk)
            if settled.outcome is not None or settled.ambiguous or settled.out_of_view:
                break  # waiting cannot make it unique, nor bring it back into view
        return settled

    async def give_up(self, lease: Lease, record: ChunkRecord, reason: str) -> ChunkOutcome:
        """Record a chunk as UNKNOWN with the reason (in flight at a crash: says so)."""
        if record.status is ChunkStatus.IN_FLIGHT:
            reason = f"in flight when the last run stopped; {reason}"
        await self.journal.mark_done(
            lease, record, ChunkStatus.UNKNOWN, provider_ids=record.provider_ids, error=reason
        )
        return outcome_of(record, ChunkStatus.UNKNOWN, error=reason)

    async def reconcile_job(
        self, lease: Callable[[], Lease], job_id: str
    ) -> AsyncIterator[ChunkOutcome]:
        """Settle every in-flight and unknown chunk of a job, without its input, in pages."""
        after = -1
        while True:
            page = await self.journal.records(job_id, _IN_DOUBT, after_seq=after, limit=_PAGE)
            for record in page:
                settled = await self.settle(lease(), record, None)
                if settled.outcome is not None:
                    yield settled.outcome
                else:
                    yield await self.give_up(lease(), record, settled.reason)
            if len(page) < _PAGE:
                return
            after = page[-1].seq

    @staticmethod
    def _log(record: ChunkRecord, settlement: Settlement) -> Settlement:
        extra = {"job_id": record.job_id, "provider": record.provider, "seq": record.seq}
        if settlement.outcome is not None:
            evidence = settlement.outcome.evidence
            log.warning(
                "chunk %s of %s reconciled: %s (record %s, matched %s)",
                record.seq, record.job_id, settlement.outcome.status.value,
                evidence.record_id if evidence else "?",
                ",".join(evidence.matched) if evidence else "",
                extra=extra,
            )  # fmt: skip
        else:
            log.warning(
                "chunk %s of %s not reconciled: %s",
                record.seq, record.job_id, settlement.reason, extra=extra,
            )  # fmt: skip
        return settlement
