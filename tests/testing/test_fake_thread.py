"""Fakes served from their own thread: they answer and stamp arrivals while the caller's loop stalls."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.request

from certmail_async import RateLimit
from certmail_async.testing import run_fake
from certmail_async.testing._load import METRICS_PATH


def _busy(seconds: float, until: threading.Event) -> None:
    """Hold the calling event loop (CPU-bound, no await) until ``until`` is set or time is up."""
    end = time.monotonic() + seconds
    while not until.is_set() and time.monotonic() < end:
        pass


async def test_thread_fake_answers_while_the_callers_loop_is_blocked() -> None:
    """A request from another thread is answered while this loop runs CPU-bound code."""
    async with run_fake("pecmassiva", thread=True) as fake:
        answered = threading.Event()
        status: list[int] = []

        def ask() -> None:
            with urllib.request.urlopen(fake.url + METRICS_PATH, timeout=5) as response:  # noqa: S310
                status.append(response.status)
            answered.set()

        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        _busy(5.0, answered)  # an in-loop fake could not answer before this returns
        assert answered.is_set(), "the fake needed the caller's loop to answer"
        assert status == [200]
        await asyncio.to_thread(asker.join, 5)


async def test_thread_fake_keeps_its_ledger_and_cap_for_the_caller() -> None:
    """A paced client sends through a thread-served fake; the ledger shows every send, none refused."""
    cap = RateLimit(requests=1, per=0.05, margin=0)
    async with run_fake("pecmassiva", send_rate=cap, thread=True) as fake:
        async with fake.client(rate_limit=RateLimit(requests=1, per=0.05, slack=0.02)) as client:
            for n in range(3):
                await client.sends.create(
                    recipients=[f"dest{n}@pec.example.it"], subject=f"Avviso {n}", body="Testo"
                )
        assert [sent.subject for sent in fake.state.ledger] == ["Avviso 0", "Avviso 1", "Avviso 2"]
        assert not [r for r in fake.state.requests if r.status == 429]


async def test_thread_fake_releases_its_port() -> None:
    """Leaving the block stops the thread's server: its port refuses connections."""
    async with run_fake("legallymail", thread=True) as fake:
        port = int(fake.url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.1", port)) != 0
