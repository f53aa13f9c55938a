"""certmail bulk / resume / status / export end to end, with a SIGKILL in the middle."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from certmail_async import RateLimit
from certmail_async.testing import run_fake
from tests import forkserver
from tests.cli.test_exit_codes import CLI_MODULES

pytestmark = pytest.mark.timeout(120)


async def certmail(*args: str) -> tuple[int, str]:
    """``python -m certmail_async ARGS`` in its own (forked) process: (exit code, output)."""
    server = forkserver.shared("certmail_async", *CLI_MODULES, env={**os.environ, "COLUMNS": "200"})
    code, out, _ = await server.arun(*args, cwd=Path.cwd(), timeout=60, merge_stderr=True)
    return code, out.decode()


class TestBulkCommands:
    """certmail bulk, status, resume and export against a fake, with a kill."""

    async def test_bulk_kill_resume_status_export(self, tmp_path: Path) -> None:
        """A killed CLI job resumes to completion: every recipient sent once, audited in the export."""
        rows = tmp_path / "rows.csv"
        with rows.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["recipient", "subject", "key"])
            for i in range(30):
                writer.writerow([f"cliente{i}@pec.example.it", f"Avviso {i}", f"K{i}"])
        journal = tmp_path / "jobs.sqlite"
        async with run_fake(
            "pecmassiva", send_rate=RateLimit(requests=1, per=0.02, margin=0)
        ) as fake:
            common = ["--journal", str(journal)]
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "certmail_async", "bulk", str(rows), "--provider", "pecmassiva",
                "--job-id", "avvisi", "--body", "<p>Gentile cliente</p>", "--base-url", fake.url,
                "--fake-credentials", "--time-scale", "0.02", *common,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(1000):
                if len(fake.state.ledger) >= 8:
                    break
                await asyncio.sleep(0.01)
            proc.kill()
            await proc.wait()
            assert 8 <= len(fake.state.ledger) < 30

            code, out = await certmail("status", "avvisi", *common)
            assert code == 5, out  # not finished: chunks pending
            assert "sent" in out

            code, out = await certmail("resume", "avvisi", *common)
            if code == 4:  # the kill landed between a send's in-flight mark and its write
                assert "unknown x1: in flight when the last run stopped" in out, out
                code, out = await certmail("resume", "avvisi", *common, "--retry-unknown")
            assert code == 0, out
            assert "recipients: sent 30" in out

            code, out = await certmail("status", "avvisi", *common)
            assert code == 0, out

            export = tmp_path / "audit.csv"
            code, out = await certmail("export", "avvisi", *common, "--output", str(export))
            assert code == 0, out
            with export.open() as f:
                audit = list(csv.DictReader(f))
            code, out = await certmail("export", "avvisi", *common, "--format", "json")
            assert len([json.loads(line) for line in out.splitlines()]) == 30

        assert len(audit) == 30
        assert {r["status"] for r in audit} == {"sent"}
        assert {r["key"] for r in audit} == {f"K{i}" for i in range(30)}
        codes = {s.code for s in fake.state.ledger}
        assert {r["provider_ids"] for r in audit} == codes
        accepted = Counter(r for s in fake.state.ledger for r in s.recipients)
        assert sorted(accepted.values()) == [1] * 30  # nobody twice, nobody lost

    async def test_missing_credentials_are_refused(self, tmp_path: Path) -> None:
        """Without CERTMAIL_* variables (and no --fake-credentials) the CLI says which are missing."""
        rows = tmp_path / "rows.csv"
        rows.write_text("recipient,subject,body\na@example.com,s,b\n")
        code, out = await certmail(
            "bulk",
            str(rows),
            "--provider",
            "legallymail",
            "--job-id",
            "j",
            "--journal",
            str(tmp_path / "j.sqlite"),
        )
        assert code != 0
        assert "CERTMAIL_LEGALLYMAIL_TOKEN" in out

    async def test_dry_run_says_how_long(self, tmp_path: Path) -> None:
        """--dry-run states the duration at the real caps before anything is sent."""
        rows = tmp_path / "rows.csv"
        rows.write_text("recipient\n" + "".join(f"r{i}@example.com\n" for i in range(100)))
        code, out = await certmail(
            "bulk", str(rows), "--provider", "legallymail", "--job-id", "j", "--subject", "s",
            "--body", "b", "--group", "--dry-run",
        )  # fmt: skip
        assert code == 0, out
        assert "100 recipients" in out
        assert "60 seconds" in out  # 10 sends of 10 at one per 6.006 s
