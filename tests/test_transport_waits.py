"""Bounded waits end to end: clamped Retry-After, deadlines that fail fast (wall times)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from certmail_async import RateLimit, RateLimitError, RetryPolicy
from certmail_async.testing import run_fake

SEND = {"recipients": ["a@pec.example.it"], "subject": "s", "body": "b"}


class TestDeadlines:
    async def test_concurrent_sends_past_their_deadline_fail_fast(self) -> None:
        """Finding 9: 4 sends at 1/s with timeout=0.3 -> 1 sent, 3 RateLimitError at once."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            async with fake.client(rate_limit=RateLimit(requests=1, per=1.0)) as client:
                started = time.perf_counter()
                results = await asyncio.gather(
                    *(client.sends.create(**SEND, timeout=0.3) for _ in range(4)),
                    return_exceptions=True,
                )
                wall = time.perf_counter() - started
            sent = [r for r in results if not isinstance(r, BaseException)]
            refused = [r for r in results if isinstance(r, RateLimitError)]
            assert len(sent) == 1
            assert len(refused) == 3
            assert len(fake.state.ledger) == 1  # nothing else reached the provider
        # All four answered long before the 1 s interval: the three refusals did not queue.
        assert wall < 0.9
        for error in refused:
            assert error.retry_after is not None
            assert error.retry_after >= 0.3
            assert error.status is None  # refused locally: no HTTP status

    async def test_a_slot_in_the_last_quarter_of_the_timeout_is_refused_unsent(self) -> None:
        """A slot 0.8 s into a 1 s timeout would leave 0.2 s: refused, unsent (not unknown)."""
        rate = RateLimit(requests=1, per=0.8, slack=0)
        async with run_fake("pecmassiva", send_rate=None) as fake:
            async with fake.client(rate_limit=rate) as client:
                first = await client.sends.create(**SEND, timeout=1.0)
                with pytest.raises(RateLimitError) as refused:
                    await client.sends.create(**SEND, timeout=1.0)
                # With the whole second to spare (explicit max_wait), it waits and sends.
                patient = client.with_options(max_wait=1.0)
                second = await patient.sends.create(**SEND, timeout=1.0)
            assert first.code
            assert second.code
            assert len(fake.state.ledger) == 2  # the refused one never reached the fake
        assert refused.value.status is None
        assert refused.value.retry_after is not None
        assert refused.value.retry_after > 0.5

    async def test_a_retry_in_the_last_quarter_of_the_timeout_is_refused_unsent(self) -> None:
        """A 429 answered 0.85 s into a 1 s timeout: no retry with 0.15 s left, no unknown."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("POST", "/send", status=429, retry_after="0", delay=0.85)
            fake.state.faults.inject("POST", "/send", delay=0.3)
            async with fake.client(rate_limit=RateLimit(requests=1, per=0.01)) as client:
                with pytest.raises(RateLimitError) as refused:
                    await client.sends.create(**SEND, timeout=1.0)
            assert refused.value.status == 429  # the provider's refusal: nothing was sent
            assert fake.state.count("POST", "/send") == 1
            assert len(fake.state.ledger) == 0

    async def test_sends_without_deadline_still_wait_their_turn(self) -> None:
        """With max_wait=None the same sends queue and leave one interval apart."""
        # The third send waits two intervals (0.5 s), far past its 0.2 s timeout, which
        # bounds only the request itself (room for a busy machine's loopback round trip).
        rate = RateLimit(requests=1, per=0.25, margin=0)
        async with run_fake("pecmassiva", send_rate=rate) as fake:
            async with fake.client(rate_limit=rate) as client:
                patient = client.with_options(max_wait=None, timeout=0.2)
                await asyncio.gather(*(patient.sends.create(**SEND) for _ in range(3)))
            assert len(fake.state.ledger) == 3

    async def test_pause_longer_than_the_timeout_fails_fast(self) -> None:
        """A 429 asking for a day pauses the scope (clamped); a 0.5 s call fails at once."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=429, retry_after="86400")
            async with fake.client(rate_limit=RateLimit(requests=1, per=1.0)) as client:
                started = time.perf_counter()
                with pytest.raises(RateLimitError) as first:
                    await client.quota.retrieve(timeout=0.5)
                with pytest.raises(RateLimitError) as second:
                    await client.quota.retrieve(timeout=0.5)
                wall = time.perf_counter() - started
                gate = client._transport.gate()
                assert gate is not None
                assert 290 < gate.paused_for <= 300.0  # clamped to max_retry_after
        assert first.value.retry_after == 300.0
        assert second.value.retry_after is not None
        assert second.value.retry_after > 290
        assert fake.state.count("GET", "/quota/{mailbox}") == 1  # the second never left
        assert wall < 0.2


WEEK = format_datetime(datetime.now(UTC) + timedelta(days=7), usegmt=True)
PAST = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)


class TestClampedRetryAfter:
    @pytest.mark.parametrize(
        "header", ["86400", "99999999999", "inf", "1e309", "nan", "-5", PAST, WEEK]
    )
    async def test_absurd_retry_after_is_clamped_and_logged(
        self, header: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each absurd Retry-After pauses at most max_retry_after and logs a WARNING."""
        caplog.set_level(logging.INFO, logger="certmail_async")
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=429, retry_after=header)
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.05),
                retry_policy=RetryPolicy(base=0.0, max_retry_after=0.05),
            ) as client:
                started = time.perf_counter()
                await client.quota.retrieve()  # 429, pause <= 0.05 s, retried, served
                wall = time.perf_counter() - started
        assert wall < 0.5
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("clamped" in r.getMessage() for r in warnings)
        assert any(getattr(r, "status", None) == 429 for r in warnings)
        pauses = [r for r in caplog.records if "paused" in r.getMessage()]
        assert pauses
        assert all(r.levelno == logging.INFO for r in pauses)

    async def test_scope_neighbours_are_not_held_past_the_cap(self) -> None:
        """Another client of the same token is held for the clamped pause only."""
        rate = RateLimit(requests=1, per=0.05)
        policy = RetryPolicy(base=0.0, max_retry_after=0.1)
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=429, retry_after="inf")
            async with (
                fake.client(rate_limit=rate, retry_policy=policy, max_retries=0) as a,
                fake.client(rate_limit=rate, retry_policy=policy) as b,
            ):
                with pytest.raises(RateLimitError) as info:
                    await a.quota.retrieve()
                started = time.perf_counter()
                await b.quota.retrieve()
                held = time.perf_counter() - started
        assert info.value.retry_after == 0.1
        assert 0.05 < held < 0.5


class TestQueueHygiene:
    async def test_failing_send_hook_frees_its_place(self) -> None:
        """A before_send hook that raises leaves the queue: the next call is not held for it."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            async with fake.client(rate_limit=RateLimit(requests=1, per=1.0)) as client:

                async def broken() -> None:
                    raise RuntimeError("journal down")

                with pytest.raises(RuntimeError):
                    await client.sends.create(**SEND, before_send=broken)
                gate = client._transport.gate()
                assert gate is not None
                assert gate.expected_wait() == 0.0  # nothing queued, nothing departed
                await client.sends.create(**SEND, timeout=0.3)  # leaves at once
            assert len(fake.state.ledger) == 1

    async def test_unpaced_client_keeps_its_deadline_after_429(self) -> None:
        """Without a gate, a 429 asking for more than the deadline raises instead of sleeping."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=429, retry_after="60")
            async with fake.client(rate_limit=None) as client:
                started = time.perf_counter()
                with pytest.raises(RateLimitError) as info:
                    await client.quota.retrieve(timeout=1.0)
                wall = time.perf_counter() - started
        assert info.value.retry_after == 60.0
        assert wall < 0.2


class TestDeadlineScope:
    async def _call(self, **options: object) -> object:
        async with run_fake("pecmassiva", send_rate=None) as fake:
            faults = fake.state.faults
            faults.inject("GET", "/quota/{mailbox}", status=429, retry_after="1")
            faults.inject("GET", "/quota/{mailbox}", delay=0.3)
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.05),
                retry_policy=RetryPolicy(base=0.0, max_retry_after=0.3),
                timeout=0.5,
            ) as client:
                return await client.with_options(**options).quota.retrieve()  # type: ignore[arg-type]

    async def test_timeout_alone_bounds_the_whole_call(self) -> None:
        """timeout=0.5: a 0.3 s pause leaves 0.2 s for an answer that takes 0.3 s."""
        from certmail_async import RequestTimeoutError

        with pytest.raises(RequestTimeoutError):
            await self._call()

    async def test_explicit_max_wait_bounds_only_the_waits(self) -> None:
        """max_wait=None: the pause does not eat the exchange's own 0.5 s."""
        assert await self._call(max_wait=None) is not None
