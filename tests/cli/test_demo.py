"""The certmail command line and its demo."""

from __future__ import annotations

import subprocess
import sys

from rich.console import Console
from typer.testing import CliRunner

from certmail_async.cli._app import app
from certmail_async.cli._demo import run_demo


class TestDemo:
    async def test_demo_paces_and_never_resends(self) -> None:
        """The demo sends every PEC under the cap; the injected 500 stays one unknown, never resent."""
        console = Console(record=True, width=120)
        result = await run_demo(count=8, time_scale=0.02, console=console)
        assert result.statuses == {"sent": 7, "unknown": 1}
        assert result.ledger == 8  # the unknown one did reach the provider: one entry, no resend
        assert result.rejected_by_cap == 0
        # send 1 (two recipients) got the 429, then the 500 on its retry: no receipts polled
        assert sum(result.outcomes.values()) == result.recipients - 2
        assert result.outcomes["failed"] == 1  # the undeliverable address in send 6
        assert "Outcomes" in console.export_text()

    def test_cli_runs_end_to_end(self) -> None:
        """`python -m certmail_async demo` exits 0 and prints the progress and outcome table."""
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "certmail_async",
                "demo",
                "--count",
                "4",
                "--time-scale",
                "0.02",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "sending" in proc.stdout
        assert "refused by the cap" in proc.stdout

    def test_help_lists_commands(self) -> None:
        """`certmail --help` lists demo and fake."""
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0
        assert "demo" in result.output
        assert "fake" in result.output
