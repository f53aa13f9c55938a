"""The fakes as load targets: metrics, latency models, fault rates, bounded memory, workers."""

from __future__ import annotations

import random

import aiohttp
import pytest

from certmail_async import DeliveryUnknownError
from certmail_async.testing import run_fake
from certmail_async.testing._load import (
    FaultRates,
    Latency,
    LedgerSummary,
    fake_options,
    serve_workers,
)

SEND = dict(recipients=["a@pec.example.it"], subject="s", body="b")


async def metrics(url: str, **query: str) -> dict:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/_fake/metrics", params=query) as r:
        assert r.status == 200
        return await r.json()


class TestMetrics:
    async def test_counts_requests_429s_and_the_ledger(self) -> None:
        """The metrics route counts answers by route and status, 429s and ledger sends, and
        does not count itself."""
        from certmail_async import RateLimit

        async with run_fake(
            "pecmassiva", send_rate=RateLimit(requests=1, per=60, margin=0)
        ) as fake:
            async with fake.client(rate_limit=None, max_retries=0) as client:
                await client.sends.create(**SEND)
                with pytest.raises(Exception, match=r"429|rate"):
                    await client.sends.create(**SEND)
                await client.quota.retrieve()
            m = await metrics(fake.url)
            m = await metrics(fake.url)  # asking twice counts nothing more
            assert m["requests"] == 3
            assert m["rate_limited"] == 1
            assert m["routes"]["POST /send"] == {"201": 1, "429": 1}
            assert m["ledger"]["sends"] == 1
            assert m["ledger"]["inbox"] == 2  # ACCETTAZIONE + CONSEGNA
            assert sum(m["latency"]["counts"]) == 3
            assert len(m["workers"]) == 1
            assert m["workers"][0]["rss_kib"] > 0
            assert len(fake.state.requests) == 3


class TestLatencyAndFaults:
    def test_latency_specs(self) -> None:
        """fixed, uniform and longtail parse; a long tail's median and p99 are as asked."""
        rng = random.Random(1)
        assert Latency.parse("fixed:5ms").sample(rng) == 0.005
        u = Latency.parse("uniform:1ms:3ms")
        assert all(0.001 <= u.sample(rng) <= 0.003 for _ in range(100))
        tail = Latency.parse("longtail:2ms:40ms")
        draws = sorted(tail.sample(rng) for _ in range(20_000))
        assert draws[10_000] == pytest.approx(0.002, rel=0.1)
        assert draws[19_800] == pytest.approx(0.040, rel=0.2)
        assert draws[-1] <= tail.cap == 0.4
        for bad in ("fixed", "uniform:3ms:1ms", "longtail:5ms:1ms", "gauss:1ms", "fixed:5 parsecs"):
            with pytest.raises(ValueError, match=r"latency|duration|needs"):
                Latency.parse(bad)

    def test_fault_rates_are_drawn_by_kind(self) -> None:
        """Each kind is drawn at its rate; unknown kinds and rates above 1 are refused."""
        rates = FaultRates.parse(["500=0.1", "reset=0.05"])
        rng = random.Random(3)
        picks = [rates.pick(rng, "POST", "/send") for _ in range(20_000)]
        assert picks.count("500") / 20_000 == pytest.approx(0.1, abs=0.01)
        assert picks.count("reset") / 20_000 == pytest.approx(0.05, abs=0.01)
        with pytest.raises(ValueError, match="unknown fault kind"):
            FaultRates.parse(["418=0.1"])
        with pytest.raises(ValueError, match="more than 1"):
            FaultRates.parse(["500=0.7", "503=0.7"])

    async def test_lost_answers_are_recorded_then_fail(self) -> None:
        """The 'lost' fault records the send and answers 500: the SDK says unknown."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.fault_rates = FaultRates(rates={"lost": 1.0})
            async with fake.client(rate_limit=None) as client:
                with pytest.raises(DeliveryUnknownError):
                    await client.sends.create(**SEND)
            assert len(fake.state.ledger) == 1
            assert fake.state.metrics.faults == {"lost": 1}

    async def test_latency_model_applies(self) -> None:
        """A fixed 30 ms latency shows in the fake's own latency histogram."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.latency = Latency.fixed(0.03)
            async with fake.client(rate_limit=None) as client:
                await client.quota.retrieve()
            assert fake.state.metrics.latency_max >= 0.03


class TestBoundedMemory:
    async def test_ledger_keep_cuts_the_ledger_not_the_counts(self) -> None:
        """With ledger_keep=10, 40 sends leave about 10 in full and 40 counted."""
        async with run_fake("pecmassiva", send_rate=None, ledger_keep=10) as fake:
            async with fake.client(rate_limit=None) as client:
                for i in range(40):
                    await client.sends.create(
                        recipients=[f"r{i % 3}@pec.example.it"], subject=f"s{i}", body="b"
                    )
            assert 10 <= len(fake.state.ledger) <= 11
            assert fake.state.ledger[-1].subject == "s39"
            summary = fake.state.ledger_summary
            assert summary.sends == 40
            assert summary.duplicates == 0
            assert summary.by_recipient["r0@pec.example.it"] == 14

    async def test_inbox_limit_and_indexed_receipts(self) -> None:
        """With inbox_limit=20, old receipts are dropped and recent ones are still found by
        code; the quota follows what is kept."""
        async with run_fake("pecmassiva", send_rate=None, inbox_limit=20) as fake:
            async with fake.client(rate_limit=None) as client:
                codes = [(await client.sends.create(**{**SEND, "subject": f"s{i}"})).code
                         for i in range(30)]  # fmt: skip
                latest = await client.sends.receipts(codes[-1])
                assert len(latest.receipts) == 2  # ACCETTAZIONE + CONSEGNA, by code
                oldest = await client.sends.receipts(codes[0])
                assert oldest.receipts == ()  # dropped with the oldest messages
            state = fake.state
            assert len(state.inbox) <= 22
            assert state.inbox_evicted == 60 - len(state.inbox)
            assert state._stored == sum(m.size for m in state.inbox)
            assert set(state._by_id) == {m.id for m in state.inbox}

    async def test_legallymail_retrieve_uses_the_index(self) -> None:
        """LegallyMail finds an e-mail by tracking id; one cut from the ledger is gone."""
        async with run_fake("legallymail", rate=None, ledger_keep=5) as fake:
            async with fake.client(rate_limit=None) as client:
                ids = [
                    (
                        await client.emails.send(recipients=["a@b.it"], subject=f"s{i}", html="h")
                    ).tracking_id
                    for i in range(12)
                ]
                assert (await client.emails.retrieve(ids[-1])).tracking_id == ids[-1]
                with pytest.raises(Exception, match=r"404|not found"):
                    await client.emails.retrieve(ids[0])
            assert fake.state.ledger_summary.sends == 12

    def test_summary_remembers_a_bounded_number_of_digests(self) -> None:
        """Past max_digests the oldest digest is forgotten (memory stays bounded)."""
        summary = LedgerSummary(max_digests=3)
        for i in range(5):
            summary.record(["a@x.it"], f"s{i}", "b")
        summary.record(["a@x.it"], "s0", "b")  # forgotten: not seen as a duplicate
        summary.record(["a@x.it"], "s4", "b")  # remembered
        assert (summary.sends, summary.duplicates) == (7, 1)


class TestWorkers:
    async def test_two_processes_share_a_port_and_add_up(self) -> None:
        """Two workers on one port: sends over several connections land in both, and the
        metrics of either add both up, the duplicate check included."""
        options = fake_options("pecmassiva", cap=False)
        async with serve_workers("pecmassiva", workers=2, options=options) as pool:
            from certmail_async import PecMassivaClient

            sent = 0
            for i in range(12):  # a new connection each time: the kernel spreads them
                async with PecMassivaClient(
                    token="fake-pecmassiva-token", username="box@pecmassiva.com",
                    password="fake-mailbox-password", base_url=pool.url, rate_limit=None,
                ) as client:  # fmt: skip
                    subject = "same" if i < 2 else f"s{i}"
                    await client.sends.create(
                        recipients=["a@pec.example.it"], subject=subject, body="b"
                    )
                    sent += 1
            import asyncio

            await asyncio.sleep(0.3)  # the workers publish every 0.1 s
            m = await metrics(pool.url, duplicates="1")
            assert m["ledger"]["sends"] == sent == 12
            assert m["ledger"]["duplicates"] == 1  # "same" twice, wherever each landed
            assert len(m["workers"]) == 2
            assert {w["pid"] for w in m["workers"]} == set(pool.pids)
            assert sum(w["requests"] for w in m["workers"]) == 12
