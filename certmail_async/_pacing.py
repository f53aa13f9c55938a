# Pacing gates: how certmail_async stays under the providers' documented caps
# ---------------------------------------------------------------------------
#
# The caps are server-side sliding windows: PEC Massiva accepts at most 1 ``POST /send`` per
# second (per token), LegallyMail at most 10 requests per minute per egress IP. A client that
# exceeds them gets 429s (LegallyMail) or undocumented refusals (PEC Massiva).
#
# Algorithm: a cap of N requests per T seconds is paced as ONE request every
# ``T / N * (1 + margin)`` seconds, with a burst of 1 (margin 0.05 by default). Requests are
# therefore evenly spaced, and any window of length T, wherever the server starts it, holds
# at most N of them even when the network adds a few milliseconds of jitter to each one.
# Underneath is ``aiolimiter.AsyncLimiter(1, interval)``: a leaky bucket of capacity 1 that
# drains in exactly ``interval`` seconds.
#
# Why not ``AsyncLimiter(N, T)``? That bucket has capacity N: after a quiet period it admits
# N requests at once, then keeps leaking at N/T. Against a sliding window that is up to
# 2N - 1 requests in the first T seconds (19 in the first minute of a 10/min cap), which is
# exactly the burst the server refuses. Capacity 1 removes the burst.
#
# Scope: a gate belongs to the provider's *scope* (provider + token, or provider + egress
# IP), not to a client object, so every client in the process that shares a scope shares a
# gate. The registry is per event loop, because asyncio primitives are bound to one loop.
#
# Pausing: a 429 (or a provider's rate-limit answer) pauses the whole scope, reads
# included, for Retry-After or one full window; the refused request then takes a fresh slot.
#
# Float rounding: after exactly one interval the bucket's leak computes a level of ~1e-16,
# not 0, so a waiter woken right on time would be refused and re-armed for the same instant.
# A real clock creeps forward and hides this; a virtual clock (tests, simulations) spins
# forever. Each request therefore takes ``1 - 1e-9`` of the capacity: admissions can come at
# most a few nanoseconds early, which the 5% margin dwarfs.
#
# Departures, not admissions: what the server counts is when requests ARRIVE. Work between
# the admission and the write (a journal fsync, an event loop stall) can bunch two requests
# closer than the interval. So right before a paced request is written, ``depart()``
# reserves ``previous departure slot + interval`` (or the end of a pause) and waits for it.
# That reservation is the exact pacer: slots follow each other at the interval whatever
# time the previous request really left, so a late wake-up is not carried into every later
# slot. aiolimiter is the admission queue in front of it and admits 2% early
# (``_ADMIT_EARLY``): a leaky bucket re-arms from the moment it was actually filled, so with
# exact admission each event-loop wake-up delay (about a millisecond) would accumulate,
# costing 0.3% of the cap in the benchmarks; admitting slightly early lets the reservation
# set the pace instead.
#
# Bounded waits: a caller may give ``max_wait`` (the transport passes the call's total
# timeout). The gate estimates the wait for the caller's slot from the reservation schedule
# (end of any pause, the next free departure, one interval per caller already queued) and,
# when it is longer than ``max_wait``, refuses AT ONCE with :class:`SlotUnavailable` and
# takes no slot, so the callers behind it are not delayed by a request that was never going
# to leave in time. A waiter that is cancelled (or gives up) leaves the queue; if its
# departure was the last one reserved, the reservation is rolled back, so the next request
# takes that slot instead of waiting one interval more.
#
# Pauses are bounded by whoever calls :meth:`Gate.pause` (the transport clamps Retry-After
# to ``RetryPolicy.max_retry_after``); the gate itself refuses NaN, infinite and negative
# pauses (they become one window).
#
# Order: aiolimiter does not promise FIFO wake-ups under contention. Code that needs order
# (the bulk dispatcher) sends from one lane task per scope; the gate only spaces requests.
"""Pacing gates that keep each provider scope under its documented rate cap."""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from collections.abc import Hashable

import attrs
from aiolimiter import AsyncLimiter

from ._exceptions import ValidationError

__all__ = ["RateLimit"]  # Gate, gate_for and SlotUnavailable are internal

logger = logging.getLogger("certmail_async.pacing")

_SLOT = 1 - 1e-9  # capacity taken per request; see "Float rounding" above
_ADMIT_EARLY = 0.98  # admission interval / departure interval; see "Departures" above


@attrs.frozen(kw_only=True)
class RateLimit:
    """A provider cap of ``requests`` per ``per`` seconds, paced with a safety ``margin``.

    The gate admits one request every ``per / requests * (1 + margin)`` seconds. Tests and
    benchmarks scale time by shrinking ``per`` (a "minute" of 0.2 s) with the same code.

    Example:
        >>> RateLimit(requests=10, per=60).interval
        6.3
        >>> RateLimit(requests=1, per=1.0, margin=0).interval
        1.0
    """

    requests: int = attrs.field()
    per: float = attrs.field()
    margin: float = attrs.field(default=0.05)

    # Each check is a ValidationError naming the field (a ValueError too); a bool, a float
    # count, NaN or infinity would silently turn pacing off or make it hang.
    @requests.validator
    def _check_requests(self, _a: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(
                f"RateLimit.requests must be an integer >= 1, got {value!r}",
                field="rate_limit.requests",
            )

    @per.validator
    def _check_per(self, _a: attrs.Attribute[float], value: float) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (value > 0 and math.isfinite(value))
        ):
            raise ValidationError(
                f"RateLimit.per must be a positive finite number of seconds, got {value!r}",
                field="rate_limit.per",
            )

    @margin.validator
    def _check_margin(self, _a: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value < 10):
            raise ValidationError(
                f"RateLimit.margin must be a number from 0 to below 10, got {value!r}",
                field="rate_limit.margin",
            )

    @property
    def interval(self) -> float:
        """Seconds between two admitted requests."""
        return round(self.per / self.requests * (1 + self.margin), 9)

    @property
    def window(self) -> float:
        """The provider's window in seconds: the default pause after a 429."""
        return self.per


class SlotUnavailable(Exception):
    """The scope cannot give a slot within ``max_wait``; nothing was taken.

    ``wait`` is the estimated seconds until a slot would be free (the transport raises
    ``RateLimitError(retry_after=wait)``).
    """

    def __init__(self, wait: float) -> None:
        super().__init__(f"no pacing slot within the deadline (next in {wait:.3f}s)")
        self.wait = wait


class Gate:
    """Spaces requests of one scope at least ``rate.interval`` apart; pausable on 429.

    Obtain gates with :func:`gate_for`, never directly, so that every client of a scope
    shares one.

    Use :meth:`acquire` to wait for admission, then :meth:`depart` right before the
    request is written (the transport does both).

    Example:
        >>> import asyncio
        >>> async def demo() -> int:
        ...     gate = gate_for(("doc", "example"), RateLimit(requests=1, per=0.01))
        ...     for _ in range(3):
        ...         await gate.acquire()
        ...         await gate.depart()
        ...     return gate.departed
        >>> asyncio.run(demo())
        3
    """

    def __init__(self, rate: RateLimit, scope: Hashable = None) -> None:
        self._rate = rate
        self._scope = scope
        self._limiter = AsyncLimiter(1, rate.interval * _ADMIT_EARLY)
        self._paused_until = 0.0
        self._last_departure = float("-inf")
        self._queued = 0  # callers admitted or waiting that have not departed yet
        self.admitted = 0
        self.departed = 0
        self.pauses = 0
        self.refused = 0  # callers turned away because their deadline could not be met

    @property
    def rate(self) -> RateLimit:
        """The cap this gate keeps."""
        return self._rate

    def _adopt(self, rate: RateLimit) -> None:
        # Two clients of one scope asked for different caps: the stricter one wins, so the
        # scope never exceeds what any of its clients promised to keep.
        if rate.interval > self._rate.interval:
            self._rate = rate
            self._limiter = AsyncLimiter(1, rate.interval * _ADMIT_EARLY)

    def expected_wait(self) -> float:
        """Seconds a new caller would wait for its slot (pause, next departure, queue)."""
        now = asyncio.get_running_loop().time()
        interval = self._rate.interval
        free = max(now, self._last_departure + interval, self._paused_until)
        if self._queued == 0:
            # Nobody ahead: the admission bucket may still be draining a recent admission.
            free = max(free, now + self._admission_wait())
        return free - now + self._queued * interval

    def _admission_wait(self) -> float:
        # aiolimiter has no public "time until capacity"; its bucket level drains at
        # ``_rate_per_sec`` (checked against aiolimiter 1.2/1.3; absent attributes mean 0).
        limiter = self._limiter
        if limiter.has_capacity(_SLOT):
            return 0.0
        level = getattr(limiter, "_level", 0.0)
        rate = getattr(limiter, "_rate_per_sec", 0.0)
        return max(level + _SLOT - limiter.max_rate, 0.0) / rate if rate else 0.0

    def _refund(self) -> None:
        # Give an admission back to the bucket (aiolimiter has no release()): the caller
        # will not send, so the next one may be admitted at once.
        limiter = self._limiter
        level = getattr(limiter, "_level", None)
        if isinstance(level, float | int):
            limiter._level = max(level - _SLOT, 0.0)
            wake = getattr(limiter, "_wake_next", None)
            if callable(wake):
                wake()

    async def wait_unpaused(self, max_wait: float | None = None) -> None:
        """Wait while the scope is paused by a 429; takes no slot.

        Raises :class:`SlotUnavailable` at once when the pause outlasts ``max_wait``.
        """
        loop = asyncio.get_running_loop()
        if max_wait is not None and self._paused_until - loop.time() > max_wait:
            self.refused += 1
            raise SlotUnavailable(self._paused_until - loop.time())
        # A pause ends at a time, not on an event, and may be extended while we sleep.
        while (wait := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait for the scope's next slot (and for any pause to end).

        With ``max_wait``, a caller whose slot is further away than that raises
        :class:`SlotUnavailable` at once, without queueing. A caller that gets through must
        then call :meth:`depart` (or :meth:`abandon` if it will not send).
        """
        loop = asyncio.get_running_loop()
        if max_wait is not None:
            wait = self.expected_wait()
            if wait > max_wait:
                self.refused += 1
                raise SlotUnavailable(wait)
        self._queued += 1
        try:
            async with asyncio.timeout(None if max_wait is None else max_wait + 0.05):
                while True:
                    await self.wait_unpaused()
                    await self._limiter.acquire(_SLOT)
                    if self._paused_until <= loop.time():
                        self.admitted += 1
                        return
                    # A 429 paused the scope while this request was queued: the slot is
                    # spent, wait for the pause to end and take a fresh one.
        except TimeoutError:
            # The estimate was beaten by contention: give the place back, say when.
            self._queued -= 1
            self.refused += 1
            raise SlotUnavailable(self.expected_wait()) from None
        except BaseException:
            self._queued -= 1
            raise

    def abandon(self) -> None:
        """An admitted caller will not depart after all (its hook failed): give it back."""
        self._queued = max(self._queued - 1, 0)
        self._refund()

    async def depart(self) -> None:
        """Right before the request is written: keep departures ``interval`` apart.

        Reserves the slot ``max(now, previous slot + interval, end of any pause)`` before
        sleeping, so concurrent callers queue up behind each other. A caller cancelled
        while it sleeps gives its slot back when nobody reserved after it.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        previous = self._last_departure
        at = max(now, previous + self._rate.interval, self._paused_until)
        self._last_departure = at
        try:
            if at > now:
                await asyncio.sleep(at - now)
        except BaseException:
            # Cancelled before the request was written: the slot goes back.
            if self._last_departure == at:
                self._last_departure = previous
            self._refund()
            raise
        finally:
            self._queued = max(self._queued - 1, 0)
        self.departed += 1

    def pause(self, seconds: float | None) -> None:
        """Hold every request of the scope for ``seconds`` (default: one full window).

        Callers bound ``seconds`` (the transport clamps Retry-After to
        ``RetryPolicy.max_retry_after``); NaN, infinite or negative values mean one window.
        """
        loop = asyncio.get_running_loop()
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            seconds = self._rate.window
        until = loop.time() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.info(
                "pacing scope paused for %.3fs",
                seconds,
                extra={"scope": _scope_label(self._scope), "pause": seconds},
            )
        self.pauses += 1

    @property
    def paused_for(self) -> float:
        """Seconds left in the current pause (0 when not paused)."""
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0
        return max(self._paused_until - now, 0.0)

    def __repr__(self) -> str:
        return f"<Gate interval={self._rate.interval}s admitted={self.admitted}>"


_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Gate]] = (
    weakref.WeakKeyDictionary()
)


def gate_for(scope: Hashable, rate: RateLimit) -> Gate:
    """The process-wide gate of ``scope`` on the running event loop (created on first use).

    ``scope`` must not contain a secret in clear: callers pass a digest of the token.
    """
    loop = asyncio.get_running_loop()
    gates = _REGISTRY.setdefault(loop, {})
    gate = gates.get(scope)
    if gate is None:
        gate = gates[scope] = Gate(rate, scope)
    else:
        gate._adopt(rate)
    return gate


def _scope_label(scope: Hashable) -> str:
    """A log-friendly scope name (scopes hold digests of tokens, never a secret)."""
    if isinstance(scope, tuple):
        return ":".join(_scope_label(part) for part in scope)
    return str(scope)
