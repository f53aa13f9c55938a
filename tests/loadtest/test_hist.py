"""HDR histograms and percentile maths."""

from __future__ import annotations

import pytest

from certmail_async.loadtest import Histogram
from certmail_async.loadtest._hist import exact_percentile


class TestHistogram:
    def test_percentiles_within_three_digits(self) -> None:
        """1..10000 us uniformly: each percentile is within 0.1% of the exact rank value."""
        h = Histogram()
        for us in range(1, 10_001):
            h.record(us / 1e6)
        for p, exact_us in [(50, 5000), (90, 9000), (99, 9900), (99.9, 9990)]:
            got = h.percentile(p)
            assert got is not None
            assert abs(got * 1e6 - exact_us) <= exact_us * 0.001 + 1
        summary = h.summary()
        assert summary.count == 10_000
        assert summary.max is not None
        assert abs(summary.max - 0.01) <= 0.01 * 0.001
        assert summary.mean is not None
        assert abs(summary.mean - 0.0050005) < 1e-5

    def test_long_tail_p999_sees_the_tail(self) -> None:
        """998 fast values and two slow ones: p99 is fast, p99.9 and max are slow."""
        h = Histogram()
        for _ in range(998):
            h.record(0.001)
        h.record(2.0)
        h.record(3.0)
        assert h.percentile(99) == pytest.approx(0.001, rel=1e-3)
        assert h.percentile(99.9) == pytest.approx(2.0, rel=1e-3)
        assert h.max == pytest.approx(3.0, rel=1e-3)

    def test_empty_histogram_reports_none(self) -> None:
        """No values: count 0 and no percentile is invented."""
        h = Histogram()
        summary = h.summary()
        assert summary.count == 0
        assert (summary.p50, summary.p99, summary.max) == (None, None, None)
        assert h.encode() == ""
        assert Histogram.decode("").count == 0

    def test_add_and_roundtrip(self) -> None:
        """Two histograms add up, and the encoded form decodes to the same percentiles."""
        a, b = Histogram(), Histogram()
        for i in range(100):
            a.record(0.001 * (i + 1))
            b.record(0.1 + 0.001 * i)
        a.add(b)
        assert a.count == 200
        back = Histogram.decode(a.encode())
        assert back.summary() == a.summary()

    def test_out_of_range_values_are_clamped_and_counted(self) -> None:
        """Below 1 us counts as 1 us; beyond an hour is clamped and counted; NaN is skipped."""
        h = Histogram()
        h.record(0.0)
        h.record(7200.0)
        h.record(float("nan"))
        assert h.count == 2
        assert h.clamped == 2
        assert h.percentile(0) == pytest.approx(1e-6)
        assert h.max == pytest.approx(3600.0, rel=1e-3)

    def test_percentile_outside_range_is_refused(self) -> None:
        """A percentile above 100 is a programming error, not a silent answer."""
        with pytest.raises(ValueError, match="percentile"):
            Histogram().percentile(101)


class TestExactPercentile:
    def test_nearest_rank(self) -> None:
        """Nearest rank over raw values: p50 of 1..10 is 5, p99 is 10, empty is None."""
        values = [float(v) for v in range(10, 0, -1)]
        assert exact_percentile(values, 50) == 5.0
        assert exact_percentile(values, 99) == 10.0
        assert exact_percentile(values, 10) == 1.0
        assert exact_percentile([], 50) is None
