"""The ``certmail`` command line (typer + rich)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

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


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=1, max=1000, help="How many PECs to send.")] = 36,
    time_scale: Annotated[
        float, typer.Option(min=0.001, max=1.0, help="Seconds per provider second.")
    ] = 0.1,
) -> None:
    """Send a few dozen PECs to an embedded fake, paced, with a progress bar."""
    result = asyncio.run(run_demo(count=count, time_scale=time_scale, console=Console()))
    if result.rejected_by_cap:
        raise typer.Exit(code=1)


@fake_app.command("serve")
def fake_serve(
    provider: Annotated[str, typer.Argument(help="pecmassiva")] = "pecmassiva",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8400,
    send_per_second: Annotated[
        float, typer.Option(help="Seconds per send window of the cap (1.0 = the real cap).")
    ] = 1.0,
    cap: Annotated[bool, typer.Option(help="Enforce the provider's rate cap.")] = True,
) -> None:
    """Run a fake provider on loopback until interrupted (first line: its URL)."""
    from .._pacing import RateLimit
    from ..testing import run_fake

    console = Console()

    async def serve() -> None:
        rate = RateLimit(requests=1, per=send_per_second, margin=0) if cap else None
        async with run_fake(provider, port=port, send_rate=rate) as fake:  # type: ignore[arg-type]
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
