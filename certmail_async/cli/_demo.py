"""The demo: a paced bulk send through the real client against the embedded fake."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import attrs
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .._exceptions import CertmailError, DeliveryUnknownError
from .._pacing import RateLimit
from ..pecmassiva import PecMassivaClient
from ..receipts import Outcome
from ..testing import run_fake

__all__ = ["DemoResult", "run_demo"]


@attrs.frozen(kw_only=True)
class DemoResult:
    """What the demo did, for the table and for tests."""

    sends: int
    recipients: int
    statuses: dict[str, int]
    outcomes: dict[str, int]
    ledger: int
    rejected_by_cap: int
    elapsed: float


async def run_demo(
    *, count: int = 36, time_scale: float = 0.1, console: Console | None = None
) -> DemoResult:
    """Send ``count`` PECs to the fake PEC Massiva, paced at 1/s on scaled time.

    ``time_scale`` is how long a provider second lasts (0.1: ten times faster than real).
    One send hits an injected 429 (the gate pauses and retries it) and one an injected
    500 after the fake recorded it (reported as unknown, never resent).
    """
    console = console or Console()
    cap = RateLimit(requests=1, per=1.0 * time_scale, margin=0)
    started = time.perf_counter()
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    codes: dict[str, tuple[str, ...]] = {}
    async with run_fake(
        "pecmassiva",
        send_rate=cap,
        accept_delay=2 * time_scale,
        deliver_delay=5 * time_scale,
        undeliverable={"ufficio.chiuso@pec.example.it"},
    ) as fake:
        fake.state.faults.inject("POST", "/send", status=429, retry_after="0", times=1)
        fake.state.faults.inject(
            "POST",
            "/send",
            status=500,
            body={"success": False, "message": "MySQL Error 1205"},
            after_record=True,
            times=1,
        )
        client: PecMassivaClient = fake.client(rate_limit=RateLimit(requests=1, per=cap.per))
        async with client:
            interval = client._transport.rate_limit.interval if client._transport.rate_limit else 0
            console.print(
                f"[bold]certmail demo[/]: {count} PECs to the embedded fake PEC Massiva at "
                f"{fake.url}\npaced at 1 request per provider second (one every "
                f"{interval:.3f}s on this {time_scale}x clock); ETA {count * interval:.1f}s"
            )
            columns = (
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[tally]}"),
            )
            with Progress(*columns, console=console, transient=False) as progress:
                task = progress.add_task("sending", total=count, tally="")
                for i in range(count):
                    recipients = _recipients(i)
                    try:
                        sent = await client.sends.create(
                            recipients=recipients,
                            subject=f"Comunicazione n. {i + 1}",
                            body=f"<p>Gentile destinatario, ecco la comunicazione {i + 1}.</p>",
                        )
                    except DeliveryUnknownError:
                        statuses["unknown"] += 1
                    except CertmailError:
                        statuses["failed"] += 1
                    else:
                        statuses["sent"] += 1
                        codes[sent.code] = recipients
                    progress.update(
                        task,
                        advance=1,
                        tally=" ".join(f"{k}={v}" for k, v in sorted(statuses.items())),
                    )
                poll = progress.add_task("receipts", total=len(codes), tally="")
                pending = dict(codes)
                while pending:
                    for code, recipients in list(pending.items()):
                        summary = await client.sends.receipts(code)
                        states = [summary.outcome_for(r) for r in recipients]
                        if all(s in (Outcome.DELIVERED, Outcome.FAILED) for s in states):
                            outcomes.update(s.value for s in states)
                            del pending[code]
                            progress.update(poll, advance=1)
                    if pending:
                        await asyncio.sleep(time_scale)
        outcome = DemoResult(
            sends=count,
            recipients=sum(len(_recipients(i)) for i in range(count)),
            statuses=dict(statuses),
            outcomes=dict(outcomes),
            ledger=len(fake.state.ledger),
            rejected_by_cap=fake.state.send_cap.rejected if fake.state.send_cap else 0,
            elapsed=time.perf_counter() - started,
        )
    _print_table(console, outcome)
    return outcome


def _recipients(i: int) -> tuple[str, ...]:
    first = f"cliente{i + 1:03d}@pec.example.it"
    if i % 12 == 5:
        return (first, "ufficio.chiuso@pec.example.it")
    if i % 4 == 0:
        return (first, f"ufficio{i + 1:03d}@pec.example.it")
    return (first,)


def _print_table(console: Console, r: DemoResult) -> None:
    table = Table(title="Outcomes", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("meaning")
    table.add_row("sends attempted", str(r.sends), f"{r.recipients} recipients")
    table.add_row("sent", str(r.statuses.get("sent", 0)), "the provider returned a send code")
    table.add_row(
        "unknown",
        str(r.statuses.get("unknown", 0)),
        "5xx/timeout/reset: may have been sent; never resent blindly",
    )
    table.add_row("failed", str(r.statuses.get("failed", 0)), "refused by the provider")
    table.add_row("delivered", str(r.outcomes.get("delivered", 0)), "CONSEGNA receipts")
    table.add_row("not delivered", str(r.outcomes.get("failed", 0)), "AVVISO DI MANCATA CONSEGNA")
    table.add_row("fake's ledger", str(r.ledger), "sends the provider accepted (incl. unknown)")
    table.add_row("refused by the cap", str(r.rejected_by_cap), "must be 0: pacing keeps under it")
    console.print(table)
    console.print(f"done in {r.elapsed:.1f}s")
