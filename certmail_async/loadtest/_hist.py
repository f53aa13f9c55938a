# Latency histograms
# ------------------
#
# Percentiles come from an HDR histogram (``hdrhistogram``): values are recorded in whole
# microseconds from 1 us to one hour with three significant digits, so p99.9 of a million
# samples costs a fixed few hundred KB and every reported percentile is within 0.1% of the
# exact one. Histograms add up (several runs, several workers) and travel in the JSON
# result as HDR's compressed base64 encoding, so a comparison can recompute anything.
"""HDR latency histograms and their percentile summaries."""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["PERCENTILES", "Histogram", "LatencySummary"]

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9)
"""The percentiles every summary reports (``p50``, ``p90``, ``p99``, ``p999``).

Examples:
    >>> from certmail_async.loadtest import PERCENTILES
    >>> PERCENTILES
    (50.0, 90.0, 99.0, 99.9)
"""
_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_DIGITS = 3


def _hdr() -> Any:
    try:
        from hdrh.histogram import HdrHistogram
    except ImportError as error:  # pragma: no cover - the extra is missing
        raise ImportError(
            "load testing needs hdrhistogram: pip install 'certmail-async[loadtest]'"
        ) from error
    return HdrHistogram


@attrs.frozen(kw_only=True)
class LatencySummary:
    """Count and percentiles (seconds) of one histogram; ``None`` when it is empty.

    Examples:
        >>> h = Histogram()
        >>> for ms in range(1, 101):
        ...     h.record(ms / 1000)
        >>> s = h.summary()
        >>> s.count, round(s.p50, 4), round(s.p99, 4), round(s.max, 4)
        (100, 0.05, 0.099, 0.1)
    """

    count: int
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None
    mean: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencySummary:
        """From `as_dict`."""

        def seconds(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            count=int(data.get("count") or 0),
            p50=seconds("p50"),
            p90=seconds("p90"),
            p99=seconds("p99"),
            p999=seconds("p999"),
            max=seconds("max"),
            mean=seconds("mean"),
        )


class Histogram:
    """An HDR histogram of durations in seconds (stored as microseconds).

    Values below 1 us count as 1 us; values above one hour count as one hour (and are
    counted in `clamped`).

    Examples:
        >>> h = Histogram()
        >>> h.record(0.002); h.record(0.004)
        >>> h.count, h.percentile(50), round(h.max, 4)  # within 0.1% (3 digits)
        (2, 0.002, 0.004)
        >>> Histogram.decode(h.encode()).count
        2
    """

    def __init__(self) -> None:
        self._h = _hdr()(_LOWEST_US, _HIGHEST_US, _DIGITS)
        self.clamped = 0

    def record(self, seconds: float) -> None:
        """Record one duration."""
        if not math.isfinite(seconds):
            self.clamped += 1
            return
        micros = round(seconds * 1e6)
        if micros < _LOWEST_US:
            micros = _LOWEST_US
        elif micros > _HIGHEST_US:
            micros = _HIGHEST_US
            self.clamped += 1
        self._h.record_value(micros)

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return int(self._h.get_total_count())

    @property
    def max(self) -> float | None:
        """The largest value (seconds, to the histogram's precision), or None if empty."""
        return self._h.get_max_value() / 1e6 if self.count else None

    @property
    def mean(self) -> float | None:
        """The mean (seconds), or None if empty."""
        return self._h.get_mean_value() / 1e6 if self.count else None

    def percentile(self, p: float) -> float | None:
        """The value at percentile ``p`` (0 to 100) in seconds, or None if empty."""
        if not 0 <= p <= 100:
            raise ValueError("a percentile lies from 0 to 100")
        if not self.count:
            return None
        return self._h.get_value_at_percentile(p) / 1e6  # type: ignore[no-any-return]

    def add(self, other: Histogram) -> None:
        """Add another histogram's values to this one."""
        self._h.add(other._h)
        self.clamped += other.clamped

    def summary(self) -> LatencySummary:
        """Count, p50/p90/p99/p99.9, max and mean."""
        if not self.count:
            return LatencySummary(count=0)
        p50, p90, p99, p999 = (self.percentile(p) for p in PERCENTILES)
        return LatencySummary(
            count=self.count, p50=p50, p90=p90, p99=p99, p999=p999, max=self.max, mean=self.mean
        )

    def encode(self) -> str:
        """HDR's compressed base64 form (empty string when empty)."""
        if not self.count:
            return ""
        data = self._h.encode()
        return data.decode("ascii") if isinstance(data, bytes) else str(data)

    @classmethod
    def decode(cls, text: str) -> Histogram:
        """From `encode`."""
        h = cls()
        if text:
            h._h.add(_hdr().decode(text.encode("ascii")))
        return h


def exact_percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile of raw values (for one-second intervals)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
