"""Reconciliation compares subjects exactly (leading and trailing spaces included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    DeliveryUnknownError,
    OutgoingMessage,
)
from certmail_async.bulk._adapters import receipt_subject
from certmail_async.bulk._models import subject_digest
from certmail_async.testing import RunningFake
from tests.bulk.conftest import Clients, collect

pytestmark = pytest.mark.timeout(60)

PROVIDERS = ["pecmassiva", "legallymail"]


def message(provider: str, to: str, subject: str = "Avviso") -> OutgoingMessage:
    return OutgoingMessage(
        provider=provider,  # type: ignore[arg-type]
        recipients=[to], subject=subject, body="<p>b</p>",
    )  # fmt: skip


def dispatcher(clients: Clients, journal: Path, provider: str, **kw: Any) -> BulkDispatcher:
    client = clients[0] if provider == "pecmassiva" else clients[1]
    kw.setdefault("reconcile_tries", 1)
    return BulkDispatcher(clients=[client], journal=journal, **kw)


class TestSubjectDigest:
    """Subject fingerprints are exact."""

    def test_spaces_and_case_make_another_subject(self) -> None:
        """Leading or trailing whitespace and case are part of the subject."""
        digests = {subject_digest(s) for s in ("Avviso", "Avviso ", " Avviso", "avviso")}
        assert len(digests) == 4


class TestReceiptSubject:
    """PEC Massiva receipt subjects give the original back exactly."""

    def test_original_keeps_its_own_spaces(self) -> None:
        """One separator space after the prefix is dropped, nothing else."""
        assert receipt_subject("CONSEGNA: Avviso 123") == ("Avviso", "123")
        assert receipt_subject("CONSEGNA:  Avviso 123") == (" Avviso", "123")
        assert receipt_subject("ACCETTAZIONE: Avviso  123") == ("Avviso ", "123")

    def test_unparseable_receipt_matches_nothing(self) -> None:
        """No prefix, no separator or no code: None (the chunk stays UNKNOWN)."""
        assert receipt_subject("Re: Avviso 123") is None
        assert receipt_subject("CONSEGNA:Avviso 123") is None
        assert receipt_subject("CONSEGNA: Avviso") is None


class TestWhitespaceVariants:
    """A send whose subject differs only by whitespace is not evidence."""

    @pytest.mark.parametrize("provider", PROVIDERS)
    @pytest.mark.parametrize("variant", ["Avviso ", " Avviso"])
    async def test_variant_is_not_claimed(
        self,
        pm: RunningFake,
        lm: RunningFake,
        clients: Clients,
        tmp_path: Path,
        provider: str,
        variant: str,
    ) -> None:
        """The in-doubt chunk (never processed) stays UNKNOWN; no false SENT."""
        fake = pm if provider == "pecmassiva" else lm
        to = "x@pec.example.it"
        if provider == "pecmassiva":
            await clients[0].sends.create(recipients=[to], subject=variant, body="<p>b</p>")
        else:
            await clients[1].emails.send(recipients=[to], subject=variant, html="<p>b</p>")
        fake.state.faults.inject(
            "POST", "/send" if provider == "pecmassiva" else "/api/send", status=500
        )
        async with dispatcher(clients, tmp_path / "j.sqlite", provider) as d:
            with pytest.raises(DeliveryUnknownError):
                await collect(d.run("job", [message(provider, to)]))
            status = await d.status("job")
        assert [o.status.value for o in status.unknown] == ["unknown"]
        assert fake.state.sent_to(to) == 1

    @pytest.mark.parametrize("subject", [" Avviso", "Avviso "])
    async def test_pecmassiva_own_spaces_still_match(
        self, pm: RunningFake, clients: Clients, tmp_path: Path, subject: str
    ) -> None:
        """A subject with its own outer spaces is found by its receipts (exact match)."""
        pm.state.faults.inject("POST", "/send", status=500, after_record=True)
        to = "y@pec.example.it"
        async with dispatcher(clients, tmp_path / "j.sqlite", "pecmassiva") as d:
            outcomes = await collect(d.run("job", [message("pecmassiva", to, subject)]))
        assert [o.status for o in outcomes] == [ChunkStatus.SENT]
        assert outcomes[0].evidence is not None
        assert pm.state.sent_to(to) == 1
