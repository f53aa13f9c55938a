"""How does a whole bulk job drain, and does memory stay flat as the input grows?

Part A, drain: one job mixing PEC Massiva (1 send per "second") and LegallyMail (10 per
"minute", 10 recipients per send) on scaled time, sliding-window caps, latency jitter.
A lane's drain time runs from its first accepted send to its last, plus the last send's
own interval (start-up, i.e. opening clients and the journal, is shown apart); the ideal
is ``sends x T/N``. Achieved/cap is sends / drain time / cap, i.e. 1 / (drain/ideal). With
the default 5% margin the SDK's ceiling for a long job is 1/1.05 = 0.952 of the cap.
Side by side in one run: the SDK's BulkDispatcher, a naive loop (one ``AsyncLimiter(N, T)``
per provider, every chunk a task) and aiometer (``max_per_second`` per provider). Per
provider lane: 429s, achieved/cap, ordering violations and drain time / ideal, the ideal
being ``chunks x T/N``.

Part B, memory: peak RSS of a process streaming 10k and 1M messages through the
dispatcher (reader, validation, chunking, lanes, SQLite journal with its two commits per
chunk, outcomes). The provider is replaced by an instant stub for this part only: the
question is the dispatcher's own memory, and 1M real sends take 1M paced requests. The
journal goes to /dev/shm when present so the run is bound by CPU, not fsync latency.

Run: python benchmarks/bulk.py [--sizes 10000,1000000] [--skip-rss]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiometer
from aiolimiter import AsyncLimiter
from rich.console import Console
from rich.table import Table

from certmail_async import (
    BulkDispatcher,
    LegallyMailClient,
    OutgoingMessage,
    RateLimit,
    RateLimitError,
    RetryPolicy,
)
from certmail_async.testing import run_fake

SECOND = 0.25  # a provider "second": per-chunk work (~2 ms) stays under 1% of an interval
PM_N, PM_T = 1, 1 * SECOND
LM_N, LM_T = 10, 60 * SECOND
JITTER = 0.025  # of each interval: below the 5% margin, as real jitter is (tens of ms per 1 s)


def job(pm: int, lm: int) -> list[OutgoingMessage]:
    out: list[OutgoingMessage] = []
    for i in range(max(pm, lm)):
        if i < pm:
            out.append(
                OutgoingMessage(
                    provider="pecmassiva",
                    recipients=[f"p{i:04d}@pec.example.it"],
                    subject=f"Avviso {i}",
                    body="<p>b</p>",
                    key=f"{i:04d}",
                )
            )
        if i < lm:
            out.append(
                OutgoingMessage(
                    provider="legallymail",
                    recipients=[f"l{i:04d}.{j:02d}@example.com" for j in range(10)],
                    subject=f"Notice {i}",
                    body="<p>b</p>",
                    key=f"{i:04d}",
                )
            )
    return out


async def run_sdk(pm: Any, lm: Any, items: list[OutgoingMessage]) -> None:
    p = pm.client(rate_limit=RateLimit(requests=PM_N, per=PM_T), retry_policy=RetryPolicy(base=0))
    m = lm.client(rate_limit=RateLimit(requests=LM_N, per=LM_T), retry_policy=RetryPolicy(base=0))
    with tempfile.TemporaryDirectory() as tmp:
        async with p, m, BulkDispatcher(clients=[p, m], journal=Path(tmp) / "j.sqlite") as d:
            async for _ in d.run("bench", items):
                pass


async def _send(client: Any, m: OutgoingMessage, backoff: float) -> None:
    while True:
        try:
            if m.provider == "pecmassiva":
                await client.sends.create(recipients=m.recipients, subject=m.subject, body=m.body)
            else:
                await client.emails.send(recipients=m.recipients, subject=m.subject, html=m.body)
            return
        except RateLimitError:
            await asyncio.sleep(backoff)


async def run_naive(pm: Any, lm: Any, items: list[OutgoingMessage]) -> None:
    p, m = pm.client(rate_limit=None, max_retries=0), lm.client(rate_limit=None, max_retries=0)
    limits = {"pecmassiva": AsyncLimiter(PM_N, PM_T), "legallymail": AsyncLimiter(LM_N, LM_T)}
    clients = {"pecmassiva": p, "legallymail": m}

    async def one(msg: OutgoingMessage) -> None:
        while True:
            async with limits[msg.provider]:
                try:
                    client = clients[msg.provider]
                    if msg.provider == "pecmassiva":
                        await client.sends.create(
                            recipients=msg.recipients, subject=msg.subject, body=msg.body
                        )
                    else:
                        await client.emails.send(
                            recipients=msg.recipients, subject=msg.subject, html=msg.body
                        )
                    return
                except RateLimitError:
                    continue

    async with p, m:
        await asyncio.gather(*(one(x) for x in items))


async def run_aiometer(pm: Any, lm: Any, items: list[OutgoingMessage]) -> None:
    p, m = pm.client(rate_limit=None, max_retries=0), lm.client(rate_limit=None, max_retries=0)
    async with p, m:
        await asyncio.gather(
            aiometer.run_on_each(
                lambda x: _send(p, x, PM_T / PM_N),
                [x for x in items if x.provider == "pecmassiva"],
                max_per_second=PM_N / PM_T,
            ),
            aiometer.run_on_each(
                lambda x: _send(m, x, LM_T / LM_N),
                [x for x in items if x.provider == "legallymail"],
                max_per_second=LM_N / LM_T,
            ),
        )


CONTENDERS = {"SDK dispatcher": run_sdk, "AsyncLimiter(N, T)": run_naive, "aiometer": run_aiometer}


async def drain(name: str, pm_count: int, lm_count: int) -> list[dict[str, Any]]:
    items = job(pm_count, lm_count)
    async with (
        run_fake("pecmassiva", send_rate=RateLimit(requests=PM_N, per=PM_T, margin=0)) as pm,
        run_fake("legallymail", rate=RateLimit(requests=LM_N, per=LM_T, margin=0)) as lm,
    ):
        pm.state.latency = (0.0, JITTER * PM_T / PM_N)
        lm.state.latency = (0.0, JITTER * LM_T / LM_N)
        started = time.perf_counter()
        await CONTENDERS[name](pm, lm, items)
        rows = []
        for provider, fake, cap, keys, chunks, n, t in (
            (
                "pecmassiva",
                pm,
                pm.state.send_cap,
                [s.recipients[0] for s in pm.state.ledger],
                pm_count,
                PM_N,
                PM_T,
            ),
            (
                "legallymail",
                lm,
                lm.state.cap,
                [e.recipients[0].email for e in lm.state.ledger],
                lm_count,
                LM_N,
                LM_T,
            ),
        ):
            times = sorted(r.at for r in fake.state.requests if r.status in (200, 201))
            interval = t / n
            # the lane drains from its first accepted send to its last, plus the last's slot
            lane = (times[-1] - times[0] + interval) if times else 0.0
            rows.append(
                {
                    "contender": name,
                    "provider": provider,
                    "429s": cap.rejected,
                    "ratio": (len(times) / lane) / (n / t) if lane else 0.0,
                    "order": sum(1 for a, b in itertools.pairwise(keys) if b < a),
                    "drain": lane / (chunks * interval),
                    "chunks": chunks,
                    "startup": times[0] - started if times else 0.0,
                }
            )
        return rows


def rss_child(size: int) -> None:
    """Child process: stream ``size`` messages through the dispatcher with a stub provider."""
    from certmail_async.bulk._adapters import Adapter
    from certmail_async.bulk._models import ChunkStatus, SendReport

    class Stub(Adapter):
        name = "legallymail"

        def __init__(self) -> None:
            self.client = LegallyMailClient(token="stub-token", rate_limit=None)

        def max_chunk(self) -> int:
            return 10

        async def send(self, chunk: Any, before_send: Any = None) -> SendReport:
            if before_send is not None:
                await before_send()
            return SendReport(status=ChunkStatus.SENT, provider_ids=(f"id-{chunk.seq}",))

    def messages() -> Iterator[OutgoingMessage]:
        for i in range(size):
            yield OutgoingMessage(
                provider="legallymail",
                recipients=[f"r{i}@example.com"],
                subject=f"Avviso {i}",
                body="<p>b</p>",
            )

    async def go() -> int:
        shm = Path("/dev/shm")  # noqa: S108 - a RAM disk for the journal, our own temp dir
        base = str(shm) if shm.is_dir() else None  # noqa: ASYNC240 - once, before the run
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            d = BulkDispatcher(clients=[], journal=Path(tmp) / "j.sqlite")
            d._adapters["legallymail"] = Stub()
            count = 0
            async for _ in d.run("rss", messages()):
                count += 1
            await d.aclose()
            return count

    started = time.perf_counter()
    count = asyncio.run(go())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count} {peak:.1f} {time.perf_counter() - started:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pm", type=int, default=60)
    parser.add_argument("--lm", type=int, default=12)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--rss-child", type=int)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    console = Console(width=120)
    table = Table(
        title=f"Part A: one job, {args.pm} PEC Massiva sends + {args.lm} LegallyMail sends of 10; "
        f"a provider second = {SECOND}s; jitter {JITTER:.0%} of each interval"
    )
    cols = (
        "contender",
        "provider",
        "sends",
        "429s",
        "achieved/cap",
        "order violations",
        "drain/ideal",
        "start-up s",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("contender", "provider") else "right")
    sdk_rows = []
    for name in CONTENDERS:
        for r in asyncio.run(drain(name, args.pm, args.lm)):
            if name == "SDK dispatcher":
                sdk_rows.append(r)
            table.add_row(
                r["contender"],
                r["provider"],
                str(r["chunks"]),
                str(r["429s"]),
                f"{r['ratio']:.3f}",
                str(r["order"]),
                f"{r['drain']:.3f}",
                f"{r['startup']:.2f}",
            )
    console.print(table)
    worst = min(r["ratio"] for r in sdk_rows)
    met = all(r["429s"] == 0 and r["order"] == 0 for r in sdk_rows) and worst >= 0.95
    console.print(
        f"SDK: 429s={sum(r['429s'] for r in sdk_rows)}, order violations="
        f"{sum(r['order'] for r in sdk_rows)}, worst achieved/cap={worst:.4f} -> "
        f"targets {'met' if met else 'NOT met'} (0, 0, >= 0.95)"
    )
    if args.skip_rss:
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rss = Table(title="Part B: peak RSS streaming messages through the dispatcher (stub provider)")
    for col in ("messages", "outcomes", "peak RSS MiB", "growth vs first MiB", "seconds"):
        rss.add_column(col, justify="right")
    first: float | None = None
    for size in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(size)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        count, peak, seconds = int(out[0]), float(out[1]), float(out[2])
        first = peak if first is None else first
        rss.add_row(
            f"{size:,}", f"{count:,}", f"{peak:.1f}", f"{peak - first:+.1f}", f"{seconds:.0f}"
        )
    console.print(rss)
    console.print(
        f"RSS growth from the smallest to the largest input: {peak - (first or peak):+.1f} MiB "
        "(target <= 30 MiB)"
    )


if __name__ == "__main__":
    main()
