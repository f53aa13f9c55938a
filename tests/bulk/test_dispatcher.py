"""BulkDispatcher against both fakes: chunking, order, failures, journal, resume."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    JobMismatchError,
    LegallyMailClient,
    OutgoingMessage,
    PecMassivaClient,
)
from certmail_async.bulk._journal import SQLiteJournal
from certmail_async.testing import RunningFake
from tests.bulk.conftest import collect, lm_msg, pm_msg

pytestmark = pytest.mark.timeout(60)


class TestChunkingAndOrder:
    async def test_each_provider_sends_in_input_order(
        self, pm: RunningFake, lm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """Lanes run concurrently, but each provider receives its chunks in input order."""
        messages = []
        for i in range(15):
            messages += [pm_msg(i), lm_msg(i)]
        outcomes = await collect(dispatcher.run("order", messages))
        assert {o.status for o in outcomes} == {ChunkStatus.SENT}
        assert [s.recipients[0] for s in pm.state.ledger] == [
            f"p{i}@pec.example.it" for i in range(15)
        ]
        assert [e.recipients[0].email for e in lm.state.ledger] == [
            f"l{i}-0@example.com" for i in range(15)
        ]
        pm_seqs = [o.seq for o in outcomes if o.provider == "pecmassiva"]
        assert pm_seqs == sorted(pm_seqs)

    async def test_legallymail_chunks_are_at_most_10(
        self, lm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """A 25-recipient message becomes sends of 10, 10 and 5."""
        outcomes = await collect(dispatcher.run("chunks", [lm_msg(0, n=25)]))
        assert [len(o.recipients) for o in outcomes] == [10, 10, 5]
        assert [len(e.recipients) for e in lm.state.ledger] == [10, 10, 5]

    async def test_pecmassiva_chunk_size_is_configurable(
        self,
        pm: RunningFake,
        clients: tuple[PecMassivaClient, LegallyMailClient],
        journal_path: Path,
    ) -> None:
        """chunk_sizes sets the PEC Massiva recipients per send."""
        message = OutgoingMessage(
            provider="pecmassiva", recipients=[f"r{i}@pec.example.it" for i in range(7)],
            subject="s", body="b",
        )  # fmt: skip
        async with BulkDispatcher(
            clients=[clients[0]], journal=journal_path, chunk_sizes={"pecmassiva": 3}
        ) as d:
            outcomes = await collect(d.run("pm-chunks", [message]))
        assert [len(o.recipients) for o in outcomes] == [3, 3, 1]

    async def test_bad_recipient_fails_alone(
        self, lm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """An invalid or duplicate address fails that recipient; the others are sent."""
        message = OutgoingMessage(
            provider="legallymail", recipients=["ok@example.com", "not an address", "OK@example.com"],
            subject="s", body="b",
        )  # fmt: skip
        outcomes = await collect(dispatcher.run("bad", [message]))
        by = {o.status: o for o in outcomes}
        assert by[ChunkStatus.SENT].recipients == ("ok@example.com",)
        assert set(by[ChunkStatus.FAILED].failed_recipients) == {"not an address", "OK@example.com"}
        assert len(lm.state.ledger) == 1

    async def test_async_iterable_input(self, pm: RunningFake, dispatcher: BulkDispatcher) -> None:
        """An async generator works as input."""

        async def gen() -> AsyncIterator[OutgoingMessage]:
            for i in range(5):
                yield pm_msg(i)

        outcomes = await collect(dispatcher.run("agen", gen()))
        assert len(outcomes) == 5
        assert len(pm.state.ledger) == 5


class TestFailures:
    async def test_a_failed_chunk_does_not_stop_the_job(
        self, pm: RunningFake, lm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """A 400 on one chunk's content fails that chunk; the lane and the other lane go on."""
        pm.state.faults.inject(
            "POST", "/send", status=400,
            body={"success": False, "message": "Post parameter is not valid"},
        )  # fmt: skip
        outcomes = await collect(dispatcher.run("fail", [pm_msg(0), pm_msg(1), lm_msg(0)]))
        statuses = {o.seq: o.status for o in outcomes}
        assert statuses == {0: ChunkStatus.FAILED, 1: ChunkStatus.SENT, 2: ChunkStatus.SENT}
        assert "HTTP 400" in (next(o for o in outcomes if o.seq == 0).error or "")

    async def test_429_retries_the_chunk_at_the_head(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """A 429 (beyond the transport's retries) retries the same chunk first: order holds."""
        pm.state.faults.inject("POST", "/send", status=429, retry_after="0", times=4)
        outcomes = await collect(dispatcher.run("429", [pm_msg(i) for i in range(4)]))
        assert all(o.status is ChunkStatus.SENT for o in outcomes)
        assert [s.recipients[0] for s in pm.state.ledger] == [
            f"p{i}@pec.example.it" for i in range(4)
        ]

    async def test_500_after_processing_is_settled_in_its_lane(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """A 500 after the provider recorded the send is reconciled before the next send: SENT."""
        pm.state.faults.inject("POST", "/send", status=500, after_record=True)
        outcomes = await collect(dispatcher.run("500", [pm_msg(i) for i in range(3)]))
        assert [o.status for o in outcomes] == [ChunkStatus.SENT] * 3
        assert outcomes[0].evidence is not None
        assert outcomes[0].evidence.record_id == pm.state.ledger[0].code
        assert set(outcomes[0].evidence.matched) >= {"recipients", "subject", "created_at"}
        assert len(pm.state.ledger) == 3
        assert pm.state.count("POST", "/send") == 3

    async def test_partial_legallymail_failure(
        self, lm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """A bounced recipient inside a sent chunk is reported per recipient."""
        lm.state.bounce.add("l0-1@example.com")
        [outcome] = await collect(dispatcher.run("partial", [lm_msg(0, n=3)]))
        assert outcome.status is ChunkStatus.SENT
        assert list(outcome.failed_recipients) == ["l0-1@example.com"]
        rows = [r async for r in dispatcher.export("partial")]
        assert {r.recipient: r.status for r in rows}["l0-1@example.com"] is ChunkStatus.FAILED
        assert all(len(r.provider_ids) == 2 for r in rows)  # parent + own tracking id


class TestJournal:
    async def test_journal_is_wal_full_sync_with_no_secret_or_body(
        self, pm: RunningFake, dispatcher: BulkDispatcher, journal_path: Path
    ) -> None:
        """The journal runs WAL + synchronous=FULL and holds no credential and no body."""
        await collect(dispatcher.run("safe", [pm_msg(0, subject="Segreto")]))
        raw = b"".join(p.read_bytes() for p in journal_path.parent.glob("jobs.sqlite*"))
        for secret in (pm.state.token, pm.state.password, "<p>0</p>", "Segreto"):
            assert secret.encode() not in raw
        conn = sqlite3.connect(journal_path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        journal = dispatcher.journal
        assert isinstance(journal, SQLiteJournal)
        assert journal._connect().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL

    async def test_in_flight_is_committed_before_the_request(
        self,
        pm: RunningFake,
        clients: tuple[PecMassivaClient, LegallyMailClient],
        journal_path: Path,
    ) -> None:
        """When the request reaches the provider, the chunk is already in_flight on disk."""
        seen: list[str] = []

        def hook(point: str, seq: int) -> None:
            if point == "after_in_flight":
                conn = sqlite3.connect(journal_path)
                row = conn.execute("SELECT status FROM chunks WHERE seq=?", (seq,)).fetchone()
                conn.close()
                seen.append(row[0])
                assert len(pm.state.ledger) == seq  # nothing of this chunk sent yet

        async with BulkDispatcher(clients=[clients[0]], journal=journal_path, hook=hook) as d:
            await collect(d.run("wal", [pm_msg(i) for i in range(3)]))
        assert seen == ["in_flight"] * 3

    async def test_rerun_of_finished_job_sends_nothing(
        self, pm: RunningFake, lm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """Running a finished job id again yields SKIPPED for every chunk and sends nothing."""
        messages = [pm_msg(0), lm_msg(0), pm_msg(1)]
        await collect(dispatcher.run("again", messages))
        before = (len(pm.state.requests), len(lm.state.requests))
        outcomes = await collect(dispatcher.run("again", messages))
        assert {o.status for o in outcomes} == {ChunkStatus.SKIPPED}
        assert {o.previous for o in outcomes} == {ChunkStatus.SENT}
        assert (len(pm.state.requests), len(lm.state.requests)) == before

    async def test_other_content_is_refused_before_any_request(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """Re-running a job id with different content raises JobMismatchError; no request leaves."""
        await collect(dispatcher.run("mismatch", [pm_msg(0), pm_msg(1)]))
        before = len(pm.state.requests)
        with pytest.raises(JobMismatchError) as info:
            await collect(
                dispatcher.run("mismatch", [pm_msg(0), pm_msg(1, subject="Other"), pm_msg(2)])
            )
        assert info.value.seq == 1
        assert len(pm.state.requests) == before

    async def test_shorter_input_is_a_mismatch(self, dispatcher: BulkDispatcher) -> None:
        """An input shorter than the journal is not the same job."""
        await collect(dispatcher.run("short", [pm_msg(0), pm_msg(1)]))
        with pytest.raises(JobMismatchError, match="only 1"):
            await collect(dispatcher.run("short", [pm_msg(0)]))

    async def test_status_and_export(self, pm: RunningFake, dispatcher: BulkDispatcher) -> None:
        """status counts per state; export gives one row per recipient with provider ids."""
        pm.state.faults.inject("POST", "/send", status=400)
        await collect(dispatcher.run("report", [pm_msg(i) for i in range(3)]))
        status = await dispatcher.status("report")
        assert status.chunks == {"failed": 1, "sent": 2}
        assert status.finished
        rows = [r async for r in dispatcher.export("report")]
        assert [(r.recipient, r.status) for r in rows] == [
            ("p0@pec.example.it", ChunkStatus.FAILED),
            ("p1@pec.example.it", ChunkStatus.SENT),
            ("p2@pec.example.it", ChunkStatus.SENT),
        ]
        assert rows[1].provider_ids == (pm.state.ledger[0].code,)


class TestResume:
    async def _crash_after_send(
        self,
        pm: RunningFake,
        clients: tuple[PecMassivaClient, LegallyMailClient],
        journal_path: Path,
        provider: str,
    ) -> list[OutgoingMessage]:
        """Leave chunk 1 in_flight after the provider accepted it (as a crash would)."""
        messages = (
            [pm_msg(i) for i in range(3)]
            if provider == "pecmassiva"
            else [lm_msg(i) for i in range(3)]
        )

        class Crash(BaseException):
            pass

        def hook(point: str, seq: int) -> None:
            if point == "after_response" and seq == 1:
                raise Crash

        async with BulkDispatcher(clients=list(clients), journal=journal_path, hook=hook) as d:
            with pytest.raises(Crash):  # the error itself, never an ExceptionGroup
                await collect(d.run("crash", messages))
        return messages

    @pytest.mark.parametrize("provider", ["pecmassiva", "legallymail"])
    async def test_resume_finds_an_accepted_chunk(
        self,
        pm: RunningFake,
        lm: RunningFake,
        clients: tuple[PecMassivaClient, LegallyMailClient],
        journal_path: Path,
        provider: str,
    ) -> None:
        """A chunk the provider accepted before the crash is found at the provider: SENT, not resent."""
        messages = await self._crash_after_send(pm, clients, journal_path, provider)
        ledger = pm.state.ledger if provider == "pecmassiva" else lm.state.ledger
        assert len(ledger) == 2
        async with BulkDispatcher(clients=list(clients), journal=journal_path) as d:
            outcomes = await collect(d.resume("crash", messages))
        by_seq = {o.seq: o for o in outcomes}
        assert by_seq[1].status is ChunkStatus.SENT
        assert by_seq[1].error == "found at the provider after an interruption"
        assert by_seq[0].status is ChunkStatus.SKIPPED
        assert by_seq[2].status is ChunkStatus.SENT
        assert len(ledger) == 3  # chunk 1 was not sent again

    async def test_not_found_is_unknown_until_decided(
        self,
        pm: RunningFake,
        clients: tuple[PecMassivaClient, LegallyMailClient],
        journal_path: Path,
    ) -> None:
        """A chunk in flight that never reached the provider is UNKNOWN; retry_unknown sends it once."""

        class Crash(BaseException):
            pass

        def hook(point: str, seq: int) -> None:
            if point == "after_in_flight" and seq == 1:
                raise Crash

        messages = [pm_msg(i) for i in range(3)]
        async with BulkDispatcher(clients=[clients[0]], journal=journal_path, hook=hook) as d:
            with pytest.raises(Crash):
                await collect(d.run("lost", messages))
        async with BulkDispatcher(clients=[clients[0]], journal=journal_path) as d:
            outcomes = await collect(d.resume("lost", messages))
            assert {o.seq: o.status for o in outcomes}[1] is ChunkStatus.UNKNOWN
            assert (await d.status("lost")).unknown[0].seq == 1
            outcomes = await collect(d.resume("lost", messages, retry_unknown=True))
            assert {o.seq: o.status for o in outcomes}[1] is ChunkStatus.SENT
        assert sorted(s.recipients[0] for s in pm.state.ledger) == [
            f"p{i}@pec.example.it" for i in range(3)
        ]

    async def test_reconcile_only_without_input(
        self,
        pm: RunningFake,
        clients: tuple[PecMassivaClient, LegallyMailClient],
        journal_path: Path,
    ) -> None:
        """resume(job_id) without messages reconciles in-flight chunks only."""
        await self._crash_after_send(pm, clients, journal_path, "pecmassiva")
        async with BulkDispatcher(clients=list(clients), journal=journal_path) as d:
            outcomes = await collect(d.resume("crash"))
            assert [(o.seq, o.status) for o in outcomes] == [(1, ChunkStatus.SENT)]
            assert (await d.status("crash")).chunks.get("sent") == 2


class TestBackPressureAndProgress:
    async def test_reader_stays_close_to_the_lanes(
        self,
        pm: RunningFake,
        clients: tuple[PecMassivaClient, LegallyMailClient],
        journal_path: Path,
    ) -> None:
        """The input is read lazily: never more than the queues ahead of what was sent."""
        read = 0

        def gen() -> object:
            nonlocal read
            for i in range(400):
                read += 1
                yield pm_msg(i)

        async with BulkDispatcher(clients=[clients[0]], journal=journal_path, queue_size=8) as d:
            run = d.run("lazy", gen())  # type: ignore[arg-type]
            async with contextlib.aclosing(run):  # type: ignore[type-var]
                async for outcome in run:
                    assert read - outcome.seq <= 8 + 8 + 3
                    if outcome.seq == 30:
                        break
        await asyncio.sleep(0)
        assert read < 60

    async def test_progress_eta_comes_from_the_caps(
        self, clients: tuple[PecMassivaClient, LegallyMailClient], journal_path: Path
    ) -> None:
        """The estimate gives chunks per lane and seconds at the caps; progress counts down."""
        seen = []
        async with BulkDispatcher(
            clients=list(clients), journal=journal_path, on_progress=seen.append
        ) as d:
            messages = [lm_msg(0, n=25), *(pm_msg(i) for i in range(10))]
            est = d.estimate(messages)
            assert est.chunks == {"legallymail": 3, "pecmassiva": 10}
            assert est.seconds == pytest.approx(10 * 0.015)
            await collect(d.run("eta", messages, estimate=est))
        assert seen[-1].done_recipients == 35
        assert seen[-1].eta == 0
        assert seen[0].eta is not None
        assert seen[0].eta > 0

    def test_100k_legallymail_recipients_is_about_16_7_hours(self) -> None:
        """At the real cap, 100,000 LegallyMail recipients in sends of 10 take 16.68 hours."""
        client = LegallyMailClient(token="t0ken")
        d = BulkDispatcher(clients=[client], journal=":memory:")
        messages = [
            OutgoingMessage(
                provider="legallymail",
                recipients=[f"r{i}-{j}@example.com" for j in range(10)],
                subject="s",
                body="b",
            )
            for i in range(10_000)
        ]
        est = d.estimate(messages)
        assert est.recipients == 100_000
        assert est.chunks == {"legallymail": 10_000}
        assert est.hours == 16.68  # 10,000 sends at one every 6.006 s (the cap: 16.67)
