# Pacing gates: how certmail_async stays under the providers' documented caps
# ---------------------------------------------------------------------------
#
# The caps: PEC Massiva accepts at most 1 ``POST /send`` per second (per token), LegallyMail
# at most 10 requests per minute per egress IP. A client that exceeds them gets 429s
# (LegallyMail) or undocumented refusals (PEC Massiva). How the provider COUNTS is not
# documented, and the four ways servers do it need different things from a client:
#
# * window counters (a sliding log, fixed windows, a token bucket of N): no window of T
#   seconds may hold N + 1 ARRIVALS. Requests that leave evenly spaced but arrive with a
#   network jitter of up to J seconds only put N + 1 in one window when the slack summed
#   over the N intervals of a window is smaller than J: the slack is needed ONCE PER WINDOW.
# * strict spacing (nginx ``limit_req`` without ``burst``): two arrivals closer than T/N are
#   refused, so the slack is needed PER INTERVAL (N times as much for the same jitter).
#
# Algorithm: a cap of N per T is paced as evenly spaced departures with a burst of 1 and a
# safety budget B in seconds (``RateLimit.slack``). ``mode="window"`` spreads B over the
# window: one departure every ``(T + B) / N``; ``mode="strict"`` spends it per interval:
# one every ``T / N + B``. The default is the window mode (LegallyMail: one every 6.006 s,
# 99.9% of the cap) and a scope switches to strict by itself after its first 429 (below),
# so the default is safe against all four kinds without knowing which one the provider
# runs: at most one refusal, then none.
#
# The budget, when ``slack`` is not given, is learned (:class:`PacingPolicy`):
#
#     budget = max(floor, JITTER_FACTOR * jitter, what refusals raised it to)
#     floor  = min(FLOOR_SECONDS, FLOOR_FRACTION * T / N)      (60 ms, 5% of one interval)
#     jitter = (max - min of the last RTT_SAMPLES round trips) / 2
#
# (the transport samples paced calls answered with a success only: a 429 comes from a
# faster path, and the difference in server time would read as network jitter)
#
# The floor covers the jitter of an ordinary Internet path (tens of ms) and the event
# loop's own noise (about 5 ms on a busy 2-core box); the 5% term keeps it a fraction of
# the interval on scaled time (tests, demos) and for fast caps. Jitter cannot be measured
# one-way without synchronised clocks, so the gate measures round trips (request written
# -> response headers) and ASSUMES the spread splits evenly between the two legs: one-way
# jitter ~ half the RTT spread. JITTER_FACTOR = 1.25 covers a finite sample missing the
# extremes and a few ms of loop noise. The assumption fails when the spread is all on the
# request leg (the estimate is then half the truth): that case costs at most a refusal or
# two, because each 429 widens the budget (below). Server processing time that varies
# inflates the estimate instead (safe, slower); the learned part is capped at one cap
# interval, so an odd answer cannot slow a scope down by more than half.
#
# Measured targets (benchmarks/pacing.py): LegallyMail shape with J <= 50 ms gets 0.999 of
# the cap and no 429 from window limiters; PEC Massiva with J <= 40 ms gets 0.952 and no
# 429 (floor 50 ms there, the 5% term).
#
# Refusals: a 429 on a paced request (:meth:`Gate.refused`) pauses the scope (Retry-After
# or one window) and TIGHTENS it: the mode becomes strict and the budget at least doubles
# (never above one cap interval, unless configured above it), logged at WARNING. A
# strict-spacing limiter thus refuses once at most while J stays under the floor; a jitter
# of 120 ms on PEC Massiva's 1/s (floor 50 ms) costs two refusals (100 ms, then 200 ms).
# Concurrent refusals of requests that left before the tightening widen only once.
#
# Departures, not admissions: what the server counts is when requests ARRIVE. Right before
# a paced request is written, :meth:`Gate.depart` waits for its slot: the scope's anchor (the
# previous departure's slot) plus one interval, or the end of a pause. Departures go one at
# a time through a FIFO lane, each computing its slot when its turn comes, so a slot moved
# later (a pause, a late write) moves every slot behind it. The slot, not the moment the
# waiter woke up, becomes the next anchor, so timers that fire a little late (about a
# millisecond) do not accumulate. A departure (or a write stamped by :meth:`Gate.sent`)
# later than its slot by more than LATE_TOLERANCE moves the anchor to the real time: a
# loop stall on a departure, or a first request on a new connection (TCP and TLS
# handshakes), never lets the next one leave closer than ``interval - tolerance`` to it,
# which is never closer than the cap's own interval T/N. The transport stamps the write
# with aiohttp's tracing (``on_request_headers_sent``) and asks the next departure to wait
# until the previous one is written (``depart(stamped=True)``; at most HOLD_INTERVALS
# intervals, so a stuck connection holds nobody forever).
#
# Admission: a second FIFO lock in front of the lane admits one caller per interval after
# the previous admission, 2% early (``_ADMIT_EARLY``), and none during a pause: the lane,
# not the admission, sets the pace, and work a caller does between admission and departure
# (the bulk journal's commit) overlaps the wait for its slot. (It used to be
# ``aiolimiter.AsyncLimiter(1, interval)``: a bucket that re-arms at instants off the
# virtual clock's microsecond grid once the interval is learned, and spins there.) Why not
# ``AsyncLimiter(N, T)`` at all? That bucket holds N: after a quiet period it admits N at
# once and keeps leaking at N/T, up to 2N - 1 requests in the first T seconds (19 in the
# first minute of a 10/min cap), exactly the burst a server refuses.
#
# Float rounding: sums of intervals land a few ulps off the instant they mean, and a
# virtual clock rounds to microseconds, so a slot within ``_EPSILON`` (1 ns) is due and no
# sleep is shorter than ``_MIN_SLEEP`` (1 us): a waiter never re-arms for the same instant.
#
# Scope: a gate belongs to the provider's scope (provider + token digest, or provider +
# egress IP), not to a client, so every client of a scope in the process shares it; two
# clients asking for different caps get the stricter one while both are open (a client's
# rate is a weakly held RateClaim, released by aclose). Gates are per event loop (asyncio
# objects are loop-bound), but their schedule is not (``_Schedule``): on loops whose clock
# is asyncio's ``time.monotonic()``, every loop of the process shares the slots, the pause
# and what was learned per scope and host, so a program that runs ``asyncio.run()`` per
# request keeps its spacing. Each "is my slot due, then take it" step holds the schedule's
# threading lock. A schedule unused for two windows starts afresh; virtual clocks keep one
# per loop.
#
# Bounded waits: ``acquire(max_wait)`` estimates the caller's wait from the schedule (pause,
# next slot, one interval per caller queued) and refuses AT ONCE with SlotUnavailable,
# taking no slot. A waiter cancelled in the lane gives its slot back (the anchor only moves
# when a departure leaves). Pauses are bounded by the caller of :meth:`Gate.pause` (the
# transport clamps Retry-After); NaN, infinite or negative pauses become one window.
#
# Order: admission and lane are FIFO within a loop, but a caller may lose its place while
# it runs its hook. Code that needs order (the bulk dispatcher) sends from one lane task
# per scope.
#
# Other backends (the Redis gate) implement the same Gate methods on their own schedule
# storage and reuse :class:`PacingPolicy` unchanged for the budget, the mode, the jitter
# estimate and the tightening; see docs/rate-limits.md, "Backends".
#
# Backends: a :class:`PacingBackend` hands out the gate of a scope (``backend.gate(scope,
# rate)``). :class:`LocalPacing` is this module's registry (:func:`gate_for`); RedisPacing
# (_pacing_redis.py) keeps the schedule in Redis for many processes and hosts. The
# transport resolves its backend once, at construction (:func:`resolve_backend`): the
# client's ``pacing=``, else ``RateLimit.backend``, else ``CERTMAIL_PACING_URL``, else
# this process. A URL that cannot be used is a ValidationError then, never a silent
# fallback to per-process pacing.
"""Pacing gates that keep each provider scope under its documented rate cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Hashable, Mapping
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import attrs

from ._exceptions import ValidationError

__all__ = [
    "LocalPacing",
    "PacingBackend",
    "PacingState",
    "RateLimit",
]  # Gate, PacingGate, PacingPolicy, gate_for...: internal

#: The environment variable that selects a Redis gate for the whole process.
PACING_URL_ENV = "CERTMAIL_PACING_URL"

logger = logging.getLogger("certmail_async.pacing")

#: How the safety budget is spent: over the whole window, or on every interval.
Mode = Literal["window", "strict"]
_MODES: tuple[str, ...] = get_args(Mode)

#: The budget floor in seconds: covers an ordinary path's jitter and the loop's noise...
FLOOR_SECONDS = 0.06
#: ...but never more than this fraction of one cap interval (scaled time, fast caps).
FLOOR_FRACTION = 0.05
#: The budget is kept at least this many times the estimated one-way jitter.
JITTER_FACTOR = 1.25
#: Round trips kept per scope for the jitter estimate (a sliding sample).
RTT_SAMPLES = 64
#: Round trips needed before the estimate counts.
MIN_RTT_SAMPLES = 4
#: Each refusal multiplies the budget by at least this much.
WIDEN_FACTOR = 2.0
#: Lateness of a departure absorbed without moving the schedule (a timer firing late).
LATE_TOLERANCE = 0.002
#: A stamped departure holds the next one at most this many intervals.
HOLD_INTERVALS = 2.0

_EPSILON = 1e-9  # a slot this close is due: sums of intervals land a few ulps off
_MIN_SLEEP = 1e-6  # a virtual clock rounds shorter sleeps to nothing (and would spin)
_ADMIT_EARLY = 0.98  # admission interval / departure interval; see "Admission" above


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


#: The longest window a RateLimit takes (31 days): longer ones make pauses that never end.
MAX_PER = 31 * 86_400.0
#: The shortest interval a cap may ask for: below it the spacing rounds to nothing.
MIN_CAP_INTERVAL = 1e-6


def _seconds(value: object, field: str, *, upper: float, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0 <= value <= upper and math.isfinite(value))
    ):
        name = field.rsplit(".", 1)[-1]
        raise ValidationError(f"RateLimit.{name} must be {what}, got {value!r}", field=field)
    return float(value) + 0.0  # -0.0 becomes 0.0


@attrs.frozen(kw_only=True, init=False)
class RateLimit:
    """A provider cap of ``requests`` per ``per`` seconds, paced with a safety budget.

    ``slack`` is the budget in seconds; ``None`` (the default) learns it from the wire:
    at least ``min(60 ms, 5% of per / requests)``, more when the measured jitter asks for
    it. ``mode="window"`` spreads the budget over the window (one request every
    ``(per + slack) / requests``); ``mode="strict"`` adds it to every interval (one every
    ``per / requests + slack``), for servers that refuse two requests closer than
    ``per / requests``. A scope switches to strict by itself after a 429.

    ``margin`` is the deprecated spelling of earlier versions: ``margin=m`` is
    ``slack=m * per`` (``m * per / requests`` in strict mode), the same interval
    ``per / requests * (1 + m)`` as before.

    Tests and benchmarks scale time by shrinking ``per`` (a "minute" of 0.2 s).

    ``backend="redis://host:6379/0"`` keeps the scope's schedule in Redis, shared by every
    process and host that uses the same URL (see [RedisPacing][certmail_async.RedisPacing]);
    the default ``None`` paces in this process (or through ``CERTMAIL_PACING_URL`` when it
    is set). The URL's password never shows in the repr.

    Examples:
        >>> RateLimit(requests=10, per=60).interval
        6.006
        >>> RateLimit(requests=1, per=1.0).interval
        1.05
        >>> RateLimit(requests=10, per=60, slack=0.5, mode="strict").interval
        6.5
        >>> RateLimit(requests=10, per=60, margin=0.05).interval
        6.3
        >>> shared = RateLimit(requests=1, per=1,
        ...                    backend="redis://:pw@redis.internal/0")
        >>> shared.backend_shown
        'redis://:***@redis.internal/0'
    """

    requests: int
    per: float
    slack: float | None
    mode: Mode
    backend: str | None = attrs.field(repr=lambda url: repr(_shown_url(url)))

    def __init__(
        self,
        *,
        requests: int,
        per: float,
        slack: float | None = None,
        mode: Mode = "window",
        margin: float = _UNSET,
        backend: str | None = None,
    ) -> None:
        # Each check is a ValidationError naming the field (a ValueError too); a bool, a
        # float count, NaN or infinity would silently turn pacing off or make it hang.
        if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
            raise ValidationError(
                f"RateLimit.requests must be an integer >= 1, got {requests!r}",
                field="rate_limit.requests",
            )
        if (
            isinstance(per, bool)
            or not isinstance(per, int | float)
            or not (per > 0 and math.isfinite(per))
        ):
            raise ValidationError(
                f"RateLimit.per must be a positive finite number of seconds, got {per!r}",
                field="rate_limit.per",
            )
        if per > MAX_PER:
            raise ValidationError(
                f"RateLimit.per must be at most {MAX_PER:.0f} seconds (31 days), got {per!r}",
                field="rate_limit.per",
            )
        if per / requests < MIN_CAP_INTERVAL:
            # A cap this fast paces nothing (the interval rounds to zero): refuse it rather
            # than silently turning pacing off.
            raise ValidationError(
                f"RateLimit per / requests must be at least {MIN_CAP_INTERVAL} s, got "
                f"{per!r} / {requests!r}; use rate_limit=None to turn pacing off",
                field="rate_limit.requests",
            )
        if mode not in _MODES:
            raise ValidationError(
                f"RateLimit.mode must be 'window' or 'strict', got {mode!r}",
                field="rate_limit.mode",
            )
        if slack is not None:
            slack = _seconds(
                slack, "rate_limit.slack", upper=10 * per, what="None or seconds from 0 to 10 x per"
            )
        if margin is not _UNSET:
            if isinstance(margin, bool) or not isinstance(margin, int | float):
                raise ValidationError(
                    f"RateLimit.margin must be a number from 0 to below 10, got {margin!r}",
                    field="rate_limit.margin",
                )
            if not (0 <= margin < 10):
                raise ValidationError(
                    f"RateLimit.margin must be a number from 0 to below 10, got {margin!r}",
                    field="rate_limit.margin",
                )
            if slack is not None:
                raise ValidationError(
                    "give RateLimit.slack (seconds) or the deprecated margin, not both",
                    field="rate_limit.margin",
                )
            span = per if mode == "window" else per / requests
            slack = round(margin * span, 12)
        if backend is not None:
            from ._pacing_redis import check_url  # no import of redis itself

            backend = check_url(backend, field="rate_limit.backend")
        self.__attrs_init__(requests=requests, per=per, slack=slack, mode=mode, backend=backend)

    @property
    def backend_shown(self) -> str | None:
        """``backend`` without its password (for logs and messages)."""
        return _shown_url(self.backend)

    @property
    def cap_interval(self) -> float:
        """The cap's own interval ``per / requests``: what a strict server enforces."""
        return round(self.per / self.requests, 12)

    @property
    def floor(self) -> float:
        """The least budget the gate keeps when ``slack`` is learned (seconds)."""
        return min(FLOOR_SECONDS, FLOOR_FRACTION * self.cap_interval)

    @property
    def budget(self) -> float:
        """The configured budget: ``slack``, or the learned budget's floor (seconds)."""
        return self.slack if self.slack is not None else self.floor

    @property
    def interval(self) -> float:
        """Seconds between two departures in the configured state (nothing learned yet)."""
        return spacing(self, self.mode, self.budget)

    @property
    def window(self) -> float:
        """The provider's window in seconds: the default pause after a 429."""
        return self.per


def _shown_url(url: str | None) -> str | None:
    if url is None:
        return None
    from ._pacing_redis import shown_url

    return shown_url(url)


def spacing(rate: RateLimit, mode: Mode, budget: float) -> float:
    """The departure interval of ``rate`` with ``budget`` seconds spent the ``mode`` way.

    Examples:
        >>> rate = RateLimit(requests=10, per=60)
        >>> spacing(rate, "window", 0.5), spacing(rate, "strict", 0.5)
        (6.05, 6.5)
    """
    share = budget / rate.requests if mode == "window" else budget
    return round(rate.cap_interval + share, 9)


@attrs.frozen(kw_only=True)
class PacingState:
    """What a scope's gate has learned, as a snapshot (``client.pacing``).

    ``interval`` is the current spacing between departures, ``budget`` the safety slack in
    seconds (spread over the window in ``"window"`` mode, added to each interval in
    ``"strict"`` mode), ``jitter`` the one-way jitter estimated from round trips,
    ``refusals`` the 429s (or equivalent) the scope has seen, ``pauses`` how often it was
    paused, ``departed`` the paced requests that left, ``paused_for`` the seconds left in
    a pause. ``scope`` names the scope without any secret (a digest of the token).

    Examples:
        >>> state = PacingState(
        ...     scope="pecmassiva:9f2c", requests=1, per=1.0, mode="window",
        ...     budget=0.05, jitter=0.0, interval=1.05, refusals=0, pauses=0,
        ...     departed=3, paused_for=0.0)
        >>> state.interval, state.mode
        (1.05, 'window')
    """

    scope: str
    requests: int
    per: float
    mode: Mode
    budget: float
    jitter: float
    interval: float
    refusals: int
    pauses: int
    departed: int
    paused_for: float


@attrs.define(kw_only=True)
class PacingPolicy:
    """The adaptive part of a gate: mode, budget, jitter estimate, tightening.

    Pure bookkeeping with no clock, loop or storage, so every gate backend (in-process,
    Redis) applies the same rules: feed it round trips (:meth:`observe`) and refusals
    (:meth:`tighten`), read :attr:`interval`. ``merge`` takes another holder's tightening
    (a Redis gate shares ``mode`` and ``min_budget`` between processes).

    Examples:
        >>> policy = PacingPolicy.of(RateLimit(requests=1, per=1.0))
        >>> policy.interval
        1.05
        >>> for rtt in (0.10, 0.30, 0.20, 0.25):
        ...     policy.observe(rtt)
        >>> policy.jitter, policy.budget, policy.interval
        (0.1, 0.125, 1.125)
        >>> policy.tighten()
        (0.125, 0.25)
        >>> policy.mode, policy.interval
        ('strict', 1.25)
    """

    rate: RateLimit
    mode: Mode
    min_budget: float = 0.0
    refusals: int = 0
    rtts: deque[float] = attrs.field(factory=lambda: deque(maxlen=RTT_SAMPLES))
    #: The strictest rate adopted without a claim (kept for the policy's life).
    sticky: RateLimit | None = attrs.field(default=None, eq=False, repr=False)
    #: The open clients' claims (weakly held): their strictest rate counts while open.
    claims: weakref.WeakSet[RateClaim] = attrs.field(factory=weakref.WeakSet, eq=False, repr=False)

    @classmethod
    def of(cls, rate: RateLimit) -> PacingPolicy:
        """A fresh policy for ``rate`` (its configured mode, nothing learned)."""
        return cls(rate=rate, mode=rate.mode)

    @property
    def ceiling(self) -> float:
        """The most a learned or widened budget grows to (one cap interval, or the slack)."""
        return max(self.rate.cap_interval, self.rate.slack or 0.0)

    @property
    def jitter(self) -> float:
        """One-way jitter estimate: half the spread of the sampled round trips."""
        if len(self.rtts) < MIN_RTT_SAMPLES:
            return 0.0
        return round((max(self.rtts) - min(self.rtts)) / 2, 9)

    @property
    def budget(self) -> float:
        """The safety budget in seconds now."""
        rate = self.rate
        if rate.slack is not None:
            base = rate.slack
        else:
            base = min(max(rate.floor, JITTER_FACTOR * self.jitter), self.ceiling)
        return round(max(base, self.min_budget), 9)

    @property
    def interval(self) -> float:
        """The spacing between two departures now."""
        return spacing(self.rate, self.mode, self.budget)

    @property
    def tolerance(self) -> float:
        """Lateness absorbed without moving the schedule (never more than half the slack)."""
        return min(LATE_TOLERANCE, (self.interval - self.rate.cap_interval) / 2)

    def snapshot(self, scope: str, *, pauses: int, departed: int, paused_for: float) -> PacingState:
        """What a gate following this policy reports as its `PacingState`."""
        return PacingState(
            scope=scope,
            requests=self.rate.requests,
            per=self.rate.per,
            mode=self.mode,
            budget=self.budget,
            jitter=self.jitter,
            interval=self.interval,
            refusals=self.refusals,
            pauses=pauses,
            departed=departed,
            paused_for=paused_for,
        )

    def observe(self, rtt: float) -> None:
        """Add one round trip (seconds from the write to the response headers)."""
        if isinstance(rtt, int | float) and math.isfinite(rtt) and rtt >= 0:
            self.rtts.append(float(rtt))

    def tighten(self) -> tuple[float, float]:
        """A refusal: strict spacing, budget at least doubled. Returns (old, new) budget."""
        old = self.budget
        self.mode = "strict"
        self.refusals += 1
        wider = max(WIDEN_FACTOR * old, self.rate.floor)
        self.min_budget = max(self.min_budget, min(wider, max(self.ceiling, old)))
        return old, self.budget

    def merge(self, mode: Mode, min_budget: float) -> None:
        """Take another holder's tightening (the stricter of both wins)."""
        if mode == "strict":
            self.mode = "strict"
        if math.isfinite(min_budget):
            self.min_budget = max(self.min_budget, min(min_budget, self.ceiling))

    def adopt(self, rate: RateLimit, claim: RateClaim | None = None) -> bool:
        """Two clients of one scope asked for different caps: keep the stricter one.

        With a ``claim`` (a client's, see :class:`RateClaim`), the rate counts only while
        the claim is open and alive: the policy keeps the strictest of the open claims
        (and of any rate adopted without one), so a stricter client that was closed or
        dropped stops slowing the scope. Without one, the stricter rate stays.
        """
        if rate.mode == "strict":
            self.mode = "strict"
        if claim is None:
            if self.sticky is None or self._wider(rate, self.sticky):
                self.sticky = rate
        else:
            self.claims.add(claim)
        rates = [c.rate for c in list(self.claims) if c.active]
        if self.sticky is not None:
            rates.append(self.sticky)
        if claim is None:
            rates.append(self.rate)  # the old rule: never looser without a claim
        strictest = rates[0] if rates else self.rate
        for candidate in rates[1:]:
            if self._wider(candidate, strictest):
                strictest = candidate
        changed = strictest is not self.rate and strictest != self.rate
        self.rate = strictest
        return changed

    def _wider(self, rate: RateLimit, than: RateLimit) -> bool:
        """Whether ``rate`` spaces departures further apart than ``than`` in this mode."""
        return spacing(rate, self.mode, rate.budget) > spacing(than, self.mode, than.budget)


class RateClaim:
    """A client's rate on its scope's gate, counted while the client is open.

    The transport makes one per client it builds (copies share it) and closes it when the
    client is closed; gates hold claims weakly, so a dropped client stops counting too.

    Example:
        >>> second = RateLimit(requests=1, per=1.0)
        >>> strict = RateClaim(RateLimit(requests=1, per=5.0))
        >>> policy = PacingPolicy.of(second)
        >>> policy.adopt(strict.rate, strict), policy.interval
        (True, 5.06)
        >>> strict.active = False  # its client was closed
        >>> policy.adopt(second, RateClaim(second)), policy.interval
        (True, 1.05)
    """

    __slots__ = ("__weakref__", "active", "rate")

    def __init__(self, rate: RateLimit) -> None:
        self.rate = rate
        self.active = True


class SlotUnavailable(Exception):
    """The scope cannot give a slot within ``max_wait``; nothing was taken.

    ``wait`` is the estimated seconds until a slot would be free (the transport raises
    ``RateLimitError(retry_after=wait)``).
    """

    def __init__(self, wait: float) -> None:
        super().__init__(f"no pacing slot within the deadline (next in {wait:.3f}s)")
        self.wait = wait


class _Schedule:
    """What a scope's gate keeps that is not bound to an event loop.

    The anchor (previous slot), the pause, the last admission, the counters and the
    :class:`PacingPolicy`, in the loop clock's terms. Gates on loops whose clock is
    ``time.monotonic()`` (asyncio's own) share one per scope and origin, so a program that
    runs ``asyncio.run()`` per request keeps its spacing (see :func:`gate_for`); ``lock``
    makes each "is my slot due, then take it" step atomic across threads.
    """

    __slots__ = (
        "admitted_at",
        "anchor",
        "departed",
        "departed_at_tightening",
        "lock",
        "paused_until",
        "pauses",
        "policy",
        "used",
    )

    def __init__(self, policy: PacingPolicy) -> None:
        self.lock = threading.Lock()
        self.reset(policy)

    def reset(self, policy: PacingPolicy) -> None:
        """Start afresh (in place: a gate still holding this schedule keeps sharing it)."""
        self.policy = policy
        self.anchor = -math.inf
        self.paused_until = -math.inf
        self.admitted_at = -math.inf
        self.departed = 0
        self.pauses = 0
        self.departed_at_tightening = 0
        self.used = -math.inf  # monotonic time of the last departure, pause or new gate

    def fresh(self, now: float) -> bool:
        """Whether a new loop should take this schedule over (used within two windows)."""
        return now - self.used <= 2 * self.policy.rate.per


class Gate:
    """Spaces the departures of one scope ``interval`` apart; pausable; learns from the wire.

    Obtain gates with :func:`gate_for`, never directly, so that every client of a scope
    shares one. The transport calls :meth:`acquire` (admission), :meth:`depart` right
    before the request is written, :meth:`sent` when it was written, :meth:`observe` with
    the round trip, and :meth:`refused` or :meth:`hint` with what the provider said.

    Examples:
        >>> import asyncio
        >>> async def demo() -> int:
        ...     gate = gate_for(("doc", "example"), RateLimit(requests=1, per=0.01))
        ...     for _ in range(3):
        ...         await gate.acquire()
        ...         gate.sent(await gate.depart())
        ...     return gate.state.departed
        >>> asyncio.run(demo())
        3
    """

    def __init__(
        self, rate: RateLimit, scope: Hashable = None, *, schedule: _Schedule | None = None
    ) -> None:
        # What outlives an event loop (see _Schedule); the rest is bound to this loop.
        self._s = schedule if schedule is not None else _Schedule(PacingPolicy.of(rate))
        self._scope = scope
        self._admission = asyncio.Lock()  # FIFO: one caller is admitted at a time
        self._lane = asyncio.Lock()  # FIFO: one departure computes its slot at a time
        self._held = 0  # stamped departures not yet reported written
        self._written = asyncio.Event()  # set by sent(): a held departure looks again
        self._held_since = -math.inf
        self._queued = 0  # callers admitted or waiting that have not departed yet
        self.admitted = 0
        self.turned_away = 0  # callers refused because their deadline could not be met

    # The schedule's fields, under the names the methods below use.

    @property
    def _policy(self) -> PacingPolicy:
        return self._s.policy

    @property
    def _anchor(self) -> float:
        return self._s.anchor

    @_anchor.setter
    def _anchor(self, value: float) -> None:
        self._s.anchor = value

    @property
    def _paused_until(self) -> float:
        return self._s.paused_until

    @_paused_until.setter
    def _paused_until(self, value: float) -> None:
        self._s.paused_until = value

    @property
    def _admitted_at(self) -> float:
        return self._s.admitted_at

    @_admitted_at.setter
    def _admitted_at(self, value: float) -> None:
        self._s.admitted_at = value

    @property
    def departed(self) -> int:
        """Paced requests that left the scope (on every loop that shares its schedule)."""
        return self._s.departed

    @property
    def pauses(self) -> int:
        """How often the scope was paused."""
        return self._s.pauses

    @pauses.setter
    def pauses(self, value: int) -> None:
        self._s.pauses = value

    # -- what it keeps -------------------------------------------------------------------

    @property
    def rate(self) -> RateLimit:
        """The cap this gate keeps (the stricter one when clients of the scope differ)."""
        return self._policy.rate

    @property
    def policy(self) -> PacingPolicy:
        """The adaptive rules (mode, budget, jitter) this gate follows."""
        return self._policy

    @property
    def interval(self) -> float:
        """The current spacing between departures (seconds)."""
        return self._policy.interval

    @property
    def state(self) -> PacingState:
        """A snapshot of what the scope has learned (see :class:`PacingState`)."""
        return self._policy.snapshot(
            _scope_label(self._scope),
            pauses=self.pauses,
            departed=self.departed,
            paused_for=self.paused_for,
        )

    def _adopt(self, rate: RateLimit, claim: RateClaim | None = None) -> None:
        self._policy.adopt(rate, claim)

    # -- admission -----------------------------------------------------------------------

    def _next_slot(self) -> float:
        """The earliest time the next departure may leave (pause and schedule)."""
        return max(self._anchor + self._policy.interval, self._paused_until)

    def expected_wait(self) -> float:
        """Seconds a new caller would wait for its slot (pause, next departure, queue)."""
        now = asyncio.get_running_loop().time()
        interval = self._policy.interval
        free = max(now, self._next_slot())
        if self._queued == 0:
            # Nobody ahead: a recent admission may still hold the next one back.
            free = max(free, self._admitted_at + _ADMIT_EARLY * interval)
        return free - now + self._queued * interval

    def _refund(self) -> None:
        # The admitted caller will not send: the next one may be admitted at once (it still
        # waits for its slot in the lane).
        self._admitted_at = -math.inf

    async def wait_unpaused(self, max_wait: float | None = None) -> None:
        """Wait while the scope is paused by a 429; takes no slot.

        Raises :class:`SlotUnavailable` at once when the pause outlasts ``max_wait``.
        """
        loop = asyncio.get_running_loop()
        if max_wait is not None and self._paused_until - loop.time() > max_wait:
            self.turned_away += 1
            raise SlotUnavailable(self._paused_until - loop.time())
        # A pause ends at a time, not on an event, and may be extended while we sleep.
        while (wait := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait for admission to the scope's departure lane (and for any pause to end).

        With ``max_wait``, a caller whose slot is further away than that raises
        :class:`SlotUnavailable` at once, without queueing. A caller that gets through must
        then call :meth:`depart` (or :meth:`abandon` if it will not send).
        """
        loop = asyncio.get_running_loop()
        if max_wait is not None:
            wait = self.expected_wait()
            if wait > max_wait:
                self.turned_away += 1
                raise SlotUnavailable(wait)
        self._queued += 1
        try:
            async with (
                asyncio.timeout(None if max_wait is None else max_wait + 0.05),
                self._admission,
            ):
                schedule = self._s
                while True:
                    # Recomputed after every sleep: a 429 pause or a late write that came
                    # meanwhile moves the time along.
                    now = loop.time()
                    interval = self._policy.interval
                    with schedule.lock:  # due, then taken: one step for every thread
                        due = max(
                            schedule.admitted_at + _ADMIT_EARLY * interval,
                            schedule.paused_until,
                        )
                        if due <= now + _EPSILON:
                            schedule.admitted_at = now
                            break
                    await asyncio.sleep(max(due - now, _MIN_SLEEP))
                self.admitted += 1
        except TimeoutError:
            # The estimate was beaten by contention: give the place back, say when.
            self._queued -= 1
            self.turned_away += 1
            raise SlotUnavailable(self.expected_wait()) from None
        except BaseException:
            self._queued -= 1
            raise

    def abandon(self) -> None:
        """An admitted caller will not depart after all (its hook failed): give it back."""
        self._queued = max(self._queued - 1, 0)
        self._refund()

    # -- departure -----------------------------------------------------------------------

    async def depart(self, *, stamped: bool = False) -> float:
        """Right before the request is written: wait for this departure's slot.

        Departures take their turn in a FIFO lane; each leaves at the scope's previous slot
        plus one interval (or when a pause ends, or when the previous stamped departure
        was written plus one interval). Returns the loop time it left. With
        ``stamped=True`` the caller reports the write with :meth:`sent` (its time, or the
        returned time when nothing was written), and the next departure waits for that
        report (at most ``HOLD_INTERVALS`` intervals). A caller cancelled while it waits
        takes no slot.
        """
        loop = asyncio.get_running_loop()
        schedule = self._s
        try:
            async with self._lane:
                slept = False
                while True:
                    now = loop.time()
                    interval = self._policy.interval
                    hold_end = self._held_since + HOLD_INTERVALS * interval
                    if self._held and now < hold_end:
                        # The previous request is not written yet (a new connection):
                        # its real departure decides this one's slot.
                        self._written.clear()
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(max(hold_end - now, _MIN_SLEEP)):
                                await self._written.wait()
                        continue
                    with schedule.lock:  # due, then taken: one step for every thread
                        due = self._next_slot()
                        if due <= now + _EPSILON:
                            # Later than the slot by more than the tolerance (a stall, or a
                            # caller that came after its slot): the next one waits from the
                            # real departure.
                            late = now - due > self._policy.tolerance
                            schedule.anchor = now if late else due
                            schedule.departed += 1
                            schedule.used = now
                            break
                    slept = True
                    await asyncio.sleep(max(due - now, _MIN_SLEEP))
                if late and slept:
                    _log_late(self, now - due)
                if stamped:
                    if self._held == 0:
                        self._held_since = now
                    self._held += 1
        except BaseException:
            self._refund()  # cancelled before the request was written: give it back
            raise
        finally:
            self._queued = max(self._queued - 1, 0)
        return now

    def sent(self, at: float | None = None) -> None:
        """The request was written at loop time ``at`` (default now).

        A write later than its slot by more than the tolerance moves the schedule: the
        next departure leaves one interval after ``at`` (never closer than the cap's own
        interval). Also ends the hold of a ``stamped`` departure.
        """
        now = asyncio.get_running_loop().time()
        at = now if at is None or not math.isfinite(at) else min(at, now)
        if self._held:
            self._held -= 1
            self._held_since = now if self._held else -math.inf
            self._written.set()
        with self._s.lock:
            lateness = at - self._s.anchor
            if lateness > self._policy.tolerance:
                self._s.anchor = at
        if lateness > self._policy.tolerance:
            _log_late(self, lateness)

    # -- learning --------------------------------------------------------------------------

    def observe(self, rtt: float) -> None:
        """One round trip (write -> response headers, seconds): feeds the jitter estimate."""
        self._policy.observe(rtt)

    def refused(self, retry_after: float | None = None) -> None:
        """The provider refused a paced request for rate (a 429): pause and tighten.

        Pauses the scope for ``retry_after`` (the caller bounds it; ``None``: one window)
        and, unless no departure left since the last tightening (concurrent refusals of
        one burst widen once), switches to strict spacing with a wider budget, logged at
        WARNING.
        """
        schedule = self._s
        with schedule.lock:
            widen = schedule.departed > schedule.departed_at_tightening
            widen = widen or self._policy.refusals == 0
            if widen:
                schedule.departed_at_tightening = schedule.departed
                mode = self._policy.mode
                old, new = self._policy.tighten()
            else:
                self._policy.refusals += 1
        if widen:
            logger.warning(
                "pacing scope %s refused for rate: %s spacing now, budget %.3fs -> %.3fs "
                "(one request every %.3fs)",
                _scope_label(self._scope),
                "strict" if mode == "window" else "still strict",
                old,
                new,
                self._policy.interval,
                extra={
                    "scope": _scope_label(self._scope),
                    "budget": new,
                    "interval": self._policy.interval,
                },
            )
        self.pause(retry_after)

    def hint(self, remaining: int | None, reset_after: float | None) -> None:
        """Rate-limit headers on an answer: ``remaining == 0`` pauses until the reset.

        ``reset_after`` is in seconds from now (the caller converts an epoch and bounds
        it); without it nothing changes, because the spacing already waits for the window.
        """
        if remaining is None or remaining > 0 or reset_after is None:
            return
        if math.isfinite(reset_after) and reset_after > 0:
            self.pause(reset_after)

    def pause(self, seconds: float | None) -> None:
        """Hold every request of the scope for ``seconds`` (default: one full window).

        Callers bound ``seconds`` (the transport clamps Retry-After to
        ``RetryPolicy.max_retry_after``); NaN, infinite or negative values mean one window.
        """
        loop = asyncio.get_running_loop()
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            seconds = self._policy.rate.window
        now = loop.time()
        until = now + seconds
        with self._s.lock:
            self._s.used = now
            longer = until > self._s.paused_until
            if longer:
                self._s.paused_until = until
        if longer:
            logger.info(
                "pacing scope paused for %.3fs",
                seconds,
                extra={"scope": _scope_label(self._scope), "pause": seconds},
            )
        self._s.pauses += 1

    @property
    def paused_for(self) -> float:
        """Seconds left in the current pause (0 when not paused)."""
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0
        return max(self._paused_until - now, 0.0)

    def __repr__(self) -> str:
        policy = self._policy
        return (
            f"<Gate interval={policy.interval}s mode={policy.mode} budget={policy.budget}s "
            f"departed={self.departed}>"
        )


#: A ``X-RateLimit-Reset`` at or above this is a Unix time (2001-09-09), below it seconds.
_EPOCH_THRESHOLD = 1e9


def rate_limit_hint(
    headers: Mapping[str, str], *, now: float | None = None
) -> tuple[int | None, float | None]:
    """``(remaining, reset_after)`` from Laravel-style rate-limit headers, or ``None`` each.

    ``headers`` is case-insensitive (aiohttp's) or has lower-case keys.
    ``X-RateLimit-Remaining`` is a count. ``X-RateLimit-Reset`` is either a Unix time
    (Laravel, GitHub) or seconds from now (the IETF draft's ``RateLimit-Reset``): a value
    of 10^9 or more (any date after 2001-09-09) is read as a Unix time and converted with
    ``now`` (default: the wall clock), a smaller one as seconds. Garbage gives ``None``.

    Examples:
        >>> rate_limit_hint({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"})
        (0, 30.0)
        >>> rate_limit_hint({"x-ratelimit-reset": "1700000042"}, now=1700000000.0)
        (None, 42.0)
        >>> rate_limit_hint({"x-ratelimit-remaining": "many"})
        (None, None)
    """
    remaining: int | None = None
    raw = headers.get("x-ratelimit-remaining")
    if raw is not None:
        text = raw.strip()
        if text.isascii() and text.isdigit() and len(text) < 10:
            remaining = int(text)
    reset: float | None = None
    raw = headers.get("x-ratelimit-reset")
    if raw is not None and len(raw) < 32:
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            if value >= _EPOCH_THRESHOLD:
                value -= time.time() if now is None else now
            reset = round(value, 6)
    return remaining, reset


def _poll(interval: float) -> float:
    """How often a held departure looks again: a twentieth of an interval, 1 to 50 ms."""
    return min(max(interval / 20, 0.001), 0.05)


def _log_late(gate: Gate, lateness: float) -> None:
    logger.debug(
        "pacing scope %s: a departure left %.3fs after its slot; the next waits from it",
        _scope_label(gate._scope),
        lateness,
        extra={"scope": _scope_label(gate._scope), "late": lateness},
    )


_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Gate]] = (
    weakref.WeakKeyDictionary()
)


#: Schedules shared by the gates of every asyncio loop in the process, per (scope, origin).
_SHARED: dict[tuple[Hashable, Hashable], _Schedule] = {}
_SHARED_LOCK = threading.Lock()
_SHARED_MAX = 1024  # past this many, schedules unused for two windows are dropped


def gate_for(
    scope: Hashable, rate: RateLimit, *, origin: Hashable = None, claim: RateClaim | None = None
) -> Gate:
    """The process-wide gate of ``scope`` on the running event loop (created on first use).

    ``scope`` must not contain a secret in clear: callers pass a digest of the token.

    With ``origin`` (the transport passes its base URL) and a loop whose clock is asyncio's
    own ``time.monotonic()``, the gate's schedule (slots, pause, what was learned) is the
    one every loop of the process uses for that scope and origin: a program that runs
    ``asyncio.run()`` per request keeps its spacing from one run to the next. A schedule
    nobody used for two windows starts afresh (so a test's fake server on a recycled port
    never inherits another test's pause for long). Other clocks (a virtual one, uvloop's)
    keep one schedule per loop.

    ``claim`` (a client's :class:`RateClaim`): its rate counts while the client is open;
    without one, the stricter rate stays for the gate's life.
    """
    loop = asyncio.get_running_loop()
    gates = _REGISTRY.setdefault(loop, {})
    gate = gates.get(scope)
    if gate is None:
        schedule = None
        if origin is not None and type(loop).time is asyncio.BaseEventLoop.time:
            schedule = _shared_schedule((scope, origin), rate, loop.time(), claim)
        gate = gates[scope] = Gate(rate, scope, schedule=schedule)
    gate._adopt(rate, claim)
    return gate


def _shared_schedule(
    key: tuple[Hashable, Hashable], rate: RateLimit, now: float, claim: RateClaim | None = None
) -> _Schedule:
    with _SHARED_LOCK:
        schedule = _SHARED.get(key)
        if schedule is None:
            if len(_SHARED) >= _SHARED_MAX:
                for stale in [k for k, v in _SHARED.items() if not v.fresh(now)]:
                    del _SHARED[stale]
            schedule = _SHARED[key] = _Schedule(PacingPolicy.of(rate))
        with schedule.lock:
            if schedule.fresh(now):
                schedule.policy.adopt(rate, claim)
            else:
                schedule.reset(PacingPolicy.of(rate))
            schedule.used = now
        return schedule


def stricter(rate: RateLimit, than: RateLimit) -> bool:
    """Whether ``rate`` spaces requests further apart than ``than`` (its own budget, mode).

    Example:
        >>> stricter(RateLimit(requests=1, per=5.0), RateLimit(requests=1, per=1.0))
        True
    """
    return spacing(rate, rate.mode, rate.budget) > spacing(than, than.mode, than.budget)


class PrivateCap:
    """A client copy's own stricter cap: its gates, kept by the copy, never by the process.

    ``with_options(rate_limit=<stricter>)`` paces the copy (and the copies made from it)
    through the token's shared gate AND this cap's gate, so the shared gate stays at the
    cap its clients were built with and the stricter limit goes away with the copy. The
    gates live in this object (one per event loop, one schedule across asyncio loops), in
    this process only: the stricter limit only ever slows this copy down.
    """

    __slots__ = ("_gates", "_lock", "_schedule", "rate", "scope")

    def __init__(self, rate: RateLimit, scope: Hashable) -> None:
        self.rate = rate
        self.scope = (scope, f"copy-{id(self):x}")
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Gate] = (
            weakref.WeakKeyDictionary()
        )
        self._schedule: _Schedule | None = None
        self._lock = threading.Lock()

    def gate(self) -> Gate:
        """This cap's gate on the running loop."""
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            schedule = None
            if type(loop).time is asyncio.BaseEventLoop.time:
                with self._lock:
                    if self._schedule is None:
                        self._schedule = _Schedule(PacingPolicy.of(self.rate))
                    schedule = self._schedule
            gate = self._gates[loop] = Gate(self.rate, self.scope, schedule=schedule)
        return gate


class StricterGate:
    """The shared gate of a scope and a copy's private gate, passed one after the other.

    A request waits for the private slot, then for the shared one; its write is reported
    to both. What the provider says (429s, pauses, rate-limit headers) goes to the shared
    gate; ``state``, ``rate`` and ``interval`` are the private gate's (the copy's cap).
    """

    def __init__(self, private: Gate, shared: PacingGate) -> None:
        self._private = private
        self._shared = shared

    @property
    def pauses(self) -> int:
        """How often the shared scope was paused."""
        return self._shared.pauses

    @pauses.setter
    def pauses(self, value: int) -> None:
        self._shared.pauses = value

    @property
    def rate(self) -> RateLimit:
        """The copy's own cap."""
        return self._private.rate

    @property
    def interval(self) -> float:
        """The copy's spacing (never closer than the shared gate's)."""
        return max(self._private.interval, self._shared.interval)

    @property
    def state(self) -> PacingState:
        """The private gate's snapshot (the copy's cap and departures)."""
        return self._private.state

    @property
    def paused_for(self) -> float:
        """Seconds the shared scope stays paused."""
        return self._shared.paused_for

    def expected_wait(self) -> float:
        """The longer of both gates' estimated waits."""
        return max(self._private.expected_wait(), self._shared.expected_wait())

    async def wait_unpaused(self, max_wait: float | None = None) -> None:
        """Wait while the shared scope is paused."""
        await self._shared.wait_unpaused(max_wait)

    async def acquire(self, max_wait: float | None = None) -> None:
        """Admission to the private lane, then to the shared one (both or neither)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._private.acquire(max_wait)
        try:
            left = None if max_wait is None else max(max_wait - (loop.time() - start), 0.0)
            await self._shared.acquire(left)
        except BaseException:
            self._private.abandon()
            raise

    def abandon(self) -> None:
        """Give both admissions back."""
        self._private.abandon()
        self._shared.abandon()

    async def depart(self, *, stamped: bool = False) -> float:
        """The private slot, then the shared one; the private gate waits for the write."""
        await self._private.depart(stamped=True)
        try:
            at = await self._shared.depart(stamped=stamped)
        except BaseException:
            self._private.sent()
            raise
        if not stamped:
            self._private.sent(at)
        return at

    def sent(self, at: float | None = None) -> None:
        """The write, reported to both gates."""
        self._shared.sent(at)
        self._private.sent(at)

    def observe(self, rtt: float) -> None:
        """A round trip, for both gates' jitter estimates."""
        self._shared.observe(rtt)
        self._private.observe(rtt)

    def refused(self, retry_after: float | None = None) -> None:
        """A 429: the shared scope pauses and tightens."""
        self._shared.refused(retry_after)

    def hint(self, remaining: int | None, reset_after: float | None) -> None:
        """Rate-limit headers: the shared scope's."""
        self._shared.hint(remaining, reset_after)

    def pause(self, seconds: float | None) -> None:
        """Pause the shared scope."""
        self._shared.pause(seconds)


def _scope_label(scope: Hashable) -> str:
    """A log-friendly scope name (scopes hold digests of tokens, never a secret)."""
    if isinstance(scope, tuple):
        return ":".join(_scope_label(part) for part in scope)
    return str(scope)


# -- backends ----------------------------------------------------------------------------


class PacingGate(Protocol):
    """What the transport and the bulk dispatcher use of a gate (the gate contract).

    :class:`Gate` (this process) and the Redis gate implement it with the same semantics;
    tests/test_pacing_redis.py runs the contract tests against both.
    """

    pauses: int

    @property
    def rate(self) -> RateLimit:
        """The cap the gate keeps."""
        ...

    @property
    def interval(self) -> float:
        """The current spacing between departures (seconds)."""
        ...

    @property
    def state(self) -> PacingState:
        """A snapshot of what the scope has learned."""
        ...

    @property
    def paused_for(self) -> float:
        """Seconds left in the current pause."""
        ...

    def expected_wait(self) -> float:
        """Seconds a new caller would wait for its slot."""
        ...

    async def wait_unpaused(self, max_wait: float | None = None) -> None:
        """Wait while the scope is paused; takes no slot."""
        ...

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait for admission (SlotUnavailable at once past ``max_wait``)."""
        ...

    def abandon(self) -> None:
        """An admitted caller will not depart after all."""
        ...

    async def depart(self, *, stamped: bool = False) -> float:
        """Wait for this departure's slot; returns the loop time it left."""
        ...

    def sent(self, at: float | None = None) -> None:
        """The request was written at loop time ``at``."""
        ...

    def observe(self, rtt: float) -> None:
        """One round trip, for the jitter estimate."""
        ...

    def refused(self, retry_after: float | None = None) -> None:
        """A 429 on a paced request: pause and tighten."""
        ...

    def hint(self, remaining: int | None, reset_after: float | None) -> None:
        """Rate-limit headers seen on an answer."""
        ...

    def pause(self, seconds: float | None) -> None:
        """Hold every request of the scope for ``seconds``."""
        ...


@runtime_checkable
class PacingBackend(Protocol):
    """Where the pacing gates keep their schedule: one process, or Redis for many.

    Pass one to a client or a dispatcher as ``pacing=``: [LocalPacing][certmail_async.LocalPacing]
    (this process, the default) or [RedisPacing][certmail_async.RedisPacing] (every process
    and host that uses the same Redis shares each scope's schedule). Without ``pacing=``, a
    client uses ``RateLimit.backend``, else the ``CERTMAIL_PACING_URL`` environment
    variable, else this process.

    Examples:
        >>> from certmail_async import LocalPacing, PacingBackend, RedisPacing
        >>> isinstance(LocalPacing(), PacingBackend)
        True
        >>> isinstance(RedisPacing("redis://127.0.0.1:6379/0"), PacingBackend)
        True
    """

    def gate(self, scope: Hashable, rate: RateLimit) -> PacingGate:
        """The gate of ``scope`` (shared by every client of the scope), paced at ``rate``."""
        ...


class LocalPacing:
    """Pacing kept in this process: one gate per scope and event loop (the default).

    Every client of a scope in the process shares its gate; other processes do not see it,
    so N processes of one token send up to N times the cap (use
    [RedisPacing][certmail_async.RedisPacing] there). Pass ``pacing=LocalPacing()`` to keep
    one client in-process even when ``CERTMAIL_PACING_URL`` is set.

    Examples:
        >>> from certmail_async import LocalPacing, PecMassivaClient
        >>> client = PecMassivaClient(token="t", username="box@pecmassiva.com",
        ...                           password="p", pacing=LocalPacing())
        >>> client._transport.backend
        LocalPacing()
    """

    def gate(
        self,
        scope: Hashable,
        rate: RateLimit,
        *,
        origin: Hashable = None,
        claim: RateClaim | None = None,
    ) -> Gate:
        """The in-process gate of ``scope`` on the running event loop (see `gate_for`)."""
        return gate_for(scope, rate, origin=origin, claim=claim)

    def __repr__(self) -> str:
        return "LocalPacing()"


_LOCAL = LocalPacing()


def resolve_backend(pacing: object, rate: RateLimit) -> PacingBackend:
    """The backend a client paces with: ``pacing``, ``rate.backend``, the environment, local.

    Raises ValidationError (field ``pacing``, ``rate_limit.backend`` or the environment
    variable's name) for anything unusable: never a silent fallback to local pacing.
    """
    if pacing is not None:
        if not isinstance(pacing, PacingBackend):
            raise ValidationError(
                f"pacing must be a PacingBackend such as RedisPacing(url) or LocalPacing(), "
                f"got {type(pacing).__name__}",
                field="pacing",
            )
        return pacing
    url = rate.backend
    field = "rate_limit.backend"
    if url is None:
        url = os.environ.get(PACING_URL_ENV, "").strip() or None
        field = PACING_URL_ENV
    if url is None:
        return _LOCAL
    from ._pacing_redis import shared_backend

    return shared_backend(url, field=field)
