"""Shared test helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import looptime

T = TypeVar("T")


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on an event loop whose clock is virtual (sleeps take no real time)."""
    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0.0)) as runner:
        return runner.run(coro)
