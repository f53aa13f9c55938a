"""The fake-was-the-bottleneck detection and the CLI's refusal to report such a result."""

from __future__ import annotations

import attrs
from rich.console import Console

from certmail_async.cli._loadtest import EXIT_WITHHELD, print_result
from certmail_async.loadtest import Histogram, LoadResult, detect_bottleneck

from .conftest import point


class TestDetection:
    def test_one_busy_second_is_not_a_bottleneck(self) -> None:
        """A single second at 95% (a GC pause, a burst) does not condemn the run."""
        series = [point(1, 0.2), point(2, 0.95), point(3, 0.4), point(4, 0.5)]
        found = detect_bottleneck(series)
        assert found.checked
        assert not found.fake

    def test_two_saturated_seconds_flag_the_fake_from_the_first(self) -> None:
        """Two seconds running at >= 90% flag the fake, from the first of them."""
        series = [point(1, 0.3), point(2, 0.6), point(3, 0.92), point(4, 0.99), point(5, 0.99)]
        found = detect_bottleneck(series)
        assert found.fake
        assert found.since == 3
        assert found.offered_rate == 30
        assert "fake was the bottleneck from 3 s" in found.message

    def test_without_fake_metrics_nothing_is_claimed(self) -> None:
        """A target without /_fake/metrics is not checked (and says so)."""
        found = detect_bottleneck([point(1, None), point(2, None)])
        assert not found.checked
        assert not found.fake
        assert "not checked" in found.message

    def test_saturated_generator_is_reported(self) -> None:
        """The generator's own CPU at >= 90% is flagged apart from the fake's."""
        series = [point(t, 0.2, generator=0.97) for t in (1, 2, 3)]
        found = detect_bottleneck(series)
        assert found.generator
        assert not found.fake
        assert "generator was saturated" in found.message


def _result(series: list) -> LoadResult:
    h = Histogram()
    for ms in range(1, 50):
        h.record(ms / 1000)
    return LoadResult(
        duration=5.0, offered=50, started=50, completed=50, ok=50,
        latency={"total": h.summary()}, series=tuple(series),
        bottleneck=detect_bottleneck(series),
    )  # fmt: skip


class TestWithheld:
    def test_cli_withholds_a_result_where_the_fake_was_the_bottleneck(self) -> None:
        """No latency table, the reason instead, and exit code 3."""
        result = _result([point(t, 0.97) for t in (1, 2, 3, 4, 5)])
        console = Console(record=True, width=200)
        assert not result.valid
        assert print_result(console, result) == EXIT_WITHHELD
        text = console.export_text()
        assert "RESULT WITHHELD" in text
        assert "fake was the bottleneck" in text
        assert "Latency" not in text

    def test_cli_reports_a_valid_result(self) -> None:
        """The same numbers with an idle fake are printed, exit code 0."""
        result = _result([point(t, 0.3) for t in (1, 2, 3, 4, 5)])
        console = Console(record=True, width=200)
        assert print_result(console, result) == 0
        text = console.export_text()
        assert "Latency of successful operations" in text
        assert "RESULT WITHHELD" not in text

    def test_validity_survives_the_json_file(self, tmp_path) -> None:
        """A withheld result stays invalid when read back from its file."""
        result = _result([point(t, 0.97) for t in (1, 2, 3)])
        path = tmp_path / "r.json"
        result.write_json(path)
        back = LoadResult.read_json(path)
        assert not back.valid
        assert attrs.asdict(back.bottleneck) == attrs.asdict(result.bottleneck)
