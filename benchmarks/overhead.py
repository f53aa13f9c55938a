"""How much does the SDK cost per request, next to a raw aiohttp loop?

Question: with pacing off, what fraction of a raw aiohttp loop's throughput does the SDK
keep (validation, wire encoding, error seam, decoding into models)? Target: >= 0.8.

Method: one fake PEC Massiva in a separate process (no cap), so the server's CPU does not
hide the client's; the same workers (concurrency C) drive either the SDK or a raw loop that
sends the same JSON and parses the answer. Every send goes to a new recipient address, so
no cache in the SDK can make the comparison look better than a real bulk job. Rounds
alternate raw/SDK in ABBA order (the fake slows down slightly as its ledger grows, so a
fixed order would favour whoever goes first); the table shows the median of rounds.

Run: python benchmarks/overhead.py [--requests 2000] [--rounds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
from rich.console import Console
from rich.table import Table

from certmail_async import PecMassivaClient

TOKEN, USER, PASSWORD = "fake-pecmassiva-token", "box@pecmassiva.com", "fake-mailbox-password"
_counter = itertools.count()


def next_recipient() -> str:
    return f"cliente.{next(_counter)}@pec.example.it"


def send_body() -> dict[str, object]:
    return {
        "sender": USER,
        "recipient": [next_recipient()],
        "subject": "Benchmark",
        "body": "<p>Gentile destinatario</p>",
        "username": USER,
        "password": PASSWORD,
    }


def start_fake() -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "certmail_async", "fake", "serve", "pecmassiva"]
    proc = subprocess.Popen(
        [*command, "--port", "0", "--no-cap"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.rsplit(" ", 1)[-1].strip()


async def drive(n: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    """Requests per second for n calls of ``one`` over ``concurrency`` workers."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def main(requests: int, rounds: int, concurrency: int) -> dict[str, tuple[float, float]]:
    proc, url = start_fake()
    results: dict[str, tuple[list[float], list[float]]] = {
        "POST /send (sends.create)": ([], []),
        "GET /quota (quota.retrieve)": ([], []),
    }
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with (
            aiohttp.ClientSession(connector=connector) as raw,
            PecMassivaClient(
                token=TOKEN, username=USER, password=PASSWORD, base_url=url, rate_limit=None
            ) as sdk,
        ):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            creds = {**auth, "x-username": USER, "x-password": PASSWORD}

            async def raw_send() -> None:
                async with raw.post(f"{url}/send", json=send_body(), headers=auth) as r:
                    data = await r.json()
                    assert r.status == 201
                    assert data["message_id"]

            async def sdk_send() -> None:
                await sdk.sends.create(
                    recipients=[next_recipient()],
                    subject="Benchmark",
                    body="<p>Gentile destinatario</p>",
                )

            async def raw_quota() -> None:
                async with raw.get(f"{url}/quota/INBOX", headers=creds) as r:
                    data = await r.json()
                    assert r.status == 200
                    assert "usage" in data["data"]

            async def sdk_quota() -> None:
                await sdk.quota.retrieve()

            pairs = {
                "POST /send (sends.create)": (raw_send, sdk_send),
                "GET /quota (quota.retrieve)": (raw_quota, sdk_quota),
            }
            # warm up both paths (connections, imports, caches)
            for raw_fn, sdk_fn in pairs.values():
                await drive(100, concurrency, raw_fn)
                await drive(100, concurrency, sdk_fn)
            for r in range(rounds):
                for name, (raw_fn, sdk_fn) in pairs.items():
                    # ABBA order: the fake's heap grows with every send, so whoever always
                    # ran second would always meet a slower server.
                    if r % 2 == 0:
                        results[name][0].append(await drive(requests, concurrency, raw_fn))
                        results[name][1].append(await drive(requests, concurrency, sdk_fn))
                    else:
                        results[name][1].append(await drive(requests, concurrency, sdk_fn))
                        results[name][0].append(await drive(requests, concurrency, raw_fn))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {k: (statistics.median(r), statistics.median(s)) for k, (r, s) in results.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    medians = asyncio.run(main(args.requests, args.rounds, args.concurrency))
    table = Table(
        title=f"SDK overhead vs raw aiohttp (median of {args.rounds} alternating rounds, "
        f"{args.requests} requests each, concurrency {args.concurrency}, pacing off)"
    )
    table.add_column("operation")
    table.add_column("raw aiohttp req/s", justify="right")
    table.add_column("SDK req/s", justify="right")
    table.add_column("SDK / raw", justify="right")
    table.add_column("target", justify="right")
    worst = 1.0
    for name, (raw_rate, sdk_rate) in medians.items():
        ratio = sdk_rate / raw_rate
        worst = min(worst, ratio)
        table.add_row(name, f"{raw_rate:,.0f}", f"{sdk_rate:,.0f}", f"{ratio:.2f}", ">= 0.80")
    Console().print(table)
    sys.exit(0 if worst >= 0.8 else 1)
