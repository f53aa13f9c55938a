"""The demo: a bulk job to both embedded fakes through the real clients, gates and journal."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Table

from .._pacing import RateLimit
from ..bulk import BulkDispatcher, OutgoingMessage
from ..testing import run_fake
from ._progress import job_progress

__all__ = ["DemoResult", "run_demo"]


@attrs.frozen(kw_only=True)
class DemoResult:
    """What the demo did, for the table and for tests."""

    sends: int
    recipients: int
    statuses: dict[str, int]
    reconciled: int
    ledger: int
    duplicates: int
    rejected_by_cap: int
    elapsed: float


def _messages(count: int) -> list[OutgoingMessage]:
    messages: list[OutgoingMessage] = []
    for i in range(count):
        messages.append(
            OutgoingMessage(
                provider="pecmassiva",
                recipients=[f"cliente{i + 1:03d}@pec.example.it"],
                subject=f"Comunicazione n. {i + 1}",
                body=f"<p>Gentile cliente, ecco la comunicazione {i + 1}.</p>",
                key=f"PM-{i + 1}",
            )
        )
        if i % 3 == 0:
            messages.append(
                OutgoingMessage(
                    provider="legallymail",
                    recipients=[f"socio{i + 1:03d}.{j}@example.com" for j in range(12)],
                    subject=f"Convocazione assemblea {i + 1}",
                    body="<p>Siete convocati all'assemblea.</p>",
                    key=f"LM-{i + 1}",
                )
            )
    messages.append(
        OutgoingMessage(
            provider="pecmassiva", recipients=["non un indirizzo"], subject="x", body="y", key="BAD"
        )
    )
    return messages


async def run_demo(
    *, count: int = 30, time_scale: float = 0.1, console: Console | None = None
) -> DemoResult:
    """A multi-provider bulk job on the embedded fakes, at the caps on a scaled clock.

    ``time_scale`` is how long a provider second lasts (0.1: ten times faster than real).
    PEC Massiva sends one message per second; LegallyMail 10 requests per minute, 10
    recipients per send. One PEC Massiva send hits an injected 500 after the provider
    recorded it: it is never resent; its lane reconciles it against the provider's receipts
    before its next send and finds it (SENT, with the evidence in the journal).
    """
    console = console or Console()
    started = time.perf_counter()
    pm_cap = RateLimit(requests=1, per=time_scale, margin=0)
    lm_cap = RateLimit(requests=10, per=60 * time_scale, margin=0)
    messages = _messages(count)
    statuses: Counter[str] = Counter()
    reconciled = 0
    async with (
        # The fakes run on their own loops, as real servers do: they judge the caps by
        # arrival even when this loop stalls on a busy machine.
        run_fake("pecmassiva", send_rate=pm_cap, thread=True) as pm,
        run_fake("legallymail", rate=lm_cap, bounce={"socio004.3@example.com"}, thread=True) as lm,
    ):
        pm.state.faults.inject(
            "POST", "/send", status=500, body={"success": False, "message": "MySQL Error 1205"},
            after_record=True, times=1,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            journal = Path(tmp) / "demo.sqlite"
            async with (
                # On a scaled clock the slack (seconds) must stay well above a busy machine's
                # scheduling noise: a process descheduled 10-30 ms between a write and the
                # fake reading it. 40 ms keeps the demo honest with two cores busy.
                pm.client(rate_limit=RateLimit(requests=1, per=pm_cap.per, slack=0.04)) as pmc,
                lm.client(rate_limit=RateLimit(requests=10, per=lm_cap.per, slack=0.1)) as lmc,
                BulkDispatcher(clients=[pmc, lmc], journal=journal) as dispatcher,
            ):
                estimate = dispatcher.estimate(messages)
                console.print(
                    f"[bold]certmail demo[/]: {estimate.messages} messages, {estimate.recipients} "
                    f"recipients -> {dict(estimate.chunks)} sends to the embedded fakes\n"
                    f"PEC Massiva 1 send/s, LegallyMail 10 requests/min (10 recipients each), on a "
                    f"{time_scale}x clock: ETA {estimate.seconds:.1f}s "
                    f"({estimate.seconds / time_scale / 60:.0f} min at the real caps)"
                )
                with job_progress(console) as bar:
                    task = bar.add_task("recipients", total=estimate.recipients, tally="")
                    async for outcome in dispatcher.run("demo", messages, estimate=estimate):
                        statuses[outcome.status.value] += 1
                        reconciled += outcome.evidence is not None
                        bar.update(
                            task,
                            advance=len(outcome.recipients),
                            tally=" ".join(f"{k}={v}" for k, v in sorted(statuses.items())),
                        )
                status = await dispatcher.status("demo")
        seen: Counter[str] = Counter(r for s in pm.state.ledger for r in s.recipients)
        seen.update(r.email for e in lm.state.ledger for r in e.recipients)
        caps = [pm.state.send_cap, lm.state.cap]
        result = DemoResult(
            sends=sum(estimate.chunks.values()),
            recipients=estimate.recipients,
            statuses=dict(statuses),
            reconciled=reconciled,
            ledger=len(pm.state.ledger) + len(lm.state.ledger),
            duplicates=sum(1 for n in seen.values() if n > 1),
            rejected_by_cap=sum(c.rejected for c in caps if c is not None),
            elapsed=time.perf_counter() - started,
        )
    _print_table(console, result, dict(status.chunks))
    return result


def _print_table(console: Console, r: DemoResult, final: dict[str, int]) -> None:
    table = Table(title="Outcomes", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("meaning")
    table.add_row("sends planned", str(r.sends), f"{r.recipients} recipients")
    table.add_row("sent", str(r.statuses.get("sent", 0)), "the provider returned its ids")
    table.add_row(
        "unknown", str(r.statuses.get("unknown", 0)),
        "5xx/timeout/reset: may have been sent; never resent blindly",
    )  # fmt: skip
    table.add_row("failed", str(r.statuses.get("failed", 0)), "invalid input; nothing sent")
    table.add_row(
        "reconciled", str(r.reconciled),
        "answers lost (500) but found at the provider before the lane's next send",
    )  # fmt: skip
    table.add_row("journal now", ", ".join(f"{k}={v}" for k, v in sorted(final.items())), "")
    table.add_row("accepted by the fakes", str(r.ledger), "sends the providers recorded")
    table.add_row("recipients sent twice", str(r.duplicates), "must be 0")
    table.add_row(
        "refused by the caps", str(r.rejected_by_cap), "must be 0: pacing keeps under them"
    )
    console.print(table)
    console.print(f"done in {r.elapsed:.1f}s")
