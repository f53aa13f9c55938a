"""LegallyMail's list window filled by other sends: "out of view" is never "not sent"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    DeliveryUnknownError,
    OutgoingMessage,
)
from certmail_async.bulk._resume import OUT_OF_VIEW
from certmail_async.testing import RunningFake
from tests.bulk.conftest import Clients, collect

pytestmark = pytest.mark.timeout(60)


def message(to: str, subject: str = "Avviso") -> OutgoingMessage:
    return OutgoingMessage(
        provider="legallymail", recipients=[to], subject=subject, body="<p>b</p>"
    )


def dispatcher(clients: Clients, journal: Path, **kw: Any) -> BulkDispatcher:
    return BulkDispatcher(clients=[clients[1]], journal=journal, reconcile_tries=1, **kw)


class TestOutOfView:
    """LegallyMail's latest-25 list filled by another job: the chunk is out of view."""

    async def test_retry_unknown_does_not_resend_out_of_view(
        self, lm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """The reason says out of view, is kept in the journal, and nothing is sent twice."""
        journal = tmp_path / "j.sqlite"
        to = "x@example.com"
        lm.state.faults.inject("POST", "/api/send", status=500, after_record=True)
        lm.state.faults.inject("GET", "/api/emails", status=503, times=None)
        lm.state.faults.inject("GET", "/api/email", status=503, times=None)
        a = [message(to)]
        async with dispatcher(clients, journal) as d:
            with pytest.raises(DeliveryUnknownError):
                await collect(d.run("A", a))
        lm.state.faults.clear()
        others = [message(f"b{i}@example.com", f"other {i}") for i in range(26)]
        async with dispatcher(clients, journal) as d:
            await collect(d.run("B", others))
            [first] = await collect(d.run("A", a))
            assert first.status is ChunkStatus.UNKNOWN
            assert OUT_OF_VIEW in (first.error or "")
            record = await d.journal.get("A", 0)
            assert record is not None
            assert OUT_OF_VIEW in (record.error or "")
            [again] = await collect(d.run("A", a, retry_unknown=True))
            assert again.status is ChunkStatus.UNKNOWN
            assert OUT_OF_VIEW in (again.error or "")
        assert lm.state.sent_to(to) == 1  # never a second copy

    async def test_a_full_list_that_reaches_back_is_in_view(
        self, lm: RunningFake, clients: Clients, tmp_path: Path
    ) -> None:
        """Not found in a list that covers the window: "not found", resendable by decision."""
        journal = tmp_path / "j.sqlite"
        others = [message(f"b{i}@example.com", f"other {i}") for i in range(26)]
        async with dispatcher(clients, journal) as d:
            await collect(d.run("B", others))
            for i, email in enumerate(lm.state.ledger):  # sent a minute ago: the list
                lm.state.ledger[i] = attrs.evolve(  # reaches back past the window
                    email, at_wall=email.at_wall - timedelta(seconds=60)
                )
            lm.state.faults.inject("POST", "/api/send", status=500)  # not processed
            with pytest.raises(DeliveryUnknownError):
                await collect(d.run("A", [message("x@example.com")]))
            [again] = await collect(d.run("A", [message("x@example.com")], retry_unknown=True))
        assert again.status is ChunkStatus.SENT
        assert lm.state.sent_to("x@example.com") == 1
