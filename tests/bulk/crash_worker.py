"""A bulk job in its own process, for crash tests: ``python -m tests.bulk.crash_worker``.

It sends a deterministic job to the fakes at --pm-url / --lm-url and, with --kill-at
POINT:SEQ, SIGKILLs itself at that dispatcher checkpoint (before_in_flight,
after_in_flight, after_response, after_done). Without it, it runs (or resumes) the job to
the end and prints one JSON line of counts.

Exit codes: 0 done; 6 the job is locked by another live runner (JobLockedError, raised
before any request); 5 a lane stopped (the error's class in the JSON line).

Workers (issue 12): ``--enqueue`` only journals the job for workers; ``--work`` runs as one
worker (``BulkDispatcher.work``) until no lane has work; ``--host NAME`` makes the process
look like it runs on another host (its leases then lapse by expiry only: a dead pid there
is never seen). ``--journal`` may be a postgresql:// URL. ``--pause-at POINT:SEQ`` sends
itself SIGSTOP at a checkpoint (a frozen worker, resumed by the test with SIGCONT), and
``--ready`` prints "ready" once the lane is taken, for tests that act on a running worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator

from certmail_async import (
    BulkDispatcher,
    CertmailError,
    JobLockedError,
    LegallyMailClient,
    OutgoingMessage,
    PecMassivaClient,
    RateLimit,
    RetryPolicy,
)


def messages(pm: int, lm: int, lm_size: int) -> Iterator[OutgoingMessage]:
    """pm PEC Massiva messages of one recipient, lm LegallyMail messages of lm_size."""
    for i in range(max(pm, lm)):
        if i < pm:
            yield OutgoingMessage(
                provider="pecmassiva", recipients=[f"p{i}@pec.example.it"],
                subject=f"Avviso {i}", body=f"<p>{i}</p>", key=f"pm-{i}",
            )  # fmt: skip
        if i < lm:
            yield OutgoingMessage(
                provider="legallymail",
                recipients=[f"l{i}-{j}@example.com" for j in range(lm_size)],
                subject=f"Notice {i}", body=f"<p>{i}</p>", key=f"lm-{i}",
            )  # fmt: skip


def make_clients(
    pm_url: str | None, lm_url: str | None, pm_per: float = 0.01, lm_per: float = 0.1
) -> list[PecMassivaClient | LegallyMailClient]:
    """The job's clients against the fakes, paced under their caps, no retry backoff."""
    fast = RetryPolicy(base=0.0)
    clients: list[PecMassivaClient | LegallyMailClient] = []
    if pm_url:
        clients.append(
            PecMassivaClient(
                token="fake-pecmassiva-token",
                username="box@pecmassiva.com",
                password="fake-mailbox-password",
                base_url=pm_url,
                retry_policy=fast,
                rate_limit=RateLimit(requests=1, per=pm_per, margin=0.5),
            )
        )
    if lm_url:
        clients.append(
            LegallyMailClient(
                token="fake-legallymail-token",
                base_url=lm_url,
                retry_policy=fast,
                rate_limit=RateLimit(requests=10, per=lm_per, margin=0.5),
            )
        )
    return clients


def pretend_host(name: str) -> None:
    """Make this process's leases name host ``name`` (as if it ran on another machine)."""
    from certmail_async.bulk import _journal, _journal_postgres, _journal_sqlite

    def host() -> str:
        return name

    _journal.this_host = host  # type: ignore[assignment]
    _journal_sqlite.this_host = host  # type: ignore[assignment]
    _journal_postgres._this_host = host  # type: ignore[assignment]


async def main(args: argparse.Namespace) -> None:
    kill_point, _, kill_seq = (args.kill_at or "::").partition(":")
    pause_point, _, pause_seq = (args.pause_at or "::").partition(":")
    if args.host:
        pretend_host(args.host)

    def hook(point: str, seq: int) -> None:
        if point == kill_point and str(seq) == kill_seq:
            os.kill(os.getpid(), signal.SIGKILL)
        if point == pause_point and str(seq) == pause_seq:
            print(f"paused {point}:{seq}", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
        if args.ready and point == "before_in_flight":
            print("ready", flush=True)

    clients = make_clients(args.pm_url, args.lm_url, args.pm_per, args.lm_per)
    counts: Counter[str] = Counter()
    code = 0
    async with BulkDispatcher(
        clients=clients, journal=args.journal, hook=hook, reconcile_tries=1, lease_ttl=args.ttl
    ) as dispatcher:
        job = messages(args.pm if args.pm_url else 0, args.lm if args.lm_url else 0, args.lm_size)
        if args.work:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, dispatcher.stop_work)
            outcomes = dispatcher.work(args.job, poll_interval=args.poll)
        elif args.enqueue:
            result = await dispatcher.enqueue(args.job, job)
            counts.update({f"enqueued:{k}": v for k, v in result.chunks.items()})
            outcomes = None
        else:
            outcomes = dispatcher.run(
                args.job, job, retry_unknown=args.retry_unknown, wait=args.wait
            )
        try:
            if outcomes is not None:
                async for outcome in outcomes:
                    counts[outcome.status.value] += 1
        except JobLockedError:
            counts["locked"] += 1
            code = 6
        except CertmailError as error:
            counts[f"stopped:{type(error).__name__}"] += 1
            code = 5
    for client in clients:
        await client.aclose()
    print(json.dumps(counts), flush=True)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", required=True)
    parser.add_argument("--job", default="crash-job")
    parser.add_argument("--pm-url")
    parser.add_argument("--lm-url")
    parser.add_argument("--pm", type=int, default=6)
    parser.add_argument("--lm", type=int, default=4)
    parser.add_argument("--lm-size", type=int, default=3)
    parser.add_argument("--pm-per", type=float, default=0.01)
    parser.add_argument("--lm-per", type=float, default=0.1)
    parser.add_argument("--kill-at")
    parser.add_argument("--retry-unknown", action="store_true")
    parser.add_argument("--wait", action="store_true")
    parser.add_argument("--ttl", type=float, default=30.0)
    parser.add_argument("--work", action="store_true")
    parser.add_argument("--enqueue", action="store_true")
    parser.add_argument("--host")
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--pause-at")
    parser.add_argument("--ready", action="store_true")
    asyncio.run(main(parser.parse_args()))
