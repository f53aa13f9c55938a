# Load models
# -----------
#
# Open model (k6's constant-arrival-rate and ramping-arrival-rate): requests arrive on a
# schedule that does not depend on how fast the server answers, so a slow server builds a
# queue instead of quietly lowering the load. Latency is measured from the *scheduled*
# arrival, not from when the generator got round to it (no coordinated omission).
#
# A ramp is piecewise linear in the arrival rate r(t). The number of arrivals by time t is
# the integral N(t); the i-th arrival (i = 0, 1, ...) is at the t where N(t) = i. Within a
# segment that starts at rate a and changes by slope s per second, N grows by
# a*u + s*u^2/2 after u seconds, and u = 2k / (a + sqrt(a^2 + 2 s k)) for k more arrivals
# (the stable form of the quadratic's root, which holds for ramps down too).
#
# Closed model (locust's users): N users each run one operation after another, so the
# offered load falls when the server slows down. Useful for "N workers of my queue".
"""Arrival schedules, load-test configuration and the target safety check."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from .._exceptions import ValidationError

__all__ = [
    "OPERATIONS",
    "ClosedUsers",
    "ConstantRate",
    "FakeTarget",
    "LoadModel",
    "MAX_RATE",
    "LoadTest",
    "RampingRate",
    "Shape",
    "check_target",
    "is_loopback",
]

Shape = Literal["shared", "webapp", "bulk"]
Provider = Literal["pecmassiva", "legallymail", "openapi_pec"]

OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "pecmassiva": ("send", "receipts", "inbox", "quota"),
    "legallymail": ("send", "list", "retrieve", "info"),
    "openapi_pec": ("domain_check", "availability", "list"),
}
"""The built-in operations of each provider (``LoadTest.operations`` weights pick among them).

Examples:
    >>> from certmail_async.loadtest import OPERATIONS, ConstantRate, LoadTest
    >>> OPERATIONS["legallymail"]
    ('send', 'list', 'retrieve', 'info')
    >>> test = LoadTest(provider="legallymail", operations={"send": 1, "info": 3},
    ...                 load=ConstantRate(rate=5), duration=10)
"""
MAX_RATE = 50_000.0
"""The highest arrival rate (per second) one generator process is allowed to offer.

One event loop cannot start more operations than this; above it the schedule would only
measure the generator's own queue. Run several generators for more.

Examples:
    >>> from certmail_async.loadtest import MAX_RATE
    >>> MAX_RATE
    50000.0
"""
#: Operations that send a message (checked against the fake's ledger).
SENDS = frozenset({"send"})


def _positive(name: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, _attr: attrs.Attribute[Any], value: Any) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (value > 0 and math.isfinite(value))
        ):
            raise ValidationError(f"expected a positive number, got {value!r}", field=name)
        if value > MAX_RATE:
            raise ValidationError(
                f"{value!r}/s is above {MAX_RATE:,.0f}/s, the most one generator process can drive",
                field=name,
            )

    return check


@attrs.frozen(kw_only=True)
class ConstantRate:
    """Open model: ``rate`` arrivals per second, whatever the server does.

    Examples:
        >>> from itertools import islice
        >>> list(islice(ConstantRate(rate=4).arrivals(), 3))
        [0.0, 0.25, 0.5]
    """

    rate: float = attrs.field(validator=_positive("rate"))

    def rate_at(self, t: float) -> float:
        """Arrivals per second offered at ``t`` seconds into the run."""
        return self.rate

    def arrivals(self) -> Iterator[float]:
        """Arrival times in seconds from the start (endless)."""
        i = 0
        while True:
            yield i / self.rate
            i += 1


def _stages(value: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    try:
        return tuple((float(seconds), float(rate)) for seconds, rate in value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"stages are (seconds, rate) pairs, got {value!r}", field="stages"
        ) from None


@attrs.frozen(kw_only=True)
class RampingRate:
    """Open model: the arrival rate moves linearly through ``stages``.

    ``stages`` are ``(seconds, target rate)`` pairs, starting from ``start``; after the
    last stage the rate stays at its target. `linear` ramps from one rate to another.

    Examples:
        >>> ramp = RampingRate.linear(0, 10, over=10)
        >>> ramp.rate_at(5)
        5.0
        >>> from itertools import islice
        >>> [round(t, 3) for t in islice(ramp.arrivals(), 4)]  # N(t) = t^2 / 2
        [0.0, 1.414, 2.0, 2.449]
    """

    start: float = attrs.field()
    stages: tuple[tuple[float, float], ...] = attrs.field(converter=_stages)

    @start.validator
    def _check_start(self, _a: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValidationError(f"expected a rate >= 0, got {value!r}", field="start")
        if value > MAX_RATE:
            raise ValidationError(
                f"{value!r}/s is above {MAX_RATE:,.0f}/s, the most one generator process can drive",
                field="start",
            )

    @stages.validator
    def _check_stages(self, _a: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        if not value:
            raise ValidationError("a ramp needs at least one stage", field="stages")
        for seconds, target in value:
            if not (seconds > 0 and math.isfinite(seconds)) or not target >= 0:
                raise ValidationError(
                    f"a stage is (seconds > 0, rate >= 0), got {(seconds, target)!r}",
                    field="stages",
                )
            if target > MAX_RATE:
                raise ValidationError(
                    f"{target!r}/s is above {MAX_RATE:,.0f}/s, the most one generator "
                    "process can drive",
                    field="stages",
                )
        if value[-1][1] <= 0:
            raise ValidationError("the last stage must end above 0/s", field="stages")

    @classmethod
    def linear(cls, start: float, end: float, *, over: float) -> RampingRate:
        """From ``start`` to ``end`` arrivals per second over ``over`` seconds."""
        return cls(start=start, stages=((over, end),))

    def _segments(self) -> Iterator[tuple[float, float, float]]:
        """(segment start time, start rate, slope); the last one endless, flat."""
        t, rate = 0.0, float(self.start)
        for seconds, target in self.stages:
            yield t, rate, (target - rate) / seconds
            t, rate = t + seconds, float(target)
        yield t, rate, 0.0

    def rate_at(self, t: float) -> float:
        """Arrivals per second offered at ``t`` seconds into the run."""
        current = float(self.start)
        for begin, rate, slope in self._segments():
            if t >= begin:
                current = rate + slope * (t - begin)
        return current

    def arrivals(self) -> Iterator[float]:
        """Arrival times in seconds from the start (endless)."""
        segments = list(self._segments())
        done = 0.0  # arrivals (fractional) before the current segment
        i = 0
        for index, (begin, rate, slope) in enumerate(segments):
            last = index == len(segments) - 1
            length = math.inf if last else segments[index + 1][0] - begin
            inside = math.inf if last else rate * length + slope * length**2 / 2
            while i - done <= inside or last:
                k = i - done
                if slope == 0:
                    if rate == 0:
                        break
                    u = k / rate
                else:
                    root = rate * rate + 2 * slope * k
                    if root < 0:
                        break
                    denominator = rate + math.sqrt(root)
                    u = 0.0 if k == 0 else 2 * k / denominator if denominator > 0 else math.inf
                if u > length:
                    break
                yield begin + u
                i += 1
            done += inside


@attrs.frozen(kw_only=True)
class ClosedUsers:
    """Closed model: ``users`` concurrent users, each running one operation after another.

    Examples:
        >>> ClosedUsers(users=8).users
        8
    """

    users: int = attrs.field()
    think_time: float = 0.0

    @users.validator
    def _check_users(self, _a: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
            raise ValidationError(f"expected 1 to 100000 users, got {value!r}", field="users")


LoadModel = ConstantRate | RampingRate | ClosedUsers
"""How load arrives: an open model (a constant or ramping rate) or a closed one (N users).

Examples:
    >>> from certmail_async.loadtest import (ClosedUsers, ConstantRate, LoadModel,
    ...                                      RampingRate)
    >>> models: list[LoadModel] = [ConstantRate(rate=50),
    ...                            RampingRate.linear(10, 200, over=60),
    ...                            ClosedUsers(users=8)]
    >>> [type(m).__name__ for m in models]
    ['ConstantRate', 'RampingRate', 'ClosedUsers']
"""


@attrs.frozen(kw_only=True)
class FakeTarget:
    """The embedded fake a load test starts when it has no ``base_url``.

    It runs in ``workers`` separate processes (so it does not share the generator's CPU),
    with the provider's cap on or off (scaled by ``time_scale``), a server ``latency``
    (``"fixed:5ms"``, ``"uniform:1ms:20ms"``, ``"longtail:5ms:200ms"``) and random
    ``faults`` (``{"500": 0.01, "lost": 0.001}``).

    Examples:
        >>> FakeTarget(workers=2, cap=False).workers
        2
    """

    workers: int = 1
    cap: bool = False
    time_scale: float = 1.0
    latency: str | None = None
    faults: Mapping[str, float] = attrs.field(factory=dict)
    ledger_keep: int = 10_000
    inbox_limit: int = 50_000


Operation = Callable[[Any], Awaitable[Any]]


@attrs.frozen(kw_only=True)
class LoadTest:
    """One load test: what to call, how hard, for how long, against what.

    * ``provider`` and ``operations``: built-in operation names with weights
      (``{"send": 1, "receipts": 3}``), or your own ``custom`` coroutine function taking a
      [OpContext][certmail_async.loadtest.OpContext] (its ``session`` is measured).
    * ``load``: [ConstantRate][certmail_async.loadtest.ConstantRate],
      [RampingRate][certmail_async.loadtest.RampingRate] or
      [ClosedUsers][certmail_async.loadtest.ClosedUsers].
    * ``duration`` seconds and/or ``count`` operations (the first reached ends the run).
    * ``pacing``: the clients keep the provider's documented cap (scaled by
      ``time_scale``); off, they send as fast as the load asks.
    * ``shape``: ``shared`` (one client), ``webapp`` (a new client per operation, as a web
      app creating one per request) or ``bulk`` (one ``BulkDispatcher``, sends only).
    * ``base_url``: None starts the embedded ``fake``; any other host must be loopback
      unless ``force=True``.

    Examples:
        >>> test = LoadTest(load=ConstantRate(rate=50), duration=5)
        >>> test.provider, test.operations
        ('pecmassiva', {'send': 1.0})
    """

    provider: Provider = "pecmassiva"
    operations: Mapping[str, float] = attrs.field(factory=lambda: {"send": 1.0})
    custom: Operation | None = None
    load: LoadModel = attrs.field(factory=lambda: ConstantRate(rate=10))
    duration: float | None = None
    count: int | None = None
    pacing: bool = True
    time_scale: float = 1.0
    shape: Shape = "shared"
    base_url: str | None = None
    force: bool = False
    credentials: Mapping[str, str] | None = None
    fake: FakeTarget = attrs.field(factory=FakeTarget)
    timeout: float = 10.0
    max_in_flight: int = 10_000
    connections: int = 256
    seeds: int = 3
    label: str = ""

    def __attrs_post_init__(self) -> None:
        if self.provider not in OPERATIONS:
            raise ValidationError(
                f"unknown provider {self.provider!r}; known: {', '.join(OPERATIONS)}",
                field="provider",
            )
        if self.custom is None:
            if not self.operations:
                raise ValidationError("name at least one operation", field="operations")
            for name, weight in self.operations.items():
                if name not in OPERATIONS[self.provider]:
                    known = ", ".join(OPERATIONS[self.provider])
                    raise ValidationError(
                        f"{self.provider} has no operation {name!r}; known: {known}",
                        field="operations",
                    )
                if not (isinstance(weight, int | float) and weight > 0):
                    raise ValidationError(
                        f"weight of {name!r} must be > 0, got {weight!r}", field="operations"
                    )
        if self.shape == "bulk" and (self.custom is not None or set(self.operations) != {"send"}):
            raise ValidationError("the bulk shape only sends", field="shape")
        if self.shape == "bulk" and self.provider == "openapi_pec":
            raise ValidationError("the bulk shape sends PEC Massiva or LegallyMail", field="shape")
        if self.shape not in ("shared", "webapp", "bulk"):
            raise ValidationError(f"unknown shape {self.shape!r}", field="shape")
        for name in ("duration", "timeout", "time_scale"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and value > 0 and math.isfinite(value)
            ):
                raise ValidationError(f"expected positive seconds, got {value!r}", field=name)
        for name in ("count", "max_in_flight", "connections"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValidationError(f"expected an integer >= 1, got {value!r}", field=name)
        if self.base_url is not None:
            check_target(self.base_url, force=self.force)
        if self.base_url is None and self.fake.cap and self.fake.workers > 1:
            raise ValidationError(
                "a fake's cap is counted per process: use one worker with the cap on, or "
                "turn the cap off to use several",
                field="fake.workers",
            )

    @property
    def stop_after(self) -> float:
        """The run's duration limit (10 s when neither duration nor count is given)."""
        if self.duration is not None:
            return float(self.duration)
        return math.inf if self.count is not None else 10.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: exactly ``localhost``, 127.0.0.0/8 or ::1.

    Only the name ``localhost`` (or ``localhost.``) counts, not ``*.localhost``: such a
    name may resolve anywhere.

    Examples:
        >>> is_loopback("127.0.0.5"), is_loopback("localhost"), is_loopback("10.0.0.1")
        (True, True, False)
    """
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(base_url: str, *, force: bool = False) -> str:
    """``base_url`` if a load test may hit it: loopback, or any host when ``force``.

    A load test against someone else's server is an attack on it; against a provider's
    production host it costs money and may send real certified mail. So anything but this
    machine needs an explicit ``force`` (for a staging host you own).

    Examples:
        >>> check_target("http://127.0.0.1:8400")
        'http://127.0.0.1:8400'
        >>> try:
        ...     check_target("https://ws.pecmassiva.com")
        ... except ValidationError as error:
        ...     print(error.field, "refusing" in str(error))
        base_url True
    """
    from .._transport import check_base_url  # the clients' rules; never echoes the URL

    check_base_url(base_url)
    parts = urlsplit(base_url)
    if not parts.hostname:  # pragma: no cover - check_base_url requires a host
        raise ValidationError("expected an http(s) URL with a host", field="base_url")
    if not force and not is_loopback(parts.hostname):
        raise ValidationError(
            f"refusing to load-test {parts.hostname}, which is not this machine; pass "
            "force=True (--force) only for a staging host you own",
            field="base_url",
        )
    return base_url
