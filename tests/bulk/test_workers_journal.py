"""The schema step that brings lanes and payloads: older journals keep working.

SQLite: a version-2 file is upgraded in place on its first write (read-only, it reads as a
journal without lanes). PostgreSQL: a version-1 schema is refused until `migrate()`, which
applies only the new step and keeps every row.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmail_async import JournalError
from certmail_async.bulk import PostgresJournal, SQLiteJournal
from certmail_async.bulk import _journal_postgres as pg
from certmail_async.bulk import _journal_sqlite as sq
from certmail_async.bulk._models import ChunkRecord, ChunkStatus
from tests.servers import run_sql

pytestmark = pytest.mark.timeout(60)


def chunk(seq: int) -> ChunkRecord:
    return ChunkRecord(
        job_id="job", seq=seq, provider="pecmassiva", recipients=(f"r{seq}@pec.example.it",),
        digest=f"d{seq}", subject_digest="s", status=ChunkStatus.PENDING,
    )  # fmt: skip


def version_2_file(path: Path) -> None:
    """A journal as certmail_async wrote it before lanes: schema 2, one job, two chunks.

    (The schema of this version without every later step: they only add.)
    """
    schema = sq._SCHEMA.replace(f"PRAGMA user_version = {sq.SCHEMA_VERSION}", "")
    for later in (getattr(sq, name) for name in dir(sq) if name.startswith("_STEP_")):
        schema = schema.replace(later, "")  # every step since version 2
    schema += "PRAGMA user_version = 2;"
    conn = sqlite3.connect(path)
    conn.executescript(schema)
    conn.execute("INSERT INTO jobs VALUES ('job', 'fp', '{}', 0, 2)")
    for seq in (0, 1):
        conn.execute(
            "INSERT INTO chunks (job_id, seq, provider, recipients, n_recipients, digest, "
            "subject_digest, status, updated_at) VALUES ('job', ?, 'pecmassiva', ?, 1, ?, "
            "'s', 'pending', 0)",
            (seq, f'["r{seq}@pec.example.it"]', f"d{seq}"),
        )
    conn.commit()
    conn.close()


class TestSQLiteUpgrade:
    async def test_a_version_2_file_reads_read_only_and_upgrades_on_write(
        self, tmp_path: Path
    ) -> None:
        """Read-only: its chunks read, no lanes; written to: schema 3, data kept, lanes work."""
        path = tmp_path / "jobs.sqlite"
        version_2_file(path)
        reader = SQLiteJournal(path, readonly=True)
        assert [r.seq for r in await reader.records("job")] == [0, 1]
        assert await reader.lanes() == []
        assert await reader.payloads("job", [0]) == {}
        await reader.aclose()
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # reading changed nothing
        conn.close()
        journal = SQLiteJournal(path)
        lease = await journal.acquire("job", owner_id="A", ttl=30)
        assert await journal.open_job(lease, "fp", {})  # the old job is still there
        await journal.add_lanes(lease, ["pecmassiva"])
        await journal.release(lease)
        assert await journal.schema_version() == sq.SCHEMA_VERSION
        lane = await journal.acquire_lane("job", owner_id="W", ttl=30)
        assert lane is not None
        assert [r.seq for r in await journal.next_chunks(lane, 5)] == [0, 1]
        await journal.aclose()


@pytest.fixture
async def url(postgres_dsn: str) -> AsyncIterator[str]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{postgres_dsn}?schema={schema}"
    run_sql(postgres_dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


class TestPostgresMigration:
    async def test_a_version_1_schema_is_migrated_to_lanes(
        self, url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A schema written before lanes is refused until migrate(), which applies the later
        steps and keeps the jobs and chunks; lanes and payloads then work."""
        first = ("schema_version", "jobs", "chunks", "leases", "claims")
        tables = {t: tuple(c for c in pg._TABLES[t] if c != "stopped") for t in first}
        with monkeypatch.context() as old:  # certmail_async as it was at schema 1
            old.setattr(pg, "_MIGRATIONS", pg._MIGRATIONS[:1])
            old.setattr(pg, "SCHEMA_VERSION", 1)
            old.setattr(pg, "_TABLES", tables)
            journal = PostgresJournal(url)
            lease = await journal.acquire("job", owner_id="A", ttl=30)
            await journal.open_job(lease, "fp", {})
            await journal.add_pending(lease, [chunk(0), chunk(1)])
            await journal.release(lease)
            await journal.aclose()
        newer = PostgresJournal(url)
        with pytest.raises(JournalError, match="journal migrate"):
            await newer.acquire("job", owner_id="B", ttl=30)
        migrator = PostgresJournal(url)
        assert await migrator.migrate() == pg.SCHEMA_VERSION
        await migrator.aclose()
        journal = PostgresJournal(url)
        lease = await journal.acquire("job", owner_id="A", ttl=30)
        assert await journal.open_job(lease, "fp", {})
        await journal.add_lanes(lease, ["pecmassiva"])
        await journal.release(lease)
        lane = await journal.acquire_lane("job", owner_id="W", ttl=30)
        assert lane is not None
        assert [r.seq for r in await journal.next_chunks(lane, 5)] == [0, 1]
        await journal.aclose()
        await newer.aclose()
