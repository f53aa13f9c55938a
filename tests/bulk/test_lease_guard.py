"""A stale owner cannot write a send after a takeover: the last-moment lease guard."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    JobLockedError,
    LegallyMailClient,
    PecMassivaClient,
)
from certmail_async.bulk import SQLiteJournal
from certmail_async.bulk._lanes import lease_margin
from certmail_async.testing import RunningFake

from .conftest import lm_msg, pm_msg

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
Clients = tuple[PecMassivaClient, LegallyMailClient]


class Refused(Exception):
    """What the test's guard raises."""


def take_over(journal: Path, *, until_lapsed: bool = False) -> int:
    """Another OS process takes the job's lease (token) and exits.

    ``until_lapsed``: while the lease is still held, ask again (bounded at 10 s).
    """
    deadline = time.monotonic() + 10
    while True:
        done = subprocess.run(
            [sys.executable, "-m", "tests.bulk.lease_worker", "--journal", str(journal),
             "--owner", "taker"],
            input="acquire 30\n", capture_output=True, text=True, cwd=ROOT, timeout=30,
            check=True,
        )  # fmt: skip
        answer: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        if "token" in answer or not until_lapsed or time.monotonic() > deadline:
            token: int = answer["token"]
            return token


class TestTransportLastCheck:
    """``last_check`` runs right before the write; what it raises leaves nothing sent."""

    async def test_pecmassiva_send_aborts_with_nothing_written(
        self, pm: RunningFake, clients: Clients
    ) -> None:
        """The guard runs after before_send, its error propagates, the provider has nothing."""
        calls: list[str] = []

        async def before_send() -> None:
            calls.append("before_send")

        def last_check() -> None:
            calls.append("last_check")
            raise Refused

        with pytest.raises(Refused):
            await clients[0].sends.create(
                recipients=["a@pec.example.it"], subject="S", body="<p>b</p>",
                before_send=before_send, last_check=last_check,
            )  # fmt: skip
        assert calls == ["before_send", "last_check"]
        assert pm.state.sent_to("a@pec.example.it") == 0

    async def test_legallymail_send_aborts_with_nothing_written(
        self, lm: RunningFake, clients: Clients
    ) -> None:
        """Same on LegallyMail; a passing guard lets the send through."""
        with pytest.raises(Refused):
            await clients[1].emails.send(
                recipients=["a@example.com"], subject="S", html="<p>b</p>",
                last_check=lambda: (_ for _ in ()).throw(Refused()),
            )  # fmt: skip
        assert lm.state.sent_to("a@example.com") == 0
        await clients[1].emails.send(
            recipients=["a@example.com"], subject="S", html="<p>b</p>", last_check=lambda: None
        )
        assert lm.state.sent_to("a@example.com") == 1


class TestLeaseMargin:
    """The margin a lane keeps before its lease ends."""

    def test_margin_covers_the_connect_time_within_half_the_ttl(self) -> None:
        """A third of the ttl at least, connect + 1 s when it fits in half the ttl."""
        assert lease_margin(30.0, 5.0) == 10.0
        assert lease_margin(9.0, 5.0) == 4.5
        assert lease_margin(60.0, 5.0) == 20.0
        assert lease_margin(1.5, None) == 0.5  # short leases: a third, slack for renewals


class TestStaleOwner:
    """An owner stopped between its in-flight commit and its write sends nothing after."""

    @pytest.mark.parametrize("provider", ["pecmassiva", "legallymail"])
    async def test_stopped_owner_does_not_send_after_a_takeover(
        self,
        pm: RunningFake,
        lm: RunningFake,
        clients: Clients,
        tmp_path: Path,
        provider: str,
    ) -> None:
        """Frozen after the fenced commit past its ttl, taken over by another process: no write."""
        journal = tmp_path / "jobs.sqlite"
        client = clients[0] if provider == "pecmassiva" else clients[1]
        fake = pm if provider == "pecmassiva" else lm
        msgs = [pm_msg(0)] if provider == "pecmassiva" else [lm_msg(0)]
        address = msgs[0].recipients[0]
        tokens: list[int] = []

        def freeze(point: str, seq: int) -> None:
            if point == "after_in_flight" and not tokens:
                # The whole loop frozen like a SIGSTOP (this hook blocks it): no
                # heartbeat; once the lease lapses another process takes the job over.
                tokens.append(take_over(journal, until_lapsed=True))

        async with BulkDispatcher(
            clients=[client], journal=journal, lease_ttl=0.15, hook=freeze
        ) as stale:
            with pytest.raises(JobLockedError):
                async for _ in stale.run("job", msgs):
                    pass
        assert tokens == [2]
        assert fake.state.sent_to(address) == 0  # the stale owner wrote nothing

        # The taker is gone (its pid is dead): the next run takes over, finds nothing at
        # the provider and, by explicit decision, sends once.
        async with BulkDispatcher(
            clients=[client], journal=journal, reconcile_tries=1, reconcile_backoff=0.01
        ) as d:
            outcomes = [o async for o in d.run("job", msgs, retry_unknown=True)]
        assert [o.status for o in outcomes] == [ChunkStatus.SENT]
        assert fake.state.sent_to(address) == 1

    async def test_a_healthy_short_lease_always_passes_the_guard(
        self, pm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """With the heartbeat at ttl/3 the guard never refuses a live owner (many renewals)."""
        journal = tmp_path / "jobs.sqlite"
        msgs = [pm_msg(i) for i in range(25)]
        async with BulkDispatcher(clients=[clients[0]], journal=journal, lease_ttl=0.6) as d:
            outcomes = [o async for o in d.run("job", msgs)]
        assert [o.status for o in outcomes] == [ChunkStatus.SENT] * 25
        assert len(pm.state.ledger) == 25
        reader = SQLiteJournal(journal, readonly=True)
        try:
            assert await reader.holder("job") is None  # released at the end
        finally:
            await reader.aclose()
