"""The server-side limiter models: each kind's counting rule, its Retry-After, its input checks."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certmail_async import ValidationError
from certmail_async.testing import (
    LIMITER_KINDS,
    Admission,
    FixedWindowLimiter,
    LimiterKind,
    ServerLimiter,
    SlidingLogLimiter,
    StrictSpacingLimiter,
    TokenBucketLimiter,
    make_limiter,
    max_in_window,
)


def run(limiter: ServerLimiter, times: list[float]) -> list[bool]:
    return [limiter.admit(t).accepted for t in times]


def accepted_times(limiter: ServerLimiter, times: list[float]) -> list[float]:
    return [t for t in times if limiter.admit(t).accepted]


# A burst of 3 at the end of window 0 and 3 more right after the boundary, N = 3 per 1 s:
# the sequence on which the four kinds disagree.
BOUNDARY_BURST = [0.90, 0.92, 0.94, 1.00, 1.02, 1.04, 1.94, 1.96]
EXPECTED = {
    # sliding: the second burst is within 1 s of the first; by 1.94 the first burst has
    # left and the refused arrivals at 1.00-1.04 never counted, so 1.94 and 1.96 fit.
    "sliding": [True, True, True, False, False, False, True, True],
    # fixed: the counter resets at 1.0, so the second burst passes; window 1 is then full.
    "fixed": [True, True, True, True, True, True, False, False],
    # bucket (starts with 3 tokens, +3 per second): 1.00 finds 0.3 tokens, 1.04 0.42,
    # 1.94 has refilled to 3.
    "bucket": [True, True, True, False, False, False, True, True],
    # strict (1/3 s apart): only arrivals 1/3 s after the last ACCEPTED one pass.
    "strict": [True, False, False, False, False, False, True, False],
}


class TestKindsDisagree:
    @pytest.mark.parametrize("kind", LIMITER_KINDS)
    def test_boundary_burst(self, kind: LimiterKind) -> None:
        """Each kind answers a burst across a window boundary by its own rule."""
        limiter = make_limiter(kind, requests=3, per=1.0)
        assert run(limiter, BOUNDARY_BURST) == EXPECTED[kind]
        assert limiter.accepted == sum(EXPECTED[kind])
        assert limiter.rejected == len(BOUNDARY_BURST) - sum(EXPECTED[kind])

    def test_factory_by_name(self) -> None:
        """make_limiter maps each name to its model and keeps the cap."""
        classes: dict[LimiterKind, type] = {
            "sliding": SlidingLogLimiter,
            "fixed": FixedWindowLimiter,
            "bucket": TokenBucketLimiter,
            "strict": StrictSpacingLimiter,
        }
        assert set(LIMITER_KINDS) == set(classes)
        for kind, cls in classes.items():
            limiter = make_limiter(kind, requests=10, per=60)
            assert type(limiter) is cls
            assert (limiter.kind, limiter.requests, limiter.per) == (kind, 10, 60.0)

    @pytest.mark.parametrize("kind", LIMITER_KINDS)
    def test_exactly_at_the_cap_is_accepted(self, kind: LimiterKind) -> None:
        """Arrivals exactly T/N apart (float sums included) are all accepted by every kind."""
        limiter = make_limiter(kind, requests=10, per=60.0)
        t, times = 0.0, []
        for _ in range(200):
            times.append(t)
            t += 6.0  # accumulates rounding like a real schedule
        assert all(run(limiter, times))

    @pytest.mark.parametrize("kind", LIMITER_KINDS)
    def test_one_early_arrival_after_a_full_window(self, kind: LimiterKind) -> None:
        """After N arrivals T/N apart, one 1 ms early is refused by all but the token bucket."""
        limiter = make_limiter(kind, requests=10, per=60.0)
        times = [6.0 * k for k in range(10)]  # 0 .. 54: one fixed window, a full log/bucket
        assert all(run(limiter, times))
        # 59.999: sliding sees 10 within 60 s, fixed is still in window 0 (full), strict is
        # 1 ms short of 6 s after 54; the bucket refilled one token per 6 s and holds 9.999.
        answer = limiter.admit(59.999)
        assert answer.accepted is (kind == "bucket")


class TestSlidingLog:
    def test_window_counts_accepted_arrivals_younger_than_per(self) -> None:
        """An arrival is refused while N accepted arrivals are younger than T."""
        limiter = SlidingLogLimiter(requests=2, per=1.0)
        assert run(limiter, [0.0, 0.5, 0.99]) == [True, True, False]
        refusal = limiter.admit(0.999)
        assert refusal == Admission(accepted=False, retry_after=0.001)
        # 0.0 leaves the window exactly at 1.0: now 0.5 and 1.0 fill it until 1.5.
        assert run(limiter, [1.0, 1.2, 1.5]) == [True, False, True]

    def test_refusals_do_not_count(self) -> None:
        """Refused arrivals never enter the log (a hammering client recovers after T)."""
        limiter = SlidingLogLimiter(requests=1, per=1.0)
        times = [0.0, *[0.1 * k for k in range(1, 10)], 1.0]
        assert run(limiter, times) == [True] + [False] * 9 + [True]

    def test_retry_after_is_when_the_oldest_leaves(self) -> None:
        """Retry-After points at the oldest accepted arrival leaving the window."""
        limiter = SlidingLogLimiter(requests=3, per=10.0)
        run(limiter, [1.0, 2.0, 3.0])
        answer = limiter.admit(4.0)
        assert answer.retry_after == pytest.approx(7.0)
        assert limiter.admit(4.0 + 7.0).accepted


class TestFixedWindow:
    def test_counter_resets_on_the_boundary(self) -> None:
        """2N arrivals fit within 0.2 s when they straddle k x T (the fixed window's flaw)."""
        limiter = FixedWindowLimiter(requests=3, per=1.0)
        assert all(run(limiter, [0.9, 0.95, 0.99, 1.0, 1.05, 1.1]))
        assert limiter.admit(1.5) == Admission(accepted=False, retry_after=0.5)

    def test_windows_are_aligned_on_multiples_of_per(self) -> None:
        """A window is [kT, (k+1)T), not measured from the first arrival."""
        limiter = FixedWindowLimiter(requests=1, per=10.0)
        # Sliding from 7.0 would refuse 12.0; aligned windows accept it (window 1 starts at 10).
        assert run(limiter, [7.0, 9.9, 12.0, 19.99, 20.0]) == [True, False, True, False, True]


class TestTokenBucket:
    def test_starts_full_and_refills_at_n_per_t(self) -> None:
        """A full bucket takes N at once, then one more per T/N, never more than N saved."""
        limiter = TokenBucketLimiter(requests=4, per=2.0)  # one token per 0.5 s
        assert run(limiter, [0.0] * 5) == [True] * 4 + [False]
        assert limiter.admit(0.25).retry_after == pytest.approx(0.25)
        # Sliding would refuse until 2.0; the bucket gives a token every 0.5 s.
        assert run(limiter, [0.5, 0.75, 1.0]) == [True, False, True]
        # A long idle period saves at most N tokens.
        assert run(limiter, [100.0] * 5) == [True] * 4 + [False]

    def test_refused_arrivals_keep_the_partial_refill(self) -> None:
        """A refusal does not drop the fractional token already refilled."""
        limiter = TokenBucketLimiter(requests=1, per=1.0)
        assert run(limiter, [0.0, 0.4, 0.8, 1.0]) == [True, False, False, True]


class TestStrictSpacing:
    def test_n_in_a_window_is_not_enough(self) -> None:
        """Two arrivals closer than T/N are refused even though the window has room."""
        limiter = StrictSpacingLimiter(requests=10, per=60.0)
        assert run(limiter, [0.0, 5.9]) == [True, False]
        assert limiter.admit(5.95).retry_after == pytest.approx(0.05)

    def test_refused_arrivals_do_not_move_the_reference(self) -> None:
        """Spacing is measured from the last ACCEPTED arrival (nginx limit_req without burst)."""
        limiter = StrictSpacingLimiter(requests=1, per=1.0)
        # If refusals reset the reference, 1.0 (0.1 after 0.9) would be refused.
        assert run(limiter, [0.0, 0.9, 1.0, 1.5, 2.0]) == [True, False, True, False, True]


class TestInputs:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"requests": 0, "per": 1.0}, "requests"),
            ({"requests": True, "per": 1.0}, "requests"),
            ({"requests": 1.5, "per": 1.0}, "requests"),
            ({"requests": 1, "per": 0}, "per"),
            ({"requests": 1, "per": math.inf}, "per"),
            ({"requests": 1, "per": math.nan}, "per"),
            ({"requests": 1, "per": "1"}, "per"),
        ],
    )
    @pytest.mark.parametrize("kind", LIMITER_KINDS)
    def test_bad_cap_is_a_validation_error(
        self, kind: LimiterKind, kwargs: dict[str, object], field: str
    ) -> None:
        """A cap that would turn limiting off or hang is refused, naming the field."""
        with pytest.raises(ValidationError) as err:
            make_limiter(kind, **kwargs)  # type: ignore[arg-type]  # deliberately bad
        assert err.value.field == field

    def test_unknown_kind(self) -> None:
        """An unknown kind names the known ones."""
        with pytest.raises(ValidationError, match="sliding, fixed, bucket, strict") as err:
            make_limiter("leaky", requests=1, per=1.0)  # type: ignore[arg-type]
        assert err.value.field == "kind"

    @pytest.mark.parametrize("kind", LIMITER_KINDS)
    def test_time_must_not_go_back(self, kind: LimiterKind) -> None:
        """Arrivals out of time order (or NaN) are refused loudly, not miscounted."""
        limiter = make_limiter(kind, requests=1, per=1.0)
        limiter.admit(5.0)
        for bad in (4.999, math.nan, math.inf):
            with pytest.raises(ValidationError) as err:
                limiter.admit(bad)
            assert err.value.field == "t"
        assert limiter.admit(5.0) == Admission(accepted=False, retry_after=1.0)


class TestMaxInWindow:
    def test_half_open_windows(self) -> None:
        """A window [t, t + width) excludes an arrival exactly width later."""
        assert max_in_window([0.0, 1.0, 2.0], 1.0) == 1
        assert max_in_window([0.0, 0.5, 0.999, 1.0, 1.4], 1.0) == 4
        assert max_in_window([], 1.0) == 0


# Properties: random arrival streams (sorted, sometimes bunched), each model checked against
# its rule written independently and by brute force.
arrivals = st.lists(
    st.floats(min_value=0, max_value=20, allow_nan=False).map(lambda x: round(x, 3)),
    min_size=1,
    max_size=60,
).map(sorted)
caps = st.tuples(st.integers(1, 5), st.sampled_from([0.5, 1.0, 3.0]))


def _retry_is_exact(limiter: ServerLimiter, t: float) -> None:
    """Retry-After is the first instant the same arrival would be accepted."""
    probe = copy.deepcopy(limiter)
    answer = probe.admit(t)
    assert not answer.accepted
    assert answer.retry_after is not None
    assert answer.retry_after > 0
    early = copy.deepcopy(limiter)
    assert not early.admit(t + answer.retry_after - 1e-6).accepted
    assert copy.deepcopy(limiter).admit(t + answer.retry_after).accepted


class TestProperties:
    @settings(max_examples=200, deadline=None)
    @given(times=arrivals, cap=caps)
    def test_sliding(self, times: list[float], cap: tuple[int, float]) -> None:
        """Sliding: no window of T holds more than N accepted; a refusal had N in (t-T, t]."""
        n, per = cap
        limiter = SlidingLogLimiter(requests=n, per=per)
        kept: list[float] = []
        for t in times:
            before = copy.deepcopy(limiter)
            inside = sum(1 for a in kept if t - a < per - 1e-9)
            assert limiter.admit(t).accepted is (inside < n)
            if inside < n:
                kept.append(t)
            else:
                _retry_is_exact(before, t)
        assert max_in_window(kept, per) <= n

    @settings(max_examples=200, deadline=None)
    @given(times=arrivals, cap=caps)
    def test_fixed(self, times: list[float], cap: tuple[int, float]) -> None:
        """Fixed: each window [kT, (k+1)T) holds at most N accepted, refused only when full."""
        n, per = cap
        limiter = FixedWindowLimiter(requests=n, per=per)
        kept: list[float] = []
        for t in times:
            before = copy.deepcopy(limiter)
            k = math.floor((t + 1e-9) / per)
            full = sum(1 for a in kept if math.floor((a + 1e-9) / per) == k) >= n
            assert limiter.admit(t).accepted is not full
            if full:
                _retry_is_exact(before, t)
            else:
                kept.append(t)
        for _, group in itertools.groupby(kept, key=lambda a: math.floor((a + 1e-9) / per)):
            assert len(list(group)) <= n

    @settings(max_examples=200, deadline=None)
    @given(times=arrivals, cap=caps)
    def test_bucket(self, times: list[float], cap: tuple[int, float]) -> None:
        """Bucket: accepted iff N + (t - t0) x N/T exceeds what was spent (never over N saved)."""
        n, per = cap
        limiter = TokenBucketLimiter(requests=n, per=per)
        tokens, last = float(n), None
        for t in times:
            before = copy.deepcopy(limiter)
            if last is not None:
                tokens = min(n, tokens + (t - last) * (n / per))
            last = t
            ok = tokens >= 1 - 1e-6
            assert limiter.admit(t).accepted is ok
            if ok:
                tokens = max(tokens - 1, 0.0)
            else:
                _retry_is_exact(before, t)

    @settings(max_examples=200, deadline=None)
    @given(times=arrivals, cap=caps)
    def test_strict(self, times: list[float], cap: tuple[int, float]) -> None:
        """Strict: accepted iff at least T/N after the last accepted arrival."""
        n, per = cap
        limiter = StrictSpacingLimiter(requests=n, per=per)
        kept: list[float] = []
        for t in times:
            before = copy.deepcopy(limiter)
            ok = not kept or t - kept[-1] >= per / n - 1e-9
            assert limiter.admit(t).accepted is ok
            if ok:
                kept.append(t)
            else:
                _retry_is_exact(before, t)
        assert all(b - a >= per / n - 1e-9 for a, b in itertools.pairwise(kept))
