"""One owner per job, in one process: lock, wait, heartbeat, lost lease (issue 9, finding 1).

The same with real processes is in test_two_runners.py.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    JobLockedError,
)
from certmail_async.testing import RunningFake
from tests.bulk.conftest import Clients, collect, pm_msg

pytestmark = pytest.mark.timeout(60)


class TestLease:
    """run() takes the job's lease before any request and keeps it alive."""

    async def test_a_live_owner_means_job_locked_before_any_request(
        self, pm: RunningFake, clients: Clients, journal_path: Path
    ) -> None:
        """A second runner raises JobLockedError from the iterator; nothing reaches the fake."""
        async with BulkDispatcher(clients=[clients[0]], journal=journal_path) as d:
            await d.journal.acquire("job", owner_id="someone-else", ttl=30.0)
            with pytest.raises(JobLockedError):
                await collect(d.resume("job"))  # not even a reconciliation read
            with pytest.raises(JobLockedError):
                await collect(d.run("job", [pm_msg(0)]))
        assert pm.state.requests == []

    async def test_wait_waits_for_the_owner(
        self, pm: RunningFake, clients: Clients, journal_path: Path
    ) -> None:
        """With wait=True the run starts once the other lease lapses (bounded by max_wait)."""
        async with BulkDispatcher(clients=[clients[0]], journal=journal_path, max_wait=5.0) as d:
            await d.journal.acquire("job", owner_id="someone-else", ttl=0.2)
            outcomes = await collect(d.run("job", [pm_msg(0)], wait=True))
        assert [o.status for o in outcomes] == [ChunkStatus.SENT]

    async def test_wait_is_bounded(
        self, pm: RunningFake, clients: Clients, journal_path: Path
    ) -> None:
        """A wait longer than max_wait ends in JobLockedError, with no request."""
        async with BulkDispatcher(clients=[clients[0]], journal=journal_path, max_wait=0.2) as d:
            await d.journal.acquire("job", owner_id="someone-else", ttl=30.0)
            with pytest.raises(JobLockedError):
                await collect(d.run("job", [pm_msg(0)], wait=True))
        assert pm.state.requests == []

    async def test_the_heartbeat_keeps_a_short_lease(
        self, pm: RunningFake, clients: Clients, journal_path: Path
    ) -> None:
        """A job longer than its lease ttl runs to the end: the lease is renewed every ttl/3."""
        async with BulkDispatcher(clients=[clients[0]], journal=journal_path, lease_ttl=0.15) as d:
            outcomes = await collect(d.run("long", [pm_msg(i) for i in range(40)]))
            holder = await d.journal.holder("long")
        assert len(outcomes) == 40
        assert {o.status for o in outcomes} == {ChunkStatus.SENT}
        assert holder is None  # released on exit

    async def test_a_lost_lease_stops_every_send(
        self, pm: RunningFake, clients: Clients, journal_path: Path
    ) -> None:
        """Once another owner took the job over, the old one sends nothing more."""

        def hook(point: str, seq: int) -> None:
            if (point, seq) == ("after_done", 1):  # a takeover, as a second process would
                conn = sqlite3.connect(journal_path)
                with conn:
                    conn.execute("UPDATE leases SET token = token + 1, owner_id = 'thief'")
                conn.close()

        async with BulkDispatcher(clients=[clients[0]], journal=journal_path, hook=hook) as d:
            with pytest.raises(JobLockedError):
                await collect(d.run("stolen", [pm_msg(i) for i in range(10)]))
        assert len(pm.state.ledger) == 2


class TestLogs:
    """INFO for job start and end, WARNING for unknown sends and reconciliation results."""

    async def test_job_logs_with_structured_fields(
        self, pm: RunningFake, dispatcher: BulkDispatcher, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Start and end at INFO with job_id; the unknown send and its settling at WARNING."""
        pm.state.faults.inject("POST", "/send", status=500, after_record=True)
        with caplog.at_level(logging.INFO, logger="certmail_async.bulk"):
            await collect(dispatcher.run("logged", [pm_msg(0), pm_msg(1)]))
        records = [r for r in caplog.records if r.name == "certmail_async.bulk"]
        infos = [r for r in records if r.levelno == logging.INFO]
        assert "started" in infos[0].getMessage()
        assert "ended" in infos[-1].getMessage()
        assert "sent=2" in infos[-1].getMessage()
        assert all(getattr(r, "job_id", None) == "logged" for r in records)
        warnings = [r for r in records if r.levelno == logging.WARNING]
        assert any("send unknown" in r.getMessage() for r in warnings)
        assert any("reconciled: sent" in r.getMessage() for r in warnings)
        assert all(getattr(r, "provider", None) == "pecmassiva" for r in warnings)
        assert all(getattr(r, "seq", None) == 0 for r in warnings)
