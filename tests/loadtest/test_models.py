"""Arrival schedules, configuration checks and the refusal of non-loopback targets."""

from __future__ import annotations

import itertools

import pytest
from typer.testing import CliRunner

from certmail_async import ValidationError
from certmail_async.cli._app import app
from certmail_async.loadtest import (
    ClosedUsers,
    ConstantRate,
    LoadTest,
    RampingRate,
    check_target,
    is_loopback,
)


def arrivals_before(model: ConstantRate | RampingRate, horizon: float) -> list[float]:
    return list(itertools.takewhile(lambda t: t < horizon, model.arrivals()))


class TestSchedules:
    def test_constant_rate_is_evenly_spaced(self) -> None:
        """50/s for 2 s: 100 arrivals, 20 ms apart."""
        times = arrivals_before(ConstantRate(rate=50), 2.0)
        assert len(times) == 100
        gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
        assert gaps == {0.02}

    def test_linear_ramp_matches_the_integral(self) -> None:
        """0 -> 100/s over 10 s offers 500 arrivals, 125 of them in the first half."""
        ramp = RampingRate.linear(0, 100, over=10)
        times = arrivals_before(ramp, 10.0)
        assert len(times) in (500, 501)
        assert len([t for t in times if t < 5]) in (125, 126)
        assert times == sorted(times)

    def test_ramp_down_and_stages(self) -> None:
        """A ramp 100 -> 20 over 4 s then a flat 20/s: 240 + 20 arrivals by 5 s."""
        ramp = RampingRate(start=100, stages=((4, 20), (1, 20)))
        times = arrivals_before(ramp, 5.0)
        assert abs(len(times) - 260) <= 1
        assert ramp.rate_at(2) == pytest.approx(60)
        assert ramp.rate_at(100) == pytest.approx(20)

    def test_rate_after_the_last_stage_stays_flat(self) -> None:
        """After its stages a ramp keeps its last rate (arrivals keep coming)."""
        ramp = RampingRate.linear(10, 30, over=1)
        late = [t for t in arrivals_before(ramp, 3.0) if t >= 2]
        assert len(late) in (30, 31)

    @pytest.mark.parametrize(
        ("build", "field"),
        [
            (lambda: ConstantRate(rate=0), "rate"),
            (lambda: ConstantRate(rate=float("inf")), "rate"),
            (lambda: RampingRate(start=-1, stages=((1, 2),)), "start"),
            (lambda: RampingRate(start=1, stages=()), "stages"),
            (lambda: RampingRate(start=1, stages=((1, 0),)), "stages"),
            (lambda: ClosedUsers(users=0), "users"),
            (lambda: LoadTest(operations={"sned": 1}), "operations"),
            (lambda: LoadTest(provider="pec", operations={}), "provider"),  # type: ignore[arg-type]
            (lambda: LoadTest(duration=-1), "duration"),
            (lambda: LoadTest(count=0), "count"),
            (lambda: LoadTest(shape="bulk", operations={"send": 1, "quota": 1}), "shape"),
        ],
    )
    def test_bad_configuration_names_the_field(self, build, field: str) -> None:
        """Each bad setting is a ValidationError naming its field, before any request."""
        with pytest.raises(ValidationError) as caught:
            build()
        assert caught.value.field == field


class TestTargets:
    @pytest.mark.parametrize(
        "url",
        ["http://127.0.0.1:8400", "http://localhost:1", "http://127.9.9.9", "http://[::1]:80"],
    )
    def test_loopback_is_accepted(self, url: str) -> None:
        """This machine's addresses are fair targets."""
        assert check_target(url) == url

    @pytest.mark.parametrize(
        "url",
        [
            "https://ws.pecmassiva.com",
            "https://legallymail.com",
            "http://10.0.0.1:8400",
            "http://192.168.1.10",
            "http://127.0.0.1.nip.io",
        ],
    )
    def test_other_hosts_are_refused_without_force(self, url: str) -> None:
        """Production, private and look-alike hosts are refused unless forced."""
        with pytest.raises(ValidationError) as caught:
            check_target(url)
        assert caught.value.field == "base_url"
        assert check_target(url, force=True) == url

    @pytest.mark.parametrize(
        "url", ["ftp://user:S3cretPass@host", "https://user:S3cret#Pass@127.0.0.1", "http://h?"]
    )
    def test_a_bad_url_is_refused_without_echoing_it(self, url: str) -> None:
        """A malformed target is refused like a client's base_url: the message hides it."""
        with pytest.raises(ValidationError) as caught:
            check_target(url, force=True)
        assert caught.value.field == "base_url"
        assert "S3cret" not in str(caught.value)

    def test_load_test_refuses_before_it_starts(self) -> None:
        """LoadTest checks the target at construction: no client, no request exists yet."""
        with pytest.raises(ValidationError, match="refusing to load-test"):
            LoadTest(base_url="https://ws.pecmassiva.com")
        assert LoadTest(base_url="https://staging.example.com", force=True).force

    def test_cli_refuses_a_remote_host(self) -> None:
        """`certmail loadtest run --base-url <remote>` exits 2 and names the refusal."""
        result = CliRunner().invoke(
            app,
            ["loadtest", "run", "--base-url", "https://ws.pecmassiva.com", "--fake-credentials"],
        )
        assert result.exit_code == 2
        assert "refusing to load-test ws.pecmassiva.com" in result.output

    def test_is_loopback(self) -> None:
        """Names and addresses of this machine only."""
        assert is_loopback("LOCALHOST")
        assert not is_loopback("localhost.example.com")
        assert not is_loopback("0.0.0.0")  # noqa: S104 - an address checked, not bound
