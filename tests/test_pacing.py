"""Pacing gates, on a virtual clock: exact spacing, pauses, shared scopes, what they learn."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math

import pytest
from aiolimiter import AsyncLimiter
from hypothesis import given, settings
from hypothesis import strategies as st

from certmail_async import PacingState, RateLimit, ValidationError
from certmail_async._pacing import (
    FLOOR_SECONDS,
    JITTER_FACTOR,
    RTT_SAMPLES,
    PacingPolicy,
    SlotUnavailable,
    gate_for,
    rate_limit_hint,
)
from tests.conftest import run_virtual


async def _admission_times(scope: str, rate: RateLimit, arrivals: list[float]) -> list[float]:
    loop = asyncio.get_running_loop()
    gate = gate_for(scope, rate)
    times: list[float] = []

    async def one(delay: float) -> None:
        await asyncio.sleep(delay)
        await gate.acquire()
        await gate.depart()  # what the transport does right before writing the request
        times.append(loop.time())

    await asyncio.gather(*(one(d) for d in arrivals))
    return sorted(times)


class TestRateLimit:
    def test_default_budget_is_spread_over_the_window(self) -> None:
        """Window mode: (T + B) / N with B = min(60 ms, 5% of T/N): 10/min -> 6.006 s."""
        assert RateLimit(requests=10, per=60).interval == pytest.approx(6.006)
        assert RateLimit(requests=1, per=1.0).interval == pytest.approx(1.05)
        assert RateLimit(requests=10, per=0.6).interval == pytest.approx(0.0603)  # 5% of T/N
        assert RateLimit(requests=10, per=60).budget == FLOOR_SECONDS

    def test_strict_mode_spends_the_budget_per_interval(self) -> None:
        """Strict: T/N + B, what a server refusing two requests closer than T/N needs."""
        rate = RateLimit(requests=10, per=60, slack=0.2, mode="strict")
        assert rate.interval == pytest.approx(6.2)
        assert rate.cap_interval == pytest.approx(6.0)
        assert RateLimit(requests=10, per=60, slack=0.2).interval == pytest.approx(6.02)

    def test_margin_is_the_old_spelling_of_slack(self) -> None:
        """margin=m keeps the old interval T/N*(1+m) and equals slack=m*T."""
        assert RateLimit(requests=10, per=60, margin=0.05).interval == pytest.approx(6.3)
        assert RateLimit(requests=1, per=1.0, margin=0).interval == 1.0
        assert RateLimit(requests=10, per=0.1, margin=0.5) == RateLimit(
            requests=10, per=0.1, slack=0.05
        )
        strict = RateLimit(requests=10, per=60, margin=0.05, mode="strict")
        assert strict.interval == pytest.approx(6.3)

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"requests": 0, "per": 1}, "rate_limit.requests"),
            ({"requests": 1, "per": 0}, "rate_limit.per"),
            ({"requests": 1, "per": 1, "margin": -1}, "rate_limit.margin"),
            ({"requests": 1, "per": 1, "slack": -0.1}, "rate_limit.slack"),
            ({"requests": 1, "per": 1, "slack": math.nan}, "rate_limit.slack"),
            ({"requests": 1, "per": 1, "slack": True}, "rate_limit.slack"),
            ({"requests": 1, "per": 1, "slack": 11.0}, "rate_limit.slack"),
            ({"requests": 1, "per": 1, "mode": "burst"}, "rate_limit.mode"),
            ({"requests": 1, "per": 1, "slack": 0.1, "margin": 0.1}, "rate_limit.margin"),
        ],
    )
    def test_rejects_nonsense(self, kwargs: dict[str, object], field: str) -> None:
        """Bad counts, windows, slack, mode, margin, or both spellings: a ValidationError."""
        with pytest.raises(ValidationError, match="RateLimit") as info:
            RateLimit(**kwargs)  # type: ignore[arg-type]
        assert info.value.field == field


class TestGate:
    def test_never_admits_two_closer_than_interval(self) -> None:
        """50 concurrent callers leave exactly one interval apart, never closer."""
        rate = RateLimit(requests=1, per=1.0)
        times = run_virtual(_admission_times("spacing", rate, [0.0] * 50))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) == 50
        assert min(gaps) >= rate.interval * (1 - 1e-8)
        # and no slower than needed: the whole batch drains in 49 intervals
        assert times[-1] - times[0] == pytest.approx(49 * rate.interval, abs=1e-6)

    @settings(max_examples=60, deadline=None)
    @given(
        arrivals=st.lists(
            st.floats(min_value=0, max_value=30, allow_nan=False), min_size=2, max_size=40
        ),
        requests=st.integers(min_value=1, max_value=10),
    )
    def test_any_window_holds_at_most_cap(self, arrivals: list[float], requests: int) -> None:
        """For any arrival pattern, any window of T seconds holds at most N departures."""
        rate = RateLimit(requests=requests, per=6.0)
        times = run_virtual(_admission_times(f"window-{requests}", rate, arrivals))
        for i, t in enumerate(times):
            in_window = [u for u in times[i:] if u < t + rate.per]
            assert len(in_window) <= requests
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(g >= rate.interval - 2e-6 for g in gaps)  # the virtual clock ticks in µs

    def test_pause_holds_a_departure_already_admitted(self) -> None:
        """A 429 that arrives between admission and departure still holds the departure."""

        async def scenario() -> float:
            loop = asyncio.get_running_loop()
            gate = gate_for("late-pause", RateLimit(requests=1, per=1.0))
            await gate.acquire()
            gate.pause(5.0)  # another request of the scope just got a 429
            await gate.depart()
            return loop.time()

        assert run_virtual(scenario()) >= 5.0 * (1 - 1e-8)

    def test_late_wakeups_do_not_accumulate(self) -> None:
        """Timers that fire 1 ms late (as real wake-ups do) do not slow the pace down."""

        async def scenario() -> float:
            loop = asyncio.get_running_loop()
            on_time = loop.call_at
            loop.call_at = lambda when, *a, **kw: on_time(when + 0.001, *a, **kw)  # type: ignore[method-assign,assignment]
            gate = gate_for("drift", RateLimit(requests=1, per=1.0))
            start = None
            for _ in range(101):
                await gate.acquire()
                await asyncio.sleep(0.002)  # journal fsync, round trip: every time
                await gate.depart()
                start = loop.time() if start is None else start
            return loop.time() - start

        interval = RateLimit(requests=1, per=1.0).interval
        assert run_virtual(scenario()) == pytest.approx(100 * interval, abs=0.01)

    def test_departures_stay_spaced_despite_local_delays(self) -> None:
        """Random delays between admission and departure (fsync, stalls) never bunch departures."""
        import random

        rng = random.Random(7)

        async def scenario() -> list[float]:
            loop = asyncio.get_running_loop()
            gate = gate_for("depart", RateLimit(requests=1, per=1.0))
            departures: list[float] = []
            for _ in range(200):
                await gate.acquire()
                await asyncio.sleep(rng.choice([0.0, 0.0, 0.3, 0.9]))  # the journal's fsync...
                await gate.depart()
                departures.append(loop.time())
            return departures

        times = run_virtual(scenario())
        interval = RateLimit(requests=1, per=1.0).interval
        assert min(b - a for a, b in itertools.pairwise(times)) >= interval * (1 - 1e-8)
        # and the pace is kept: 200 sends in about 200 intervals plus the largest delay
        assert times[-1] - times[0] <= 199 * interval + 0.9 + 1e-6

    def test_asynclimiter_n_per_t_bursts_past_the_cap(self) -> None:
        """Why the gate is not AsyncLimiter(10, 60): that lets 19 through in the first minute."""

        async def burst() -> int:
            loop = asyncio.get_running_loop()
            limiter = AsyncLimiter(10, 60)
            start = loop.time()
            times = []
            for _ in range(25):
                await limiter.acquire()
                times.append(loop.time() - start)
            return sum(1 for t in times if t < 60)

        assert run_virtual(burst()) == 19

    def test_pause_holds_every_caller(self) -> None:
        """A 429 pause holds paced and unpaced callers alike until it ends."""

        async def paced_send(gate: object) -> None:
            await gate.acquire()  # type: ignore[attr-defined]
            await gate.depart()  # type: ignore[attr-defined]

        async def scenario() -> tuple[float, float]:
            loop = asyncio.get_running_loop()
            gate = gate_for("pause", RateLimit(requests=1, per=1.0))
            await paced_send(gate)
            gate.pause(10.0)
            paced = asyncio.create_task(paced_send(gate))
            unpaced = asyncio.create_task(gate.wait_unpaused())
            await unpaced
            t_unpaced = loop.time()
            await paced
            return t_unpaced, loop.time()

        t_unpaced, t_paced = run_virtual(scenario())
        assert t_unpaced == pytest.approx(10.0, abs=1e-6)
        assert t_paced >= 10.0 * (1 - 1e-8)

    def test_pause_defaults_to_one_window(self) -> None:
        """A 429 without Retry-After pauses the scope for one full provider window."""

        async def scenario() -> float:
            gate = gate_for("window", RateLimit(requests=10, per=60.0))
            gate.pause(None)
            return gate.paused_for

        assert run_virtual(scenario()) == pytest.approx(60.0)

    def test_scope_is_shared_and_stricter_cap_wins(self) -> None:
        """Two clients of one scope share one gate, paced at the stricter of their caps."""

        async def scenario() -> tuple[bool, float]:
            a = gate_for("shared", RateLimit(requests=1, per=1.0))
            b = gate_for("shared", RateLimit(requests=1, per=2.0))
            return a is b, a.rate.interval

        same, interval = run_virtual(scenario())
        assert same
        assert interval == pytest.approx(2.06)  # 2 s + the 60 ms floor

    def test_gates_are_per_event_loop(self) -> None:
        """A scope's gate on one loop is never reused on another (asyncio objects are loop-bound)."""

        async def get() -> object:
            return gate_for("loops", RateLimit(requests=1, per=1.0))

        first = run_virtual(get())
        second = run_virtual(get())
        assert first is not second


class TestBoundedWaits:
    def test_caller_past_its_deadline_is_refused_at_once(self) -> None:
        """Four concurrent callers at 1/s with max_wait=0.3: the 2nd to 4th fail at t=0."""

        async def scenario() -> list[tuple[str, float, float]]:
            loop = asyncio.get_running_loop()
            gate = gate_for("deadline", RateLimit(requests=1, per=1.0))
            out: list[tuple[str, float, float]] = []

            async def one() -> None:
                try:
                    await gate.acquire(max_wait=0.3)
                    await gate.depart()
                    out.append(("sent", loop.time(), 0.0))
                except SlotUnavailable as refused:
                    out.append(("refused", loop.time(), refused.wait))

            await asyncio.gather(*(one() for _ in range(4)))
            return out

        out = run_virtual(scenario())
        assert [o[0] for o in out].count("sent") == 1
        refused = [o for o in out if o[0] == "refused"]
        assert len(refused) == 3
        assert all(t == 0.0 for _, t, _ in refused)  # at once, not after waiting
        assert all(wait >= 0.3 for _, _, wait in refused)

    def test_refused_callers_take_no_slot(self) -> None:
        """After refusals, the next caller leaves one interval after the last departure."""

        async def scenario() -> float:
            loop = asyncio.get_running_loop()
            gate = gate_for("no-slot", RateLimit(requests=1, per=1.0, margin=0))
            await gate.acquire()
            await gate.depart()
            for _ in range(5):
                with pytest.raises(SlotUnavailable):
                    await gate.acquire(max_wait=0.1)
            await gate.acquire()
            await gate.depart()
            return loop.time()

        assert run_virtual(scenario()) == pytest.approx(1.0, abs=1e-6)

    def test_pause_longer_than_deadline_is_refused(self) -> None:
        """A scope pause longer than max_wait refuses paced and unpaced callers at once."""

        async def scenario() -> tuple[float, float]:
            gate = gate_for("paused-deadline", RateLimit(requests=1, per=1.0))
            gate.pause(30.0)
            with pytest.raises(SlotUnavailable) as paced:
                await gate.acquire(max_wait=5.0)
            with pytest.raises(SlotUnavailable) as unpaced:
                await gate.wait_unpaused(max_wait=5.0)
            return paced.value.wait, unpaced.value.wait

        paced, unpaced = run_virtual(scenario())
        assert paced == pytest.approx(30.0)
        assert unpaced == pytest.approx(30.0)

    def test_cancelled_waiter_gives_its_slot_back(self) -> None:
        """A waiter cancelled while it waits to depart frees its slot: the next goes sooner."""

        async def scenario() -> float:
            loop = asyncio.get_running_loop()
            rate = RateLimit(requests=1, per=1.0, margin=0)
            gate = gate_for("cancel", rate)
            await gate.acquire()
            await gate.depart()  # t=0

            async def waiter() -> None:
                await gate.acquire()
                await gate.depart()

            task = asyncio.create_task(waiter())
            await asyncio.sleep(rate.interval / 2)  # virtual clock: half an interval
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await gate.acquire()
            await gate.depart()
            return loop.time()

        # the cancelled waiter's slot (t=1) goes to the next caller, not t=2
        assert run_virtual(scenario()) == pytest.approx(1.0, abs=0.03)

    def test_cancelled_waiters_keep_the_pace(self) -> None:
        """Cancelling waiters never lets the following departures bunch up."""

        async def scenario() -> list[float]:
            loop = asyncio.get_running_loop()
            rate = RateLimit(requests=1, per=1.0, margin=0)
            gate = gate_for("cancel-pace", rate)
            times: list[float] = []

            async def send() -> None:
                await gate.acquire()
                await gate.depart()
                times.append(loop.time())

            tasks = [asyncio.create_task(send()) for _ in range(6)]
            await asyncio.sleep(rate.interval * 3 / 2)  # virtual clock: 1.5 intervals
            tasks[3].cancel()
            tasks[4].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return times

        times = run_virtual(scenario())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) == 4
        assert min(gaps) >= 1.0 * (1 - 1e-8)

    def test_pause_refuses_absurd_values(self) -> None:
        """NaN, infinite or negative pauses are one window, never forever."""

        async def scenario() -> list[float]:
            out = []
            for i, value in enumerate((math.nan, math.inf, -5.0)):
                gate = gate_for(f"absurd-{i}", RateLimit(requests=1, per=2.0))
                gate.pause(value)
                out.append(gate.paused_for)
            return out

        assert run_virtual(scenario()) == [pytest.approx(2.0)] * 3


class TestLateDepartures:
    def test_late_write_pushes_the_next_departure(self) -> None:
        """A write 0.4 s after its slot (a TLS handshake) pushes the next one past it."""

        async def wrapped() -> tuple[float, float]:
            loop = asyncio.get_running_loop()
            rate = RateLimit(requests=1, per=1.0)
            gate = gate_for("late-write", rate)
            await gate.acquire()
            await gate.depart(stamped=True)
            await asyncio.sleep(0.4)  # connecting
            gate.sent()
            await gate.acquire()
            await gate.depart()
            return rate.interval, loop.time()

        interval, second = run_virtual(wrapped())
        assert second == pytest.approx(0.4 + interval, abs=1e-6)

    def test_held_departure_waits_for_a_write_later_than_its_slot(self) -> None:
        """The predecessor writes 1.5 intervals late: the next leaves one interval after it."""

        async def scenario() -> list[float]:
            loop = asyncio.get_running_loop()
            gate = gate_for("held", RateLimit(requests=1, per=1.0))
            writes: list[float] = []

            async def send(connect: float) -> None:
                await gate.acquire()
                await gate.depart(stamped=True)
                await asyncio.sleep(connect)
                gate.sent()
                writes.append(loop.time())

            await asyncio.gather(send(1.6), send(0.0))
            return writes

        first, second = sorted(run_virtual(scenario()))
        assert first == pytest.approx(1.6, abs=1e-6)
        assert second - first >= RateLimit(requests=1, per=1.0).interval - 1e-6

    def test_hold_is_bounded(self) -> None:
        """A predecessor never written holds the next one two intervals at most."""

        async def scenario() -> float:
            loop = asyncio.get_running_loop()
            gate = gate_for("stuck", RateLimit(requests=1, per=1.0))
            await gate.acquire()
            await gate.depart(stamped=True)  # never reported
            await gate.acquire()
            await gate.depart()
            return loop.time()

        assert 1.05 * 2 <= run_virtual(scenario()) <= 1.05 * 2 + 0.06

    def test_stall_on_a_departure_moves_the_schedule(self) -> None:
        """A departure woken 0.3 s late: the next leaves one interval after the real one."""

        async def scenario() -> list[float]:
            loop = asyncio.get_running_loop()
            gate = gate_for("stall", RateLimit(requests=1, per=1.0))
            on_time = loop.call_at
            stalls = iter([0.3])  # the one timer of the second departure fires 0.3 s late

            def late(when: float, *a: object, **kw: object) -> asyncio.TimerHandle:
                return on_time(when + next(stalls, 0.0), *a, **kw)  # type: ignore[arg-type]

            times = []
            for i in range(4):
                await gate.acquire()
                loop.call_at = late if i == 1 else on_time  # type: ignore[method-assign,assignment]
                times.append(await gate.depart())
                loop.call_at = on_time  # type: ignore[method-assign]
            return times

        times = run_virtual(scenario())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 1.05 - 1e-6
        assert gaps[0] > 1.3  # the stalled one
        assert gaps[1] == pytest.approx(1.05, abs=1e-6)  # the next keeps a whole interval

    def test_nothing_written_releases_without_moving(self) -> None:
        """sent(departure time) after a failure before the write ends the hold, no push."""

        async def scenario() -> float:
            loop = asyncio.get_running_loop()
            gate = gate_for("unsent", RateLimit(requests=1, per=1.0))
            await gate.acquire()
            at = await gate.depart(stamped=True)
            await asyncio.sleep(0.2)
            gate.sent(at)  # the connection failed: nothing reached the provider
            await gate.acquire()
            await gate.depart()
            return loop.time()

        assert run_virtual(scenario()) == pytest.approx(1.05, abs=1e-6)


class TestLearning:
    def test_budget_follows_half_the_rtt_spread(self) -> None:
        """Round trips spread over 0.2 s: jitter 0.1 s, budget 1.25 x 0.1 s."""

        async def scenario() -> PacingState:
            gate = gate_for("rtt", RateLimit(requests=1, per=1.0))
            for rtt in (0.1, 0.3, 0.2, 0.15, 0.25):
                gate.observe(rtt)
            return gate.state

        state = run_virtual(scenario())
        assert state.jitter == pytest.approx(0.1)
        assert state.budget == pytest.approx(JITTER_FACTOR * 0.1)
        assert state.interval == pytest.approx(1.0 + JITTER_FACTOR * 0.1)

    def test_sample_is_sliding_and_bounded(self) -> None:
        """Old round trips leave the sample: a spike is forgotten after RTT_SAMPLES more."""
        policy = PacingPolicy.of(RateLimit(requests=1, per=1.0))
        policy.observe(2.0)
        for _ in range(RTT_SAMPLES):
            policy.observe(0.1)
        assert len(policy.rtts) == RTT_SAMPLES
        assert policy.jitter == 0.0
        assert policy.budget == pytest.approx(0.05)  # back to the floor

    def test_learned_budget_is_capped_at_one_interval(self) -> None:
        """An absurd spread (a 30 s answer) never slows the scope below half the cap."""
        policy = PacingPolicy.of(RateLimit(requests=1, per=1.0))
        for rtt in (0.1, 30.0, 0.1, 0.1):
            policy.observe(rtt)
        assert policy.budget == pytest.approx(1.0)
        assert policy.interval == pytest.approx(2.0)

    def test_explicit_slack_is_not_learned(self) -> None:
        """slack= fixes the budget: round trips do not change it."""
        policy = PacingPolicy.of(RateLimit(requests=1, per=1.0, slack=0.02))
        for rtt in (0.1, 0.5, 0.1, 0.5):
            policy.observe(rtt)
        assert policy.budget == pytest.approx(0.02)

    def test_garbage_round_trips_are_ignored(self) -> None:
        """NaN, infinite or negative round trips never reach the estimate."""
        policy = PacingPolicy.of(RateLimit(requests=1, per=1.0))
        for rtt in (math.nan, math.inf, -1.0):
            policy.observe(rtt)
        assert len(policy.rtts) == 0


class TestRefusals:
    def test_first_refusal_switches_to_strict_and_doubles(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 429: strict spacing, budget doubled, the scope paused, one WARNING."""
        caplog.set_level(logging.WARNING, logger="certmail_async.pacing")

        async def scenario() -> PacingState:
            gate = gate_for(("lm", "egress"), RateLimit(requests=10, per=60.0))
            await gate.acquire()
            await gate.depart()
            gate.refused(2.0)
            return gate.state

        state = run_virtual(scenario())
        assert state.mode == "strict"
        assert state.budget == pytest.approx(2 * FLOOR_SECONDS)
        assert state.interval == pytest.approx(6.0 + 2 * FLOOR_SECONDS)
        assert state.refusals == 1
        assert state.paused_for == pytest.approx(2.0)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "strict" in warnings[0].getMessage()
        assert getattr(warnings[0], "scope", None) == "lm:egress"

    def test_concurrent_refusals_widen_once(self) -> None:
        """Three 429s for requests that left before the first tightening widen once."""

        async def scenario() -> PacingState:
            gate = gate_for("burst", RateLimit(requests=10, per=60.0))
            await gate.acquire()
            await gate.depart()
            for _ in range(3):
                gate.refused(0.1)
            return gate.state

        state = run_virtual(scenario())
        assert state.refusals == 3
        assert state.budget == pytest.approx(2 * FLOOR_SECONDS)

    def test_each_new_refusal_widens_again_up_to_one_interval(self) -> None:
        """Refusals after new departures keep doubling, never past one cap interval."""

        async def scenario() -> list[float]:
            gate = gate_for("widen", RateLimit(requests=1, per=1.0))
            budgets = []
            for _ in range(6):
                await gate.acquire()
                await gate.depart()
                gate.refused(0.0)
                budgets.append(gate.state.budget)
            return budgets

        assert run_virtual(scenario()) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])

    def test_refusal_without_retry_after_pauses_one_window(self) -> None:
        """No Retry-After: the scope pauses one window (and still tightens)."""

        async def scenario() -> PacingState:
            gate = gate_for("no-header", RateLimit(requests=10, per=60.0))
            gate.refused()
            return gate.state

        state = run_virtual(scenario())
        assert state.paused_for == pytest.approx(60.0)
        assert state.mode == "strict"

    def test_stricter_client_strict_mode_is_kept(self) -> None:
        """A second client asking for strict spacing makes the shared scope strict."""

        async def scenario() -> str:
            gate_for("mixed", RateLimit(requests=10, per=60.0))
            gate = gate_for("mixed", RateLimit(requests=10, per=60.0, mode="strict"))
            return gate.state.mode

        assert run_virtual(scenario()) == "strict"


class TestHints:
    def test_remaining_zero_with_reset_pauses_until_reset(self) -> None:
        """X-RateLimit-Remaining: 0 with a reset in 12 s pauses the scope 12 s."""

        async def scenario() -> tuple[float, float]:
            gate = gate_for("hint", RateLimit(requests=10, per=60.0))
            gate.hint(3, 30.0)
            before = gate.paused_for
            gate.hint(0, 12.0)
            return before, gate.paused_for

        assert run_virtual(scenario()) == (0.0, pytest.approx(12.0))

    def test_remaining_zero_without_reset_changes_nothing(self) -> None:
        """Remaining 0 without a reset: the spacing already waits out the window."""

        async def scenario() -> float:
            gate = gate_for("hint-none", RateLimit(requests=10, per=60.0))
            gate.hint(0, None)
            gate.hint(0, math.inf)
            return gate.paused_for

        assert run_virtual(scenario()) == 0.0

    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "12"}, (0, 12.0)),
            ({"x-ratelimit-reset": "1700000030"}, (None, 30.0)),  # Laravel: a Unix time
            ({"x-ratelimit-reset": "999999999"}, (None, 999999999.0)),  # below 10^9: seconds
            ({"x-ratelimit-remaining": "-1"}, (None, None)),
            ({"x-ratelimit-remaining": "٣"}, (None, None)),  # a non-ASCII digit
            ({"x-ratelimit-reset": "nan"}, (None, None)),
            ({"x-ratelimit-reset": "soon"}, (None, None)),
            ({}, (None, None)),
        ],
    )
    def test_headers_are_read_as_documented(
        self, headers: dict[str, str], expected: tuple[int | None, float | None]
    ) -> None:
        """Reset of 10^9 or more is a Unix time, less is seconds; garbage is ignored."""
        assert rate_limit_hint(headers, now=1700000000.0) == expected


class TestState:
    def test_state_is_a_secret_free_snapshot(self) -> None:
        """gate.state names the scope by label and shows the configured spacing."""

        async def scenario() -> PacingState:
            gate = gate_for(("pecmassiva", "digest"), RateLimit(requests=1, per=1.0))
            await gate.acquire()
            await gate.depart()
            return gate.state

        state = run_virtual(scenario())
        assert state == PacingState(
            scope="pecmassiva:digest",
            requests=1,
            per=1.0,
            mode="window",
            budget=0.05,
            jitter=0.0,
            interval=1.05,
            refusals=0,
            pauses=0,
            departed=1,
            paused_for=0.0,
        )
