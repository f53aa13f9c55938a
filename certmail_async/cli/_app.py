"""The ``certmail`` command line (typer + rich)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ._bulk import JobSpec, run_job, show_status, write_export
from ._demo import run_demo

__all__ = ["app", "main"]

app = typer.Typer(
    name="certmail",
    help="Italian certified e-mail from the command line (PEC Massiva, LegallyMail, openapi.it).",
    no_args_is_help=True,
    add_completion=False,
)
fake_app = typer.Typer(help="Fake provider servers for tests and load tests.", no_args_is_help=True)
app.add_typer(fake_app, name="fake")

Journal = Annotated[Path, typer.Option(help="The job journal (SQLite).")]


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=1, max=1000, help="PEC Massiva messages to send.")] = 30,
    time_scale: Annotated[
        float, typer.Option(min=0.001, max=1.0, help="Seconds per provider second.")
    ] = 0.1,
) -> None:
    """A bulk job to both embedded fakes: paced lanes, a live progress bar, a crash-safe journal."""
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
    journal: Journal = Path("jobs.sqlite"),
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
) -> None:
    """Send a CSV of recipients as a bulk job (credentials from CERTMAIL_* env variables)."""
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
    )
    console = Console()
    if dry_run:
        asyncio.run(_dry_run(spec, console))
        return
    _finish(
        asyncio.run(
            run_job(spec, journal=journal, job_id=job_id, retry_unknown=False, console=console)
        ),
        console,
    )


async def _dry_run(spec: JobSpec, console: Console) -> None:
    from ..bulk import BulkDispatcher
    from ._bulk import _messages, _say_estimate, make_client

    client = make_client(spec["provider"], base_url=None, fake_credentials=True, time_scale=1.0)
    async with client, BulkDispatcher(clients=[client], journal=":memory:") as d:
        _say_estimate(console, d.estimate(_messages(spec)))


@app.command()
def resume(
    job_id: Annotated[str, typer.Argument(help="The job to resume.")],
    journal: Journal = Path("jobs.sqlite"),
    retry_unknown: Annotated[
        bool,
        typer.Option(
            help="Resend chunks still not found at the provider "
            "(they may be sent twice if the provider is slow to show them)."
        ),
    ] = False,
) -> None:
    """Resume a job: reconcile in-flight sends with the provider, then send the rest."""
    console = Console()
    spec = asyncio.run(_spec(journal, job_id))
    _finish(
        asyncio.run(
            run_job(
                spec, journal=journal, job_id=job_id, retry_unknown=retry_unknown, console=console
            )
        ),
        console,
    )


async def _spec(journal: Path, job_id: str) -> JobSpec:
    from ..bulk import SQLiteJournal

    store = SQLiteJournal(journal)
    try:
        meta = await store.job_meta(job_id)
    finally:
        await store.aclose()
    if meta is None or "input" not in meta:
        raise SystemExit(f"no CLI job {job_id!r} in {journal}")
    return JobSpec(meta)


def _finish(counts: dict[str, Any], console: Console) -> None:
    console.print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing to do")
    if counts.get("unknown"):
        raise typer.Exit(code=3)


@app.command()
def status(
    job_id: Annotated[str, typer.Argument(help="The job.")],
    journal: Journal = Path("jobs.sqlite"),
) -> None:
    """Counts per state, and the sends whose outcome is unknown."""
    finished = asyncio.run(show_status(journal, job_id, Console()))
    raise typer.Exit(code=0 if finished else 3)


@app.command()
def export(
    job_id: Annotated[str, typer.Argument(help="The job.")],
    journal: Journal = Path("jobs.sqlite"),
    format: Annotated[str, typer.Option(help="csv or json (one object per line).")] = "csv",
    output: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """An audit of every recipient: provider ids, state, reason."""
    if format not in ("csv", "json"):
        raise typer.BadParameter("csv or json", param_hint="--format")
    count = asyncio.run(write_export(journal, job_id, format, output))
    if output:
        Console(stderr=True).print(f"{count} recipients written to {output}")


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
) -> None:
    """Run a fake provider on loopback until interrupted (first line: its URL)."""
    from .._pacing import RateLimit
    from ..testing import run_fake

    console = Console()
    options: dict[str, Any] = {}
    if provider == "pecmassiva":
        options["send_rate"] = RateLimit(requests=1, per=time_scale, margin=0) if cap else None
    elif provider == "legallymail":
        options["rate"] = RateLimit(requests=10, per=60 * time_scale, margin=0) if cap else None

    async def serve() -> None:
        async with run_fake(provider, port=port, **options) as fake:  # type: ignore[arg-type]
            print(f"fake {provider} listening on {fake.url}", flush=True)
            for key, value in fake.state.client_kwargs().items():
                console.print(f"  {key} = {value}")
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        console.print("stopped")


def main() -> None:
    """Entry point of the ``certmail`` script."""
    app()
