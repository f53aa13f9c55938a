"""A process that owns (or tries to own) a bulk job, driven line by line on stdin.

Commands: ``acquire TTL``, ``open``, ``in_flight SEQ``, ``renew TTL``. Each answer is one
JSON line on stdout: ``{"token": N}``, ``{"ok": true}``, or ``{"locked": message, "owner":
..., "token": null}`` for a JobLockedError. Used by test_lease_processes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from certmail_async import JobLockedError
from certmail_async.bulk import SQLiteJournal
from certmail_async.bulk._models import ChunkRecord, ChunkStatus, Lease


async def main(path: str, owner: str) -> None:
    journal = SQLiteJournal(path)
    lease: Lease | None = None
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        answer: dict[str, Any]
        try:
            if command == "acquire":
                lease = await journal.acquire("job", owner_id=owner, ttl=float(args[0]))
                answer = {"token": lease.token}
            elif command == "renew":
                assert lease is not None
                lease = await journal.renew(lease, ttl=float(args[0]))
                answer = {"token": lease.token}
            elif command == "open":
                assert lease is not None
                answer = {"existed": await journal.open_job(lease, "fp", {})}
            elif command == "in_flight":
                assert lease is not None
                seq = int(args[0])
                record = ChunkRecord(
                    job_id="job", seq=seq, provider="pecmassiva",
                    recipients=(f"r{seq}@pec.example.it",), digest="d", subject_digest="s",
                    status=ChunkStatus.PENDING,
                )  # fmt: skip
                await journal.mark_in_flight(lease, record)
                answer = {"ok": True}
            else:
                answer = {"error": f"unknown command {command}"}
        except JobLockedError as error:
            answer = {"locked": str(error), "owner": error.owner, "expires_in": error.expires_in}
        print(json.dumps(answer), flush=True)
    await journal.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", required=True)
    parser.add_argument("--owner", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.journal, args.owner))
