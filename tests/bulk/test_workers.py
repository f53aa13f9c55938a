"""Workers in one process: enqueue, lanes owned one at a time, takeover, stops (both backends).

Every test runs on SQLite and on the real PostgreSQL of ``tests/servers.py`` (one fresh
schema each), against the fakes with their caps enforced; counts come from the fakes'
ledgers. Real processes (SIGKILL, SIGSTOP, SIGTERM) are in ``test_workers_processes.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkOutcome,
    ChunkStatus,
    JobLockedError,
    JobMismatchError,
    JobNotFoundError,
    JournalError,
    OutgoingMessage,
    PecMassivaClient,
    RetryPolicy,
)
from certmail_async.bulk import Enqueued, LaneState
from certmail_async.bulk._worker import decode_payload, encode_payload
from certmail_async.testing import RunningFake
from tests.bulk.conftest import PM_RATE, Clients, collect, lm_msg, pm_msg
from tests.servers import run_sql

pytestmark = pytest.mark.timeout(60)

TTL = 2.0  # scaled leases: a lapse costs at most this much in a test


@pytest.fixture(params=["sqlite", "postgres"])
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A journal spec: a SQLite file, or a fresh schema on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield str(tmp_path / "jobs.sqlite")
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{dsn}?schema={schema}"
    run_sql(dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def messages(pm: int = 12, lm: int = 4, lm_size: int = 3) -> list[OutgoingMessage]:
    """pm PEC Massiva messages then lm LegallyMail ones (seqs: PEC Massiva first)."""
    return [pm_msg(i) for i in range(pm)] + [lm_msg(i, lm_size) for i in range(lm)]


def accepted(pm: RunningFake, lm: RunningFake) -> Counter[str]:
    """How many times each recipient was accepted by a provider."""
    seen: Counter[str] = Counter()
    for sent in pm.state.ledger:
        seen.update(r.lower() for r in sent.recipients)
    for email in lm.state.ledger:
        seen.update(r.email.lower() for r in email.recipients)
    return seen


def order(pm: RunningFake, lm: RunningFake) -> tuple[list[str], list[str]]:
    """The first recipient of each accepted send, per provider, in arrival order."""
    return (
        [s.recipients[0] for s in pm.state.ledger],
        [e.recipients[0].email for e in lm.state.ledger],
    )


def over_cap(pm: RunningFake, lm: RunningFake) -> int:
    """Sends the fakes refused for the cap (429)."""
    return pm.state.count("POST", "/send", status=429) + lm.state.count(
        "POST", "/api/send", status=429
    )


async def work(clients: Clients, journal: str, **kw: object) -> list[ChunkOutcome]:
    """One worker (its own dispatcher) until no work remains."""
    async with BulkDispatcher(clients=list(clients), journal=journal, lease_ttl=TTL) as d:
        return await collect(d.work(poll_interval=0.05, **kw))  # type: ignore[arg-type]


async def lanes(journal: str, job: str = "job") -> dict[str, LaneState]:
    async with BulkDispatcher(clients=[], journal=journal) as d:
        return {s.lane: s for s in await d.journal.lanes(job)}


class TestEnqueue:
    async def test_enqueue_sends_nothing_and_opens_one_lane_per_provider(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """Enqueue journals every chunk pending with its payload, opens two free lanes, and
        no request leaves."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            result = await d.enqueue("job", messages(), meta={"who": "test"})
            assert result == Enqueued(
                job_id="job", chunks={"pecmassiva": 12, "legallymail": 4}, recipients=24,
                failed=0, existed=False,
            )  # fmt: skip
            status = await d.status("job")
            assert status.chunks == {"pending": 16}
            assert status.meta["who"] == "test"
            assert await d.journal.holder("job") is None  # the job lease was released
            assert len(await d.journal.payloads("job", range(16))) == 16
        assert (len(pm.state.ledger), len(lm.state.ledger)) == (0, 0)
        states = await lanes(journal)
        assert {k: (v.remaining, v.live, v.stopped) for k, v in states.items()} == {
            "pecmassiva": (12, False, None), "legallymail": (4, False, None),
        }  # fmt: skip

    async def test_enqueue_again_verifies_the_input(self, clients: Clients, journal: str) -> None:
        """The same input again is accepted (existed=True, nothing new); other content is a
        JobMismatchError before anything changes."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=3, lm=1))
            again = await d.enqueue("job", [*messages(pm=3, lm=1), pm_msg(3)])  # one more
            assert again.existed
            other = [pm_msg(0, subject="Other"), *messages(pm=3, lm=1)[1:], pm_msg(3)]
            with pytest.raises(JobMismatchError):
                await d.enqueue("job", other)
            assert (await d.status("job")).chunks == {"pending": 5}

    async def test_invalid_input_fails_alone(self, clients: Clients, journal: str) -> None:
        """A bad address is FAILED at enqueue (counted), the rest is pending."""
        bad = OutgoingMessage(
            provider="pecmassiva", recipients=["not-an-address"], subject="S", body="b"
        )
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            result = await d.enqueue("job", [*messages(pm=2, lm=0), bad])
            assert result.failed == 1
            assert (await d.status("job")).chunks == {"pending": 2, "failed": 1}

    async def test_payload_round_trip_with_attachments(self) -> None:
        """A payload rebuilds the chunk's message (body, attachments, sender); its ref is the
        content's SHA-256 and ignores recipients and key."""
        from certmail_async import Attachment
        from certmail_async.bulk._models import ChunkRecord, subject_digest

        message = OutgoingMessage(
            provider="pecmassiva", recipients=["a@pec.example.it"], subject="Avviso",
            body="<p>é</p>", key="k", sender="box@pecmassiva.com",
            attachments=[Attachment(filename="a.pdf", content=b"%PDF\x00\xff",
                                    mime_type="application/pdf")],
        )  # fmt: skip
        ref, data = encode_payload(message)
        assert ref == hashlib.sha256(data).hexdigest()
        record = ChunkRecord(
            job_id="j", seq=3, provider="pecmassiva", recipients=("b@pec.example.it",),
            digest="d", subject_digest=subject_digest("Avviso"), status=ChunkStatus.PENDING,
            key="k3",
        )  # fmt: skip
        chunk = decode_payload(data, record)
        assert chunk.recipients == ("b@pec.example.it",)
        assert chunk.message.attachments == message.attachments
        assert (chunk.message.key, chunk.message.sender) == ("k3", "box@pecmassiva.com")
        with pytest.raises(JournalError, match="subject differs"):
            decode_payload(data, attrs.evolve(record, subject_digest="x"))


class TestWork:
    async def test_two_workers_drain_one_job_each_recipient_once_in_order(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """Two workers share a two-lane job: every recipient accepted once, each provider's
        sends in input order, no send over the cap, every lane released."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages())
        first, second = await asyncio.gather(work(clients, journal), work(clients, journal))
        seen = accepted(pm, lm)
        assert sorted(seen.values()) == [1] * 24
        pm_order, lm_order = order(pm, lm)
        assert pm_order == [f"p{i}@pec.example.it" for i in range(12)]
        assert lm_order == [f"l{i}-0@example.com" for i in range(4)]
        assert over_cap(pm, lm) == 0
        outcomes = first + second
        assert sorted(o.seq for o in outcomes) == list(range(16))
        assert {o.status for o in outcomes} == {ChunkStatus.SENT}
        states = await lanes(journal)
        assert all(s.remaining == 0 and s.holder is None for s in states.values())
        async with BulkDispatcher(clients=[], journal=journal) as d:
            assert await d.journal.payloads("job", range(16)) == {}  # dropped once sent

    async def test_a_worker_runs_only_its_providers(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """A worker with only a LegallyMail client leaves the PEC Massiva lane alone."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=3, lm=2))
        outcomes = await work((clients[1],), journal)  # type: ignore[arg-type]
        assert {o.provider for o in outcomes} == {"legallymail"}
        assert len(pm.state.ledger) == 0
        assert (await lanes(journal))["pecmassiva"].remaining == 3

    async def test_an_unknown_or_never_enqueued_job_is_refused(
        self, clients: Clients, journal: str
    ) -> None:
        """work(job) of a job the journal lacks, or that was run but not enqueued, is
        JobNotFoundError naming how to enqueue it."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            with pytest.raises(JobNotFoundError, match="no job"):
                await collect(d.work("nope"))
            await collect(d.run("classic", messages(pm=1, lm=0)))
            with pytest.raises(JobNotFoundError, match="not enqueued"):
                await collect(d.work("classic"))

    async def test_nothing_enqueued_ends_at_once(self, clients: Clients, journal: str) -> None:
        """With no enqueued job, work() ends without waiting."""
        assert await asyncio.wait_for(work(clients, journal), 10) == []

    async def test_a_lapsed_owner_is_replaced_and_its_send_in_flight_settled(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """A lane whose owner marked a chunk in flight and went silent is taken over once its
        lease lapses; the chunk is settled on evidence (UNKNOWN: it never left, with the
        reason), the rest sent once, in order."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=5, lm=0))
            ghost = await d.journal.acquire_lane("job", owner_id="ghost", ttl=0.3)
            assert ghost is not None
            first = (await d.journal.next_chunks(ghost, 1))[0]
            await d.journal.mark_in_flight(ghost, first)
        outcomes = await asyncio.wait_for(work(clients, journal), 30)
        by_seq = {o.seq: o for o in outcomes}
        assert by_seq[0].status is ChunkStatus.UNKNOWN
        assert "in flight when the last run stopped" in (by_seq[0].error or "")
        assert [by_seq[i].status for i in range(1, 5)] == [ChunkStatus.SENT] * 4
        assert [s.recipients[0] for s in pm.state.ledger] == [
            f"p{i}@pec.example.it" for i in range(1, 5)
        ]
        holder = (await lanes(journal))["pecmassiva"]
        assert holder.holder is None
        assert holder.remaining == 0

    async def test_a_send_found_at_the_provider_is_not_sent_again(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """The new owner finds the dead owner's in-flight send at the provider: SENT on that
        evidence, never resent."""
        pm_client = clients[0]
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=3, lm=0))
            ghost = await d.journal.acquire_lane("job", owner_id="ghost", ttl=0.3)
            assert ghost is not None
            first = (await d.journal.next_chunks(ghost, 1))[0]
            await d.journal.mark_in_flight(ghost, first)
            message = pm_msg(0)
            await pm_client.sends.create(  # the request left; its answer was never recorded
                recipients=message.recipients, subject=message.subject, body=message.body
            )
        outcomes = await asyncio.wait_for(work(clients, journal), 30)
        first_outcome = next(o for o in outcomes if o.seq == 0)
        assert first_outcome.status is ChunkStatus.SENT
        assert first_outcome.evidence is not None
        assert sorted(accepted(pm, lm).values()) == [1, 1, 1]

    async def test_an_account_error_stops_the_lane_until_enqueued_again(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """A 401 stops the lane with its reason (chunks pending); no worker takes it; enqueuing
        the job again reopens it and a good client sends the rest once."""
        fast = RetryPolicy(base=0.0)
        async with (
            PecMassivaClient(
                token="wrong", username="box@pecmassiva.com", password="fake-mailbox-password",
                base_url=pm.url, rate_limit=PM_RATE, retry_policy=fast,
            ) as bad,
        ):  # fmt: skip
            async with BulkDispatcher(clients=[bad, clients[1]], journal=journal) as d:
                await d.enqueue("job", messages(pm=3, lm=1))
            outcomes = await asyncio.wait_for(work((bad, clients[1]), journal), 30)  # type: ignore[arg-type]
        assert {o.provider for o in outcomes} == {"legallymail"}
        stopped = (await lanes(journal))["pecmassiva"]
        assert stopped.stopped is not None
        assert "AuthenticationError" in stopped.stopped
        assert (stopped.remaining, stopped.runnable) == (3, False)
        assert await asyncio.wait_for(work(clients, journal), 10) == []  # not taken
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=3, lm=1))
        outcomes = await asyncio.wait_for(work(clients, journal), 30)
        assert sorted(o.seq for o in outcomes) == [0, 1, 2]
        assert sorted(accepted(pm, lm).values()) == [1] * 6

    async def test_stop_work_finishes_the_chunk_in_flight_and_releases_the_lane(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """stop_work() during a send: that chunk's outcome is recorded, nothing more is sent,
        the lane is free for the next worker, which sends the rest once."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=8, lm=0))
        async with BulkDispatcher(clients=list(clients), journal=journal, lease_ttl=TTL) as d:
            got: list[ChunkOutcome] = []
            async for outcome in d.work(poll_interval=0.05):
                got.append(outcome)
                if len(got) == 2:
                    d.stop_work()
        assert 2 <= len(got) <= 3  # the chunk in flight when asked may finish too
        assert all(o.status is ChunkStatus.SENT for o in got)
        state = (await lanes(journal))["pecmassiva"]
        assert (state.holder, state.remaining) == (None, 8 - len(got))
        rest = await asyncio.wait_for(work(clients, journal), 30)
        assert sorted(o.seq for o in got + rest) == list(range(8))
        assert sorted(accepted(pm, lm).values()) == [1] * 8

    async def test_a_worker_waits_for_a_live_lane_and_ends_when_it_is_done(
        self, clients: Clients, journal: str
    ) -> None:
        """While another owner holds the only lane with work, a worker waits (polling) and
        ends once that lane has no work left, having sent nothing."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=1, lm=0))
            other = await d.journal.acquire_lane("job", owner_id="other", ttl=30)
            assert other is not None
            waiting = asyncio.ensure_future(work(clients, journal))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            record = (await d.journal.next_chunks(other, 1))[0]
            await d.journal.mark_in_flight(other, record)
            await d.journal.mark_done(other, record, ChunkStatus.SENT, provider_ids=["X1"])
            await d.journal.release(other)
            assert await asyncio.wait_for(waiting, 10) == []

    async def test_a_single_runner_excludes_workers_and_keeps_its_guarantees(
        self, clients: Clients, journal: str, pm: RunningFake, lm: RunningFake
    ) -> None:
        """run() of an enqueued job holds the job lease: a worker meanwhile takes no lane;
        the run sends everything once and the worker then finds nothing left."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=6, lm=2))
            run = d.run("job", messages(pm=6, lm=2))
            first = await run.__anext__()
            assert await d.journal.acquire_lane("job", owner_id="w", ttl=TTL) is None
            rest = [o async for o in run]
        assert sorted(o.seq for o in [first, *rest]) == list(range(8))
        assert await asyncio.wait_for(work(clients, journal), 10) == []
        assert sorted(accepted(pm, lm).values()) == [1] * (6 + 2 * 3)

    async def test_a_worker_holding_a_lane_locks_out_a_runner(
        self, clients: Clients, journal: str
    ) -> None:
        """run() of a job a worker is sending raises JobLockedError before any request."""
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            await d.enqueue("job", messages(pm=2, lm=0))
            lane = await d.journal.acquire_lane("job", owner_id="w", ttl=30)
            assert lane is not None
            with pytest.raises(JobLockedError, match="lane 'pecmassiva'"):
                await collect(d.run("job", messages(pm=2, lm=0)))
