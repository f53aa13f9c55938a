"""Pacing learned from the wire: write stamps, round trips, 429s and rate-limit headers.

These run the SDK against its fake servers on loopback (a real clock, scaled caps with
slack far above the event loop's noise).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest

from certmail_async import PecMassivaClient, RateLimit, RateLimitError, RetryPolicy
from certmail_async._pacing import FLOOR_FRACTION, Gate
from certmail_async.testing import run_fake

SEND = {"recipients": ["a@pec.example.it"], "subject": "s", "body": "b"}


def _local_gate(client: PecMassivaClient) -> Gate:
    gate = client._transport.gate()
    assert isinstance(gate, Gate)
    return gate


class TestWriteStamps:
    async def test_slow_first_connection_pushes_the_next_send(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first connection takes 0.15 s (a handshake): the next send leaves after it."""
        real = aiohttp.TCPConnector._create_connection
        calls: list[float] = []

        async def slow_first(self: aiohttp.TCPConnector, *a: Any, **kw: Any) -> Any:
            calls.append(time.monotonic())
            if len(calls) == 1:
                await asyncio.sleep(0.15)
            return await real(self, *a, **kw)

        monkeypatch.setattr(aiohttp.TCPConnector, "_create_connection", slow_first)
        rate = RateLimit(requests=1, per=0.1, slack=0.01)  # one every 0.11 s
        async with run_fake("pecmassiva", send_rate=None) as fake:
            async with fake.client(rate_limit=rate) as client:
                started = time.monotonic()
                await asyncio.gather(client.sends.create(**SEND), client.sends.create(**SEND))
            arrivals = [r.at for r in fake.state.requests if r.route == "/send"]
        assert len(arrivals) == 2
        assert arrivals[0] - started >= 0.15  # the slow handshake
        # Without the stamp, the second would leave at 0.11 s on a fast connection and
        # arrive before the first.
        assert arrivals[1] - arrivals[0] >= rate.cap_interval - 0.01

    async def test_round_trips_are_sampled_on_paced_calls(self) -> None:
        """Each paced call adds one round trip to its scope's sample; reads add none."""
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            fake.client(rate_limit=RateLimit(requests=1, per=0.02)) as client,
        ):
            for _ in range(3):
                await client.sends.create(**SEND)
            await client.quota.retrieve()
            rtts = list(_local_gate(client).policy.rtts)
        assert len(rtts) == 3
        assert all(0 < rtt < 1.0 for rtt in rtts)

    async def test_caller_session_is_stamped_at_hand_off_and_left_alone(self) -> None:
        """A session you pass gets no tracing added; round trips are measured from hand-off."""
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            aiohttp.ClientSession() as session,
        ):
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.02), session=session
            ) as client:
                for _ in range(2):
                    await client.sends.create(**SEND)
                gate = _local_gate(client)
                assert len(gate.policy.rtts) == 2
                assert gate.state.departed == 2
            assert session.trace_configs == []
            assert not session.closed


class TestRefusalsOnTheWire:
    async def test_429_on_a_send_tightens_the_scope(self, caplog: pytest.LogCaptureFixture) -> None:
        """A 429 on POST /send: retried, the scope strict with twice the budget, no RTT kept."""
        caplog.set_level(logging.WARNING, logger="certmail_async")
        rate = RateLimit(requests=1, per=0.05)
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("POST", "/send", status=429, retry_after="0.01")
            async with fake.client(rate_limit=rate, retry_policy=RetryPolicy(base=0.0)) as client:
                await client.sends.create(**SEND)
                state = client.pacing
                sampled = len(_local_gate(client).policy.rtts)
            assert len(fake.state.ledger) == 1
        assert sampled == 1  # the 429's quicker round trip is not taken for jitter
        assert state is not None
        assert state.mode == "strict"
        assert state.refusals == 1
        assert state.budget == pytest.approx(2 * FLOOR_FRACTION * rate.cap_interval)
        assert any("strict" in r.getMessage() for r in caplog.records if r.levelno == 30)

    async def test_429_on_an_unpaced_read_only_pauses(self) -> None:
        """A 429 on a read the cap does not count pauses the scope but keeps its spacing."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=429, retry_after="0.01")
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.05), retry_policy=RetryPolicy(base=0.0)
            ) as client:
                await client.quota.retrieve()
                state = client.pacing
        assert state is not None
        assert state.mode == "window"
        assert state.refusals == 0
        assert state.pauses == 1

    @pytest.mark.parametrize(
        ("reset", "low", "high"),
        [("0.2", 0.19, 0.2), (None, 1.0, 3.0)],  # seconds; None: a Unix time 3 s ahead
    )
    async def test_ratelimit_reset_alone_sets_the_pause(
        self, reset: str | None, low: float, high: float
    ) -> None:
        """A 429 with X-RateLimit-Reset and no Retry-After pauses until the reset."""
        value = reset if reset is not None else str(int(time.time()) + 3)
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject(
                "GET",
                "/quota/{mailbox}",
                status=429,
                headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": value},
            )
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.05), max_retries=0
            ) as client:
                with pytest.raises(RateLimitError) as info:
                    await client.quota.retrieve()
                paused = client.pacing.paused_for if client.pacing else 0.0
        assert info.value.retry_after is not None
        assert low <= info.value.retry_after <= high
        assert low - 0.1 <= paused <= high


class TestClientPacing:
    async def test_pacing_shows_the_scope(self) -> None:
        """client.pacing: the scope's spacing, mode, budget and departures; None when off."""
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            fake.client(rate_limit=RateLimit(requests=1, per=0.02)) as paced,
            fake.client(rate_limit=None) as unpaced,
        ):
            await paced.sends.create(**SEND)
            state = paced.pacing
            assert unpaced.pacing is None
        assert state is not None
        assert state.departed == 1
        assert state.mode == "window"
        assert state.interval == pytest.approx(0.021)
        assert state.refusals == 0
        assert state.scope.startswith("pecmassiva:")
        assert "fake-pecmassiva-token" not in state.scope  # a digest, never the token

    def test_pacing_outside_a_loop_is_none(self) -> None:
        """Read outside a running event loop, client.pacing is None (no gate exists there)."""
        client = PecMassivaClient(token="t0ken", username="box@pecmassiva.com", password="p")
        assert client.pacing is None
