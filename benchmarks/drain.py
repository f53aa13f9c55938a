"""What do more workers buy when they drain one job? Availability always; speed only when
the lanes are different pacing scopes.

Question (issue 12, point 6): one job drained by 1, 2 and 4 `BulkDispatcher.work()`
processes sharing a PostgreSQL journal, each lane owned by one worker at a time through its
lease, every client paced through one Redis gate. Does throughput grow with workers, and
what happens when a worker dies?

Method: scaled time (a provider "second" lasts --scale seconds), the fakes in this process
with their caps enforced (PEC Massiva 1 send per second, LegallyMail 10 requests per minute
per IP, sliding windows), a private PostgreSQL and Redis (tests/servers.py) unless
--journal / --pacing-url name yours. Two kinds of job, two lanes each:

* "two scopes": one job, a PEC Massiva lane and a LegallyMail lane, sized to take about the
  same time at their caps;
* "one scope": two jobs with a LegallyMail lane each, both paced by the one LegallyMail
  scope (one egress IP), so both lanes share one cap.

Workers start together (each prints "ready" after its imports; the clock starts at "go");
each names its own host in its leases, as if on its own machine.
Measured per run: the drain time ("go" -> the last send the fakes accepted, on their clock),
sends per scaled second,
speed-up over one worker, 429s from the fakes (over the cap: must be 0), duplicates and
order violations per lane (from the fakes' ledgers: must be 0). Then the same with one
worker SIGKILLed once 30% of the sends were accepted: with one worker the job stalls
(pending until a worker is started again); with more, the lane is taken over once its
lease (--ttl scaled seconds) lapsed and the job drains, at the cost shown.

Run: python benchmarks/drain.py [--scale 0.05] [--ttl 1.0] [--sends 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from certmail_async import (  # noqa: E402
    BulkDispatcher,
    LegallyMailClient,
    OutgoingMessage,
    PecMassivaClient,
    RateLimit,
    RetryPolicy,
)
from certmail_async.testing import RunningFake, run_fake  # noqa: E402

PM, LM = "pecmassiva", "legallymail"


# -- the worker process -------------------------------------------------------------------


def clients(args: argparse.Namespace, pacing: Any) -> list[PecMassivaClient | LegallyMailClient]:
    """The SDK's clients against the fakes at the scaled documented caps (default slack)."""
    fast = RetryPolicy(base=0.0)
    return [
        PecMassivaClient(
            token="fake-pecmassiva-token", username="box@pecmassiva.com",
            password="fake-mailbox-password", base_url=args.pm_url, retry_policy=fast,
            rate_limit=RateLimit(requests=1, per=args.scale), pacing=pacing, max_retries=20,
        ),
        LegallyMailClient(
            token="fake-legallymail-token", base_url=args.lm_url, retry_policy=fast,
            rate_limit=RateLimit(requests=10, per=60 * args.scale), pacing=pacing,
            max_retries=20,
        ),
    ]  # fmt: skip


def pretend_host(name: str) -> None:
    """Name this worker's host ``name`` in its leases, as if each worker ran on its own
    machine: a dead worker's lane then waits for its lease to lapse (on one host a dead pid
    is seen at once)."""
    from certmail_async.bulk import _journal, _journal_postgres, _journal_sqlite

    def host() -> str:
        return name

    _journal.this_host = host  # type: ignore[assignment]
    _journal_sqlite.this_host = host  # type: ignore[assignment]
    _journal_postgres._this_host = host  # type: ignore[assignment]


async def worker(args: argparse.Namespace) -> None:
    """One worker: ready, wait for go, work until no lane has work, print its counts."""
    from certmail_async import RedisPacing

    pretend_host(args.host)

    pacing = RedisPacing(args.pacing_url)
    used = clients(args, pacing)
    counts: Counter[str] = Counter()
    async with BulkDispatcher(clients=used, journal=args.journal, lease_ttl=args.ttl) as d:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        async for outcome in d.work(poll_interval=args.ttl / 10):
            counts[f"{outcome.provider}:{outcome.status.value}"] += 1
    for client in used:
        await client.aclose()
    await pacing.aclose()
    print(json.dumps(counts), flush=True)


# -- the driver ---------------------------------------------------------------------------


def pm_message(job: str, i: int) -> OutgoingMessage:
    return OutgoingMessage(provider=PM, recipients=[f"{job}-p{i}@pec.example.it"],
                           subject=f"Avviso {i}", body=f"<p>{i}</p>")  # fmt: skip


def lm_message(job: str, i: int) -> OutgoingMessage:
    return OutgoingMessage(
        provider=LM, recipients=[f"{job}-l{i}-{j}@example.com" for j in range(10)],
        subject=f"Notice {i}", body=f"<p>{i}</p>",
    )  # fmt: skip


def jobs(kind: str, sends: int) -> dict[str, list[OutgoingMessage]]:
    """The jobs of a run: two lanes either way (see the module docstring)."""
    lm_sends = max(1, sends // 6)  # one LegallyMail send per 6 s, one PEC Massiva per 1 s
    if kind == "two scopes":
        return {"job": [pm_message("job", i) for i in range(sends)]
                + [lm_message("job", i) for i in range(lm_sends)]}  # fmt: skip
    return {f"job-{k}": [lm_message(f"job-{k}", i) for i in range(lm_sends)] for k in "ab"}


_ADDRESS = re.compile(r"(?P<job>.+)-(?P<kind>[pl])(?P<n>[0-9]+)(?:-[0-9]+)?@", re.ASCII)


def ledger(pm: RunningFake, lm: RunningFake) -> dict[str, list[int]]:
    """Each lane's sends as accepted, in arrival order (the message number of each)."""
    lanes: dict[str, list[int]] = {}
    firsts = [s.recipients[0] for s in pm.state.ledger]
    firsts += [e.recipients[0].email for e in lm.state.ledger]
    for address in firsts:
        match = _ADDRESS.match(address)
        assert match is not None, address
        lanes.setdefault(f"{match['job']}:{match['kind']}", []).append(int(match["n"]))
    return lanes


def order_violations(lanes: dict[str, list[int]]) -> int:
    """Sends that arrived after a later send of their lane."""
    return sum(sum(1 for a, b in itertools.pairwise(sends) if b < a) for sends in lanes.values())


async def start_worker(args: argparse.Namespace, pm: RunningFake, lm: RunningFake,
                       journal: str, host: str) -> asyncio.subprocess.Process:  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--as-worker", "--host", host, "--journal", journal,
        "--pm-url", pm.url,
        "--lm-url", lm.url, "--pacing-url", args.pacing_url, "--scale", str(args.scale),
        "--ttl", str(args.ttl), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert line == b"ready\n", line
    return proc


async def holder_pid(journal: str) -> int | None:
    """The pid of a worker that holds a lane now (the one to kill)."""
    from certmail_async.bulk import PostgresJournal

    store = PostgresJournal(journal)
    try:
        for state in await store.lanes():
            if state.live and state.holder is not None:
                return state.holder.pid
    finally:
        await store.aclose()
    return None


async def one_run(args: argparse.Namespace, kind: str, workers: int, kill: bool) -> dict[str, Any]:
    """Enqueue, start ``workers`` together, optionally kill one at 30%, measure the drain."""
    schema = f"drain_{uuid.uuid4().hex[:10]}"
    journal = f"{args.journal}{'&' if '?' in args.journal else '?'}schema={schema}"
    pm_cap = RateLimit(requests=1, per=args.scale, margin=0)
    lm_cap = RateLimit(requests=10, per=60 * args.scale, margin=0)
    async with run_fake(PM, send_rate=pm_cap) as pm, run_fake(LM, rate=lm_cap) as lm:
        planned = jobs(kind, args.sends)
        total = sum(len(m) for m in planned.values())  # one send per message here
        setup = [PecMassivaClient(token="t", username="box@pecmassiva.com", password="p"),
                 LegallyMailClient(token="t")]  # fmt: skip
        async with BulkDispatcher(clients=setup, journal=journal) as d:
            for job, messages in planned.items():
                await d.enqueue(job, messages)
        for client in setup:
            await client.aclose()
        procs = [await start_worker(args, pm, lm, journal, f"host-{i}") for i in range(workers)]
        started = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        killed = False
        if kill:  # poll the fakes' ledgers (bounded) until 30% of the sends arrived
            for _ in range(60_000):
                if len(pm.state.ledger) + len(lm.state.ledger) >= 0.3 * total:
                    break
                await asyncio.sleep(0.005)
            pid = await holder_pid(journal)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed = True
        waits = [asyncio.wait_for(p.communicate(), args.ttl * 4 + total * args.scale * 12)
                 for p in procs]  # fmt: skip
        results = await asyncio.gather(*waits, return_exceptions=True)
        stalled = any(isinstance(r, TimeoutError) for r in results)
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        # Drain time on the fakes' clock (time.monotonic here): "go" -> last accepted send,
        # so the workers' exit (closing pools) is not counted.
        arrivals = [sent.at for sent in pm.state.ledger] + [e.at for e in lm.state.ledger]
        elapsed = max(arrivals, default=started) - started
        spans = {  # per provider: first and last accepted send after "go", mean spacing
            name: (
                round(min(times) - started, 2), round(max(times) - started, 2),
                round((max(times) - min(times)) / max(len(times) - 1, 1) / args.scale, 2),
            )
            for name, times in ((PM, [s.at for s in pm.state.ledger]),
                                (LM, [e.at for e in lm.state.ledger]))
            if times
        }  # fmt: skip
        lanes = ledger(pm, lm)
        seen: Counter[str] = Counter()
        for sent in pm.state.ledger:
            seen.update(sent.recipients)
        for email in lm.state.ledger:
            seen.update(r.email for r in email.recipients)
        accepted = len(pm.state.ledger) + len(lm.state.ledger)
        over_pm = pm.state.count("POST", "/send", status=429)
        over_lm = lm.state.count("POST", "/api/send", status=429)
        over = over_pm + over_lm
        left = await states(journal, planned)
    return {
        "elapsed": elapsed, "accepted": accepted, "total": total, "over": over,
        "over_by": f"{PM} {over_pm}, {LM} {over_lm}", "spans": spans,
        "duplicates": sum(1 for n in seen.values() if n > 1), "killed": killed,
        "order": order_violations(lanes), "pending": left["pending"] + left["in_flight"],
        "unknown": left["unknown"], "stalled": stalled,
    }  # fmt: skip


async def states(journal: str, planned: dict[str, list[OutgoingMessage]]) -> Counter[str]:
    """Chunks per state over the run's jobs, from the journal."""
    from certmail_async.bulk import PostgresJournal

    store = PostgresJournal(journal)
    counted: Counter[str] = Counter()
    try:
        for job in planned:
            counted.update((await store.counts(job))[0])
    finally:
        await store.aclose()
    return counted


@contextlib.contextmanager
def servers(args: argparse.Namespace) -> Any:
    """A private PostgreSQL and Redis (tests/servers.py) unless the caller named its own."""
    started: list[Any] = []
    try:
        if not args.journal or not args.pacing_url:
            from tests.servers import PostgresServer, RedisServer, find_postgres, find_redis

            if not args.journal:
                found = find_postgres()
                if found is None:
                    raise SystemExit("needs PostgreSQL (postgres, initdb) or --journal URL")
                pg = PostgresServer(*found)
                started.append(pg)
                pg.start()
                args.journal = pg.dsn()
            if not args.pacing_url:
                binary = find_redis()
                if binary is None:
                    raise SystemExit("needs redis-server or --pacing-url URL")
                redis = RedisServer(binary)
                started.append(redis)
                redis.start()
                args.pacing_url = redis.url
        yield
    finally:
        for server in started:
            server.cleanup()


def drain_table(args: argparse.Namespace, console: Console) -> None:
    """Run every case and print the table (the function benchmarks/distributed.py calls)."""
    table = Table(
        title=f"Drain of one job by 1, 2 and 4 workers (a provider second = {args.scale} s, "
        f"lane lease {args.ttl} s; PostgreSQL journal, Redis gate, caps enforced)"
    )
    columns = ("lanes", "workers", "drain s", "sends/scaled s", "speed-up", "429", "dup",
               "order viol.", "one worker SIGKILLed at 30%")  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name == "lanes" else "right")
    with servers(args):
        for kind in ("two scopes", "one scope"):
            base = None
            for n in (1, 2, 4):
                r = asyncio.run(one_run(args, kind, n, kill=False))
                k = asyncio.run(one_run(args, kind, n, kill=True))
                rate = r["accepted"] / (r["elapsed"] / args.scale)
                base = base or r["elapsed"]
                table.add_row(
                    kind if n == 1 else "", str(n), f"{r['elapsed']:.2f}", f"{rate:.2f}",
                    f"{base / r['elapsed']:.2f}x", str(r["over"]), str(r["duplicates"]),
                    str(r["order"]), _after(r, k),
                )  # fmt: skip
                console.print(f"  {kind}, {n} workers: {r} | killed: {k}", style="dim")
    console.print(table)


def _after(r: dict[str, Any], k: dict[str, Any]) -> str:
    """What the kill cost: a stall (chunks left pending), or the drain's extra time."""
    if k["pending"]:
        return f"stalls: {k['pending']} of {k['total']} sends pending"
    extra = k["elapsed"] - r["elapsed"]
    text = f"drains, {extra:+.2f} s"
    if k["unknown"]:
        text += f", {k['unknown']} unknown (reported)"
    if k["over"] or k["duplicates"]:
        text += f", 429 {k['over']}, dup {k['duplicates']}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="seconds per provider second")
    parser.add_argument("--ttl", type=float, default=1.0, help="lane lease, seconds")
    parser.add_argument("--sends", type=int, default=40, help="PEC Massiva sends per job")
    parser.add_argument("--journal", default=os.environ.get("CERTMAIL_BENCH_JOURNAL", ""))
    parser.add_argument("--pacing-url", default=os.environ.get("CERTMAIL_BENCH_REDIS", ""))
    parser.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pm-url", help=argparse.SUPPRESS)
    parser.add_argument("--lm-url", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_worker:
        asyncio.run(worker(args))
        return
    drain_table(args, Console())


if __name__ == "__main__":
    main()
