"""The certmail command line and its demo."""

from __future__ import annotations

import subprocess
import sys

from rich.console import Console
from typer.testing import CliRunner

from certmail_async.cli._app import app
from certmail_async.cli._demo import run_demo


class TestDemo:
    async def test_demo_paces_both_providers_and_never_resends(self) -> None:
        """The demo keeps both caps; a send whose answer was lost is found in its lane, not resent."""
        console = Console(record=True, width=120)
        result = await run_demo(count=6, time_scale=0.05, console=console)
        # 6 PEC Massiva sends + 2 LegallyMail messages of 12 (sends of 10 + 2) = 10 sends
        assert result.sends == 11  # and one invalid address, failed without a request
        assert result.statuses == {"sent": 10, "failed": 1}
        assert result.reconciled == 1
        assert result.duplicates == 0
        assert result.rejected_by_cap == 0
        assert result.ledger == 10  # the unknown one did reach the provider, once
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
                "0.05",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "recipients" in proc.stdout
        assert "refused by the caps" in proc.stdout

    def test_help_lists_commands(self) -> None:
        """`certmail --help` lists demo, bulk, resume, status, export and fake."""
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0
        for command in ("demo", "bulk", "resume", "status", "export", "fake"):
            assert command in result.output
