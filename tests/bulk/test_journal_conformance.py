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
