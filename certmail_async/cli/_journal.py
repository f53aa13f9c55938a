"""The ``certmail journal migrate / info`` commands, for SQLite and PostgreSQL journals.

``migrate`` creates a journal's schema or brings it to this version (PostgreSQL: under an
advisory lock, so it is safe to run from several hosts at once; run it before starting
workers of a new version). ``info`` shows the schema version and every job with its
recipients per state; it never creates anything.

Exit codes, as for the other journal commands: 0 ok, 1 the journal cannot be used
(unreachable, refused credentials, damaged, newer schema), 2 usage (a malformed URL, no
journal there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .._exceptions import CertmailError, JournalError
from ._exits import EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError

if TYPE_CHECKING:  # the journals load when a command runs, not for ``certmail --help``
    from ..bulk import Journal, PostgresJournal, SQLiteJournal

__all__ = ["JOURNAL_HELP", "journal_app"]

#: The help of every ``--journal`` option.
JOURNAL_HELP = (
    "The job journal: a SQLite file, or a postgresql:// URL (?schema=name picks the schema). "
    "Keep the password out of the command line: PGPASSWORD or ~/.pgpass."
)

journal_app = typer.Typer(
    help="Create, migrate and inspect a bulk journal (SQLite file or PostgreSQL).",
    no_args_is_help=True,
)

JournalOption = Annotated[str, typer.Option(help=JOURNAL_HELP, envvar="CERTMAIL_JOURNAL")]


def _open(journal: str, *, readonly: bool) -> SQLiteJournal | PostgresJournal:
    from ..bulk import PostgresJournal, SQLiteJournal
    from ._bulk import journal_spec

    spec = journal_spec(journal)
    if isinstance(spec, str):
        return PostgresJournal(spec, readonly=readonly)
    if readonly and not spec.is_file():
        raise UsageError(f"no journal at {spec}")
    return SQLiteJournal(spec, readonly=readonly)


def _kind(store: Journal) -> str:
    from ..bulk import PostgresJournal

    return "PostgreSQL" if isinstance(store, PostgresJournal) else "SQLite"


def _run(action: Callable[[], Coroutine[Any, Any, int]], console: Console) -> None:
    """Run one command; its error becomes a message and the documented exit code."""
    try:
        code = asyncio.run(action())
    except UsageError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None
    except JournalError as error:
        console.print(f"[red]journal error:[/] {error}")
        raise typer.Exit(code=EXIT_ERROR) from None
    except CertmailError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_ERROR) from None
    raise typer.Exit(code=code)


async def migrate_journal(journal: str, console: Console) -> int:
    """Create or migrate the schema; print the version; the exit code."""
    store = _open(journal, readonly=False)
    try:
        before = await store.schema_version()
        version = await store.migrate()
    finally:
        await store.aclose()
    change = (
        "created"
        if before == 0
        else ("already current" if before == version else f"migrated from {before}")
    )
    console.print(
        f"{_kind(store)} journal {store.display_name}: schema version {version} ({change})",
        soft_wrap=True,
    )
    return EXIT_OK


async def journal_info(journal: str, console: Console) -> int:
    """Print the schema version and each job's recipients per state; the exit code."""
    store = _open(journal, readonly=True)
    try:
        version = await store.schema_version()
        if version == 0:
            raise UsageError(
                f"no certmail journal at {store.display_name} (`certmail journal migrate` "
                "creates one)"
            )
        jobs = await store.jobs()
        header = f"{_kind(store)} journal {store.display_name}: schema version {version}"
        table = Table()
        for column in ("job", "created", "sent", "failed", "unknown", "in flight", "pending"):
            table.add_column(column, justify="left" if column in ("job", "created") else "right")
        for job_id in jobs:
            meta = await store.job_meta(job_id) or {}
            _, recipients = await store.counts(job_id)
            table.add_row(
                job_id,
                meta.get("created_at", "")[:19],
                *(
                    str(recipients.get(k, 0))
                    for k in ("sent", "failed", "unknown", "in_flight", "pending")
                ),
            )
    finally:
        await store.aclose()
    console.print(header, soft_wrap=True)
    console.print(table)
    console.print(f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} (recipients per state)")
    return EXIT_OK


@journal_app.command("migrate")
def migrate(journal: JournalOption = "jobs.sqlite") -> None:
    """Create the journal's schema, or bring it to this version; prints the version.

    Safe to run twice, and from several hosts at once. A journal written by a newer
    certmail_async is refused (exit 1). Exit codes: 0 ok; 1 journal unusable; 2 usage.
    """
    console = Console()
    _run(lambda: migrate_journal(journal, console), console)


@journal_app.command("info")
def info(journal: JournalOption = "jobs.sqlite") -> None:
    """The schema version and every job, with recipients per state (creates nothing).

    Exit codes: 0 ok; 1 journal unusable; 2 usage or no journal there.
    """
    console = Console()
    _run(lambda: journal_info(journal, console), console)
