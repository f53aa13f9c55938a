"""Helpers for the load-test tests."""

from __future__ import annotations

from typing import Any

from certmail_async.loadtest import TimePoint

QUIET: dict[str, Any] = dict(
    target_rate=10.0, started=10, completed=10, ok=10, errors=0, rate_limited=0,
    gate_refused=0, server_5xx=0, timeouts=0, unknown_send=0, in_flight=0,
    total_p50_ms=2.0, total_p99_ms=5.0, gate_p99_ms=0.5, server_p99_ms=3.0,
    start_lag_p99_ms=0.2,
)  # fmt: skip


def point(t: float, fake: float | None, generator: float | None = 0.3, **kw: Any) -> TimePoint:
    """One second of a synthetic run."""
    values = {**QUIET, "offered": 10 * int(t), **kw}
    return TimePoint(t=t, fake_cpu=fake, generator_cpu=generator, **values)
