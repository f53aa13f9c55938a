"""Fixtures for the LegallyMail tests: a fake on scaled time and a client paced under it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from certmail_async import LegallyMailClient, RateLimit, RetryPolicy
from certmail_async.testing import RunningFake, run_fake

# A provider "minute" lasts 0.3 s here: 10 requests per 0.3 s, one every ~40 ms paced.
SCALED_MINUTE = 0.3
CLIENT_RATE = RateLimit(requests=10, per=SCALED_MINUTE, margin=0.25)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[RunningFake]:
    """A fake LegallyMail with its per-IP cap on a 0.3 s minute."""
    # Tests marked ``fake_thread`` judge the client's pacing by the fake's refusals: the
    # fake then runs on its own loop, so a stall of the test's loop cannot bunch arrivals.
    threaded = request.node.get_closest_marker("fake_thread") is not None
    async with run_fake(
        "legallymail", rate=RateLimit(requests=10, per=SCALED_MINUTE, margin=0), thread=threaded
    ) as running:
        yield running


@pytest.fixture
async def client(fake: RunningFake) -> AsyncIterator[LegallyMailClient]:
    """A client pointed at the fake, paced under its cap, retrying without waiting."""
    async with fake.client(rate_limit=CLIENT_RATE, retry_policy=RetryPolicy(base=0.0)) as c:
        yield c
