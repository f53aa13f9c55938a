"""SIGKILL a bulk job at every checkpoint, resume it, and count what the providers received."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from certmail_async import ChunkStatus
from certmail_async.bulk._journal import SQLiteJournal
from certmail_async.testing import RunningFake

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
POINTS = ["before_in_flight", "after_in_flight", "after_response", "after_done"]


async def worker(
    journal: Path, pm: RunningFake | None, lm: RunningFake | None, *extra: str
) -> tuple[int, str]:
    """Run the crash worker; return (exit code, last stdout line)."""
    args = [sys.executable, "-m", "tests.bulk.crash_worker", "--journal", str(journal), *extra]
    if pm is not None:
        args += ["--pm-url", pm.url]
    if lm is not None:
        args += ["--lm-url", lm.url]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(err.decode())
    lines = out.decode().strip().splitlines()
    return proc.returncode, lines[-1] if lines else ""


def accepted(pm: RunningFake | None, lm: RunningFake | None) -> Counter[str]:
    """How many times each recipient was accepted by a provider."""
    seen: Counter[str] = Counter()
    for sent in pm.state.ledger if pm else []:
        seen.update(r.lower() for r in sent.recipients)
    for email in lm.state.ledger if lm else []:
        seen.update(r.email.lower() for r in email.recipients)
    return seen


async def journal_rows(
    journal: Path, job: str = "crash-job"
) -> list[tuple[str, ChunkStatus, str | None]]:
    """(recipient, status, reason) of every recipient in the journal."""
    j = SQLiteJournal(journal)
    try:
        rows = []
        for record in await j.records(job):
            rows += [(r, record.status, record.error) for r in record.recipients]
        return rows
    finally:
        await j.aclose()


class TestCrashMatrix:
    @pytest.mark.parametrize("provider", ["pecmassiva", "legallymail"])
    @pytest.mark.parametrize("point", POINTS)
    async def test_kill_at_each_point_then_resume(
        self, pm: RunningFake, lm: RunningFake, tmp_path: Path, provider: str, point: str
    ) -> None:
        """After a SIGKILL at any checkpoint and a resume: nobody twice, everybody accounted for."""
        journal = tmp_path / "jobs.sqlite"
        use_pm, use_lm = (pm, None) if provider == "pecmassiva" else (None, lm)
        code, _ = await worker(journal, use_pm, use_lm, "--kill-at", f"{point}:2")
        assert code == -signal.SIGKILL
        code, line = await worker(journal, use_pm, use_lm)
        assert code == 0, line
        seen = accepted(use_pm, use_lm)
        assert max(seen.values()) == 1  # no recipient accepted twice
        rows = await journal_rows(journal)
        expected = 6 if provider == "pecmassiva" else 12
        assert len(rows) == expected  # nobody lost
        for recipient, status, reason in rows:
            assert status in (ChunkStatus.SENT, ChunkStatus.FAILED, ChunkStatus.UNKNOWN)
            if status is ChunkStatus.UNKNOWN:
                assert reason  # an unknown always says why
            if status is ChunkStatus.SENT:
                assert seen[recipient] == 1
        unknown = [r for r, s, _ in rows if s is ChunkStatus.UNKNOWN]
        if point == "after_in_flight":
            # in flight but never sent: cannot be proven either way -> unknown, not resent
            assert unknown
            assert all(seen[r] == 0 for r in unknown)
            code, _ = await worker(journal, use_pm, use_lm, "--retry-unknown")
            assert code == 0
            seen = accepted(use_pm, use_lm)
            assert sorted(seen.values()) == [1] * expected
        else:
            assert not unknown  # the provider's records settled every in-flight chunk
            assert sum(seen.values()) == expected


class TestSoak:
    async def test_twenty_random_kills_during_a_1000_recipient_job(self, tmp_path: Path) -> None:
        """20 SIGKILLs at random moments of a 1,000-recipient job: no duplicate, nobody lost."""
        from certmail_async import RateLimit
        from certmail_async.testing import run_fake

        journal = tmp_path / "jobs.sqlite"
        rng = random.Random(1234)
        # 500 PEC Massiva sends at one per 30 ms, 100 LegallyMail sends of 5 at 10 per 200 ms
        extra = [
            "--pm",
            "500",
            "--lm",
            "100",
            "--lm-size",
            "5",
            "--pm-per",
            "0.02",
            "--lm-per",
            "0.2",
        ]
        async with (
            run_fake("pecmassiva", send_rate=RateLimit(requests=1, per=0.02, margin=0)) as pm,
            run_fake("legallymail", rate=RateLimit(requests=10, per=0.2, margin=0)) as lm,
        ):
            kills = 0
            for _ in range(20):
                args = [sys.executable, "-m", "tests.bulk.crash_worker", "--journal", str(journal),
                        "--pm-url", pm.url, "--lm-url", lm.url, *extra]  # fmt: skip
                proc = await asyncio.create_subprocess_exec(
                    *args,
                    cwd=ROOT,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                await asyncio.sleep(rng.uniform(0.4, 0.9))  # imports take ~0.35 s
                if proc.returncode is None:
                    proc.kill()
                    kills += 1
                await proc.wait()
            code, line = await worker(journal, pm, lm, *extra)
            assert code == 0
            first_pass = json.loads(line)
            seen = accepted(pm, lm)
            duplicates = sum(1 for n in seen.values() if n > 1)
            rows = await journal_rows(journal)
            unknown = [r for r, s, _ in rows if s is ChunkStatus.UNKNOWN]
            code, _ = await worker(journal, pm, lm, *extra, "--retry-unknown")
            assert code == 0
            final = accepted(pm, lm)
        print(
            f"\nsoak: kills={kills} duplicates={duplicates} lost={1000 - len(rows)} "
            f"unknown_before_retry={len(unknown)} first_pass={first_pass} "
            f"accepted_after_retry={sum(final.values())}"
        )
        assert kills >= 15
        assert duplicates == 0
        assert len(rows) == 1000
        assert all(seen[r] == 0 for r in unknown)  # an unknown one had really not been sent
        assert sorted(final.values()) == [1] * 1000


async def test_dispatcher_and_worker_agree_on_messages() -> None:
    """The worker's job is deterministic (the resume depends on it)."""
    from tests.bulk.crash_worker import messages

    assert [m.key for m in messages(2, 1, 2)] == [m.key for m in messages(2, 1, 2)]
