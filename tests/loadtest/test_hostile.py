"""Hostile input to the load tester: absurd rates, bad files, bad paths, Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmail_async import ValidationError
from certmail_async.cli._app import app
from certmail_async.loadtest import (
    MAX_RATE,
    Bottleneck,
    ConstantRate,
    LoadResult,
    LoadTest,
    OpContext,
    RampingRate,
    detect_bottleneck,
    is_loopback,
    run,
)
from certmail_async.testing import run_fake

from .conftest import point


class TestRateBound:
    def test_rates_above_the_maximum_are_refused(self) -> None:
        """A constant rate or a ramp stage above MAX_RATE is a ValidationError naming it."""
        with pytest.raises(ValidationError) as caught:
            ConstantRate(rate=1e12)
        assert caught.value.field == "rate"
        with pytest.raises(ValidationError) as caught:
            RampingRate(start=0, stages=((1.0, 1e12),))
        assert caught.value.field == "stages"
        assert ConstantRate(rate=MAX_RATE).rate == MAX_RATE

    @pytest.mark.parametrize("flag", [["--rate", "1e12"], ["--stages", "1s:1e12"]])
    def test_cli_refuses_an_absurd_rate_before_running(self, flag: list[str]) -> None:
        """`loadtest run --rate 1e12` (or --stages 1s:1e12) exits 2 naming the rate."""
        result = CliRunner().invoke(
            app, ["loadtest", "run", "--no-live", "--duration", "300ms", "--op", "quota", *flag]
        )
        assert result.exit_code == 2, result.output
        assert "50,000" in result.output

    async def test_in_flight_is_bounded_and_the_generator_is_blamed(self) -> None:
        """Past max_in_flight arrivals are dropped (not queued) and the generator is blamed."""
        release = asyncio.Event()
        peak = 0

        async def hang(ctx: OpContext) -> None:
            nonlocal peak
            peak = max(peak, ctx.seq + 1)
            await asyncio.wait_for(release.wait(), 0.2)

        async with run_fake("pecmassiva", send_rate=None) as fake:
            result = await run(
                LoadTest(base_url=fake.url, custom=hang, load=ConstantRate(rate=2000),
                         count=200, max_in_flight=5, timeout=1)
            )  # fmt: skip
        assert result.started == 5
        assert result.dropped == 195
        assert result.bottleneck.lagging
        assert not result.valid
        assert "generator was the bottleneck" in result.bottleneck.message


class TestAchievedRate:
    def test_achieved_rate_is_over_first_arrival_to_last_completion(self) -> None:
        """3000 ok in a 0.3 s run whose completions took 6 s is 500/s, not 10000/s."""
        result = LoadResult.from_dict({"duration": 0.3, "elapsed": 6.0, "offered": 3000,
                                       "completed": 3000, "ok": 3000})  # fmt: skip
        assert result.achieved_rate == pytest.approx(500.0)

    async def test_a_run_measures_its_elapsed_time(self) -> None:
        """Calls outlasting the nominal duration stretch `elapsed`; the rate is over it."""

        async def slow(ctx: OpContext) -> None:
            await asyncio.sleep(0.3)

        async with run_fake("pecmassiva", send_rate=None) as fake:
            result = await run(
                LoadTest(base_url=fake.url, custom=slow, load=ConstantRate(rate=100),
                         duration=0.05, timeout=2)
            )  # fmt: skip
        assert result.ok >= 1
        assert result.elapsed is not None
        assert result.elapsed >= 0.3
        assert result.achieved_rate == pytest.approx(result.ok / result.elapsed)

    def test_a_run_shorter_than_two_seconds_can_be_flagged(self) -> None:
        """One saturated second is enough when the run has only one."""
        found = detect_bottleneck([point(1, 0.97, generator=0.95)])
        assert found.fake
        assert found.generator


class TestInterrupt:
    async def test_interrupt_stops_the_run_with_a_partial_result(self) -> None:
        """Setting `interrupt` stops offering load; the result is marked partial."""
        interrupt = asyncio.Event()

        async def op(ctx: OpContext) -> None:
            if ctx.seq >= 4:
                interrupt.set()

        async with run_fake("pecmassiva", send_rate=None) as fake:
            result = await run(
                LoadTest(base_url=fake.url, custom=op, load=ConstantRate(rate=200), duration=30),
                interrupt=interrupt,
            )
        assert result.partial
        assert result.offered < 100
        assert result.to_dict()["partial"] is True
        assert any("interrupted" in n for n in result.notes)

    def test_ctrl_c_writes_a_partial_result_and_exits_130(self, tmp_path: Path) -> None:
        """SIGINT to `loadtest run` writes the JSON marked partial and exits 130."""
        out = tmp_path / "r.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "certmail_async", "loadtest", "run", "--no-live",
             "--time-scale", "0.01", "--rate", "20", "--duration", "60s", "--op", "quota",
             "--json", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # the first per-second line: the run is under way
                if line.lstrip().startswith("t="):
                    break
            proc.send_signal(signal.SIGINT)
            rest, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130, rest
        assert "partial" in rest
        assert json.loads(out.read_text())["partial"] is True


class TestOutputs:
    @pytest.mark.parametrize("flag", ["--json", "--csv", "--chart"])
    def test_a_bad_output_path_is_refused_before_the_run(self, tmp_path: Path, flag: str) -> None:
        """A directory, or a file in a missing directory, is a usage error (rc 2)."""
        for bad in (tmp_path, tmp_path / "missing" / "out"):
            result = CliRunner().invoke(
                app, ["loadtest", "run", "--no-live", "--rate", "1", "--count", "1", flag,
                      str(bad)],
            )  # fmt: skip
            assert result.exit_code == 2, result.output
            assert flag in result.output


class TestResultFiles:
    def _good(self, tmp_path: Path) -> dict:
        path = tmp_path / "good.json"
        LoadResult(duration=1.0, offered=3, completed=3, ok=3).write_json(path)
        return json.loads(path.read_text())

    @pytest.mark.parametrize(
        ("field", "value"),
        [("offered", "lots"), ("duration", [1]), ("errors", {"timeout": "x"}), ("pacing", 3)],
    )
    def test_a_wrongly_typed_field_is_named(
        self, tmp_path: Path, field: str, value: object
    ) -> None:
        """A field of the wrong type is a ValidationError naming it, not a TypeError."""
        data = self._good(tmp_path)
        data[field] = value
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ValidationError) as caught:
            LoadResult.read_json(path)
        assert caught.value.field == field

    def test_non_finite_numbers_are_refused(self, tmp_path: Path) -> None:
        """NaN or Infinity in a result file is refused."""
        path = tmp_path / "nan.json"
        path.write_text(
            json.dumps(self._good(tmp_path)).replace('"duration": 1.0', '"duration": NaN')
        )
        with pytest.raises(ValidationError):
            LoadResult.read_json(path)

    def test_cli_compare_names_the_field_and_reading_is_bounded(self, tmp_path: Path) -> None:
        """`compare good.json bad.json` and `compare good.json /dev/zero` exit 2."""
        data = self._good(tmp_path)
        good = tmp_path / "good.json"
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**data, "offered": "lots"}))
        result = CliRunner().invoke(app, ["loadtest", "compare", str(good), str(bad)])
        assert result.exit_code == 2, result.output
        assert "offered" in result.output
        result = CliRunner().invoke(app, ["loadtest", "compare", str(good), "/dev/zero"])
        assert result.exit_code == 2, result.output
        assert "larger than" in result.output


class TestTargets:
    def test_only_the_exact_name_localhost_is_loopback(self) -> None:
        """`evil.localhost` needs --force; `localhost`, `localhost.` and 127.x do not."""
        assert not is_loopback("evil.localhost")
        assert is_loopback("localhost")
        assert is_loopback("localhost.")
        assert is_loopback("[::1]")
        with pytest.raises(ValidationError):
            LoadTest(base_url="http://evil.localhost/")


class TestShortRun:
    def test_the_message_does_not_deny_the_fake_its_metrics(self) -> None:
        """A fake with metrics but no CPU sample says the run was too short."""
        found = Bottleneck(fake=False, generator=False, checked=False, note="the run was too short")
        assert "no fake metrics" not in found.message
        assert "too short" in found.message

    async def test_a_short_run_against_a_fake_with_metrics(self) -> None:
        """A sub-second run against the fake says it was too short, not "no fake metrics"."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            result = await run(
                LoadTest(base_url=fake.url, operations={"quota": 1}, load=ConstantRate(rate=50),
                         count=5, pacing=False)
            )  # fmt: skip
        if result.fake is None:
            pytest.skip("this fake serves no metrics")
        assert "no fake metrics" not in result.bottleneck.message
