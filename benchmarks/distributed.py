"""Many workers, one cap: 4 processes sharing one scope through the Redis gate vs 4 own gates.

Question (issue 12, point 6): a FastAPI app under gunicorn, or four bulk workers, share one
LegallyMail egress IP (10 requests per minute). Each process with its own in-process gate
keeps 10 per minute, so together they send 4 times the cap. Does the Redis gate keep the
four of them under the cap together, how close to the cap does it run, and what does it
cost per acquisition?

Method: scaled time (a "minute" lasts --per seconds), one fake LegallyMail in this process
with the cap enforced (--requests per --per seconds, sliding window, per IP: every worker
is on 127.0.0.1), a private redis-server (tests/servers.py) unless --redis-url names one.
--workers processes start together (each prints "ready" after its imports; the clock starts
at "go") and each sends --sends e-mails one after the other (one lane each, subjects
``w<i>-<seq>``), paced at the cap (``RateLimit(requests, per)``, the SDK's default slack),
retrying 429s. Run twice, side by side: every worker through ``RedisPacing`` (one shared
schedule), then every worker with ``LocalPacing`` (its own in-process gate: the contrast).

Measured, from the fake (its clock, its ledger):
* over-limit responses: the 429s the fake answered (Redis gate: must be 0);
* the most requests seen in any window of --per seconds, refused ones included (cap:
  --requests);
* achieved/cap = accepted x (T/N) / (last accepted arrival - first + T/N);
* order violations per lane: a worker's e-mails accepted out of their order (must be 0);
and, from the workers, the gate's own latency per acquisition: after its sends each worker
takes 300 slots of a scope with no effective cap (1,000,000 per second) and times
acquire + depart + sent (p50/p99, all workers together): the Redis round trips (or the
in-process bookkeeping) a paced request pays on top of its wait.

The drain of one job by 1, 2 and 4 workers across two lanes is `drain_by_workers` below
(benchmarks/drain.py, by the worker engineer; ``--drain`` runs it after this table).

Run: python benchmarks/distributed.py [--workers 4] [--sends 15] [--per 1.0] [--drain]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from certmail_async import (
    CertmailError,
    LegallyMailClient,
    LocalPacing,
    PacingBackend,
    RateLimit,
    RedisPacing,
    RetryPolicy,
)
from certmail_async.testing import run_fake

ROOT = Path(__file__).resolve().parent.parent
LATENCY_SAMPLES = 300
TOKEN = "fake-legallymail-token"


# -- a worker process ---------------------------------------------------------------------


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One worker: its sends in order, then the gate latency samples; a JSON report."""
    backend: PacingBackend = (
        RedisPacing(args.pacing, max_outage=30.0) if args.pacing != "local" else LocalPacing()
    )
    rate = RateLimit(requests=args.requests, per=args.per)
    errors: list[str] = []
    async with LegallyMailClient(
        token=TOKEN,
        base_url=args.fake,
        rate_limit=rate,
        pacing=backend,
        max_retries=50,
        retry_policy=RetryPolicy(base=0.0),
    ) as client:
        client = client.with_options(max_wait=None)
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            return {"errors": ["no go"]}
        for seq in range(args.sends):
            try:
                await client.emails.send(
                    recipients=[f"w{args.index}.{seq}@example.com"],
                    subject=f"w{args.index}-{seq}",
                    html="<p>bench</p>",
                )
            except CertmailError as error:
                errors.append(f"{type(error).__name__}: {error}")
        refusals = client.pacing.refusals if client.pacing is not None else 0
    # The gate's own cost: a scope whose cap never makes anyone wait.
    free = RateLimit(requests=1_000_000, per=1.0, slack=0)
    gate = backend.gate(("latency", args.index), free)
    latencies: list[float] = []
    for _ in range(LATENCY_SAMPLES):
        started = time.perf_counter()
        await gate.acquire()
        at = await gate.depart(stamped=True)
        gate.sent(at)
        latencies.append(time.perf_counter() - started)
    if isinstance(backend, RedisPacing):
        await backend.aclose()
    return {"errors": errors, "latencies": latencies, "refusals": refusals}


# -- the comparison -------------------------------------------------------------------------


def _spawn(args: argparse.Namespace, fake_url: str, pacing: str, index: int) -> Any:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "worker", "--fake", fake_url,
         "--pacing", pacing, "--index", str(index), "--sends", str(args.sends),
         "--per", str(args.per), "--requests", str(args.requests)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


async def _run_workers(procs: list[Any]) -> tuple[list[dict[str, Any]], float]:
    def ready(proc: Any) -> str:
        return str(proc.stdout.readline().strip())

    try:
        said = await asyncio.gather(*(asyncio.to_thread(ready, p) for p in procs))
        if said != ["ready"] * len(procs):
            raise RuntimeError(f"workers did not start: {said} {procs[0].stderr.read()[-2000:]}")
        started = time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = await asyncio.gather(*(asyncio.to_thread(p.communicate, timeout=600) for p in procs))
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    reports = []
    for p, (out, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"a worker failed ({p.returncode}):\n{err[-3000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports, elapsed


def most_in_window(times: list[float], window: float) -> int:
    """The most arrivals in any window of ``window`` seconds (half-open, sliding)."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def compare(args: argparse.Namespace, redis_url: str, flush: Any) -> dict[str, Any]:
    """Both setups, one after the other, against a fresh fake each."""
    cap = RateLimit(requests=args.requests, per=args.per, margin=0)
    results: dict[str, Any] = {}
    for name, pacing in (("redis", redis_url), ("local", "local")):
        flush()
        async with run_fake("legallymail", rate=cap, credits=1_000_000) as fake:
            procs = [_spawn(args, fake.url, pacing, i) for i in range(args.workers)]
            reports, elapsed = await _run_workers(procs)
            state = fake.state
            assert state.cap is not None
            admitted = sorted(t for times in state.cap.admitted.values() for t in times)
            seen = [r.at for r in state.requests if r.method == "POST"]
            spacing = cap.per / cap.requests
            span = admitted[-1] - admitted[0] + spacing
            lanes: dict[str, list[int]] = {}
            for record in state.ledger:
                lane, seq = record.subject.rsplit("-", 1)
                lanes.setdefault(lane, []).append(int(seq))
            violations = {
                lane: sum(1 for a, b in itertools.pairwise(seqs) if b < a)
                for lane, seqs in sorted(lanes.items())
            }
            latencies = [x for r in reports for x in r["latencies"]]
            results[name] = {
                "sent": len(state.ledger),
                "expected": args.workers * args.sends,
                "errors": sum(len(r["errors"]) for r in reports),
                "rejected": state.cap.rejected,
                "max_window": most_in_window(seen, args.per),
                "ratio": len(admitted) * spacing / span,
                "violations": violations,
                "p50": _percentile(latencies, 0.50) * 1000,
                "p99": _percentile(latencies, 0.99) * 1000,
                "mean": statistics.fmean(latencies) * 1000,
                "elapsed": elapsed,
                "refusals": [r["refusals"] for r in reports],
            }
    return results


def print_table(args: argparse.Namespace, results: dict[str, Any], console: Console) -> None:
    redis, local = results["redis"], results["local"]
    table = Table(
        title=f"{args.workers} worker processes x {args.sends} LegallyMail sends, one egress IP; "
        f"cap {args.requests} per {args.per:g} s (sliding window, enforced by the fake)"
    )
    table.add_column("measure")
    table.add_column("Redis gate (shared)", justify="right")
    table.add_column("in-process gates (contrast)", justify="right")
    table.add_column("target", justify="right")

    def row(label: str, key: str, fmt: str, target: str) -> None:
        table.add_row(label, format(redis[key], fmt), format(local[key], fmt), target)

    table.add_row(
        "accepted sends", f"{redis['sent']}/{redis['expected']}",
        f"{local['sent']}/{local['expected']}", "all",
    )  # fmt: skip
    row("over-limit responses (429)", "rejected", "d", "0")
    row(f"most requests in any {args.per:g} s window", "max_window", "d", f"<= {args.requests}")
    row("achieved/cap", "ratio", ".3f", ">= 0.95")

    def lanes(r: dict[str, Any]) -> str:
        return " ".join(str(v) for v in r["violations"].values())

    table.add_row("order violations per lane", lanes(redis), lanes(local), "0 each")
    row("gate latency per acquisition p50 (ms)", "p50", ".2f", "")
    row("gate latency per acquisition p99 (ms)", "p99", ".2f", "")
    row("wall time (s)", "elapsed", ".2f", "")
    table.add_row(
        "429s seen per worker (client)",
        " ".join(map(str, redis["refusals"])), " ".join(map(str, local["refusals"])), "0",
    )  # fmt: skip
    console.print(table)


# -- the drain of one job by 1, 2 and 4 workers ------------------------------------------------
#
# WORKER ENGINEER'S SECTION. "The drain of one job by 1, 2 and 4 workers across two lanes
# (shows that workers add availability, and throughput only when scopes differ)" is
# measured by benchmarks/drain.py (BulkDispatcher.work() processes on a shared journal,
# paced through this same Redis gate). This function runs it, so one command gives both
# tables; its options are drain.py's own.


def drain_by_workers(extra: list[str], console: Console) -> int:
    """Run benchmarks/drain.py (1, 2 and 4 workers over two lanes) and show its output."""
    script = ROOT / "benchmarks" / "drain.py"
    if not script.is_file():
        console.print("[yellow]benchmarks/drain.py is not there yet: no drain table[/]")
        return 0
    done = subprocess.run([sys.executable, str(script), *extra], cwd=ROOT, check=False)
    return done.returncode


# -- entry point ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    w = sub.add_parser("worker", help="(internal) one worker process")
    w.add_argument("--fake", required=True)
    w.add_argument("--pacing", required=True, help="a redis:// URL, or 'local'")
    w.add_argument("--index", type=int, required=True)
    for p in (parser, w):
        p.add_argument("--sends", type=int, default=15, help="sends per worker")
        p.add_argument("--per", type=float, default=1.0, help="the scaled 'minute' (seconds)")
        p.add_argument("--requests", type=int, default=10, help="the cap's N")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--redis-url", help="use this Redis (its db is FLUSHED) instead of a private one"
    )
    parser.add_argument("--drain", action="store_true", help="then run benchmarks/drain.py")
    args, extra = parser.parse_known_args()
    if args.command == "worker":
        print(json.dumps(asyncio.run(worker(args))), flush=True)
        return 0
    console = Console()
    server = None
    if args.redis_url:
        import redis

        url = args.redis_url

        def flush() -> None:
            redis.Redis.from_url(url).flushdb()
    else:
        sys.path.insert(0, str(ROOT))
        from tests.servers import RedisServer, find_redis

        binary = find_redis()
        if binary is None:
            console.print("[red]no redis-server on PATH: install it or pass --redis-url[/]")
            return 2
        server = RedisServer(binary)
        server.start()  # from the main thread: the server lives as long as this process
        url = server.url

        def flush() -> None:
            assert server is not None
            server.command("FLUSHALL")

    try:
        results = asyncio.run(compare(args, url, flush))
    finally:
        if server is not None:
            server.cleanup()
    print_table(args, results, console)
    failed = (
        results["redis"]["rejected"] != 0
        or results["redis"]["ratio"] < 0.95
        or any(results["redis"]["violations"].values())
        or results["redis"]["sent"] != results["redis"]["expected"]
    )
    if failed:
        console.print("[red]the Redis gate missed a target[/]")
    if args.drain:
        drain_by_workers(extra, console)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
