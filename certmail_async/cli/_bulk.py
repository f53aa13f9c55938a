"""The ``certmail bulk / resume / status / export`` commands."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import attrs
from rich.console import Console
from rich.table import Table

from .._exceptions import (
    CertmailError,
    JobLockedError,
    JobMismatchError,
    JournalError,
    ValidationError,
)
from .._pacing import RateLimit
from .._pacing_redis import RedisPacing
from ..bulk import (
    BulkDispatcher,
    ChunkOutcome,
    ChunkStatus,
    Estimate,
    Journal,
    OutgoingMessage,
    PostgresJournal,
    Progress,
    SQLiteJournal,
)
from ..bulk._delivery import RecipientEvidence
from ..bulk._journal_postgres import is_postgres_url
from ..bulk._models import RejectedMessage
from ..legallymail import LegallyMailClient
from ..legallymail._client import DEFAULT_RATE_LIMIT as LM_RATE
from ..pecmassiva import PecMassivaClient
from ..pecmassiva._client import DEFAULT_RATE_LIMIT as PM_RATE

# Re-exported: the other command modules import these from here.
from ._exits import EXIT_CODES_HELP as EXIT_CODES_HELP
from ._exits import EXIT_ERROR as EXIT_ERROR
from ._exits import EXIT_FAILED as EXIT_FAILED
from ._exits import EXIT_LOCKED as EXIT_LOCKED
from ._exits import EXIT_OK as EXIT_OK
from ._exits import EXIT_STOPPED as EXIT_STOPPED
from ._exits import EXIT_UNKNOWN as EXIT_UNKNOWN
from ._exits import EXIT_USAGE as EXIT_USAGE
from ._exits import UsageError as UsageError
from ._progress import job_progress

__all__ = [
    "EVIDENCE_FIELDS",
    "EXIT_CODES_HELP",
    "JobSpec",
    "JobSummary",
    "UsageError",
    "journal_spec",
    "make_client",
    "read_csv",
    "run_job",
    "show_status",
    "write_export",
]

#: Where credentials come from: the environment only (never the command line, which
#: other users of the machine can read in the process list).
ENV = {
    "pecmassiva": (
        "CERTMAIL_PECMASSIVA_TOKEN",
        "CERTMAIL_PECMASSIVA_USERNAME",
        "CERTMAIL_PECMASSIVA_PASSWORD",
    ),
    "legallymail": ("CERTMAIL_LEGALLYMAIL_TOKEN",),
}
FAKE_CREDENTIALS = {
    "pecmassiva": {"token": "fake-pecmassiva-token", "username": "box@pecmassiva.com",
                   "password": "fake-mailbox-password"},
    "legallymail": {"token": "fake-legallymail-token"},
}  # fmt: skip


class JobSpec(dict[str, str]):
    """The options of a CLI job, stored in the journal so ``resume`` can rebuild the input."""


def read_csv(
    path: Path, *, provider: str, subject: str | None, body: str | None, group: bool
) -> Iterator[OutgoingMessage | RejectedMessage]:
    """Messages from a CSV, read lazily row by row (a bad row: a RejectedMessage).

    Columns: ``recipient`` (or ``email``); optional ``subject``, ``body`` and ``key``
    overriding the defaults.

    With ``group``, consecutive rows with the same subject and body become one message to
    several recipients (each recipient then sees the others, as with a shared To: line).
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        column = "recipient" if "recipient" in columns else "email"
        if column not in columns:
            raise SystemExit(f"{path}: needs a 'recipient' (or 'email') column")
        batch: list[str] = []
        current: tuple[str, str, str | None] | None = None
        for line, row in enumerate(reader, start=2):
            row_subject = row.get("subject") or subject
            row_body = row.get("body") or body
            if not row_subject or not row_body:
                raise SystemExit(
                    f"{path}:{line}: no subject/body (add columns or --subject/--body)"
                )
            key = row.get("key") or None
            address = (row.get(column) or "").strip()
            spec = (row_subject, row_body, None if group else key)
            if group and current is not None and spec == current:
                batch.append(address)
                continue
            if batch and current is not None:
                yield _message(provider, batch, current)
            batch, current = [address], spec
        if batch and current is not None:
            yield _message(provider, batch, current)


def _message(
    provider: str, recipients: list[str], spec: tuple[str, str, str | None]
) -> OutgoingMessage | RejectedMessage:
    """One message from CSV rows; a row that cannot be one fails alone (the job goes on)."""
    subject, body, key = spec
    try:
        return OutgoingMessage(
            provider=provider,  # type: ignore[arg-type]
            recipients=recipients, subject=subject, body=body, key=key,
        )  # fmt: skip
    except ValidationError as error:
        return RejectedMessage(
            provider=provider, recipients=tuple(recipients), key=key, error=error
        )


def make_client(
    provider: str, *, base_url: str | None, fake_credentials: bool, time_scale: float
) -> Any:
    """A client from environment credentials (or the fakes' own), paced at the scaled cap."""
    if fake_credentials:
        creds: dict[str, str] = dict(FAKE_CREDENTIALS[provider])
    else:
        missing = [name for name in ENV[provider] if not os.environ.get(name)]
        if missing:
            raise SystemExit(f"set {', '.join(missing)} in the environment")
        values = [os.environ[name] for name in ENV[provider]]
        keys = ("token", "username", "password")[: len(values)]
        creds = dict(zip(keys, values, strict=True))
    if provider == "pecmassiva":
        rate = RateLimit(requests=PM_RATE.requests, per=PM_RATE.per * time_scale)
        return PecMassivaClient(base_url=base_url, rate_limit=rate, **creds)  # type: ignore[arg-type]
    rate = RateLimit(requests=LM_RATE.requests, per=LM_RATE.per * time_scale)
    return LegallyMailClient(base_url=base_url, rate_limit=rate, **creds)  # type: ignore[arg-type]


def _messages(spec: JobSpec) -> Iterator[OutgoingMessage]:
    body = spec.get("body")
    if spec.get("body_file"):
        body = Path(spec["body_file"]).read_text(encoding="utf-8")
    rows = read_csv(
        Path(spec["input"]),
        provider=spec["provider"],
        subject=spec.get("subject") or None,
        body=body or None,
        group=spec.get("group") == "1",
    )
    # The dispatcher checks every item it reads: a RejectedMessage fails alone, naming
    # its field, like any other bad item of the input.
    return cast(Iterator[OutgoingMessage], rows)


def _say_estimate(console: Console, estimate: Estimate) -> None:
    hours = estimate.seconds / 3600
    duration = f"{hours:.1f} hours" if hours >= 1 else f"{estimate.seconds:.0f} seconds"
    console.print(
        f"{estimate.messages} messages, {estimate.recipients} recipients, "
        f"{sum(estimate.chunks.values())} sends {dict(estimate.chunks)}: about [bold]{duration}[/] "
        "at the providers' documented caps"
    )


@attrs.define
class JobSummary:
    """What a run left: recipients per state, reasons with counts, and why it stopped."""

    recipients: Counter[str] = attrs.field(factory=Counter)
    reasons: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    stopped: str | None = None
    locked: str | None = None
    failed_inside: int = 0  # recipients that failed inside sent chunks (e.g. a bounce)

    @property
    def exit_code(self) -> int:
        """The documented exit code for this summary."""
        if self.locked:
            return EXIT_LOCKED
        if self.stopped or self.recipients["pending"] or self.recipients["in_flight"]:
            return EXIT_STOPPED
        if self.recipients["unknown"]:
            return EXIT_UNKNOWN
        if self.recipients["failed"] or self.failed_inside:
            return EXIT_FAILED
        return EXIT_OK

    def add(self, outcome: ChunkOutcome) -> None:
        """Count one outcome's reasons (for the summary)."""
        status = outcome.previous if outcome.status is ChunkStatus.SKIPPED else outcome.status
        if status is None:
            return
        if status in (ChunkStatus.FAILED, ChunkStatus.UNKNOWN):
            self.reasons[(status.value, _short(outcome.error))] += len(outcome.recipients)
        elif outcome.failed_recipients:
            self.failed_inside += len(outcome.failed_recipients)
            for why in outcome.failed_recipients.values():
                self.reasons[("failed", _short(why))] += 1

    def lines(self) -> list[str]:
        """The summary as printed."""
        order = ("sent", "failed", "unknown", "pending", "in_flight")
        counts = ", ".join(f"{k} {self.recipients[k]}" for k in order if self.recipients[k])
        if self.failed_inside:
            counts += f" ({self.failed_inside} of the sent failed at the provider)"
        out = [f"recipients: {counts or 'none'}"]
        for (status, why), n in self.reasons.most_common():
            out.append(f"  {status} x{n}: {why}")
        if self.stopped:
            out.append(f"stopped: {self.stopped}")
        if self.locked:
            out.append(f"locked: {self.locked}")
        return out


def _short(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "no reason recorded").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def run_job(
    spec: JobSpec,
    *,
    journal: str | Path,
    job_id: str,
    retry_unknown: bool,
    console: Console,
    retry_failed: bool = False,
    wait: bool = False,
    outage_budget: float = 600.0,
    pacing_url: str | None = None,
) -> JobSummary:
    """Run (or resume) a CLI job with a live progress bar; returns what it left.

    ``pacing_url`` (``--pacing-url``, ``CERTMAIL_PACING_URL``) paces through a Redis gate
    shared with every other process of the scope; never stored in the journal.
    """
    pacing = pacing_backend(pacing_url)
    client = make_client(
        spec["provider"],
        base_url=spec.get("base_url") or None,
        fake_credentials=spec.get("fake_credentials") == "1",
        time_scale=float(spec.get("time_scale", "1")),
    )
    summary = JobSummary()
    counts: dict[str, int] = {}
    notice: list[str] = [""]
    said: list[str | None] = [None]

    def on_progress(progress: Progress) -> None:
        # An outage yields no outcome for a while: say it now, on its own line and in the bar.
        notice[0] = f" [yellow]{progress.notice}[/]" if progress.notice else ""
        if progress.notice and progress.notice != said[0]:
            console.print(f"[yellow]{progress.notice}[/]")
        said[0] = progress.notice

    async with (
        pacing if pacing is not None else contextlib.nullcontext(),
        client,
        BulkDispatcher(
            clients=[client],
            journal=journal_spec(journal),
            chunk_sizes={spec["provider"]: int(spec["chunk_size"])}
            if spec.get("chunk_size")
            else None,
            correlation_tag=spec.get("tag") == "1",
            on_progress=on_progress,
            outage_budget=outage_budget,
            pacing=pacing,
        ) as dispatcher,
    ):
        estimate = dispatcher.estimate(_messages(spec))
        _say_estimate(console, estimate)
        try:
            with job_progress(console) as bar:
                task = bar.add_task(job_id, total=estimate.recipients, tally="")
                async for outcome in dispatcher.run(
                    job_id, _messages(spec), retry_unknown=retry_unknown,
                    retry_failed=retry_failed, wait=wait, estimate=estimate, meta=dict(spec),
                ):  # fmt: skip
                    counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
                    summary.add(outcome)
                    tally = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                    bar.update(task, advance=len(outcome.recipients), tally=tally + notice[0])
                    if outcome.status is ChunkStatus.UNKNOWN:
                        console.print(f"[yellow]unknown[/] chunk {outcome.seq}: {outcome.error}")
        except JobLockedError as error:
            summary.locked = str(error)
            return summary
        except (JobMismatchError, JournalError, ValidationError):
            raise
        except CertmailError as error:  # a stopped lane: its chunks stay pending
            summary.stopped = str(error)
        status = await dispatcher.status(job_id)
    summary.recipients.update(status.recipients)
    return summary


def pacing_backend(url: str | None) -> RedisPacing | None:
    """The Redis gate ``--pacing-url`` names (None without one); a bad URL is a UsageError."""
    if not url:
        return None
    try:
        return RedisPacing(url)
    except CertmailError as error:  # the message never echoes the URL
        raise UsageError(f"--pacing-url: {error}") from None


def journal_spec(journal: str | Path) -> str | Path:
    """A ``--journal`` value checked before use: a postgresql:// URL or a SQLite path.

    A malformed URL is a UsageError (the message never repeats the URL: it may hold a
    password).
    """
    if isinstance(journal, str) and is_postgres_url(journal):
        try:
            PostgresJournal(journal)  # parses only; connects to nothing
        except ValidationError as error:
            raise UsageError(f"--journal: {error}") from None
        return journal
    return Path(journal)


def open_existing(journal: str | Path) -> Journal:
    """The journal ``journal`` names, read-only; never creates a file or a schema.

    A missing SQLite file is a UsageError; a PostgreSQL schema that does not exist reads
    as an empty journal (so its jobs are unknown: UsageError too).
    """
    spec = journal_spec(journal)
    if isinstance(spec, str):
        return PostgresJournal(spec, readonly=True)
    if not spec.is_file():
        raise UsageError(f"no journal at {spec}")
    return SQLiteJournal(spec, readonly=True)


async def show_status(journal: str | Path, job_id: str, console: Console) -> int:
    """Print counts per state and the chunks that need a decision; returns the exit code."""
    store = open_existing(journal)
    async with BulkDispatcher(clients=[], journal=store) as dispatcher:
        try:
            status = await dispatcher.status(job_id)
        except KeyError:
            raise UsageError(f"no job {job_id!r} in {store.display_name}") from None
        finally:
            await store.aclose()
    table = Table(title=f"job {job_id}")
    table.add_column("state")
    table.add_column("sends", justify="right")
    table.add_column("recipients", justify="right")
    for state in ("sent", "failed", "unknown", "in_flight", "pending"):
        if state in status.chunks:
            table.add_row(state, str(status.chunks[state]), str(status.recipients.get(state, 0)))
    console.print(table)
    for lane in status.lanes:  # an enqueued job: which worker owns each lane
        if lane.stopped:
            who = f"[red]stopped[/]: {lane.stopped}"
        elif lane.live and lane.holder is not None:
            holder = lane.holder
            who = f"run by {holder.owner_id}@{holder.host} pid {holder.pid} (token {holder.token})"
        else:
            who = "free" if lane.remaining else "done"
        console.print(f"lane {lane.lane}: {who}; {lane.remaining} sends left")
    for outcome in (*status.in_flight, *status.unknown):
        console.print(
            f"[yellow]{outcome.status.value}[/] chunk {outcome.seq} {outcome.provider} "
            f"{', '.join(outcome.recipients)}: {outcome.error or 'interrupted'}"
        )
    for record in status.reconciled:
        if record.evidence is not None:
            ev = record.evidence
            console.print(
                f"[green]reconciled[/] chunk {record.seq} {record.provider} -> record "
                f"{ev.record_id} (matched: {', '.join(ev.matched)})"
            )
    if status.truncated:
        console.print("(lists cut short; `certmail export` has every recipient)")
    if status.unknown:
        console.print(
            "Unknown sends may have happened. `certmail resume` reconciles them again; "
            "`--retry-unknown` resends those still not found at the provider."
        )
    summary = JobSummary()
    summary.recipients.update(status.recipients)
    return summary.exit_code


#: The delivery-evidence columns of the export (``certmail receipts`` fills them).
EVIDENCE_FIELDS = [
    "outcome",
    "final",
    "evidence_source",
    "evidence_strength",
    "rule",
    "deciding_kind",
    "raw_kind",
    "accepted_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "warned_at",
    "decided_at",
    "receipts",
    "receipts_digest",
    "recipient_ref",
    "certificates",
    "evidence_updated_at",
    "cleaned_at",
]


def _when(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _evidence_columns(e: RecipientEvidence | None, *, as_json: bool) -> dict[str, Any]:
    if e is None:
        return {name: "" for name in EVIDENCE_FIELDS}
    certificates: Any = [
        {"kind": c.kind, "sha256": c.sha256, "size": c.size, "path": c.path,
         "provider_hash": c.provider_hash, "matches": c.matches}
        for c in e.certificates
    ]  # fmt: skip
    if not as_json:
        certificates = " ".join(f"{c.kind}:{c.sha256}:{c.path}" for c in e.certificates)
    return {
        "outcome": e.outcome,
        "final": e.final if as_json else ("yes" if e.final else "no"),
        "evidence_source": e.source,
        "evidence_strength": e.strength,
        "rule": e.rule or "",
        "deciding_kind": e.kind or "",
        "raw_kind": e.raw_kind or "",
        "accepted_at": _when(e.accepted_at),
        "delivered_at": _when(e.delivered_at),
        "read_at": _when(e.read_at),
        "failed_at": _when(e.failed_at),
        "warned_at": _when(e.warned_at),
        "decided_at": _when(e.decided_at),
        "receipts": e.receipts,
        "receipts_digest": e.receipts_digest or "",
        "recipient_ref": e.recipient_ref or "",
        "certificates": certificates,
        "evidence_updated_at": _when(e.updated_at),
        "cleaned_at": _when(e.cleaned_at),
    }


class _EvidencePages:
    """The evidence rows of a job, read in pages in step with the export's seq order."""

    def __init__(self, store: Journal, job_id: str) -> None:
        self._store = store
        self._job_id = job_id
        self._rows: dict[tuple[int, str], RecipientEvidence] = {}
        self._loaded_to = -1
        self._exhausted = False

    async def get(self, seq: int, recipient: str) -> RecipientEvidence | None:
        if seq > self._loaded_to and not self._exhausted:
            rows = await self._store.evidence(self._job_id, after_seq=seq - 1, limit=1000)
            self._rows = {(r.seq, r.recipient): r for r in rows}
            if rows:
                self._loaded_to = rows[-1].seq
            else:
                self._exhausted = True
        return self._rows.get((seq, recipient.strip().lower()))


async def write_export(journal: str | Path, job_id: str, fmt: str, output: Path | None) -> int:
    """Write one row per recipient (CSV or JSON lines) to ``output`` or stdout, in pages.

    Each row carries the chunk's state and provider ids and, once ``certmail receipts`` ran,
    the recipient's delivery evidence (`EVIDENCE_FIELDS`): the audit trail.
    """
    store = open_existing(journal)
    try:
        if await store.job_meta(job_id) is None:
            raise UsageError(f"no job {job_id!r} in {store.display_name}")
    except BaseException:
        await store.aclose()
        raise
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    fields = [
        "job_id",
        "seq",
        "provider",
        "recipient",
        "status",
        "provider_ids",
        "error",
        "key",
        "updated_at",
        "evidence_record",
        "evidence_matched",
        *EVIDENCE_FIELDS,
    ]
    count = 0
    try:
        writer = csv.DictWriter(handle, fieldnames=fields) if fmt == "csv" else None
        if writer is not None:
            writer.writeheader()
        evidence = _EvidencePages(store, job_id)
        async with BulkDispatcher(clients=[], journal=store) as dispatcher:
            async for r in dispatcher.export(job_id):
                row = {
                    "job_id": r.job_id,
                    "seq": r.seq,
                    "provider": r.provider,
                    "recipient": r.recipient,
                    "status": r.status.value,
                    "provider_ids": " ".join(r.provider_ids),
                    "error": r.error or "",
                    "key": r.key or "",
                    "updated_at": r.updated_at.isoformat() if r.updated_at else "",
                    "evidence_record": r.evidence.record_id if r.evidence else "",
                    "evidence_matched": " ".join(r.evidence.matched) if r.evidence else "",
                    **_evidence_columns(
                        await evidence.get(r.seq, r.recipient), as_json=writer is None
                    ),
                }
                if writer is not None:
                    writer.writerow(row)
                else:
                    handle.write(json.dumps(row) + "\n")
                count += 1
    finally:
        await store.aclose()
        if output:
            handle.close()
    return count
