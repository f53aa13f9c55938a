"""How much memory and time does a hostile server cost a client, now that both are bounded?

Part A, bodies: peak RSS of a fresh process (client and streaming fake together) that
reads, after a warm-up call, one hostile answer: a 100 MB JSON body, a 1 GB gzip bomb
(generated on the fly, a few KB on the wire per MB inflated) and an endless body. The
client's default limit is 10 MiB for JSON answers, counted after decompression. Issue 10
measured, before the limits: 398 MB, 1,075 MB and 2,100 MB.

Part B, waits: wall times of (1) four concurrent PEC Massiva sends at 1/s with
``timeout=0.3`` (before: 0.01, 1.05, 2.1, 3.15 s; now the 2nd-4th must fail at once), and
(2) a read after a 429 asking for ``Retry-After`` values from 1e309 to a week, with the cap
at 0.2 s (before: the scope hung for the full value).

Run: python benchmarks/hostile.py
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from rich.console import Console
from rich.table import Table

from certmail_async import RateLimit, RateLimitError, RetryPolicy
from certmail_async.testing import run_fake

MB = 1024 * 1024

_PROBE = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    from certmail_async import ResponseTooLargeError
    from certmail_async.testing import run_fake

    KIND, SIZE = sys.argv[1], int(sys.argv[2])

    async def main():
        async with run_fake("pecmassiva", send_rate=None) as fake:
            async with fake.client(rate_limit=None, max_retries=0, timeout=60) as client:
                await client.quota.retrieve()
                kw = {KIND: True} if KIND == "endless" else {KIND: SIZE}
                fake.state.faults.inject("GET", "/quota/{mailbox}", **kw)
                base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                started = time.perf_counter()
                try:
                    await client.quota.retrieve()
                    outcome = "read"
                except ResponseTooLargeError:
                    outcome = "ResponseTooLargeError"
                wall = time.perf_counter() - started
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"base": base, "peak": peak, "wall": wall, "outcome": outcome}))

    asyncio.run(main())
    """
)


def bodies(console: Console) -> None:
    table = Table(title="Part A: hostile bodies (default ResponseLimits)")
    for col in ("answer", "outcome", "wall s", "RSS before MB", "peak RSS MB", "issue 10 before"):
        table.add_column(col)
    before = {"huge": "398 MB", "gzip_bomb": "1,075 MB", "endless": "2,100 MB"}
    for kind, size, label in (
        ("huge", 100 * MB, "100 MB JSON"),
        ("gzip_bomb", 1024 * MB, "1 GB gzip bomb"),
        ("endless", 0, "endless body"),
    ):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, kind, str(size)],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        table.add_row(
            label,
            r["outcome"],
            f"{r['wall']:.3f}",
            f"{r['base'] / 1024:.0f}",
            f"{r['peak'] / 1024:.0f}",
            before[kind],
        )
    console.print(table)


async def waits(console: Console) -> None:
    table = Table(title="Part B: bounded waits")
    for col in ("scenario", "outcome", "wall s"):
        table.add_column(col)
    send = {"recipients": ["a@pec.example.it"], "subject": "s", "body": "b"}
    async with (
        run_fake("pecmassiva", send_rate=None) as fake,
        fake.client(rate_limit=RateLimit(requests=1, per=1.0)) as client,
    ):
        started = time.perf_counter()

        async def one(i: int) -> tuple[int, str, float]:
            try:
                await client.sends.create(**send, timeout=0.3)
                outcome = "sent"
            except RateLimitError as err:
                outcome = f"RateLimitError(retry_after={err.retry_after:.2f})"
            return i, outcome, time.perf_counter() - started

        for i, outcome, wall in await asyncio.gather(*(one(i) for i in range(4))):
            table.add_row(f"send {i + 1} of 4 at 1/s, timeout=0.3", outcome, f"{wall:.3f}")
    week = format_datetime(datetime.now(UTC) + timedelta(days=7), usegmt=True)
    for header in ("86400", "99999999999", "inf", "1e309", "nan", "-5", week):
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=429, retry_after=header)
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.2),
                retry_policy=RetryPolicy(max_retry_after=0.2),
            ) as client:
                started = time.perf_counter()
                await client.quota.retrieve()
                wall = time.perf_counter() - started
        table.add_row(
            f"429 Retry-After {header[:16]!r}, cap 0.2 s", "clamped, served", f"{wall:.3f}"
        )
    console.print(table)


def main() -> None:
    console = Console()
    bodies(console)
    asyncio.run(waits(console))


if __name__ == "__main__":
    main()
