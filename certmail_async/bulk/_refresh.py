# Refreshing a job's delivery evidence (``certmail receipts JOB``)
# ------------------------------------------------------------------
#
# For every SENT chunk whose recipients are not settled yet, ask the provider what became of
# them and store one RecipientEvidence row per recipient (the journal keeps the latest and
# never lowers it). Within the caps: every call goes through the client, hence its pacing
# gate; PEC Massiva sends are read from the INBOX pages with a SendTracker (25 receipts a
# call) unless there are fewer pending sends than INBOX pages, when reading each send is
# cheaper; LegallyMail e-mails are read one call each (its 10 per minute per IP covers every
# endpoint, and no list shows per-recipient states).
#
# Settled recipients are not asked again: PEC final states, LegallyMail read or failed (a
# delivered e-mail may still be read). With an evidence directory, PEC Massiva receipts
# read with their text are saved there (``<dir>/receipts/<code>.json``, fsync'd) and recorded
# in the journal by digest, and LegallyMail certificate PDFs go to ``<dir>/certificates/``
# with their SHA-256 in the evidence rows. ``cleanup`` then deletes a PEC Massiva send's
# receipts from the INBOX, only when every recipient is final and right after its receipts
# were read again, saved and recorded: what the INBOX held at that moment is archived
# first. A receipt arriving between that read and the delete would be lost; for a send
# whose recipients are all final none is expected.
"""Refresh a bulk job's delivery evidence from the providers (``certmail receipts``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from .._exceptions import (
    CertmailError,
    JobNotFoundError,
    NotFoundError,
    ResponseDecodeError,
    ValidationError,
)
from ..legallymail import LegallyMailClient
from ..legallymail._evidence import EvidenceFile, safe_name
from ..pecmassiva import PecMassivaClient
from ..receipts import (
    DeliveryReport,
    LegallyMailOutcome,
    LegallyMailState,
    Receipt,
    delivery_report,
)
from ..receipts._errors import DocumentUnavailableError
from ..receipts._kinds import normalise_address
from ._delivery import (
    ArchivedReceipt,
    RecipientEvidence,
    evidence_from_legallymail,
    evidence_from_pec,
    receipt_digest,
    receipt_json,
)
from ._journal import Journal
from ._models import ChunkRecord, ChunkStatus

__all__ = ["RefreshSummary", "refresh_evidence"]

PAGE = 500  # chunks read per journal query


@attrs.define(kw_only=True)
class RefreshSummary:
    """What a refresh did: recipients per outcome, files saved, provider calls spent.

    ``outcomes`` counts the recipients of the job by their stored outcome after the
    refresh (those never asked included); ``errors`` holds the first few problems that
    did not stop it (a certificate that could not be fetched, say).

    Examples:
        >>> RefreshSummary().final
        0
    """

    chunks: int = 0
    asked: int = 0
    skipped: int = 0
    written: int = 0
    outcomes: dict[str, int] = attrs.field(factory=dict)
    final: int = 0
    pending: int = 0
    certificates: int = 0
    archived: int = 0
    cleaned: int = 0
    calls: int = 0
    errors: list[str] = attrs.field(factory=list)

    def note(self, problem: str) -> None:
        """Keep a problem that did not stop the refresh (the first 20)."""
        if len(self.errors) < 20:
            self.errors.append(problem)


@attrs.define(kw_only=True)
class _Pec:
    record: ChunkRecord
    code: str
    recipients: tuple[str, ...]
    report: DeliveryReport | None = None
    receipts: tuple[Receipt, ...] | None = None  # read with their text
    cleaned: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def _settled(row: RecipientEvidence) -> bool:
    if row.provider == "legallymail":
        return row.outcome in (LegallyMailState.READ.value, LegallyMailState.FAILED.value)
    return row.final


async def _stored(
    journal: Journal, job_id: str, page: Sequence[ChunkRecord]
) -> dict[int, dict[str, RecipientEvidence]]:
    """The stored evidence of the chunks of one page, by seq then recipient."""
    found: dict[int, dict[str, RecipientEvidence]] = {}
    if not page:
        return found
    rows = await journal.evidence(job_id, after_seq=page[0].seq - 1, limit=len(page))
    last = page[-1].seq
    for row in rows:
        if row.seq <= last:
            found.setdefault(row.seq, {})[row.recipient] = row
    return found


def _write_json(path: Path, items: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".part-{path.name}")
    with temporary.open("w", encoding="utf-8") as out:
        json.dump(items, out, ensure_ascii=False, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


async def _archive(
    journal: Journal,
    job_id: str,
    send: _Pec,
    receipts: Sequence[Receipt],
    folder: Path,
    summary: RefreshSummary,
) -> set[str]:
    """Save a send's receipts (merged with those saved before) and record them; digests."""
    path = folder / "receipts" / f"{safe_name(send.code)}.json"
    items: dict[str, dict[str, Any]] = {}
    if path.exists():
        for item in await asyncio.to_thread(lambda: json.loads(path.read_text("utf-8"))):
            items[str(item["digest"])] = item
    for receipt in receipts:
        items.setdefault(receipt_digest(receipt), {"digest": receipt_digest(receipt),
                                                   **receipt_json(receipt)})  # fmt: skip
    ordered = sorted(items.values(), key=lambda i: (str(i["date"]), str(i["digest"])))
    await asyncio.to_thread(_write_json, path, ordered)
    relative = str(path.relative_to(folder))
    summary.archived += await journal.archive_receipts(
        [
            ArchivedReceipt(
                job_id=job_id,
                seq=send.record.seq,
                provider_id=send.code,
                digest=str(item["digest"]),
                kind=str(item["kind"]),
                received_at=datetime.fromisoformat(str(item["date"])),
                file=relative,
            )
            for item in ordered
        ]
    )
    return set(items)


async def _pec_reports(
    client: PecMassivaClient, sends: list[_Pec], *, bodies: bool, summary: RefreshSummary
) -> None:
    """Fill each send's report: INBOX pages through a tracker, or one read per send."""
    if not sends:
        return
    first = await client.inbox.page(1)
    summary.calls += 1
    if len(sends) <= first.pages:
        limit = asyncio.Semaphore(4)

        async def one(send: _Pec) -> None:
            async with limit:
                found = await client.sends.receipts(send.code)
            summary.calls += 1
            send.receipts = found.receipts
            send.report = found.report(recipients=send.recipients)

        await asyncio.gather(*(one(s) for s in sends))
        return
    tracker = client.sends.tracker(bodies=bodies, direct_every=1)
    for send in sends:
        tracker.add(send.code, recipients=send.recipients)
    await tracker.poll()
    summary.calls += tracker.calls
    for send in sends:
        tracked = tracker.tracked(send.code)
        send.report = tracked.report
        send.receipts = tracked.fetched


async def _cleanup(
    client: PecMassivaClient,
    journal: Journal,
    job_id: str,
    send: _Pec,
    folder: Path,
    summary: RefreshSummary,
) -> bool:
    """Read the send's receipts again, archive them, then delete them from the INBOX."""
    found = await client.sends.receipts(send.code)
    summary.calls += 1
    if not found.receipts:
        send.cleaned = True  # nothing left in the INBOX (deleted before)
        return True
    archived = await _archive(journal, job_id, send, found.receipts, folder, summary)
    recorded = {r.digest for r in await journal.archived_receipts(job_id, send.record.seq)}
    if not {receipt_digest(r) for r in found.receipts} <= (archived & recorded):
        summary.note(f"send {send.code}: receipts not archived, left in the INBOX")
        return False
    with contextlib.suppress(NotFoundError):  # gone meanwhile: nothing to delete
        await client.sends.delete(send.code)
    summary.calls += 1
    summary.cleaned += 1
    send.cleaned = True
    return True


async def refresh_evidence(
    journal: Journal,
    job_id: str,
    *,
    clients: Sequence[PecMassivaClient | LegallyMailClient],
    evidence_dir: str | os.PathLike[str] | None = None,
    cleanup: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RefreshSummary:
    """Ask the providers what became of each recipient of a job; store it in the journal.

    ``clients`` are the job's providers' clients (their pacing applies). With
    ``evidence_dir`` (a directory for this job), PEC Massiva receipts are saved there with
    their text and LegallyMail certificate PDFs with their SHA-256; ``cleanup`` (which
    needs it) deletes a PEC Massiva send's receipts from the INBOX once every recipient is
    final and its receipts are saved and recorded. ``on_progress(done, total)`` follows
    the SENT chunks. Recipients already settled are not asked again.

    Examples:
        >>> import asyncio, os, tempfile
        >>> from certmail_async import BulkDispatcher, OutgoingMessage
        >>> from certmail_async.testing import run_fake
        >>> async def main(folder: str) -> dict[str, int]:
        ...     journal = os.path.join(folder, "jobs.sqlite")
        ...     async with run_fake("pecmassiva", send_rate=None) as fake:
        ...         fake.state.outcomes["ghost@pec.example.it"] = "not-delivered"
        ...         async with fake.client(rate_limit=None) as client:
        ...             async with BulkDispatcher(clients=[client],
        ...                                       journal=journal) as d:
        ...                 message = OutgoingMessage(
        ...                     provider="pecmassiva", subject="Avviso", body="Testo",
        ...                     recipients=["anna@pec.example.it",
        ...                                 "ghost@pec.example.it"])
        ...                 _ = [o async for o in d.run("avvisi", [message])]
        ...                 summary = await refresh_evidence(
        ...                     d.journal, "avvisi", clients=[client])
        ...     return summary.outcomes
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(folder))
        {'delivered': 1, 'not-delivered': 1}
    """
    if cleanup and evidence_dir is None:
        raise ValidationError(
            "cleanup deletes receipts from the INBOX: it needs an evidence directory to "
            "archive them in first",
            field="cleanup",
        )
    folder = Path(evidence_dir) if evidence_dir is not None else None
    if folder is not None and folder.exists() and not folder.is_dir():
        raise ValidationError(f"{str(folder)!r} is not a directory", field="evidence_dir")
    if await journal.job_meta(job_id) is None:
        raise JobNotFoundError(
            f"no job {job_id!r} in {journal.display_name}", job_id=job_id, path=journal.display_name
        )
    pecmassiva: PecMassivaClient | None = None
    legallymail: LegallyMailClient | None = None
    for given in clients:
        if isinstance(given, PecMassivaClient):
            pecmassiva = given
        elif isinstance(given, LegallyMailClient):
            legallymail = given
        else:
            raise ValidationError(
                f"expected a PecMassivaClient or LegallyMailClient, got {type(given).__name__}",
                field="clients",
            )
    chunks, _ = await journal.counts(job_id)
    total = chunks.get(ChunkStatus.SENT.value, 0)
    summary = RefreshSummary()
    pec: list[_Pec] = []
    after = -1
    done = 0
    while True:
        page = await journal.records(job_id, [ChunkStatus.SENT], after_seq=after, limit=PAGE)
        if not page:
            break
        after = page[-1].seq
        stored = await _stored(journal, job_id, page)
        for record in page:
            summary.chunks += 1
            rows = stored.get(record.seq, {})
            recipients = tuple(normalise_address(r) for r in record.recipients)
            settled = all(r in rows and _settled(rows[r]) for r in recipients)
            cleaned = all(r in rows and rows[r].cleaned_at is not None for r in recipients)
            client = pecmassiva if record.provider == "pecmassiva" else legallymail
            if not record.provider_ids or client is None:
                summary.skipped += len(recipients)
                done += 1
                continue
            if record.provider == "pecmassiva":
                if settled and (not cleanup or cleaned):
                    summary.skipped += len(recipients)
                    done += 1
                    continue
                pec.append(_Pec(record=record, code=record.provider_ids[0],
                                recipients=recipients, cleaned=cleaned))  # fmt: skip
                continue
            if settled and (folder is None or all(rows[r].certificates or
                                                  rows[r].outcome == "failed"
                                                  for r in recipients)):  # fmt: skip
                summary.skipped += len(recipients)
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
                continue
            summary.asked += len(recipients)
            assert legallymail is not None  # noqa: S101 - chosen above for this provider
            await _legallymail(legallymail, journal, job_id, record, rows, folder, summary)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
        if on_progress is not None:
            on_progress(done, total)
    if pec and pecmassiva is not None:
        summary.asked += sum(len(s.recipients) for s in pec)
        await _pec_reports(pecmassiva, pec, bodies=folder is not None, summary=summary)
        for send in pec:
            await _store_pec(pecmassiva, journal, job_id, send, folder, cleanup, summary)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
    await _count(journal, job_id, summary)
    return summary


async def _store_pec(
    client: PecMassivaClient,
    journal: Journal,
    job_id: str,
    send: _Pec,
    folder: Path | None,
    cleanup: bool,
    summary: RefreshSummary,
) -> None:
    report = send.report or delivery_report((), recipients=send.recipients)
    if folder is not None and send.receipts:
        await _archive(journal, job_id, send, send.receipts, folder, summary)
    if cleanup and folder is not None and report.final and not send.cleaned:
        try:
            await _cleanup(client, journal, job_id, send, folder, summary)
        except CertmailError as error:
            summary.note(f"send {send.code}: cleanup failed ({error})")
    cleaned_at = _now() if send.cleaned else None
    rows = [
        attrs.evolve(
            evidence_from_pec(job_id, send.record.seq, send.code, report[address]),
            cleaned_at=cleaned_at,
        )
        for address in send.recipients
    ]
    summary.written += await journal.put_evidence(rows)


async def _legallymail(
    client: LegallyMailClient,
    journal: Journal,
    job_id: str,
    record: ChunkRecord,
    stored: dict[str, RecipientEvidence],
    folder: Path | None,
    summary: RefreshSummary,
) -> None:
    parent = record.provider_ids[0]
    try:
        outcomes = await client.emails.track(parent)
    except (NotFoundError, ResponseDecodeError) as error:
        # This e-mail's own problem: noted, the others go on. An account error (401, 403,
        # credits), an outage or a 429 past its wait stops the refresh (raised).
        summary.calls += 1
        summary.note(f"e-mail {parent}: {error}")
        return
    summary.calls += 1
    files: dict[str, list[EvidenceFile]] = {}
    if folder is not None:
        wanted: list[LegallyMailOutcome] = []
        for outcome in outcomes:
            have = {c.kind for c in stored[outcome.address].certificates} if (
                outcome.address in stored
            ) else set()  # fmt: skip
            missing = tuple(
                c for c in outcome.certificates if c.certificate_type.strip().lower() not in have
            )
            if missing:
                wanted.append(attrs.evolve(outcome, certificates=missing))
        for outcome in wanted:
            try:
                saved = await client.emails.save_certificates(
                    parent, folder / "certificates", outcomes=[outcome]
                )
            except (NotFoundError, ResponseDecodeError, DocumentUnavailableError) as error:
                summary.note(f"e-mail {parent}, {outcome.address}: certificate: {error}")
                summary.calls += 1
                continue
            summary.calls += len(saved)
            summary.certificates += len(saved)
            files.setdefault(outcome.address, []).extend(saved)
    rows = []
    recipients = {normalise_address(r) for r in record.recipients}
    for outcome in outcomes:
        if outcome.address not in recipients:
            continue
        row = evidence_from_legallymail(
            job_id, record.seq, outcome, files.get(outcome.address, ()), relative_to=folder
        )
        previous = stored.get(outcome.address)
        if previous is not None and previous.certificates:
            # Files saved by earlier refreshes stay: new ones join them (by kind).
            fresh = {c.kind for c in row.certificates}
            kept = tuple(c for c in previous.certificates if c.kind not in fresh)
            merged = tuple(sorted((*kept, *row.certificates), key=lambda c: c.kind))
            strength = row.strength
            if any(c.kind == row.kind and c.matches for c in merged):
                strength = 3  # the deciding certificate is saved and matches
            row = attrs.evolve(row, certificates=merged, strength=strength)
        rows.append(row)
    summary.written += await journal.put_evidence(rows)


async def _count(journal: Journal, job_id: str, summary: RefreshSummary) -> None:
    after = -1
    outcomes: dict[str, int] = {}
    while True:
        rows = await journal.evidence(job_id, after_seq=after, limit=PAGE)
        if not rows:
            break
        for row in rows:
            outcomes[row.outcome] = outcomes.get(row.outcome, 0) + 1
            if row.final:
                summary.final += 1
            else:
                summary.pending += 1
        after = rows[-1].seq
    summary.outcomes = dict(sorted(outcomes.items()))
