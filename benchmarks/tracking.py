"""How many provider calls does tracking N PEC Massiva sends to a final state cost?

Against the fake, on a hand-moved clock (deterministic: the same numbers on any machine).
Sends leave at the documented cap (one per second of provider time) while tracking runs;
recipients and outcomes are mixed: 70% of the sends have one recipient, 30% three; per
address 80% delivered, 5% not delivered, 3% virus, 5% a time-limit warning then the
delivery an hour later, 2% a warning then the final notice, 3% taken in charge then
delivered, and 2% of the sends refused (non-acceptance). Receipts come 60 s after a send.

Two strategies, on two identical fakes, polled at the same moments:

* per send: ``sends.track(code)`` (one ``GET /send/{code}``) for every send not final yet,
  each round;
* tracker: ``SendTracker.poll()`` (INBOX pages, read incrementally, and ``GET
  /send/{code}`` only for multi-recipient sends with new per-recipient receipts).

Two polling rhythms: a round every 30 s, and the default ``wait()`` backoff (5 s doubling
to 300 s). Every call counted is one the fake answered (its request log).

Run: python benchmarks/tracking.py [--sends 1000] [--strategies tracker]
     [--rhythms "wait() backoff"]
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

from certmail_async import PecMassivaClient, RetryPolicy
from certmail_async.testing import FakePecMassiva, run_fake

BEHAVIOURS = [
    ("delivered", 80),
    ("not-delivered", 5),
    ("virus", 3),
    ("delayed", 5),
    ("timed-out", 2),
    ("taken-in-charge", 3),
]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plan(sends: int, seed: int = 13) -> list[tuple[list[str], dict[str, str]]]:
    """Recipients and behaviours of each send (same for both strategies)."""
    rng = random.Random(seed)
    names = [b for b, _ in BEHAVIOURS]
    weights = [w for _, w in BEHAVIOURS]
    out = []
    for n in range(sends):
        count = 3 if rng.random() < 0.3 else 1
        to = [f"r{n}-{i}@pec.example.it" for i in range(count)]
        how = {a: rng.choices(names, weights)[0] for a in to}
        if rng.random() < 0.02:
            how[to[0]] = "non-acceptance"
        out.append((to, how))
    return out


def fixed(every: float) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += every


def backoff(interval: float = 5.0, max_interval: float = 300.0) -> Iterator[float]:
    t, wait = 0.0, interval
    while True:
        yield t
        t += wait
        wait = min(wait * 2, max_interval)


async def run(strategy: str, rhythm: str, sends: int) -> dict[str, Any]:
    clock = Clock()
    fake = FakePecMassiva(send_rate=None, deliver_delay=60.0, warning_delay=3600.0)
    fake.clock = clock
    scenario = plan(sends)
    for _to, how in scenario:
        fake.outcomes.update(how)  # type: ignore[arg-type]
    times = fixed(30.0) if rhythm == "every 30 s" else backoff()
    async with run_fake(fake) as running:
        client: PecMassivaClient
        async with running.client(rate_limit=None, retry_policy=RetryPolicy(base=0.0)) as client:
            tracker = client.sends.tracker()
            created: dict[str, list[str]] = {}
            pending: set[str] = set()
            next_send, rounds, last = 0, 0, 0.0
            fake.requests.clear()
            for at in times:
                # the sends that left since the previous round (1 per second)
                while next_send < sends and next_send <= at:
                    clock.now = float(next_send)
                    to, _how = scenario[next_send]
                    result = await client.sends.create(recipients=to, subject="Avviso", body="x")
                    created[result.code] = to
                    pending.add(result.code)
                    tracker.add(result.code, recipients=to)
                    next_send += 1
                clock.now = at
                rounds += 1
                if strategy == "tracker":
                    await tracker.poll()
                    pending = set(tracker.pending)
                else:
                    for code in list(pending):
                        if (await client.sends.track(code, recipients=created[code])).final:
                            pending.discard(code)
                last = at
                if next_send >= sends and not pending:
                    break
    return {
        "rounds": rounds,
        "pages": fake.count("GET", "/inbox"),
        "fetches": fake.count("GET", "/send/{code}"),
        "hours": last / 3600,
        "final": sends - len(pending),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument(
        "--strategies", default="per send,tracker", help="comma-separated: per send,tracker"
    )
    parser.add_argument("--rhythms", default="every 30 s,wait() backoff")
    args = parser.parse_args()
    strategies = [s.strip() for s in args.strategies.split(",")]
    rhythms = [r.strip() for r in args.rhythms.split(",")]
    table = Table(title=f"Provider calls to track {args.sends} PEC Massiva sends to a final state")
    for column in (
        "rhythm",
        "strategy",
        "rounds",
        "INBOX pages",
        "GET /send/{code}",
        "calls",
        "calls per send",
        "final sends",
        "provider hours",
    ):
        table.add_column(
            column, justify="right" if column not in ("rhythm", "strategy") else "left"
        )
    for rhythm in rhythms:
        totals = {}
        for strategy in strategies:
            r = await run(strategy, rhythm, args.sends)
            calls = r["pages"] + r["fetches"]
            totals[strategy] = calls
            table.add_row(
                rhythm,
                strategy,
                str(r["rounds"]),
                str(r["pages"]),
                str(r["fetches"]),
                str(calls),
                f"{calls / args.sends:.2f}",
                str(r["final"]),
                f"{r['hours']:.2f}",
            )
        if len(totals) == 2:
            ratio = totals["per send"] / totals["tracker"]
            table.add_row(rhythm, "ratio", "", "", "", f"{ratio:.1f}x", "", "", "")
    Console(width=150).print(table)


if __name__ == "__main__":
    asyncio.run(main())
