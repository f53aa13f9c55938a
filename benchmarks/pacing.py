"""How close to a provider's cap does each pacer run, against four kinds of server limiter?

Question (issue 11, point 4): a provider caps a client at N requests per T seconds and
counts them in a way the client does not know (a sliding log, fixed windows, a token bucket
or strict minimum spacing like nginx ``limit_req`` without burst). Network latency moves
every arrival by an absolute amount of jitter. At the REAL ratio of jitter to window, how
many 429s does each pacer draw, how much of the cap does it use, does it keep the order,
and how long does a bulk job take compared with the ideal?

What runs, side by side, in one process on a virtual clock (a selector that never waits:
the loop jumps to the next timer, so a 10-minute job takes milliseconds and every run is
exactly reproducible from its seed):

* shapes: LegallyMail (10 per 60 s, 100 sends, 10 windows) and PEC Massiva (1 per 1 s, 120
  sends); jitter J in {0, 20, 50 ms} (LegallyMail) and {0, 40, 120 ms} (PEC Massiva), each
  uniform on [0, J] ("U"), plus a long-tailed cell per non-zero J ("LT": lognormal with
  median J/10 and sigma 1.2, so p90 = 0.47 J, p99 = 1.6 J, capped at 4 J);
* server limiters: the four models of ``certmail_async.testing`` (``make_limiter``); fixed
  windows start at a random phase per run;
* contenders:
  (a) ``SDK default``: ``RateLimit(N, T)`` (slack learned from the wire), driven exactly the
      way the transport drives the gate, as one bulk lane (sends in order, one at a time):
      ``acquire()``, ``depart(stamped=True)``, connection set-up, ``sent(at=write time)``,
      the exchange, ``observe(rtt)`` on a successful answer (as the transport samples),
      ``refused(Retry-After)`` on a 429, then a fresh slot;
  (b) ``SDK fixed 5%``: the same lane with today's margin, ``RateLimit(N, T, slack=0.05 x
      T/N, mode="strict")``;
  (c) ``aiolimiter``: ``AsyncLimiter(N, T')``; (d) ``aiometer``: its ``max_per_second``
      meter at N/T'; (e) ``pyrate``: ``Limiter(Rate(N, T'))`` (sliding log, ``buffer_ms=0``
      so its only slack is ours) -- where T' = N x the spacing the SDK default ended with in
      the same cell and seed (window mode: T' = T + budget; strict: T' = T + N x budget), so
      (c)-(e) get the SDK default's own final slack from the first send on. Each runs the
      idiomatic way: one task per message, all started at once (aiometer: started by its
      meter in order, like ``run_on_each``); after a 429 the task waits Retry-After and
      takes a NEW slot from the same limiter (aiometer: the same meter object).
* network, per request: connection set-up (2 base round trips, only when no idle
  keep-alive connection exists), outbound latency 15 ms + jitter, server time 150 ms
  (LegallyMail) or 300 ms (PEC Massiva) for an accepted request and 5 ms for a 429, return
  latency 15 ms + jitter drawn from the same distribution (``--return-jitter none`` turns
  it off). The transport sees RTT = outbound + server + return, as a real one would. The
  server answers a refusal with ``Retry-After`` in whole seconds (HTTP delta-seconds,
  rounded up, as Laravel sends). The k-th request written in a run draws the same jitter
  for every contender (common random numbers).

Metrics per cell (3 runs, seeds 1-3; min/median/max printed): 429s; achieved/cap =
accepted x (T/N) / (last accepted arrival - first accepted arrival + T/N) (start-up is
outside that span; bursty contenders can exceed 1 because the formula assumes even
spacing); order violations (adjacent accepted arrivals whose submission order is reversed);
drain/ideal = (last accepted arrival + T/N - job start) / (sends x T/N): a pacer that
bursts N at once may beat 1 against window limiters. A warm-up cell runs first and is
dropped ("the first cold cell"; on a virtual clock it changes nothing but is cheap).

Targets (issue 11) for the SDK default, judged on the uniform cells (the long-tailed ones
are shown, not judged): LegallyMail, J <= 50 ms: >= 0.99 and 0 x 429 against sliding, fixed
and bucket, and a drain within 1.5% of the ideal there; against strict spacing at most one
429 per run and >= 0.95 after it (its drain is printed, not judged: one 429 and the strict
spacing after it are what that target allows). PEC Massiva, J <= 40 ms: 0 x 429 and >=
0.95 on every limiter; J = 120 ms: at most 2 x 429 per run.

The SDK is driven through ``sdk_send`` and ``sdk_spacing`` only: they are the one place
that knows the gate's methods, so a change of the gate contract is a change there.

Run: python benchmarks/pacing.py [--runs 3] [--return-jitter same|none]
[--server-jitter S] [--refusal-time S]
(about 10 s on one core; every number is virtual time, so a busy machine changes nothing
but the wall time, and two runs print the same table). The options are sensitivity
checks: ``--return-jitter none`` puts all the jitter on the request leg (the gate's
round-trip estimate then sees half of it), ``--server-jitter`` adds varying server time
(which the round trips see and the arrivals do not), ``--refusal-time`` sets how fast a
429 is answered (5 ms by default: middleware answers before the real work).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import selectors
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

import anyio
import attrs
from aiolimiter import AsyncLimiter
from aiometer._impl.meters import RateLimitMeter  # the meter behind max_per_second
from pyrate_limiter import AbstractClock, InMemoryBucket, Limiter, Rate, SingleBucketFactory
from rich.console import Console
from rich.table import Table

from certmail_async import RateLimit
from certmail_async._pacing import Gate, gate_for
from certmail_async.testing import LIMITER_KINDS, LimiterKind, make_limiter

# --------------------------------------------------------------------------- virtual clock


class _NoIO(selectors.BaseSelector):
    """A selector with no I/O: ``select(timeout)`` moves the virtual clock by ``timeout``.

    The clock counts whole nanoseconds and moves by at least one per loop iteration, as a
    real clock creeps: a float clock that stood still would leave a timer re-armed for
    "now + 1e-17 s" (a limiter's rounding residue, as aiolimiter's) spinning forever.
    """

    def __init__(self) -> None:
        self.ticks = 0  # nanoseconds
        self._map: dict[Any, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._map[fileobj] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._map.pop(fileobj)

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("virtual clock: every task waits and no timer is set (deadlock)")
        self.ticks += max(1, math.ceil(timeout * 1e9))
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._map


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual: it jumps to the next timer at once."""

    def __init__(self) -> None:
        self._virtual = _NoIO()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.ticks / 1e9


def run_virtual(coro: Awaitable[Any]) -> Any:
    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the model


@attrs.frozen
class Jitter:
    """Absolute arrival jitter: uniform on [0, j] or long-tailed (lognormal, capped)."""

    kind: Literal["U", "LT"]
    j: float

    @property
    def label(self) -> str:
        return "0" if self.j == 0 else f"{self.kind} {self.j * 1000:.0f}ms"

    def draw(self, rng: random.Random) -> float:
        if self.j == 0:
            return 0.0
        if self.kind == "U":
            return rng.uniform(0.0, self.j)
        return min(4 * self.j, self.j / 10 * math.exp(1.2 * rng.gauss(0.0, 1.0)))


@attrs.frozen
class Shape:
    name: str
    requests: int
    per: float
    sends: int
    server_time: float
    jitters: tuple[Jitter, ...]

    @property
    def spacing(self) -> float:
        return self.per / self.requests


BASE_LATENCY = 0.015  # one way, each direction
REFUSAL_TIME = 0.005  # a 429 is answered by middleware, before the real work

SHAPES = (
    Shape(
        "LegallyMail 10/60s",
        10,
        60.0,
        100,
        0.150,
        (
            Jitter("U", 0.0),
            Jitter("U", 0.020),
            Jitter("U", 0.050),
            Jitter("LT", 0.020),
            Jitter("LT", 0.050),
        ),
    ),
    Shape(
        "PEC Massiva 1/1s",
        1,
        1.0,
        120,
        0.300,
        (
            Jitter("U", 0.0),
            Jitter("U", 0.040),
            Jitter("U", 0.120),
            Jitter("LT", 0.040),
            Jitter("LT", 0.120),
        ),
    ),
)


@attrs.frozen
class Answer:
    accepted: bool
    retry_after: float | None  # seconds, as the Retry-After header says
    rtt: float  # write -> answer headers, what the transport measures


@attrs.define
class Provider:
    """The server side of one run: a limiter model behind a jittered network."""

    shape: Shape
    kind: LimiterKind
    jitter: Jitter
    seed: str
    return_jitter: bool = True
    server_jitter: float = 0.0
    refusal_time: float = REFUSAL_TIME
    arrivals: list[tuple[int, float, bool]] = attrs.field(factory=list)  # seq, time, accepted
    idle_connections: int = 0
    _rng: random.Random = attrs.field(init=False)
    _phase: float = attrs.field(init=False)
    _limiter: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._phase = self._rng.uniform(0.0, self.shape.per)  # where fixed windows start
        self._limiter = make_limiter(self.kind, requests=self.shape.requests, per=self.shape.per)

    async def connect(self) -> None:
        """Take a keep-alive connection, or open one (TCP + TLS: two base round trips)."""
        if self.idle_connections:
            self.idle_connections -= 1
        else:
            await asyncio.sleep(4 * BASE_LATENCY)

    async def exchange(self, seq: int, written: float) -> Answer:
        """One request written at ``written``: its arrival, the verdict, the answer."""
        loop = asyncio.get_running_loop()
        rng = self._rng  # draws in write order: the k-th write of every contender alike
        out = BASE_LATENCY + self.jitter.draw(rng)
        back = BASE_LATENCY + (self.jitter.draw(rng) if self.return_jitter else 0.0)
        work = self.shape.server_time + rng.uniform(0.0, self.server_jitter)
        await asyncio.sleep(written + out - loop.time())
        arrival = loop.time()
        verdict = self._limiter.admit(arrival + self._phase)
        self.arrivals.append((seq, arrival, verdict.accepted))
        await asyncio.sleep((work if verdict.accepted else self.refusal_time) + back)
        self.idle_connections += 1
        retry = None if verdict.accepted else float(max(1, math.ceil(verdict.retry_after)))
        return Answer(verdict.accepted, retry, loop.time() - written)


# ---------------------------------------------------------------- the SDK, through the gate


def sdk_rate(shape: Shape, *, slack: float | None = None, strict: bool = False) -> RateLimit:
    """The SDK's RateLimit for ``shape``: slack in seconds (None: learned), the mode."""
    mode: Literal["window", "strict"] = "strict" if strict else "window"
    return RateLimit(requests=shape.requests, per=shape.per, slack=slack, mode=mode)


async def sdk_send(gate: Gate, provider: Provider, seq: int) -> None:
    """One paced send as the transport runs it: the ONE place that calls the gate contract.

    Mirrors ``Transport.request``: a slot (``acquire``, then ``depart(stamped=True)``), the
    write stamped once the connection exists (``sent``), the round trip of a successful
    answer (``observe``; the transport does not sample 429s, which middleware answers
    faster), and on a 429 ``refused(Retry-After)`` (pause and tighten), then a fresh slot.
    """
    loop = asyncio.get_running_loop()
    while True:
        await gate.acquire()
        await gate.depart(stamped=True)
        await provider.connect()
        written = loop.time()
        gate.sent(written)
        answer = await provider.exchange(seq, written)
        if answer.accepted:
            gate.observe(answer.rtt)  # successes only, as the transport samples them
            return
        gate.refused(answer.retry_after)


def sdk_spacing(gate: Gate) -> tuple[float, str, float]:
    """What the gate ended with: (interval, mode, budget)."""
    state = gate.state
    return state.interval, state.mode, state.budget


async def sdk_lane(rate: RateLimit, provider: Provider, label: str) -> tuple[float, str, float]:
    gate = gate_for(("bench", label), rate)
    for seq in range(provider.shape.sends):
        await sdk_send(gate, provider, seq)
    return sdk_spacing(gate)


# ------------------------------------------------------------ the other pacers, same slack


async def each_task(provider: Provider, take_slot: Callable[[], Awaitable[Any]]) -> None:
    """One task per message, all started at once; a 429 waits Retry-After, then a new slot."""
    loop = asyncio.get_running_loop()

    async def one(seq: int) -> None:
        while True:
            await take_slot()
            await provider.connect()
            answer = await provider.exchange(seq, loop.time())
            if answer.accepted:
                return
            assert answer.retry_after is not None
            await asyncio.sleep(answer.retry_after)

    await asyncio.gather(*(one(seq) for seq in range(provider.shape.sends)))


async def with_aiolimiter(provider: Provider, period: float) -> None:
    limiter = AsyncLimiter(provider.shape.requests, period)
    await each_task(provider, limiter.acquire)


async def with_aiometer(provider: Provider, period: float) -> None:
    state = await RateLimitMeter(provider.shape.requests / period).new_state()

    async def slot() -> None:
        await state.wait_task_can_start()
        await state.notify_task_started()

    loop = asyncio.get_running_loop()

    async def one(seq: int) -> None:
        while True:
            await provider.connect()
            answer = await provider.exchange(seq, loop.time())
            if answer.accepted:
                return
            assert answer.retry_after is not None
            await asyncio.sleep(answer.retry_after)
            await slot()

    # run_on_each's own loop: wait for the meter, start the task, in order.
    async with anyio.create_task_group() as tg:
        for seq in range(provider.shape.sends):
            await slot()
            tg.start_soon(one, seq)


class _LoopClock(AbstractClock):
    """PyrateLimiter reads time in integer ms from its clock: give it the loop's."""

    def now(self) -> int:
        return round(asyncio.get_running_loop().time() * 1000)


async def with_pyrate(provider: Provider, period: float) -> None:
    bucket = InMemoryBucket([Rate(provider.shape.requests, round(period * 1000))])
    bucket._clock = _LoopClock()
    limiter = Limiter(SingleBucketFactory(bucket, schedule_leak=False), buffer_ms=0)

    async def slot() -> None:
        assert await limiter.try_acquire_async("provider")

    await each_task(provider, slot)


OTHERS: dict[str, Callable[[Provider, float], Awaitable[None]]] = {
    "aiolimiter": with_aiolimiter,
    "aiometer": with_aiometer,
    "pyrate": with_pyrate,
}
CONTENDERS = ("SDK default", "SDK fixed 5%", *OTHERS)


# ----------------------------------------------------------------------------- measuring


@attrs.frozen
class Result:
    refused: int
    ratio: float
    ratio_after: float  # over the accepted arrivals after the last 429 (= ratio without one)
    order: int
    drain: float
    last_refusal: int  # index among all arrivals of the last 429 (-1: none)
    spacing: float  # the interval the pacer ran at (SDK: its final one)
    note: str = ""


def _ratio(times: list[float], spacing: float) -> float:
    if len(times) < 2:
        return float("nan")
    return len(times) * spacing / (times[-1] - times[0] + spacing)


def measure(provider: Provider, spacing: float, note: str = "") -> Result:
    shape = provider.shape
    arrivals = provider.arrivals
    accepted = [(seq, t) for seq, t, ok in arrivals if ok]
    assert len(accepted) == shape.sends, "every message is delivered in the end"
    times = [t for _, t in accepted]
    refusals = [i for i, (_, _, ok) in enumerate(arrivals) if not ok]
    after = times
    if refusals:
        last = arrivals[refusals[-1]][1]
        after = [t for t in times if t > last]
    return Result(
        refused=len(refusals),
        ratio=_ratio(times, shape.spacing),
        ratio_after=_ratio(after, shape.spacing),
        order=sum(1 for (a, _), (b, _) in itertools.pairwise(accepted) if b < a),
        drain=(times[-1] + shape.spacing) / (shape.sends * shape.spacing),
        last_refusal=refusals[-1] if refusals else -1,
        spacing=spacing,
        note=note,
    )


@attrs.frozen
class Options:
    return_jitter: bool = True
    server_jitter: float = 0.0
    refusal_time: float = REFUSAL_TIME


def run_cell(
    shape: Shape, jitter: Jitter, kind: LimiterKind, seed: int, opts: Options
) -> dict[str, Result]:
    """Every contender against one limiter kind, one seed (the SDK default first)."""

    def provider() -> Provider:
        return Provider(
            shape,
            kind,
            jitter,
            f"{seed}:{shape.name}:{jitter.label}:{kind}",
            return_jitter=opts.return_jitter,
            server_jitter=opts.server_jitter,
            refusal_time=opts.refusal_time,
        )

    out: dict[str, Result] = {}
    p = provider()
    interval, mode, budget = run_virtual(sdk_lane(sdk_rate(shape), p, "default"))
    out["SDK default"] = measure(p, interval, f"{mode} {budget * 1000:.0f}ms")
    p = provider()
    fixed = sdk_rate(shape, slack=0.05 * shape.spacing, strict=True)
    f_interval, f_mode, f_budget = run_virtual(sdk_lane(fixed, p, "fixed"))
    out["SDK fixed 5%"] = measure(p, f_interval, f"{f_mode} {f_budget * 1000:.0f}ms")
    period = shape.requests * interval  # the SDK default's final spacing, as a period
    for name, pacer in OTHERS.items():
        p = provider()
        run_virtual(pacer(p, period))
        out[name] = measure(p, interval, f"T'={period:.3f}s")
    return out


Key = tuple[str, str, str, str]  # shape, jitter, contender, limiter


def run_all(runs: int, opts: Options) -> dict[Key, list[Result]]:
    # The first cold cell: warms imports and caches; its numbers are dropped.
    run_cell(SHAPES[1], SHAPES[1].jitters[1], "sliding", 0, opts)
    results: dict[Key, list[Result]] = {}
    for shape in SHAPES:
        for jitter in shape.jitters:
            for kind in LIMITER_KINDS:
                for seed in range(1, runs + 1):
                    for name, r in run_cell(shape, jitter, kind, seed, opts).items():
                        results.setdefault((shape.name, jitter.label, name, kind), []).append(r)
    return results


# ------------------------------------------------------------------------ report, verdict


def _three(values: Iterable[float], fmt: Callable[[float], str]) -> str:
    v = sorted(values)
    return "/".join(fmt(x) for x in (v[0], statistics.median(v), v[-1]))


def _ratio_text(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3f}".removeprefix("0")


def _count_text(x: float) -> str:
    return f"{x:.0f}"


def _cell(rs: list[Result]) -> str:
    return (
        f"429 {_three((r.refused for r in rs), _count_text)}"
        f" r {_three((r.ratio for r in rs), _ratio_text)}\n"
        f"ord {_three((r.order for r in rs), _count_text)}"
        f" dr {_three((r.drain for r in rs), _ratio_text)}"
    )


def _slack_note(rs: Iterable[Result]) -> str:
    """The SDK's final state over a row: each mode with its budget range."""
    by_mode: dict[str, list[float]] = {}
    for r in rs:
        mode, budget = r.note.split()
        by_mode.setdefault(mode, []).append(float(budget.removesuffix("ms")))
    parts = []
    for mode, budgets in sorted(by_mode.items(), key=lambda kv: kv[0] != "window"):
        lo, hi = min(budgets), max(budgets)
        parts.append(f"{mode} {lo:.0f}ms" if lo == hi else f"{mode} {lo:.0f}-{hi:.0f}ms")
    return "\n".join(parts)


def table(results: dict[Key, list[Result]], shape: Shape, runs: int) -> Table:
    t = Table(
        title=f"{shape.name}: {shape.sends} sends per run; each cell min/median/max of {runs} runs",
        caption="429 = refusals; r = achieved/cap; ord = order violations; dr = drain/ideal. "
        "SDK rows: final mode and budget. aiolimiter, aiometer and pyrate pace at the "
        "SDK default's final interval of the same cell and seed.",
        show_lines=True,
    )
    t.add_column("jitter", no_wrap=True)
    t.add_column("contender", no_wrap=True)
    for kind in LIMITER_KINDS:
        t.add_column(kind, no_wrap=True)
    for jitter in shape.jitters:
        for name in CONTENDERS:
            cells = [
                _cell(results[(shape.name, jitter.label, name, kind)]) for kind in LIMITER_KINDS
            ]
            row = [r for k in LIMITER_KINDS for r in results[(shape.name, jitter.label, name, k)]]
            if name.startswith("SDK"):
                label = f"{name}\n{_slack_note(row)}"
            else:
                lo = min(r.spacing for r in row) * shape.requests
                hi = max(r.spacing for r in row) * shape.requests
                label = f"{name}\nT' {lo:.3f}" + ("" if hi == lo else f"-{hi:.3f}") + "s"
            t.add_row(jitter.label, label, *cells)
    return t


Check = tuple[str, bool | None, str]  # target, met (None: shown, not judged), numbers


def verdict(results: dict[Key, list[Result]]) -> list[Check]:
    """Each issue-11 target for the SDK default: (target, met, the worst numbers seen)."""
    lm, pm = SHAPES
    checks: list[Check] = []

    def sdk(shape: Shape, pick: Callable[[Jitter], bool], kinds: Iterable[str]) -> list[Result]:
        return [
            r
            for j in shape.jitters
            if j.kind == "U" and pick(j)
            for k in kinds
            for r in results[(shape.name, j.label, "SDK default", k)]
        ]

    windows = [k for k in LIMITER_KINDS if k != "strict"]
    rs = sdk(lm, lambda j: j.j <= 0.050, windows)
    checks.append(
        (
            "LegallyMail J<=50ms, sliding/fixed/bucket: 0 x 429 and >= 0.99",
            all(r.refused == 0 and r.ratio >= 0.99 for r in rs),
            f"max 429s {max(r.refused for r in rs)}, min ratio {min(r.ratio for r in rs):.4f}",
        )
    )
    rs = sdk(lm, lambda j: j.j <= 0.050, ["strict"])
    checks.append(
        (
            "LegallyMail J<=50ms, strict: <= 1 x 429 per run and >= 0.95 after it",
            all(r.refused <= 1 and r.ratio_after >= 0.95 for r in rs),
            f"max 429s {max(r.refused for r in rs)}, "
            f"min ratio after {min(r.ratio_after for r in rs):.4f}",
        )
    )
    rs = sdk(lm, lambda j: j.j <= 0.050, windows)
    checks.append(
        (
            "LegallyMail J<=50ms, sliding/fixed/bucket: drain within 1.5% of sends x T/N",
            all(r.drain <= 1.015 for r in rs),
            f"max drain/ideal {max(r.drain for r in rs):.4f}",
        )
    )
    rs = sdk(lm, lambda j: j.j <= 0.050, ["strict"])
    checks.append(
        (
            "LegallyMail J<=50ms, strict: drain (shown; its target is >= 0.95 after one 429)",
            None,
            f"max drain/ideal {max(r.drain for r in rs):.4f}",
        )
    )
    rs = sdk(pm, lambda j: j.j <= 0.040, LIMITER_KINDS)
    checks.append(
        (
            "PEC Massiva J<=40ms, every limiter: 0 x 429 and >= 0.95",
            all(r.refused == 0 and r.ratio >= 0.95 for r in rs),
            f"max 429s {max(r.refused for r in rs)}, min ratio {min(r.ratio for r in rs):.4f}",
        )
    )
    rs = sdk(pm, lambda j: j.j == 0.120, LIMITER_KINDS)
    checks.append(
        (
            "PEC Massiva J=120ms, every limiter: <= 2 x 429 per run, then none",
            all(r.refused <= 2 for r in rs),
            f"max 429s {max(r.refused for r in rs)}, last at arrival "
            f"#{max(r.last_refusal for r in rs)} of >= {pm.sends}; ratio after the last 429: "
            f"min {min(r.ratio_after for r in rs):.4f}",
        )
    )
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="seeds per cell (1..runs)")
    parser.add_argument("--return-jitter", choices=("same", "none"), default="same")
    parser.add_argument("--server-jitter", type=float, default=0.0, help="uniform, seconds")
    parser.add_argument(
        "--refusal-time", type=float, default=REFUSAL_TIME, help="server time of a 429, s"
    )
    args = parser.parse_args()
    opts = Options(
        return_jitter=args.return_jitter == "same",
        server_jitter=args.server_jitter,
        refusal_time=args.refusal_time,
    )
    started = time.perf_counter()
    results = run_all(args.runs, opts)
    console = Console(width=180)
    for shape in SHAPES:
        console.print(table(results, shape, args.runs))
    print(f"Network: {opts}")
    print("Verdict for the SDK default against the issue-11 targets (uniform jitter cells):")
    checks = verdict(results)
    for target, met, numbers in checks:
        mark = "shown" if met is None else ("met" if met else "NOT met")
        print(f"  [{mark}] {target}: {numbers}")
    judged = [m for _, m, _ in checks if m is not None]
    print(
        f"VERDICT: {'all targets met' if all(judged) else 'targets NOT met'} "
        f"({sum(judged)}/{len(judged)}); wall time {time.perf_counter() - started:.1f}s"
    )


if __name__ == "__main__":
    main()
