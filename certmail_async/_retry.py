# How certmail_async retries, and why it never retries a send that may have happened
# ----------------------------------------------------------------------------------
#
# A certified e-mail cannot be recalled and no provider offers an idempotency key, so the
# retry rules are asymmetric:
#
# * Reads (list receipts, read the inbox, account info...) are safe to repeat. They are
#   retried on a connection failure, a timeout, a reset, HTTP 429 and HTTP 500/502/503/504,
#   up to ``max_retries`` times, with capped exponential backoff and full jitter:
#   ``sleep = uniform(0, min(cap, base * 2**attempt))``. Full jitter (AWS architecture blog,
#   "Exponential Backoff And Jitter") spreads a herd of clients best for the same total wait.
# * Sends and other calls that change state (``Operation.sends``) are retried only when the
#   request provably did not take effect: the connection could not be opened (nothing was
#   written to the wire) or the provider answered 429 (it refused to process it). After a
#   5xx, a timeout or a reset the caller gets DeliveryUnknownError instead, and the bulk
#   dispatcher reconciles against the provider's own records before any resend.
# * Any other 4xx is the caller's problem and is never retried.
#
# A ``Retry-After`` header (seconds, or an HTTP date) overrides the backoff for that attempt.
"""Retry policy: backoff with jitter, Retry-After parsing, and the retry decision."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime

import attrs

__all__ = ["RetryPolicy", "parse_retry_after"]

RETRYABLE_READ_STATUSES = frozenset({429, 500, 502, 503, 504})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Backoff parameters (seconds). Tests pass ``base=0`` to retry without waiting.

    Example:
        >>> p = RetryPolicy(base=0.5, cap=8.0)
        >>> 0 <= p.backoff(3) <= 4.0
        True
    """

    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 300.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def wait_for(self, attempt: int, retry_after: float | None) -> float:
        """The wait before the next attempt: Retry-After when given (bounded), else backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Example:
        >>> parse_retry_after("3")
        3.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT",
        ...     now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC))
        5.0
        >>> parse_retry_after("soon") is None
        True
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # reject NaN
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)
