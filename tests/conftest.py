"""Shared test helpers."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import looptime
import pytest

from tests.servers import (  # noqa: F401 - real PostgreSQL and Redis for the tests that ask
    postgres_database,
    postgres_dsn,
    postgres_schema,
    postgres_server,
    redis_factory,
    redis_process,
    redis_server,
    redis_url,
)

T = TypeVar("T")


def _virtual_loop() -> asyncio.AbstractEventLoop:
    loop = looptime.new_event_loop(start=0.0)
    # looptime asks, on every idle turn of the loop, whether a run_in_executor future is
    # pending, by iterating a WeakSet of them: ~40% of a pacing simulation's time. The
    # same question on a plain set (same futures, held until the loop is dropped) costs
    # next to nothing; the answers, hence the virtual clock's moves, are identical.
    futures = "_LoopTimeEventLoop__sync_futures"
    if isinstance(getattr(loop, futures, None), weakref.WeakSet):
        setattr(loop, futures, set(getattr(loop, futures)))
    return loop


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on an event loop whose clock is virtual (sleeps take no real time)."""
    with asyncio.Runner(loop_factory=_virtual_loop) as runner:
        return runner.run(coro)


@pytest.fixture(autouse=True)
def _own_current_event_loop() -> Iterator[None]:
    """Give each test a current event loop that we own and close.

    pytest-asyncio's policy swap calls ``asyncio.get_event_loop()``, which creates a loop
    when none is set (after a sync test, say) and never closes it; garbage collection then
    raises "unclosed event loop" in some later test (pytest-asyncio issue #724). Owning the
    current loop removes the leak without sharing loops (and pacing gates) across tests.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()
