"""A scope's schedule across event loops: asyncio.run() per request keeps the spacing."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from certmail_async import PacingState, RateLimit
from certmail_async._pacing import _SHARED, gate_for
from certmail_async.testing import run_fake
from tests.conftest import run_virtual

RATE = RateLimit(requests=1, per=0.2, slack=0.01)  # one every 0.21 s
SEND = {"recipients": ["a@pec.example.it"], "subject": "s", "body": "b"}


async def _depart(scope: str, origin: str | None = "https://h.example") -> float:
    gate = gate_for(scope, RATE, origin=origin)
    await gate.acquire()
    return await gate.depart()


class TestAcrossAsyncioRun:
    def test_second_run_waits_for_the_first_runs_slot(self) -> None:
        """Two asyncio.run() calls on one scope leave one interval apart, not at once."""
        first = asyncio.run(_depart("across-slot"))
        second = asyncio.run(_depart("across-slot"))
        assert second - first >= RATE.cap_interval

    def test_without_an_origin_each_loop_starts_afresh(self) -> None:
        """gate_for without origin keeps one schedule per loop (as before)."""
        first = asyncio.run(_depart("across-none", origin=None))
        started = time.monotonic()
        second = asyncio.run(_depart("across-none", origin=None))
        assert second - started < RATE.cap_interval / 2
        assert second - first < RATE.cap_interval

    def test_pause_survives_the_loop(self) -> None:
        """A pause set in one run holds the next run's callers."""

        async def pause() -> None:
            gate_for("across-pause", RATE, origin="o").pause(0.15)

        async def wait() -> float:
            started = asyncio.get_running_loop().time()
            await gate_for("across-pause", RATE, origin="o").wait_unpaused()
            return asyncio.get_running_loop().time() - started

        asyncio.run(pause())
        assert asyncio.run(wait()) >= 0.1

    def test_what_was_learned_survives_the_loop(self) -> None:
        """A 429 in one run leaves the scope strict for the next run."""

        async def refuse() -> None:
            gate_for("across-learn", RATE, origin="o").refused(0.0)

        async def state() -> PacingState:
            return gate_for("across-learn", RATE, origin="o").state

        asyncio.run(refuse())
        after = asyncio.run(state())
        assert after.mode == "strict"
        assert after.refusals == 1

    def test_a_schedule_unused_for_two_windows_starts_afresh(self) -> None:
        """Idle for two windows: the next loop gets a fresh schedule (no old pause, no 429s)."""

        async def refuse() -> None:
            gate = gate_for("across-idle", RATE, origin="o")
            gate.refused(30.0)

        async def state() -> PacingState:
            return gate_for("across-idle", RATE, origin="o").state

        asyncio.run(refuse())
        _SHARED[("across-idle", "o")].used -= 2 * RATE.per + 0.01  # as if unused since
        fresh = asyncio.run(state())
        assert fresh.refusals == 0
        assert fresh.paused_for == 0.0
        assert fresh.mode == "window"

    def test_origins_do_not_share(self) -> None:
        """The same scope on two hosts (production, a fake) keeps two schedules."""
        first = asyncio.run(_depart("across-hosts", origin="https://a.example"))
        started = time.monotonic()
        asyncio.run(_depart("across-hosts", origin="https://b.example"))
        assert time.monotonic() - started < RATE.cap_interval / 2
        assert first > 0

    def test_virtual_clocks_never_share(self) -> None:
        """A loop with a virtual clock keeps its own schedule, origin or not."""
        assert run_virtual(_depart("across-virtual")) == 0.0
        assert run_virtual(_depart("across-virtual")) == 0.0


@contextlib.contextmanager
def _fake_in_a_thread(**options: Any) -> Iterator[Any]:
    """A fake PEC Massiva on its own loop in a thread, outliving the caller's loops."""
    ready = threading.Event()
    stop: list[asyncio.AbstractEventLoop] = []
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with run_fake("pecmassiva", **options) as fake:
            box["fake"] = fake
            stop.append(asyncio.get_running_loop())
            box["done"] = asyncio.Event()
            ready.set()
            await box["done"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield box["fake"]
    finally:
        stop[0].call_soon_threadsafe(box["done"].set)
        thread.join(10)


class TestClientPerRun:
    def test_a_client_per_asyncio_run_keeps_the_spacing(self) -> None:
        """Each send in its own asyncio.run() with its own client: the fake refuses none."""
        cap = RateLimit(requests=1, per=0.2, margin=0)
        with _fake_in_a_thread(send_rate=cap) as fake:

            async def send_one() -> None:
                async with fake.client(rate_limit=RATE) as client:
                    await client.sends.create(**SEND)

            for _ in range(3):
                asyncio.run(send_one())
            arrivals = [r.at for r in fake.state.requests if r.route == "/send"]
            rejected = fake.state.send_cap.rejected
        assert len(arrivals) == 3
        assert rejected == 0
        assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.19


@pytest.fixture(autouse=True)
def _forget_shared() -> Iterator[None]:
    """Each test starts without the schedules the previous ones left."""
    yield
    _SHARED.clear()
