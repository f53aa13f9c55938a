"""Fixtures for the PEC Massiva tests: a fake on scaled time and a client paced under it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from certmail_async import PecMassivaClient, RateLimit, RetryPolicy
from certmail_async.testing import RunningFake, run_fake

# A "second" of provider time lasts 20 ms here; the client keeps a wide margin so loopback
# jitter on a busy CI machine cannot push two sends into one server window.
SCALED_SECOND = 0.02
CLIENT_RATE = RateLimit(requests=1, per=SCALED_SECOND, margin=0.25)
# The pacing tests (marked ``fake_thread``) are judged by the fake's refusals, so their
# second is longer and their slack (40 ms) stays far above a busy machine's scheduling
# noise (a process descheduled for 10-25 ms between a write and the fake reading it).
PACED_SECOND = 0.1
PACED_CLIENT_RATE = RateLimit(requests=1, per=PACED_SECOND, slack=0.04)


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[RunningFake]:
    """A fake PEC Massiva with POST /send capped at 1 per scaled second."""
    # Tests marked ``fake_thread`` judge the client's pacing by the fake's refusals: the
    # fake then runs on its own loop, so a stall of the test's loop cannot bunch arrivals.
    threaded = request.node.get_closest_marker("fake_thread") is not None
    second = PACED_SECOND if threaded else SCALED_SECOND
    async with run_fake(
        "pecmassiva", send_rate=RateLimit(requests=1, per=second, margin=0), thread=threaded
    ) as running:
        yield running


@pytest.fixture
async def client(
    fake: RunningFake, request: pytest.FixtureRequest
) -> AsyncIterator[PecMassivaClient]:
    """A client pointed at the fake, paced under its cap, retrying without waiting."""
    threaded = request.node.get_closest_marker("fake_thread") is not None
    rate = PACED_CLIENT_RATE if threaded else CLIENT_RATE
    async with fake.client(rate_limit=rate, retry_policy=RetryPolicy(base=0.0)) as c:
        yield c
