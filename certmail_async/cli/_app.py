"""The ``certmail`` command line (typer + rich)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from .._exceptions import CertmailError, JobMismatchError, JournalError
from ._exits import EXIT_CODES_HELP, EXIT_ERROR, EXIT_USAGE, UsageError
from ._journal import JOURNAL_HELP, journal_app
from ._loadtest import loadtest_app, serve_fake

if TYPE_CHECKING:  # each command imports its module when it runs (a quick ``--help``)
    from ._bulk import JobSpec, JobSummary

__all__ = ["app", "main"]

app = typer.Typer(
    name="certmail",
    help="Italian certified e-mail from the command line (PEC Massiva, LegallyMail, openapi.it).",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
)
fake_app = typer.Typer(help="Fake provider servers for tests and load tests.", no_args_is_help=True)
app.add_typer(fake_app, name="fake")
app.add_typer(loadtest_app, name="loadtest")
app.add_typer(journal_app, name="journal")

Journal = Annotated[str, typer.Option(help=JOURNAL_HELP, envvar="CERTMAIL_JOURNAL")]
Wait = Annotated[
    bool, typer.Option(help="If another runner owns the job, wait for it instead of exiting 6.")
]
RetryFailed = Annotated[
    bool, typer.Option(help="Send FAILED chunks again (they are final otherwise).")
]
OutageBudget = Annotated[
    float,
    typer.Option(
        min=0.001,
        help="Seconds to keep retrying an unreachable provider before stopping (chunks stay "
        "pending, exit 5).",
    ),
]
PacingUrl = Annotated[
    str | None,
    typer.Option(
        envvar="CERTMAIL_PACING_URL",
        help="redis:// URL of the shared pacing gate: every process of a scope keeps one "
        "cap (fails closed while Redis is down).",
    ),
]
RetryUnknown = Annotated[
    bool,
    typer.Option(
        help="Resend chunks still not found at the provider "
        "(they may be sent twice if the provider is slow to show them)."
    ),
]


def _loopback(url: str | None) -> bool:
    """Whether ``url`` names a host on this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:
        return False
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_fake_flags(base_url: str | None, fake_credentials: bool, time_scale: float) -> None:
    """The fakes-only flags never reach a real provider (a UsageError otherwise)."""
    if fake_credentials and not _loopback(base_url):
        raise UsageError(
            "--fake-credentials only works with a fake: add --base-url with a loopback "
            f"address (e.g. http://127.0.0.1:8400), not {base_url or 'the production host'}"
        )
    if time_scale != 1.0 and not _loopback(base_url):
        raise UsageError(
            "--time-scale is for the fakes only: it needs --base-url with a loopback "
            f"address, not {base_url or 'the production host'}"
        )


def _guarded(action: Callable[[], int], console: Console) -> None:
    """The one error boundary of the job commands: a message and a documented exit code."""
    try:
        code = action()
    except UsageError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None
    except JobMismatchError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None
    except JournalError as error:
        console.print(f"[red]journal error:[/] {error}")
        raise typer.Exit(code=EXIT_ERROR) from None
    except CertmailError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_ERROR) from None
    raise typer.Exit(code=code)


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=1, max=1000, help="PEC Massiva messages to send.")] = 30,
    time_scale: Annotated[
        float, typer.Option(min=0.001, max=1.0, help="Seconds per provider second.")
    ] = 0.1,
) -> None:
    """A bulk job to both embedded fakes: paced lanes, a live progress bar, a crash-safe journal."""
    from ._demo import run_demo

    result = asyncio.run(run_demo(count=count, time_scale=time_scale, console=Console()))
    if result.rejected_by_cap:
        raise typer.Exit(code=1)


@app.command()
def bulk(
    csv_file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV with a 'recipient' column; optional subject, body, key.",
        ),
    ],
    provider: Annotated[str, typer.Option(help="pecmassiva or legallymail.")],
    job_id: Annotated[str, typer.Option(help="Names the job; running it again resumes it.")],
    journal: Journal = "jobs.sqlite",
    subject: Annotated[str | None, typer.Option(help="Subject for rows without one.")] = None,
    body: Annotated[str | None, typer.Option(help="Body for rows without one.")] = None,
    body_file: Annotated[Path | None, typer.Option(exists=True, help="Body from a file.")] = None,
    group: Annotated[
        bool,
        typer.Option(
            help="Merge consecutive rows with the same subject/body into one multi-recipient send."
        ),
    ] = False,
    chunk_size: Annotated[int | None, typer.Option(min=1, help="Recipients per send.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Another host (a fake, a proxy).")] = None,
    fake_credentials: Annotated[
        bool, typer.Option(help="Use the fakes' credentials (with certmail fake serve).")
    ] = False,
    time_scale: Annotated[
        float, typer.Option(min=0.0001, max=1.0, help="Pace on scaled time (fakes only).")
    ] = 1.0,
    dry_run: Annotated[bool, typer.Option(help="Only say how long it would take.")] = False,
    wait: Wait = False,
    retry_failed: RetryFailed = False,
    tag: Annotated[
        bool,
        typer.Option(
            help="Add ' [cm:<job>-<seq>]' to each subject: makes reconciliation certain, "
            "but recipients see it. Fixed for the life of a job."
        ),
    ] = False,
    outage_budget: OutageBudget = 600.0,
    no_run: Annotated[
        bool,
        typer.Option(
            "--no-run",
            help="Only enqueue the job in the journal for `certmail worker` processes (any "
            "host); send nothing, need no credentials.",
        ),
    ] = False,
    pacing_url: PacingUrl = None,
) -> None:
    """Send a CSV of recipients as a bulk job (credentials from CERTMAIL_* env variables).

    With --no-run the job is only enqueued (e.g. in a PostgreSQL journal) and `certmail
    worker` processes send it.

    Exit codes: 0 every recipient sent (--no-run: enqueued); 3 some failed; 4 some unknown;
    5 stopped with chunks pending; 6 job locked by another runner; 2 usage; 1 journal
    unusable.
    """
    from ._bulk import JobSpec, run_job
    from ._worker import enqueue_job

    if provider not in ("pecmassiva", "legallymail"):
        raise typer.BadParameter("pecmassiva or legallymail", param_hint="--provider")
    spec = JobSpec(
        input=str(csv_file.resolve()),
        provider=provider,
        subject=subject or "",
        body=body or "",
        body_file=str(body_file.resolve()) if body_file else "",
        group="1" if group else "0",
        chunk_size=str(chunk_size or ""),
        base_url=base_url or "",
        fake_credentials="1" if fake_credentials else "0",
        time_scale=str(time_scale),
        tag="1" if tag else "0",
    )
    console = Console()
    if dry_run:
        asyncio.run(_dry_run(spec, console))
        return
    try:
        _refuse_fake_flags(base_url, fake_credentials, time_scale)
    except UsageError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None
    if no_run:
        _guarded(
            lambda: asyncio.run(
                enqueue_job(spec, journal=journal, job_id=job_id, console=console, wait=wait)
            ),
            console,
        )
        return
    _guarded(
        lambda: _finish(
            asyncio.run(
                run_job(
                    spec, journal=journal, job_id=job_id, retry_unknown=False, console=console,
                    retry_failed=retry_failed, wait=wait, outage_budget=outage_budget,
                    pacing_url=pacing_url,
                )
            ),
            console,
        ),
        console,
    )  # fmt: skip


async def _dry_run(spec: JobSpec, console: Console) -> None:
    from ..bulk import BulkDispatcher
    from ._bulk import _messages, _say_estimate, make_client

    client = make_client(spec["provider"], base_url=None, fake_credentials=True, time_scale=1.0)
    async with client, BulkDispatcher(clients=[client], journal=":memory:") as d:
        _say_estimate(console, d.estimate(_messages(spec)))


@app.command()
def resume(
    job_id: Annotated[str, typer.Argument(help="The job to resume.")],
    journal: Journal = "jobs.sqlite",
    retry_unknown: RetryUnknown = False,
    retry_failed: RetryFailed = False,
    wait: Wait = False,
    outage_budget: OutageBudget = 600.0,
    pacing_url: PacingUrl = None,
) -> None:
    """Resume a job: reconcile in-flight sends with the provider, then send the rest.

    Exit codes as for ``bulk``: 0 every recipient sent; 3 some failed; 4 some unknown;
    5 stopped with chunks pending; 6 locked; 2 usage or unknown job; 1 journal unusable.
    """
    from ._bulk import run_job

    console = Console()

    def action() -> int:
        spec = asyncio.run(_spec(journal, job_id))
        _refuse_fake_flags(
            spec.get("base_url") or None,
            spec.get("fake_credentials") == "1",
            float(spec.get("time_scale") or 1.0),
        )
        summary = asyncio.run(
            run_job(
                spec, journal=journal, job_id=job_id, retry_unknown=retry_unknown,
                console=console, retry_failed=retry_failed, wait=wait,
                outage_budget=outage_budget, pacing_url=pacing_url,
            )
        )  # fmt: skip
        return _finish(summary, console)

    _guarded(action, console)


async def _spec(journal: str, job_id: str) -> JobSpec:
    from ._bulk import JobSpec, open_existing

    store = open_existing(journal)
    try:
        meta = await store.job_meta(job_id)
    finally:
        await store.aclose()
    if meta is None or "input" not in meta:
        raise UsageError(f"no CLI job {job_id!r} in {store.display_name}")
    return JobSpec(meta)


def _finish(summary: JobSummary, console: Console) -> int:
    for line in summary.lines():
        console.print(line)
    return summary.exit_code


@app.command()
def worker(
    journal: Journal = "jobs.sqlite",
    job_id: Annotated[
        str | None,
        typer.Option("--job", help="Work on this job only (default: every enqueued job)."),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(help="Keep polling for new jobs when no work is left (a service)."),
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option(min=0.05, max=60.0, help="Seconds between looks for a free lane (jittered)."),
    ] = 2.0,
    lease_ttl: Annotated[
        float,
        typer.Option(
            min=0.5,
            max=3600.0,
            help="Seconds a lane's lease lasts unless renewed (renewed every third): how long "
            "a dead worker's lane waits before another worker takes it.",
        ),
    ] = 30.0,
    pacing_url: PacingUrl = None,
    outage_budget: OutageBudget = 600.0,
) -> None:
    """Run the lanes of jobs enqueued with `certmail bulk --no-run`, one lane at a time.

    Start one per process, on as many hosts as you like, all with the same --journal (a
    postgresql:// URL for several hosts): each lane (a provider of a job) has one owner at a
    time, a dead worker's lane is taken over once its lease lapses. Credentials come from
    this host's CERTMAIL_* variables. Exits when no work is left (--follow: never).

    Exit codes: 0 every recipient sent; 3 some failed; 4 some unknown; 5 chunks pending (a
    lane stopped, or SIGTERM); 2 usage (no such job, not enqueued); 1 journal unusable.
    """
    from ._worker import WorkerOptions, run_worker

    console = Console()
    options = WorkerOptions(
        journal=journal, job_id=job_id, follow=follow, poll_interval=poll_interval,
        lease_ttl=lease_ttl, pacing_url=pacing_url, outage_budget=outage_budget,
    )  # fmt: skip
    _guarded(lambda: _finish(asyncio.run(run_worker(options, console)), console), console)


@app.command()
def status(
    job_id: Annotated[str, typer.Argument(help="The job.")],
    journal: Journal = "jobs.sqlite",
) -> None:
    """Counts per state, and the sends whose outcome is unknown.

    Exit codes: 0 every recipient sent; 3 some failed; 4 some unknown; 5 unfinished (chunks
    pending or in flight); 2 no such journal or job (no file is ever created).
    """
    from ._bulk import show_status

    console = Console()
    _guarded(lambda: asyncio.run(show_status(journal, job_id, console)), console)


@app.command()
def export(
    job_id: Annotated[str, typer.Argument(help="The job.")],
    journal: Journal = "jobs.sqlite",
    format: Annotated[str, typer.Option(help="csv or json (one object per line).")] = "csv",
    output: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """An audit of every recipient: provider ids, state, reason (2: no such journal or job)."""
    from ._bulk import write_export

    if format not in ("csv", "json"):
        raise typer.BadParameter("csv or json", param_hint="--format")
    errors = Console(stderr=True)

    def action() -> int:
        count = asyncio.run(write_export(journal, job_id, format, output))
        if output:
            errors.print(f"{count} recipients written to {output}")
        return 0

    _guarded(action, errors)


@app.command()
def receipts(
    job_id: Annotated[str, typer.Argument(help="The job.")],
    journal: Journal = "jobs.sqlite",
    evidence_dir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="Save the evidence under DIR/<job>/: PEC Massiva receipts (JSON, with their "
            "text) and LegallyMail certificate PDFs, their SHA-256 in the journal.",
        ),
    ] = None,
    cleanup: Annotated[
        bool,
        typer.Option(
            help="Delete a PEC Massiva send's receipts from the INBOX once every recipient is "
            "final and its receipts are saved in --evidence-dir and recorded in the journal.",
        ),
    ] = False,
    base_url: Annotated[
        str | None, typer.Option(help="Another host, for jobs not started by the CLI.")
    ] = None,
    fake_credentials: Annotated[
        bool, typer.Option(help="Use the fakes' credentials (loopback --base-url only).")
    ] = False,
) -> None:
    """Refresh each recipient's delivery evidence from the providers, with a progress bar.

    Recipients already settled are not asked again; calls keep the providers' caps
    (credentials from CERTMAIL_* env variables, or the job's own options for CLI jobs).

    Exit codes: 0 every recipient has a final outcome; 5 some are still pending; 2 usage or
    unknown job; 1 journal or provider unusable.
    """
    from ._receipts import refresh_job

    console = Console()
    try:
        _refuse_fake_flags(base_url, fake_credentials, 1.0)
    except UsageError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None
    _guarded(
        lambda: asyncio.run(
            refresh_job(
                journal, job_id, evidence_dir=evidence_dir, cleanup=cleanup, base_url=base_url,
                fake_credentials=fake_credentials, console=console, refuse=_refuse_fake_flags,
            )
        ),
        console,
    )  # fmt: skip


@fake_app.command("serve")
def fake_serve(
    provider: Annotated[
        str, typer.Argument(help="pecmassiva, legallymail or openapi_pec")
    ] = "pecmassiva",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8400,
    time_scale: Annotated[
        float, typer.Option(help="Seconds per provider second for the caps (1.0 = real).")
    ] = 1.0,
    cap: Annotated[bool, typer.Option(help="Enforce the provider's rate cap.")] = True,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes sharing the port (SO_REUSEPORT); needs --no-cap.")
    ] = 1,
    latency: Annotated[
        str | None,
        typer.Option(help="Server latency: fixed:5ms, uniform:1ms:20ms, longtail:5ms:200ms."),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Random fault KIND=RATE, repeatable (500 502 503 429 reset timeout lost)."
        ),
    ] = None,
    ledger_keep: Annotated[
        int | None, typer.Option(min=1, help="Keep only the latest N sends in full (soak tests).")
    ] = None,
    inbox_limit: Annotated[
        int | None, typer.Option(min=1, help="PEC Massiva: keep only the latest N INBOX messages.")
    ] = None,
) -> None:
    """Run a fake provider on loopback until interrupted (first line: its URL).

    Metrics (requests, 429s, ledger, latency histogram, CPU) at ``/_fake/metrics``.
    """
    serve_fake(
        provider, port=port, time_scale=time_scale, cap=cap, workers=workers, latency=latency,
        faults=fault, ledger_keep=ledger_keep, inbox_limit=inbox_limit,
    )  # fmt: skip


def main() -> None:
    """Entry point of the ``certmail`` script."""
    app()
