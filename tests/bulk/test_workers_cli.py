"""``certmail bulk --no-run`` and ``certmail worker`` as real processes on PostgreSQL.

The fake PEC Massiva runs in this process (cap enforced, 20 ms per send: --time-scale
0.02); each command is its own process, so SIGTERM reaches a real worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from certmail_async import RateLimit
from certmail_async.testing import RunningFake, run_fake
from tests.cli.test_exit_codes import certmail, rows
from tests.servers import run_sql

pytestmark = pytest.mark.timeout(120)

CAP = RateLimit(requests=1, per=0.02, margin=0)


@pytest.fixture
async def url(postgres_dsn: str) -> AsyncIterator[str]:
    """A journal URL on a fresh schema of the test PostgreSQL server."""
    schema = f"cli_{uuid.uuid4().hex[:12]}"
    yield f"{postgres_dsn}?schema={schema}"
    run_sql(postgres_dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def fake() -> AsyncIterator[RunningFake]:
    async with run_fake("pecmassiva", send_rate=CAP) as running:
        yield running


def addresses(n: int) -> list[str]:
    return [f"w{i}@pec.example.it" for i in range(n)]


def enqueue_args(
    csv: Path, fake: RunningFake, url: str, job: str = "job", scale: str = "0.02"
) -> list[str]:
    return [
        "bulk", str(csv), "--provider", "pecmassiva", "--job-id", job, "--body", "<p>b</p>",
        "--base-url", fake.url, "--time-scale", scale, "--fake-credentials",
        "--journal", url, "--no-run",
    ]  # fmt: skip


def worker_args(url: str, *extra: str) -> list[str]:
    return ["worker", "--journal", url, "--poll-interval", "0.1", "--lease-ttl", "2", *extra]


def received(fake: RunningFake) -> list[str]:
    return [r for sent in fake.state.ledger for r in sent.recipients]


class TestEnqueueThenWork:
    async def test_no_run_enqueues_and_a_worker_sends_each_once(
        self, tmp_path: Path, url: str, fake: RunningFake
    ) -> None:
        """--no-run sends nothing (exit 0, says how to start workers); status shows the free
        lane (exit 5: pending); a worker sends everything once, in order (exit 0)."""
        csv = rows(tmp_path / "r.csv", addresses(8))
        code, out = await certmail(*enqueue_args(csv, fake, url))
        assert code == 0, out
        assert "enqueued: 8 sends pending (8 recipients)" in out
        assert "certmail worker --journal postgresql://" in out
        password = urlsplit(url).password
        assert password
        assert password not in out  # the URL is shown without its password
        assert fake.state.ledger == []
        code, out = await certmail("status", "job", "--journal", url)
        assert code == 5, out
        assert "lane pecmassiva: free; 8 sends left" in out
        code, out = await certmail(*worker_args(url, "--job", "job"))
        assert code == 0, out
        assert "recipients: sent 8" in out
        assert received(fake) == addresses(8)
        code, out = await certmail("status", "job", "--journal", url)
        assert code == 0, out
        assert "lane pecmassiva: done; 0 sends left" in out

    async def test_a_worker_without_job_takes_every_enqueued_job(
        self, tmp_path: Path, url: str, fake: RunningFake
    ) -> None:
        """`certmail worker` without --job runs every enqueued job, then exits 0."""
        for job, n in (("one", 3), ("two", 4)):
            csv = rows(tmp_path / f"{job}.csv", [f"{job}{i}@pec.example.it" for i in range(n)])
            assert (await certmail(*enqueue_args(csv, fake, url, job)))[0] == 0
        code, out = await certmail(*worker_args(url))
        assert code == 0, out
        assert len(received(fake)) == 7
        assert len(set(received(fake))) == 7

    async def test_usage_errors_exit_2(self, tmp_path: Path, url: str, fake: RunningFake) -> None:
        """An unknown job, or a job that was run rather than enqueued, is exit 2 with a reason."""
        code, out = await certmail(*worker_args(url, "--job", "nope"))
        assert code == 2, out
        assert "no job 'nope'" in out
        csv = rows(tmp_path / "r.csv", addresses(2))
        args = enqueue_args(csv, fake, url, "classic")[:-1]  # without --no-run: runs it
        assert (await certmail(*args))[0] == 0
        code, out = await certmail(*worker_args(url, "--job", "classic"))
        assert code == 2, out
        assert "not enqueued for workers" in out

    async def test_nothing_enqueued_exits_0(self, url: str) -> None:
        """A worker with no enqueued job ends at once, exit 0."""
        code, out = await certmail(*worker_args(url))
        assert code == 0, out


class TestSigterm:
    async def test_sigterm_finishes_the_send_in_flight_and_releases_the_lane(
        self, tmp_path: Path, url: str, fake: RunningFake
    ) -> None:
        """SIGTERM mid-lane: the worker records the send in flight, releases the lane and
        exits 5 (chunks pending); the next worker takes the lane at once and sends the rest:
        each recipient once, in order."""
        csv = rows(tmp_path / "r.csv", addresses(60))
        assert (await certmail(*enqueue_args(csv, fake, url)))[0] == 0
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "certmail_async", *worker_args(url, "--lease-ttl", "30"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        for _ in range(6000):  # poll with a deadline (60 s) until three sends arrived
            if len(fake.state.ledger) >= 3:
                break
            await asyncio.sleep(0.01)
        assert len(fake.state.ledger) >= 3
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 5, out.decode()
        assert "stopping: finishing the send in flight" in out.decode()
        first = len(fake.state.ledger)
        assert first < 60
        code, status = await certmail("status", "job", "--journal", url)
        assert "in_flight" not in status  # the send in flight was recorded
        assert f"lane pecmassiva: free; {60 - first} sends left" in status
        # the lane was released (lease ttl 30 s): the next worker does not wait for it
        code, out2 = await asyncio.wait_for(certmail(*worker_args(url)), 30)
        assert code == 0, out2
        assert received(fake) == addresses(60)


class TestPacingUrl:
    async def test_a_worker_paces_through_the_redis_gate(
        self, tmp_path: Path, url: str, fake: RunningFake, redis_server: object
    ) -> None:
        """--pacing-url: the worker's sends take their slots in Redis (its scope record
        appears there), all once, none over the cap."""
        csv = rows(tmp_path / "r.csv", addresses(5))
        # Paced at --time-scale 0.05 (52.5 ms) against the fake's 20 ms cap: at 0.02 the
        # worker's interval is 21 ms, and 1 ms of slack is below a busy machine's noise.
        assert (await certmail(*enqueue_args(csv, fake, url, scale="0.05")))[0] == 0
        redis_url = redis_server.url  # type: ignore[attr-defined]
        code, out = await certmail(*worker_args(url, "--pacing-url", redis_url))
        assert code == 0, out
        assert received(fake) == addresses(5)
        assert fake.state.count("POST", "/send", status=429) == 0
        keys = redis_server.command("DBSIZE")  # type: ignore[attr-defined]
        assert keys is not None
        assert int(keys.lstrip(b":")) >= 1

    async def test_a_bad_pacing_url_exits_2(self, url: str) -> None:
        """A --pacing-url that is not a Redis URL is a usage error (exit 2), before any work."""
        code, out = await certmail(*worker_args(url, "--pacing-url", "http://nope"))
        assert code == 2, out
        assert "--pacing-url" in out
