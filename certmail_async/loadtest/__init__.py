"""Load-test your pipeline against the fakes (or a staging host): ``certmail loadtest``.

Open model (constant or ramping arrival rate) or closed model (N users), for a duration or
a count; pacing on or off; HDR latency percentiles for the total, the client-side gate
wait and the server's time; errors by class; a duplicate check against the fake's ledger;
a JSON result, a CSV time series, comparisons and an SVG chart. Needs the ``loadtest``
extra (``pip install 'certmail-async[loadtest]'``).

Examples:
    >>> import asyncio
    >>> from certmail_async.loadtest import LoadTest, RampingRate, run
    >>> test = LoadTest(provider="pecmassiva", operations={"send": 1},
    ...                 load=RampingRate.linear(10, 200, over=30), duration=30,
    ...                 pacing=False)
    >>> async def main() -> float | None:  # 30 s against the embedded fake
    ...     result = await run(test)
    ...     return result.latency["total"].p99 if result.valid else None
"""

from ._hist import PERCENTILES, Histogram, LatencySummary
from ._models import (
    MAX_RATE,
    OPERATIONS,
    ClosedUsers,
    ConstantRate,
    FakeTarget,
    LoadModel,
    LoadTest,
    RampingRate,
    check_target,
    is_loopback,
)
from ._result import (
    ERROR_CLASSES,
    Bottleneck,
    ComparisonRow,
    LedgerCheck,
    LoadResult,
    TimePoint,
    compare,
    detect_bottleneck,
    format_comparison,
    read_series,
)
from ._runner import OpContext, run, trace_config
from ._svg import latency_chart

__all__ = [
    "ERROR_CLASSES",
    "MAX_RATE",
    "OPERATIONS",
    "PERCENTILES",
    "Bottleneck",
    "ClosedUsers",
    "ComparisonRow",
    "ConstantRate",
    "FakeTarget",
    "Histogram",
    "LatencySummary",
    "LedgerCheck",
    "LoadModel",
    "LoadResult",
    "LoadTest",
    "OpContext",
    "RampingRate",
    "TimePoint",
    "check_target",
    "compare",
    "detect_bottleneck",
    "format_comparison",
    "is_loopback",
    "latency_chart",
    "read_series",
    "run",
    "trace_config",
]
