"""The Journal contract, run against every backend: SQLite and PostgreSQL.

A backend joins by adding a param to ``backend``: ``make()`` opens a NEW handle on the
same store (another owner, as another process would), ``damage(sql)`` runs raw SQL on it
(to delete rows or drop a table, as a careless operator would). PostgreSQL runs on the
real server of ``tests/servers.py``, one fresh schema per test (skipped with a reason when
PostgreSQL is not installed, failed in CI).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from certmail_async import (
    JobLockedError,
    JobMismatchError,
    JobNotFoundError,
    JournalError,
    ValidationError,
)
from certmail_async.bulk import PostgresJournal, SQLiteJournal
from certmail_async.bulk._journal import Journal, utc
from certmail_async.bulk._models import ChunkRecord, ChunkStatus, Evidence, Lease
from certmail_async.bulk._report import export_records, job_status
from tests.servers import run_sql

pytestmark = pytest.mark.timeout(30)

TTL = 30.0  # long: ownership tests that need expiry use SHORT below
SHORT = 0.08  # an expiring lease: far above event-loop noise, and waited for at most 0.12 s


@attrs.define
class Backend:
    """How a test reaches one journal store."""

    make: Callable[[], Journal]
    damage: Callable[[str], None]
    name: str


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """One journal store per test; every handle is closed afterwards."""
    opened: list[Journal] = []
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")
        schema = f"t_{uuid.uuid4().hex[:16]}"

        def make_pg() -> Journal:
            journal = PostgresJournal(dsn, schema=schema)
            opened.append(journal)
            return journal

        def damage_pg(sql: str) -> None:
            run_sql(dsn, sql, schema=schema)

        name = PostgresJournal(dsn, schema=schema).display_name
        yield Backend(make=make_pg, damage=damage_pg, name=name)
        for journal in opened:
            await journal.aclose()
        run_sql(dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        return
    path = tmp_path / "jobs.sqlite"

    def make() -> Journal:
        journal = SQLiteJournal(path)
        opened.append(journal)
        return journal

    def damage(sql: str) -> None:
        conn = sqlite3.connect(path)
        conn.executescript(sql)
        conn.close()

    yield Backend(make=make, damage=damage, name=str(path))
    for journal in opened:
        await journal.aclose()


@pytest.fixture
def journal(backend: Backend) -> Journal:
    """A first handle on the store."""
    return backend.make()


def chunk(seq: int, job: str = "job", provider: str = "pecmassiva", **kw: object) -> ChunkRecord:
    fields: dict[str, object] = {
        "job_id": job,
        "seq": seq,
        "provider": provider,
        "recipients": (f"r{seq}@pec.example.it",),
        "digest": f"d{seq}",
        "subject_digest": "s",
        "status": ChunkStatus.PENDING,
    }
    fields.update(kw)
    return ChunkRecord(**fields)  # type: ignore[arg-type]


async def opened(journal: Journal, job: str = "job", owner: str = "A") -> Lease:
    lease = await journal.acquire(job, owner_id=owner, ttl=TTL)
    await journal.open_job(lease, "fp", {"k": "v"})
    return lease


class TestLease:
    async def test_second_owner_of_a_live_job_is_refused(self, backend: Backend) -> None:
        """A live lease refuses another owner with JobLockedError naming owner, host, pid and expiry."""
        a, b = backend.make(), backend.make()
        lease = await a.acquire("job", owner_id="A", ttl=TTL)
        assert lease.token == 1
        with pytest.raises(JobLockedError) as info:
            await b.acquire("job", owner_id="B", ttl=TTL)
        assert info.value.owner == f"A@{lease.host} pid {lease.pid}"
        assert info.value.expires_in is not None
        assert 0 < info.value.expires_in <= TTL
        assert "A" in str(info.value)
        assert str(lease.pid) in str(info.value)

    async def test_same_owner_gets_its_lease_back(self, journal: Journal) -> None:
        """Acquiring again as the same owner in the same process keeps the token."""
        first = await journal.acquire("job", owner_id="A", ttl=TTL)
        again = await journal.acquire("job", owner_id="A", ttl=TTL)
        assert again.token == first.token

    async def test_renew_extends_the_lease(self, journal: Journal) -> None:
        """renew moves expires_at forward and keeps the token."""
        lease = await journal.acquire("job", owner_id="A", ttl=1.0)
        renewed = await journal.renew(lease, ttl=TTL)
        assert renewed.token == lease.token
        assert renewed.expires_at > lease.expires_at + timedelta(seconds=TTL - 2)
        holder = await journal.holder("job")
        assert holder is not None
        assert holder.expires_at == renewed.expires_at

    async def test_release_frees_the_job_and_tokens_still_grow(self, backend: Backend) -> None:
        """After release another owner acquires at once, with a larger token; the old one is fenced."""
        a, b = backend.make(), backend.make()
        lease = await opened(a)
        await a.release(lease)
        assert await a.holder("job") is None
        taken = await b.acquire("job", owner_id="B", ttl=TTL)
        assert taken.token == lease.token + 1
        with pytest.raises(JobLockedError):
            await a.add_pending(lease, [chunk(0)])
        await a.release(lease)  # a no-op: B keeps the job
        assert (await b.holder("job")) == taken

    async def test_expired_lease_is_taken_over_with_a_larger_token(self, backend: Backend) -> None:
        """A lease whose heartbeat lapsed is taken over with token + 1."""
        a, b = backend.make(), backend.make()
        lease = await a.acquire("job", owner_id="A", ttl=SHORT)
        await asyncio.sleep(SHORT * 1.5)
        taken = await b.acquire("job", owner_id="B", ttl=TTL)
        assert taken.token == lease.token + 1
        holder = await a.holder("job")
        assert holder is not None
        assert (holder.owner_id, holder.token) == ("B", taken.token)

    async def test_renew_after_takeover_is_refused(self, backend: Backend) -> None:
        """A taken-over owner cannot renew its way back."""
        a, b = backend.make(), backend.make()
        lease = await a.acquire("job", owner_id="A", ttl=SHORT)
        await asyncio.sleep(SHORT * 1.5)
        await b.acquire("job", owner_id="B", ttl=TTL)
        with pytest.raises(JobLockedError, match="taken over by B"):
            await a.renew(lease, ttl=TTL)

    async def test_lapsed_lease_writes_nothing_until_renewed(self, journal: Journal) -> None:
        """A lapsed lease nobody took over is refused for writes, and works again once renewed."""
        lease = await journal.acquire("job", owner_id="A", ttl=SHORT)
        await journal.open_job(lease, "fp", {})
        await asyncio.sleep(SHORT * 1.5)
        with pytest.raises(JobLockedError, match="lapsed"):
            await journal.mark_in_flight(lease, chunk(0))
        assert await journal.get("job", 0) is None
        lease = await journal.renew(lease, ttl=TTL)
        await journal.mark_in_flight(lease, chunk(0))
        record = await journal.get("job", 0)
        assert record is not None
        assert record.status is ChunkStatus.IN_FLIGHT

    @pytest.mark.parametrize("ttl", [0, -1, float("nan"), "30", None, True])
    async def test_ttl_must_be_a_positive_number(self, journal: Journal, ttl: object) -> None:
        """A ttl that is not a positive number is a ValidationError naming it; no lease is taken."""
        with pytest.raises(ValidationError) as info:
            await journal.acquire("job", owner_id="A", ttl=ttl)  # type: ignore[arg-type]
        assert info.value.field == "ttl"
        assert await journal.holder("job") is None

    async def test_leases_are_per_job(self, backend: Backend) -> None:
        """Two jobs are owned independently."""
        a, b = backend.make(), backend.make()
        await a.acquire("one", owner_id="A", ttl=TTL)
        lease = await b.acquire("two", owner_id="B", ttl=TTL)
        assert lease.token == 1


TRANSITIONS: dict[str, Callable[[Journal, Lease], object]] = {
    "open_job": lambda j, lease: j.open_job(lease, "fp", {}),
    "add_pending": lambda j, lease: j.add_pending(lease, [chunk(5)]),
    "add_final": lambda j, lease: j.add_final(lease, chunk(5, status=ChunkStatus.FAILED)),
    "mark_in_flight": lambda j, lease: j.mark_in_flight(lease, chunk(1)),
    "mark_done": lambda j, lease: j.mark_done(
        lease, chunk(1), ChunkStatus.SENT, provider_ids=["S1"]
    ),
}


class TestFencing:
    @pytest.mark.parametrize("transition", sorted(TRANSITIONS))
    async def test_stale_owner_writes_nothing(self, backend: Backend, transition: str) -> None:
        """After a takeover, every transition of the old owner raises JobLockedError and writes nothing."""
        a, b = backend.make(), backend.make()
        old = await a.acquire("job", owner_id="A", ttl=SHORT)
        await a.open_job(old, "fp", {})
        await a.add_pending(old, [chunk(0), chunk(1)])
        await asyncio.sleep(SHORT * 1.5)
        await b.acquire("job", owner_id="B", ttl=TTL)
        before = await b.records("job")
        with pytest.raises(JobLockedError, match="taken over by B"):
            await TRANSITIONS[transition](a, old)  # type: ignore[misc]
        assert await b.records("job") == before
        assert await b.claimed("pecmassiva", ["S1"]) == set()

    async def test_a_lease_of_another_job_cannot_write(self, journal: Journal) -> None:
        """A lease is for its own job only."""
        lease = await opened(journal, "one")
        await opened(journal, "two")
        with pytest.raises((JobLockedError, JournalError)):
            await journal.mark_in_flight(lease, chunk(0, job="two"))
        assert await journal.get("two", 0) is None


class TestJobs:
    async def test_open_job_creates_then_finds(self, journal: Journal) -> None:
        """open_job is False for a new job, True after; meta comes back with created_at."""
        lease = await journal.acquire("job", owner_id="A", ttl=TTL)
        assert await journal.open_job(lease, "fp", {"k": "v"}) is False
        assert await journal.open_job(lease, "fp", {"k": "v"}) is True
        meta = await journal.job_meta("job")
        assert meta is not None
        assert meta["k"] == "v"
        assert "created_at" in meta
        assert await journal.job_meta("nope") is None
        assert await journal.jobs() == ["job"]

    async def test_other_fingerprint_is_a_mismatch(self, journal: Journal) -> None:
        """A job re-opened with another fingerprint raises JobMismatchError."""
        lease = await opened(journal)
        with pytest.raises(JobMismatchError):
            await journal.open_job(lease, "other", {})


class TestTransitions:
    async def test_pending_in_flight_done(self, journal: Journal) -> None:
        """A chunk goes pending -> in_flight (stamped, attempts 1) -> sent with its ids."""
        lease = await opened(journal)
        await journal.add_pending(lease, [chunk(0, key="K")])
        await journal.mark_in_flight(lease, chunk(0, key="K"))
        flying = await journal.get("job", 0)
        assert flying is not None
        assert flying.status is ChunkStatus.IN_FLIGHT
        assert flying.in_flight_at is not None
        assert flying.attempts == 1
        await journal.mark_done(lease, chunk(0, key="K"), ChunkStatus.SENT, provider_ids=["S1"])
        done = await journal.get("job", 0)
        assert done is not None
        assert (done.status, done.provider_ids, done.key) == (ChunkStatus.SENT, ("S1",), "K")
        assert done.in_flight_at == flying.in_flight_at

    async def test_sent_chunk_is_never_in_flight_again(self, journal: Journal) -> None:
        """mark_in_flight of a chunk the journal holds as SENT is refused."""
        lease = await opened(journal)
        await journal.mark_in_flight(lease, chunk(0))
        await journal.mark_done(lease, chunk(0), ChunkStatus.SENT, provider_ids=["S1"])
        with pytest.raises(JournalError, match="already SENT"):
            await journal.mark_in_flight(lease, chunk(0))

    async def test_add_pending_leaves_existing_rows(self, journal: Journal) -> None:
        """add_pending never overwrites a chunk already journaled."""
        lease = await opened(journal)
        await journal.mark_in_flight(lease, chunk(0))
        await journal.add_pending(lease, [chunk(0), chunk(1)])
        statuses = [r.status for r in await journal.records("job")]
        assert statuses == [ChunkStatus.IN_FLIGHT, ChunkStatus.PENDING]

    async def test_failure_details_round_trip(self, journal: Journal) -> None:
        """error and failed_recipients are stored with the outcome."""
        lease = await opened(journal)
        await journal.add_final(
            lease,
            chunk(0, status=ChunkStatus.FAILED, error="invalid", failed_recipients={"x": "bad"}),
        )
        await journal.mark_done(
            lease, chunk(1), ChunkStatus.SENT, provider_ids=["P", "C1"],
            failed_recipients={"r1@pec.example.it": "bounced"},
        )  # fmt: skip
        final, sent = await journal.records("job")
        assert (final.status, final.error, dict(final.failed_recipients)) == (
            ChunkStatus.FAILED, "invalid", {"x": "bad"},
        )  # fmt: skip
        assert dict(sent.failed_recipients) == {"r1@pec.example.it": "bounced"}


class TestClaims:
    async def test_claims_span_every_job(self, backend: Backend) -> None:
        """An id one job recorded is claimed for every other job of the journal."""
        a, b = backend.make(), backend.make()
        october = await opened(a, "october")
        await a.mark_done(october, chunk(0, job="october"), ChunkStatus.SENT, provider_ids=["X"])
        november = await opened(b, "november", owner="B")
        assert await b.claimed("pecmassiva", ["X", "Y"]) == {"X"}
        assert await b.claimed("legallymail", ["X"]) == set()
        assert november.job_id == "november"

    async def test_an_id_claimed_by_another_chunk_is_refused(self, backend: Backend) -> None:
        """Recording an id another chunk (of any job) claimed raises JournalError; nothing is written."""
        a = backend.make()
        october = await opened(a, "october")
        await a.mark_done(october, chunk(0, job="october"), ChunkStatus.SENT, provider_ids=["X"])
        november = await opened(a, "november")
        await a.mark_in_flight(november, chunk(0, job="november"))
        with pytest.raises(JournalError, match="already claimed by job 'october' chunk 0") as info:
            await a.mark_done(
                november, chunk(0, job="november"), ChunkStatus.SENT, provider_ids=["X"]
            )
        assert info.value.code == "claimed"
        record = await a.get("november", 0)
        assert record is not None
        assert record.status is ChunkStatus.IN_FLIGHT

    async def test_two_jobs_claiming_one_id_at_once(self, backend: Backend) -> None:
        """Two owners of two jobs record the same id concurrently: exactly one claim wins."""
        a, b = backend.make(), backend.make()
        one, two = await opened(a, "one"), await opened(b, "two", owner="B")
        results: list[str] = []

        async def claim(journal: Journal, lease: Lease) -> None:
            try:
                await journal.mark_done(
                    lease, chunk(0, job=lease.job_id), ChunkStatus.SENT, provider_ids=["X"]
                )
                results.append("won")
            except JournalError as error:
                results.append(f"refused: {error.code}")

        await asyncio.gather(claim(a, one), claim(b, two))
        assert sorted(results) == ["refused: claimed", "won"]

    async def test_a_chunk_may_record_its_own_ids_again(self, journal: Journal) -> None:
        """UNKNOWN with a reference, then SENT with the same id: the same chunk, no conflict."""
        lease = await opened(journal)
        await journal.mark_done(lease, chunk(0), ChunkStatus.UNKNOWN, provider_ids=["X"])
        await journal.mark_done(lease, chunk(0), ChunkStatus.SENT, provider_ids=["X"])
        assert await journal.claimed("pecmassiva", ["X"]) == {"X"}

    async def test_many_candidates(self, journal: Journal) -> None:
        """claimed() answers for thousands of candidates at once."""
        lease = await opened(journal)
        await journal.mark_done(lease, chunk(0), ChunkStatus.SENT, provider_ids=["id-1234"])
        candidates = [f"id-{i}" for i in range(3000)]
        assert await journal.claimed("pecmassiva", candidates) == {"id-1234"}


class TestEvidence:
    async def test_evidence_round_trips(self, journal: Journal) -> None:
        """The evidence reconciliation used is stored with the chunk and returned as given."""
        lease = await opened(journal)
        evidence = Evidence(
            record_id="S9",
            matched=("recipients", "subject", "created_at"),
            created_at=utc(1_800_000_000.25),
            note="one candidate",
        )
        await journal.mark_in_flight(lease, chunk(0))
        await journal.mark_done(
            lease, chunk(0), ChunkStatus.SENT, provider_ids=["S9"], evidence=evidence
        )
        record = await journal.get("job", 0)
        assert record is not None
        assert record.evidence == evidence
        [listed] = await journal.records("job", with_evidence=True)
        assert listed.evidence == evidence

    async def test_status_and_export_show_evidence_and_reasons(self, journal: Journal) -> None:
        """job_status lists reconciled chunks with evidence and unknown ones with a reason; export too."""
        lease = await opened(journal)
        evidence = Evidence(record_id="S1", matched=("recipients", "subject"))
        await journal.mark_done(
            lease, chunk(0), ChunkStatus.SENT, provider_ids=["S1"], evidence=evidence
        )
        await journal.mark_done(lease, chunk(1), ChunkStatus.UNKNOWN)
        await journal.mark_in_flight(lease, chunk(2))
        status = await job_status(journal, "job")
        assert [r.evidence for r in status.reconciled] == [evidence]
        assert [o.seq for o in status.unknown] == [1]
        assert status.unknown[0].error
        assert status.in_flight[0].error
        assert not status.finished
        rows = [r async for r in export_records(journal, "job")]
        assert [r.evidence for r in rows] == [evidence, None, None]
        assert rows[1].error


class TestPaging:
    async def test_pages_in_seq_order(self, journal: Journal) -> None:
        """records pages with after_seq / limit, optionally by status, always in seq order."""
        lease = await opened(journal)
        await journal.add_pending(lease, [chunk(i) for i in reversed(range(25))])
        for i in range(0, 25, 3):
            await journal.mark_done(lease, chunk(i), ChunkStatus.UNKNOWN)
        seqs: list[int] = []
        after = -1
        while page := await journal.records("job", after_seq=after, limit=10):
            assert len(page) <= 10
            seqs += [r.seq for r in page]
            after = page[-1].seq
        assert seqs == list(range(25))
        unknown = await journal.records("job", [ChunkStatus.UNKNOWN], after_seq=3, limit=2)
        assert [r.seq for r in unknown] == [6, 9]
        window = await journal.digests("job", 5, 7)
        assert sorted(window) == [5, 6, 7]
        assert await journal.max_seq("job") == 24
        assert await journal.max_seq("nope") == -1

    async def test_counts(self, journal: Journal) -> None:
        """counts gives chunks and recipients per status."""
        lease = await opened(journal)
        two = ("a@pec.example.it", "b@pec.example.it")
        await journal.add_pending(lease, [chunk(0, recipients=two), chunk(1)])
        await journal.mark_done(lease, chunk(1), ChunkStatus.SENT, provider_ids=["S"])
        assert await journal.counts("job") == ({"pending": 1, "sent": 1}, {"pending": 2, "sent": 1})

    async def test_export_reads_every_page(self, journal: Journal) -> None:
        """export_records with a small page size still yields every recipient once, in order."""
        lease = await opened(journal)
        await journal.add_pending(lease, [chunk(i) for i in range(23)])
        rows = [r async for r in export_records(journal, "job", page_size=5)]
        assert [r.seq for r in rows] == list(range(23))

    async def test_status_lists_are_capped(self, journal: Journal) -> None:
        """job_status lists at most max_listed chunks per kind and says it cut; counts stay whole."""
        lease = await opened(journal)
        for i in range(7):
            await journal.mark_done(lease, chunk(i), ChunkStatus.UNKNOWN)
        status = await job_status(journal, "job", max_listed=3)
        assert [o.seq for o in status.unknown] == [0, 1, 2]
        assert status.truncated
        assert status.chunks == {"unknown": 7}


class TestNextInFlight:
    async def test_next_send_of_the_provider_across_jobs(self, backend: Backend) -> None:
        """next_in_flight_at gives the provider's first in_flight stamp after a time, any job."""
        j = backend.make()
        one = await opened(j, "one")
        two = await opened(j, "two")
        await j.mark_in_flight(one, chunk(0, job="one"))
        await j.mark_in_flight(one, chunk(1, job="one", provider="legallymail"))
        await j.mark_in_flight(two, chunk(0, job="two"))
        first = await j.get("one", 0)
        second = await j.get("two", 0)
        assert first is not None
        assert second is not None
        assert first.in_flight_at is not None
        assert second.in_flight_at is not None
        assert second.in_flight_at > first.in_flight_at
        assert await j.next_in_flight_at("pecmassiva", first.in_flight_at) == second.in_flight_at
        assert await j.next_in_flight_at("pecmassiva", second.in_flight_at) is None
        before = first.in_flight_at - timedelta(seconds=1)
        assert await j.next_in_flight_at("pecmassiva", before) == first.in_flight_at


class TestIntegrity:
    async def test_job_whose_chunk_rows_vanished_is_refused(self, backend: Backend) -> None:
        """Job row kept, chunk rows deleted: open_job raises JournalError naming the journal."""
        a = backend.make()
        lease = await opened(a)
        await a.add_pending(lease, [chunk(i) for i in range(3)])
        await a.mark_done(lease, chunk(3), ChunkStatus.SENT, provider_ids=["S"])
        await a.release(lease)
        await a.aclose()
        backend.damage("DELETE FROM chunks WHERE seq = 1;")
        b = backend.make()
        lease = await b.acquire("job", owner_id="B", ttl=TTL)
        with pytest.raises(JournalError, match="recorded 4 chunks but 3 rows remain") as info:
            await b.open_job(lease, "fp", {})
        assert info.value.path == backend.name
        backend.damage("DELETE FROM chunks;")
        with pytest.raises(JournalError, match="recorded 4 chunks but 0 rows remain"):
            await b.open_job(lease, "fp", {})

    async def test_chunk_rows_without_a_job_row_are_refused(self, backend: Backend) -> None:
        """Job row deleted, chunk rows kept: refused, not treated as a new job."""
        a = backend.make()
        lease = await opened(a)
        await a.add_pending(lease, [chunk(0)])
        await a.aclose()
        backend.damage("DELETE FROM jobs;")
        b = backend.make()
        lease = await b.acquire("job", owner_id="A", ttl=TTL)
        with pytest.raises(JournalError, match="no job row"):
            await b.open_job(lease, "fp", {})

    @pytest.mark.parametrize("table", ["chunks", "jobs", "leases", "claims"])
    async def test_a_lost_table_is_refused(self, backend: Backend, table: str) -> None:
        """A schema that lost a table is a JournalError on the first call, naming the table."""
        a = backend.make()
        await opened(a)
        await a.aclose()
        backend.damage(f"DROP TABLE {table};")
        b = backend.make()
        with pytest.raises(JournalError, match=table) as info:
            await b.acquire("job", owner_id="B", ttl=TTL)
        assert info.value.path == backend.name
        with pytest.raises(JournalError):
            await b.job_meta("job")

    async def test_unknown_job_is_a_typed_error(self, journal: Journal) -> None:
        """status and export of an unknown job raise JobNotFoundError (also a KeyError)."""
        with pytest.raises(JobNotFoundError):
            await job_status(journal, "nope")
        with pytest.raises(KeyError):
            [r async for r in export_records(journal, "nope")]


# -- lanes: workers sharing one enqueued job ------------------------------------------------

LANES = ["legallymail", "pecmassiva"]


async def enqueued(journal: Journal, job: str = "job", *, lm: int = 2, pm: int = 3) -> None:
    """A job opened to workers: ``pm`` PEC Massiva chunks, then ``lm`` LegallyMail ones."""
    lease = await opened(journal, job)
    records = [chunk(i, job) for i in range(pm)]
    records += [chunk(pm + i, job, provider="legallymail") for i in range(lm)]
    await journal.add_pending(lease, records)
    await journal.add_lanes(lease, LANES)
    await journal.release(lease)


def lane_table(backend: Backend) -> str:
    """The table holding lane leases (PostgreSQL keeps them beside the job's)."""
    return "leases" if backend.name.startswith("postgres") else "lanes"


def dead_pid() -> int:
    """The pid of a process that existed on this host and is gone (reaped)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, check=True, timeout=30)  # fmt: skip
    return int(proc.stdout)


class TestLaneLeases:
    async def test_workers_get_distinct_lanes_then_none(self, backend: Backend) -> None:
        """Three workers at once on a two-lane job: two distinct lanes with token 1, the third none."""
        await enqueued(backend.make())
        workers = [backend.make() for _ in range(3)]
        got = await asyncio.gather(
            *(w.acquire_lane("job", owner_id=f"w{i}", ttl=TTL) for i, w in enumerate(workers))
        )
        taken = [lease for lease in got if lease is not None]
        assert sorted(lease.lane for lease in taken) == LANES
        assert [lease.token for lease in taken] == [1, 1]
        assert len({lease.owner_id for lease in taken}) == 2
        assert await workers[0].acquire_lane("job", owner_id="late", ttl=TTL) is None

    async def test_only_the_lanes_a_worker_can_run(self, journal: Journal) -> None:
        """``lanes=`` restricts the offer to the worker's providers; an unknown job offers none."""
        await enqueued(journal)
        lease = await journal.acquire_lane("job", owner_id="w", ttl=TTL, lanes=["legallymail"])
        assert lease is not None
        assert lease.lane == "legallymail"
        assert (
            await journal.acquire_lane("job", owner_id="x", ttl=TTL, lanes=["legallymail"]) is None
        )
        assert await journal.acquire_lane("nope", owner_id="x", ttl=TTL) is None
        with pytest.raises(ValidationError) as info:
            await journal.acquire_lane("job", owner_id="x", ttl=TTL, lanes="pecmassiva")
        assert info.value.field == "lanes"

    async def test_a_lane_without_work_is_not_offered(self, journal: Journal) -> None:
        """A lane whose chunks are all final is never taken (its token does not move)."""
        await enqueued(journal, lm=1, pm=0)
        lease = await journal.acquire_lane("job", owner_id="w", ttl=TTL)
        assert lease is not None
        assert lease.lane == "legallymail"
        await journal.mark_in_flight(lease, chunk(0, provider="legallymail"))
        await journal.mark_done(lease, chunk(0, provider="legallymail"), ChunkStatus.SENT)
        await journal.release(lease)
        assert await journal.acquire_lane("job", owner_id="w2", ttl=TTL) is None
        states = {s.lane: s for s in await journal.lanes("job")}
        assert (states["pecmassiva"].remaining, states["legallymail"].remaining) == (0, 0)
        assert states["legallymail"].holder is None

    async def test_a_lapsed_lane_is_taken_over_and_its_owner_fenced(self, backend: Backend) -> None:
        """A lane whose heartbeat lapsed goes to another worker with token + 1; the old owner can
        neither renew nor write its lane's chunks, and nothing it tried is recorded."""
        a, b = backend.make(), backend.make()
        await enqueued(a)
        old = await a.acquire_lane("job", owner_id="A", ttl=SHORT, lanes=["pecmassiva"])
        assert old is not None
        await a.mark_in_flight(old, chunk(0))
        await asyncio.sleep(SHORT * 1.5)
        new = await b.acquire_lane("job", owner_id="B", ttl=TTL, lanes=["pecmassiva"])
        assert new is not None
        assert (new.lane, new.token) == ("pecmassiva", old.token + 1)
        before = await b.records("job")
        with pytest.raises(JobLockedError, match="taken over by B"):
            await a.mark_done(old, chunk(0), ChunkStatus.SENT, provider_ids=["S0"])
        with pytest.raises(JobLockedError, match="taken over by B"):
            await a.mark_in_flight(old, chunk(1))
        with pytest.raises(JobLockedError, match="taken over by B"):
            await a.renew(old, ttl=TTL)
        assert await b.records("job") == before
        assert await b.claimed("pecmassiva", ["S0"]) == set()
        state = {s.lane: s for s in await b.lanes("job")}["pecmassiva"]
        assert state.holder is not None
        assert (state.holder.owner_id, state.live) == ("B", True)

    async def test_a_lapsed_lane_writes_nothing_until_renewed(self, journal: Journal) -> None:
        """A lane lease that lapsed but was not taken over is refused, then works once renewed."""
        await enqueued(journal)
        lease = await journal.acquire_lane("job", owner_id="A", ttl=SHORT, lanes=["pecmassiva"])
        assert lease is not None
        await asyncio.sleep(SHORT * 1.5)
        with pytest.raises(JobLockedError, match="lapsed"):
            await journal.mark_in_flight(lease, chunk(0))
        lease = await journal.renew(lease, ttl=TTL)
        await journal.mark_in_flight(lease, chunk(0))
        record = await journal.get("job", 0)
        assert record is not None
        assert record.status is ChunkStatus.IN_FLIGHT

    async def test_a_lane_lease_writes_only_its_lane(self, journal: Journal) -> None:
        """A lane lease cannot write another lane's chunks nor job-level rows."""
        await enqueued(journal)
        lease = await journal.acquire_lane("job", owner_id="A", ttl=TTL, lanes=["pecmassiva"])
        assert lease is not None
        other = chunk(3, provider="legallymail")
        for write in (
            journal.mark_in_flight(lease, other),
            journal.mark_done(lease, other, ChunkStatus.SENT),
            journal.add_pending(lease, [chunk(9)]),
            journal.add_final(lease, chunk(9, status=ChunkStatus.FAILED)),
            journal.open_job(lease, "fp", {}),
            journal.add_lanes(lease, LANES),
        ):
            with pytest.raises(JournalError, match="lane 'pecmassiva' cannot write"):
                await write
        assert (await journal.get("job", 3)).status is ChunkStatus.PENDING  # type: ignore[union-attr]
        assert await journal.get("job", 9) is None

    async def test_the_job_lease_and_the_lanes_exclude_each_other(self, backend: Backend) -> None:
        """While a runner holds the job no lane is offered; while a worker holds a lane the job
        lease is refused (naming the lane's owner); once released, the other side gets it."""
        a, b = backend.make(), backend.make()
        await enqueued(a)
        runner = await a.acquire("job", owner_id="R", ttl=TTL)
        assert await b.acquire_lane("job", owner_id="W", ttl=TTL) is None
        await a.release(runner)
        lane = await b.acquire_lane("job", owner_id="W", ttl=TTL)
        assert lane is not None
        with pytest.raises(JobLockedError, match=f"lane '{lane.lane}' is run by W") as info:
            await a.acquire("job", owner_id="R", ttl=TTL)
        assert info.value.owner == f"W@{lane.host} pid {lane.pid}"
        await b.release(lane)
        again = await a.acquire("job", owner_id="R", ttl=TTL)
        assert again.token == runner.token + 1

    async def test_taking_a_lane_ends_a_lapsed_job_lease(self, backend: Backend) -> None:
        """A runner whose job lease lapsed and whose job a worker joined can neither renew
        nor write again."""
        a, b = backend.make(), backend.make()
        await enqueued(a)
        runner = await a.acquire("job", owner_id="R", ttl=SHORT)
        await asyncio.sleep(SHORT * 1.5)
        lane = await b.acquire_lane("job", owner_id="W", ttl=TTL, lanes=["pecmassiva"])
        assert lane is not None
        with pytest.raises(JobLockedError):
            await a.renew(runner, ttl=TTL)
        with pytest.raises(JobLockedError):
            await a.mark_in_flight(runner, chunk(0))
        assert (await b.get("job", 0)).status is ChunkStatus.PENDING  # type: ignore[union-attr]

    async def test_taking_the_job_ends_lapsed_lane_leases(self, backend: Backend) -> None:
        """A worker whose lane lapsed and whose job a runner took can neither renew nor write."""
        a, b = backend.make(), backend.make()
        await enqueued(a)
        lane = await b.acquire_lane("job", owner_id="W", ttl=SHORT, lanes=["pecmassiva"])
        assert lane is not None
        await asyncio.sleep(SHORT * 1.5)
        await a.acquire("job", owner_id="R", ttl=TTL)
        with pytest.raises(JobLockedError):
            await b.renew(lane, ttl=TTL)
        with pytest.raises(JobLockedError):
            await b.mark_in_flight(lane, chunk(0))

    async def test_a_gone_owner_on_this_host_is_replaced_at_once(self, backend: Backend) -> None:
        """A lane held by a pid that no longer exists on this host is taken over before expiry."""
        a = backend.make()
        await enqueued(a)
        lane = await a.acquire_lane("job", owner_id="A", ttl=TTL, lanes=["pecmassiva"])
        assert lane is not None
        backend.damage(
            f"UPDATE {lane_table(backend)} SET pid={dead_pid()} WHERE lane='pecmassiva';"  # noqa: S608
        )
        b = backend.make()
        state = {s.lane: s for s in await b.lanes("job")}["pecmassiva"]
        assert not state.live
        taken = await b.acquire_lane("job", owner_id="B", ttl=TTL, lanes=["pecmassiva"])
        assert taken is not None
        assert taken.token == lane.token + 1

    async def test_next_chunks_come_in_seq_order_pending_only(self, journal: Journal) -> None:
        """The lane owner gets its lane's pending chunks in seq order, nothing of other lanes."""
        lease = await opened(journal)
        records = [chunk(i, provider="legallymail" if i % 2 else "pecmassiva") for i in range(8)]
        await journal.add_pending(lease, list(reversed(records)))
        await journal.add_lanes(lease, LANES)
        await journal.release(lease)
        lane = await journal.acquire_lane("job", owner_id="W", ttl=TTL, lanes=["pecmassiva"])
        assert lane is not None
        await journal.mark_in_flight(lane, records[0])
        assert [r.seq for r in await journal.next_chunks(lane, 2)] == [2, 4]
        await journal.mark_done(lane, records[0], ChunkStatus.SENT, provider_ids=["S0"])
        assert [r.seq for r in await journal.next_chunks(lane, 10)] == [2, 4, 6]
        assert all(r.provider == "pecmassiva" for r in await journal.next_chunks(lane, 10))

    async def test_a_stale_lane_owner_cannot_read_its_next_chunks(self, backend: Backend) -> None:
        """next_chunks is fenced: a taken-over owner gets JobLockedError, not work."""
        a, b = backend.make(), backend.make()
        await enqueued(a)
        old = await a.acquire_lane("job", owner_id="A", ttl=SHORT, lanes=["pecmassiva"])
        assert old is not None
        await asyncio.sleep(SHORT * 1.5)
        assert await b.acquire_lane("job", owner_id="B", ttl=TTL, lanes=["pecmassiva"])
        with pytest.raises(JobLockedError):
            await a.next_chunks(old, 5)

    async def test_a_stopped_lane_waits_for_the_job_to_be_enqueued_again(
        self, journal: Journal
    ) -> None:
        """stop_lane keeps the lane from workers, with its reason, until add_lanes reopens it."""
        await enqueued(journal)
        lane = await journal.acquire_lane("job", owner_id="W", ttl=TTL, lanes=["pecmassiva"])
        assert lane is not None
        await journal.stop_lane(lane, "AuthenticationError: bad token")
        state = {s.lane: s for s in await journal.lanes("job")}["pecmassiva"]
        assert (state.stopped, state.live, state.remaining) == (
            "AuthenticationError: bad token", False, 3)  # fmt: skip
        assert not state.runnable
        assert (
            await journal.acquire_lane("job", owner_id="W", ttl=TTL, lanes=["pecmassiva"]) is None
        )
        lease = await journal.acquire("job", owner_id="R", ttl=TTL)
        await journal.add_lanes(lease, LANES)
        await journal.release(lease)
        again = await journal.acquire_lane("job", owner_id="W", ttl=TTL, lanes=["pecmassiva"])
        assert again is not None
        assert again.token == lane.token + 1

    async def test_lanes_of_every_enqueued_job(self, journal: Journal) -> None:
        """lanes() without a job lists every enqueued job's lanes, oldest job first; a job
        never enqueued has none."""
        await enqueued(journal, "first")
        await opened(journal, "classic")
        await enqueued(journal, "second", lm=0)
        states = await journal.lanes()
        assert [(s.job_id, s.lane, s.remaining) for s in states] == [
            ("first", "legallymail", 2), ("first", "pecmassiva", 3),
            ("second", "legallymail", 0), ("second", "pecmassiva", 3),
        ]  # fmt: skip
        assert await journal.lanes("classic") == []


class TestPayloads:
    async def test_payloads_round_trip_once_per_content(self, journal: Journal) -> None:
        """What chunks send comes back byte for byte; equal contents are stored once."""
        import hashlib

        lease = await opened(journal)
        await journal.add_pending(lease, [chunk(i) for i in range(3)])
        body, other = b'{"subject": "Avviso"}', b"\x00\xffattachment"
        ref, ref2 = hashlib.sha256(body).hexdigest(), hashlib.sha256(other).hexdigest()
        await journal.add_payloads(lease, [(0, ref, body), (1, ref, body), (2, ref2, other)])
        await journal.add_payloads(lease, [(0, ref, body)])  # again: left alone
        assert await journal.payloads("job", [0, 1, 2, 7]) == {0: body, 1: body, 2: other}
        with pytest.raises(JournalError, match="does not match"):
            await journal.add_payloads(lease, [(3, ref, other)])

    async def test_payloads_need_the_job_lease(self, journal: Journal) -> None:
        """A lane lease cannot store payloads."""
        import hashlib

        await enqueued(journal)
        lane = await journal.acquire_lane("job", owner_id="W", ttl=TTL)
        assert lane is not None
        ref = hashlib.sha256(b"x").hexdigest()
        with pytest.raises(JournalError, match="cannot write job-level rows"):
            await journal.add_payloads(lane, [(0, ref, b"x")])

    async def test_a_lane_drops_what_it_no_longer_needs(self, journal: Journal) -> None:
        """drop_payloads forgets the content of the lane's SENT and FAILED chunks only; a
        content still used by another chunk stays."""
        import hashlib

        lease = await opened(journal)
        records = [chunk(0), chunk(1), chunk(2), chunk(3, provider="legallymail")]
        await journal.add_pending(lease, records)
        await journal.add_lanes(lease, LANES)
        body = b"shared"
        ref = hashlib.sha256(body).hexdigest()
        await journal.add_payloads(lease, [(r.seq, ref, body) for r in records])
        await journal.release(lease)
        lane = await journal.acquire_lane("job", owner_id="W", ttl=TTL, lanes=["pecmassiva"])
        assert lane is not None
        await journal.mark_in_flight(lane, records[0])
        await journal.mark_done(lane, records[0], ChunkStatus.SENT, provider_ids=["S0"])
        await journal.mark_in_flight(lane, records[1])
        await journal.mark_done(lane, records[1], ChunkStatus.FAILED, error="400")
        assert await journal.drop_payloads(lane) == 2
        assert await journal.payloads("job", [0, 1, 2, 3]) == {2: body, 3: body}

    async def test_a_damaged_payload_is_refused(self, backend: Backend) -> None:
        """A stored content that no longer matches its SHA-256 is a JournalError, never sent."""
        import hashlib

        a = backend.make()
        lease = await opened(a)
        await a.add_pending(lease, [chunk(0)])
        ref = hashlib.sha256(b"body").hexdigest()
        await a.add_payloads(lease, [(0, ref, b"body")])
        await a.aclose()
        backend.damage("UPDATE payloads SET content = content || content;")
        with pytest.raises(JournalError, match="damaged"):
            await backend.make().payloads("job", [0])
