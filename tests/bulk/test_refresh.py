"""Refreshing a job's delivery evidence: per recipient, archived, cleaned, never lowered."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from certmail_async import (
    BulkDispatcher,
    JobNotFoundError,
    LegallyMailClient,
    OutgoingMessage,
    PecMassivaClient,
    RetryPolicy,
    ValidationError,
)
from certmail_async.bulk._refresh import refresh_evidence
from certmail_async.testing import FakeLegallyMail, FakePecMassiva, RunningFake, run_fake
from tests.bulk.conftest import collect

pytestmark = pytest.mark.timeout(60)


class Clock:
    """A fake's clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


PEC = {
    "anna@pec.example.it": "delivered",
    "ghost@pec.example.it": "not-delivered",
    "virus@pec.example.it": "virus",
    "late@pec.example.it": "delayed",
    "quiet@pec.example.it": "silent",
}


def pec_messages() -> list[OutgoingMessage]:
    one = [
        OutgoingMessage(provider="pecmassiva", recipients=[a], subject=f"Avviso {i}",
                        body="<p>Testo</p>")
        for i, a in enumerate(PEC)
    ]  # fmt: skip
    group = OutgoingMessage(
        provider="pecmassiva",
        recipients=["g1@pec.example.it", "g2@pec.example.it"],
        subject="Avviso gruppo",
        body="<p>Testo</p>",
    )
    return [*one, group]


@pytest.fixture
async def pec() -> AsyncIterator[tuple[RunningFake, Clock, PecMassivaClient]]:
    """A PEC Massiva fake (no send cap; receipts 10 s after a send, fake time) and a client."""
    clock = Clock()
    fake = FakePecMassiva(send_rate=None, deliver_delay=10.0, warning_delay=100.0)
    fake.clock = clock
    fake.outcomes.update(PEC)  # type: ignore[arg-type]
    async with (
        run_fake(fake) as running,
        running.client(rate_limit=None, retry_policy=RetryPolicy(base=0.0)) as client,
    ):
        yield running, clock, client


async def sent(client: Any, journal: Path, messages: list[OutgoingMessage]) -> None:
    async with BulkDispatcher(clients=[client], journal=journal) as d:
        await collect(d.run("job", messages))


async def states(journal: Path) -> dict[str, str]:
    from certmail_async.bulk import SQLiteJournal

    store = SQLiteJournal(journal)
    try:
        return {r.recipient: r.outcome for r in await store.evidence("job")}
    finally:
        await store.aclose()


async def refresh(journal: Path, client: Any, **kw: Any) -> Any:
    from certmail_async.bulk import SQLiteJournal

    store = SQLiteJournal(journal)
    try:
        return await refresh_evidence(store, "job", clients=[client], **kw)
    finally:
        await store.aclose()


class TestPecMassiva:
    async def test_outcomes_per_recipient_and_only_unsettled_are_asked_again(
        self, pec: Any, tmp_path: Path
    ) -> None:
        """First refresh: pending; later: each its outcome; settled ones cost nothing after."""
        _fake, clock, client = pec
        journal = tmp_path / "j.sqlite"
        await sent(client, journal, pec_messages())
        first = await refresh(journal, client)
        assert set(first.outcomes) == {"pending"}
        clock.now += 10
        second = await refresh(journal, client)
        assert second.asked == 7
        assert await states(journal) == {
            "anna@pec.example.it": "delivered",
            "ghost@pec.example.it": "not-delivered",
            "virus@pec.example.it": "not-delivered",
            "late@pec.example.it": "pending-warning",
            "quiet@pec.example.it": "pending",
            "g1@pec.example.it": "delivered",
            "g2@pec.example.it": "delivered",
        }
        assert second.pending == 2
        clock.now += 100
        third = await refresh(journal, client)
        assert third.asked == 2  # only the late and the quiet one
        assert third.skipped == 5
        assert (await states(journal))["late@pec.example.it"] == "delivered"

    async def test_receipts_are_archived_by_digest(self, pec: Any, tmp_path: Path) -> None:
        """With an evidence directory each send's receipts are saved with their text."""
        _fake, clock, client = pec
        journal, folder = tmp_path / "j.sqlite", tmp_path / "evidence"
        await sent(client, journal, pec_messages()[:1])
        clock.now += 10
        summary = await refresh(journal, client, evidence_dir=folder)
        (saved,) = (folder / "receipts").glob("*.json")
        items = json.loads(saved.read_text())
        assert [i["kind"] for i in items] == ["accettazione", "avvenuta-consegna"]
        assert "anna@pec.example.it" in items[1]["body"]
        assert summary.archived == 2
        from certmail_async.bulk import SQLiteJournal

        store = SQLiteJournal(journal)
        archived = await store.archived_receipts("job", 0)
        await store.aclose()
        assert {a.digest for a in archived} == {i["digest"] for i in items}
        assert {a.file for a in archived} == {f"receipts/{saved.name}"}

    async def test_cleanup_only_after_archiving_and_only_final_sends(
        self, pec: Any, tmp_path: Path
    ) -> None:
        """Final sends lose their INBOX receipts (saved first); pending ones keep them."""
        fake, clock, client = pec
        journal, folder = tmp_path / "j.sqlite", tmp_path / "evidence"
        await sent(client, journal, pec_messages())
        clock.now += 10
        summary = await refresh(journal, client, evidence_dir=folder, cleanup=True)
        assert summary.cleaned == 4  # anna, ghost, virus, the group
        left = {m.subject.split(": ", 1)[1].rsplit(" ", 1)[0] for m in fake.state.inbox}
        assert left == {"Avviso 3", "Avviso 4"}  # the late and the quiet send
        # saved: the receipts read with their text, i.e. of the sends that are final
        assert len(list((folder / "receipts").glob("*.json"))) == 4
        assert (await states(journal))["anna@pec.example.it"] == "delivered"
        again = await refresh(journal, client, evidence_dir=folder, cleanup=True)
        assert again.cleaned == 0
        assert again.asked == 2
        assert (await states(journal))["anna@pec.example.it"] == "delivered"

    async def test_cleanup_needs_an_evidence_directory(self, pec: Any, tmp_path: Path) -> None:
        """Deleting receipts that were never saved is refused before anything happens."""
        _fake, _clock, client = pec
        with pytest.raises(ValidationError) as info:
            await refresh(tmp_path / "j.sqlite", client, cleanup=True)
        assert info.value.field == "cleanup"

    async def test_unknown_job(self, pec: Any, tmp_path: Path) -> None:
        """A job the journal does not hold is JobNotFoundError."""
        _fake, _clock, client = pec
        with pytest.raises(JobNotFoundError):
            await refresh(tmp_path / "j.sqlite", client)

    async def test_many_sends_are_read_from_the_inbox_pages(self, pec: Any, tmp_path: Path) -> None:
        """60 one-recipient sends: a few INBOX pages, not 60 reads."""
        fake, clock, client = pec
        journal = tmp_path / "j.sqlite"
        messages = [
            OutgoingMessage(provider="pecmassiva", recipients=[f"u{i}@pec.example.it"],
                            subject=f"Avviso {i}", body="<p>x</p>")
            for i in range(60)
        ]  # fmt: skip
        await sent(client, journal, messages)
        clock.now += 10
        fake.state.requests.clear()
        summary = await refresh(journal, client)
        assert summary.outcomes == {"delivered": 60}
        assert fake.state.count("GET", "/send/{code}") == 0
        assert summary.calls == fake.state.count("GET", "/inbox") <= 7


@pytest.fixture
async def lm() -> AsyncIterator[tuple[RunningFake, Clock, LegallyMailClient]]:
    """A LegallyMail fake (no cap; delivered 10 s, read 50 s after, fake time) and a client."""
    clock = Clock()
    fake = FakeLegallyMail(rate=None, deliver_delay=10.0, read_delay=50.0)
    fake.clock = clock
    fake.outcomes.update({"unread@example.com": "unread", "bounce@example.com": "bounce"})
    async with (
        run_fake(fake) as running,
        running.client(rate_limit=None, retry_policy=RetryPolicy(base=0.0)) as client,
    ):
        yield running, clock, client


class TestLegallyMail:
    async def test_certificates_saved_once_and_read_upgrades(self, lm: Any, tmp_path: Path) -> None:
        """delivered -> read: the read certificate is fetched then, the delivery one not again."""
        fake, clock, client = lm
        journal, folder = tmp_path / "j.sqlite", tmp_path / "evidence"
        message = OutgoingMessage(
            provider="legallymail",
            recipients=["anna@example.com", "unread@example.com", "bounce@example.com"],
            subject="Contratto",
            body="<p>x</p>",
        )
        await sent(client, journal, [message])
        clock.now += 20
        first = await refresh(journal, client, evidence_dir=folder)
        assert await states(journal) == {
            "anna@example.com": "delivered",
            "unread@example.com": "delivered",
            "bounce@example.com": "failed",
        }
        assert first.certificates == 2
        clock.now += 100
        second = await refresh(journal, client, evidence_dir=folder)
        assert second.certificates == 1
        assert (await states(journal))["anna@example.com"] == "read"
        from certmail_async.bulk import SQLiteJournal

        store = SQLiteJournal(journal)
        rows = {r.recipient: r for r in await store.evidence("job")}
        await store.aclose()
        anna = rows["anna@example.com"]
        assert sorted(c.kind for c in anna.certificates) == ["delivered", "read"]
        assert all(c.matches for c in anna.certificates)
        assert anna.strength == 3
        assert all((folder / c.path).read_bytes().startswith(b"%PDF-") for c in anna.certificates)
        assert len(fake.state.downloads) == 3
        third = await refresh(journal, client, evidence_dir=folder)
        assert third.certificates == 0
        assert len(fake.state.downloads) == 3
