# The fakes as load targets
# -------------------------
#
# A fake that stands in for a provider in a load test must not become the thing measured.
# This module holds what the fakes need for that, apart from the provider logic:
#
# * ``Latency``: how long the "server" takes, drawn per request: fixed, uniform, or
#   long-tailed (log-normal given its median and p99, cut at ``cap`` so every wait is
#   bounded).
# * ``FaultRates``: random failures by kind and probability (500, 502, 503, 429, a reset,
#   a hang past the client's timeout, or a "lost answer": the send is recorded, then 500).
# * ``ServerMetrics``: counters the ``/_fake/metrics`` route reports (requests by route and
#   status, 429s, faults, a server-side latency histogram, the process's CPU time and RSS),
#   so a load test can check its counts and see whether the fake ran out of CPU.
# * ``LedgerSummary``: what a duplicate check needs of every accepted send (one 8-byte digest
#   of recipients, subject and body, per-recipient counts) without keeping the bodies; the
#   full ledger can then be cut to its latest entries (``ledger_keep``) for soak tests, and
#   optionally spilled to a JSON-lines file.
# * ``serve_workers``: several processes on one port (``SO_REUSEPORT``: the kernel spreads
#   connections over them) that merge their metrics through a shared folder.
"""Latency models, fault rates, metrics and multi-process serving for the fakes."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import json
import math
import os
import pickle
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import IO, Any, Literal, get_args

import attrs

from .._pacing import RateLimit

__all__ = [
    "FAULT_KINDS",
    "METRICS_PATH",
    "OPENAPI_TOKEN",
    "FaultKind",
    "FaultRates",
    "Latency",
    "LedgerSummary",
    "ServerMetrics",
    "fake_options",
    "merge_snapshots",
    "parse_duration",
    "serve_workers",
]

#: The token ``fake_options`` gives the openapi.it fake (the same in every worker process).
OPENAPI_TOKEN = "fake-openapi-token"

#: The route every fake answers with its metrics (never capped, faulted nor recorded).
METRICS_PATH = "/_fake/metrics"

FaultKind = Literal["500", "502", "503", "429", "reset", "timeout", "lost"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s)?\Z", re.ASCII)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}
#: A normal distribution's 99th percentile, in standard deviations.
_Z99 = 2.3263478740408408


def parse_duration(text: str) -> float:
    """Seconds from ``"250us"``, ``"5ms"``, ``"1.5s"`` or a bare number of seconds.

    Example:
        >>> parse_duration("5ms"), parse_duration("2")
        (0.005, 2.0)
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 250us, 5ms, 1.5s)")
    return float(match.group(1)) * _UNITS[match.group(2)]


@attrs.frozen(kw_only=True)
class Latency:
    """Server time added to each request: fixed, uniform or long-tailed (log-normal).

    ``longtail`` takes the median and the 99th percentile; draws are cut at ``cap``
    (default ten times the p99) so no request waits without bound.

    Example:
        >>> Latency.parse("fixed:5ms").sample(random.Random(0))
        0.005
        >>> tail = Latency.parse("longtail:2ms:50ms")
        >>> draws = sorted(tail.sample(random.Random(i)) for i in range(2000))
        >>> 0.0015 < draws[1000] < 0.0027 and draws[-1] <= tail.cap
        True
    """

    kind: Literal["fixed", "uniform", "longtail"]
    low: float = 0.0
    high: float = 0.0
    cap: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Latency:
        """Always ``seconds``."""
        return cls(kind="fixed", low=seconds, high=seconds, cap=seconds)

    @classmethod
    def uniform(cls, low: float, high: float) -> Latency:
        """Uniform between ``low`` and ``high``."""
        if not 0 <= low <= high:
            raise ValueError("uniform latency needs 0 <= low <= high")
        return cls(kind="uniform", low=low, high=high, cap=high)

    @classmethod
    def longtail(cls, median: float, p99: float, cap: float | None = None) -> Latency:
        """Log-normal with this median and 99th percentile, cut at ``cap``."""
        if not 0 < median <= p99:
            raise ValueError("long-tailed latency needs 0 < median <= p99")
        return cls(kind="longtail", low=median, high=p99, cap=cap if cap else 10 * p99)

    @classmethod
    def parse(cls, spec: str) -> Latency:
        """``fixed:5ms``, ``uniform:1ms:20ms`` or ``longtail:5ms:200ms[:2s]`` (median:p99:cap)."""
        kind, *args = spec.split(":")
        values = [parse_duration(a) for a in args]
        if kind == "fixed" and len(values) == 1:
            return cls.fixed(values[0])
        if kind == "uniform" and len(values) == 2:
            return cls.uniform(values[0], values[1])
        if kind == "longtail" and len(values) in (2, 3):
            return cls.longtail(values[0], values[1], values[2] if len(values) == 3 else None)
        raise ValueError(
            f"not a latency: {spec!r} (fixed:5ms, uniform:1ms:20ms or longtail:5ms:200ms)"
        )

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds."""
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        sigma = math.log(self.high / self.low) / _Z99
        return min(self.cap, rng.lognormvariate(math.log(self.low), sigma))


@attrs.frozen(kw_only=True)
class FaultRates:
    """Random faults by kind: the probability that a request gets each one.

    Kinds: ``500``, ``502``, ``503``, ``429`` (an error answer), ``reset`` (the connection
    is closed without an answer), ``timeout`` (the answer comes after ``hang`` seconds, past
    a client's timeout; the request is then handled) and ``lost`` (the request is handled,
    a send IS recorded, then the answer is a 500: the unknown send). ``routes`` limits them
    to some ``(METHOD, route)`` pairs (None: every route).

    Example:
        >>> rates = FaultRates.parse(["500=0.01", "lost=0.001"])
        >>> rates.rates["500"], rates.total
        (0.01, 0.011)
    """

    rates: Mapping[FaultKind, float] = attrs.field(factory=dict)
    hang: float = 30.0
    routes: frozenset[tuple[str, str]] | None = None

    def __attrs_post_init__(self) -> None:
        for kind, rate in self.rates.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
            if not 0 <= rate <= 1:
                raise ValueError(f"fault rate for {kind} must be from 0 to 1, got {rate!r}")
        if self.total > 1:
            raise ValueError("fault rates add up to more than 1")

    @classmethod
    def parse(cls, items: Iterable[str], *, hang: float = 30.0) -> FaultRates:
        """From ``KIND=RATE`` strings (``500=0.01``, ``reset=0.001``)."""
        rates: dict[FaultKind, float] = {}
        for item in items:
            kind, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"not KIND=RATE: {item!r}")
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
            rates[kind] = float(value)
        return cls(rates=rates, hang=hang)

    @property
    def total(self) -> float:
        """The probability of any fault."""
        return round(sum(self.rates.values()), 12)

    def pick(self, rng: random.Random, method: str, route: str) -> FaultKind | None:
        """The fault for one request, or None."""
        if self.routes is not None and (method, route) not in self.routes:
            return None
        draw = rng.random()
        for kind, rate in self.rates.items():
            if draw < rate:
                return kind
            draw -= rate
        return None


# Server-side latency buckets (upper bounds in seconds): 1-2-5 steps from 50 us to 60 s.
_BUCKETS: tuple[float, ...] = (
    *(m * 10.0**e for e in range(-5, 2) for m in (1, 2, 5) if 5e-5 <= m * 10.0**e <= 60),
    60.0,
)


def _rss_kib() -> int:
    """The process's resident set size now, in KiB (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * (os.sysconf("SC_PAGE_SIZE") // 1024)


class ServerMetrics:
    """What one fake process counted: requests, 429s, faults, latency, CPU and memory.

    Example:
        >>> m = ServerMetrics()
        >>> m.record("POST", "/send", 201, 0.002)
        >>> m.record("POST", "/send", 429, 0.0001)
        >>> snap = m.snapshot()
        >>> snap["requests"], snap["rate_limited"], snap["routes"]["POST /send"]
        (2, 1, {'201': 1, '429': 1})
    """

    def __init__(self) -> None:
        self.requests = 0
        self.rate_limited = 0
        self.routes: dict[str, dict[str, int]] = {}
        self.faults: dict[str, int] = {}
        self.buckets = [0] * (len(_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self.started = time.monotonic()

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered (or dropped: status 0) request."""
        self.requests += 1
        if status == 429:
            self.rate_limited += 1
        by_status = self.routes.setdefault(f"{method} {route}", {})
        key = str(status)
        by_status[key] = by_status.get(key, 0) + 1
        self.buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        self.latency_max = max(self.latency_max, seconds)

    def fault(self, kind: str) -> None:
        """Count one injected random fault."""
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        """A JSON-ready view (``extra``: the provider's ledger figures)."""
        return {
            "pid": os.getpid(),
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "routes": {k: dict(v) for k, v in self.routes.items()},
            "faults": dict(self.faults),
            "latency": {
                "bounds": list(_BUCKETS),
                "counts": list(self.buckets),
                "sum": self.latency_sum,
                "max": self.latency_max,
            },
            "cpu": time.process_time(),
            "wall": time.monotonic(),
            "uptime": time.monotonic() - self.started,
            "rss_kib": _rss_kib(),
            **extra,
        }


def merge_snapshots(snaps: list[dict[str, Any]]) -> dict[str, Any]:
    """One view over several worker processes' snapshots (counts added, CPU per worker).

    Example:
        >>> a = ServerMetrics(); a.record("GET", "/x", 200, 0.001)
        >>> b = ServerMetrics(); b.record("GET", "/x", 200, 0.003)
        >>> merged = merge_snapshots([a.snapshot(ledger={"sends": 1}),
        ...                           b.snapshot(ledger={"sends": 2})])
        >>> merged["requests"], merged["ledger"]["sends"], len(merged["workers"])
        (2, 3, 2)
    """
    out: dict[str, Any] = {"requests": 0, "rate_limited": 0, "routes": {}, "faults": {}}
    counts = [0] * (len(_BUCKETS) + 1)
    lat_sum, lat_max = 0.0, 0.0
    ledger: dict[str, Any] = {}
    workers = []
    for snap in snaps:
        out["requests"] += snap["requests"]
        out["rate_limited"] += snap["rate_limited"]
        for route, by_status in snap["routes"].items():
            into = out["routes"].setdefault(route, {})
            for status, n in by_status.items():
                into[status] = into.get(status, 0) + n
        for kind, n in snap["faults"].items():
            out["faults"][kind] = out["faults"].get(kind, 0) + n
        lat = snap["latency"]
        counts = [x + y for x, y in zip(counts, lat["counts"], strict=True)]
        lat_sum += lat["sum"]
        lat_max = max(lat_max, lat["max"])
        for key, value in snap.get("ledger", {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                ledger.setdefault(key, value)
            else:
                ledger[key] = ledger.get(key, 0) + value
        workers.append(
            {k: snap[k] for k in ("pid", "cpu", "wall", "uptime", "rss_kib", "requests")}
        )
    out["latency"] = {"bounds": list(_BUCKETS), "counts": counts, "sum": lat_sum, "max": lat_max}
    out["ledger"] = ledger
    out["workers"] = workers
    return out


def _digest(recipients: Iterable[str], subject: str, body: str) -> bytes:
    text = "\n".join(sorted(r.lower() for r in recipients)) + "\0" + subject + "\0" + body
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


class LedgerSummary:
    """Every accepted send, summarised: counts, per-recipient counts and duplicate digests.

    A send's digest covers its recipients, subject and body; two accepted sends with one
    digest are a duplicate (what the load test checks). Digests are remembered for the
    latest ``max_digests`` sends and recipients up to ``max_recipients`` addresses, so the
    memory stays bounded in a soak test. ``spill`` (a path) appends one JSON line per send
    (no body) for a post-mortem; ``digest_file`` appends the raw digests (8 bytes each) so
    several worker processes can be checked together.

    Example:
        >>> s = LedgerSummary()
        >>> _ = s.record(["a@x.it"], "hi", "body"), s.record(["A@x.it"], "hi", "body")
        >>> s.sends, s.duplicates, s.by_recipient["a@x.it"]
        (2, 1, 2)
    """

    def __init__(
        self,
        *,
        max_digests: int = 1_000_000,
        max_recipients: int = 100_000,
        spill: str | None = None,
        digest_file: str | None = None,
    ) -> None:
        self.sends = 0
        self.recipients = 0
        self.duplicates = 0
        self.by_recipient: dict[str, int] = {}
        self.recipients_truncated = False
        self.max_digests = max_digests
        self.max_recipients = max_recipients
        self._digests: OrderedDict[bytes, int] = OrderedDict()
        self._spill: IO[str] | None = open(spill, "a", encoding="utf-8") if spill else None  # noqa: SIM115
        self._digest_out: IO[bytes] | None = open(digest_file, "ab") if digest_file else None  # noqa: SIM115

    def record(
        self, recipients: Iterable[str], subject: str, body: str, *, ref: str = "", at: float = 0.0
    ) -> bytes:
        """Count one accepted send; returns its digest."""
        addresses = [r.lower() for r in recipients]
        digest = _digest(addresses, subject, body)
        self.sends += 1
        self.recipients += len(addresses)
        for address in addresses:
            if address in self.by_recipient:
                self.by_recipient[address] += 1
            elif len(self.by_recipient) < self.max_recipients:
                self.by_recipient[address] = 1
            else:
                self.recipients_truncated = True
        seen = self._digests.get(digest)
        if seen is not None:
            self.duplicates += 1
            self._digests[digest] = seen + 1
        else:
            self._digests[digest] = 1
            if len(self._digests) > self.max_digests:
                self._digests.popitem(last=False)
        if self._spill is not None:
            line = {"ref": ref, "at": at, "digest": digest.hex(), "recipients": addresses}
            self._spill.write(json.dumps({**line, "subject": subject}) + "\n")
        if self._digest_out is not None:
            self._digest_out.write(digest)
        return digest

    def flush(self) -> None:
        """Write buffered spill lines and digests out."""
        for out in (self._spill, self._digest_out):
            if out is not None:
                out.flush()

    def close(self) -> None:
        """Close the spill and digest files."""
        for out in (self._spill, self._digest_out):
            if out is not None:
                out.close()
        self._spill = self._digest_out = None

    def clear(self) -> None:
        """Forget everything counted (the files are kept)."""
        self.sends = self.recipients = self.duplicates = 0
        self.by_recipient.clear()
        self._digests.clear()
        self.recipients_truncated = False

    def stats(self) -> dict[str, Any]:
        """The figures the metrics route reports."""
        return {
            "sends": self.sends,
            "recipients": self.recipients,
            "duplicates": self.duplicates,
            "distinct_recipients": len(self.by_recipient),
        }


def count_duplicates(paths: Iterable[str]) -> tuple[int, int]:
    """``(sends, duplicates)`` over digest files written by several workers."""
    seen: set[bytes] = set()
    sends = duplicates = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
            data = f.read()
        for i in range(0, len(data) - len(data) % 8, 8):
            sends += 1
            digest = data[i : i + 8]
            if digest in seen:
                duplicates += 1
            else:
                seen.add(digest)
    return sends, duplicates


def fake_options(
    provider: str,
    *,
    cap: bool = True,
    time_scale: float = 1.0,
    ledger_keep: int | None = None,
    inbox_limit: int | None = None,
) -> dict[str, Any]:
    """Keyword configuration of a fake as ``certmail fake serve`` and ``loadtest`` build it.

    ``cap`` keeps (or drops) the provider's documented cap, scaled by ``time_scale``.

    Example:
        >>> fake_options("pecmassiva", time_scale=0.1)["send_rate"].per
        0.1
    """
    options: dict[str, Any] = {}
    if provider == "pecmassiva":
        options["send_rate"] = RateLimit(requests=1, per=time_scale, margin=0) if cap else None
        if inbox_limit is not None:
            options["inbox_limit"] = inbox_limit
    elif provider == "legallymail":
        options["rate"] = RateLimit(requests=10, per=60 * time_scale, margin=0) if cap else None
        options["credits"] = 10**9
    elif provider == "openapi_pec":
        options["token"] = OPENAPI_TOKEN
    else:
        raise ValueError(f"no fake for {provider!r}")
    if ledger_keep is not None:
        options["ledger_keep"] = ledger_keep
    return options


@attrs.frozen(kw_only=True)
class _WorkerConfig:
    provider: str
    options: dict[str, Any]
    host: str
    port: int
    index: int
    folder: str
    latency: Latency | None
    fault_rates: FaultRates | None


_WORKER_COMMAND = "from certmail_async.testing._load import _worker_entry; _worker_entry()"


def _worker_entry() -> None:
    """One worker process, started by :func:`serve_workers`.

    Its configuration comes pickled on stdin; its one line, "ready", goes to stdout.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with SIGTERM
    config = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - our own parent wrote it
    asyncio.run(_worker(config))


async def _worker(config: _WorkerConfig) -> None:
    from aiohttp import web

    from . import FAKES

    fake = FAKES[config.provider](**config.options)
    fake.worker_folder = config.folder
    fake.worker_index = config.index
    fake.latency = config.latency
    fake.fault_rates = config.fault_rates
    summary = getattr(fake, "ledger_summary", None)
    if isinstance(summary, LedgerSummary):
        summary.close()
        fake.ledger_summary = LedgerSummary(  # type: ignore[attr-defined]
            digest_file=os.path.join(config.folder, f"digests-{config.index}.bin")
        )
    runner = web.AppRunner(fake.build_app(), access_log=None, handle_signals=False)
    await runner.setup()
    # A deep accept queue: a load test's connection bursts must not meet SYN retries.
    site = web.TCPSite(runner, config.host, config.port, reuse_port=True, backlog=4096)
    await site.start()
    print("ready", flush=True)
    try:
        while True:
            fake.write_worker_snapshot()
            await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()


@attrs.frozen(kw_only=True)
class WorkerPool:
    """Fake worker processes sharing one loopback port."""

    url: str
    pids: tuple[int, ...]
    folder: str


@contextlib.asynccontextmanager
async def serve_workers(
    provider: str,
    *,
    workers: int,
    options: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: Latency | None = None,
    fault_rates: FaultRates | None = None,
    ready_timeout: float = 60.0,
) -> AsyncIterator[WorkerPool]:
    """Serve ``provider`` from ``workers`` processes on one port (``SO_REUSEPORT``).

    Each process keeps its own state; ``/_fake/metrics`` (from any of them) adds all of
    them up through a shared folder, refreshed every 0.1 s. A cap is counted per process,
    so callers keep caps off with more than one worker.
    """
    if workers < 1:
        raise ValueError("workers must be >= 1")
    # A bound socket with SO_REUSEPORT holds the port (and picks it when port is 0); it
    # never listens, so the kernel hands connections only to the workers.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    bound = holder.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="certmail-fake-")
    procs: list[asyncio.subprocess.Process] = []
    try:
        for i in range(workers):
            config = _WorkerConfig(
                provider=provider, options=dict(options or {}), host=host, port=bound,
                index=i, folder=folder, latency=latency, fault_rates=fault_rates,
            )  # fmt: skip
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _WORKER_COMMAND,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            procs.append(proc)
            assert proc.stdin is not None  # noqa: S101 - piped just above
            proc.stdin.write(pickle.dumps(config))
            proc.stdin.close()
        for proc in procs:
            assert proc.stdout is not None  # noqa: S101 - piped just above
            line = await asyncio.wait_for(proc.stdout.readline(), ready_timeout)
            if line.strip() != b"ready":
                raise RuntimeError("a fake worker failed to start (see its error above)")
        yield WorkerPool(
            url=f"http://{host}:{bound}", pids=tuple(p.pid for p in procs), folder=folder
        )
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        holder.close()
        shutil.rmtree(folder, ignore_errors=True)
