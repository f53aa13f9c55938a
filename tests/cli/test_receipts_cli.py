"""certmail receipts JOB and the audit export: evidence per recipient, files, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from certmail_async import RateLimit
from certmail_async.cli._bulk import EVIDENCE_FIELDS
from certmail_async.testing import run_fake
from tests.cli.test_exit_codes import certmail

pytestmark = pytest.mark.timeout(120)

CAP = RateLimit(requests=1, per=0.02, margin=0)
LM_CAP = RateLimit(requests=10, per=0.2, margin=0)


def rows(path: Path, addresses: list[str]) -> Path:
    path.write_text(
        "recipient,subject\n" + "".join(f"{a},Avviso {i}\n" for i, a in enumerate(addresses))
    )
    return path


def job(csv_file: Path, url: str, journal: Path, provider: str = "pecmassiva") -> list[str]:
    return [
        "bulk", str(csv_file), "--provider", provider, "--job-id", "job", "--body", "<p>b</p>",
        "--base-url", url, "--time-scale", "0.02", "--journal", str(journal),
        "--fake-credentials",
    ]  # fmt: skip


class TestReceiptsCommand:
    async def test_pec_massiva_job_refresh_export_and_cleanup(self, tmp_path: Path) -> None:
        """Mixed outcomes: exit 5 while one is pending; evidence in the export; INBOX cleaned."""
        addresses = ["anna@pec.example.it", "ghost@pec.example.it", "quiet@pec.example.it"]
        csv_file, journal = rows(tmp_path / "r.csv", addresses), tmp_path / "j.sqlite"
        evidence = tmp_path / "evidence"
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            fake.state.outcomes.update(
                {"ghost@pec.example.it": "not-delivered", "quiet@pec.example.it": "silent"}
            )
            code, out = await certmail(*job(csv_file, fake.url, journal))
            assert code == 0, out
            code, out = await certmail(
                "receipts", "job", "--journal", str(journal), "--evidence-dir", str(evidence),
                "--cleanup",
            )  # fmt: skip
            assert code == 5, out
            assert "not-delivered" in out
            assert "2 sends cleaned from the INBOX" in out
            left = {m.subject.split(": ", 1)[1].rsplit(" ", 1)[0] for m in fake.state.inbox}
            assert left == {"Avviso 2"}
            code, out = await certmail(
                "export", "job", "--journal", str(journal), "--format", "json"
            )
            assert code == 0, out
        exported = {r["recipient"]: r for r in map(json.loads, out.splitlines())}
        assert exported["anna@pec.example.it"]["outcome"] == "delivered"
        assert exported["anna@pec.example.it"]["evidence_source"] == "subject"
        assert exported["anna@pec.example.it"]["deciding_kind"] == "avvenuta-consegna"
        assert exported["anna@pec.example.it"]["cleaned_at"]
        assert exported["ghost@pec.example.it"]["outcome"] == "not-delivered"
        assert exported["quiet@pec.example.it"]["outcome"] == "pending"
        assert exported["quiet@pec.example.it"]["final"] is False
        assert len(list((evidence / "job" / "receipts").glob("*.json"))) == 2

    async def test_legallymail_certificates_in_the_csv_audit(self, tmp_path: Path) -> None:
        """Certificate digests and paths land in the CSV; every recipient final: exit 0."""
        addresses = ["anna@example.com", "luca@example.com"]
        csv_file, journal = rows(tmp_path / "r.csv", addresses), tmp_path / "j.sqlite"
        evidence = tmp_path / "evidence"
        async with run_fake("legallymail", rate=LM_CAP) as fake:
            fake.state.outcomes["anna@example.com"] = "read"
            code, out = await certmail(*job(csv_file, fake.url, journal, "legallymail"))
            assert code == 0, out
            code, out = await certmail(
                "receipts", "job", "--journal", str(journal), "--evidence-dir", str(evidence)
            )
            assert code == 0, out
            assert "3 certificate files" in out
        output = tmp_path / "audit.csv"
        code, out = await certmail(
            "export", "job", "--journal", str(journal), "--output", str(output)
        )
        assert code == 0, out
        with output.open(newline="") as handle:
            audit = {r["recipient"]: r for r in csv.DictReader(handle)}
        assert set(EVIDENCE_FIELDS) <= set(audit["anna@example.com"])
        anna = audit["anna@example.com"]
        assert anna["outcome"] == "read"
        assert anna["evidence_strength"] == "3"
        kinds = [c.split(":")[0] for c in anna["certificates"].split()]
        assert sorted(kinds) == ["delivered", "read"]
        for cert in anna["certificates"].split():
            _kind, digest, path = cert.split(":", 2)
            assert len(digest) == 64
            assert (evidence / "job" / path).read_bytes().startswith(b"%PDF-")

    async def test_usage_errors(self, tmp_path: Path) -> None:
        """--cleanup without --evidence-dir, an unknown job, fake flags off loopback: exit 2."""
        journal = tmp_path / "j.sqlite"
        code, out = await certmail("receipts", "job", "--journal", str(journal), "--cleanup")
        assert code == 2, out
        code, out = await certmail("receipts", "nope", "--journal", str(journal))
        assert code == 2, out
        code, out = await certmail(
            "receipts", "job", "--journal", str(journal), "--fake-credentials"
        )
        assert code == 2, out
