# The load generator
# ------------------
#
# One event loop drives the SDK's public clients. Each operation runs in its own task with
# a small timer in a context variable; an aiohttp TraceConfig on the session the clients
# use (``session=``) stamps when each HTTP request leaves and when its answer's headers
# arrive. So, for every operation:
#
#   total      = end - scheduled arrival    (open model; closed: end - start)
#   start_lag  = start - scheduled arrival  (the generator's own lateness)
#   server     = the sum of its HTTP exchanges (request written -> answer headers)
#   gate_wait  = end - start - server       (the client side: the pacing gate, 429 pauses,
#                                            the SDK's own work)
#
# Percentiles of successful operations go into HDR histograms; failures are counted by
# class. Every second a TimePoint records the offered and achieved rates, the interval's
# percentiles, the generator's CPU and, from the fake's /_fake/metrics, the fake's CPU: a
# fake at 90% or more of a core for two seconds running was the bottleneck, and the result
# says so instead of presenting the fake's limits as the pipeline's.
"""Runs a LoadTest and returns its LoadResult."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import math
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import aiohttp
import attrs

from .._exceptions import (
    APIStatusError,
    DeliveryUnknownError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from .._pacing import RateLimit
from ..testing._load import (
    METRICS_PATH,
    OPENAPI_TOKEN,
    FaultRates,
    Latency,
    fake_options,
    serve_workers,
)
from ._hist import Histogram, exact_percentile
from ._models import SENDS, ClosedUsers, LoadTest, RampingRate
from ._result import (
    ERROR_CLASSES,
    LATENCY_KINDS,
    LedgerCheck,
    LoadResult,
    TimePoint,
    detect_bottleneck,
)

__all__ = ["OpContext", "run", "trace_config"]

FAKE_CREDENTIALS: dict[str, dict[str, str]] = {
    "pecmassiva": {
        "token": "fake-pecmassiva-token",
        "username": "box@pecmassiva.com",
        "password": "fake-mailbox-password",
    },
    "legallymail": {"token": "fake-legallymail-token"},
    "openapi_pec": {"token": OPENAPI_TOKEN},
}
BODY = "<p>Gentile cliente, le inviamo la comunicazione in oggetto.</p>"
#: Distinct recipient addresses the sends cycle through (bounded fake memory).
RECIPIENTS = 1000
#: Seconds to wait after the run for the fake's workers to publish their last counts.
METRICS_SETTLE = 0.3
#: Generator start lag (s) below which the generator is never called the bottleneck.
LAG_FLOOR = 1.0
#: ... and above this many inter-arrival times it is.
LAG_ARRIVALS = 10.0
#: Seconds to drain what is in flight after an interrupt (Ctrl-C), at most.
INTERRUPT_DRAIN = 5.0


class _OpTimer:
    """The HTTP exchanges of one operation, stamped by the trace callbacks."""

    __slots__ = ("_sent", "last_status", "requests", "server")

    def __init__(self) -> None:
        self.server = 0.0
        self.requests = 0
        self.last_status: int | None = None
        self._sent: float | None = None


_timer: contextvars.ContextVar[_OpTimer | None] = contextvars.ContextVar(
    "certmail_loadtest_timer", default=None
)
_all_requests: contextvars.ContextVar[Histogram | None] = contextvars.ContextVar(
    "certmail_loadtest_requests", default=None
)


async def _on_start(_s: Any, _c: Any, _p: Any) -> None:
    timer = _timer.get()
    if timer is not None:
        timer._sent = time.perf_counter()
    elif _all_requests.get() is not None:
        _c.certmail_sent = time.perf_counter()


async def _on_done(_s: Any, ctx: Any, params: Any) -> None:
    now = time.perf_counter()
    timer = _timer.get()
    status = getattr(getattr(params, "response", None), "status", None)
    if timer is not None and timer._sent is not None:
        timer.server += now - timer._sent
        timer.requests += 1
        timer.last_status = status
        timer._sent = None
        return
    every = _all_requests.get()
    sent = getattr(ctx, "certmail_sent", None)
    if every is not None and sent is not None:
        every.record(now - sent)


def trace_config() -> aiohttp.TraceConfig:
    """A TraceConfig that times the HTTP exchanges of the operation running in a load test.

    Give an ``aiohttp.ClientSession(trace_configs=[trace_config()])`` to the clients your
    own code creates (``session=``), so a custom operation's server time is measured.

    Examples:
        >>> import aiohttp
        >>> isinstance(trace_config(), aiohttp.TraceConfig)
        True
    """
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_on_start)
    config.on_request_end.append(_on_done)
    config.on_request_exception.append(_on_done)
    return config


@attrs.define(kw_only=True)
class OpContext:
    """What an operation gets: its sequence number, the traced session, ids to read.

    Examples:
        >>> ctx = OpContext(seq=7, run_id="r1", session=None)
        >>> ctx.recipient(), ctx.subject()
        ('loadtest.7@pec.example.it', 'loadtest r1 #7')
    """

    seq: int
    run_id: str
    session: Any
    client: Any = None
    codes: deque[str] = attrs.field(factory=lambda: deque(maxlen=1000))
    rng: random.Random = attrs.field(factory=random.Random)

    def recipient(self) -> str:
        """An address from a pool of 1000 (the fake keeps per-recipient counts)."""
        return f"loadtest.{self.seq % RECIPIENTS}@pec.example.it"

    def subject(self) -> str:
        """A subject unique to this operation (so a duplicate send shows in the ledger)."""
        return f"loadtest {self.run_id} #{self.seq}"

    def some_code(self) -> str | None:
        """A send code (PEC Massiva) or tracking id (LegallyMail) seen so far."""
        return self.codes[self.rng.randrange(len(self.codes))] if self.codes else None


async def _pm_send(c: Any, ctx: OpContext) -> None:
    result = await c.sends.create(recipients=[ctx.recipient()], subject=ctx.subject(), body=BODY)
    ctx.codes.append(result.code)


async def _pm_receipts(c: Any, ctx: OpContext) -> None:
    await c.sends.receipts(ctx.some_code() or "00000000000000")


async def _pm_inbox(c: Any, ctx: OpContext) -> None:
    await c.inbox.page(1, q=f"#{ctx.seq % 7}")


async def _pm_quota(c: Any, ctx: OpContext) -> None:
    await c.quota.retrieve()


async def _lm_send(c: Any, ctx: OpContext) -> None:
    result = await c.emails.send(recipients=[ctx.recipient()], subject=ctx.subject(), html=BODY)
    ctx.codes.append(result.tracking_id)


async def _lm_list(c: Any, ctx: OpContext) -> None:
    await c.emails.list(limit=25)


async def _lm_retrieve(c: Any, ctx: OpContext) -> None:
    await c.emails.retrieve(ctx.some_code() or "cm_parent_000000000000")


async def _lm_info(c: Any, ctx: OpContext) -> None:
    await c.account.info()


async def _oa_domain(c: Any, ctx: OpContext) -> None:
    await c.domains.check("legalmail.it")


async def _oa_availability(c: Any, ctx: OpContext) -> None:
    await c.mailboxes.availability(f"loadtest.{ctx.seq % RECIPIENTS}@legalmail.it")


async def _oa_list(c: Any, ctx: OpContext) -> None:
    await c.mailboxes.list()


OpFn = Callable[[Any, OpContext], Awaitable[None]]
_OPS: dict[tuple[str, str], OpFn] = {
    ("pecmassiva", "send"): _pm_send,
    ("pecmassiva", "receipts"): _pm_receipts,
    ("pecmassiva", "inbox"): _pm_inbox,
    ("pecmassiva", "quota"): _pm_quota,
    ("legallymail", "send"): _lm_send,
    ("legallymail", "list"): _lm_list,
    ("legallymail", "retrieve"): _lm_retrieve,
    ("legallymail", "info"): _lm_info,
    ("openapi_pec", "domain_check"): _oa_domain,
    ("openapi_pec", "availability"): _oa_availability,
    ("openapi_pec", "list"): _oa_list,
}
_NEEDS_SEEDS = {("pecmassiva", "receipts"), ("pecmassiva", "inbox"), ("legallymail", "retrieve")}


def documented_rate(provider: str, time_scale: float) -> RateLimit | None:
    """The client pacing for a provider's documented cap on scaled time (None: no cap)."""
    if provider == "pecmassiva":
        return RateLimit(requests=1, per=1.0 * time_scale)
    if provider == "legallymail":
        return RateLimit(requests=10, per=60.0 * time_scale)
    return None


def client_class(provider: str) -> Any:
    """The SDK client class of a provider."""
    from .. import LegallyMailClient, OpenapiPecClient, PecMassivaClient

    return {
        "pecmassiva": PecMassivaClient,
        "legallymail": LegallyMailClient,
        "openapi_pec": OpenapiPecClient,
    }[provider]


def classify(error: BaseException, timer: _OpTimer | None) -> str:
    """The error class of a failed operation (see ``ERROR_CLASSES``).

    Examples:
        >>> from certmail_async import RateLimitError
        >>> classify(RateLimitError("no slot in time"), None)
        'gate_refused'
    """
    if isinstance(error, DeliveryUnknownError):
        return "unknown_send"
    if isinstance(error, RateLimitError):
        return "rate_limited" if timer is not None and timer.requests else "gate_refused"
    if isinstance(error, ServerError):
        return "server_5xx"
    if isinstance(error, RequestTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, TransportError):
        return "transport"
    if isinstance(error, APIStatusError):
        return "client_4xx"
    return "other"


class _Interval:
    """What happened in the current second."""

    def __init__(self) -> None:
        self.offered = self.started = self.completed = self.ok = 0
        self.errors: Counter[str] = Counter()
        self.total: list[float] = []
        self.gate: list[float] = []
        self.server: list[float] = []
        self.lag: list[float] = []


class _Run:
    """The state of one running load test."""

    def __init__(self, test: LoadTest) -> None:
        self.test = test
        self.run_id = uuid.uuid4().hex[:8]
        self.hists = {kind: Histogram() for kind in LATENCY_KINDS}
        self.per_op: dict[str, dict[str, Any]] = {}
        self.offered = self.started = self.completed = self.ok = 0
        self.dropped = self.cancelled = 0
        self.errors: Counter[str] = Counter()
        self.sends_ok = self.sends_unknown = 0
        self.in_flight = 0
        self.interval = _Interval()
        self.series: list[TimePoint] = []
        self.fake_cpu: float | None = None
        self.fake_seen = False
        self.codes: deque[str] = deque(maxlen=1000)
        self.seq = itertools.count()
        self.rng = random.Random(0)  # noqa: S311 - picks operations, not secrets
        self.t0 = 0.0
        self.t0_pc = 0.0
        self.last_done = 0.0
        self.stop_at = math.inf
        self.partial = False
        self.abandoned = False  # the generator was still behind its schedule at the end

    def op_stats(self, name: str) -> dict[str, Any]:
        stats = self.per_op.get(name)
        if stats is None:
            stats = {"count": 0, "ok": 0, "errors": Counter(), "hist": Histogram()}
            self.per_op[name] = stats
        return stats

    def finish(
        self,
        name: str,
        *,
        scheduled: float,
        started: float,
        ended: float,
        timer: _OpTimer | None,
        error: BaseException | None,
        server: float | None = None,
    ) -> None:
        self.completed += 1
        self.interval.completed += 1
        self.last_done = max(self.last_done, ended)
        stats = self.op_stats(name)
        stats["count"] += 1
        sends = name in SENDS
        if error is None:
            self.ok += 1
            self.interval.ok += 1
            stats["ok"] += 1
            total, lag = ended - scheduled, started - scheduled
            spent = timer.server if timer is not None else server
            self.hists["total"].record(total)
            self.hists["start_lag"].record(lag)
            stats["hist"].record(total)
            self.interval.total.append(total)
            self.interval.lag.append(lag)
            if spent is not None:
                gate = max(0.0, ended - started - spent)
                self.hists["server"].record(spent)
                self.hists["gate_wait"].record(gate)
                self.interval.server.append(spent)
                self.interval.gate.append(gate)
            if sends:
                self.sends_ok += 1
            return
        kind = classify(error, timer)
        self.errors[kind] += 1
        self.interval.errors[kind] += 1
        stats["errors"][kind] += 1
        if sends and kind in ("unknown_send", "timeout", "transport", "server_5xx", "other"):
            self.sends_unknown += 1  # may have reached the provider

    def tick(self, now: float, generator_cpu: float | None) -> TimePoint:
        iv, self.interval = self.interval, _Interval()

        def ms(values: list[float], p: float) -> float | None:
            v = exact_percentile(values, p)
            return None if v is None else round(v * 1e3, 3)

        t = round(now - self.t0, 3)
        load = self.test.load
        target = (
            float(load.users) if isinstance(load, ClosedUsers) else load.rate_at(max(0.0, t - 0.5))
        )
        point = TimePoint(
            t=t, target_rate=round(target, 3), offered=iv.offered, started=iv.started,
            completed=iv.completed, ok=iv.ok, errors=sum(iv.errors.values()),
            rate_limited=iv.errors["rate_limited"], gate_refused=iv.errors["gate_refused"],
            server_5xx=iv.errors["server_5xx"], timeouts=iv.errors["timeout"],
            unknown_send=iv.errors["unknown_send"], in_flight=self.in_flight,
            total_p50_ms=ms(iv.total, 50), total_p99_ms=ms(iv.total, 99),
            gate_p99_ms=ms(iv.gate, 99), server_p99_ms=ms(iv.server, 99),
            start_lag_p99_ms=ms(iv.lag, 99),
            fake_cpu=None if self.fake_cpu is None else round(self.fake_cpu, 3),
            generator_cpu=None if generator_cpu is None else round(generator_cpu, 3),
        )  # fmt: skip
        self.series.append(point)
        return point


async def run(
    test: LoadTest,
    *,
    on_tick: Callable[[TimePoint, dict[str, Any]], None] | None = None,
    interrupt: asyncio.Event | None = None,
) -> LoadResult:
    """Run ``test`` and return what it measured (the same result the CLI prints).

    ``on_tick`` is called every second with that second's
    [TimePoint][certmail_async.loadtest.TimePoint] and the running totals (for a live
    display). Setting ``interrupt`` stops offering load: what is in flight drains (at
    most ``INTERRUPT_DRAIN`` seconds) and the result is marked ``partial``.

    Examples:
        >>> import asyncio
        >>> from certmail_async.loadtest import ConstantRate, FakeTarget, LoadTest, run
        >>> test = LoadTest(load=ConstantRate(rate=100), count=20, pacing=False)
        >>> result = asyncio.run(run(test))  # against the embedded fake
        >>> result.ok, result.ledger.consistent, result.valid
        (20, True, True)
    """
    state = _Run(test)
    async with contextlib.AsyncExitStack() as stack:
        if test.base_url is None:
            fake = test.fake
            options = fake_options(
                test.provider,
                cap=fake.cap,
                time_scale=fake.time_scale,
                ledger_keep=fake.ledger_keep,
                inbox_limit=fake.inbox_limit,
            )
            pool = await stack.enter_async_context(
                serve_workers(
                    test.provider,
                    workers=fake.workers,
                    options=options,
                    latency=Latency.parse(fake.latency) if fake.latency else None,
                    fault_rates=FaultRates.parse(f"{k}={v}" for k, v in fake.faults.items())
                    if fake.faults
                    else None,
                )
            )
            base_url = pool.url
        else:
            base_url = test.base_url
        # A bounded pool: past it, calls queue in the client instead of opening ever more
        # connections (a connection storm overflows the server's accept queue).
        connector = aiohttp.TCPConnector(limit=test.connections)
        session = await stack.enter_async_context(
            aiohttp.ClientSession(connector=connector, trace_configs=[trace_config()])
        )
        metrics_session = await stack.enter_async_context(aiohttp.ClientSession())
        return await _run(test, state, base_url, session, metrics_session, on_tick, interrupt)


def _client_kwargs(test: LoadTest, base_url: str, session: Any, pacing: bool) -> dict[str, Any]:
    creds = dict(test.credentials or FAKE_CREDENTIALS[test.provider])
    kwargs: dict[str, Any] = {**creds, "base_url": base_url, "session": session}
    kwargs["rate_limit"] = documented_rate(test.provider, test.time_scale) if pacing else None
    kwargs["timeout"] = test.timeout
    return kwargs


async def _metrics(session: aiohttp.ClientSession, base_url: str, **query: str) -> Any:
    """The fake's metrics, or None when the target has none."""
    try:
        async with asyncio.timeout(5):
            async with session.get(base_url.rstrip("/") + METRICS_PATH, params=query) as r:
                if r.status != 200:
                    return None
                return await r.json()
    except Exception:  # best effort: a target without metrics has none
        # Not a provider operation, so not the transport's error seam: any failure of this
        # probe (refused, reset, timeout, not JSON) only means "no fake metrics".
        return None


async def _seed(test: LoadTest, state: _Run, base_url: str, session: Any) -> None:
    """A few sends before the run, so reads have codes and tracking ids to ask for."""
    names = set(test.operations) if test.custom is None else set()
    if not any((test.provider, n) in _NEEDS_SEEDS for n in names) or test.seeds < 1:
        return
    # Seeds keep the documented cap (scaled) unless the embedded fake enforces none.
    paced = test.base_url is not None or test.fake.cap
    kwargs = _client_kwargs(test, base_url, session, paced)
    send = _OPS[(test.provider, "send")]
    async with client_class(test.provider)(**kwargs) as client:
        for i in range(test.seeds):
            ctx = OpContext(seq=-1 - i, run_id=state.run_id + "-seed", session=session)
            ctx.codes = state.codes
            await send(client, ctx)


async def _run(
    test: LoadTest,
    state: _Run,
    base_url: str,
    session: aiohttp.ClientSession,
    metrics_session: aiohttp.ClientSession,
    on_tick: Callable[[TimePoint, dict[str, Any]], None] | None,
    interrupt: asyncio.Event | None = None,
) -> LoadResult:
    await _seed(test, state, base_url, session)
    before = await _metrics(metrics_session, base_url, duplicates="1")
    state.fake_seen = before is not None
    wall_start = datetime.now(UTC)
    loop = asyncio.get_running_loop()
    state.t0 = loop.time()
    state.t0_pc = time.perf_counter()
    state.stop_at = state.t0 + test.stop_after
    stop = asyncio.Event()
    shared_client = None
    if test.shape == "shared" or test.shape == "bulk":
        shared_client = client_class(test.provider)(
            **_client_kwargs(test, base_url, session, test.pacing)
        )
    tasks: set[asyncio.Task[None]] = set()
    background = [
        asyncio.create_task(_ticker(state, stop, on_tick)),
        asyncio.create_task(_poll_fake(state, stop, metrics_session, base_url)),
    ]
    notes: list[str] = []
    if test.shape == "bulk":
        notes.append(
            "bulk shape: server time is per HTTP request; gate wait is not separable "
            "per chunk (the dispatcher's lane queues and paces)"
        )
        drive: Awaitable[None] = _drive_bulk(test, state, shared_client, session)
    elif isinstance(test.load, ClosedUsers):
        drive = _drive_closed(test, state, base_url, session, shared_client, tasks)
    else:
        drive = _drive_open(test, state, base_url, session, shared_client, tasks)
    try:
        driver = asyncio.ensure_future(drive)
        stopper = asyncio.ensure_future((interrupt or asyncio.Event()).wait())
        try:
            await asyncio.wait({driver, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not driver.done():  # interrupted (or we are cancelled): stop offering load
                state.partial = True
                driver.cancel()
            await asyncio.gather(driver, stopper, return_exceptions=True)
        if not driver.cancelled() and driver.exception() is not None:
            raise cast(BaseException, driver.exception())
        # Let what is in flight finish (bounded), then cancel the rest.
        if tasks:
            drain = test.timeout * 2 + 1
            if state.partial:
                drain = min(drain, INTERRUPT_DRAIN)
            _done, pending = await asyncio.wait(tasks, timeout=drain)
            for task in pending:
                task.cancel()
            state.cancelled += len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        ended = loop.time()
        stop.set()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if shared_client is not None:
            await shared_client.aclose()
    duration = min(ended, state.stop_at) - state.t0 if test.duration else ended - state.t0
    if state.interval.completed or state.interval.offered:
        state.tick(ended, None)
    after = None
    if state.fake_seen:
        await asyncio.sleep(METRICS_SETTLE)  # the workers publish every 0.1 s
        after = await _metrics(metrics_session, base_url, duplicates="1")
    if state.partial:
        notes.append("interrupted: the run stopped early and the figures are partial")
    return _result(test, state, base_url, wall_start, duration, before, after, notes)


def _pick_op(test: LoadTest, state: _Run) -> tuple[str, OpFn | None]:
    if test.custom is not None:
        return "custom", None
    names = list(test.operations)
    if len(names) == 1:
        name = names[0]
    else:
        name = state.rng.choices(names, weights=[test.operations[n] for n in names])[0]
    return name, _OPS[(test.provider, name)]


async def _one(
    test: LoadTest,
    state: _Run,
    base_url: str,
    session: Any,
    shared_client: Any,
    seq: int,
    scheduled: float,
) -> None:
    name, fn = _pick_op(test, state)
    timer = _OpTimer()
    token = _timer.set(timer)
    started = time.perf_counter()
    # ``scheduled`` is on the loop clock; move it onto perf_counter's.
    scheduled_pc = started - (asyncio.get_running_loop().time() - scheduled)
    state.started += 1
    state.interval.started += 1
    state.in_flight += 1
    error: BaseException | None = None
    ctx = OpContext(seq=seq, run_id=state.run_id, session=session, codes=state.codes)
    try:
        async with asyncio.timeout(test.timeout * 3 + 5):  # the SDK's own timeouts come first
            if test.custom is not None:
                await test.custom(ctx)
            elif shared_client is not None:
                ctx.client = shared_client
                assert fn is not None  # noqa: S101 - built-in operation
                await fn(shared_client, ctx)
            else:
                assert fn is not None  # noqa: S101 - built-in operation
                kwargs = _client_kwargs(test, base_url, session, test.pacing)
                async with client_class(test.provider)(**kwargs) as client:
                    ctx.client = client
                    await fn(client, ctx)
    except asyncio.CancelledError:
        state.in_flight -= 1
        _timer.reset(token)
        raise
    except Exception as caught:  # every failure is counted by class
        error = caught
    ended = time.perf_counter()
    state.in_flight -= 1
    _timer.reset(token)
    state.finish(
        name, scheduled=min(scheduled_pc, started), started=started, ended=ended,
        timer=timer, error=error,
    )  # fmt: skip


def _count_reached(test: LoadTest, state: _Run) -> bool:
    return test.count is not None and state.offered >= test.count


async def _drive_open(
    test: LoadTest,
    state: _Run,
    base_url: str,
    session: Any,
    shared_client: Any,
    tasks: set[asyncio.Task[None]],
) -> None:
    load = test.load
    assert not isinstance(load, ClosedUsers)  # noqa: S101 - dispatched on the model
    loop = asyncio.get_running_loop()
    behind = 0
    for at in load.arrivals():
        when = state.t0 + at
        if when >= state.stop_at or _count_reached(test, state):
            break
        delay = when - loop.time()
        if delay > 0:
            behind = 0
            await asyncio.sleep(delay)
        else:
            behind += 1
            if behind % 64 == 0:  # late: let the operations (and the ticker) run
                await asyncio.sleep(0)
                if loop.time() >= state.stop_at:  # out of time: abandon the late arrivals
                    state.abandoned = True
                    break
        state.offered += 1
        state.interval.offered += 1
        # ``tasks`` holds operations created but not finished, started or not: the bound.
        if len(tasks) >= test.max_in_flight:
            state.dropped += 1
            continue
        task = asyncio.create_task(
            _one(test, state, base_url, session, shared_client, next(state.seq), when)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def _drive_closed(
    test: LoadTest,
    state: _Run,
    base_url: str,
    session: Any,
    shared_client: Any,
    tasks: set[asyncio.Task[None]],
) -> None:
    load = test.load
    assert isinstance(load, ClosedUsers)  # noqa: S101 - dispatched on the model
    loop = asyncio.get_running_loop()

    async def user() -> None:
        while loop.time() < state.stop_at and not _count_reached(test, state):
            state.offered += 1
            state.interval.offered += 1
            await _one(test, state, base_url, session, shared_client, next(state.seq), loop.time())
            if load.think_time:
                await asyncio.sleep(load.think_time)

    users = [asyncio.create_task(user()) for _ in range(load.users)]
    try:
        await asyncio.gather(*users)
    finally:
        for task in users:
            task.cancel()


async def _drive_bulk(test: LoadTest, state: _Run, client: Any, session: Any) -> None:
    """One BulkDispatcher sends every arrival as one message; latency: arrival to outcome."""
    from ..bulk import BulkDispatcher, ChunkStatus, OutgoingMessage

    loop = asyncio.get_running_loop()
    arrived: dict[str, float] = {}
    load = test.load

    async def messages() -> AsyncIterator[OutgoingMessage]:
        times: Iterator[float] = (
            load.arrivals() if not isinstance(load, ClosedUsers) else itertools.repeat(-1.0)
        )
        for at in times:
            if at >= 0:
                when = state.t0 + at
                if when >= state.stop_at or _count_reached(test, state):
                    return
                delay = when - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                when = loop.time()
                if when >= state.stop_at or _count_reached(test, state):
                    return
            seq = next(state.seq)
            key = f"lt{seq}"
            arrived[key] = time.perf_counter() - (loop.time() - when)
            state.offered += 1
            state.interval.offered += 1
            state.started += 1
            state.interval.started += 1
            state.in_flight += 1
            ctx = OpContext(seq=seq, run_id=state.run_id, session=session)
            yield OutgoingMessage(
                provider=cast(Literal["pecmassiva", "legallymail"], test.provider),
                recipients=[ctx.recipient()], subject=ctx.subject(),
                body=BODY, key=key,
            )  # fmt: skip

    every = Histogram()
    token = _all_requests.set(every)
    try:
        async with BulkDispatcher(clients=[client], journal=":memory:") as dispatcher:
            job = f"loadtest-{state.run_id}"
            async for outcome in dispatcher.run(job, messages()):
                ended = time.perf_counter()
                begun = arrived.pop(outcome.key or "", ended)
                state.in_flight -= 1
                error: BaseException | None = None
                if outcome.status == ChunkStatus.UNKNOWN:
                    error = DeliveryUnknownError(outcome.error or "unknown")
                elif outcome.status != ChunkStatus.SENT:
                    error = APIStatusError(outcome.error or str(outcome.status))
                state.finish(
                    "send", scheduled=begun, started=begun, ended=ended, timer=None,
                    error=error, server=None,
                )  # fmt: skip
    finally:
        _all_requests.reset(token)
    state.hists["server"].add(every)


async def _ticker(
    state: _Run, stop: asyncio.Event, on_tick: Callable[[TimePoint, dict[str, Any]], None] | None
) -> None:
    loop = asyncio.get_running_loop()
    cpu, wall = time.process_time(), time.perf_counter()
    n = 1
    while not stop.is_set():
        await asyncio.sleep(max(0.0, state.t0 + n - loop.time()))
        n = max(n + 1, math.floor(loop.time() - state.t0) + 1)  # no catch-up ticks
        now_cpu, now_wall = time.process_time(), time.perf_counter()
        generator = (now_cpu - cpu) / (now_wall - wall) if now_wall > wall else None
        cpu, wall = now_cpu, now_wall
        point = state.tick(loop.time(), generator)
        if on_tick is not None:
            on_tick(point, _totals(state))


def _totals(state: _Run) -> dict[str, Any]:
    total = state.hists["total"]
    return {
        "elapsed": asyncio.get_running_loop().time() - state.t0,
        "offered": state.offered,
        "ok": state.ok,
        "errors": dict(state.errors),
        "in_flight": state.in_flight,
        "dropped": state.dropped,
        "p50": total.percentile(50),
        "p99": total.percentile(99),
        "fake_cpu": state.fake_cpu,
    }


async def _poll_fake(
    state: _Run, stop: asyncio.Event, session: aiohttp.ClientSession, base_url: str
) -> None:
    if not state.fake_seen:
        return
    last: dict[int, tuple[float, float]] = {}
    while not stop.is_set():
        snap = await _metrics(session, base_url)
        if snap is not None:
            shares = []
            for worker in snap.get("workers", ()):
                pid, cpu, wall = worker["pid"], worker["cpu"], worker["wall"]
                if pid in last and wall > last[pid][1]:
                    shares.append((cpu - last[pid][0]) / (wall - last[pid][1]))
                last[pid] = (cpu, wall)
            if shares:
                state.fake_cpu = max(shares)
        await asyncio.sleep(0.5)


def _result(
    test: LoadTest,
    state: _Run,
    base_url: str,
    wall_start: datetime,
    duration: float,
    before: Any,
    after: Any,
    notes: list[str],
) -> LoadResult:
    ledger = None
    fake = None
    sends = test.custom is None and "send" in test.operations
    if before is not None and after is not None:
        b, a = before.get("ledger", {}), after.get("ledger", {})
        if sends and test.provider != "openapi_pec":
            ledger = LedgerCheck(
                accepted_by_fake=a.get("sends", 0) - b.get("sends", 0),
                confirmed_by_client=state.sends_ok,
                unknown=state.sends_unknown,
                duplicates=a.get("duplicates", 0) - b.get("duplicates", 0),
            )
        fake = {
            "requests": after.get("requests", 0) - before.get("requests", 0),
            "rate_limited": after.get("rate_limited", 0) - before.get("rate_limited", 0),
            "faults": after.get("faults", {}),
            "workers": len(after.get("workers", ())),
            "rss_kib": [w.get("rss_kib", 0) for w in after.get("workers", ())],
            "ledger": a,
            "latency_max": after.get("latency", {}).get("max"),
        }
    elif not state.fake_seen:
        notes.append("the target has no /_fake/metrics: no ledger check, no bottleneck check")
    bottleneck = detect_bottleneck(state.series)
    if state.fake_seen and not bottleneck.checked:
        bottleneck = attrs.evolve(
            bottleneck,
            note="the run was too short to sample the fake's CPU (it has metrics; run 2 s or more)",
        )
    if _generator_lagging(test, state):
        bottleneck = attrs.evolve(bottleneck, generator=True, lagging=True)
    elapsed = state.last_done - state.t0_pc if state.completed else None
    load = test.load
    model: dict[str, Any] = {"kind": type(load).__name__, **attrs.asdict(load)}
    if isinstance(load, RampingRate):
        model["stages"] = [list(s) for s in load.stages]
    per_op = {
        name: {
            "count": s["count"],
            "ok": s["ok"],
            "errors": dict(s["errors"]),
            "total": s["hist"].summary(),
        }
        for name, s in state.per_op.items()
    }
    parts = urlsplit(base_url)
    return LoadResult(
        label=test.label,
        provider=test.provider,
        operations=dict(test.operations) if test.custom is None else {"custom": 1.0},
        model=model,
        shape=test.shape,
        pacing=test.pacing,
        target=f"{parts.scheme}://{parts.hostname}:{parts.port}"
        + (" (embedded fake)" if test.base_url is None else ""),
        started_at=wall_start.isoformat(timespec="seconds"),
        duration=round(duration, 3),
        offered=state.offered,
        started=state.started,
        completed=state.completed,
        ok=state.ok,
        dropped=state.dropped,
        cancelled=state.cancelled,
        errors={k: state.errors[k] for k in ERROR_CLASSES if state.errors[k]},
        latency={kind: h.summary() for kind, h in state.hists.items()},
        histograms={kind: h.encode() for kind, h in state.hists.items()},
        per_operation=per_op,
        ledger=ledger,
        fake=fake,
        bottleneck=bottleneck,
        series=tuple(state.series),
        notes=tuple(notes),
        elapsed=None if elapsed is None else round(max(elapsed, 0.0), 3),
        partial=state.partial,
    )


def _generator_lagging(test: LoadTest, state: _Run) -> bool:
    """Whether the generator fell behind (open model).

    It did when it dropped arrivals at its in-flight cap, or started calls later than
    ``LAG_ARRIVALS`` inter-arrival times (and ``LAG_FLOOR``) at the 99th percentile.
    """
    if isinstance(test.load, ClosedUsers) or test.shape == "bulk":
        return False
    if state.dropped or state.abandoned:
        return True
    lag = state.hists["start_lag"].percentile(99)
    if lag is None or not state.offered:
        return False
    span = max(min(state.last_done, state.t0_pc + test.stop_after) - state.t0_pc, 1e-3)
    inter_arrival = span / state.offered
    return lag > max(LAG_FLOOR, LAG_ARRIVALS * inter_arrival)
