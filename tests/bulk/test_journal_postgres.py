"""PostgresJournal beyond the shared contract: races on a real server, fencing by row locks,
schema creation and migration by many processes, damaged rows, bounds and secrets.

Runs on the real PostgreSQL of ``tests/servers.py`` (a fresh schema or database per test).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    JobLockedError,
    JournalError,
    LegallyMailClient,
    PecMassivaClient,
    ValidationError,
)
from certmail_async.bulk import PostgresJournal
from certmail_async.bulk import _journal_postgres as pg
from certmail_async.bulk._dispatcher import open_journal
from certmail_async.bulk._models import ChunkRecord
from certmail_async.bulk._report import export_records, job_status
from certmail_async.testing import RunningFake
from tests.bulk.conftest import collect, lm_msg, pm_msg
from tests.servers import PostgresServer, run_sql

pytestmark = pytest.mark.timeout(60)

TTL = 30.0
SHORT = 0.08


def chunk(seq: int, job: str = "job", **kw: object) -> ChunkRecord:
    fields: dict[str, object] = {
        "job_id": job, "seq": seq, "provider": "pecmassiva",
        "recipients": (f"r{seq}@pec.example.it",), "digest": f"d{seq}", "subject_digest": "s",
        "status": ChunkStatus.PENDING,
    }  # fmt: skip
    fields.update(kw)
    return ChunkRecord(**fields)  # type: ignore[arg-type]


def in_schema(url: str, sql: str, **values: str) -> str:
    """``sql`` with ``{s}`` the test's schema (from its URL) and ``{name}`` from ``values``."""
    for key, value in {"s": url.rsplit("=", 1)[1], **values}.items():
        sql = sql.replace("{" + key + "}", value)
    return sql


def damage(url: str, sql: str, **values: str) -> None:
    """Run SQL on the test's schema as an operator would (see in_schema)."""
    run_sql(url.split("?")[0], in_schema(url, sql, **values))


async def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    """Rows of one query on the test's schema, on a connection of its own."""
    conn = await asyncpg.connect(url.split("?")[0])
    try:
        return await conn.fetch(in_schema(url, sql))
    finally:
        await conn.close()


@pytest.fixture
def url(postgres_dsn: str, postgres_schema: str) -> str:
    """The journal URL of a fresh schema."""
    return f"{postgres_dsn}?schema={postgres_schema}"


@pytest.fixture
async def handles(url: str) -> AsyncIterator[Callable[..., PostgresJournal]]:
    """Open journal handles on the test's schema (another process each); all closed after."""
    opened: list[PostgresJournal] = []

    def make(**kw: object) -> PostgresJournal:
        journal = PostgresJournal(url, **kw)  # type: ignore[arg-type]
        opened.append(journal)
        return journal

    yield make
    for journal in opened:
        await journal.aclose()


async def filled(make: Callable[..., PostgresJournal]) -> PostgresJournal:
    """A journal holding job 'job' with 10 pending chunks (lease released)."""
    journal = make()
    lease = await journal.acquire("job", owner_id="A", ttl=TTL)
    await journal.open_job(lease, "fp", {"k": "v"})
    await journal.add_pending(lease, [chunk(i) for i in range(10)])
    await journal.release(lease)
    return journal


class TestLeaseRaces:
    async def test_many_connections_race_for_one_lease(
        self, handles: Callable[..., PostgresJournal]
    ) -> None:
        """Eight handles acquire one job at once, five rounds: one winner each, tokens 1..5."""
        journals = [handles() for _ in range(8)]
        for round_ in range(1, 6):
            results = await asyncio.gather(
                *(j.acquire("job", owner_id=f"w{i}", ttl=TTL) for i, j in enumerate(journals)),
                return_exceptions=True,
            )
            won = [r for r in results if not isinstance(r, BaseException)]
            lost = [r for r in results if isinstance(r, BaseException)]
            assert len(won) == 1, results
            assert all(isinstance(e, JobLockedError) for e in lost), lost
            assert won[0].token == round_
            holder = await journals[0].holder("job")
            assert holder is not None
            assert (holder.owner_id, holder.token) == (won[0].owner_id, round_)
            winner = journals[int(won[0].owner_id[1:])]
            await winner.release(won[0])

    async def test_a_takeover_waits_for_the_old_owners_write_in_progress(
        self, handles: Callable[..., PostgresJournal], url: str
    ) -> None:
        """A write holding the lease row FOR SHARE commits before a takeover; the new owner sees it."""
        a, b = handles(), handles()
        old = await a.acquire("job", owner_id="A", ttl=SHORT)
        await a.open_job(old, "fp", {})
        await asyncio.sleep(SHORT * 1.5)
        old = await a.renew(old, ttl=SHORT)  # live again, then lapses while "writing"
        pool = await a._get_pool()
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await conn.fetchrow(
                a._sql(pg._SELECT_LEASE + " FOR SHARE"), "job", ""
            )  # the fence of a write in progress
            takeover = asyncio.create_task(b.acquire("job", owner_id="B", ttl=TTL))
            await asyncio.sleep(SHORT * 1.5)  # the lease lapsed; B waits on the share lock
            assert not takeover.done()
            await a._insert(conn, "job", [chunk(0, status=ChunkStatus.IN_FLIGHT)], old.token)
            await tx.commit()
        lease = await asyncio.wait_for(takeover, 5)
        assert lease.token == old.token + 1
        record = await b.get("job", 0)
        assert record is not None
        assert record.status is ChunkStatus.IN_FLIGHT
        with pytest.raises(JobLockedError, match="taken over by B"):
            await a.mark_in_flight(old, chunk(1))
        assert await b.get("job", 1) is None

    async def test_a_paused_owner_loses_its_transaction_and_cannot_commit(
        self, handles: Callable[..., PostgresJournal]
    ) -> None:
        """An owner stalled inside a write is ended by the server; the takeover goes on; its commit fails."""
        a, b = handles(timeout=1.0), handles(timeout=5.0)
        old = await a.acquire("job", owner_id="A", ttl=SHORT)
        await a.open_job(old, "fp", {})
        pool = await a._get_pool()
        conn = await pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.fetchrow(a._sql(pg._SELECT_LEASE + " FOR SHARE"), "job", "")
            # ...and the process stops here (SIGSTOP, a GC pause) while its lease lapses.
            started = time.monotonic()
            lease = await b.acquire("job", owner_id="B", ttl=TTL)
            assert lease.token == old.token + 1
            assert time.monotonic() - started < 2.0  # idle_in_transaction: a quarter of 1 s
            broken = (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError,
                      asyncpg.exceptions.InternalClientError)  # fmt: skip
            with pytest.raises(broken):
                await a._insert(conn, "job", [chunk(0)], old.token)  # its session was ended
        finally:
            await pool.release(conn)
        with pytest.raises(JobLockedError, match="taken over by B"):
            await a.mark_in_flight(old, chunk(0))
        assert await b.get("job", 0) is None


class TestSchema:
    async def test_processes_creating_one_schema_at_once(self, url: str) -> None:
        """Four processes, released together, migrate or first-write one new schema: all
        succeed, each writer's job is there, and the history holds each version once."""
        script = (
            "import asyncio, sys\n"
            "from certmail_async.bulk import PostgresJournal\n"
            "async def main(mode):\n"
            "    j = PostgresJournal(sys.argv[1])\n"
            "    print('ready', flush=True)\n"
            "    sys.stdin.readline()\n"
            "    if mode == 'migrate':\n"
            "        print(await j.migrate())\n"
            "    else:\n"
            "        lease = await j.acquire('job-' + mode, owner_id=mode, ttl=30)\n"
            "        print(int(not await j.open_job(lease, 'fp', {})))\n"
            "    await j.aclose()\n"
            "asyncio.run(main(sys.argv[2]))\n"
        )
        modes = ["migrate", "migrate", "w1", "w2"]
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", script, url, mode, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            for mode in modes
        ]  # fmt: skip
        for proc in procs:  # every process imported and waits: then all start at once
            assert proc.stdout is not None
            assert await asyncio.wait_for(proc.stdout.readline(), 40) == b"ready\n"
        outs = [await asyncio.wait_for(p.communicate(b"go\n"), 40) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, [e.decode()[-600:] for _, e in outs]
        version = str(pg.SCHEMA_VERSION)
        assert [o.decode().strip() for o, _ in outs] == [version, version, "1", "1"]
        journal = PostgresJournal(url)
        try:
            assert await journal.schema_version() == pg.SCHEMA_VERSION
            assert sorted(await journal.jobs()) == ["job-w1", "job-w2"]
        finally:
            await journal.aclose()
        history = await fetch(url, "SELECT version FROM {s}.schema_version ORDER BY version")
        assert [r[0] for r in history] == list(range(1, pg.SCHEMA_VERSION + 1))

    async def test_handles_creating_one_schema_at_once(
        self, handles: Callable[..., PostgresJournal], url: str
    ) -> None:
        """Twelve connections migrate or first-write one new schema at once: none fails."""
        journals = [handles() for _ in range(12)]

        async def first_use(i: int, journal: PostgresJournal) -> int:
            if i % 2:
                return await journal.migrate()
            lease = await journal.acquire(f"job-{i}", owner_id="A", ttl=TTL)
            return 0 if await journal.open_job(lease, "fp", {}) else pg.SCHEMA_VERSION

        versions = await asyncio.gather(*(first_use(i, j) for i, j in enumerate(journals)))
        assert versions == [pg.SCHEMA_VERSION] * 12
        history = await fetch(url, "SELECT version FROM {s}.schema_version ORDER BY version")
        assert [r[0] for r in history] == list(range(1, pg.SCHEMA_VERSION + 1))

    async def test_migrate_is_idempotent(self, handles: Callable[..., PostgresJournal]) -> None:
        """migrate creates the schema once; again it changes nothing and returns the version."""
        journal = handles()
        assert await journal.schema_version() == 0
        assert await journal.migrate() == pg.SCHEMA_VERSION
        lease = await journal.acquire("job", owner_id="A", ttl=TTL)
        await journal.open_job(lease, "fp", {})
        assert await handles().migrate() == pg.SCHEMA_VERSION
        assert await journal.jobs() == ["job"]

    async def test_an_older_schema_is_refused_until_migrated(
        self, handles: Callable[..., PostgresJournal], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A schema one version behind is refused (naming `certmail journal migrate`); migrate
        applies only the missing step, keeps the data, and a second migrate does nothing."""
        await filled(handles)
        step = ("ALTER TABLE {s}.jobs ADD COLUMN note text",)
        monkeypatch.setattr(pg, "_MIGRATIONS", [*pg._MIGRATIONS, step])
        monkeypatch.setattr(pg, "SCHEMA_VERSION", len(pg._MIGRATIONS))
        newer = handles()
        with pytest.raises(JournalError, match="journal migrate"):
            await newer.acquire("job", owner_id="B", ttl=TTL)
        assert await handles().migrate() == pg.SCHEMA_VERSION
        assert await handles().migrate() == pg.SCHEMA_VERSION
        assert await newer.job_meta("job") is not None
        assert len(await newer.records("job")) == 10

    async def test_a_newer_schema_is_refused(
        self, handles: Callable[..., PostgresJournal], url: str, postgres_dsn: str
    ) -> None:
        """A schema written by a newer SDK is refused by reads, writes and migrate."""
        await filled(handles)
        damage(url, "INSERT INTO {s}.schema_version (version, sdk) VALUES (99, 'x')")
        journal = handles()
        for call in (journal.jobs(), journal.acquire("job", owner_id="B", ttl=TTL)):
            with pytest.raises(JournalError, match="newer"):
                await call
        with pytest.raises(JournalError, match="newer"):
            await handles().migrate()

    async def test_a_foreign_schema_is_refused(
        self, handles: Callable[..., PostgresJournal], url: str, postgres_dsn: str
    ) -> None:
        """A schema holding someone else's tables is never taken for a journal."""
        damage(url, "CREATE SCHEMA {s}; CREATE TABLE {s}.chunks (x int)")
        with pytest.raises(JournalError, match="foreign"):
            await handles().acquire("job", owner_id="A", ttl=TTL)
        with pytest.raises(JournalError, match="foreign"):
            await handles().migrate()

    async def test_a_lost_column_is_refused(
        self, handles: Callable[..., PostgresJournal], url: str, postgres_dsn: str
    ) -> None:
        """A table that lost a column is refused, naming it."""
        await filled(handles)
        damage(url, "ALTER TABLE {s}.chunks DROP COLUMN evidence")
        with pytest.raises(JournalError, match="evidence"):
            await handles().get("job", 0)

    async def test_reads_create_nothing(
        self, handles: Callable[..., PostgresJournal], url: str
    ) -> None:
        """Status, export and every read of a missing schema see an empty journal; no schema appears."""
        journal = handles(readonly=True)
        assert await journal.jobs() == []
        assert await journal.job_meta("job") is None
        assert await journal.holder("job") is None
        assert await journal.records("job") == []
        assert await journal.counts("job") == ({}, {})
        assert await journal.claimed("pecmassiva", ["X"]) == set()
        with pytest.raises(KeyError):
            await job_status(journal, "job")
        assert await handles().schema_version() == 0

    async def test_a_readonly_handle_never_writes(
        self, handles: Callable[..., PostgresJournal]
    ) -> None:
        """readonly=True refuses every write and migrate, and reads an existing journal."""
        await filled(handles)
        journal = handles(readonly=True)
        with pytest.raises(JournalError, match="read-only"):
            await journal.acquire("job", owner_id="B", ttl=TTL)
        with pytest.raises(JournalError, match="read-only"):
            await journal.migrate()
        assert (await journal.counts("job"))[0] == {"pending": 10}

    async def test_a_read_only_database_is_refused_before_any_write(
        self, postgres_database: str
    ) -> None:
        """A database that refuses writes (read-only transactions) is a JournalError saying so."""
        writable = PostgresJournal(postgres_database)
        try:
            await writable.migrate()
        finally:
            await writable.aclose()
        name = postgres_database.rsplit("/", 1)[1]
        run_sql(postgres_database, f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        journal = PostgresJournal(postgres_database)
        try:
            with pytest.raises(JournalError, match="read-only"):
                await journal.acquire("job", owner_id="A", ttl=TTL)
            assert await journal.jobs() == []
        finally:
            await journal.aclose()

    async def test_synchronous_commit_off_is_overridden(self, postgres_database: str) -> None:
        """A database whose default is synchronous_commit=off: the journal's writes commit with on."""
        name = postgres_database.rsplit("/", 1)[1]
        run_sql(postgres_database, f"ALTER DATABASE {name} SET synchronous_commit = off")
        journal = PostgresJournal(postgres_database)
        try:
            seen = await journal._write(lambda conn: conn.fetchval("SHOW synchronous_commit"))
            assert seen == "on"
        finally:
            await journal.aclose()


DAMAGE = [
    ("evidence", "'{}'::jsonb"),
    ("evidence", "'\"text\"'::jsonb"),
    ("failed_recipients", "'[]'::jsonb"),
    ("failed_recipients", "'{\"a\": 1}'::jsonb"),
    ("recipients", "ARRAY[NULL]::text[]"),
    ("provider_ids", "ARRAY['x', NULL]::text[]"),
]


class TestDamagedRows:
    @pytest.mark.parametrize(("column", "value"), DAMAGE)
    async def test_every_read_refuses_a_damaged_row(
        self, handles: Callable[..., PostgresJournal], url: str, postgres_dsn: str,
        column: str, value: str,
    ) -> None:  # fmt: skip
        """Export and a chunk read raise JournalError naming the journal, never a raw error."""
        await filled(handles)
        damage(url, "UPDATE {s}.chunks SET {c} = {v} WHERE seq = 7", c=column, v=value)
        journal = handles(readonly=True)
        with pytest.raises(JournalError, match="damaged row") as info:
            async for _ in export_records(journal, "job"):
                pass
        assert info.value.path == journal.display_name
        with pytest.raises(JournalError, match="damaged row"):
            await journal.get("job", 7)

    async def test_an_unknown_state(
        self, handles: Callable[..., PostgresJournal], url: str, postgres_dsn: str
    ) -> None:
        """A state outside the known ones (its CHECK dropped by hand) is a damaged row for status."""
        await filled(handles)
        damage(
            url,
            "ALTER TABLE {s}.chunks DROP CONSTRAINT chunks_status_check;"
            "UPDATE {s}.chunks SET status = 'bogus' WHERE seq = 3",
        )
        journal = handles()
        with pytest.raises(JournalError, match="damaged row"):
            await job_status(journal, "job")
        with pytest.raises(JournalError, match="damaged row"):
            await journal.get("job", 3)

    async def test_damaged_job_metadata(
        self, handles: Callable[..., PostgresJournal], url: str, postgres_dsn: str
    ) -> None:
        """A job row whose metadata is not a JSON object is a JournalError."""
        await filled(handles)
        damage(url, "UPDATE {s}.jobs SET meta = '[1]'::jsonb")
        with pytest.raises(JournalError, match="unreadable metadata"):
            await handles().job_meta("job")

    async def test_the_database_refuses_an_unknown_state(
        self, handles: Callable[..., PostgresJournal]
    ) -> None:
        """Writing a state that is not stored (SKIPPED) is refused by the schema: JournalError."""
        journal = handles()
        lease = await journal.acquire("job", owner_id="A", ttl=TTL)
        await journal.open_job(lease, "fp", {})
        with pytest.raises(JournalError):
            await journal.add_pending(lease, [chunk(0, status=ChunkStatus.SKIPPED)])
        assert await journal.records("job") == []


class TestBoundsAndSecrets:
    def test_the_url_is_a_secret(self, postgres_server: PostgresServer) -> None:
        """display_name and repr never show the password; the schema is named when not default."""
        journal = PostgresJournal(postgres_server.dsn() + "?schema=jobs_2026")
        assert postgres_server.password not in repr(journal)
        assert postgres_server.password not in journal.display_name
        assert journal.display_name == (
            f"postgresql://certmail@127.0.0.1:{postgres_server.port}/postgres?schema=jobs_2026"
        )
        assert postgres_server.password not in str(vars(journal))

    @pytest.mark.parametrize(
        ("url", "kw", "field"),
        [
            ("mysql://u:hunter22@h/db", {}, "url"),
            ("postgresql://u:hunter22@h/db ", {}, "url"),
            ("postgresql://u:hunter22@h/db?schema=Bad-Name", {}, "schema"),
            ("postgresql://u:hunter22@h/db?schema=a", {"schema": "b"}, "schema"),
            ("postgresql://u:hunter22@h/db", {"timeout": 0}, "timeout"),
            ("postgresql://u:hunter22@h/db", {"pool_size": 0}, "pool_size"),
        ],
    )
    def test_bad_settings_are_validation_errors(
        self, url: str, kw: dict[str, object], field: str
    ) -> None:
        """A bad URL, schema, timeout or pool size is a ValidationError naming it, never echoing the URL."""
        with pytest.raises(ValidationError) as info:
            PostgresJournal(url, **kw)  # type: ignore[arg-type]
        assert info.value.field == field
        assert "hunter22" not in str(info.value)

    async def test_a_wrong_password_is_a_journal_error_without_it(
        self, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Bad credentials: JournalError saying so, with no password in message, path or logs."""
        secret = "Wr0ng-Pa55word-9f"
        url = f"postgresql://certmail:{secret}@127.0.0.1:{postgres_server.port}/postgres"
        journal = PostgresJournal(url, timeout=5)
        caplog.set_level(logging.DEBUG)
        try:
            with pytest.raises(JournalError, match="credentials") as info:
                await journal.acquire("job", owner_id="A", ttl=TTL)
        finally:
            await journal.aclose()
        for text in (str(info.value), repr(info.value), info.value.path or "", caplog.text):
            assert secret not in text
            assert postgres_server.password not in text
        assert info.value.__cause__ is None

    async def test_an_unreachable_server_fails_within_the_timeout(self) -> None:
        """Nothing listening: JournalError 'cannot be reached' (or a timeout) within the bound."""
        from tests.servers import free_port

        journal = PostgresJournal(f"postgresql://u:pw-secret@127.0.0.1:{free_port()}/db", timeout=2)
        started = time.monotonic()
        try:
            with pytest.raises(JournalError, match=r"cannot be reached|did not answer") as info:
                await journal.jobs()
        finally:
            await journal.aclose()
        assert time.monotonic() - started < 3
        assert "pw-secret" not in str(info.value)

    async def test_a_call_blocked_by_a_lock_ends_within_its_timeout(
        self, handles: Callable[..., PostgresJournal], url: str
    ) -> None:
        """A table locked by another session: the call fails (JournalError) within its timeout."""
        await filled(handles)
        journal = handles(timeout=1.0)
        await journal.jobs()  # checked and connected
        conn = await asyncpg.connect(url.split("?")[0])
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(in_schema(url, "LOCK TABLE {s}.jobs IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            with pytest.raises(JournalError, match=r"locked|timeout|did not answer"):
                await journal.jobs()
            assert time.monotonic() - started < 1.5
            await tx.rollback()
        finally:
            await conn.close()
        assert await journal.jobs() == ["job"]

    async def test_the_pool_is_bounded(self, handles: Callable[..., PostgresJournal]) -> None:
        """Fifty concurrent calls on a pool of two use at most two server connections."""
        journal = await filled(handles)
        small = handles(pool_size=2)
        peak = 0

        async def read() -> None:
            await small.counts("job")

        async def watch() -> None:
            nonlocal peak
            admin = await asyncpg.connect(journal._dsn.get_secret_value())
            try:
                for _ in range(40):
                    n = await admin.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                        "AND application_name = 'certmail_async journal' AND backend_type = "
                        "'client backend'"
                    )
                    peak = max(peak, n - 1)  # minus the other handle's one idle connection
                    await asyncio.sleep(0.005)
            finally:
                await admin.close()

        await asyncio.gather(watch(), *(read() for _ in range(50)))
        assert 1 <= peak <= 2


class TestDispatcher:
    async def test_open_journal_selects_postgres(self, url: str) -> None:
        """journal='postgresql://...' gives a PostgresJournal the dispatcher owns."""
        journal, owned = open_journal(url)
        assert isinstance(journal, PostgresJournal)
        assert owned
        await journal.aclose()

    async def test_a_job_runs_and_resumes_on_postgres(
        self, clients: tuple[PecMassivaClient, LegallyMailClient], pm: RunningFake,
        lm: RunningFake, url: str,
    ) -> None:  # fmt: skip
        """A bulk job through both fakes with the PostgreSQL journal: all sent, once; a re-run sends nothing."""
        messages = [pm_msg(i) for i in range(4)] + [lm_msg(i, n=3) for i in range(3)]
        async with BulkDispatcher(clients=list(clients), journal=url) as d:
            first = await collect(d.run("pg-job", messages))
            assert sorted(o.status.value for o in first) == ["sent"] * 7
            again = await collect(d.run("pg-job", messages))
            assert {o.status for o in again} == {ChunkStatus.SKIPPED}
            status = await d.status("pg-job")
            assert status.recipients == {"sent": 13}
        assert len(pm.state.ledger) == 4
        assert len(lm.state.ledger) == 3


class TestWorkerPhaseDesign:
    """The queries the multi-worker phase will use, run on today's schema."""

    async def test_workers_take_distinct_lanes_without_waiting(
        self, handles: Callable[..., PostgresJournal], url: str
    ) -> None:
        """Two transactions looking for a free lane get two different lanes, neither waits; a
        live lane is never offered, a lapsed one is."""
        journal = await filled(handles)
        lease = await journal.acquire("job", owner_id="A", ttl=TTL)
        await journal.add_pending(lease, [chunk(i, provider=p) for i, p in
                                          [(10, "legallymail"), (11, "zz-live")]])  # fmt: skip
        await journal.release(lease)
        damage(
            url,
            "INSERT INTO {s}.leases (job_id, lane, owner_id, host, pid, token, acquired_at, "
            "expires_at, released) VALUES "
            "('job', 'legallymail', '', '', 0, 0, now(), now(), true), "
            "('job', 'pecmassiva', '', '', 0, 0, now(), now(), true), "
            "('job', 'zz-live', 'w9', 'h', 1, 4, now(), now() + interval '1 hour', false)",
        )
        one = await asyncpg.connect(url.split("?")[0])
        two = await asyncpg.connect(url.split("?")[0])
        try:
            async with one.transaction(), two.transaction():
                query = in_schema(url, pg._FREE_LANE)
                args = ("job", "another-host", [])
                first = await asyncio.wait_for(one.fetchrow(query, *args), 2)
                second = await asyncio.wait_for(two.fetchrow(query, *args), 2)
                assert first is not None
                assert second is not None
                assert {first["lane"], second["lane"]} == {"legallymail", "pecmassiva"}
                assert await two.fetchrow(query, *args) is not None  # its own lock: same row
                third = await asyncpg.connect(url.split("?")[0])
                try:
                    assert await third.fetchrow(query, *args) is None  # zz-live is live
                finally:
                    await third.close()
        finally:
            await one.close()
            await two.close()

    async def test_a_lane_owner_claims_pending_chunks_in_seq_order(
        self, handles: Callable[..., PostgresJournal], url: str
    ) -> None:
        """The lane's next chunks come in seq order, pending ones only (the lane column is set)."""
        journal = await filled(handles)
        lease = await journal.acquire("job", owner_id="A", ttl=TTL)
        await journal.mark_in_flight(lease, chunk(0))
        await journal.mark_done(lease, chunk(0), ChunkStatus.SENT, provider_ids=["S0"])
        conn = await asyncpg.connect(url.split("?")[0])
        try:
            async with conn.transaction():
                rows = await conn.fetch(in_schema(url, pg._NEXT_CHUNKS), "job", "pecmassiva", 3)
        finally:
            await conn.close()
        assert [r["seq"] for r in rows] == [1, 2, 3]
