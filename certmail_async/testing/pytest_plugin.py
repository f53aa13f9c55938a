"""pytest fixtures for the fake providers (loaded automatically through an entry point).

Fixtures (async; they need pytest-asyncio, which pytest-aiohttp brings):

* ``fake_pecmassiva``: a running :class:`FakePecMassiva` on scaled time (``POST /send``
  capped at 1 request per 0.05 s instead of per second); ``fake_pecmassiva.client()``
  builds a client paced under that cap.
* ``fake_legallymail``: a running :class:`FakeLegallyMail` whose 10-per-minute cap runs on
  the same scale (a "minute" of 3 s); ``fake_legallymail.client()`` is paced under it.
* ``fake_openapi_pec``: a running :class:`FakeOpenapiPec` (openapi.it PEC and its
  openapi.com OAuth service at one URL); ``fake_openapi_pec.client()`` holds a token with
  every PEC scope, and ``OAuthClient(**fake_openapi_pec.state.oauth_kwargs(),
  base_url=fake_openapi_pec.url)`` issues more. Mailbox approvals are immediate.
* ``certmail_time_scale``: the scale itself (0.05), to override in a conftest.

Example:
    >>> async def test_send(fake_pecmassiva):  # doctest: +SKIP
    ...     async with fake_pecmassiva.client() as client:
    ...         await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
    ...     assert len(fake_pecmassiva.state.ledger) == 1
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..legallymail import LegallyMailClient
    from ..openapi_pec import OpenapiPecClient
    from ..pecmassiva import PecMassivaClient
    from . import FakeLegallyMail, FakeOpenapiPec, FakePecMassiva, RunningFake

# The fakes (and aiohttp) load inside the fixtures: a pytest run that uses none of them
# pays only for this module.

try:
    import pytest_asyncio

    HAVE_PYTEST_ASYNCIO = True
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio
    HAVE_PYTEST_ASYNCIO = False


@pytest.fixture
def certmail_time_scale() -> float:
    """Seconds of test time per second of provider time (override in a conftest)."""
    return 0.05


if HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def fake_pecmassiva(
        certmail_time_scale: float,
    ) -> AsyncIterator[RunningFake[FakePecMassiva, PecMassivaClient]]:
        """A fake PEC Massiva server with its send cap on scaled time."""
        from .._pacing import RateLimit
        from ._run import run_fake

        rate = RateLimit(requests=1, per=1.0 * certmail_time_scale, margin=0)
        async with run_fake("pecmassiva", send_rate=rate) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def fake_legallymail(
        certmail_time_scale: float,
    ) -> AsyncIterator[RunningFake[FakeLegallyMail, LegallyMailClient]]:
        """A fake LegallyMail server with its per-IP cap on scaled time."""
        from .._pacing import RateLimit
        from ._run import run_fake

        rate = RateLimit(requests=10, per=60.0 * certmail_time_scale, margin=0)
        async with run_fake("legallymail", rate=rate) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def fake_openapi_pec() -> AsyncIterator[RunningFake[FakeOpenapiPec, OpenapiPecClient]]:
        """A fake openapi.it PEC server that also answers the openapi.com OAuth service."""
        from ._run import run_fake

        async with run_fake("openapi_pec") as fake:
            yield fake
