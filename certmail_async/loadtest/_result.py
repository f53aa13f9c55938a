"""The result of a load test: summaries, the time series, checks, files and comparisons."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .._exceptions import ValidationError
from ._hist import Histogram, LatencySummary

__all__ = [
    "ERROR_CLASSES",
    "Bottleneck",
    "ComparisonRow",
    "LedgerCheck",
    "LoadResult",
    "TimePoint",
    "compare",
    "detect_bottleneck",
    "read_series",
]

ERROR_CLASSES: tuple[str, ...] = (
    "rate_limited",  # the server answered 429
    "gate_refused",  # the client's pacing gate could not meet the deadline: nothing sent
    "server_5xx",
    "timeout",
    "unknown_send",  # DeliveryUnknownError: the send may or may not have happened
    "transport",  # reset, refused connection...
    "client_4xx",
    "other",
)
"""The classes ``LoadResult.errors`` counts failures by, in the order tables show them.

``rate_limited``: the server answered 429; ``gate_refused``: the client's pacing gate
could not meet the deadline (nothing sent); ``unknown_send``: a
[DeliveryUnknownError][certmail_async.DeliveryUnknownError] (the send may or may not
have happened); ``transport``: a reset or refused connection.

Examples:
    >>> from certmail_async.loadtest import ERROR_CLASSES
    >>> ERROR_CLASSES[:3]
    ('rate_limited', 'gate_refused', 'server_5xx')
"""
#: Latency kinds: total (from the scheduled arrival), the client-side wait (pacing gate,
#: 429 pauses, SDK), the server's time (request written to answer headers), and how late
#: the generator started an operation.
LATENCY_KINDS: tuple[str, ...] = ("total", "gate_wait", "server", "start_lag")
#: CPU share (of one core) above which a process counts as saturated.
SATURATED = 0.9
RESULT_VERSION = 1
#: The largest result file ``read_json`` reads (bytes).
MAX_RESULT_BYTES = 32 * 1024 * 1024


@attrs.frozen(kw_only=True)
class TimePoint:
    """One second of the run (a row of the CSV time series).

    Examples:
        >>> row = {"t": "1.0", "target_rate": "20.0", "offered": "20",
        ...        "ok": "19", "errors": "1", "server_5xx": "1", "fake_cpu": ""}
        >>> point = TimePoint.from_row(row)  # what read_series does per CSV row
        >>> point.ok, point.server_5xx, point.fake_cpu
        (19, 1, None)
    """

    t: float
    target_rate: float
    offered: int
    started: int
    completed: int
    ok: int
    errors: int
    rate_limited: int
    gate_refused: int
    server_5xx: int
    timeouts: int
    unknown_send: int
    in_flight: int
    total_p50_ms: float | None
    total_p99_ms: float | None
    gate_p99_ms: float | None
    server_p99_ms: float | None
    start_lag_p99_ms: float | None
    fake_cpu: float | None
    generator_cpu: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> TimePoint:
        """From a CSV row (empty cells are None)."""
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            raw = row.get(field.name, "")
            if raw in ("", None):
                values[field.name] = None
            elif field.type in ("int", int):
                values[field.name] = int(raw)
            else:
                values[field.name] = float(raw)
        return cls(**values)


@attrs.frozen(kw_only=True)
class LedgerCheck:
    """The client's send counts against the fake's ledger.

    ``consistent`` holds when every send the client saw succeed is in the ledger, nothing
    beyond those plus the unknown ones is, and no send was accepted twice.

    Examples:
        >>> check = LedgerCheck(accepted_by_fake=101, confirmed_by_client=100,
        ...                     unknown=1, duplicates=0)
        >>> check.lost, check.unexplained, check.consistent
        (0, 0, True)
        >>> LedgerCheck(accepted_by_fake=102, confirmed_by_client=100,
        ...             unknown=1, duplicates=0).unexplained
        1
    """

    accepted_by_fake: int
    confirmed_by_client: int
    unknown: int
    duplicates: int

    @property
    def lost(self) -> int:
        """Sends the client saw succeed that the fake does not have."""
        return max(0, self.confirmed_by_client - self.accepted_by_fake)

    @property
    def unexplained(self) -> int:
        """Sends the fake has beyond the confirmed and unknown ones."""
        return max(0, self.accepted_by_fake - self.confirmed_by_client - self.unknown)

    @property
    def consistent(self) -> bool:
        """No loss, nothing unexplained, no duplicate."""
        return self.lost == 0 and self.unexplained == 0 and self.duplicates == 0


@attrs.frozen(kw_only=True)
class Bottleneck:
    """Whether the fake (or the generator) ran out of CPU, and from when.

    Examples:
        >>> found = Bottleneck(fake=True, generator=False, since=12.0,
        ...                    offered_rate=800.0, fake_cpu=0.97)
        >>> print(found.message[:44])
        the fake was the bottleneck from 12 s (offer
    """

    fake: bool
    generator: bool
    since: float | None = None
    offered_rate: float | None = None
    fake_cpu: float | None = None
    checked: bool = True
    #: The generator fell behind its schedule (lag or its in-flight cap): no result.
    lagging: bool = False
    #: Why the fake's CPU was not checked, when it was not.
    note: str | None = None

    @property
    def message(self) -> str:
        """One line for a human."""
        if self.lagging:
            return (
                "the load generator was the bottleneck: it fell behind its arrival schedule "
                "(start lag or its in-flight cap); the numbers describe the generator, offer "
                "less load"
            )
        if not self.checked:
            return f"not checked: {self.note or 'the target has no fake metrics'}"
        if self.fake:
            return (
                f"the fake was the bottleneck from {self.since:.0f} s "
                f"(offered {self.offered_rate:.0f}/s, fake CPU {100 * (self.fake_cpu or 0):.0f}%):"
                " the numbers describe the fake, not your pipeline; run the fake with more "
                "workers (--fake-workers) or offer less load"
            )
        if self.generator:
            return "the load generator was saturated (its CPU >= 90%): latencies include its queue"
        return "neither the fake nor the generator ran out of CPU"


def detect_bottleneck(
    series: Sequence[TimePoint], *, threshold: float = SATURATED, run_of: int = 2
) -> Bottleneck:
    """Whether the fake (or the generator) ran out of CPU, and from when.

    A process is saturated when its CPU stayed at ``threshold`` of a core or above for
    ``run_of`` consecutive seconds (the fake's CPU is its busiest worker's); a run with
    fewer sampled seconds than ``run_of`` is judged on all the seconds it has.

    Examples:
        >>> quiet = dict(target_rate=1.0, offered=1, started=1, completed=1, ok=1,
        ...              errors=0, rate_limited=0, gate_refused=0, server_5xx=0,
        ...              timeouts=0, unknown_send=0, in_flight=0, total_p50_ms=1.0,
        ...              total_p99_ms=2.0, gate_p99_ms=0.0, server_p99_ms=1.0,
        ...              start_lag_p99_ms=0.1, generator_cpu=0.2)
        >>> points = [TimePoint(t=t, fake_cpu=c, **quiet) for t, c in
        ...           [(1, 0.3), (2, 0.95), (3, 0.5), (4, 0.97), (5, 0.99)]]
        >>> found = detect_bottleneck(points)
        >>> found.fake, found.since
        (True, 4)
    """
    if not any(p.fake_cpu is not None for p in series):
        generator = _first_run(series, lambda p: p.generator_cpu, threshold, run_of)
        return Bottleneck(fake=False, generator=generator is not None, checked=False)
    hit = _first_run(series, lambda p: p.fake_cpu, threshold, run_of)
    generator = _first_run(series, lambda p: p.generator_cpu, threshold, run_of)
    if hit is None:
        return Bottleneck(fake=False, generator=generator is not None)
    return Bottleneck(
        fake=True,
        generator=generator is not None,
        since=hit.t,
        offered_rate=hit.offered / 1.0,
        fake_cpu=hit.fake_cpu,
    )


def _first_run(
    series: Sequence[TimePoint], value: Any, threshold: float, run_of: int
) -> TimePoint | None:
    sampled = sum(1 for p in series if value(p) is not None)
    run_of = max(1, min(run_of, sampled))  # a short run: every second it has
    streak: list[TimePoint] = []
    for point in series:
        v = value(point)
        if v is not None and v >= threshold:
            streak.append(point)
            if len(streak) >= run_of:
                return streak[0]
        else:
            streak = []
    return None


@attrs.frozen(kw_only=True)
class LoadResult:
    """What a load test measured.

    ``valid`` is False when the fake was the bottleneck: then the numbers describe the
    fake, and the CLI prints the reason instead of them.

    Examples:
        >>> r = LoadResult.from_dict({"label": "x", "duration": 2.0, "offered": 10,
        ...                            "completed": 10, "ok": 10})
        >>> r.achieved_rate, r.valid
        (5.0, True)
    """

    label: str = ""
    provider: str = "pecmassiva"
    operations: Mapping[str, float] = attrs.field(factory=dict)
    model: Mapping[str, Any] = attrs.field(factory=dict)
    shape: str = "shared"
    pacing: bool = True
    target: str = ""
    started_at: str = ""
    duration: float = 0.0
    offered: int = 0
    started: int = 0
    completed: int = 0
    ok: int = 0
    dropped: int = 0
    cancelled: int = 0
    errors: Mapping[str, int] = attrs.field(factory=dict)
    latency: Mapping[str, LatencySummary] = attrs.field(factory=dict)
    histograms: Mapping[str, str] = attrs.field(factory=dict)
    per_operation: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    ledger: LedgerCheck | None = None
    fake: Mapping[str, Any] | None = None
    bottleneck: Bottleneck = attrs.field(factory=lambda: Bottleneck(fake=False, generator=False))
    series: Sequence[TimePoint] = attrs.field(factory=tuple)
    notes: Sequence[str] = attrs.field(factory=tuple)
    #: Seconds from the first arrival to the last completion (None: not measured).
    elapsed: float | None = None
    #: The run was interrupted (Ctrl-C): the figures cover only what ran.
    partial: bool = False

    @property
    def offered_rate(self) -> float:
        """Operations offered per second (arrivals in the open model)."""
        return self.offered / self.duration if self.duration else 0.0

    @property
    def achieved_rate(self) -> float:
        """Successful operations per second, over the time completions actually took."""
        span = self.elapsed if self.elapsed else self.duration
        return self.ok / span if span else 0.0

    @property
    def error_count(self) -> int:
        """Failed operations, every class."""
        return sum(self.errors.values())

    @property
    def valid(self) -> bool:
        """False when the fake or the generator was the bottleneck."""
        return not self.bottleneck.fake and not self.bottleneck.lagging

    def histogram(self, kind: str) -> Histogram:
        """The full HDR histogram of ``total``, ``gate_wait``, ``server`` or ``start_lag``."""
        return Histogram.decode(self.histograms.get(kind, ""))

    # -- files -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the time series included)."""
        return {
            "version": RESULT_VERSION,
            "label": self.label,
            "provider": self.provider,
            "operations": dict(self.operations),
            "model": dict(self.model),
            "shape": self.shape,
            "pacing": self.pacing,
            "target": self.target,
            "started_at": self.started_at,
            "duration": self.duration,
            "elapsed": self.elapsed,
            "partial": self.partial,
            "offered": self.offered,
            "offered_rate": self.offered_rate,
            "started": self.started,
            "completed": self.completed,
            "ok": self.ok,
            "achieved_rate": self.achieved_rate,
            "dropped": self.dropped,
            "cancelled": self.cancelled,
            "errors": dict(self.errors),
            "latency": {k: v.as_dict() for k, v in self.latency.items()},
            "histograms": dict(self.histograms),
            "per_operation": {k: _jsonable(v) for k, v in self.per_operation.items()},
            "ledger": None
            if self.ledger is None
            else {**attrs.asdict(self.ledger), "consistent": self.ledger.consistent},
            "fake": None if self.fake is None else dict(self.fake),
            "bottleneck": {**attrs.asdict(self.bottleneck), "message": self.bottleneck.message},
            "valid": self.valid,
            "series": [attrs.asdict(p) for p in self.series],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        """From `to_dict` (or a JSON result file's content).

        A ``ValidationError`` names the first field of the wrong type.
        """
        _check_fields(data)
        try:
            return cls._from_dict(data)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise ValidationError(
                f"not a load-test result: {type(error).__name__}", field="result"
            ) from None

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        ledger = data.get("ledger")
        bottleneck = dict(data.get("bottleneck") or {"fake": False, "generator": False})
        bottleneck.pop("message", None)
        per_op = {
            name: {
                **stats,
                "total": LatencySummary.from_dict(stats.get("total") or {"count": 0}),
            }
            for name, stats in (data.get("per_operation") or {}).items()
        }
        return cls(
            label=data.get("label", ""),
            provider=data.get("provider", "pecmassiva"),
            operations=data.get("operations", {}),
            model=data.get("model", {}),
            shape=data.get("shape", "shared"),
            pacing=data.get("pacing", True),
            target=data.get("target", ""),
            started_at=data.get("started_at", ""),
            duration=data.get("duration", 0.0),
            offered=data.get("offered", 0),
            started=data.get("started", 0),
            completed=data.get("completed", 0),
            ok=data.get("ok", 0),
            dropped=data.get("dropped", 0),
            cancelled=data.get("cancelled", 0),
            errors=data.get("errors", {}),
            latency={
                k: LatencySummary.from_dict(v) for k, v in (data.get("latency") or {}).items()
            },
            histograms=data.get("histograms", {}),
            per_operation=per_op,
            ledger=None
            if not ledger
            else LedgerCheck(
                accepted_by_fake=ledger["accepted_by_fake"],
                confirmed_by_client=ledger["confirmed_by_client"],
                unknown=ledger["unknown"],
                duplicates=ledger["duplicates"],
            ),
            fake=data.get("fake"),
            bottleneck=Bottleneck(**bottleneck),
            series=tuple(TimePoint(**p) for p in data.get("series", ())),
            notes=tuple(data.get("notes", ())),
            elapsed=data.get("elapsed"),
            partial=data.get("partial", False),
        )

    def write_json(self, path: str | Path) -> None:
        """Write the result file."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read_json(cls, path: str | Path) -> LoadResult:
        """Read a result file (a ``ValidationError`` naming ``path`` when it is not one)."""
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_RESULT_BYTES + 1)
            if len(raw) > MAX_RESULT_BYTES:
                raise ValidationError(
                    f"{path} is larger than {MAX_RESULT_BYTES} bytes", field="path"
                )
            data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (OSError, ValueError, RecursionError) as error:
            if isinstance(error, ValidationError):
                raise
            raise ValidationError(f"cannot read {path}: {error}", field="path") from None
        if not isinstance(data, dict) or data.get("version") != RESULT_VERSION:
            raise ValidationError(f"{path} is not a load-test result file", field="path")
        return cls.from_dict(data)

    def write_csv(self, path: str | Path) -> None:
        """Write the per-second time series.

        The last column, ``partial``, is ``true`` on every row of an interrupted run
        (Ctrl-C), so a spreadsheet or script reading the file alone can tell.
        """
        names = [f.name for f in attrs.fields(TimePoint)]
        partial = "true" if self.partial else "false"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([*names, "partial"])
            for point in self.series:
                row = attrs.asdict(point)
                cells = ["" if row[n] is None else _cell(row[n]) for n in names]
                writer.writerow([*cells, partial])

    # -- for humans --------------------------------------------------------------------

    def rows(self) -> list[tuple[str, str]]:
        """The summary as (label, value) rows."""
        out = [
            (
                "duration",
                f"{self.duration:.1f} s" + (" (interrupted: partial)" if self.partial else ""),
            ),
            ("offered", f"{self.offered} ({self.offered_rate:.1f}/s)"),
            ("achieved (ok)", f"{self.ok} ({self.achieved_rate:.1f}/s)"),
            ("errors", f"{self.error_count}"),
        ]
        out += [
            (f"  {name}", str(self.errors[name])) for name in ERROR_CLASSES if name in self.errors
        ]
        if self.elapsed:
            out.append(("first arrival to last completion", f"{self.elapsed:.2f} s"))
        if self.dropped:
            out.append(("dropped (max in flight)", str(self.dropped)))
        if self.cancelled:
            out.append(("cancelled at the end", str(self.cancelled)))
        if self.ledger is not None:
            check = self.ledger
            verdict = "consistent" if check.consistent else "INCONSISTENT"
            out.append(
                (
                    "ledger check",
                    f"{verdict}: fake accepted {check.accepted_by_fake}, client confirmed "
                    f"{check.confirmed_by_client}, unknown {check.unknown}, "
                    f"duplicates {check.duplicates}",
                )
            )
        return out


def _no_constant(name: str) -> Any:
    raise ValidationError(f"non-finite number {name} in a result file", field="result")


_INTS = ("offered", "started", "completed", "ok", "dropped", "cancelled")
_NUMBERS = ("duration",)
_STRINGS = ("label", "provider", "shape", "target", "started_at")
_MAPPINGS = ("operations", "model", "errors", "latency", "histograms", "per_operation")


def _check_fields(data: Mapping[str, Any]) -> None:
    """A ``ValidationError`` naming the first top-level field of the wrong type."""
    if not isinstance(data, Mapping):
        raise ValidationError("a result is a JSON object", field="result")
    for name in _INTS:
        v = data.get(name, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValidationError(f"expected an integer >= 0, got {v!r}", field=name)
    for name in _NUMBERS:
        v = data.get(name, 0.0)
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or not (math.isfinite(v) and v >= 0)
        ):
            raise ValidationError(f"expected a finite number >= 0, got {v!r}", field=name)
    v = data.get("elapsed")
    if v is not None and (
        isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v >= 0)
    ):
        raise ValidationError(f"expected a finite number >= 0, got {v!r}", field="elapsed")
    for name in _STRINGS:
        if not isinstance(data.get(name, ""), str):
            raise ValidationError("expected a string", field=name)
    for name in ("pacing", "partial"):
        if not isinstance(data.get(name, False), bool):
            raise ValidationError("expected true or false", field=name)
    for name in _MAPPINGS:
        if not isinstance(data.get(name) or {}, Mapping):
            raise ValidationError("expected an object", field=name)
    for name in ("errors",):
        for key, count in (data.get(name) or {}).items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValidationError(f"{key}: expected an integer >= 0", field=name)
    for name in ("series", "notes"):
        if not isinstance(data.get(name) or [], list):
            raise ValidationError("expected a list", field=name)
    for name in ("ledger", "fake", "bottleneck"):
        v = data.get(name)
        if v is not None and not isinstance(v, Mapping):
            raise ValidationError("expected an object or null", field=name)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, LatencySummary):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def read_series(path: str | Path) -> list[TimePoint]:
    """The time series from a CSV written by `LoadResult.write_csv`.

    Examples:
        >>> import csv, pathlib, tempfile
        >>> from certmail_async.loadtest import read_series
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder, "series.csv")
        ...     with path.open("w", newline="") as f:
        ...         csv.writer(f).writerows([["t", "offered", "ok"], [1.0, 20, 20]])
        ...     series = read_series(path)
        >>> [(p.t, p.offered, p.ok) for p in series]
        [(1.0, 20, 20)]
    """
    with open(path, newline="", encoding="utf-8") as f:
        return [TimePoint.from_row(row) for row in csv.DictReader(f)]


@attrs.frozen(kw_only=True)
class ComparisonRow:
    """One line of a comparison: a metric in A and B and B / A.

    Examples:
        >>> row = ComparisonRow(metric="total p99", a=40.0, b=30.0, unit="ms")
        >>> row.ratio
        0.75
        >>> ComparisonRow(metric="errors", a=0.0, b=3.0).ratio is None  # A is 0
        True
    """

    metric: str
    a: float | None
    b: float | None
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        """B / A (None when either is missing or A is 0)."""
        if self.a is None or self.b is None or self.a == 0:
            return None
        return self.b / self.a


def compare(a: LoadResult, b: LoadResult) -> list[ComparisonRow]:
    """Two results side by side: throughput, latency percentiles and errors, with B / A.

    Examples:
        >>> a = LoadResult.from_dict({"duration": 10.0, "offered": 100, "ok": 100})
        >>> b = LoadResult.from_dict({"duration": 10.0, "offered": 200, "ok": 150})
        >>> row = next(r for r in compare(a, b) if r.metric == "achieved /s")
        >>> row.a, row.b, row.ratio
        (10.0, 15.0, 1.5)
    """
    rows = [
        ComparisonRow(metric="offered /s", a=a.offered_rate, b=b.offered_rate),
        ComparisonRow(metric="achieved /s", a=a.achieved_rate, b=b.achieved_rate),
        ComparisonRow(metric="errors", a=float(a.error_count), b=float(b.error_count)),
    ]
    for name in ERROR_CLASSES:
        if name in a.errors or name in b.errors:
            rows.append(
                ComparisonRow(
                    metric=f"  {name}",
                    a=float(a.errors.get(name, 0)),
                    b=float(b.errors.get(name, 0)),
                )
            )
    for kind in ("total", "gate_wait", "server"):
        sa, sb = a.latency.get(kind), b.latency.get(kind)
        for field in ("p50", "p90", "p99", "p999", "max"):
            va = getattr(sa, field) if sa is not None else None
            vb = getattr(sb, field) if sb is not None else None
            rows.append(
                ComparisonRow(
                    metric=f"{kind} {field}",
                    a=None if va is None else va * 1e3,
                    b=None if vb is None else vb * 1e3,
                    unit="ms",
                )
            )
    return rows


def format_comparison(rows: Iterable[ComparisonRow], a_name: str, b_name: str) -> str:
    """A plain-text table of [compare][certmail_async.loadtest.compare]'s rows.

    Examples:
        >>> from certmail_async.loadtest import ComparisonRow, format_comparison
        >>> rows = [ComparisonRow(metric="achieved /s", a=10.0, b=15.0)]
        >>> print(format_comparison(rows, "before", "after"))
        metric                     before          after    B / A
        achieved /s                 10.00          15.00     1.50
    """

    def fmt(v: float | None) -> str:
        if v is None or not math.isfinite(v):
            return "-"
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"

    lines = [f"{'metric':<18} {a_name:>14} {b_name:>14} {'B / A':>8}"]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        metric = f"{row.metric} ({row.unit})" if row.unit else row.metric
        lines.append(f"{metric:<18} {fmt(row.a):>14} {fmt(row.b):>14} {ratio:>8}")
    return "\n".join(lines)
