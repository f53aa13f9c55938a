"""Do two LegallyMail clients in one process stay under the per-IP cap together?

Question: LegallyMail allows 10 requests per minute per IP. With two clients sending at once,
does the SDK's process-wide gate keep the pair under the cap, and how close to the cap does
it run? Contrast: the same two clients with separate gates (what a per-client limiter does).

Method: scaled time (a "minute" lasts --minute seconds), one fake LegallyMail with a
sliding-window cap of 10 per minute per IP, 50 sends split over two clients, all started at
once. Reported per setup: the fake's maximum admitted requests in any window (must be <=
10), 429s answered, and achieved/cap = accepted x (T/N) / (last accepted arrival - first
accepted arrival + T/N) on the fake's clock.

Run: python benchmarks/shared_gate.py [--sends 50] [--minute 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from rich.console import Console
from rich.table import Table

from certmail_async import LegallyMailClient, RateLimit, RetryPolicy
from certmail_async.testing import run_fake


async def run(sends: int, minute: float, shared: bool) -> dict[str, float]:
    cap = RateLimit(requests=10, per=minute, margin=0)
    async with run_fake("legallymail", rate=cap) as fake:
        pace = RateLimit(requests=10, per=minute)  # the SDK default margin, 5%
        clients: list[LegallyMailClient] = [
            fake.client(
                rate_limit=pace,
                retry_policy=RetryPolicy(base=0.0),
                max_retries=10,
                egress="shared" if shared else f"client-{i}",
            )
            for i in range(2)
        ]
        started = time.perf_counter()
        try:
            await asyncio.gather(
                *(
                    clients[i % 2].emails.send(
                        recipients=[f"cliente{i}@example.com"], subject="s", html="<p>h</p>"
                    )
                    for i in range(sends)
                )
            )
        finally:
            for c in clients:
                await c.aclose()
        elapsed = time.perf_counter() - started
        state = fake.state
        assert state.cap is not None
        # accepted x (T/N) / (last - first + T/N): the span of the accepted arrivals plus
        # the last one's own slot (n sends take n intervals, not n - 1), start-up outside.
        arrivals = sorted(t for times in state.cap.admitted.values() for t in times)
        spacing = cap.per / cap.requests
        span = arrivals[-1] - arrivals[0] + spacing if arrivals else float("nan")
        return {
            "sent": len(state.ledger),
            "elapsed": elapsed,
            "max_window": state.cap.max_in_window(),
            "rejected": state.cap.rejected,
            "ratio": len(arrivals) * spacing / span,
        }


async def main(sends: int, minute: float) -> list[tuple[str, dict[str, float]]]:
    return [
        ("SDK: one gate per IP (default)", await run(sends, minute, shared=True)),
        ("per-client gates (contrast)", await run(sends, minute, shared=False)),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=50)
    parser.add_argument("--minute", type=float, default=1.0)
    args = parser.parse_args()
    rows = asyncio.run(main(args.sends, args.minute))
    table = Table(
        title=f"{args.sends} LegallyMail sends from 2 clients at once; cap 10 per "
        f"{args.minute}s 'minute' (sliding window, per IP)"
    )
    for col in ("setup", "sent", "elapsed s", "max in any window", "cap", "429s", "achieved/cap"):
        table.add_column(col, justify="left" if col == "setup" else "right")
    for name, r in rows:
        table.add_row(
            name,
            f"{r['sent']:.0f}",
            f"{r['elapsed']:.2f}",
            f"{r['max_window']:.0f}",
            "10",
            f"{r['rejected']:.0f}",
            f"{r['ratio']:.3f}",
        )
    Console().print(table)
