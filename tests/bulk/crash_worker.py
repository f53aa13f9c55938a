"""A bulk job in its own process, for crash tests: ``python -m tests.bulk.crash_worker``.

It sends a deterministic job to the fakes at --pm-url / --lm-url and, with --kill-at
POINT:SEQ, SIGKILLs itself at that dispatcher checkpoint (before_in_flight,
after_in_flight, after_response, after_done). Without it, it runs (or resumes) the job to
the end and prints one JSON line of counts.

Exit codes: 0 done; 6 the job is locked by another live runner (JobLockedError, raised
before any request); 5 a lane stopped (the error's class in the JSON line).
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


async def main(args: argparse.Namespace) -> None:
    kill_point, _, kill_seq = (args.kill_at or "::").partition(":")

    def hook(point: str, seq: int) -> None:
        if point == kill_point and str(seq) == kill_seq:
            os.kill(os.getpid(), signal.SIGKILL)

    fast = RetryPolicy(base=0.0)
    clients: list[PecMassivaClient | LegallyMailClient] = []
    if args.pm_url:
        clients.append(
            PecMassivaClient(
                token="fake-pecmassiva-token",
                username="box@pecmassiva.com",
                password="fake-mailbox-password",
                base_url=args.pm_url,
                retry_policy=fast,
                rate_limit=RateLimit(requests=1, per=args.pm_per, margin=0.5),
            )
        )
    if args.lm_url:
        clients.append(
            LegallyMailClient(
                token="fake-legallymail-token",
                base_url=args.lm_url,
                retry_policy=fast,
                rate_limit=RateLimit(requests=10, per=args.lm_per, margin=0.5),
            )
        )
    counts: Counter[str] = Counter()
    code = 0
    async with BulkDispatcher(
        clients=clients, journal=args.journal, hook=hook, reconcile_tries=1, lease_ttl=args.ttl
    ) as dispatcher:
        job = messages(args.pm if args.pm_url else 0, args.lm if args.lm_url else 0, args.lm_size)
        try:
            async for outcome in dispatcher.run(
                args.job, job, retry_unknown=args.retry_unknown, wait=args.wait
            ):
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
    asyncio.run(main(parser.parse_args()))
