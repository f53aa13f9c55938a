"""Does the SDK keep a server-side cap exactly, in order, at full speed?

Question: LegallyMail refuses more than 10 requests per minute per IP. Against a fake that
counts that cap in three ways (sliding window, fixed windows, token bucket) with network
latency jitter, how do the SDK's dispatcher, a naive ``AsyncLimiter(N, T)`` loop and
aiometer (``max_per_second=N/T``) compare?

Measured per run (one fake per run, same messages): over-limit answers (429s; the SDK
must have 0), achieved rate / cap (SDK >= 0.95), ordering violations (adjacent pairs the
provider accepted out of input order; SDK 0), and drain time / ideal, the ideal being
``messages x T/N``.

Scaled time: a "minute" lasts --minute seconds; latency jitter is uniform from 0 to J% of
the interval, for each J of --jitter (real networks add tens of ms to a 6.3-second
interval, well under 1%; the SDK's 5% margin absorbs it). Contenders that get a 429 retry the
message, as naive code does, so everything is delivered in the end.

Run: python benchmarks/pacing.py [--messages 40] [--minute 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path

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
from certmail_async.testing import RunningFake, run_fake

N = 10  # requests per "minute"


def messages(count: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            provider="legallymail",
            recipients=[f"r{i:05d}@example.com"],
            subject="Avviso",
            body="<p>x</p>",
            key=f"{i:05d}",
        )
        for i in range(count)
    ]


async def sdk(fake: RunningFake, items: list[OutgoingMessage], minute: float) -> None:
    client = fake.client(
        rate_limit=RateLimit(requests=N, per=minute), retry_policy=RetryPolicy(base=0)
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with client, BulkDispatcher(clients=[client], journal=Path(tmp) / "j.sqlite") as d:
            async for _ in d.run("bench", items):
                pass


async def _send_until_accepted(
    client: LegallyMailClient, m: OutgoingMessage, backoff: float
) -> None:
    while True:
        try:
            await client.emails.send(recipients=m.recipients, subject=m.subject, html=m.body)
            return
        except RateLimitError:
            await asyncio.sleep(backoff)


async def naive_limiter(fake: RunningFake, items: list[OutgoingMessage], minute: float) -> None:
    limiter = AsyncLimiter(N, minute)  # the classic mistake: capacity N, so bursts of N
    client = fake.client(rate_limit=None, max_retries=0)

    async def one(m: OutgoingMessage) -> None:
        while True:
            async with limiter:
                try:
                    await client.emails.send(
                        recipients=m.recipients, subject=m.subject, html=m.body
                    )
                    return
                except RateLimitError:
                    continue

    async with client:
        await asyncio.gather(*(one(m) for m in items))


async def with_aiometer(fake: RunningFake, items: list[OutgoingMessage], minute: float) -> None:
    client = fake.client(rate_limit=None, max_retries=0)
    async with client:
        await aiometer.run_on_each(
            lambda m: _send_until_accepted(client, m, minute / N), items, max_per_second=N / minute
        )


CONTENDERS = {"SDK dispatcher": sdk, "AsyncLimiter(N, T)": naive_limiter, "aiometer": with_aiometer}


async def measure(
    mode: str, name: str, count: int, minute: float, jitter: float
) -> dict[str, float]:
    items = messages(count)
    interval = minute / N
    cap = RateLimit(requests=N, per=minute, margin=0)
    async with run_fake("legallymail", rate=cap, cap_mode=mode) as fake:
        fake.state.latency = (0.0, jitter * interval)
        started = time.perf_counter()
        await CONTENDERS[name](fake, items, minute)
        elapsed = time.perf_counter() - started
        ledger = fake.state.ledger
        keys = [e.recipients[0].email for e in ledger]
        assert fake.state.cap is not None
        return {
            "over": fake.state.cap.rejected,
            "ratio": (len(ledger) / elapsed) / (N / minute),
            "order": sum(1 for a, b in itertools.pairwise(keys) if b < a),
            "drain": elapsed / (count * interval),
            "sent": len(ledger),
        }


async def main(
    count: int, minute: float, jitters: list[float]
) -> list[tuple[str, str, str, dict[str, float]]]:
    rows = []
    for jitter in jitters:
        for mode in ("sliding", "fixed", "token_bucket"):
            for name in CONTENDERS:
                result = await measure(mode, name, count, minute, jitter)
                rows.append((f"{jitter:.1%}", mode, name, result))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--minute", type=float, default=1.0)
    parser.add_argument("--jitter", default="0.025,0.1,0.2", help="comma-separated fractions")
    args = parser.parse_args()
    jitters = [float(j) for j in args.jitter.split(",")]
    results = asyncio.run(main(args.messages, args.minute, jitters))
    table = Table(
        title=f"{args.messages} LegallyMail sends per run, cap {N} per {args.minute}s 'minute'; "
        "one run, side by side"
    )
    left = ("jitter", "cap mode", "contender")
    for col in (*left, "429s", "achieved/cap", "order violations", "drain/ideal"):
        table.add_column(col, justify="left" if col in left else "right")
    for jitter, mode, name, r in results:
        table.add_row(
            jitter,
            mode,
            name,
            f"{r['over']:.0f}",
            f"{r['ratio']:.3f}",
            f"{r['order']:.0f}",
            f"{r['drain']:.3f}",
        )
    Console(width=120).print(table)
    sdk_rows = [r for _, _, n, r in results if n == "SDK dispatcher"]
    ok = all(r["over"] == 0 and r["ratio"] >= 0.95 and r["order"] == 0 for r in sdk_rows)
    Console(width=120).print(
        "SDK targets (0 over-limit, >= 0.95 of cap, 0 order violations):",
        "met" if ok else "NOT met",
    )
