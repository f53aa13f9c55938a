"""Result files, the CSV time series, comparisons and the SVG chart."""

from __future__ import annotations

import csv
import json

import attrs
import pytest
from typer.testing import CliRunner

from certmail_async import ValidationError
from certmail_async.cli._app import app
from certmail_async.loadtest import (
    Histogram,
    LedgerCheck,
    LoadResult,
    compare,
    format_comparison,
    latency_chart,
    read_series,
)

from .conftest import point


def make(label: str, ms: float, ok: int, errors: dict[str, int] | None = None) -> LoadResult:
    total, server = Histogram(), Histogram()
    for i in range(100):
        total.record(ms / 1000 * (1 + i / 100))
        server.record(ms / 2000)
    return LoadResult(
        label=label, duration=10.0, offered=ok + sum((errors or {}).values()), started=ok,
        completed=ok, ok=ok, errors=errors or {},
        latency={"total": total.summary(), "server": server.summary()},
        histograms={"total": total.encode()},
        ledger=LedgerCheck(accepted_by_fake=ok, confirmed_by_client=ok, unknown=0, duplicates=0),
        series=tuple(point(t, 0.2) for t in (1, 2, 3)),
    )  # fmt: skip


class TestCompare:
    def test_ratios_are_b_over_a(self) -> None:
        """Throughput, error counts and percentiles come with B / A."""
        a, b = make("a", 2.0, 100), make("b", 4.0, 150, {"rate_limited": 5})
        rows = {r.metric: r for r in compare(a, b)}
        assert rows["achieved /s"].ratio == pytest.approx(1.5)
        assert rows["total p50"].ratio == pytest.approx(2.0, rel=0.01)
        assert rows["server p50"].ratio == pytest.approx(2.0, rel=0.01)
        assert rows["  rate_limited"].a == 0
        assert rows["  rate_limited"].b == 5
        assert rows["  rate_limited"].ratio is None  # no ratio against zero
        assert rows["gate_wait p99"].ratio is None  # neither measured it
        text = format_comparison(compare(a, b), "a", "b")
        assert "achieved /s" in text
        assert "1.50" in text

    def test_cli_compare_prints_both_and_the_ratio(self, tmp_path) -> None:
        """`certmail loadtest compare A B` prints a side-by-side table."""
        pa, pb = tmp_path / "a.json", tmp_path / "b.json"
        make("before", 2.0, 100).write_json(pa)
        make("after", 3.0, 200).write_json(pb)
        result = CliRunner().invoke(app, ["loadtest", "compare", str(pa), str(pb)])
        assert result.exit_code == 0, result.output
        assert "before" in result.output
        assert "after" in result.output
        line = next(x for x in result.output.splitlines() if "achieved /s" in x)
        assert "2.00" in line

    def test_cli_compare_refuses_a_file_that_is_not_a_result(self, tmp_path) -> None:
        """A JSON file of something else is a usage error (2), not a traceback."""
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"hello": 1}))
        good = tmp_path / "good.json"
        make("x", 1.0, 1).write_json(good)
        result = CliRunner().invoke(app, ["loadtest", "compare", str(good), str(bad)])
        assert result.exit_code == 2
        assert "not a load-test result" in " ".join(result.output.split())


class TestFiles:
    def test_json_roundtrip_keeps_everything_compared(self, tmp_path) -> None:
        """A result read back from its file compares equal to itself (ratios of 1)."""
        original = make("x", 2.0, 100, {"server_5xx": 2})
        path = tmp_path / "r.json"
        original.write_json(path)
        back = LoadResult.read_json(path)
        assert back.ok == 100
        assert back.errors == {"server_5xx": 2}
        assert back.latency["total"] == original.latency["total"]
        assert back.histogram("total").count == 100
        assert back.ledger is not None
        assert back.ledger.consistent
        for row in compare(original, back):
            assert row.ratio in (None, pytest.approx(1.0))

    def test_unreadable_file_is_a_validation_error(self, tmp_path) -> None:
        """A missing file names the path field."""
        with pytest.raises(ValidationError) as caught:
            LoadResult.read_json(tmp_path / "missing.json")
        assert caught.value.field == "path"

    def test_csv_series_and_chart(self, tmp_path) -> None:
        """The CSV reads back to the same points, and the chart is drawn from it."""
        result = make("x", 2.0, 100)
        csv_path, svg_path = tmp_path / "s.csv", tmp_path / "c.svg"
        result.write_csv(csv_path)
        series = read_series(csv_path)
        assert series == list(result.series)
        svg = latency_chart(series, svg_path, title="t <&>")
        assert svg_path.read_text() == svg
        assert svg.count("<polyline") == 4  # p50, p99, gate p99, server p99
        assert "t &lt;&amp;&gt;" in svg

    def test_csv_marks_an_interrupted_run_partial(self, tmp_path) -> None:
        """Every row of an interrupted run's CSV says partial; a whole run's says not."""
        whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
        make("x", 2.0, 100).write_csv(whole)
        attrs.evolve(make("x", 2.0, 100), partial=True).write_csv(cut)
        for path, expected in ((whole, {"false"}), (cut, {"true"})):
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            assert len(rows) == 3
            assert {row["partial"] for row in rows} == expected
        assert read_series(cut) == read_series(whole)

    def test_cli_chart_from_csv(self, tmp_path) -> None:
        """`certmail loadtest chart series.csv -o chart.svg` writes the SVG."""
        csv_path, svg_path = tmp_path / "s.csv", tmp_path / "c.svg"
        make("x", 2.0, 100).write_csv(csv_path)
        result = CliRunner().invoke(app, ["loadtest", "chart", str(csv_path), "-o", str(svg_path)])
        assert result.exit_code == 0, result.output
        assert svg_path.read_text().startswith("<svg")
