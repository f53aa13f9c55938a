"""The write-ahead journal of bulk jobs.

Safety rests on two commits around every send: the chunk is committed ``in_flight``
BEFORE its request leaves, and ``sent`` (with the provider ids) or ``failed`` /
``unknown`` right after. A crash between them leaves an ``in_flight`` row, which the next
run reconciles against the provider before anything else happens.

``SQLiteJournal`` uses WAL with ``synchronous=FULL`` (each of those commits is on disk
when it returns) through the stdlib ``sqlite3``, run in a worker thread so the event loop
never blocks on a disk sync. It stores recipients, digests and provider ids; never a
credential, never a body (only its digest).

:class:`Journal` is the small interface the dispatcher needs, so a server database can
replace SQLite for many workers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio

from ._models import ChunkRecord, ChunkStatus, Evidence, Lease

__all__ = ["ChunkRecord", "Journal", "SQLiteJournal"]  # ChunkRecord: re-exported

T = TypeVar("T")


class Journal(Protocol):
    """The typed seam between the dispatcher and its storage (SQLite, PostgreSQL...).

    Every backend passes the same conformance tests (``tests/bulk/test_journal_*``).

    Ownership contract: a job is run by one owner at a time. :meth:`acquire` takes the
    job's lease atomically (raising :class:`~certmail_async.JobLockedError` when a live
    owner holds it), or takes over a lease whose owner is gone (its pid is dead on this
    host, or its heartbeat expired) with a NEW, larger fencing token. Every transition
    (``add_pending``, ``add_final``, ``mark_in_flight``, ``mark_done``) takes the
    :class:`Lease` and checks its token in the same transaction as the write: a stale
    owner gets ``JobLockedError`` and writes nothing (so its ``mark_in_flight``, which
    runs right before a send leaves, stops the send).

    Integrity contract: opening a journal checks it (quick integrity check, schema, every
    table present); a corrupt, unreadable or read-only journal, or a job whose chunk rows
    are missing, raises :class:`~certmail_async.JournalError` naming the journal, before
    any request. A damaged job is never treated as new.

    Reads come in pages (``after_seq`` / ``limit``) so status and export stay flat in
    memory for millions of chunks.
    """

    #: A name for messages: the file path, or the database URL without its password.
    display_name: str

    # -- ownership --------------------------------------------------------------------

    async def acquire(self, job_id: str, *, owner_id: str, ttl: float) -> Lease:
        """Take the job's lease for ``ttl`` seconds (or take over a dead owner's)."""
        ...

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (the heartbeat); JobLockedError when it was taken over."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the lease up (no-op when it was taken over)."""
        ...

    async def holder(self, job_id: str) -> Lease | None:
        """The current lease of a job, live or expired, or None."""
        ...

    # -- jobs -------------------------------------------------------------------------

    async def open_job(self, lease: Lease, fingerprint: str, meta: Mapping[str, str]) -> bool:
        """Create the job or check its fingerprint; True when it already existed.

        Raises JournalError when the job exists but its chunk rows are missing.
        """
        ...

    async def job_meta(self, job_id: str) -> dict[str, str] | None:
        """The job's stored metadata, or None when the job is unknown."""
        ...

    async def jobs(self) -> list[str]:
        """Every job id in the journal."""
        ...

    # -- transitions (fenced) ---------------------------------------------------------

    async def add_pending(self, lease: Lease, records: Sequence[ChunkRecord]) -> None:
        """Record chunks read from the input, status PENDING (batched)."""
        ...

    async def add_final(self, lease: Lease, record: ChunkRecord) -> None:
        """Record a chunk that is final without a request (invalid input: FAILED)."""
        ...

    async def mark_in_flight(self, lease: Lease, record: ChunkRecord) -> None:
        """Durably mark a chunk in flight, stamping ``in_flight_at``; BEFORE it leaves."""
        ...

    async def mark_done(
        self,
        lease: Lease,
        record: ChunkRecord,
        status: ChunkStatus,
        *,
        provider_ids: Sequence[str] = (),
        error: str | None = None,
        failed_recipients: Mapping[str, str] | None = None,
        evidence: Evidence | None = None,
    ) -> None:
        """Durably record a chunk's outcome (insert or update), right after its answer.

        With SENT, ``provider_ids`` are claimed for the whole journal: a claimed id is
        never claimed again by any chunk of any job.
        """
        ...

    # -- reads --------------------------------------------------------------------------

    async def get(self, job_id: str, seq: int) -> ChunkRecord | None:
        """One chunk."""
        ...

    async def records(
        self,
        job_id: str,
        statuses: Sequence[ChunkStatus] | None = None,
        *,
        after_seq: int = -1,
        limit: int | None = None,
    ) -> list[ChunkRecord]:
        """One page of a job's chunks (optionally of some statuses), in seq order."""
        ...

    async def max_seq(self, job_id: str) -> int:
        """The highest journaled seq (-1 for none)."""
        ...

    async def claimed(self, provider: str, candidates: Sequence[str]) -> set[str]:
        """Which of ``candidates`` some chunk of ANY job in this journal already claimed."""
        ...

    async def next_in_flight_at(self, provider: str, after: datetime) -> datetime | None:
        """The first ``in_flight_at`` of a chunk of ``provider`` (any job) after ``after``.

        Bounds reconciliation: a record created after the lane's next send is not ours.
        """
        ...

    async def counts(self, job_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """Chunks and recipients per status."""
        ...

    async def aclose(self) -> None:
        """Release the journal."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    meta TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    provider TEXT NOT NULL,
    recipients TEXT NOT NULL,
    n_recipients INTEGER NOT NULL,
    digest TEXT NOT NULL,
    subject_digest TEXT NOT NULL,
    key TEXT,
    status TEXT NOT NULL,
    provider_ids TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    failed_recipients TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    in_flight_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS chunks_status ON chunks (job_id, status);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SQLiteJournal:
    """The default journal: one SQLite file, WAL, ``synchronous=FULL``.

    Example:
        >>> import asyncio, tempfile, os
        >>> async def demo() -> bool:
        ...     path = os.path.join(tempfile.mkdtemp(), "jobs.sqlite")
        ...     journal = SQLiteJournal(path)
        ...     created = await journal.open_job("job-1", "fp", {})
        ...     await journal.aclose()
        ...     return created
        >>> asyncio.run(demo())
        False
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)  # one writer thread: commits keep order

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Any, *args: Any) -> Any:
        def call() -> Any:
            with self._lock:
                return fn(self._connect(), *args)

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    # -- jobs -------------------------------------------------------------------------

    async def open_job(self, job_id: str, fingerprint: str, meta: Mapping[str, str]) -> bool:
        """Create the job, or return True when it exists (raises if its settings differ)."""

        def run(conn: sqlite3.Connection) -> tuple[bool, str | None]:
            row = conn.execute(
                "SELECT fingerprint FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is not None:
                return True, row[0]
            conn.execute(
                "INSERT INTO jobs (job_id, fingerprint, meta, created_at) VALUES (?, ?, ?, ?)",
                (job_id, fingerprint, json.dumps(dict(meta)), _now()),
            )
            return False, None

        existed, stored = await self._run(run)
        if existed and stored != fingerprint:
            from .._exceptions import JobMismatchError

            raise JobMismatchError(
                f"job {job_id!r} was started with other settings (providers or chunk sizes); "
                "use a new job id"
            )
        return bool(existed)

    async def job_meta(self, job_id: str) -> dict[str, str] | None:
        """The metadata stored with the job."""

        def run(conn: sqlite3.Connection) -> dict[str, str] | None:
            row = conn.execute(
                "SELECT meta, created_at FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is None:
                return None
            meta: dict[str, str] = json.loads(row[0])
            meta["created_at"] = row[1]
            return meta

        result: dict[str, str] | None = await self._run(run)
        return result

    # -- chunks -----------------------------------------------------------------------

    async def add_pending(self, records: Sequence[ChunkRecord]) -> None:
        """Insert chunks as pending in one transaction (existing rows are left alone)."""
        if not records:
            return
        rows = [
            (r.job_id, r.seq, r.provider, json.dumps(r.recipients), len(r.recipients), r.digest,
             r.subject_digest, r.key, r.status.value, json.dumps(r.provider_ids), r.error,
             json.dumps(dict(r.failed_recipients)), _now())
            for r in records
        ]  # fmt: skip

        def run(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT OR IGNORE INTO chunks (job_id, seq, provider, recipients, "
                    "n_recipients, digest, subject_digest, key, status, provider_ids, error, "
                    "failed_recipients, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )

        await self._run(run)

    async def mark_in_flight(self, record: ChunkRecord) -> None:
        """Upsert the chunk as in_flight and commit (on disk when this returns)."""
        now = _now()

        def run(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.execute(
                    "INSERT INTO chunks (job_id, seq, provider, recipients, n_recipients, digest, "
                    "subject_digest, key, status, attempts, in_flight_at, updated_at) "
                    "VALUES (?,?,?,?,?,?,?,?,'in_flight',1,?,?) "
                    "ON CONFLICT (job_id, seq) DO UPDATE SET status='in_flight', "
                    "attempts=attempts+1, in_flight_at=excluded.in_flight_at, "
                    "updated_at=excluded.updated_at, error=NULL",
                    (record.job_id, record.seq, record.provider, json.dumps(record.recipients),
                     len(record.recipients), record.digest, record.subject_digest, record.key,
                     now, now),
                )  # fmt: skip

        await self._run(run)

    async def mark_done(
        self,
        record: ChunkRecord,
        status: ChunkStatus,
        *,
        provider_ids: Sequence[str] = (),
        error: str | None = None,
        failed_recipients: Mapping[str, str] | None = None,
    ) -> None:
        """Record the outcome of a chunk (insert or update) and commit."""
        r = record

        def run(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.execute(
                    "INSERT INTO chunks (job_id, seq, provider, recipients, n_recipients, digest, "
                    "subject_digest, key, status, provider_ids, error, failed_recipients, "
                    "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (job_id, seq) DO UPDATE SET status=excluded.status, "
                    "provider_ids=excluded.provider_ids, error=excluded.error, "
                    "failed_recipients=excluded.failed_recipients, updated_at=excluded.updated_at",
                    (r.job_id, r.seq, r.provider, json.dumps(r.recipients), len(r.recipients),
                     r.digest, r.subject_digest, r.key, status.value,
                     json.dumps(list(provider_ids)), error,
                     json.dumps(dict(failed_recipients or {})), _now()),
                )  # fmt: skip

        await self._run(run)

    async def add_final(self, record: ChunkRecord) -> None:
        """Insert a chunk that is final without a request (e.g. invalid recipients)."""

        def run(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.execute(
                    "INSERT OR REPLACE INTO chunks (job_id, seq, provider, recipients, "
                    "n_recipients, digest, subject_digest, key, status, provider_ids, error, "
                    "failed_recipients, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (record.job_id, record.seq, record.provider, json.dumps(record.recipients),
                     len(record.recipients), record.digest, record.subject_digest, record.key,
                     record.status.value, json.dumps(record.provider_ids), record.error,
                     json.dumps(dict(record.failed_recipients)), _now()),
                )  # fmt: skip

        await self._run(run)

    @staticmethod
    def _record(row: sqlite3.Row | tuple[Any, ...]) -> ChunkRecord:
        (job_id, seq, provider, recipients, digest, subject_digest, key, status, provider_ids,
         error, failed, attempts, in_flight_at, updated_at) = row  # fmt: skip
        return ChunkRecord(
            job_id=job_id,
            seq=seq,
            provider=provider,
            recipients=tuple(json.loads(recipients)),
            digest=digest,
            subject_digest=subject_digest,
            key=key,
            status=ChunkStatus(status),
            provider_ids=tuple(json.loads(provider_ids)),
            error=error,
            failed_recipients=json.loads(failed),
            attempts=attempts,
            in_flight_at=_when(in_flight_at),
            updated_at=_when(updated_at),
        )

    _COLUMNS = (
        "job_id, seq, provider, recipients, digest, subject_digest, key, status, provider_ids, "
        "error, failed_recipients, attempts, in_flight_at, updated_at"
    )

    async def get(self, job_id: str, seq: int) -> ChunkRecord | None:
        """One chunk."""

        def run(conn: sqlite3.Connection) -> ChunkRecord | None:
            row = conn.execute(
                f"SELECT {self._COLUMNS} FROM chunks WHERE job_id=? AND seq=?",  # noqa: S608
                (job_id, seq),
            ).fetchone()
            return self._record(row) if row else None

        result: ChunkRecord | None = await self._run(run)
        return result

    async def records(
        self, job_id: str, statuses: Sequence[ChunkStatus] | None = None
    ) -> list[ChunkRecord]:
        """Chunks in seq order (all, or those of some statuses)."""

        def run(conn: sqlite3.Connection) -> list[ChunkRecord]:
            query = f"SELECT {self._COLUMNS} FROM chunks WHERE job_id=?"  # noqa: S608
            params: list[Any] = [job_id]
            if statuses is not None:
                query += f" AND status IN ({','.join('?' * len(statuses))})"
                params += [s.value for s in statuses]
            return [self._record(r) for r in conn.execute(query + " ORDER BY seq", params)]

        result: list[ChunkRecord] = await self._run(run)
        return result

    async def digests(self, job_id: str, low: int, high: int) -> dict[int, ChunkRecord]:
        """Chunks with low <= seq <= high, by seq (for verifying a re-run's input)."""

        def run(conn: sqlite3.Connection) -> dict[int, ChunkRecord]:
            rows = conn.execute(
                f"SELECT {self._COLUMNS} FROM chunks WHERE job_id=? AND seq BETWEEN ? AND ? "  # noqa: S608
                "ORDER BY seq",
                (job_id, low, high),
            )
            return {r[1]: self._record(r) for r in rows}

        result: dict[int, ChunkRecord] = await self._run(run)
        return result

    async def max_seq(self, job_id: str) -> int:
        """The highest journaled seq, -1 when none."""

        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT MAX(seq) FROM chunks WHERE job_id=?", (job_id,)).fetchone()
            return -1 if row[0] is None else int(row[0])

        result: int = await self._run(run)
        return result

    async def claimed_ids(self, job_id: str, provider: str) -> set[str]:
        """Every provider id this job already recorded for a provider."""

        def run(conn: sqlite3.Connection) -> set[str]:
            out: set[str] = set()
            for (ids,) in conn.execute(
                "SELECT provider_ids FROM chunks WHERE job_id=? AND provider=? "
                "AND provider_ids != '[]'",
                (job_id, provider),
            ):
                out.update(json.loads(ids))
            return out

        result: set[str] = await self._run(run)
        return result

    async def counts(self, job_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """Chunks and recipients per status."""

        def run(conn: sqlite3.Connection) -> tuple[dict[str, int], dict[str, int]]:
            chunks: dict[str, int] = {}
            recipients: dict[str, int] = {}
            for status, n, r in conn.execute(
                "SELECT status, COUNT(*), SUM(n_recipients) FROM chunks WHERE job_id=? "
                "GROUP BY status",
                (job_id,),
            ):
                chunks[status] = n
                recipients[status] = r or 0
            return chunks, recipients

        result: tuple[dict[str, int], dict[str, int]] = await self._run(run)
        return result

    async def jobs(self) -> list[str]:
        """Every job id in the journal."""

        def run(conn: sqlite3.Connection) -> list[str]:
            return [r[0] for r in conn.execute("SELECT job_id FROM jobs ORDER BY created_at")]

        result: list[str] = await self._run(run)
        return result

    async def aclose(self) -> None:
        """Close the database (every commit is already on disk)."""

        def run(conn: sqlite3.Connection) -> None:
            conn.close()

        if self._conn is not None:
            await self._run(run)
            self._conn = None
