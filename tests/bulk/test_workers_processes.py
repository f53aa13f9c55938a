"""Workers as real processes on one PostgreSQL journal: races, SIGKILL, SIGSTOP.

Each worker is ``python -m tests.bulk.crash_worker --work`` (``BulkDispatcher.work``);
``--host`` makes two workers look like two machines, so a dead worker is replaced only
once its lane lease lapsed (lease_ttl 1 s here). The fakes run in this process with their
caps enforced; every count comes from their ledgers. The job is enqueued in this process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmail_async import BulkDispatcher, ChunkStatus, RateLimit
from certmail_async.bulk import PostgresJournal
from certmail_async.testing import RunningFake, run_fake
from tests.bulk.crash_worker import make_clients, messages
from tests.servers import run_sql

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
JOB = "crash-job"
# The workers pace at 0.05 s, 2.5 x the fake's cap: slack above a busy machine's noise.
PM_CAP = RateLimit(requests=1, per=0.02, margin=0)
TTL = "1.0"


@pytest.fixture
async def url(postgres_dsn: str) -> AsyncIterator[str]:
    """A journal URL on a fresh schema of the test PostgreSQL server."""
    schema = f"w_{uuid.uuid4().hex[:12]}"
    yield f"{postgres_dsn}?schema={schema}"
    run_sql(postgres_dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def pm() -> AsyncIterator[RunningFake]:
    """Fake PEC Massiva, 1 send per 20 ms, enforced."""
    async with run_fake("pecmassiva", send_rate=PM_CAP) as running:
        yield running


async def enqueue(url: str, pm: RunningFake, count: int) -> None:
    """The crash worker's job of ``count`` PEC Massiva messages, enqueued for workers."""
    clients = make_clients(pm.url, None)
    async with BulkDispatcher(clients=clients, journal=url) as d:
        await d.enqueue(JOB, messages(count, 0, 1))
    for client in clients:
        await client.aclose()


async def start(url: str, pm: RunningFake, *extra: str) -> asyncio.subprocess.Process:
    """One worker process (PEC Massiva only, 20 ms per send)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bulk.crash_worker", "--journal", url, "--work",
        "--pm-url", pm.url, "--pm", "0", "--pm-per", "0.05", "--ttl", TTL, *extra,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def finish(proc: asyncio.subprocess.Process) -> tuple[int | None, dict[str, int]]:
    """Exit code and the JSON counts line of a worker."""
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    lines = out.decode().strip().splitlines()
    counts = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()[-2000:]
    return proc.returncode, counts


async def line(proc: asyncio.subprocess.Process, wanted: str) -> None:
    """Wait (bounded) until the worker prints a line starting with ``wanted``."""
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while not (await proc.stdout.readline()).decode().startswith(wanted):
            pass


def recipients(pm: RunningFake) -> list[str]:
    """Every accepted recipient, in arrival order."""
    return [r for sent in pm.state.ledger for r in sent.recipients]


def expected(count: int) -> list[str]:
    return [f"p{i}@pec.example.it" for i in range(count)]


async def statuses(url: str) -> dict[int, tuple[ChunkStatus, str | None]]:
    journal = PostgresJournal(url)
    try:
        return {r.seq: (r.status, r.error) for r in await journal.records(JOB)}
    finally:
        await journal.aclose()


async def lane_row(url: str) -> tuple[object, object, int]:
    """(acquired_at, expires_at, token) of the PEC Massiva lane (its row, read directly)."""
    import asyncpg

    dsn, _, schema = url.rpartition("?schema=")
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        row = await conn.fetchrow(
            f"SELECT acquired_at, expires_at, token FROM {schema}.leases "  # noqa: S608
            "WHERE job_id=$1 AND lane='pecmassiva'",
            JOB,
        )
    finally:
        await conn.close()
    assert row is not None
    return row[0], row[1], int(row[2])


class TestRace:
    async def test_workers_racing_for_one_lane_one_owner_order_kept(
        self, url: str, pm: RunningFake
    ) -> None:
        """Three workers (three "hosts") start together on a one-lane job: one sends it all,
        in order, each recipient once, nothing over the cap; the others end with nothing."""
        await enqueue(url, pm, 30)
        procs = [await start(url, pm, "--host", f"host-{i}") for i in range(3)]
        results = await asyncio.gather(*(finish(p) for p in procs))
        assert [code for code, _ in results] == [0, 0, 0]
        senders = [counts for _, counts in results if counts.get("sent")]
        assert len(senders) == 1
        assert senders[0]["sent"] == 30
        assert recipients(pm) == expected(30)  # arrival order = seq order
        assert pm.state.count("POST", "/send", status=429) == 0
        _, _, token = await lane_row(url)
        assert token == 1  # never taken over: one owner from start to end


class TestKill:
    async def test_a_worker_killed_mid_lane_is_replaced_after_its_lease_lapses(
        self, url: str, pm: RunningFake
    ) -> None:
        """A (host-a) is SIGKILLed with chunk 5 in flight while B (host-b) waits: B takes the
        lane only once A's lease lapsed (token 2), reports chunk 5 UNKNOWN with its reason
        (it never left), sends the rest once and in order."""
        await enqueue(url, pm, 12)
        a = await start(url, pm, "--host", "host-a", "--kill-at", "after_in_flight:5", "--ready")
        await line(a, "ready")
        b = await start(url, pm, "--host", "host-b")
        code_a, _ = await finish(a)
        assert code_a == -signal.SIGKILL
        _, a_expires, a_token = await lane_row(url)
        code_b, counts_b = await finish(b)
        assert code_b == 0
        b_acquired, _, b_token = await lane_row(url)
        assert b_acquired >= a_expires  # type: ignore[operator]
        assert b_token == a_token + 1
        final = await statuses(url)
        assert final[5][0] is ChunkStatus.UNKNOWN
        assert "in flight when the last run stopped" in (final[5][1] or "")
        assert {s for seq, (s, _) in final.items() if seq != 5} == {ChunkStatus.SENT}
        assert recipients(pm) == [r for r in expected(12) if r != "p5@pec.example.it"]
        assert counts_b == {"unknown": 1, "sent": 12 - 5 - 1}
        assert pm.state.count("POST", "/send", status=429) == 0


class TestPause:
    @pytest.mark.parametrize(
        ("point", "chunk_five"),
        [("after_in_flight", ChunkStatus.UNKNOWN), ("after_response", ChunkStatus.SENT)],
    )
    async def test_a_paused_owner_resumed_after_its_lease_lapsed_cannot_commit(
        self, url: str, pm: RunningFake, point: str, chunk_five: ChunkStatus
    ) -> None:
        """A is frozen (SIGSTOP) at ``point`` of chunk 5; B takes the lane after the lapse and
        finishes; A, resumed (SIGCONT), neither sends (the guard) nor records anything (the
        fence): the journal is exactly as B left it, each recipient at most once."""
        await enqueue(url, pm, 10)
        a = await start(url, pm, "--host", "host-a", "--pause-at", f"{point}:5")
        await line(a, f"paused {point}:5")
        b = await start(url, pm, "--host", "host-b")
        code_b, _ = await finish(b)
        assert code_b == 0
        after_b = await statuses(url)
        sent_by_b = list(pm.state.ledger)
        a.send_signal(signal.SIGCONT)
        code_a, counts_a = await finish(a)
        assert code_a == 0
        assert await statuses(url) == after_b  # nothing A tried was recorded
        assert list(pm.state.ledger) == sent_by_b  # and nothing more was sent
        assert after_b[5][0] is chunk_five
        seen = Counter(recipients(pm))
        assert max(seen.values()) == 1
        if chunk_five is ChunkStatus.SENT:  # the request had left: found on evidence
            assert sorted(seen) == sorted(expected(10))
        else:  # it never left: UNKNOWN with the reason, never resent
            assert "p5@pec.example.it" not in seen
        assert counts_a.get("sent", 0) == 5  # what A had sent before it froze
