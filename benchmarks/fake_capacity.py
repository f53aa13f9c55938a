"""How many requests per second do one and four fake processes sustain on this machine?

Question: what load can `certmail fake serve` (and the fake `certmail loadtest` embeds) take
before it, not the pipeline under test, is what a load test measures? One process against
four sharing the port (SO_REUSEPORT), for PEC Massiva's POST /send (validation, ledger,
receipts scheduled in the inbox) and GET /quota/INBOX (a cheap authenticated read).

Method: the fake runs with no cap, a bounded ledger (10,000 sends kept in full) and a bounded
inbox (50,000 messages), in its own processes. Load comes from G generator processes, each a
raw aiohttp loop with C requests in flight over C keep-alive connections (cheaper per request
than the SDK, so the generators saturate the fake before themselves where the cores allow).
Each cell runs for D seconds after a one-second warm-up; the fake's own /_fake/metrics gives
its request count and CPU time, so the rate is what the fake answered, cross-checked against
what the generators counted. Every send goes to a new subject (no duplicate digests).

On a machine with fewer cores than fake workers plus generators, the processes share cores:
the table states the fake's CPU (summed over workers) so you can see whether the fake or the
machine ran out.

Run: python benchmarks/fake_capacity.py [--duration 5] [--generators 2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time

import aiohttp
from rich.console import Console
from rich.table import Table

METRICS_PATH = "/_fake/metrics"

TOKEN, USER, PASSWORD = "fake-pecmassiva-token", "box@pecmassiva.com", "fake-mailbox-password"
OPS = ("POST /send", "GET /quota/INBOX")


async def generate(url: str, op: str, seconds: float, concurrency: int, tag: str) -> int:
    """One generator process: requests answered 2xx within ``seconds``."""
    counter = itertools.count()
    done = 0
    errors = 0
    auth = {"Authorization": f"Bearer {TOKEN}"}
    creds = {**auth, "x-username": USER, "x-password": PASSWORD}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                if op == "POST /send":
                    body = {
                        "sender": USER,
                        "recipient": [f"cliente.{next(counter) % 1000}@pec.example.it"],
                        "subject": f"capacity {tag} #{next(counter)}",
                        "body": "<p>Gentile destinatario</p>",
                        "username": USER,
                        "password": PASSWORD,
                    }
                    request = session.post(f"{url}/send", json=body, headers=auth)
                else:
                    request = session.get(f"{url}/quota/INBOX", headers=creds)
                async with request as r:
                    await r.read()
                    if r.status < 300:
                        done += 1
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if errors:
        print(f"errors {errors}", file=sys.stderr)
    return done


async def metrics(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as s, s.get(url + METRICS_PATH) as r:
        return await r.json()  # type: ignore[no-any-return]


def cpu_total(snap: dict[str, object]) -> float:
    return sum(w["cpu"] for w in snap["workers"])  # type: ignore[attr-defined, index, misc]


async def cell(
    workers: int, op: str, seconds: float, generators: int, concurrency: int
) -> dict[str, float]:
    from certmail_async.testing._load import fake_options, serve_workers

    options = fake_options("pecmassiva", cap=False, ledger_keep=10_000, inbox_limit=50_000)
    async with serve_workers("pecmassiva", workers=workers, options=options) as pool:

        async def run_generators(duration: float) -> list[int]:
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--generate", pool.url, op, str(duration),
                    str(concurrency), f"{workers}-{i}", stdout=asyncio.subprocess.PIPE,
                )
                for i in range(generators)
            ]  # fmt: skip
            counts = []
            for proc in procs:
                out, _ = await proc.communicate()
                counts.append(int(out.decode().strip() or 0))
            return counts

        await run_generators(1.0)  # warm-up: imports, connections, caches
        await asyncio.sleep(0.3)
        before = await metrics(pool.url)
        counts = await run_generators(seconds)
        await asyncio.sleep(0.3)  # the workers publish their counts every 0.1 s
        after = await metrics(pool.url)
    answered = int(after["requests"]) - int(before["requests"])  # type: ignore[call-overload]
    cpu = cpu_total(after) - cpu_total(before)
    return {
        "rate": sum(counts) / seconds,
        "answered": answered,
        "counted": sum(counts),
        "cpu_us": 1e6 * cpu / max(1, answered),
        "busy": cpu / seconds,
    }


async def main(seconds: float, generators: int, concurrency: int) -> list[tuple[object, ...]]:
    rows = []
    for workers in (1, 4):
        for op in OPS:
            result = await cell(workers, op, seconds, generators, concurrency)
            rows.append((workers, op, result))
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        url, op, duration, conc, tag = sys.argv[2:7]
        print(asyncio.run(generate(url, op, float(duration), int(conc), tag)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    rows = asyncio.run(main(args.duration, args.generators, args.concurrency))
    cores = os.cpu_count() or 1
    table = Table(
        title=f"Fake PEC Massiva on this machine ({cores} cores): {args.generators} generator "
        f"processes x {args.concurrency} in flight, {args.duration:g} s per cell, no cap"
    )
    for col in ("fake processes", "operation", "req/s served", "fake CPU (cores)",
                "fake CPU/request (us)", "per fake core (req/s)",
                "ceiling here (req/s)"):  # fmt: skip
        table.add_column(col, justify="right")
    for workers, op, r in rows:
        per_core = 1e6 / r["cpu_us"]  # type: ignore[index]
        ceiling = per_core * min(int(workers), cores)  # type: ignore[call-overload]
        table.add_row(
            str(workers), str(op), f"{r['rate']:,.0f}", f"{r['busy']:.2f}",  # type: ignore[index]
            f"{r['cpu_us']:.0f}", f"{per_core:,.0f}", f"{ceiling:,.0f}",  # type: ignore[index]
        )  # fmt: skip
    console = Console(width=150)
    console.print(table)
    console.print(
        "req/s served: what the generators got answered (2xx); the fake's own count agreed "
        "within the cell: "
        + ", ".join(f"{r['answered']}/{r['counted']}" for _, _, r in rows)  # type: ignore[index]
        + ". per fake core: 1 / the fake's CPU time per request (the most one fully busy "
        "process serves). ceiling here: that times min(processes, cores) -- the generators "
        "need cores too, so a load test reaches it only with the generator elsewhere."
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([{"workers": w, "op": op, **r} for w, op, r in rows], f, indent=2)  # type: ignore[dict-item]
