"""Reconciliation marks SENT only on unique evidence (issue 9, findings 2 and 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    DeliveryUnknownError,
    OutgoingMessage,
)
from certmail_async.testing import RunningFake
from tests.bulk.conftest import Clients, collect

pytestmark = pytest.mark.timeout(60)


class Crash(BaseException):
    """Stands for a SIGKILL at a dispatcher checkpoint."""


def message(provider: str, to: str, body: str = "<p>Gentile cliente</p>") -> OutgoingMessage:
    return OutgoingMessage(
        provider=provider,  # type: ignore[arg-type]
        recipients=[to], subject="Avviso", body=body,
    )  # fmt: skip


def dispatcher(clients: Clients, journal: Path, provider: str, **kw: Any) -> BulkDispatcher:
    """A dispatcher on one provider that gives up reconciling at once (no waiting)."""
    client = clients[0] if provider == "pecmassiva" else clients[1]
    kw.setdefault("reconcile_tries", 1)
    return BulkDispatcher(clients=[client], journal=journal, **kw)


def crash_at(point: str, seq: int) -> Any:
    def hook(at: str, s: int) -> None:
        if (at, s) == (point, seq):
            raise Crash

    return hook


def fake_of(provider: str, pm: RunningFake, lm: RunningFake) -> RunningFake:
    return pm if provider == "pecmassiva" else lm


def send_route(provider: str) -> str:
    return "/send" if provider == "pecmassiva" else "/api/send"


def accepted(provider: str, fake: RunningFake, address: str) -> int:
    count: int = fake.state.sent_to(address)
    return count


PROVIDERS = ["pecmassiva", "legallymail"]


class TestSharedSubject:
    """Two chunks share the subject "Avviso": one 500 before processing, one after."""

    @pytest.mark.parametrize("provider", PROVIDERS)
    async def test_the_unsent_chunk_is_never_marked_sent_with_the_others_record(
        self, pm: RunningFake, lm: RunningFake, clients: Clients, tmp_path: Path, provider: str
    ) -> None:
        """Chunk 0 (500 before) stays UNKNOWN, chunk 1 (500 after) is SENT; nobody gets two."""
        fake = fake_of(provider, pm, lm)
        journal = tmp_path / "j.sqlite"
        a, b = ("a@pec.example.it", "b@pec.example.it")
        messages = [message(provider, a), message(provider, b)]
        fake.state.faults.inject("POST", send_route(provider), status=500)  # not processed
        async with dispatcher(clients, journal, provider) as d:
            with pytest.raises(DeliveryUnknownError, match="lane stopped"):
                await collect(d.run("avvisi", messages))
        # chunk 1 reaches the provider, but its answer is lost and the process dies
        async with dispatcher(clients, journal, provider, hook=crash_at("after_response", 1)) as d:
            with pytest.raises(Crash):
                await collect(d.run("avvisi", messages))
        assert accepted(provider, fake, b) == 1
        async with dispatcher(clients, journal, provider) as d:
            by_seq = {o.seq: o for o in await collect(d.run("avvisi", messages))}
            assert by_seq[0].status is ChunkStatus.UNKNOWN
            assert "not found at the provider" in (by_seq[0].error or "")
            assert by_seq[1].status is ChunkStatus.SENT
            assert by_seq[1].evidence is not None
            assert "recipients" in by_seq[1].evidence.matched
            # the explicit decision: resend what is still not found
            by_seq = {
                o.seq: o for o in await collect(d.run("avvisi", messages, retry_unknown=True))
            }
        assert by_seq[0].status is ChunkStatus.SENT
        assert by_seq[1].status is ChunkStatus.SKIPPED
        assert accepted(provider, fake, a) == 1
        assert accepted(provider, fake, b) == 1  # never a second copy

    async def test_two_in_doubt_chunks_that_could_own_one_record_both_stay_unknown(
        self, lm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """Same recipient and subject, one record: both UNKNOWN naming the candidates."""
        journal = tmp_path / "j.sqlite"
        to = "same@example.com"
        messages = [message("legallymail", to, "<p>1</p>"), message("legallymail", to, "<p>2</p>")]
        lm.state.faults.inject("POST", "/api/send", status=500)
        async with dispatcher(clients, journal, "legallymail") as d:
            with pytest.raises(DeliveryUnknownError):
                await collect(d.run("twins", messages))
        async with dispatcher(
            clients, journal, "legallymail", hook=crash_at("after_response", 1)
        ) as d:
            with pytest.raises(Crash):
                await collect(d.run("twins", messages))
        async with dispatcher(clients, journal, "legallymail") as d:
            outcomes = await collect(d.run("twins", messages, retry_unknown=True))
        assert [o.status for o in outcomes] == [ChunkStatus.UNKNOWN, ChunkStatus.UNKNOWN]
        for outcome in outcomes:
            assert "ambiguous" in (outcome.error or "")
            assert "twins:0" in (outcome.error or "")
            assert "twins:1" in (outcome.error or "")
        assert lm.state.sent_to(to) == 1  # retry_unknown never resends an ambiguous chunk


class TestAcrossJobs:
    """A record another job claimed is never evidence for this one."""

    @pytest.mark.parametrize("provider", PROVIDERS)
    async def test_november_is_not_marked_sent_with_octobers_send(
        self, pm: RunningFake, lm: RunningFake, clients: Clients, tmp_path: Path, provider: str
    ) -> None:
        """Same recipient, subject and body in two jobs: the in-doubt one stays UNKNOWN."""
        fake = fake_of(provider, pm, lm)
        journal = tmp_path / "j.sqlite"
        to = "cliente@pec.example.it"
        # within the old 120 s allowance on purpose
        async with dispatcher(clients, journal, provider, reconcile_skew=120.0) as d:
            [october] = await collect(d.run("october", [message(provider, to)]))
            assert october.status is ChunkStatus.SENT
            fake.state.faults.inject("POST", send_route(provider), status=500)
            with pytest.raises(DeliveryUnknownError):
                await collect(d.run("november", [message(provider, to)]))
            status = await d.status("november")
            [unknown] = status.unknown
        assert october.provider_ids[0] in (unknown.error or "")  # named, but not taken
        assert "belong to other chunks" in (unknown.error or "")
        assert fake.state.sent_to(to) == 1


class TestEvidenceIsStored:
    """The evidence used goes to the journal and comes back from status and export."""

    async def test_status_shows_the_evidence(
        self, pm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """A reconciled chunk keeps the record id and the fields matched."""
        journal = tmp_path / "j.sqlite"
        pm.state.faults.inject("POST", "/send", status=500, after_record=True)
        async with dispatcher(clients, journal, "pecmassiva") as d:
            [outcome] = await collect(d.run("ev", [message("pecmassiva", "x@pec.example.it")]))
            record = await d.journal.get("ev", 0)
        assert outcome.status is ChunkStatus.SENT
        assert record is not None
        assert record.evidence is not None
        assert record.evidence.record_id == pm.state.ledger[0].code
        assert set(record.evidence.matched) == {"recipients", "subject", "created_at", "body"}


class TestListWindow:
    """An in-doubt chunk is settled in its lane before the lane's next send."""

    async def test_legallymail_unknown_is_settled_before_the_next_send(
        self, lm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """A lost answer deep in a job is found while the latest-25 list still shows it."""
        journal = tmp_path / "j.sqlite"
        messages = [message("legallymail", f"r{i}@example.com") for i in range(30)]

        def hook(point: str, seq: int) -> None:
            if (point, seq) == ("before_in_flight", 26):  # 26 sends listed before it
                lm.state.faults.inject("POST", "/api/send", status=500, after_record=True)

        async with dispatcher(clients, journal, "legallymail", hook=hook) as d:
            outcomes = await collect(d.run("window", messages))
        assert {o.status for o in outcomes} == {ChunkStatus.SENT}
        assert [o.seq for o in outcomes if o.evidence is not None] == [26]
        assert len(lm.state.ledger) == 30

    async def test_an_unsettled_send_stops_its_lane_with_the_rest_pending(
        self, lm: RunningFake, pm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """Not found: the lane stops (DeliveryUnknownError), later chunks stay pending."""
        journal = tmp_path / "j.sqlite"
        messages = [message("legallymail", f"r{i}@example.com") for i in range(5)]
        messages += [message("pecmassiva", f"p{i}@pec.example.it") for i in range(3)]
        lm.state.faults.inject("POST", "/api/send", status=500)
        async with BulkDispatcher(
            clients=list(clients), journal=journal, reconcile_tries=2, reconcile_backoff=0.01
        ) as d:
            with pytest.raises(DeliveryUnknownError, match="legallymail lane stopped"):
                await collect(d.run("stop", messages))
            status = await d.status("stop")
        assert len(lm.state.ledger) == 0  # nothing after the in-doubt send
        assert len(pm.state.ledger) == 3  # the other lane went on
        assert status.chunks.get("unknown") == 1
        assert status.chunks.get("sent") == 3
        assert status.chunks.get("pending", 0) + status.chunks.get("in_flight", 0) <= 4


class TestSlowReceipts:
    """PEC Massiva receipts can lag: the lane looks again, a bounded number of times."""

    async def test_late_delivery_receipts_are_waited_for(self, tmp_path: Path) -> None:
        """Receipts 60 ms late: the second look finds the send; nothing is resent."""
        from certmail_async import RetryPolicy
        from certmail_async.testing import run_fake
        from tests.bulk.conftest import PM_CAP, PM_RATE

        async with (
            run_fake("pecmassiva", send_rate=PM_CAP, deliver_delay=0.06) as pm,
            pm.client(rate_limit=PM_RATE, retry_policy=RetryPolicy(base=0.0)) as client,
            BulkDispatcher(
                clients=[client], journal=tmp_path / "j.sqlite", reconcile_tries=4,
                reconcile_backoff=0.04,
            ) as d,
        ):  # fmt: skip
            pm.state.faults.inject("POST", "/send", status=500, after_record=True)
            outcomes = await collect(
                d.run("late", [message("pecmassiva", f"r{i}@pec.example.it") for i in range(2)])
            )
            assert [o.status for o in outcomes] == [ChunkStatus.SENT, ChunkStatus.SENT]
            assert outcomes[0].evidence is not None
            assert pm.state.count("GET", "/inbox") >= 2  # looked more than once
            assert len(pm.state.ledger) == 2

    async def test_receipts_too_late_stop_the_lane(self, tmp_path: Path) -> None:
        """Receipts later than every look: UNKNOWN, the lane stops, nothing else is sent."""
        from certmail_async import RetryPolicy
        from certmail_async.testing import run_fake
        from tests.bulk.conftest import PM_CAP, PM_RATE

        async with (
            run_fake("pecmassiva", send_rate=PM_CAP, deliver_delay=30.0) as pm,
            pm.client(rate_limit=PM_RATE, retry_policy=RetryPolicy(base=0.0)) as client,
            BulkDispatcher(
                clients=[client], journal=tmp_path / "j.sqlite", reconcile_tries=2,
                reconcile_backoff=0.01,
            ) as d,
        ):  # fmt: skip
            pm.state.faults.inject("POST", "/send", status=500, after_record=True)
            with pytest.raises(DeliveryUnknownError, match="pecmassiva lane stopped"):
                await collect(
                    d.run(
                        "later", [message("pecmassiva", f"r{i}@pec.example.it") for i in range(3)]
                    )
                )
            status = await d.status("later")
        assert len(pm.state.ledger) == 1
        assert status.chunks.get("unknown") == 1


class TestCorrelationTag:
    """The opt-in tag makes every chunk's subject unique, so evidence is certain."""

    async def test_tag_tells_twin_chunks_apart(
        self, lm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """With correlation_tag=True the twin chunks settle apart: one UNKNOWN, one SENT."""
        journal = tmp_path / "j.sqlite"
        to = "same@example.com"
        messages = [message("legallymail", to, "<p>1</p>"), message("legallymail", to, "<p>2</p>")]
        lm.state.faults.inject("POST", "/api/send", status=500)
        tagged = {"correlation_tag": True}
        async with dispatcher(clients, journal, "legallymail", **tagged) as d:
            with pytest.raises(DeliveryUnknownError):
                await collect(d.run("tagged", messages))
        async with dispatcher(
            clients, journal, "legallymail", hook=crash_at("after_response", 1), **tagged
        ) as d:
            with pytest.raises(Crash):
                await collect(d.run("tagged", messages))
        async with dispatcher(clients, journal, "legallymail", **tagged) as d:
            outcomes = await collect(d.run("tagged", messages))
        assert [o.status for o in outcomes] == [ChunkStatus.UNKNOWN, ChunkStatus.SENT]
        assert outcomes[1].evidence is not None
        assert "tag" in outcomes[1].evidence.matched
        assert lm.state.ledger[0].subject.startswith("Avviso [cm:")
        assert lm.state.ledger[0].subject.endswith("-1]")

    async def test_switching_the_tag_on_resume_is_a_mismatch(
        self, lm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """The tag changes the subjects, so a job keeps the setting it started with."""
        from certmail_async import JobMismatchError

        journal = tmp_path / "j.sqlite"
        async with dispatcher(clients, journal, "legallymail") as d:
            await collect(d.run("t", [message("legallymail", "a@example.com")]))
        async with dispatcher(clients, journal, "legallymail", correlation_tag=True) as d:
            with pytest.raises(JobMismatchError):
                await collect(d.run("t", [message("legallymail", "a@example.com")]))
