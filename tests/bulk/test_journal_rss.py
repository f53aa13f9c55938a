"""Export memory stays flat: the export benchmark, small, in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "export_rss.py"


class TestExportMemory:
    def test_peak_rss_does_not_grow_with_the_job(self) -> None:
        """Exporting 60,000 recipients peaks within 15 MiB of exporting 2,000 (a list would add ~55 MiB)."""
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--sizes", "2000,60000", "--json"],
            capture_output=True, text=True, check=True, timeout=110,
        )  # fmt: skip
        small, large = json.loads(done.stdout.strip().splitlines()[-1])
        assert (small["rows"], large["rows"]) == (2000, 60000)
        assert large["how"].startswith("paged")
        assert large["peak_mib"] - small["peak_mib"] < 15, (small, large)
