"""Retry-After parsing, backoff bounds and the one retry decision (a table)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from certmail_async import RetryPolicy
from certmail_async._retry import Action, Failure, OpKind, decide, parse_retry_after

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


class TestParseRetryAfter:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("3", 3.0),
            (" 0 ", 0.0),
            ("1.5", 1.5),
            ("-4", -4.0),
            ("", None),
            (None, None),
            ("soon", None),
            ("inf", math.inf),
            ("1e309", math.inf),
            ("99999999999", 99999999999.0),
        ],
    )
    def test_delta_seconds(self, header: str | None, expected: float | None) -> None:
        """Delta-seconds parse as the provider said them (clamping comes later); garbage is None."""
        assert parse_retry_after(header) == expected

    def test_nan_is_kept_for_the_clamp(self) -> None:
        """NaN parses as NaN, so the decision can report it clamped."""
        value = parse_retry_after("nan")
        assert value is not None
        assert math.isnan(value)

    def test_http_date(self) -> None:
        """An HTTP date gives the seconds until it; a past date gives a negative number."""
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now=NOW) == 5.0
        assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=NOW) == -60.0
        assert parse_retry_after("Wed, 28 Oct 2015 07:28:00 GMT", now=NOW) == 7 * 86400


class TestRetryPolicy:
    def test_backoff_is_capped_full_jitter(self) -> None:
        """Backoff stays within [0, min(cap, base*2^n)] for every attempt, even huge ones."""
        policy = RetryPolicy(base=0.5, cap=4.0)
        for attempt in (*range(12), 10_000):
            for _ in range(50):
                wait = policy.backoff(attempt)
                assert 0 <= wait <= min(4.0, 0.5 * 2 ** min(attempt, 62))

    def test_retry_after_wins_but_is_bounded(self) -> None:
        """A Retry-After overrides backoff, bounded by max_retry_after."""
        policy = RetryPolicy(base=100.0, cap=100.0, max_retry_after=30.0)
        assert policy.wait_for(0, 2.0) == 2.0
        assert policy.wait_for(0, 3600.0) == 30.0

    @pytest.mark.parametrize(
        ("seconds", "expected", "clamped"),
        [
            (5.0, 5.0, False),
            (0.0, 0.0, False),
            (300.0, 300.0, False),
            (86400.0, 300.0, True),
            (99999999999.0, 300.0, True),
            (math.inf, 300.0, True),
            (math.nan, 300.0, True),
            (-4.0, 0.0, True),
            (-7 * 86400.0, 0.0, True),
        ],
    )
    def test_clamp(self, seconds: float, expected: float, clamped: bool) -> None:
        """Every absurd Retry-After ends within [0, max_retry_after] and says it was cut."""
        assert RetryPolicy().clamp_retry_after(seconds) == (expected, clamped)

    @pytest.mark.parametrize(
        "kwargs", [{"base": -1}, {"cap": math.inf}, {"max_retry_after": math.nan}, {"base": "1"}]
    )
    def test_refuses_bad_parameters(self, kwargs: dict[str, object]) -> None:
        """Negative, infinite, NaN or non-numeric parameters are refused at construction."""
        with pytest.raises((ValueError, TypeError)):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]


R, S, W = OpKind.READ, OpKind.SEND, OpKind.WRITE
RETRY, RAISE, UNKNOWN = Action.RETRY, Action.RAISE, Action.UNKNOWN
C, T, X, L, H = (
    Failure.CONNECT,
    Failure.TIMEOUT,
    Failure.RESET,
    Failure.RATE_LIMITED,
    Failure.STATUS,
)

# kind, failure, status, attempt, max_retries, retry_after -> action, wait (None: backoff)
TABLE = [
    # connect errors: nothing left the process, every kind retries while attempts remain
    (R, C, None, 0, 2, None, RETRY, None),
    (S, C, None, 0, 2, None, RETRY, None),
    (W, C, None, 1, 2, None, RETRY, None),
    (S, C, None, 2, 2, None, RAISE, 0.0),
    # timeouts and resets: reads retry, sends are unknown, writes raise
    (R, T, None, 0, 2, None, RETRY, None),
    (R, X, None, 1, 2, None, RETRY, None),
    (R, T, None, 2, 2, None, RAISE, 0.0),
    (S, T, None, 0, 2, None, UNKNOWN, 0.0),
    (S, X, None, 0, 2, None, UNKNOWN, 0.0),
    (W, T, None, 0, 2, None, RAISE, 0.0),
    (W, X, None, 0, 2, None, RAISE, 0.0),
    # 5xx: reads retry (502/503/504/500), sends unknown, writes raise
    (R, H, 503, 0, 2, None, RETRY, None),
    (R, H, 500, 1, 2, 2.0, RETRY, 2.0),
    (R, H, 503, 0, 2, 86400.0, RETRY, 300.0),
    (R, H, 501, 0, 2, None, RAISE, 0.0),
    (R, H, 503, 2, 2, None, RAISE, 0.0),
    (S, H, 500, 0, 2, None, UNKNOWN, 0.0),
    (S, H, 503, 0, 2, 1.0, UNKNOWN, 0.0),
    (W, H, 502, 0, 2, None, RAISE, 0.0),
    # redirects (never followed): a send may have been processed first (302/303), not 307/308
    (S, H, 302, 0, 2, None, UNKNOWN, 0.0),
    (S, H, 303, 0, 2, None, UNKNOWN, 0.0),
    (S, H, 307, 0, 2, None, RAISE, 0.0),
    (R, H, 302, 0, 2, None, RAISE, 0.0),
    # other 4xx: never retried, never unknown
    (R, H, 400, 0, 2, None, RAISE, 0.0),
    (S, H, 401, 0, 2, None, RAISE, 0.0),
    (S, H, 404, 0, 2, None, RAISE, 0.0),
    (W, H, 409, 0, 2, None, RAISE, 0.0),
    # rate limited: refused, not processed; every kind waits the (clamped) Retry-After
    (S, L, 429, 0, 2, 3.0, RETRY, 3.0),
    (R, L, 429, 0, 2, 3.0, RETRY, 3.0),
    (W, L, 429, 1, 2, 3.0, RETRY, 3.0),
    (S, L, 429, 0, 2, math.inf, RETRY, 300.0),
    (S, L, 429, 0, 2, 99999999999.0, RETRY, 300.0),
    (S, L, 429, 0, 2, -5.0, RETRY, 0.0),
    (S, L, 429, 0, 2, math.nan, RETRY, 60.0),  # NaN: as if absent -> one window
    (S, L, 429, 0, 2, None, RETRY, 60.0),  # no Retry-After: one window
    (S, L, 429, 2, 2, 3.0, RAISE, 3.0),  # exhausted: raise, but the scope still pauses 3 s
    (S, L, 429, 0, 0, None, RAISE, 60.0),
]


class TestDecide:
    @pytest.mark.parametrize(
        ("kind", "failure", "status", "attempt", "max_retries", "retry_after", "action", "wait"),
        TABLE,
    )
    def test_table(
        self,
        kind: OpKind,
        failure: Failure,
        status: int | None,
        attempt: int,
        max_retries: int,
        retry_after: float | None,
        action: Action,
        wait: float | None,
    ) -> None:
        """Each row of the retry table: the action and the (clamped) wait."""
        policy = RetryPolicy(base=0.5, cap=8.0, max_retry_after=300.0)
        d = decide(
            kind=kind,
            failure=failure,
            status=status,
            attempt=attempt,
            max_retries=max_retries,
            retry_after=retry_after,
            window=60.0,
            policy=policy,
        )
        assert d.action is action
        if wait is None:
            assert 0 <= d.wait <= min(8.0, 0.5 * 2**attempt)
        else:
            assert d.wait == wait
        assert d.pause is (failure is Failure.RATE_LIMITED)

    @pytest.mark.parametrize(
        ("retry_after", "clamped"),
        [(3.0, False), (math.inf, True), (math.nan, True), (-1.0, True), (301.0, True)],
    )
    def test_clamped_flag(self, retry_after: float, clamped: bool) -> None:
        """The decision says when Retry-After was absurd, so the caller logs a WARNING."""
        d = decide(
            kind=OpKind.SEND,
            failure=Failure.RATE_LIMITED,
            attempt=0,
            max_retries=1,
            retry_after=retry_after,
            window=1.0,
        )
        assert d.clamped is clamped
        assert 0 <= d.wait <= 300.0

    def test_no_window_falls_back_to_backoff(self) -> None:
        """A 429 without Retry-After and without a pacing window waits a capped backoff."""
        d = decide(
            kind=OpKind.READ,
            failure=Failure.RATE_LIMITED,
            attempt=3,
            max_retries=5,
            policy=RetryPolicy(base=0.5, cap=2.0),
        )
        assert d.action is Action.RETRY
        assert 0 <= d.wait <= 2.0
