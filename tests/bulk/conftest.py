"""Fixtures for the bulk tests: both fakes on scaled time and a journal per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkOutcome,
    LegallyMailClient,
    OutgoingMessage,
    PecMassivaClient,
    RateLimit,
    RetryPolicy,
)
from certmail_async.testing import RunningFake, run_fake

Clients = tuple[PecMassivaClient, LegallyMailClient]


async def collect(it: AsyncIterator[ChunkOutcome]) -> list[ChunkOutcome]:
    """Every outcome of a run, in order."""
    return [o async for o in it]


PM_CAP = RateLimit(requests=1, per=0.01, margin=0)  # a "second" of 10 ms
LM_CAP = RateLimit(requests=10, per=0.1, margin=0)  # a "minute" of 100 ms
PM_RATE = RateLimit(requests=1, per=0.01, margin=0.5)
LM_RATE = RateLimit(requests=10, per=0.1, margin=0.5)


def pm_msg(i: int, subject: str = "Avviso", **kw: object) -> OutgoingMessage:
    return OutgoingMessage(
        provider="pecmassiva", recipients=[f"p{i}@pec.example.it"], subject=subject,
        body=f"<p>{i}</p>", key=f"pm-{i}", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def lm_msg(i: int, n: int = 1, subject: str = "Notice") -> OutgoingMessage:
    return OutgoingMessage(
        provider="legallymail", recipients=[f"l{i}-{j}@example.com" for j in range(n)],
        subject=subject, body=f"<p>{i}</p>", key=f"lm-{i}",
    )  # fmt: skip


@pytest.fixture
async def pm() -> AsyncIterator[RunningFake]:
    """Fake PEC Massiva, 1 send per 10 ms."""
    async with run_fake("pecmassiva", send_rate=PM_CAP) as running:
        yield running


@pytest.fixture
async def lm() -> AsyncIterator[RunningFake]:
    """Fake LegallyMail, 10 requests per 100 ms."""
    async with run_fake("legallymail", rate=LM_CAP) as running:
        yield running


@pytest.fixture
async def clients(
    pm: RunningFake, lm: RunningFake
) -> AsyncIterator[tuple[PecMassivaClient, LegallyMailClient]]:
    """One client per fake, paced under its cap."""
    fast = RetryPolicy(base=0.0)
    async with (
        pm.client(rate_limit=PM_RATE, retry_policy=fast) as p,
        lm.client(rate_limit=LM_RATE, retry_policy=fast) as m,
    ):
        yield p, m


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """A fresh journal file."""
    return tmp_path / "jobs.sqlite"


@pytest.fixture
async def dispatcher(
    clients: tuple[PecMassivaClient, LegallyMailClient], journal_path: Path
) -> AsyncIterator[BulkDispatcher]:
    """A dispatcher over both clients."""
    async with BulkDispatcher(clients=list(clients), journal=journal_path) as d:
        yield d
