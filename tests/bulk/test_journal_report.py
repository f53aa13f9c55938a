"""Status and export read through the Journal seam in bounded pages, never all at once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from certmail_async import JobNotFoundError
from certmail_async.bulk import SQLiteJournal, export_records, job_status
from certmail_async.bulk._models import ChunkRecord, ChunkStatus, Evidence

pytestmark = pytest.mark.timeout(30)


class Spy:
    """A journal wrapper that records the limit of every records() call."""

    def __init__(self, journal: SQLiteJournal) -> None:
        self.journal = journal
        self.limits: list[int | None] = []
        self.display_name = journal.display_name

    async def records(
        self, job_id: str, statuses: Sequence[ChunkStatus] | None = None, **kw: Any
    ) -> list[ChunkRecord]:
        self.limits.append(kw.get("limit"))
        return await self.journal.records(job_id, statuses, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.journal, name)


def chunk(seq: int, status: ChunkStatus = ChunkStatus.SENT, n: int = 2) -> ChunkRecord:
    return ChunkRecord(
        job_id="job", seq=seq, provider="legallymail",
        recipients=tuple(f"r{seq}-{i}@example.com" for i in range(n)), digest="d",
        subject_digest="s", status=status,
        provider_ids=(f"P{seq}", *(f"T{seq}-{i}" for i in range(n))),
    )  # fmt: skip


@pytest.fixture
async def spy(tmp_path: Path) -> Spy:
    """A journal with one 250-chunk job (every 50th chunk unknown), behind a Spy."""
    journal = SQLiteJournal(tmp_path / "jobs.sqlite")
    lease = await journal.acquire("job", owner_id="A", ttl=30)
    await journal.open_job(lease, "fp", {"who": "test"})
    await journal.add_pending(
        lease,
        [chunk(i, ChunkStatus.UNKNOWN if i % 50 == 0 else ChunkStatus.SENT) for i in range(250)],
    )
    return Spy(journal)


class TestPagedReads:
    async def test_export_pages_with_a_limit(self, spy: Spy) -> None:
        """export_records asks for page_size chunks at a time and yields every recipient once."""
        rows = [r async for r in export_records(spy, "job", page_size=40)]  # type: ignore[arg-type]
        assert len(rows) == 500
        assert len({(r.seq, r.recipient) for r in rows}) == 500
        assert spy.limits
        assert all(limit == 40 for limit in spy.limits)
        assert len(spy.limits) == 250 // 40 + 2  # full pages, the last short one, the empty end
        await spy.journal.aclose()

    async def test_export_gives_each_recipient_its_own_tracking_id(self, spy: Spy) -> None:
        """LegallyMail ids (parent, one per recipient) are split per recipient."""
        rows = [r async for r in export_records(spy, "job")]  # type: ignore[arg-type]
        assert rows[1].provider_ids == ("P0", "T0-1")
        await spy.journal.aclose()

    async def test_status_never_reads_unbounded(self, spy: Spy) -> None:
        """job_status reads lists with a limit, and reports the unknown chunks with reasons."""
        status = await job_status(spy, "job", max_listed=3)  # type: ignore[arg-type]
        assert None not in spy.limits
        assert [o.seq for o in status.unknown] == [0, 50, 100]
        assert status.truncated
        assert status.chunks == {"sent": 245, "unknown": 5}
        assert status.meta == {"who": "test"}
        assert status.created_at is not None
        assert all(o.error for o in status.unknown)
        await spy.journal.aclose()

    async def test_reconciled_chunks_carry_their_evidence(self, tmp_path: Path) -> None:
        """A chunk marked SENT on evidence is listed by status with it, and export shows it."""
        journal = SQLiteJournal(tmp_path / "jobs.sqlite")
        lease = await journal.acquire("job", owner_id="A", ttl=30)
        await journal.open_job(lease, "fp", {})
        evidence = Evidence(record_id="P7", matched=("recipients", "subject", "created_at"))
        await journal.mark_in_flight(lease, chunk(7, n=1))
        await journal.mark_done(
            lease, chunk(7, n=1), ChunkStatus.SENT, provider_ids=["P7", "T7-0"], evidence=evidence
        )
        status = await job_status(journal, "job")
        assert [(r.seq, r.evidence) for r in status.reconciled] == [(7, evidence)]
        [row] = [r async for r in export_records(journal, "job")]
        assert row.evidence == evidence
        await journal.aclose()

    async def test_unknown_job(self, spy: Spy) -> None:
        """An unknown job id is JobNotFoundError naming the journal, before any row."""
        with pytest.raises(JobNotFoundError, match="no job 'other'") as info:
            [r async for r in export_records(spy, "other")]  # type: ignore[arg-type]
        assert info.value.job_id == "other"
        assert info.value.path == spy.display_name
        assert spy.limits == []
        await spy.journal.aclose()


async def take(journal: SQLiteJournal, job: str, tokens: list[int]) -> None:
    tokens.append((await journal.acquire(job, owner_id=job, ttl=30)).token)


class TestConcurrentCreation:
    async def test_two_handles_create_one_fresh_file_at_once(self, tmp_path: Path) -> None:
        """Two journals opening a brand-new file concurrently both work (the schema is created once)."""
        path = tmp_path / "jobs.sqlite"
        for _ in range(20):
            path.unlink(missing_ok=True)
            a, b = SQLiteJournal(path), SQLiteJournal(path)
            tokens: list[int] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(take, a, "one", tokens)
                tg.start_soon(take, b, "two", tokens)
            assert tokens == [1, 1]
            await a.aclose()
            await b.aclose()
