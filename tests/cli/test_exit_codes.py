"""certmail bulk / resume / status / export exit truthfully (issue 9, finding 4 and point 5)."""

from __future__ import annotations

import csv as csv_module
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmail_async import RateLimit
from certmail_async.bulk import SQLiteJournal
from certmail_async.cli._app import app
from certmail_async.testing import RunningFake, run_fake
from tests import forkserver

pytestmark = pytest.mark.timeout(120)

CAP = RateLimit(requests=1, per=0.02, margin=0)


#: What ``certmail`` imports to run its commands (the app imports them per command).
CLI_MODULES = ("certmail_async.cli._app", "certmail_async.cli._bulk",
               "certmail_async.cli._worker", "certmail_async.cli._receipts")  # fmt: skip


async def certmail(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI in its own process; (exit code, stdout and stderr).

    ``python -m certmail_async ARGS``, forked from a process that already imported the
    CLI (tests/forkserver.py): its own process, exit code and output, without the ~0.5 s
    of imports each run would pay.
    """
    server = forkserver.shared("certmail_async", *CLI_MODULES, env={**os.environ, "COLUMNS": "200"})
    code, out, _ = await server.arun(
        *args, cwd=Path.cwd(), timeout=90, merge_stderr=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip
    return code, out.decode()


def rows(path: Path, addresses: list[str]) -> Path:
    path.write_text(
        "recipient,subject\n" + "".join(f"{a},Avviso {i}\n" for i, a in enumerate(addresses))
    )
    return path


def bulk_args(csv: Path, fake: RunningFake, journal: Path, *extra: str) -> list[str]:
    return [
        "bulk", str(csv), "--provider", "pecmassiva", "--job-id", "job", "--body", "<p>b</p>",
        "--base-url", fake.url, "--time-scale", "0.02", "--journal", str(journal), *extra,
    ]  # fmt: skip


ADDRESSES = [f"c{i}@pec.example.it" for i in range(5)]


class TestBulkExitCodes:
    """0 only when every recipient was sent; distinct codes for the rest."""

    async def test_wrong_token_exits_5_and_a_good_one_sends_everything(
        self, tmp_path: Path
    ) -> None:
        """A 401 stops the job with every chunk pending (exit 5); the re-run sends all (0)."""
        csv, journal = rows(tmp_path / "r.csv", ADDRESSES), tmp_path / "j.sqlite"
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            wrong = {
                "CERTMAIL_PECMASSIVA_TOKEN": "wrong-token",
                "CERTMAIL_PECMASSIVA_USERNAME": fake.state.username,
                "CERTMAIL_PECMASSIVA_PASSWORD": fake.state.password,
            }
            code, out = await certmail(*bulk_args(csv, fake, journal), env=wrong)
            assert code == 5, out
            assert "pending 5" in out
            assert "AuthenticationError" in out or "HTTP 401" in out
            code, out = await certmail(*bulk_args(csv, fake, journal, "--fake-credentials"))
            assert code == 0, out
            assert "recipients: sent 5" in out
        assert sorted(fake.state.sent_to(a) for a in ADDRESSES) == [1] * 5

    async def test_a_failed_recipient_exits_3_with_the_reason(self, tmp_path: Path) -> None:
        """An invalid address fails alone: exit 3, the summary counts the reason."""
        csv = rows(tmp_path / "r.csv", [*ADDRESSES[:2], "not an address"])
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            code, out = await certmail(
                *bulk_args(csv, fake, tmp_path / "j.sqlite", "--fake-credentials")
            )
        assert code == 3, out
        assert "failed x1" in out
        assert "sent 2" in out

    async def test_unknown_then_stopped_then_unknown(self, tmp_path: Path) -> None:
        """A send lost before processing stops the job (5); the resume leaves it unknown (4)."""
        csv, journal = rows(tmp_path / "r.csv", ADDRESSES), tmp_path / "j.sqlite"
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            fake.state.faults.inject("POST", "/send", status=500)
            code, out = await certmail(*bulk_args(csv, fake, journal, "--fake-credentials"))
            assert code == 5, out
            assert "unknown" in out
            code, out = await certmail("status", "job", "--journal", str(journal))
            assert code == 5, out
            code, out = await certmail("resume", "job", "--journal", str(journal))
            assert code == 4, out
            assert "unknown x1" in out
            code, out = await certmail("status", "job", "--journal", str(journal))
            assert code == 4, out
        assert sum(fake.state.sent_to(a) for a in ADDRESSES) == 4

    async def test_retry_failed_resends_a_refused_chunk(self, tmp_path: Path) -> None:
        """A 400 fails one chunk (exit 3); a plain re-run keeps it; --retry-failed sends it."""
        csv, journal = rows(tmp_path / "r.csv", ADDRESSES[:2]), tmp_path / "j.sqlite"
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            fake.state.faults.inject("POST", "/send", status=400)
            args = bulk_args(csv, fake, journal, "--fake-credentials")
            code, out = await certmail(*args)
            assert code == 3, out
            code, out = await certmail(*args)
            assert code == 3, out
            assert fake.state.sent_to(ADDRESSES[0]) == 0
            code, out = await certmail(*args, "--retry-failed")
            assert code == 0, out
        assert [fake.state.sent_to(a) for a in ADDRESSES[:2]] == [1, 1]

    async def test_tag_marks_every_subject(self, tmp_path: Path) -> None:
        """--tag appends the job/seq correlation tag to each subject sent."""
        csv = rows(tmp_path / "r.csv", ADDRESSES[:2])
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            code, out = await certmail(
                *bulk_args(csv, fake, tmp_path / "j.sqlite", "--fake-credentials", "--tag")
            )
        assert code == 0, out
        subjects = [s.subject for s in fake.state.ledger]
        assert subjects[0].startswith("Avviso 0 [cm:")
        assert subjects[0].endswith("-0]")
        assert subjects[1].endswith("-1]")

    async def test_locked_job_exits_6_and_wait_waits(self, tmp_path: Path) -> None:
        """Another live owner: exit 6 before any request; --wait runs once the lease lapses."""
        csv, journal = rows(tmp_path / "r.csv", ADDRESSES), tmp_path / "j.sqlite"
        store = SQLiteJournal(journal)
        await store.acquire("job", owner_id="other-runner", ttl=30.0)
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            code, out = await certmail(*bulk_args(csv, fake, journal, "--fake-credentials"))
            assert code == 6, out
            assert "locked" in out
            assert fake.state.requests == []
            # the owner has a second left; the waiting runner starts after it lapses
            await store.acquire("job", owner_id="other-runner", ttl=1.0)
            await store.aclose()
            code, out = await certmail(
                *bulk_args(csv, fake, journal, "--fake-credentials", "--wait")
            )
            assert code == 0, out
        assert sorted(fake.state.sent_to(a) for a in ADDRESSES) == [1] * 5


class TestOutage:
    """With the provider unreachable the CLI says so and ends with everything pending."""

    async def test_unreachable_provider_is_said_and_exits_5(self, tmp_path: Path) -> None:
        """The notice names the outage and the retry; nothing FAILED; exit 5."""
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        csv, journal = rows(tmp_path / "r.csv", ADDRESSES), tmp_path / "j.sqlite"
        code, out = await certmail(
            "bulk", str(csv), "--provider", "pecmassiva", "--job-id", "job", "--body", "b",
            "--base-url", f"http://127.0.0.1:{port}", "--fake-credentials",
            "--journal", str(journal), "--outage-budget", "0.3",
        )  # fmt: skip
        assert code == 5, out
        assert "provider unreachable, retry in" in out
        assert "pending 5" in out
        assert "failed " not in out.split("recipients:")[-1].splitlines()[0]


class TestReports:
    """status and export of what is not there are errors, and create nothing."""

    @pytest.mark.parametrize("command", ["status", "export", "resume"])
    async def test_no_journal_is_an_error_and_no_file_appears(
        self, tmp_path: Path, command: str
    ) -> None:
        """A missing journal: exit 2, and the file is still missing afterwards."""
        journal = tmp_path / "absent.sqlite"
        code, out = await certmail(command, "job", "--journal", str(journal))
        assert code == 2, out
        assert "no journal" in out
        assert not journal.exists()
        assert not [n for n in os.listdir(tmp_path) if n.startswith("absent")]

    @pytest.mark.parametrize("command", ["status", "export"])
    async def test_unknown_job_id_is_an_error(self, tmp_path: Path, command: str) -> None:
        """A journal without that job: exit 2 naming the job."""
        journal = tmp_path / "j.sqlite"
        store = SQLiteJournal(journal)
        await store.acquire("other", owner_id="x", ttl=1.0)
        await store.aclose()
        code, out = await certmail(command, "nope", "--journal", str(journal))
        assert code == 2, out
        assert "no job 'nope'" in out

    def test_help_documents_the_exit_codes(self) -> None:
        """`certmail --help` and `certmail bulk --help` state every exit code."""
        for args in (["--help"], ["bulk", "--help"]):
            result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
            assert result.exit_code == 0
            text = " ".join(result.output.split())
            for code in ("0 every recipient sent", "3 some failed", "4 some unknown",
                         "5 stopped with", "6 job locked"):  # fmt: skip
                assert code in text, (args, text)
        result = CliRunner().invoke(app, ["bulk", "--help"], env={"COLUMNS": "200"})
        for flag in ("--wait", "--retry-failed", "--tag"):
            assert flag in result.output

    async def test_status_and_export_show_the_evidence(self, tmp_path: Path) -> None:
        """A send settled by reconciliation shows its record id and matched fields."""
        csv, journal = rows(tmp_path / "r.csv", ADDRESSES[:3]), tmp_path / "j.sqlite"
        out_csv = tmp_path / "out.csv"
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            fake.state.faults.inject("POST", "/send", status=500, after_record=True, times=1)
            code, out = await certmail(*bulk_args(csv, fake, journal, "--fake-credentials"))
            assert code == 0, out
            code, out = await certmail("status", "job", "--journal", str(journal))
            assert code == 0, out
            assert "reconciled" in out
            assert "matched: " in out
            code, out = await certmail(
                "export", "job", "--journal", str(journal), "--output", str(out_csv)
            )
            assert code == 0, out
        with out_csv.open(newline="") as handle:
            exported = list(csv_module.DictReader(handle))
        assert {"evidence_record", "evidence_matched"} <= set(exported[0])
        with_evidence = [row for row in exported if row["evidence_matched"]]
        assert len(with_evidence) == 1
        assert with_evidence[0]["evidence_record"] == fake.state.ledger[0].code

    async def test_a_bad_csv_row_fails_alone(self, tmp_path: Path) -> None:
        """A row whose subject carries a line break fails alone, naming the field (exit 3)."""
        csv = tmp_path / "r.csv"
        csv.write_text(
            'recipient,subject\nc0@pec.example.it,Avviso\n"c1@pec.example.it","A\rBcc: x"\n'
            "c2@pec.example.it,Avviso\n"
        )
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            code, out = await certmail(
                *bulk_args(csv, fake, tmp_path / "j.sqlite", "--fake-credentials")
            )
        assert code == 3, out
        assert "subject" in out
        assert "sent 2" in out
        assert fake.state.sent_to("c1@pec.example.it") == 0
