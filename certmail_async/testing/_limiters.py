# Server-side rate limiter models
# -------------------------------
#
# A provider that caps clients at N requests per T seconds counts arrivals in one of a few
# ways, and a client that is safe against one may be refused by another. These models are
# the four kinds seen in the wild, written as plain deterministic state machines: the
# caller passes the arrival time, nothing reads a clock, so a simulation on a virtual clock
# (benchmarks/pacing.py), a property test or a fake server can all use the same code.
#
# * ``sliding``: a sliding log. Any window of T seconds holds at most N accepted arrivals:
#   an arrival is accepted when fewer than N accepted ones are younger than T.
# * ``fixed``: fixed windows [kT, (k+1)T), each holding at most N accepted arrivals (the
#   counter resets on the window boundary, so 2N can land within a few ms of each other
#   across it).
# * ``bucket``: a token bucket of capacity N, refilled continuously at N/T per second,
#   starting full. An arrival takes one token or is refused.
# * ``strict``: strict spacing, like nginx ``limit_req`` without ``burst``: accepted
#   arrivals are at least T/N apart. A refused arrival does not move the reference.
#
# Only accepted arrivals change the state of the window kinds and of strict spacing; the
# token bucket refills on every arrival (that is bookkeeping, not a change of capacity).
#
# Float tolerance: evenly spaced arrivals computed as ``start + k * T / N`` land a few ulps
# either side of the boundary they mean. Each model compares times with a tolerance of
# ``EPSILON`` (1 ns): an arrival exactly T after the oldest one in a sliding log, exactly on
# a fixed window's boundary or exactly T/N after the last accepted one counts as "on time".
"""Deterministic models of server-side rate limiters (time is passed in, never read)."""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from typing import Literal, Protocol, get_args

import attrs

from .._exceptions import ValidationError

__all__ = [
    "LIMITER_KINDS",
    "Admission",
    "FixedWindowLimiter",
    "LimiterKind",
    "ServerLimiter",
    "SlidingLogLimiter",
    "StrictSpacingLimiter",
    "TokenBucketLimiter",
    "make_limiter",
    "max_in_window",
]

LimiterKind = Literal["sliding", "fixed", "bucket", "strict"]
"""The name of a server-side limiter model, as `make_limiter` takes it.

Examples:
    >>> from certmail_async.testing import LimiterKind, make_limiter
    >>> kind: LimiterKind = "bucket"
    >>> type(make_limiter(kind, requests=10, per=60.0)).__name__
    'TokenBucketLimiter'
"""

LIMITER_KINDS: tuple[LimiterKind, ...] = get_args(LimiterKind)
"""Every limiter kind, in the order benchmarks print them.

Examples:
    >>> from certmail_async.testing import LIMITER_KINDS
    >>> LIMITER_KINDS
    ('sliding', 'fixed', 'bucket', 'strict')
"""

#: Seconds of tolerance when a time is compared with a boundary (see the module comment).
EPSILON = 1e-9


@attrs.frozen(kw_only=True)
class Admission:
    """A limiter's answer to one arrival.

    ``retry_after`` is the number of seconds after the arrival at which the same request
    would be accepted if nothing else arrived (what a server would put in ``Retry-After``);
    ``None`` when the arrival was accepted.

    Examples:
        >>> Admission(accepted=False, retry_after=0.5)
        Admission(accepted=False, retry_after=0.5)
    """

    accepted: bool
    retry_after: float | None = None


_ACCEPTED = Admission(accepted=True)


class ServerLimiter(Protocol):
    """What every limiter model offers: its cap, its kind and `admit`.

    Examples:
        >>> limiter: ServerLimiter = make_limiter("strict", requests=1, per=1.0)
        >>> limiter.kind, limiter.requests, limiter.per
        ('strict', 1, 1.0)
    """

    @property
    def kind(self) -> LimiterKind:
        """Which counting rule this model applies."""
        ...

    @property
    def requests(self) -> int:
        """N: accepted arrivals allowed per ``per`` seconds."""
        ...

    @property
    def per(self) -> float:
        """T: the window in seconds."""
        ...

    @property
    def accepted(self) -> int:
        """Arrivals accepted so far."""
        ...

    @property
    def rejected(self) -> int:
        """Arrivals refused so far."""
        ...

    def admit(self, t: float) -> Admission:
        """Count an arrival at time ``t`` (never earlier than the previous one)."""
        ...


def _check_cap(requests: int, per: float) -> None:
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValidationError(
            f"requests must be an integer >= 1, got {requests!r}", field="requests"
        )
    if (
        isinstance(per, bool)
        or not isinstance(per, int | float)
        or not (per > 0 and math.isfinite(per))
    ):
        raise ValidationError(
            f"per must be a positive finite number of seconds, got {per!r}", field="per"
        )


class _Base:
    """Cap validation, counters and the arrival-order check shared by every model."""

    kind: LimiterKind

    def __init__(self, *, requests: int, per: float) -> None:
        _check_cap(requests, per)
        self._requests = requests
        self._per = float(per)
        self._last_arrival = -math.inf
        self._accepted = 0
        self._rejected = 0

    @property
    def requests(self) -> int:
        """N: accepted arrivals allowed per ``per`` seconds."""
        return self._requests

    @property
    def per(self) -> float:
        """T: the window in seconds."""
        return self._per

    @property
    def accepted(self) -> int:
        """Arrivals accepted so far."""
        return self._accepted

    @property
    def rejected(self) -> int:
        """Arrivals refused so far."""
        return self._rejected

    def admit(self, t: float) -> Admission:
        """Count an arrival at time ``t``; arrivals must come in time order."""
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ValidationError(f"t must be a finite number, got {t!r}", field="t")
        if t < self._last_arrival:
            raise ValidationError(
                f"arrivals must come in time order: {t!r} after {self._last_arrival!r}",
                field="t",
            )
        self._last_arrival = t
        wait = self._decide(float(t))
        if wait is None:
            self._accepted += 1
            return _ACCEPTED
        self._rejected += 1
        return Admission(accepted=False, retry_after=max(wait, 0.0))

    def _decide(self, t: float) -> float | None:
        """None to accept (state updated), else the seconds until acceptance."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._requests} per {self._per}s "
            f"accepted={self._accepted} rejected={self._rejected}>"
        )


class SlidingLogLimiter(_Base):
    """At most ``requests`` accepted arrivals in any window of ``per`` seconds.

    An arrival at ``t`` is accepted when fewer than N accepted arrivals lie in
    ``(t - per, t]``; a refusal's ``retry_after`` is when the oldest of them leaves.

    Examples:
        >>> lim = SlidingLogLimiter(requests=2, per=1.0)
        >>> [lim.admit(t).accepted for t in (0.0, 0.9, 0.95, 1.0, 1.5)]
        [True, True, False, True, False]
        >>> lim.admit(1.6).retry_after
        0.3
    """

    kind: LimiterKind = "sliding"

    def __init__(self, *, requests: int, per: float) -> None:
        super().__init__(requests=requests, per=per)
        self._log: deque[float] = deque()

    def _decide(self, t: float) -> float | None:
        log = self._log
        while log and t - log[0] >= self._per - EPSILON:
            log.popleft()
        if len(log) >= self._requests:
            return round(log[0] + self._per - t, 9)
        log.append(t)
        return None


class FixedWindowLimiter(_Base):
    """At most ``requests`` accepted arrivals in each window ``[k * per, (k + 1) * per)``.

    A refusal's ``retry_after`` is the time left until the next window opens.

    Examples:
        >>> lim = FixedWindowLimiter(requests=2, per=1.0)
        >>> [lim.admit(t).accepted for t in (0.8, 0.9, 0.95, 1.0, 1.01, 1.02)]
        [True, True, False, True, True, False]
        >>> lim.admit(1.5).retry_after
        0.5
    """

    kind: LimiterKind = "fixed"

    def __init__(self, *, requests: int, per: float) -> None:
        super().__init__(requests=requests, per=per)
        self._window = -math.inf
        self._count = 0

    def _decide(self, t: float) -> float | None:
        window = math.floor((t + EPSILON) / self._per)
        if window != self._window:
            self._window, self._count = window, 0
        if self._count >= self._requests:
            return round((window + 1) * self._per - t, 9)
        self._count += 1
        return None


class TokenBucketLimiter(_Base):
    """A bucket of ``requests`` tokens, refilled at ``requests / per`` per second, full at start.

    Each accepted arrival takes one token; a refusal's ``retry_after`` is when the bucket
    next holds a whole token.

    Examples:
        >>> lim = TokenBucketLimiter(requests=2, per=1.0)
        >>> [lim.admit(t).accepted for t in (0.0, 0.0, 0.1, 0.5, 0.6, 1.0)]
        [True, True, False, True, False, True]
        >>> lim.admit(1.0).retry_after
        0.5
    """

    kind: LimiterKind = "bucket"

    def __init__(self, *, requests: int, per: float) -> None:
        super().__init__(requests=requests, per=per)
        self._tokens = float(requests)
        self._at = -math.inf

    def _decide(self, t: float) -> float | None:
        rate = self._requests / self._per
        if self._at > -math.inf:
            self._tokens = min(float(self._requests), self._tokens + (t - self._at) * rate)
        self._at = t
        if self._tokens >= 1 - EPSILON * rate:
            self._tokens = max(self._tokens - 1, 0.0)
            return None
        return round((1 - self._tokens) / rate, 9)


class StrictSpacingLimiter(_Base):
    """Accepted arrivals at least ``per / requests`` apart (nginx ``limit_req``, no burst).

    A refused arrival does not move the reference, so the next one is measured against the
    last ACCEPTED arrival; ``retry_after`` is when that spacing is reached.

    Examples:
        >>> lim = StrictSpacingLimiter(requests=10, per=1.0)
        >>> [lim.admit(t).accepted for t in (0.0, 0.05, 0.1, 0.19, 0.2)]
        [True, False, True, False, True]
        >>> lim.admit(0.25).retry_after
        0.05
    """

    kind: LimiterKind = "strict"

    def __init__(self, *, requests: int, per: float) -> None:
        super().__init__(requests=requests, per=per)
        self._last = -math.inf

    def _decide(self, t: float) -> float | None:
        spacing = self._per / self._requests
        if t - self._last >= spacing - EPSILON:
            self._last = t
            return None
        return round(self._last + spacing - t, 9)


_KINDS: dict[str, type[_Base]] = {
    "sliding": SlidingLogLimiter,
    "fixed": FixedWindowLimiter,
    "bucket": TokenBucketLimiter,
    "strict": StrictSpacingLimiter,
}


def make_limiter(kind: LimiterKind, *, requests: int, per: float) -> ServerLimiter:
    """A fresh limiter model of ``kind`` (one of ``LIMITER_KINDS``) for N per T.

    Examples:
        >>> lim = make_limiter("fixed", requests=10, per=60.0)
        >>> type(lim).__name__, lim.admit(0.0).accepted
        ('FixedWindowLimiter', True)
    """
    try:
        cls = _KINDS[kind]
    except (KeyError, TypeError):
        raise ValidationError(
            f"unknown limiter kind {kind!r}; known: {', '.join(LIMITER_KINDS)}", field="kind"
        ) from None
    return cls(requests=requests, per=per)


def max_in_window(times: Sequence[float], width: float) -> int:
    """The most of ``times`` (sorted) in any half-open window ``[t, t + width)``.

    Examples:
        >>> max_in_window([0.0, 0.5, 0.99, 1.0, 1.6], 1.0)
        3
    """
    best = 0
    for i, t in enumerate(times):
        j = bisect.bisect_left(times, t + width - EPSILON, lo=i)
        best = max(best, j - i)
    return best
