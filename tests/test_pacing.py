"""Pacing gates, on a virtual clock: exact spacing, pauses, shared scopes."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
from aiolimiter import AsyncLimiter
from hypothesis import given, settings
from hypothesis import strategies as st

from certmail_async import RateLimit
from certmail_async._pacing import SlotUnavailable, gate_for
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
    def test_interval_includes_margin(self) -> None:
        """A cap of N per T is paced at T/N*(1+margin): 10/min -> one every 6.3 s."""
        assert RateLimit(requests=10, per=60).interval == pytest.approx(6.3)
        assert RateLimit(requests=1, per=1.0).interval == pytest.approx(1.05)
        assert RateLimit(requests=1, per=1.0, margin=0).interval == 1.0

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"requests": 0, "per": 1},
            {"requests": 1, "per": 0},
            {"requests": 1, "per": 1, "margin": -1},
        ],
    )
    def test_rejects_nonsense(self, kwargs: dict[str, float]) -> None:
        """Zero requests, a non-positive window or a negative margin are refused."""
        with pytest.raises(ValueError, match="RateLimit"):
            RateLimit(**kwargs)  # type: ignore[arg-type]


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
        assert all(g >= rate.interval * (1 - 1e-8) for g in gaps)

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
        assert interval == pytest.approx(2.1)

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
