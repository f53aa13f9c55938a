# Status and export: read a job back from its journal, in pages
# --------------------------------------------------------------
#
# Both read through the Journal seam only, one page of chunks at a time (seq > last seen,
# LIMIT page_size), so memory stays flat whatever the job's size: a 1,000,000-recipient
# export used to hold every record in one list (about 1 GiB peak RSS). Neither writes:
# an unknown job id is JobNotFoundError, and the SQLite journal creates no file for reads.
"""Status and export of a bulk job, read from its journal in pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from .._exceptions import JobNotFoundError
from ._journal import Journal
from ._models import ChunkOutcome, ChunkRecord, ChunkStatus, JobStatus, RecipientRecord

__all__ = ["PAGE_SIZE", "export_records", "job_status"]

#: Chunks read per journal query by status and export.
PAGE_SIZE = 1000

UNKNOWN_REASON = "may have been sent: not found at the provider; decide (retry_unknown)"
IN_FLIGHT_REASON = (
    "in flight: the answer was not recorded (the run stopped, or is still running); "
    "resume reconciles it with the provider"
)


async def _meta(journal: Journal, job_id: str) -> dict[str, str]:
    meta = await journal.job_meta(job_id)
    if meta is None:
        raise JobNotFoundError(
            f"no job {job_id!r} in {journal.display_name}", job_id=job_id, path=journal.display_name
        )
    return meta


async def _listed(
    journal: Journal,
    job_id: str,
    statuses: list[ChunkStatus] | None,
    limit: int,
    *,
    with_evidence: bool = False,
) -> tuple[list[ChunkRecord], bool]:
    """Up to ``limit`` chunks, read in pages; True when more exist."""
    found: list[ChunkRecord] = []
    after = -1
    while len(found) <= limit:
        page = await journal.records(
            job_id,
            statuses,
            after_seq=after,
            limit=min(PAGE_SIZE, limit + 1 - len(found)),
            with_evidence=with_evidence,
        )
        if not page:
            break
        found += page
        after = page[-1].seq
    return found[:limit], len(found) > limit


def _outcome(record: ChunkRecord, reason: str | None) -> ChunkOutcome:
    return ChunkOutcome(
        seq=record.seq,
        provider=record.provider,
        recipients=record.recipients,
        status=record.status,
        provider_ids=record.provider_ids,
        error=reason,
        key=record.key,
        failed_recipients=dict(record.failed_recipients),
    )


async def job_status(journal: Journal, job_id: str, *, max_listed: int = 1000) -> JobStatus:
    """Counts per state, the chunks that need a decision (with reasons), and the evidence.

    Raises [JobNotFoundError][certmail_async.JobNotFoundError] for a job id the journal does not
    hold. Lists at most ``max_listed`` chunks of each kind (``truncated`` says so); the
    counts always cover the whole job.

    Examples:
        >>> async def show(journal: Journal) -> None:
        ...     status = await job_status(journal, "avvisi-2026-11")
        ...     for outcome in status.unknown:
        ...         print(outcome.seq, outcome.error)
    """
    meta = await _meta(journal, job_id)
    chunks, recipients = await journal.counts(job_id)
    unknown, more_unknown = await _listed(journal, job_id, [ChunkStatus.UNKNOWN], max_listed)
    flying, more_flying = await _listed(journal, job_id, [ChunkStatus.IN_FLIGHT], max_listed)
    reconciled, more_reconciled = await _listed(
        journal, job_id, None, max_listed, with_evidence=True
    )
    created = meta.pop("created_at", None)
    return JobStatus(
        job_id=job_id,
        chunks=chunks,
        recipients=recipients,
        unknown=tuple(_outcome(r, r.error or UNKNOWN_REASON) for r in unknown),
        in_flight=tuple(_outcome(r, r.error or IN_FLIGHT_REASON) for r in flying),
        created_at=datetime.fromisoformat(created) if created else None,
        meta=meta,
        reconciled=tuple(reconciled),
        truncated=more_unknown or more_flying or more_reconciled,
        lanes=tuple(await journal.lanes(job_id)),
    )


async def export_records(
    journal: Journal, job_id: str, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[RecipientRecord]:
    """Every recipient of the job with its state, provider ids, reason and evidence.

    Reads ``page_size`` chunks at a time, so memory stays flat for any job size. Raises
    [JobNotFoundError][certmail_async.JobNotFoundError] (before yielding) for an unknown job id.

    Examples:
        >>> async def audit(journal: Journal) -> None:
        ...     async for row in export_records(journal, "avvisi-2026-11"):
        ...         print(row.recipient, row.status.value, *row.provider_ids)
    """
    await _meta(journal, job_id)
    after = -1
    while True:
        page = await journal.records(job_id, after_seq=after, limit=page_size)
        if not page:
            return
        for record in page:
            for row in _recipients(job_id, record):
                yield row
        after = page[-1].seq


def _recipients(job_id: str, record: ChunkRecord) -> list[RecipientRecord]:
    # LegallyMail ids are (parent, one per recipient in order): give each its own.
    per_recipient = len(record.provider_ids) == len(record.recipients) + 1
    sent = record.status is ChunkStatus.SENT
    rows = []
    for i, recipient in enumerate(record.recipients):
        failed = record.failed_recipients.get(recipient)
        status = ChunkStatus.FAILED if failed and sent else record.status
        ids = (
            (record.provider_ids[0], record.provider_ids[i + 1])
            if per_recipient
            else record.provider_ids
        )
        reason = failed or record.error
        if reason is None and status is ChunkStatus.UNKNOWN:
            reason = UNKNOWN_REASON
        elif reason is None and status is ChunkStatus.IN_FLIGHT:
            reason = IN_FLIGHT_REASON
        rows.append(
            RecipientRecord(
                job_id=job_id,
                seq=record.seq,
                provider=record.provider,
                recipient=recipient,
                status=status,
                provider_ids=ids,
                error=reason,
                key=record.key,
                updated_at=record.updated_at,
                evidence=record.evidence,
            )
        )
    return rows
