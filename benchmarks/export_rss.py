"""Does ``export`` of a huge job stay flat in memory, and how long does it take?

A journal is filled with one job of N recipients (default 1,000,000; ``--per-chunk``
recipients per chunk, default 1 as PEC Massiva sends one message per recipient), written
straight through the journal in batches of 10,000 rows so the setup is quick. Then a fresh
process exports every recipient (the audit export: one ``RecipientRecord`` per recipient)
and reports its peak RSS (``resource.getrusage``), the RSS right before the export (imports
and an open journal) and the wall time. A 10,000-recipient job is exported the same way, so
the table shows whether memory grows with the job.

The journal lives in /dev/shm when present (CPU-bound, not fsync-bound).

Run: python benchmarks/export_rss.py [--sizes 10000,1000000] [--per-chunk 1] [--json]

The same script measures the code before paged reads (no ``bulk/_report.py``: it exports
through ``BulkDispatcher.export``); run it with PYTHONPATH pointing at that checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

JOB = "export-rss"
BATCH = 10_000


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def populate(path: Path, size: int, per_chunk: int) -> None:
    from certmail_async.bulk import SQLiteJournal
    from certmail_async.bulk._models import ChunkRecord, ChunkStatus

    journal: Any = SQLiteJournal(path)
    lease = None
    if hasattr(journal, "acquire"):
        lease = await journal.acquire(JOB, owner_id="bench", ttl=3600)
        await journal.open_job(lease, "fp", {"bench": "export"})
    else:  # the journal before leases
        await journal.open_job(JOB, "fp", {"bench": "export"})
    batch: list[ChunkRecord] = []
    chunks = -(-size // per_chunk)
    for seq in range(chunks):
        first = seq * per_chunk
        recipients = tuple(
            f"r{i}@pec.example.it" for i in range(first, min(size, first + per_chunk))
        )
        batch.append(
            ChunkRecord(
                job_id=JOB,
                seq=seq,
                provider="pecmassiva",
                recipients=recipients,
                digest=f"{seq:064x}",
                subject_digest="0" * 64,
                status=ChunkStatus.SENT,
                key=f"key-{seq}",
                provider_ids=(f"code-{seq:08d}",),
            )
        )
        if len(batch) == BATCH or seq == chunks - 1:
            if lease is not None:
                await journal.add_pending(lease, batch)
            else:
                await journal.add_pending(batch)
            batch = []
    if lease is not None:
        await journal.release(lease)
    await journal.aclose()


async def export(path: Path) -> dict[str, float]:
    before = _peak_mib()
    started = time.perf_counter()
    count = 0
    try:
        from certmail_async.bulk import SQLiteJournal
        from certmail_async.bulk._report import export_records

        journal = SQLiteJournal(path, readonly=True)
        async for _ in export_records(journal, JOB):
            count += 1
        await journal.aclose()
        how = "paged (_report.export_records)"
    except ImportError:  # before paged reads
        from certmail_async import BulkDispatcher

        async with BulkDispatcher(clients=[], journal=path) as dispatcher:
            async for _ in dispatcher.export(JOB):
                count += 1
        how = "one list (BulkDispatcher.export)"
    return {
        "rows": count,
        "seconds": time.perf_counter() - started,
        "rss_before_mib": before,
        "peak_mib": _peak_mib(),
        "how": how,  # type: ignore[dict-item]
    }


def child(size: int, per_chunk: int, directory: Path) -> dict[str, Any]:
    path = directory / f"export-{size}.sqlite"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--populate", str(size), "--per-chunk", str(per_chunk),
         "--path", str(path)],
        check=True,
    )  # fmt: skip
    fill = time.perf_counter() - started
    out = subprocess.run(
        [sys.executable, __file__, "--export", "--path", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["fill_seconds"] = fill
    result["size"] = size
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--per-chunk", type=int, default=1)
    parser.add_argument("--populate", type=int)
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--path", type=Path)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if args.populate:
        asyncio.run(populate(args.path, args.populate, args.per_chunk))
        return
    if args.export:
        print(json.dumps(asyncio.run(export(args.path))))
        return
    shm = Path("/dev/shm")  # noqa: S108  (a private TemporaryDirectory inside it)
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        rows = [child(int(s), args.per_chunk, Path(tmp)) for s in args.sizes.split(",")]
    if args.json:
        print(json.dumps(rows))
        return
    table = Table(title=f"export: peak RSS and time ({args.per_chunk} recipient(s) per chunk)")
    for column in ("recipients", "how", "RSS before export", "peak RSS", "export time"):
        table.add_column(column, justify="left" if column == "how" else "right")
    for r in rows:
        table.add_row(
            f"{r['size']:,}",
            r["how"],
            f"{r['rss_before_mib']:.0f} MiB",
            f"{r['peak_mib']:.0f} MiB",
            f"{r['seconds']:.1f} s",
        )
    Console().print(table)
    if len(rows) > 1:
        ratio = rows[-1]["peak_mib"] / rows[0]["peak_mib"]
        Console().print(f"peak RSS, largest / smallest job: {ratio:.2f}x")


if __name__ == "__main__":
    main()
