"""``certmail loadtest``: run, compare and chart load tests; the fake server's load options."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .._exceptions import ValidationError

__all__ = ["loadtest_app", "serve_fake"]

EXIT_WITHHELD = 3  # the fake was the bottleneck: no result
EXIT_LEDGER = 4  # the fake's ledger disagrees with the client's counts (loss or duplicate)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C: a partial result was written and printed

loadtest_app = typer.Typer(
    help="Load-test a pipeline against the fakes (or a staging host you own).",
    no_args_is_help=True,
)

ENV = {
    "pecmassiva": (
        "CERTMAIL_PECMASSIVA_TOKEN",
        "CERTMAIL_PECMASSIVA_USERNAME",
        "CERTMAIL_PECMASSIVA_PASSWORD",
    ),
    "legallymail": ("CERTMAIL_LEGALLYMAIL_TOKEN",),
    "openapi_pec": ("CERTMAIL_OPENAPI_TOKEN",),
}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:,.2f}"


def _parse_ops(ops: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in ops or ["send"]:
        name, _, weight = item.partition("=")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise typer.BadParameter(f"{item!r}: NAME or NAME=WEIGHT", param_hint="--op") from None
    return out


def _parse_model(
    rate: float | None, ramp: str | None, stages: str | None, users: int | None, duration: float
) -> Any:
    from ..loadtest import ClosedUsers, ConstantRate, RampingRate
    from ..testing._load import parse_duration

    given = [x for x in (rate, ramp, stages, users) if x is not None]
    if len(given) > 1:
        raise typer.BadParameter("pick one of --rate, --ramp, --stages and --users")
    if users is not None:
        return ClosedUsers(users=users)
    if ramp is not None:
        start, _sep, end = ramp.partition(":")
        try:
            return RampingRate.linear(float(start), float(end), over=duration)
        except ValueError:
            raise typer.BadParameter("START:END, e.g. 10:500", param_hint="--ramp") from None
    if stages is not None:
        pairs = []
        try:
            for stage in stages.split(","):
                seconds, _, target = stage.partition(":")
                pairs.append((parse_duration(seconds), float(target)))
        except ValueError:
            raise typer.BadParameter(
                "SECONDS:RATE,... e.g. 10s:50,30s:200", param_hint="--stages"
            ) from None
        return RampingRate(start=0, stages=tuple(pairs))
    return ConstantRate(rate=rate if rate is not None else 10.0)


def _credentials(provider: str, base_url: str | None, fake_credentials: bool) -> Any:
    if base_url is None or fake_credentials:
        return None
    names = ENV[provider]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise typer.BadParameter(f"set {', '.join(missing)} (or pass --fake-credentials)")
    keys = ("token", "username", "password")[: len(names)]
    return dict(zip(keys, (os.environ[n] for n in names), strict=True))


def _check_outputs(outputs: dict[str, Path | None]) -> None:
    """Refuse an output path that cannot be written, before the run (not after it)."""
    for flag, path in outputs.items():
        if path is None:
            continue
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a directory", param_hint=flag)
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise typer.BadParameter(f"{parent} is not an existing directory", param_hint=flag)


async def _run_interruptible(test: Any, on_tick: Any) -> Any:
    """Run ``test``; Ctrl-C stops offering load and returns the partial result."""
    import signal

    from ..loadtest import run

    interrupt = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupt.set)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
        installed = False
    try:
        return await run(test, on_tick=on_tick, interrupt=interrupt)
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


def _live_table(point: Any, totals: dict[str, Any]) -> Table:
    table = Table(title="certmail loadtest (live, last second)", show_header=True)
    for col in ("t", "target/s", "offered", "ok", "errors", "in flight", "p50 ms", "p99 ms",
                "fake CPU", "gen CPU"):  # fmt: skip
        table.add_column(col, justify="right")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f}%"

    table.add_row(
        f"{point.t:.0f}s", f"{point.target_rate:,.0f}", str(point.offered), str(point.ok),
        str(point.errors), str(point.in_flight),
        "-" if point.total_p50_ms is None else f"{point.total_p50_ms:,.1f}",
        "-" if point.total_p99_ms is None else f"{point.total_p99_ms:,.1f}",
        pct(point.fake_cpu), pct(point.generator_cpu),
    )  # fmt: skip
    table.caption = (
        f"total: offered {totals['offered']}, ok {totals['ok']}, "
        f"errors {sum(totals['errors'].values())}, dropped {totals['dropped']}"
    )
    return table


def print_result(console: Console, result: Any) -> int:
    """The result tables (or the reason there is no result); returns the exit code."""
    from ..loadtest import ERROR_CLASSES

    console.print(
        f"[bold]{result.provider}[/] {', '.join(result.operations)} · {result.model.get('kind')}"
        f" · shape {result.shape} · pacing {'on' if result.pacing else 'off'} · {result.target}"
    )
    if not result.valid:
        console.print(f"[red bold]RESULT WITHHELD:[/] {result.bottleneck.message}")
        return EXIT_WITHHELD
    summary = Table(title="Result", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("")
    for label, value in result.rows():
        summary.add_row(label, value)
    console.print(summary)
    latency = Table(title="Latency of successful operations (ms, HDR)")
    for col in ("", "count", "p50", "p90", "p99", "p99.9", "max"):
        latency.add_column(col, justify="right" if col else "left")
    names = {
        "total": "total",
        "gate_wait": "gate wait (client)",
        "server": "server",
        "start_lag": "generator lag",
    }
    for kind, label in names.items():
        s = result.latency.get(kind)
        if s is None:
            continue
        latency.add_row(
            label, str(s.count), _ms(s.p50), _ms(s.p90), _ms(s.p99), _ms(s.p999), _ms(s.max)
        )
    console.print(latency)
    if len(result.per_operation) > 1:
        ops = Table(title="By operation")
        for col in ("operation", "count", "ok", "errors", "p50 ms", "p99 ms"):
            ops.add_column(col, justify="right" if col != "operation" else "left")
        for name, stats in result.per_operation.items():
            errors = ", ".join(f"{k} {v}" for k, v in stats["errors"].items()) or "0"
            total = stats["total"]
            ops.add_row(
                name, str(stats["count"]), str(stats["ok"]), errors, _ms(total.p50),
                _ms(total.p99),
            )  # fmt: skip
        console.print(ops)
    _ = ERROR_CLASSES
    if result.fake is not None:
        fake = result.fake
        rss = ", ".join(f"{kib / 1024:.0f}" for kib in fake.get("rss_kib", ()))
        console.print(
            f"fake: {fake['requests']} requests, {fake['rate_limited']} answered 429, "
            f"{fake['workers']} worker(s), RSS {rss} MiB"
        )
    console.print(f"bottleneck check: {result.bottleneck.message}")
    for note in result.notes:
        console.print(f"note: {note}")
    if result.ledger is not None and not result.ledger.consistent:
        console.print("[red bold]the fake's ledger disagrees with the client's counts[/]")
        return EXIT_LEDGER
    return 0


@loadtest_app.command("run")
def run_command(
    provider: Annotated[
        str, typer.Option(help="pecmassiva, legallymail or openapi_pec.")
    ] = "pecmassiva",
    op: Annotated[
        list[str] | None,
        typer.Option(
            "--op",
            help="Operation NAME or NAME=WEIGHT, repeatable. pecmassiva: send receipts inbox "
            "quota; legallymail: send list retrieve info; openapi_pec: domain_check "
            "availability list.",
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Open model: constant arrivals per second.")
    ] = None,
    ramp: Annotated[
        str | None, typer.Option(help="Open model: START:END arrivals/s over the duration.")
    ] = None,
    stages: Annotated[
        str | None, typer.Option(help="Open model: ramp stages SECONDS:RATE,... from 0/s.")
    ] = None,
    users: Annotated[int | None, typer.Option(help="Closed model: concurrent users.")] = None,
    duration: Annotated[str, typer.Option(help="How long (e.g. 60s, 500ms).")] = "10s",
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many operations.")
    ] = None,
    pacing: Annotated[
        bool, typer.Option(help="Clients keep the provider's documented cap (scaled).")
    ] = True,
    time_scale: Annotated[
        float,
        typer.Option(min=0.0001, help="Seconds per provider second, for caps and pacing."),
    ] = 1.0,
    shape: Annotated[
        str,
        typer.Option(help="shared (one client), webapp (a client per request), bulk."),
    ] = "shared",
    base_url: Annotated[
        str | None,
        typer.Option(help="Target (default: an embedded fake). Loopback only, unless --force."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Allow a non-loopback --base-url (a staging host you own).")
    ] = False,
    fake_credentials: Annotated[
        bool,
        typer.Option(help="With --base-url: use the fakes' credentials, not CERTMAIL_* env."),
    ] = False,
    fake_workers: Annotated[int, typer.Option(min=1, help="Embedded fake processes.")] = 1,
    fake_cap: Annotated[
        bool, typer.Option(help="The embedded fake enforces the provider's cap.")
    ] = False,
    fake_latency: Annotated[
        str | None,
        typer.Option(
            help="Embedded fake's latency: fixed:5ms, uniform:1ms:20ms, longtail:5ms:200ms."
        ),
    ] = None,
    fake_fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Embedded fake's random fault KIND=RATE, repeatable "
            "(500 502 503 429 reset timeout lost)."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.001, help="Per-call timeout (s).")] = 10.0,
    max_in_flight: Annotated[
        int, typer.Option(min=1, help="Open model: arrivals beyond this are dropped.")
    ] = 10_000,
    label: Annotated[str, typer.Option(help="A name for this run (in the JSON).")] = "",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result.")] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the per-second time series.")
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="Write an SVG of latency vs offered load.")
    ] = None,
    live: Annotated[bool, typer.Option(help="A live display while it runs.")] = True,
) -> None:
    """Drive SDK operations at a target and report latency, throughput and errors.

    Exit codes: 0 a result; 3 withheld (the fake was the bottleneck); 4 the fake's ledger
    disagrees with the client (a lost or duplicated send); 2 usage; 130 interrupted
    (Ctrl-C: the partial result is written, marked ``"partial": true``).
    """
    from ..loadtest import FakeTarget, LoadTest, latency_chart
    from ..testing._load import FaultRates, Latency, parse_duration

    console = Console()
    _check_outputs({"--json": json_out, "--csv": csv_out, "--chart": chart})
    try:
        seconds = parse_duration(duration)
        if fake_latency:
            Latency.parse(fake_latency)
        faults = FaultRates.parse(fake_fault or ())
        test = LoadTest(
            provider=provider,  # type: ignore[arg-type]  # checked by LoadTest
            operations=_parse_ops(op or []),
            load=_parse_model(rate, ramp, stages, users, seconds),
            duration=seconds,
            count=count,
            pacing=pacing,
            time_scale=time_scale,
            shape=shape,  # type: ignore[arg-type]  # checked by LoadTest
            base_url=base_url,
            force=force,
            credentials=_credentials(provider, base_url, fake_credentials),
            fake=FakeTarget(
                workers=fake_workers,
                cap=fake_cap,
                time_scale=time_scale,
                latency=fake_latency,
                faults={str(k): v for k, v in faults.rates.items()},
            ),
            timeout=timeout,
            max_in_flight=max_in_flight,
            label=label,
        )
    except (ValidationError, ValueError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None

    show = live and console.is_terminal
    display = Live(console=console, auto_refresh=False) if show else None

    def on_tick(point: Any, totals: dict[str, Any]) -> None:
        if display is not None:
            display.update(_live_table(point, totals), refresh=True)
        else:
            cpu = "-" if point.fake_cpu is None else f"{100 * point.fake_cpu:.0f}%"
            p99 = "-" if point.total_p99_ms is None else f"{point.total_p99_ms:,.1f}"
            console.print(
                f"t={point.t:5.0f}s target={point.target_rate:7.1f}/s offered={point.offered:5d}"
                f" ok={point.ok:5d} errors={point.errors:4d} in_flight={point.in_flight:4d}"
                f" p99={p99:>8} ms fake_cpu={cpu:>4}",
                highlight=False,
            )

    if display is not None:
        display.start()
    try:
        result = asyncio.run(_run_interruptible(test, on_tick))
    finally:
        if display is not None:
            display.stop()
    if json_out:
        result.write_json(json_out)
    if csv_out:
        result.write_csv(csv_out)
    if chart:
        latency_chart(
            result.series, chart, title=label or f"{provider} {', '.join(test.operations)}"
        )
    code = print_result(console, result)
    for path in (json_out, csv_out, chart):
        if path:
            console.print(f"wrote {path}")
    if result.partial:
        console.print("[yellow bold]interrupted:[/] the result is partial")
        code = EXIT_INTERRUPTED
    raise typer.Exit(code=code)


@loadtest_app.command("compare")
def compare_command(
    a: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Result A (JSON).")],
    b: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Result B (JSON).")],
) -> None:
    """Two result files side by side, with B / A for every figure."""
    from ..loadtest import LoadResult, compare

    console = Console()
    try:
        ra, rb = LoadResult.read_json(a), LoadResult.read_json(b)
    except ValidationError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=EXIT_USAGE) from None
    table = Table(title=f"A = {ra.label or a.name}   B = {rb.label or b.name}")
    table.add_column("metric")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    table.add_column("B / A", justify="right")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:,.2f}"

    for row in compare(ra, rb):
        metric = f"{row.metric} ({row.unit})" if row.unit else row.metric
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        table.add_row(metric, fmt(row.a), fmt(row.b), ratio)
    console.print(table)
    for name, r in (("A", ra), ("B", rb)):
        if not r.valid:
            console.print(f"[yellow]{name} is not a valid result:[/] {r.bottleneck.message}")


@loadtest_app.command("chart")
def chart_command(
    series: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A CSV time series (--csv).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The SVG to write.")],
    title: Annotated[str, typer.Option(help="Chart title.")] = "",
) -> None:
    """An SVG of latency against offered load, from a run's CSV time series."""
    from ..loadtest import latency_chart, read_series

    latency_chart(read_series(series), output, title=title)
    Console().print(f"wrote {output}")


def serve_fake(
    provider: str,
    *,
    port: int,
    time_scale: float,
    cap: bool,
    workers: int = 1,
    latency: str | None = None,
    faults: list[str] | None = None,
    ledger_keep: int | None = None,
    inbox_limit: int | None = None,
) -> None:
    """``certmail fake serve``: one process, or several on one port; prints the URL first."""
    from ..testing import FAKES, run_fake
    from ..testing._load import FaultRates, Latency, fake_options, serve_workers

    console = Console()
    if provider not in FAKES:
        raise typer.BadParameter(", ".join(FAKES), param_hint="PROVIDER")
    if workers > 1 and cap and provider != "openapi_pec":
        raise typer.BadParameter(
            "a cap is counted per process: use --no-cap with several workers",
            param_hint="--workers",
        )
    try:
        model = Latency.parse(latency) if latency else None
        rates = FaultRates.parse(faults) if faults else None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    options = fake_options(
        provider, cap=cap, time_scale=time_scale, ledger_keep=ledger_keep, inbox_limit=inbox_limit
    )

    async def serve() -> None:
        if workers > 1:
            async with serve_workers(
                provider, workers=workers, options=options, port=port, latency=model,
                fault_rates=rates,
            ) as pool:  # fmt: skip
                print(f"fake {provider} listening on {pool.url}", flush=True)
                console.print(f"  {workers} worker processes: {', '.join(map(str, pool.pids))}")
                console.print(f"  metrics: {pool.url}/_fake/metrics")
                await asyncio.Event().wait()
        async with run_fake(provider, port=port, **options) as fake:  # type: ignore[call-overload]
            fake.state.latency = model
            fake.state.fault_rates = rates
            print(f"fake {provider} listening on {fake.url}", flush=True)
            for key, value in fake.state.client_kwargs().items():
                console.print(f"  {key} = {value}")
            console.print(f"  metrics: {fake.url}/_fake/metrics")
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        console.print("stopped")
        sys.exit(0)
