"""Delivery evidence in the journal, on every backend: latest per recipient, never lowered.

The backend fixtures come from the conformance suite (SQLite, and PostgreSQL on the real
server of ``tests/servers.py``); the migrations to the evidence schema are tested per
backend at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from certmail_async import JournalError
from certmail_async.bulk import PostgresJournal, SQLiteJournal
from certmail_async.bulk import _journal_postgres as pg
from certmail_async.bulk._delivery import ArchivedReceipt, CertificateDigest, RecipientEvidence
from certmail_async.bulk._journal import Journal
from certmail_async.bulk._journal_sqlite import SCHEMA_VERSION
from tests.bulk import test_journal_conformance as conformance
from tests.bulk.test_journal_conformance import TTL, Backend, chunk, opened

# The conformance suite's fixtures: one store per backend, a first handle on it.
backend = conformance.backend
journal = conformance.journal

pytestmark = pytest.mark.timeout(30)

T0 = datetime(2026, 3, 2, 9, 30, 15, 250000, tzinfo=UTC)
CERT = CertificateDigest(
    kind="read",
    sha256="ab" * 32,
    size=812,
    path="job/cm_rec_1-read.pdf",
    provider_hash="AB" * 32,
    matches=True,
    confirmed_at=T0,
    has_tsq=True,
    has_tsr=True,
)


def row(seq: int = 0, recipient: str = "a@pec.example.it", **kw: object) -> RecipientEvidence:
    fields: dict[str, object] = {
        "job_id": "job",
        "seq": seq,
        "recipient": recipient,
        "provider": "pecmassiva",
        "provider_id": f"code{seq}",
        "outcome": "pending",
        "final": False,
        "rank": 0,
        "source": "subject",
        "strength": 1,
    }
    fields.update(kw)
    return RecipientEvidence(**fields)  # type: ignore[arg-type]


DELIVERED = {
    "outcome": "delivered",
    "final": True,
    "rank": 3,
    "kind": "avvenuta-consegna",
    "accepted_at": T0,
    "delivered_at": T0.replace(second=40),
    "decided_at": T0.replace(second=40),
    "receipts": 2,
    "receipts_digest": "cd" * 32,
}


class TestRecipientEvidence:
    async def test_round_trip(self, journal: Journal) -> None:
        """Every field comes back as written (times exact to the microsecond)."""
        await opened(journal)
        written = row(
            provider="legallymail", provider_id="cm_parent_1", recipient_ref="cm_rec_1",
            outcome="read", final=True, rank=3, source="legallymail", strength=3, rule=None,
            kind="read", raw_kind="read", accepted_at=T0, delivered_at=T0, read_at=T0,
            failed_at=None, warned_at=None, decided_at=T0, receipts=2, receipts_digest=None,
            certificates=(CERT,), error="Recipient inbox full",
        )  # fmt: skip
        assert await journal.put_evidence([written]) == 1
        [back] = await journal.evidence("job")
        assert back.updated_at is not None
        assert attrs.evolve(back, updated_at=None) == written

    async def test_evidence_never_goes_back(self, journal: Journal) -> None:
        """Delivered then pending (receipts gone from the INBOX): the row stays delivered."""
        await opened(journal)
        await journal.put_evidence([row(**DELIVERED)])
        assert await journal.put_evidence([row()]) == 0
        [back] = await journal.evidence("job")
        assert back.outcome == "delivered"
        assert back.delivered_at == T0.replace(second=40)

    async def test_same_or_higher_rank_replaces(self, journal: Journal) -> None:
        """pending -> pending with a warning -> delivered; LegallyMail delivered -> read."""
        await opened(journal)
        await journal.put_evidence([row(), row(seq=1, provider="legallymail", rank=2,
                                                outcome="delivered", final=True)])  # fmt: skip
        assert await journal.put_evidence([row(outcome="pending-warning", rank=1)]) == 1
        assert await journal.put_evidence([row(**DELIVERED)]) == 1
        assert await journal.put_evidence([row(**{**DELIVERED, "receipts": 3})]) == 1
        await journal.put_evidence([row(seq=1, provider="legallymail", rank=3, outcome="read",
                                        final=True)])  # fmt: skip
        states = {(r.seq, r.outcome, r.receipts) for r in await journal.evidence("job")}
        assert states == {(0, "delivered", 3), (1, "read", 0)}

    async def test_certificates_and_cleanup_time_are_kept(self, journal: Journal) -> None:
        """A refresh without certificate files keeps the digests saved before; so cleaned_at."""
        await opened(journal)
        await journal.put_evidence([row(**DELIVERED, certificates=(CERT,), cleaned_at=T0)])
        await journal.put_evidence([row(**DELIVERED)])
        [back] = await journal.evidence("job")
        assert back.certificates == (CERT,)
        assert back.cleaned_at == T0

    async def test_pages_hold_whole_chunks(self, journal: Journal) -> None:
        """limit counts chunks: all recipients of a chunk come on one page, in order."""
        await opened(journal)
        rows = [row(seq, f"{name}@pec.example.it") for seq in range(5) for name in "cab"]
        await journal.put_evidence(rows)
        first = await journal.evidence("job", limit=2)
        assert [(r.seq, r.recipient[0]) for r in first] == [
            (0, "a"), (0, "b"), (0, "c"), (1, "a"), (1, "b"), (1, "c"),
        ]  # fmt: skip
        rest = await journal.evidence("job", after_seq=first[-1].seq, limit=10)
        assert sorted({r.seq for r in rest}) == [2, 3, 4]
        assert await journal.evidence("other") == []

    async def test_another_handle_sees_it(self, backend: Backend) -> None:
        """Written by one process, read by another."""
        first = backend.make()
        await opened(first)
        await first.put_evidence([row(**DELIVERED)])
        [back] = await backend.make().evidence("job")
        assert back.outcome == "delivered"


class TestReceiptArchive:
    async def test_archive_is_idempotent_and_ordered(self, journal: Journal) -> None:
        """The same receipt archived twice counts once; reads come by time, then digest."""
        await opened(journal)
        a = ArchivedReceipt(job_id="job", seq=0, provider_id="c0", digest="b" * 64,
                            kind="accettazione", received_at=T0, file="job/c0.json")  # fmt: skip
        b = attrs.evolve(a, digest="a" * 64, kind="avvenuta-consegna",
                         received_at=T0.replace(second=40))  # fmt: skip
        assert await journal.archive_receipts([b, a]) == 2
        assert await journal.archive_receipts([a]) == 0
        back = await journal.archived_receipts("job", 0)
        assert [r.kind for r in back] == ["accettazione", "avvenuta-consegna"]
        assert all(r.archived_at is not None for r in back)
        assert attrs.evolve(back[0], archived_at=None) == a
        assert await journal.archived_receipts("job", 1) == []


def _drop_evidence(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TABLE recipient_evidence; DROP TABLE receipt_archive; "
        f"PRAGMA user_version = {version};"
    )
    if version == 2:
        conn.executescript(
            "DROP TABLE lanes; DROP TABLE payloads; DROP TABLE chunk_payloads; "
            "DROP INDEX chunks_lane;"
        )
    conn.close()


class TestSQLiteMigration:
    @pytest.mark.parametrize("older", [2, 3])
    async def test_an_older_file_gains_evidence_on_its_first_write(
        self, tmp_path: Path, older: int
    ) -> None:
        """A schema-2 or -3 journal is upgraded in place, its chunks kept, read-only first."""
        path = tmp_path / "jobs.sqlite"
        first = SQLiteJournal(path)
        lease = await opened(first)
        await first.add_pending(lease, [chunk(i) for i in range(3)])
        await first.release(lease)
        await first.aclose()
        _drop_evidence(path, older)
        readonly = SQLiteJournal(path, readonly=True)
        assert await readonly.evidence("job") == []
        assert await readonly.archived_receipts("job", 0) == []
        assert len(await readonly.records("job")) == 3
        await readonly.aclose()
        writer = SQLiteJournal(path)
        await writer.put_evidence([row(**DELIVERED)])
        assert await writer.schema_version() == SCHEMA_VERSION == 4
        assert len(await writer.records("job")) == 3
        assert [r.outcome for r in await writer.evidence("job")] == ["delivered"]
        await writer.aclose()

    async def test_a_lost_evidence_table_is_refused(self, tmp_path: Path) -> None:
        """Schema 4 without its evidence table: JournalError naming it, nothing used."""
        path = tmp_path / "jobs.sqlite"
        first = SQLiteJournal(path)
        await opened(first)
        await first.aclose()
        conn = sqlite3.connect(path)
        conn.executescript("DROP TABLE receipt_archive;")
        conn.close()
        with pytest.raises(JournalError, match="receipt_archive"):
            await SQLiteJournal(path).evidence("job")


@pytest.fixture
async def pg_handles(
    postgres_dsn: str, postgres_schema: str
) -> AsyncIterator[Callable[[], PostgresJournal]]:
    opened_: list[PostgresJournal] = []

    def make() -> PostgresJournal:
        journal = PostgresJournal(f"{postgres_dsn}?schema={postgres_schema}")
        opened_.append(journal)
        return journal

    yield make
    for handle in opened_:
        await handle.aclose()


class TestPostgresMigration:
    async def test_schema_2_is_refused_until_migrated_then_gains_evidence(
        self, pg_handles: Callable[[], PostgresJournal], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A workers-era schema (2) is refused, `migrate` adds step 3 only, data is kept."""
        with monkeypatch.context() as old:
            old.setattr(pg, "_MIGRATIONS", pg._MIGRATIONS[:2])
            old.setattr(pg, "SCHEMA_VERSION", 2)
            old.setattr(pg, "_TABLES", {
                k: v for k, v in pg._TABLES.items()
                if k not in ("recipient_evidence", "receipt_archive")
            })  # fmt: skip
            before = pg_handles()
            lease = await opened(before)
            await before.add_pending(lease, [chunk(i) for i in range(3)])
            await before.release(lease)
            assert await before.schema_version() == 2
        assert pg.SCHEMA_VERSION == 3
        newer = pg_handles()
        with pytest.raises(JournalError, match="journal migrate"):
            await newer.put_evidence([row(**DELIVERED)])
        assert await pg_handles().migrate() == 3
        migrated = pg_handles()
        assert await migrated.put_evidence([row(**DELIVERED)]) == 1
        assert [r.outcome for r in await migrated.evidence("job")] == ["delivered"]
        assert len(await migrated.records("job")) == 3
        lease = await migrated.acquire("job", owner_id="B", ttl=TTL)
        assert lease.token == 2
