"""Polling with backoff and a deadline, on the event loop's clock (shared by the trackers).

A wait for delivery polls, sleeps, polls again: the sleeps start at ``interval`` seconds
and double up to ``max_interval``, never past the deadline, and the last poll happens at
the deadline itself, so the caller always leaves with the freshest state.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

from ._exceptions import ValidationError

__all__ = ["check_wait", "wait_rounds"]


def check_wait(timeout: object, interval: object, max_interval: object) -> None:
    """Validate the polling parameters of a wait (seconds; ``timeout`` None: no deadline)."""
    for name, value, optional in (
        ("timeout", timeout, True),
        ("interval", interval, False),
        ("max_interval", max_interval, False),
    ):
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValidationError(f"expected seconds > 0, got {value!r}", field=name)
        if not math.isfinite(value):
            raise ValidationError(f"expected finite seconds, got {value!r}", field=name)
    if max_interval < interval:  # type: ignore[operator]
        raise ValidationError("max_interval is shorter than interval", field="max_interval")


async def wait_rounds(
    timeout: float | None, interval: float, max_interval: float
) -> AsyncIterator[bool]:
    """Yield before each poll; ``True`` on the last one (the deadline is reached after it).

    The waits between polls start at ``interval`` and double up to ``max_interval``, never
    past the deadline; time is the event loop's (a virtual clock in tests).
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    wait = interval
    while True:
        last = deadline is not None and loop.time() >= deadline
        yield last
        if last:
            return
        pause = wait if deadline is None else min(wait, max(deadline - loop.time(), 0.0))
        await asyncio.sleep(pause)
        wait = min(wait * 2, max_interval)
