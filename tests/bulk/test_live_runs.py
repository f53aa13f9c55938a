"""A run the caller stops reading releases its lease when closed (issue 9, d3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmail_async import (
    BulkDispatcher,
    CertmailError,
    ChunkStatus,
    JobLockedError,
)
from certmail_async.bulk import SQLiteJournal
from certmail_async.testing import RunningFake
from tests.bulk.conftest import Clients

from .conftest import pm_msg

pytestmark = pytest.mark.timeout(60)


async def holder_of(journal: Path) -> object:
    reader = SQLiteJournal(journal, readonly=True)
    try:
        return await reader.holder("job")
    finally:
        await reader.aclose()


class TestBreakOut:
    """Breaking out of ``run()`` and leaving the dispatcher, then running the job again."""

    async def test_leaving_the_dispatcher_releases_the_lease(
        self, pm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """The abandoned run is stopped and released; a rerun in this process sends the rest."""
        journal = tmp_path / "jobs.sqlite"
        msgs = [pm_msg(i) for i in range(8)]
        async with BulkDispatcher(clients=[clients[0]], journal=journal, lease_ttl=30.0) as d:
            run = d.run("job", msgs)  # kept referenced: no garbage collector to help
            async for _ in run:
                break
        assert await holder_of(journal) is None
        sent = len(pm.state.ledger)
        async with BulkDispatcher(clients=[clients[0]], journal=journal) as again:
            outcomes = [o async for o in again.run("job", msgs)]
        assert len(outcomes) == 8
        assert {o.status for o in outcomes} <= {ChunkStatus.SKIPPED, ChunkStatus.SENT}
        assert len(pm.state.ledger) == 8 >= sent
        for i in range(8):
            assert pm.state.sent_to(f"p{i}@pec.example.it") == 1

    async def test_closing_the_run_iterator_releases_the_lease(
        self, pm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """``aclose()`` on the run stops it and releases, with the dispatcher still open."""
        journal = tmp_path / "jobs.sqlite"
        msgs = [pm_msg(i) for i in range(8)]
        async with BulkDispatcher(clients=[clients[0]], journal=journal, lease_ttl=30.0) as d:
            run = d.run("job", msgs)
            await run.__anext__()
            await run.aclose()  # type: ignore[attr-defined]
            assert await holder_of(journal) is None
            outcomes = [o async for o in d.run("job", msgs)]
        assert len(outcomes) == 8
        for i in range(8):
            assert pm.state.sent_to(f"p{i}@pec.example.it") == 1


class TestTwoDispatchers:
    """Two dispatchers in one process still exclude each other on one job."""

    async def test_second_dispatcher_is_locked_out(
        self, pm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """Same host and pid, another run: JobLockedError, no request."""
        journal = tmp_path / "jobs.sqlite"
        msgs = [pm_msg(i) for i in range(8)]
        async with (
            BulkDispatcher(clients=[clients[0]], journal=journal, lease_ttl=30.0) as first,
            BulkDispatcher(clients=[clients[0]], journal=journal, lease_ttl=30.0) as second,
        ):
            run = first.run("job", msgs)
            await run.__anext__()
            sent = len(pm.state.ledger)
            with pytest.raises(JobLockedError):
                async for _ in second.run("job", msgs):
                    pass
            assert len(pm.state.ledger) <= sent + 1  # at most the first run's next chunk
            await run.aclose()  # type: ignore[attr-defined]


class TestCloseWhileReading:
    """Closing the dispatcher while another task still reads the run."""

    async def test_the_reader_is_told_the_run_was_stopped(
        self, pm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """The reader gets a CertmailError, not a quiet end; the lease is released."""
        journal = tmp_path / "jobs.sqlite"
        msgs = [pm_msg(i) for i in range(50)]
        d = BulkDispatcher(clients=[clients[0]], journal=journal, lease_ttl=30.0)
        run = d.run("job", msgs)
        await run.__anext__()
        await d.aclose()
        with pytest.raises(CertmailError, match="dispatcher was closed"):
            async for _ in run:
                pass
        assert await holder_of(journal) is None
        assert len(pm.state.ledger) < 50
