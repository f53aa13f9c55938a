"""certmail journal migrate / info, and --journal postgresql://... for bulk, status and export."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmail_async.bulk import PostgresJournal
from certmail_async.bulk import _journal_postgres as pg
from certmail_async.bulk._journal_sqlite import SCHEMA_VERSION as SQLITE_VERSION
from certmail_async.bulk._models import ChunkRecord, ChunkStatus
from certmail_async.cli._app import app
from certmail_async.testing import run_fake
from tests.cli.test_exit_codes import ADDRESSES, CAP, certmail, rows
from tests.servers import PostgresServer, run_sql

pytestmark = pytest.mark.timeout(120)

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI in this process: (exit code, output)."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    return result.exit_code, result.output


@pytest.fixture
def pg_url(postgres_dsn: str) -> Iterator[str]:
    """A journal URL on a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{postgres_dsn}?schema={schema}"
    run_sql(postgres_dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def seed(url: str) -> None:
    """Job 'job' with two pending chunks and one sent, in the journal at ``url``."""

    async def run() -> None:
        journal = PostgresJournal(url)
        try:
            lease = await journal.acquire("job", owner_id="seed", ttl=30)
            await journal.open_job(lease, "fp", {})
            records = [
                ChunkRecord(
                    job_id="job", seq=i, provider="pecmassiva",
                    recipients=(f"r{i}@pec.example.it",), digest="d", subject_digest="s",
                    status=ChunkStatus.PENDING,
                )
                for i in range(3)
            ]  # fmt: skip
            await journal.add_pending(lease, records)
            await journal.mark_done(lease, records[0], ChunkStatus.SENT, provider_ids=["S0"])
            await journal.release(lease)
        finally:
            await journal.aclose()

    asyncio.run(run())


class TestMigrate:
    def test_sqlite_migrate_creates_then_keeps(self, tmp_path: Path) -> None:
        """migrate creates a new SQLite journal (exit 0, its version); again it is already current."""
        path = tmp_path / "jobs.sqlite"
        code, out = invoke("journal", "migrate", "--journal", str(path))
        assert code == 0, out
        assert f"schema version {SQLITE_VERSION} (created)" in out
        assert path.is_file()
        code, out = invoke("journal", "migrate", "--journal", str(path))
        assert code == 0, out
        assert "already current" in out

    def test_postgres_migrate_creates_then_keeps(self, pg_url: str) -> None:
        """migrate creates the PostgreSQL schema (exit 0, version printed); again it is current."""
        code, out = invoke("journal", "migrate", "--journal", pg_url)
        assert code == 0, out
        assert "PostgreSQL journal" in out
        assert f"schema version {pg.SCHEMA_VERSION} (created)" in out
        code, out = invoke("journal", "migrate", env={"CERTMAIL_JOURNAL": pg_url})
        assert code == 0, out
        assert "already current" in out

    def test_a_newer_schema_exits_1(self, pg_url: str, postgres_dsn: str) -> None:
        """A schema from a newer certmail_async: migrate refuses with exit 1 and says why."""
        assert invoke("journal", "migrate", "--journal", pg_url)[0] == 0
        schema = pg_url.rsplit("=", 1)[1]
        run_sql(
            postgres_dsn,
            "INSERT INTO {s}.schema_version VALUES (9, now(), 'x')".replace("{s}", schema),
        )
        code, out = invoke("journal", "migrate", "--journal", pg_url)
        assert code == 1, out
        assert "newer" in out

    def test_a_wrong_password_exits_1_without_it(self, postgres_server: PostgresServer) -> None:
        """Refused credentials: exit 1, and the output never shows the password."""
        url = f"postgresql://certmail:Not-The-Pa55word@127.0.0.1:{postgres_server.port}/postgres"
        code, out = invoke("journal", "migrate", "--journal", url)
        assert code == 1, out
        assert "credentials" in out
        assert "Not-The-Pa55word" not in out

    @pytest.mark.parametrize(
        "url",
        ["postgresql://u:Secret-123@h/db?schema=Bad-Name", "postgresql://u:Secret-123@h/db x"],
    )
    def test_a_malformed_url_exits_2(self, url: str) -> None:
        """A malformed journal URL is a usage error (2) that does not repeat the password."""
        code, out = invoke("journal", "migrate", "--journal", url)
        assert code == 2, out
        assert "Secret-123" not in out


class TestInfo:
    def test_postgres_info_lists_jobs_with_counts(self, pg_url: str) -> None:
        """info prints the version and each job with recipients per state."""
        seed(pg_url)
        code, out = invoke("journal", "info", "--journal", pg_url)
        assert code == 0, out
        assert f"schema version {pg.SCHEMA_VERSION}" in out
        line = next(line for line in out.splitlines() if "│ job " in line)
        assert [cell.strip() for cell in line.split("│")[3:8]] == ["1", "0", "0", "0", "2"]
        assert "1 job " in out

    def test_info_creates_nothing(self, pg_url: str, tmp_path: Path) -> None:
        """info on a missing schema or file: exit 2, and neither appears."""
        code, out = invoke("journal", "info", "--journal", pg_url)
        assert code == 2, out
        assert "journal migrate" in out

        async def version() -> int:
            journal = PostgresJournal(pg_url)
            try:
                return await journal.schema_version()
            finally:
                await journal.aclose()

        assert asyncio.run(version()) == 0
        path = tmp_path / "none.sqlite"
        code, out = invoke("journal", "info", "--journal", str(path))
        assert code == 2, out
        assert not path.exists()

    def test_sqlite_info(self, tmp_path: Path) -> None:
        """info works on a SQLite journal too."""
        path = tmp_path / "jobs.sqlite"
        assert invoke("journal", "migrate", "--journal", str(path))[0] == 0
        code, out = invoke("journal", "info", "--journal", str(path))
        assert code == 0, out
        assert f"SQLite journal {path}: schema version {SQLITE_VERSION}" in out
        assert "0 jobs" in out


class TestJobCommandsOnPostgres:
    def test_status_and_export_read_the_postgres_journal(self, pg_url: str) -> None:
        """status (exit 5: chunks pending) and export (every recipient) work from a URL."""
        seed(pg_url)
        code, out = invoke("status", "job", "--journal", pg_url)
        assert code == 5, out
        assert "pending" in out
        code, out = invoke("export", "job", "--journal", pg_url, "--format", "json")
        assert code == 0, out
        exported = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert [r["status"] for r in exported] == ["sent", "pending", "pending"]
        code, out = invoke("status", "nope", "--journal", pg_url)
        assert code == 2, out

    async def test_bulk_runs_and_resumes_on_postgres(self, pg_url: str, tmp_path: Path) -> None:
        """certmail bulk --journal postgresql://... sends everything once (0); the re-run sends nothing."""
        csv = rows(tmp_path / "r.csv", ADDRESSES)
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            args = [
                "bulk", str(csv), "--provider", "pecmassiva", "--job-id", "job", "--body",
                "<p>b</p>", "--base-url", fake.url, "--time-scale", "0.02", "--fake-credentials",
            ]  # fmt: skip
            code, out = await certmail(*args, env={"CERTMAIL_JOURNAL": pg_url})
            assert code == 0, out
            assert "recipients: sent 5" in out
            code, out = await certmail(*args, "--journal", pg_url)
            assert code == 0, out
        assert sorted(fake.state.sent_to(a) for a in ADDRESSES) == [1] * 5
        code, out = await certmail("status", "job", "--journal", pg_url)
        assert code == 0, out
