"""Two OS processes run the same job id on one journal; the fake runs in this third process.

Issue 9, finding 1: before the lease, 55-58 of 60 PEC Massiva recipients were accepted twice.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from certmail_async import RateLimit
from certmail_async.testing import RunningFake, run_fake

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


async def start(journal: Path, pm: RunningFake, lm: RunningFake, *extra: str) -> asyncio.Process:
    """A crash_worker process on the shared journal, against both fakes."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bulk.crash_worker", "--journal", str(journal),
        "--pm-url", pm.url, "--lm-url", lm.url, "--pm", "30", "--lm", "6", "--lm-size", "5",
        "--pm-per", "0.02", "--lm-per", "0.2", *extra,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def finish(proc: asyncio.Process) -> tuple[int, dict[str, int]]:
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode in (0, 6), err.decode()
    return proc.returncode, json.loads(out.decode().strip().splitlines()[-1])


def accepted(pm: RunningFake, lm: RunningFake) -> Counter[str]:
    seen: Counter[str] = Counter()
    for sent in pm.state.ledger:
        seen.update(r.lower() for r in sent.recipients)
    for email in lm.state.ledger:
        seen.update(r.email.lower() for r in email.recipients)
    return seen


EXPECTED = 30 + 6 * 5  # recipients of the worker's job


class TestTwoRunners:
    """One job, two processes: one owner sends, the other gets JobLockedError or waits."""

    async def test_second_runner_is_locked_out_before_any_request(self, tmp_path: Path) -> None:
        """Start B while A sends: B exits with JobLockedError (code 6); nobody gets two."""
        async with (
            run_fake("pecmassiva", send_rate=RateLimit(requests=1, per=0.02, margin=0)) as pm,
            run_fake("legallymail", rate=RateLimit(requests=10, per=0.2, margin=0)) as lm,
        ):
            journal = tmp_path / "jobs.sqlite"
            # A paces its 30 PEC Massiva sends 0.15 s apart (4.5 s in all), so it still holds
            # the job when B's interpreter is up, even on a loaded machine (B starts in ~1 s).
            slow = ("--pm-per", "0.15")
            a = await start(journal, pm, lm, *slow)
            for _ in range(2000):  # until A holds the job and has sent something
                if pm.state.ledger:
                    break
                await asyncio.sleep(0.005)
            b = await start(journal, pm, lm, *slow)
            (code_a, counts_a), (code_b, counts_b) = await asyncio.gather(finish(a), finish(b))
            seen = accepted(pm, lm)
            sends = pm.state.count("POST", "/send", status=201) + lm.state.count(
                "POST", "/api/send", status=200
            )  # accepted sends (a 429 under load is refused, then retried by A)
        assert (code_a, code_b) == (0, 6), (counts_a, counts_b)
        assert counts_b == {"locked": 1}
        assert sorted(seen.values()) == [1] * EXPECTED
        assert sends == 30 + 6  # the loser made no send at all

    async def test_simultaneous_starts_never_send_twice(self, tmp_path: Path) -> None:
        """Three rounds of two processes started together: zero duplicates, one owner each."""
        async with (
            run_fake("pecmassiva", send_rate=RateLimit(requests=1, per=0.02, margin=0)) as pm,
            run_fake("legallymail", rate=RateLimit(requests=10, per=0.2, margin=0)) as lm,
        ):
            codes: list[tuple[int, int]] = []
            for round_ in range(3):
                journal = tmp_path / f"jobs-{round_}.sqlite"
                pm.state.ledger.clear()
                lm.state.ledger.clear()
                a, b = await asyncio.gather(start(journal, pm, lm), start(journal, pm, lm))
                (code_a, _), (code_b, _) = await asyncio.gather(finish(a), finish(b))
                codes.append((code_a, code_b))
                assert sorted(accepted(pm, lm).values()) == [1] * EXPECTED
        for pair in codes:
            assert sorted(pair) in ([0, 6], [0, 0])  # [0, 0]: B came after A had finished

    async def test_wait_lets_the_second_runner_finish_after_the_first(self, tmp_path: Path) -> None:
        """With --wait, B waits for A's lease, then finds everything done and sends nothing."""
        async with (
            run_fake("pecmassiva", send_rate=RateLimit(requests=1, per=0.02, margin=0)) as pm,
            run_fake("legallymail", rate=RateLimit(requests=10, per=0.2, margin=0)) as lm,
        ):
            journal = tmp_path / "jobs.sqlite"
            a = await start(journal, pm, lm, "--wait")
            for _ in range(2000):
                if pm.state.ledger:
                    break
                await asyncio.sleep(0.005)
            b = await start(journal, pm, lm, "--wait")
            (code_a, _), (code_b, counts_b) = await asyncio.gather(finish(a), finish(b))
            seen = accepted(pm, lm)
        assert (code_a, code_b) == (0, 0)
        assert set(counts_b) == {"skipped"}
        assert sorted(seen.values()) == [1] * EXPECTED
