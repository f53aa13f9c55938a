"""Each failure gets its scope: the chunk, the lane, or a pause (issue 9, finding 4)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from certmail_async import (
    AuthenticationError,
    BulkDispatcher,
    ChunkOutcome,
    ChunkStatus,
    ConnectError,
    OutOfCreditsError,
    PecMassivaClient,
    Progress,
    RetryPolicy,
)
from certmail_async.testing import RunningFake, run_fake
from tests.bulk.conftest import LM_RATE, PM_CAP, PM_RATE, Clients, collect, lm_msg, pm_msg

pytestmark = pytest.mark.timeout(60)

FAST = RetryPolicy(base=0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TestAccountErrors:
    """401, 403 and no credit stop the lane; the chunks stay pending for a later run."""

    async def test_wrong_token_stops_the_lane_and_a_good_one_sends_everything(
        self, pm: RunningFake, lm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """A 401 leaves every PEC Massiva chunk pending (none FAILED); the re-run sends them."""
        journal = tmp_path / "j.sqlite"
        messages = [pm_msg(i) for i in range(20)] + [lm_msg(i) for i in range(3)]
        wrong = PecMassivaClient(
            token="wrong-token", username=pm.state.username, password=pm.state.password,
            base_url=pm.url, rate_limit=PM_RATE, retry_policy=FAST,
        )  # fmt: skip
        async with wrong, BulkDispatcher(clients=[wrong, clients[1]], journal=journal) as d:
            outcomes: list[ChunkOutcome] = []

            async def consume() -> None:
                async for outcome in d.run("token", messages):
                    outcomes.append(outcome)

            with pytest.raises(AuthenticationError):
                await consume()
            status = await d.status("token")
        assert not any(o.status is ChunkStatus.FAILED for o in outcomes)
        assert "failed" not in status.chunks
        assert status.chunks.get("sent") == 3  # the other lane went on
        assert pm.state.count("POST", "/send") == 1  # one refusal, then the lane stopped
        async with BulkDispatcher(clients=list(clients), journal=journal) as d:
            outcomes = await collect(d.run("token", messages))
            assert (await d.status("token")).finished
        assert sum(o.status is ChunkStatus.SENT for o in outcomes) == 20
        assert sorted(pm.state.sent_to(f"p{i}@pec.example.it") for i in range(20)) == [1] * 20

    async def test_no_credit_stops_the_lane_with_a_typed_error(
        self, clients: Clients, tmp_path: Path
    ) -> None:
        """LegallyMail's 403 'no credits' is OutOfCreditsError; the rest stays pending."""
        from tests.bulk.conftest import LM_CAP

        async with (
            run_fake("legallymail", rate=LM_CAP, credits=2) as lm,
            lm.client(rate_limit=LM_RATE, retry_policy=FAST) as client,
            BulkDispatcher(clients=[client], journal=tmp_path / "j.sqlite") as d,
        ):
            with pytest.raises(OutOfCreditsError):
                await collect(d.run("credits", [lm_msg(i) for i in range(5)]))
            status = await d.status("credits")
        assert status.chunks == {"sent": 2, "pending": 3}


class TestOutage:
    """An unreachable provider pauses the lane; the budget ends the run with chunks pending."""

    async def test_unreachable_says_so_and_ends_pending(self, tmp_path: Path) -> None:
        """The progress names the outage and the next try; nothing is FAILED."""
        port = free_port()
        client = PecMassivaClient(
            token="t0ken-t0ken", username="box@pecmassiva.com", password="pw",
            base_url=f"http://127.0.0.1:{port}", rate_limit=PM_RATE, retry_policy=FAST,
            max_retries=0,
        )  # fmt: skip
        seen: list[Progress] = []
        async with (
            client,
            BulkDispatcher(
                clients=[client], journal=tmp_path / "j.sqlite", on_progress=seen.append,
                outage_budget=0.3, outage_backoff=RetryPolicy(base=0.05, cap=0.1),
            ) as d,
        ):  # fmt: skip
            with pytest.raises(ConnectError):
                await collect(d.run("down", [pm_msg(i) for i in range(5)]))
            status = await d.status("down")
        notices = [p.notice for p in seen if p.notice]
        assert any("provider unreachable, retry in" in n for n in notices)
        assert seen[-1].lanes["pecmassiva"].startswith("stopped")
        assert status.chunks == {"pending": 5}

    async def test_a_short_outage_is_ridden_out(self, tmp_path: Path) -> None:
        """Connect errors are retried, sends included (nothing left): all sent once."""
        port = free_port()
        client = PecMassivaClient(
            token="fake-pecmassiva-token", username="box@pecmassiva.com",
            password="fake-mailbox-password", base_url=f"http://127.0.0.1:{port}",
            rate_limit=PM_RATE, retry_policy=FAST, max_retries=0,
        )  # fmt: skip
        seen: list[Progress] = []
        async with (
            client,
            BulkDispatcher(
                clients=[client], journal=tmp_path / "j.sqlite", on_progress=seen.append,
                outage_budget=10.0, outage_backoff=RetryPolicy(base=0.05, cap=0.1),
            ) as d,
        ):  # fmt: skip
            run = d.run("blip", [pm_msg(i) for i in range(3)])
            task = asyncio.ensure_future(run.__anext__())
            await asyncio.sleep(0.15)  # the lane is paused, retrying
            assert not task.done()
            async with run_fake("pecmassiva", port=port, send_rate=PM_CAP) as pm:
                outcomes = [await task, *[o async for o in run]]
                ledger = list(pm.state.ledger)
        assert [o.status for o in outcomes] == [ChunkStatus.SENT] * 3
        assert sorted(r for s in ledger for r in s.recipients) == [
            f"p{i}@pec.example.it" for i in range(3)
        ]
        assert any(p.notice and "unreachable" in p.notice for p in seen)
        assert seen[-1].notice is None


class TestRetryFailed:
    """FAILED is final unless a run asks for retry_failed."""

    async def test_failed_chunks_are_resent_only_on_request(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """A 400 fails a chunk; a plain re-run skips it; retry_failed sends it once."""
        pm.state.faults.inject("POST", "/send", status=400)
        messages = [pm_msg(0), pm_msg(1)]
        first = await collect(dispatcher.run("rf", messages))
        assert [o.status for o in first] == [ChunkStatus.FAILED, ChunkStatus.SENT]
        again = await collect(dispatcher.run("rf", messages))
        assert [o.status for o in again] == [ChunkStatus.SKIPPED] * 2
        assert pm.state.sent_to("p0@pec.example.it") == 0
        retried = await collect(dispatcher.run("rf", messages, retry_failed=True))
        assert {o.seq: o.status for o in retried} == {0: ChunkStatus.SENT, 1: ChunkStatus.SKIPPED}
        assert pm.state.sent_to("p0@pec.example.it") == 1
        assert pm.state.sent_to("p1@pec.example.it") == 1


class TestPauseLongerThanTheDeadline:
    """A scope pause longer than a call's deadline makes the lane wait, never stop."""

    async def test_lane_waits_out_a_pause_beyond_the_timeout(
        self, pm: RunningFake, tmp_path: Path
    ) -> None:
        """A 429 pausing 0.3 s with a 0.05 s call timeout: the chunks wait, then are SENT."""
        pm.state.faults.inject("POST", "/send", status=429, retry_after="0.3", times=1)
        progress: list[Progress] = []
        client = pm.client(rate_limit=PM_RATE, retry_policy=FAST, timeout=0.05, max_retries=0)
        async with (
            client,
            BulkDispatcher(
                clients=[client], journal=tmp_path / "j.sqlite", on_progress=progress.append
            ) as d,
        ):
            outcomes = await collect(d.run("pause", [pm_msg(i) for i in range(3)]))
        assert [o.status for o in outcomes] == [ChunkStatus.SENT] * 3
        assert pm.state.count("POST", "/send", status=429) == 1
        assert sorted(pm.state.sent_to(f"p{i}@pec.example.it") for i in range(3)) == [1] * 3
        assert any(p.notice and "rate limit" in p.notice for p in progress)
