"""Pacing proven on a virtual clock against the four server-side limiter models.

Each example runs a gate on a looptime loop: callers arrive when hypothesis says, depart
through the gate, and their requests reach a limiter model (sliding log, fixed window,
token bucket, strict spacing) after a network jitter drawn inside the budget. A refusal
goes back to the gate (``refused``) and the request is retried, as the transport does.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import types
from collections.abc import Iterator, Sequence

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from certmail_async import PacingState, RateLimit
from certmail_async._pacing import (
    HOLD_INTERVALS,
    JITTER_FACTOR,
    RTT_SAMPLES,
    PacingPolicy,
    gate_for,
)
from certmail_async.testing import Admission, LimiterKind, make_limiter, max_in_window
from tests.conftest import run_virtual

WINDOW_KINDS: tuple[LimiterKind, ...] = ("sliding", "fixed", "bucket")
_scopes = itertools.count()


@attrs.frozen(kw_only=True)
class Run:
    """What one simulated run produced."""

    accepted: list[float]  # arrival times the limiter accepted
    refused: list[float]  # arrival times it refused
    departures: list[float]  # loop times the gate let requests go
    writes: list[float]  # loop times the requests were written
    state: PacingState


async def simulate(
    rate: RateLimit,
    kind: LimiterKind,
    starts: Sequence[float],
    legs: Sequence[tuple[float, float]] = ((0.0, 0.0),),
    *,
    write_delays: Sequence[float] = (0.0,),
    observe: bool = False,
) -> Run:
    """Send one request per entry of ``starts`` through a gate to a limiter model.

    ``legs`` are (request, response) latencies taken in turn per attempt; the request leg
    is the arrival jitter the server sees. ``write_delays`` (in turn) hold a request
    between its departure and its write, like a TLS handshake or a stalled loop.
    """
    loop = asyncio.get_running_loop()
    gate = gate_for(("sim", next(_scopes)), rate)
    limiter = make_limiter(kind, requests=rate.requests, per=rate.per)
    leg = itertools.cycle(legs)
    delay = itertools.cycle(write_delays)
    accepted: list[float] = []
    refused: list[float] = []
    departures: list[float] = []
    writes: list[float] = []

    def arrive(answer: asyncio.Future[Admission], back: float) -> None:
        now = loop.time()
        admission = limiter.admit(now)
        (accepted if admission.accepted else refused).append(now)
        loop.call_later(back, answer.set_result, admission)

    async def send(start: float) -> None:
        await asyncio.sleep(start)
        while True:
            await gate.acquire()
            departures.append(await gate.depart(stamped=True))
            if (wait := next(delay)) > 0:
                await asyncio.sleep(wait)
            written = loop.time()
            gate.sent(written)
            writes.append(written)
            there, back = next(leg)
            answer: asyncio.Future[Admission] = loop.create_future()
            loop.call_at(written + there, arrive, answer, back)
            admission = await answer
            if observe:
                gate.observe(loop.time() - written)
            if admission.accepted:
                return
            gate.refused(admission.retry_after)  # the transport: pause and tighten

    await asyncio.gather(*(send(s) for s in starts))
    return Run(
        accepted=accepted,
        refused=refused,
        departures=sorted(departures),
        writes=sorted(writes),
        state=gate.state,
    )


def _gaps(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# -- strategies ----------------------------------------------------------------------------

caps = st.tuples(
    st.integers(min_value=1, max_value=10),
    st.sampled_from([1.0, 6.0, 60.0]),  # PEC Massiva's second, scaled and real minutes
)
starts = st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), min_size=2, max_size=25)
#: Jitter as a fraction of the budget: strictly inside it (the clock ticks in microseconds).
fractions = st.lists(st.floats(min_value=0, max_value=0.99), min_size=1, max_size=25)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _legs(fractions: Sequence[float], budget: float) -> list[tuple[float, float]]:
    return [(f * budget, 0.0) for f in fractions]


class TestWindowLimiters:
    @pytest.mark.parametrize("kind", WINDOW_KINDS)
    @PROPERTY
    @given(cap=caps, arrivals=starts, jitter=fractions)
    def test_default_pacing_never_overfills_a_window(
        self,
        kind: LimiterKind,
        cap: tuple[int, float],
        arrivals: list[float],
        jitter: list[float],
    ) -> None:
        """Default RateLimit, jitter inside the budget: no 429, no window holds N + 1."""
        rate = RateLimit(requests=cap[0], per=cap[1])
        run = run_virtual(simulate(rate, kind, arrivals, _legs(jitter, rate.budget)))
        assert run.refused == []
        assert max_in_window(sorted(run.accepted), rate.per) <= rate.requests
        assert run.state.mode == "window"

    @pytest.mark.parametrize("kind", WINDOW_KINDS)
    @PROPERTY
    @given(
        cap=caps,
        arrivals=starts,
        jitter=fractions,
        slack=st.floats(min_value=0.001, max_value=0.2),
        mode=st.sampled_from(["window", "strict"]),
    )
    def test_any_slack_and_mode_never_overfill_a_window(
        self,
        kind: LimiterKind,
        cap: tuple[int, float],
        arrivals: list[float],
        jitter: list[float],
        slack: float,
        mode: str,
    ) -> None:
        """Explicit slack (a fraction of T) in either mode, jitter inside it: no 429."""
        rate = RateLimit(requests=cap[0], per=cap[1], slack=slack * cap[1], mode=mode)  # type: ignore[arg-type]
        run = run_virtual(simulate(rate, kind, arrivals, _legs(jitter, rate.budget)))
        assert run.refused == []
        assert max_in_window(sorted(run.accepted), rate.per) <= rate.requests


class TestStrictSpacing:
    @PROPERTY
    @given(cap=caps, arrivals=starts, jitter=fractions)
    def test_at_most_one_refusal_then_none(
        self, cap: tuple[int, float], arrivals: list[float], jitter: list[float]
    ) -> None:
        """A strict-spacing server refuses the window mode once at most; strict follows."""
        rate = RateLimit(requests=cap[0], per=cap[1])
        run = run_virtual(simulate(rate, "strict", arrivals, _legs(jitter, rate.budget)))
        event(f"refusals: {len(run.refused)}")
        assert len(run.refused) <= 1
        if run.refused:
            assert run.state.mode == "strict"
            assert run.state.budget >= 2 * rate.budget - 1e-9
            later = [t for t in run.accepted if t > run.refused[0]]
            assert min(_gaps(later), default=rate.cap_interval) >= rate.cap_interval - 1e-6
        assert max_in_window(sorted(run.accepted), rate.per) <= rate.requests

    def test_ten_per_minute_draws_exactly_one_refusal(self) -> None:
        """LegallyMail's shape with 50 ms of jitter against strict spacing: one 429, then strict."""
        rng = random.Random(11)
        rate = RateLimit(requests=10, per=60.0)
        legs = [(rng.uniform(0, 0.05), 0.0) for _ in range(60)]
        run = run_virtual(simulate(rate, "strict", [0.0] * 60, legs))
        assert len(run.refused) == 1
        assert run.state.mode == "strict"
        assert len(run.accepted) == 60
        after = [t for t in run.accepted if t > run.refused[0]]
        achieved = (len(after) - 1) * rate.cap_interval / (after[-1] - after[0])
        assert achieved >= 0.95

    @PROPERTY
    @given(cap=caps, arrivals=starts, jitter=fractions)
    def test_strict_mode_is_never_refused(
        self, cap: tuple[int, float], arrivals: list[float], jitter: list[float]
    ) -> None:
        """mode="strict" from the start, jitter inside the budget: not one 429."""
        rate = RateLimit(requests=cap[0], per=cap[1], mode="strict")
        run = run_virtual(simulate(rate, "strict", arrivals, _legs(jitter, rate.budget)))
        assert run.refused == []


class TestLateDepartures:
    @PROPERTY
    @given(
        cap=caps,
        arrivals=starts,
        delays=st.lists(
            st.one_of(st.just(0.0), st.floats(min_value=0, max_value=0.95 * HOLD_INTERVALS)),
            min_size=1,
            max_size=25,
        ),
    )
    def test_late_write_never_shortens_the_next_gap(
        self, cap: tuple[int, float], arrivals: list[float], delays: list[float]
    ) -> None:
        """Writes held up to ~2 intervals after departure (handshakes): writes stay >= T/N apart."""
        rate = RateLimit(requests=cap[0], per=cap[1])
        held = [d * rate.interval for d in delays]
        run = run_virtual(simulate(rate, "sliding", arrivals, write_delays=held))
        event("a write later than the next slot" if max(delays) > 1 else "writes within a slot")
        assert min(_gaps(run.writes)) >= rate.cap_interval - 1e-6
        assert run.refused == []

    @PROPERTY
    @given(
        cap=caps,
        arrivals=starts,
        stalls=st.lists(st.floats(min_value=0, max_value=3.0), min_size=1, max_size=25),
    )
    def test_stalled_wakeup_never_shortens_the_next_gap(
        self, cap: tuple[int, float], arrivals: list[float], stalls: list[float]
    ) -> None:
        """The departing task wakes late (a loop stall of up to 3 intervals): gaps stay >= T/N."""
        rate = RateLimit(requests=cap[0], per=cap[1])
        late = itertools.cycle(s * rate.interval for s in stalls)
        with _stalled_gate_sleeps(late):
            run = run_virtual(simulate(rate, "sliding", arrivals))
        assert min(_gaps(run.departures)) >= rate.cap_interval - 1e-6
        assert run.refused == []


class _StalledAsyncio(types.SimpleNamespace):
    """The gate module's view of asyncio, whose sleeps end late by the given stalls."""


class _stalled_gate_sleeps:
    def __init__(self, stalls: Iterator[float]) -> None:
        self._stalls = stalls

    def __enter__(self) -> None:
        from certmail_async import _pacing

        real_sleep = asyncio.sleep
        stalls = self._stalls

        async def sleep(delay: float) -> None:
            await real_sleep(delay + next(stalls))

        proxy = _StalledAsyncio(
            **{k: getattr(asyncio, k) for k in dir(asyncio) if not k.startswith("__")}
        )
        proxy.sleep = sleep
        self._saved = _pacing.asyncio
        _pacing.asyncio = proxy  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        from certmail_async import _pacing

        _pacing.asyncio = self._saved


class TestLearning:
    @PROPERTY
    @given(
        cap=caps,
        jitter=st.floats(min_value=0, max_value=0.5),
        base=st.floats(min_value=0.001, max_value=2.0),
        inside=st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=80),
        spike=st.floats(min_value=0, max_value=5.0),
    )
    def test_budget_tracks_the_injected_spread(
        self,
        cap: tuple[int, float],
        jitter: float,
        base: float,
        inside: list[float],
        spike: float,
    ) -> None:
        """Round trips spanning base..base + 2J give jitter J and budget 1.25 J (floor, cap)."""
        rate = RateLimit(requests=cap[0], per=cap[1])
        policy = PacingPolicy.of(rate)
        policy.observe(base + spike)  # an old outlier, pushed out of the sample below
        rtts = [base, base + 2 * jitter, *(base + f * 2 * jitter for f in inside)]
        for rtt in itertools.islice(itertools.cycle(rtts), RTT_SAMPLES):
            policy.observe(rtt)
        expected = min(max(rate.floor, JITTER_FACTOR * jitter), rate.cap_interval)
        event("at the floor" if expected == rate.floor else "learned above the floor")
        assert policy.jitter == pytest.approx(jitter, abs=1e-6)
        assert policy.budget == pytest.approx(expected, abs=1e-6)
        assert policy.interval == pytest.approx(
            rate.cap_interval + expected / rate.requests, abs=1e-6
        )

    @pytest.mark.parametrize("jitter", [0.06, 0.12, 0.25, 0.4])
    @pytest.mark.parametrize("seed", range(8))
    def test_learned_budget_covers_uniform_jitter_on_both_legs(
        self, jitter: float, seed: int
    ) -> None:
        """Both legs jittered by up to J at 1/s (150 sends): budget >= 0.8 J, no runaway."""
        rng = random.Random(seed)
        rate = RateLimit(requests=1, per=1.0)
        legs = [(rng.uniform(0, jitter), rng.uniform(0, jitter)) for _ in range(150)]
        run = run_virtual(simulate(rate, "sliding", [0.0] * 150, legs, observe=True))
        state = run.state
        assert state.jitter <= jitter
        assert state.budget >= 0.8 * jitter
        assert state.budget <= 2.6 * jitter
        late = [t for t in run.refused if t > run.accepted[70]]
        assert len(late) <= 1  # learned: at most one more tightening after warm-up


class TestSimulator:
    def test_jitter_past_the_budget_is_refused(self) -> None:
        """The harness can fail: 3 x the budget of jitter on 1/s draws 429s from a sliding log."""
        rng = random.Random(3)
        rate = RateLimit(requests=1, per=1.0, slack=0.05)
        legs = [(rng.uniform(0, 0.15), 0.0) for _ in range(40)]
        run = run_virtual(simulate(rate, "sliding", [0.0] * 40, legs))
        assert run.refused
