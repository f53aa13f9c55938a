"""Retry-After parsing and backoff bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from certmail_async import RetryPolicy
from certmail_async._retry import parse_retry_after


class TestParseRetryAfter:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("3", 3.0),
            (" 0 ", 0.0),
            ("1.5", 1.5),
            ("-4", 0.0),
            ("", None),
            (None, None),
            ("soon", None),
            ("nan", None),
        ],
    )
    def test_delta_seconds(self, header: str | None, expected: float | None) -> None:
        """Delta-seconds parse to a non-negative float; garbage and NaN give None."""
        assert parse_retry_after(header) == expected

    def test_http_date(self) -> None:
        """An HTTP date gives the seconds left until it, never negative."""
        now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now=now) == 5.0
        assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0


class TestRetryPolicy:
    def test_backoff_is_capped_full_jitter(self) -> None:
        """Backoff stays within [0, min(cap, base*2^n)] for every attempt."""
        policy = RetryPolicy(base=0.5, cap=4.0)
        for attempt in range(12):
            for _ in range(50):
                wait = policy.backoff(attempt)
                assert 0 <= wait <= min(4.0, 0.5 * 2**attempt)

    def test_retry_after_wins_but_is_bounded(self) -> None:
        """A Retry-After overrides backoff, bounded by max_retry_after."""
        policy = RetryPolicy(base=100.0, cap=100.0, max_retry_after=30.0)
        assert policy.wait_for(0, 2.0) == 2.0
        assert policy.wait_for(0, 3600.0) == 30.0
