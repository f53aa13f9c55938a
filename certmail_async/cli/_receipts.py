"""The ``certmail receipts JOB`` command: refresh a job's delivery evidence."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..bulk import ChunkStatus, Journal, PostgresJournal, SQLiteJournal
from ..bulk._refresh import RefreshSummary, refresh_evidence
from ._bulk import EXIT_OK, EXIT_STOPPED, UsageError, journal_spec, make_client
from ._progress import job_progress

__all__ = ["RECEIPTS_EXIT_HELP", "refresh_job"]

RECEIPTS_EXIT_HELP = (
    "Exit codes: 0 every recipient has a final outcome; 5 some are still pending (run it "
    "again later); 2 usage or unknown job; 1 journal or provider unusable."
)


def _open_writable(journal: str | Path) -> Journal:
    """The existing journal, for writing evidence (a missing SQLite file: UsageError)."""
    spec = journal_spec(journal)
    if isinstance(spec, str):
        return PostgresJournal(spec)
    if not spec.is_file():
        raise UsageError(f"no journal at {spec}")
    return SQLiteJournal(spec)


async def _providers(store: Any, job_id: str) -> set[str]:
    """The providers of the job's SENT chunks."""
    found: set[str] = set()
    after = -1
    while True:
        page = await store.records(job_id, [ChunkStatus.SENT], after_seq=after, limit=1000)
        if not page:
            return found
        found.update(r.provider for r in page)
        after = page[-1].seq


def _clients(
    meta: dict[str, str],
    providers: set[str],
    base_url: str | None,
    fake: bool,
    refuse: Callable[[str | None, bool, float], None],
) -> list[Any]:
    """Clients of the job's providers: from its CLI spec when it has one, else the options."""
    spec_url = meta.get("base_url") or None
    spec_fake = meta.get("fake_credentials") == "1"
    scale = float(meta.get("time_scale") or 1.0)
    if "input" in meta:
        refuse(spec_url, spec_fake, scale)  # as resume does: fake flags on loopback only
    clients = []
    for provider in sorted(providers):
        if "input" in meta and meta.get("provider") == provider:
            url, creds, time_scale = spec_url, spec_fake, scale
        else:
            url, creds, time_scale = base_url, fake, 1.0
        clients.append(
            make_client(provider, base_url=url, fake_credentials=creds, time_scale=time_scale)
        )
    return clients


async def refresh_job(
    journal: str | Path,
    job_id: str,
    *,
    evidence_dir: Path | None,
    cleanup: bool,
    base_url: str | None,
    fake_credentials: bool,
    console: Console,
    refuse: Callable[[str | None, bool, float], None],
) -> int:
    """Refresh the evidence of one job with a progress bar; the exit code."""
    if cleanup and evidence_dir is None:
        raise UsageError("--cleanup needs --evidence-dir: receipts are archived there first")
    store = _open_writable(journal)
    try:
        meta = await store.job_meta(job_id)
        if meta is None:
            raise UsageError(f"no job {job_id!r} in {store.display_name}")
        providers = await _providers(store, job_id)
        clients = _clients(meta, providers, base_url, fake_credentials, refuse)
        folder = evidence_dir / job_id if evidence_dir is not None else None
        try:
            with job_progress(console) as bar:
                task = bar.add_task("receipts", total=None, tally="")

                def on_progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total or None)

                summary = await refresh_evidence(
                    store,
                    job_id,
                    clients=clients,
                    evidence_dir=folder,
                    cleanup=cleanup,
                    on_progress=on_progress,
                )
        finally:
            for client in clients:
                await client.aclose()
    finally:
        await store.aclose()
    _show(console, job_id, summary, folder)
    return EXIT_OK if summary.pending == 0 else EXIT_STOPPED


def _show(console: Console, job_id: str, summary: RefreshSummary, folder: Path | None) -> None:
    table = Table(title=f"Delivery evidence of {job_id}")
    table.add_column("outcome")
    table.add_column("recipients", justify="right")
    for outcome, count in summary.outcomes.items():
        table.add_row(outcome, str(count))
    console.print(table)
    console.print(
        f"asked {summary.asked} recipients ({summary.skipped} already settled), "
        f"{summary.final} final, {summary.pending} pending; {summary.calls} provider calls"
    )
    if folder is not None:
        console.print(
            f"evidence in {folder}{os.sep}: {summary.certificates} certificate files, "
            f"{summary.archived} receipts archived, {summary.cleaned} sends cleaned from the INBOX"
        )
    for problem in summary.errors:
        console.print(f"[yellow]note:[/] {problem}")
