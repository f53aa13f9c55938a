# SQLiteJournal: the default journal, one SQLite file
# ---------------------------------------------------
#
# Durability: WAL with synchronous=FULL, so each commit is on disk when it returns. The
# stdlib sqlite3 runs in one worker thread per journal (an anyio CapacityLimiter of 1),
# so the event loop never blocks on a disk sync and commits keep their order.
#
# Ownership: a `leases` row per job (owner id, host, pid, fencing token, expiry on the
# journal's clock: epoch seconds from this host). Taking, renewing and checking it all
# happen inside `BEGIN IMMEDIATE`, which takes SQLite's write lock first: two processes
# can never both see a lease as free. Every transition (open_job, add_pending, add_final,
# mark_in_flight, mark_done) reads the lease row and writes in that same transaction, so
# an owner whose lease was taken over (token grew) or lapsed writes nothing and gets
# JobLockedError. A released lease keeps its row (and its token), so tokens only grow.
#
# Claims: every provider id recorded for a chunk goes into `claims` (primary key
# provider + provider id) in the transaction that records it. An id claimed by another
# chunk of any job is refused (JournalError, nothing written), and `claimed()` answers
# for the whole journal, not one job.
#
# Lanes (workers, schema 3): a job opened to workers has one `lanes` row per lane (lane =
# provider): owner, host, pid, fencing token, expiry, released, and `stopped` (the reason a
# worker stopped it; no worker takes it until the job is enqueued again). Everything runs
# inside `BEGIN IMMEDIATE`, so taking a lane, renewing it and checking it in a transition
# are as atomic as the job lease; a lane's chunks are its provider's. The job lease and the
# lane leases exclude each other (checked on acquire and renew, both sides). `payloads`
# (content by SHA-256, per job) and `chunk_payloads` (seq -> ref) hold what an enqueued
# job's chunks send, until their lane no longer needs it. A schema-2 file is upgraded in
# place on its first write (three new tables and an index: additive); read-only, it reads
# as a journal without lanes.
#
# Delivery evidence (schema 4): `recipient_evidence`, each recipient's latest outcome and
# its proof (one row per job, seq, recipient; an upsert that never lowers the rank), and
# `receipt_archive`, the PEC Massiva receipts saved to the evidence directory (digests, kind,
# time, file; never their text). Neither is fenced: they are observations, written while a
# job may still be sending. A schema-2 or -3 file gains them on its first write
# (additive); read-only, it reads as a journal without evidence.
#
# Integrity: opening runs `PRAGMA quick_check`, checks `PRAGMA user_version` and that
# every table and column exists, and probes for a write lock (a read-only file fails
# here, not on the first send). Each job row counts its chunk rows (`n_chunks`, updated in
# the transactions that insert chunks): a job whose rows went missing is refused on
# open_job, never treated as new. Every sqlite3 error becomes JournalError in `_run`.
"""SQLiteJournal: the default bulk journal, one SQLite file (WAL, synchronous=FULL)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from .._exceptions import JobLockedError, JobMismatchError, JournalError, ValidationError
from ._delivery import (
    ArchivedReceipt,
    RecipientEvidence,
    certificates_from_json,
    certificates_to_json,
)
from ._journal import (
    Journal,
    checked_payloads,
    evidence_from_json,
    evidence_to_json,
    from_micros,
    lane_names,
    lease_gone,
    locked_error,
    micros,
    now_micros,
    this_host,
)
from ._models import ChunkRecord, ChunkStatus, Evidence, LaneState, Lease

__all__ = ["CLAIMED", "SCHEMA_VERSION", "SQLiteJournal"]

T = TypeVar("T")

#: ``JournalError.code`` when mark_done names an id another chunk already claimed.
CLAIMED = "claimed"

#: ``PRAGMA user_version`` of the journals this version writes.
SCHEMA_VERSION = 4
_LANES_SINCE = 3  # the first version with lanes and payloads (2 is upgraded on first write)
_EVIDENCE_SINCE = 4  # the first version with delivery evidence (2, 3: upgraded on first write)
_OLDEST = 2  # the oldest schema this version reads (and upgrades when it writes)

_TABLES: dict[str, tuple[str, ...]] = {
    "jobs": ("job_id", "fingerprint", "meta", "created_at", "n_chunks"),
    "chunks": (
        "job_id", "seq", "provider", "recipients", "n_recipients", "digest",
        "subject_digest", "key", "status", "provider_ids", "error", "failed_recipients",
        "evidence", "attempts", "in_flight_at", "updated_at",
    ),
    "leases": (
        "job_id", "owner_id", "host", "pid", "token", "acquired_at", "expires_at", "released",
    ),
    "claims": ("provider", "provider_id", "job_id", "seq"),
}  # fmt: skip
_TABLES_3: dict[str, tuple[str, ...]] = {
    "lanes": (
        "job_id", "lane", "owner_id", "host", "pid", "token", "acquired_at", "expires_at",
        "released", "stopped",
    ),
    "payloads": ("job_id", "ref", "content"),
    "chunk_payloads": ("job_id", "seq", "ref"),
}  # fmt: skip
_TABLES_4: dict[str, tuple[str, ...]] = {
    "recipient_evidence": (
        "job_id", "seq", "recipient", "provider", "provider_id", "recipient_ref", "outcome",
        "final", "rank", "source", "strength", "rule", "kind", "raw_kind", "accepted_at",
        "delivered_at", "read_at", "failed_at", "warned_at", "decided_at", "receipts",
        "receipts_digest", "certificates", "error", "updated_at", "cleaned_at",
    ),
    "receipt_archive": (
        "job_id", "seq", "provider_id", "digest", "kind", "received_at", "file", "archived_at",
    ),
}  # fmt: skip

# Schema 2 -> 3: lanes and payloads (additive). Also part of a new file's schema.
_STEP_3 = """
CREATE TABLE lanes (
    job_id TEXT NOT NULL,
    lane TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    token INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    released INTEGER NOT NULL DEFAULT 1,
    stopped TEXT,
    PRIMARY KEY (job_id, lane)
) WITHOUT ROWID;
CREATE TABLE payloads (
    job_id TEXT NOT NULL,
    ref TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (job_id, ref)
);
CREATE TABLE chunk_payloads (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE INDEX chunks_lane ON chunks (job_id, provider, status, seq);
"""

# Schema 3 -> 4: delivery evidence (additive). Also part of a new file's schema.
_STEP_4 = """
CREATE TABLE recipient_evidence (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_id TEXT,
    recipient_ref TEXT,
    outcome TEXT NOT NULL,
    final INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    source TEXT NOT NULL,
    strength INTEGER NOT NULL,
    rule TEXT,
    kind TEXT,
    raw_kind TEXT,
    accepted_at INTEGER,
    delivered_at INTEGER,
    read_at INTEGER,
    failed_at INTEGER,
    warned_at INTEGER,
    decided_at INTEGER,
    receipts INTEGER NOT NULL DEFAULT 0,
    receipts_digest TEXT,
    certificates TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    updated_at INTEGER NOT NULL,
    cleaned_at INTEGER,
    PRIMARY KEY (job_id, seq, recipient)
) WITHOUT ROWID;
CREATE TABLE receipt_archive (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    provider_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at INTEGER,
    file TEXT,
    archived_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, seq, digest)
) WITHOUT ROWID;
"""

_SCHEMA = f"""
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    meta TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE chunks (
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
    failed_recipients TEXT NOT NULL DEFAULT '{{}}',
    evidence TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    in_flight_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX chunks_status ON chunks (job_id, status, seq);
CREATE INDEX chunks_in_flight ON chunks (provider, in_flight_at);
CREATE INDEX chunks_evidence ON chunks (job_id, seq) WHERE evidence IS NOT NULL;
CREATE TABLE leases (
    job_id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    token INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    released INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE claims (
    provider TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_id)
) WITHOUT ROWID;
{_STEP_3}
{_STEP_4}
PRAGMA user_version = {SCHEMA_VERSION};
"""

_COLUMNS = (
    "job_id, seq, provider, recipients, digest, subject_digest, key, status, provider_ids, "
    "error, failed_recipients, attempts, in_flight_at, updated_at, evidence"
)
_INSERT = (
    "INSERT INTO chunks (job_id, seq, provider, recipients, n_recipients, digest, "
    "subject_digest, key, status, provider_ids, error, failed_recipients, evidence, attempts, "
    "in_flight_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_PAGE_IN = 500  # ids per IN (...) query


def _row(record: ChunkRecord, now: int) -> tuple[Any, ...]:
    r = record
    return (
        r.job_id, r.seq, r.provider, json.dumps(list(r.recipients)), len(r.recipients),
        r.digest, r.subject_digest, r.key, r.status.value, json.dumps(list(r.provider_ids)),
        r.error, json.dumps(dict(r.failed_recipients)), evidence_to_json(r.evidence),
        r.attempts, micros(r.in_flight_at) if r.in_flight_at else None, now,
    )  # fmt: skip


_decode = json.JSONDecoder().decode
_STATUSES = {s.value: s for s in ChunkStatus}


class _DamagedRow(Exception):
    """A row whose content cannot be read back (raised in the journal thread)."""


def _record(row: Sequence[Any]) -> ChunkRecord:
    """A chunk row as a `ChunkRecord`; a damaged row raises `_DamagedRow`."""
    try:
        return _decode_record(row)
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as error:
        where = f"chunk {row[1]!r} of job {row[0]!r}" if len(row) > 1 else "a chunk row"
        raise _DamagedRow(f"{where} cannot be read ({type(error).__name__}: {error})") from error


def _decode_record(row: Sequence[Any]) -> ChunkRecord:
    # Hot in export (one call per chunk): the common empty JSON values skip the decoder.
    (job_id, seq, provider, recipients, digest, subject_digest, key, status, provider_ids,
     error, failed, attempts, in_flight_at, updated_at, evidence) = row  # fmt: skip
    recipients = tuple(_decode(recipients))
    ids = tuple(_decode(provider_ids)) if provider_ids != "[]" else ()
    failed = _decode(failed) if failed != "{}" else {}
    if not (
        all(type(r) is str for r in recipients)
        and all(type(i) is str for i in ids)
        and isinstance(failed, dict)
    ):
        raise ValueError("recipients, provider ids or failures are not lists of text")
    return ChunkRecord(
        job_id=job_id,
        seq=seq,
        provider=provider,
        recipients=recipients,
        digest=digest,
        subject_digest=subject_digest,
        key=key,
        status=_STATUSES[status],
        provider_ids=ids,
        error=error,
        failed_recipients=failed,
        attempts=attempts,
        in_flight_at=from_micros(in_flight_at) if in_flight_at is not None else None,
        updated_at=from_micros(updated_at) if updated_at is not None else None,
        evidence=evidence_from_json(evidence),
    )


class SQLiteJournal:
    """The default journal: one SQLite file, WAL, ``synchronous=FULL``, leases and claims.

    Nothing touches the disk until the first call. Reads of a file that does not exist yet
    create nothing (they see an empty journal); ``readonly=True`` opens an existing file
    read-only (``status`` and ``export`` never need to write). ``":memory:"`` keeps the
    journal in memory (tests, estimates).

    Examples:
        >>> import asyncio, tempfile, os
        >>> async def demo() -> tuple[bool, int]:
        ...     journal = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "jobs.sqlite"))
        ...     lease = await journal.acquire("job-1", owner_id="me", ttl=30)
        ...     existed = await journal.open_job(lease, "fp", {})
        ...     await journal.release(lease)
        ...     await journal.aclose()
        ...     return existed, lease.token
        >>> asyncio.run(demo())
        (False, 1)
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.display_name = str(path)
        self._memory = str(path) == ":memory:"
        self._conn: sqlite3.Connection | None = None
        self._empty: sqlite3.Connection | None = None  # reads before the file exists
        self._ro: sqlite3.Connection | None = None  # reads of a file that cannot be written
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)  # one thread: commits keep their order
        self._version = SCHEMA_VERSION  # of the file as opened (2, 3: read-only, older)

    # -- opening and checking ------------------------------------------------------------

    def _error(self, message: str) -> JournalError:
        return JournalError(f"journal {self.display_name}: {message}", path=self.display_name)

    def _connect(self) -> sqlite3.Connection:
        """The checked read-write connection (opened, verified and set up on first use)."""
        if self.readonly:
            raise self._error("was opened read-only")
        if self._conn is None:
            self._conn = self._open(readonly=False)
        return self._conn

    def _reader(self) -> sqlite3.Connection:
        """A connection for reads; reads never create a file and work on a read-only one.

        While the file does not exist, reads see an empty in-memory journal. A file that
        cannot be written is read through a ``mode=ro`` connection.
        """
        if self._conn is not None:
            return self._conn
        if self._ro is not None:
            return self._ro
        if self._memory:
            return self._connect()
        if not self.path.exists() and not self.path.is_symlink():
            if self._empty is None:
                empty = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
                empty.executescript(_SCHEMA)
                self._empty = empty
            return self._empty
        if not self.readonly:
            try:
                return self._connect()
            except JournalError as error:
                if "read-only" not in error.message:
                    raise
        self._ro = self._open(readonly=True)
        return self._ro

    def _open(self, *, readonly: bool) -> sqlite3.Connection:
        # Two processes opening a brand-new file race on the journal-mode switch and the
        # schema; SQLite answers one of them "locked" at once (no busy wait for that
        # upgrade). A few short, bounded retries let the first finish.
        for attempt in range(6):
            try:
                return self._open_once(readonly=readonly)
            except JournalError as error:
                if "stayed locked" not in error.message or attempt == 5:
                    raise
                time.sleep(0.02 * 2**attempt)  # in the journal's own thread
        raise AssertionError("unreachable")

    def _open_once(self, *, readonly: bool) -> sqlite3.Connection:
        if not self._memory:
            if self.path.is_dir():
                raise self._error("is a directory, not a journal file")
            if self.path.exists() and not self.path.is_file():
                raise self._error("is not a regular file")
            if readonly and not self.path.exists():
                raise self._error("does not exist")
            if not self.path.parent.is_dir():
                raise self._error(f"its directory {self.path.parent} does not exist")
        try:
            if readonly:
                uri = f"file:{self.path.resolve()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            else:
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise self._translate(error) from error
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            self._check(conn, readonly=readonly)
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("BEGIN IMMEDIATE")  # a read-only file fails here, before any send
                conn.execute("ROLLBACK")
        except sqlite3.Error as error:
            conn.close()
            raise self._translate(error) from error
        except BaseException:
            conn.close()
            raise
        return conn

    def _check(self, conn: sqlite3.Connection, *, readonly: bool) -> None:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise self._error("failed its integrity check: " + "; ".join(problems[:3]))
        version, tables = self._schema(conn)
        if version == 0 and not tables:
            if readonly:
                raise self._error("is empty (not a certmail journal)")
            version, tables = self._transaction(conn, lambda: self._create(conn))
        if version == 0:
            raise self._error(
                "has no certmail schema version (an older or foreign file); "
                "finish its jobs with the version that wrote it, or use a new journal"
            )
        if version > SCHEMA_VERSION:
            raise self._error(
                f"was written by a newer certmail_async (schema {version} > {SCHEMA_VERSION})"
            )
        if _OLDEST <= version < SCHEMA_VERSION and not readonly:
            version, tables = self._transaction(conn, lambda: self._upgrade(conn))
        if not _OLDEST <= version <= SCHEMA_VERSION:
            raise self._error(f"has an unknown schema version {version}")
        self._version = version
        expected = dict(_TABLES)
        if version >= _LANES_SINCE:
            expected.update(_TABLES_3)
        if version >= _EVIDENCE_SINCE:
            expected.update(_TABLES_4)
        for table, columns in expected.items():
            if table not in tables:
                raise self._error(f"lost its {table!r} table; refusing to use it")
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in columns if c not in present]
            if missing:
                raise self._error(f"table {table!r} lost columns {', '.join(missing)}")

    def _create(self, conn: sqlite3.Connection) -> tuple[int, set[str]]:
        # Inside BEGIN IMMEDIATE: another process may have created it since we looked.
        version, tables = self._schema(conn)
        if version == 0 and not tables:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            version, tables = self._schema(conn)
        return version, tables

    def _upgrade(self, conn: sqlite3.Connection) -> tuple[int, set[str]]:
        # Inside BEGIN IMMEDIATE, one step at a time, unless done meanwhile: 2 -> 3 (lanes
        # and payloads), 3 -> 4 (delivery evidence). Every step only adds.
        version, tables = self._schema(conn)
        for target, step in ((_LANES_SINCE, _STEP_3), (_EVIDENCE_SINCE, _STEP_4)):
            if version == target - 1:
                for statement in step.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
                version, tables = self._schema(conn)
        return version, tables

    @staticmethod
    def _schema(conn: sqlite3.Connection) -> tuple[int, set[str]]:
        # One read transaction for both: another process creating the schema between two
        # autocommit reads would show its tables without its version (a "foreign" file).
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            return version, {row[0] for row in rows}
        finally:
            if own:
                conn.execute("COMMIT")

    def _translate(self, error: sqlite3.Error) -> JournalError:
        name = getattr(error, "sqlite_errorname", "") or ""
        text = str(error)
        if "READONLY" in name or "readonly" in text:
            return self._error(
                f"is read-only ({text}); nothing can be recorded, so nothing is sent"
            )
        if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "malformed" in text:
            return self._error(f"is corrupt or not a journal ({text})")
        if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
            if not self._memory and self.path.is_file():
                return self._error(
                    f"cannot be opened ({text}): the file or its directory is read-only or "
                    f"unreadable (WAL needs {self.path.name}-wal and -shm beside it)"
                )
            return self._error(f"cannot be opened ({text})")
        if name.startswith("SQLITE_BUSY") or "locked" in text:
            return self._error(f"stayed locked by another process ({text})")
        return self._error(text)

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run ``fn`` in the journal's thread; every sqlite3 error becomes JournalError."""

        def call() -> T:
            with self._lock:
                try:
                    return fn(self._connect() if write else self._reader())
                except sqlite3.Error as error:
                    raise self._translate(error) from error
                except _DamagedRow as error:
                    raise self._error(f"holds a damaged row: {error}") from error

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    @staticmethod
    def _transaction(conn: sqlite3.Connection, body: Callable[[], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # also when COMMIT itself failed (disk full, I/O error)
                conn.execute("ROLLBACK")
            raise
        return result

    # -- ownership ----------------------------------------------------------------------

    @staticmethod
    def _lease_row(conn: sqlite3.Connection, job_id: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = conn.execute(
            "SELECT owner_id, host, pid, token, expires_at, released FROM leases WHERE job_id=?",
            (job_id,),
        ).fetchone()
        return row

    def _lane_row(self, conn: sqlite3.Connection, job_id: str, lane: str) -> tuple[Any, ...] | None:
        if self._version < _LANES_SINCE:
            return None
        row: tuple[Any, ...] | None = conn.execute(
            "SELECT owner_id, host, pid, token, expires_at, released, stopped FROM lanes "
            "WHERE job_id=? AND lane=?",
            (job_id, lane),
        ).fetchone()
        return row

    def _live_lane(self, conn: sqlite3.Connection, job_id: str, now: int) -> Lease | None:
        """A lane of the job whose lease is live (its owner not gone): the job lease waits."""
        if self._version < _LANES_SINCE:
            return None
        for row in conn.execute(
            "SELECT owner_id, host, pid, token, expires_at, released, lane FROM lanes "
            "WHERE job_id=? AND released=0 AND expires_at>? ORDER BY lane",
            (job_id, now),
        ):
            holder = _lease(job_id, row, lane=row[6])
            if not lease_gone(holder):
                return holder
        return None

    def _fence(
        self, conn: sqlite3.Connection, lease: Lease, job_id: str, lane: str | None = None
    ) -> None:
        """Inside the write transaction: refuse a lease that is no longer the live one.

        ``lane`` is the lane of the chunk written (None: a job-level write). A job lease
        writes everything; a lane lease only its own lane's chunks.
        """
        if lease.job_id != job_id:
            raise self._error(f"a lease of job {lease.job_id!r} cannot write job {job_id!r}")
        if lease.lane and lane != lease.lane:
            what = "job-level rows" if lane is None else f"lane {lane!r}"
            raise self._error(f"the lease of lane {lease.lane!r} cannot write {what}")
        where = f"job {job_id!r}" + (f" lane {lease.lane!r}" if lease.lane else "")
        if lease.lane:
            row = self._lane_row(conn, job_id, lease.lane)
        else:
            row = self._lease_row(conn, job_id)
        now = now_micros()
        if row is None or row[3] != lease.token or row[0] != lease.owner_id or row[5]:
            holder = None if row is None or row[5] else _lease(job_id, row, lane=lease.lane)
            raise JobLockedError(
                f"{where}: lease token {lease.token} of {lease.owner_id} is stale"
                + (
                    f" (taken over by {holder.owner_id} on {holder.host}, pid {holder.pid},"
                    f" token {holder.token})"
                    if holder
                    else " (released)"
                )
                + "; nothing was written",
                owner=f"{holder.owner_id}@{holder.host} pid {holder.pid}" if holder else None,
                expires_in=max(0.0, (row[4] - now) / 1e6) if holder and row else None,
            )
        if row[4] <= now:
            raise JobLockedError(
                f"{where}: the lease of {lease.owner_id} lapsed "
                f"{(now - row[4]) / 1e6:.3f} s ago (renew it sooner); nothing was written",
                owner=f"{row[0]}@{row[1]} pid {row[2]}",
                expires_in=0.0,
            )

    async def acquire(self, job_id: str, *, owner_id: str, ttl: float) -> Lease:
        """Take the job's lease for ``ttl`` seconds, or take over a gone owner's (token + 1).

        A live lease held by anyone else raises [JobLockedError][certmail_async.JobLockedError]
        naming the owner, host and pid. The same ``owner_id`` from this process gets its
        lease back, extended, with the same token.
        """
        _check_ttl(ttl)
        host, pid = this_host(), os.getpid()

        def run(conn: sqlite3.Connection) -> Lease:
            def body() -> Lease:
                now = now_micros()
                row = self._lease_row(conn, job_id)
                if row is None:
                    token = 1
                else:
                    current = _lease(job_id, row)
                    live = not row[5] and row[4] > now
                    mine = (row[0], row[1], row[2]) == (owner_id, host, pid)
                    if live and mine:
                        token = current.token
                    elif live and not lease_gone(current):
                        raise locked_error(current, (row[4] - now) / 1e6)
                    else:
                        token = current.token + 1
                worker = self._live_lane(conn, job_id, now)
                if worker is not None:  # workers run the job's lanes: no job lease meanwhile
                    raise locked_error(worker, (micros(worker.expires_at) - now) / 1e6)
                if self._version >= _LANES_SINCE:  # a lapsed lane owner can no longer renew
                    conn.execute(
                        "UPDATE lanes SET released=1 WHERE job_id=? AND released=0", (job_id,)
                    )
                if row is None:
                    conn.execute(
                        "INSERT INTO leases (job_id, owner_id, host, pid, token, acquired_at, "
                        "expires_at, released) VALUES (?,?,?,?,?,?,?,0)",
                        (job_id, owner_id, host, pid, token, now, now + _us(ttl)),
                    )
                else:
                    conn.execute(
                        "UPDATE leases SET owner_id=?, host=?, pid=?, token=?, acquired_at=?, "
                        "expires_at=?, released=0 WHERE job_id=?",
                        (owner_id, host, pid, token, now, now + _us(ttl), job_id),
                    )
                return Lease(
                    job_id=job_id,
                    owner_id=owner_id,
                    host=host,
                    pid=pid,
                    token=token,
                    expires_at=from_micros(now + _us(ttl)),
                )

            return self._transaction(conn, body)

        return await self._run(run)

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (the job's or a lane's) by ``ttl`` from now (the heartbeat).

        Raises [JobLockedError][certmail_async.JobLockedError] when the lease was taken over or
        released (taking the job lease releases the lapsed lane leases, and taking a lane
        the lapsed job lease). A lease that lapsed but that nobody took over is renewed.
        """
        _check_ttl(ttl)
        where = f"job {lease.job_id!r}" + (f" lane {lease.lane!r}" if lease.lane else "")

        def run(conn: sqlite3.Connection) -> Lease:
            def body() -> Lease:
                if lease.lane:
                    row = self._lane_row(conn, lease.job_id, lease.lane)
                else:
                    row = self._lease_row(conn, lease.job_id)
                now = now_micros()
                if row is None or row[5] or (row[0], row[3]) != (lease.owner_id, lease.token):
                    if row is None or row[5]:
                        raise JobLockedError(f"{where}: the lease of {lease.owner_id} was released")
                    current = _lease(lease.job_id, row, lane=lease.lane)
                    raise locked_error(current, (row[4] - now) / 1e6, stale=lease)
                if lease.lane:
                    conn.execute(
                        "UPDATE lanes SET expires_at=? WHERE job_id=? AND lane=?",
                        (now + _us(ttl), lease.job_id, lease.lane),
                    )
                else:
                    conn.execute(
                        "UPDATE leases SET expires_at=? WHERE job_id=?",
                        (now + _us(ttl), lease.job_id),
                    )
                return attrs.evolve(
                    lease, host=row[1], pid=row[2], expires_at=from_micros(now + _us(ttl))
                )

            return self._transaction(conn, body)

        return await self._run(run)

    async def release(self, lease: Lease) -> None:
        """Give the lease up (no-op when it was taken over); its token stays, tokens only grow."""

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                if lease.lane:
                    if self._version >= _LANES_SINCE:
                        conn.execute(
                            "UPDATE lanes SET released=1, expires_at=? "
                            "WHERE job_id=? AND lane=? AND owner_id=? AND token=?",
                            (now_micros(), lease.job_id, lease.lane, lease.owner_id,
                             lease.token),
                        )  # fmt: skip
                    return
                conn.execute(
                    "UPDATE leases SET released=1, expires_at=? "
                    "WHERE job_id=? AND owner_id=? AND token=?",
                    (now_micros(), lease.job_id, lease.owner_id, lease.token),
                )

            self._transaction(conn, body)

        await self._run(run)

    async def holder(self, job_id: str) -> Lease | None:
        """The job's current lease, live or lapsed; None when nobody holds it (or released)."""

        def run(conn: sqlite3.Connection) -> Lease | None:
            row = self._lease_row(conn, job_id)
            return None if row is None or row[5] else _lease(job_id, row)

        return await self._run(run, write=False)

    # -- jobs ---------------------------------------------------------------------------

    async def open_job(self, lease: Lease, fingerprint: str, meta: Mapping[str, str]) -> bool:
        """Create the job or check it; True when it already existed.

        Raises [JobMismatchError][certmail_async.JobMismatchError] when the job was started with
        another fingerprint, and [JournalError][certmail_async.JournalError] when its chunk rows
        are missing (or chunk rows exist without their job row).
        """
        job_id = lease.job_id

        def run(conn: sqlite3.Connection) -> bool:
            def body() -> bool:
                self._fence(conn, lease, job_id)
                row = conn.execute(
                    "SELECT fingerprint, n_chunks FROM jobs WHERE job_id=?", (job_id,)
                ).fetchone()
                present = conn.execute(
                    "SELECT COUNT(*) FROM chunks WHERE job_id=?", (job_id,)
                ).fetchone()[0]
                if row is None:
                    if present:
                        raise self._error(
                            f"job {job_id!r} has {present} chunk rows but no job row; "
                            "refusing to treat it as new"
                        )
                    conn.execute(
                        "INSERT INTO jobs (job_id, fingerprint, meta, created_at, n_chunks) "
                        "VALUES (?,?,?,?,0)",
                        (job_id, fingerprint, json.dumps(dict(meta)), now_micros()),
                    )
                    return False
                stored, expected = row
                if present != expected:
                    raise self._error(
                        f"job {job_id!r} recorded {expected} chunks but {present} rows remain; "
                        "the journal was damaged, refusing to run it (nothing was sent)"
                    )
                if stored != fingerprint:
                    raise JobMismatchError(
                        f"job {job_id!r} was started with other settings (providers or chunk "
                        "sizes); use a new job id"
                    )
                return True

            return self._transaction(conn, body)

        return await self._run(run)

    async def job_meta(self, job_id: str) -> dict[str, str] | None:
        """The metadata stored with the job (plus ``created_at``, ISO), or None when unknown."""

        def run(conn: sqlite3.Connection) -> dict[str, str] | None:
            row = conn.execute(
                "SELECT meta, created_at FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if row is None:
                return None
            try:
                meta: dict[str, str] = json.loads(row[0])
                if not isinstance(meta, dict):
                    raise TypeError("not a JSON object")
                meta["created_at"] = from_micros(row[1]).isoformat()
            except (ValueError, TypeError, OverflowError) as error:
                raise _DamagedRow(f"job {job_id!r} has unreadable metadata ({error})") from error
            return meta

        return await self._run(run, write=False)

    async def jobs(self) -> list[str]:
        """Every job id in the journal, oldest first."""

        def run(conn: sqlite3.Connection) -> list[str]:
            return [r[0] for r in conn.execute("SELECT job_id FROM jobs ORDER BY created_at")]

        return await self._run(run, write=False)

    # -- transitions (fenced) -------------------------------------------------------------

    def _count(self, conn: sqlite3.Connection, job_id: str, added: int) -> None:
        cursor = conn.execute(
            "UPDATE jobs SET n_chunks = n_chunks + ? WHERE job_id=?", (added, job_id)
        )
        if cursor.rowcount != 1:
            raise self._error(f"job {job_id!r} was not opened (no job row)")

    async def add_pending(self, lease: Lease, records: Sequence[ChunkRecord]) -> None:
        """Insert chunks as pending in one transaction (rows already there are left alone)."""
        if not records:
            return
        now = now_micros()
        rows = [_row(r, now) for r in records]

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                by_job: dict[str, int] = {}
                for row in rows:
                    if row[0] not in by_job:
                        self._fence(conn, lease, row[0])
                    cursor = conn.execute(_INSERT.replace("INSERT", "INSERT OR IGNORE", 1), row)
                    by_job[row[0]] = by_job.get(row[0], 0) + cursor.rowcount
                for job_id, added in by_job.items():
                    self._count(conn, job_id, added)

            self._transaction(conn, body)

        await self._run(run)

    async def add_final(self, lease: Lease, record: ChunkRecord) -> None:
        """Record a chunk that is final without a request (invalid input: FAILED).

        A chunk already journaled (an earlier run recorded it) is left as it is.
        """
        chunk = record
        row = _row(chunk, now_micros())

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                self._fence(conn, lease, chunk.job_id)
                cursor = conn.execute(_INSERT.replace("INSERT", "INSERT OR IGNORE", 1), row)
                self._count(conn, chunk.job_id, cursor.rowcount)

            self._transaction(conn, body)

        await self._run(run)

    async def mark_in_flight(self, lease: Lease, record: ChunkRecord) -> None:
        """Durably mark a chunk in flight, stamping ``in_flight_at``; BEFORE its request leaves.

        Refuses (JournalError) a chunk the journal already holds as SENT: it is never sent
        twice, whatever the caller believes.
        """
        chunk = record

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                self._fence(conn, lease, chunk.job_id, chunk.provider)
                now = now_micros()
                current = conn.execute(
                    "SELECT status FROM chunks WHERE job_id=? AND seq=?",
                    (chunk.job_id, chunk.seq),
                ).fetchone()
                if current is None:
                    flying = _replace_status(chunk, ChunkStatus.IN_FLIGHT)
                    conn.execute(_INSERT, (*_row(flying, now)[:-3], 1, now, now))
                    self._count(conn, chunk.job_id, 1)
                    return
                if current[0] == ChunkStatus.SENT.value:
                    raise self._error(
                        f"job {chunk.job_id!r} chunk {chunk.seq} is already SENT; "
                        "refusing to send it again"
                    )
                conn.execute(
                    "UPDATE chunks SET status='in_flight', attempts=attempts+1, in_flight_at=?, "
                    "updated_at=?, error=NULL WHERE job_id=? AND seq=?",
                    (now, now, chunk.job_id, chunk.seq),
                )

            self._transaction(conn, body)

        await self._run(run)

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

        Every id in ``provider_ids`` is claimed for the chunk in the same transaction; an id
        another chunk (of any job) already claimed is refused with JournalError and
        nothing is written.
        """
        chunk, final = record, status
        ids = list(provider_ids)
        fields = (
            final.value, json.dumps(ids), error, json.dumps(dict(failed_recipients or {})),
            evidence_to_json(evidence),
        )  # fmt: skip

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                self._fence(conn, lease, chunk.job_id, chunk.provider)
                now = now_micros()
                cursor = conn.execute(
                    "UPDATE chunks SET status=?, provider_ids=?, error=?, failed_recipients=?, "
                    "evidence=?, updated_at=? WHERE job_id=? AND seq=?",
                    (*fields, now, chunk.job_id, chunk.seq),
                )
                if cursor.rowcount == 0:
                    conn.execute(_INSERT, (*_row(chunk, now)[:8], *fields, 0, None, now))
                    self._count(conn, chunk.job_id, 1)
                for provider_id in ids:
                    conn.execute(
                        "INSERT OR IGNORE INTO claims (provider, provider_id, job_id, seq) "
                        "VALUES (?,?,?,?)",
                        (chunk.provider, provider_id, chunk.job_id, chunk.seq),
                    )
                    owner = conn.execute(
                        "SELECT job_id, seq FROM claims WHERE provider=? AND provider_id=?",
                        (chunk.provider, provider_id),
                    ).fetchone()
                    if tuple(owner) != (chunk.job_id, chunk.seq):
                        conflict = self._error(
                            f"{chunk.provider} id {provider_id!r} is already claimed by job "
                            f"{owner[0]!r} chunk {owner[1]}; chunk {chunk.seq} of job "
                            f"{chunk.job_id!r} cannot claim it (nothing was written)"
                        )
                        conflict.code = CLAIMED
                        raise conflict

            self._transaction(conn, body)

        await self._run(run)

    # -- lanes (workers) ------------------------------------------------------------------

    async def add_lanes(self, lease: Lease, lanes: Sequence[str]) -> None:
        """Open the job to workers: one free lease row per lane; stopped lanes are reopened."""
        names = lane_names(lanes)

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                self._fence(conn, lease, lease.job_id)
                now = now_micros()
                for lane in names:
                    conn.execute(
                        "INSERT INTO lanes (job_id, lane, owner_id, host, pid, token, "
                        "acquired_at, expires_at, released, stopped) "
                        "VALUES (?,?,'','',0,0,?,?,1,NULL) "
                        "ON CONFLICT (job_id, lane) DO UPDATE SET stopped=NULL",
                        (lease.job_id, lane, now, now),
                    )

            self._transaction(conn, body)

        await self._run(run)

    async def acquire_lane(
        self, job_id: str, *, owner_id: str, ttl: float, lanes: Sequence[str] | None = None
    ) -> Lease | None:
        """Take a free lane of the job that has work (token + 1), in lane order; or None.

        Free: released, lapsed, or its owner's pid is gone on this host. A stopped lane, a
        lane with nothing pending or in flight, and every lane while the job's own lease is
        live, are never taken.
        """
        _check_ttl(ttl)
        host, pid = this_host(), os.getpid()
        wanted = None if lanes is None else set(lane_names(lanes))

        def run(conn: sqlite3.Connection) -> Lease | None:
            def body() -> Lease | None:
                now = now_micros()
                job = self._lease_row(conn, job_id)
                live = job is not None and not job[5] and job[4] > now
                if job is not None and live and not lease_gone(_lease(job_id, job)):
                    return None  # one runner holds the whole job
                rows = conn.execute(
                    "SELECT owner_id, host, pid, token, expires_at, released, lane FROM lanes "
                    "WHERE job_id=? AND stopped IS NULL ORDER BY lane",
                    (job_id,),
                ).fetchall()
                for row in rows:
                    lane = row[6]
                    if wanted is not None and lane not in wanted:
                        continue
                    holder = _lease(job_id, row, lane=lane)
                    if not (row[5] or row[4] <= now or lease_gone(holder)):
                        continue
                    work = conn.execute(
                        "SELECT 1 FROM chunks WHERE job_id=? AND provider=? "
                        "AND status IN ('pending', 'in_flight') LIMIT 1",
                        (job_id, lane),
                    ).fetchone()
                    if work is None:
                        continue
                    token = row[3] + 1
                    if job is not None and not job[5]:  # lapsed or gone: it can no longer renew
                        conn.execute("UPDATE leases SET released=1 WHERE job_id=?", (job_id,))
                    conn.execute(
                        "UPDATE lanes SET owner_id=?, host=?, pid=?, token=?, acquired_at=?, "
                        "expires_at=?, released=0 WHERE job_id=? AND lane=?",
                        (owner_id, host, pid, token, now, now + _us(ttl), job_id, lane),
                    )
                    return Lease(
                        job_id=job_id, owner_id=owner_id, host=host, pid=pid, token=token,
                        expires_at=from_micros(now + _us(ttl)), lane=lane,
                    )  # fmt: skip
                return None

            return self._transaction(conn, body)

        return await self._run(run)

    async def stop_lane(self, lease: Lease, reason: str) -> None:
        """Release the lane and keep it from workers (``reason``) until enqueued again."""
        if not lease.lane:
            raise self._error("stop_lane needs a lane lease")

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                self._fence(conn, lease, lease.job_id, lease.lane)
                conn.execute(
                    "UPDATE lanes SET stopped=?, released=1, expires_at=? "
                    "WHERE job_id=? AND lane=?",
                    (reason or "stopped", now_micros(), lease.job_id, lease.lane),
                )

            self._transaction(conn, body)

        await self._run(run)

    async def lanes(self, job_id: str | None = None) -> list[LaneState]:
        """The lanes of one job, or of every enqueued job (oldest job first), by lane."""

        def run(conn: sqlite3.Connection) -> list[LaneState]:
            if self._version < _LANES_SINCE:
                return []
            query = (
                "SELECT l.owner_id, l.host, l.pid, l.token, l.expires_at, l.released, "
                "l.lane, l.job_id, l.stopped, (SELECT COUNT(*) FROM chunks c WHERE "
                "c.job_id=l.job_id AND c.provider=l.lane AND c.status IN ('pending', "
                "'in_flight')) FROM lanes l LEFT JOIN jobs j ON j.job_id=l.job_id"
            )
            params: tuple[Any, ...] = ()
            if job_id is not None:
                query += " WHERE l.job_id=?"
                params = (job_id,)
            query += " ORDER BY j.created_at, l.job_id, l.lane"
            now = now_micros()
            out: list[LaneState] = []
            for row in conn.execute(query, params):
                holder = None if row[5] else _lease(row[7], row, lane=row[6])
                live = holder is not None and row[4] > now and not lease_gone(holder)
                state = LaneState(job_id=row[7], lane=row[6], holder=holder, live=live,
                                  stopped=row[8], remaining=int(row[9]))  # fmt: skip
                out.append(state)
            return out

        return await self._run(run, write=False)

    async def next_chunks(self, lease: Lease, limit: int) -> list[ChunkRecord]:
        """The lane's next ``limit`` pending chunks, in seq order (fenced by the lane lease)."""
        if not lease.lane:
            raise self._error("next_chunks needs a lane lease")

        def run(conn: sqlite3.Connection) -> list[ChunkRecord]:
            def body() -> list[ChunkRecord]:
                self._fence(conn, lease, lease.job_id, lease.lane)
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM chunks WHERE job_id=? AND provider=? "  # noqa: S608
                    "AND status='pending' ORDER BY seq LIMIT ?",
                    (lease.job_id, lease.lane, limit),
                )
                return [_record(r) for r in rows]

            return self._transaction(conn, body)

        return await self._run(run)

    async def add_payloads(self, lease: Lease, payloads: Sequence[tuple[int, str, bytes]]) -> None:
        """Store what chunks send, ``(seq, ref, content)``; ``ref`` is the content's SHA-256.

        Contents are kept once per job and ref; rows already there are left alone.
        """
        items = checked_payloads(payloads, self._error)
        if not items:
            return

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                self._fence(conn, lease, lease.job_id)
                stored: set[str] = set()
                for seq, ref, content in items:
                    if ref not in stored:
                        conn.execute(
                            "INSERT OR IGNORE INTO payloads (job_id, ref, content) VALUES (?,?,?)",
                            (lease.job_id, ref, content),
                        )
                        stored.add(ref)
                    conn.execute(
                        "INSERT OR IGNORE INTO chunk_payloads (job_id, seq, ref) VALUES (?,?,?)",
                        (lease.job_id, seq, ref),
                    )

            self._transaction(conn, body)

        await self._run(run)

    async def payloads(self, job_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored content of these chunks (checked against its SHA-256)."""
        wanted = sorted(set(seqs))

        def run(conn: sqlite3.Connection) -> dict[int, bytes]:
            if self._version < _LANES_SINCE:
                return {}
            found: dict[int, bytes] = {}
            for start in range(0, len(wanted), _PAGE_IN):
                page = wanted[start : start + _PAGE_IN]
                rows = conn.execute(
                    "SELECT c.seq, p.ref, p.content FROM chunk_payloads c JOIN payloads p "  # noqa: S608
                    "ON p.job_id=c.job_id AND p.ref=c.ref WHERE c.job_id=? AND c.seq IN "
                    f"({','.join('?' * len(page))})",
                    (job_id, *page),
                )
                for seq, ref, content in rows:
                    found[seq] = _verified(job_id, seq, ref, content)
            return found

        return await self._run(run, write=False)

    async def drop_payloads(self, lease: Lease) -> int:
        """Forget the content of the lane's SENT and FAILED chunks; how many chunks lost it."""
        if not lease.lane:
            raise self._error("drop_payloads needs a lane lease")

        def run(conn: sqlite3.Connection) -> int:
            def body() -> int:
                self._fence(conn, lease, lease.job_id, lease.lane)
                dropped = conn.execute(
                    "DELETE FROM chunk_payloads WHERE job_id=? AND seq IN (SELECT seq FROM "
                    "chunks WHERE job_id=? AND provider=? AND status IN ('sent', 'failed'))",
                    (lease.job_id, lease.job_id, lease.lane),
                ).rowcount
                conn.execute(
                    "DELETE FROM payloads WHERE job_id=? AND ref NOT IN "
                    "(SELECT ref FROM chunk_payloads WHERE job_id=?)",
                    (lease.job_id, lease.job_id),
                )
                return int(dropped)

            return self._transaction(conn, body)

        return await self._run(run)

    # -- delivery evidence (observations: unfenced) --------------------------------------

    async def put_evidence(self, rows: Sequence[RecipientEvidence]) -> int:
        """Upsert each recipient's latest evidence (never to a lower rank); rows written."""
        items = [_evidence_row(r) for r in rows]
        if not items:
            return 0

        def run(conn: sqlite3.Connection) -> int:
            def body() -> int:
                before = conn.total_changes
                conn.executemany(_UPSERT_EVIDENCE, items)
                return conn.total_changes - before

            return self._transaction(conn, body)

        return await self._run(run)

    async def evidence(
        self, job_id: str, *, after_seq: int = -1, limit: int | None = None
    ) -> list[RecipientEvidence]:
        """The evidence rows of the next ``limit`` chunks after ``after_seq``."""

        def run(conn: sqlite3.Connection) -> list[RecipientEvidence]:
            if self._version < _EVIDENCE_SINCE:
                return []
            if limit is None:
                cursor = conn.execute(
                    f"SELECT {_EVIDENCE_COLUMNS} FROM recipient_evidence WHERE job_id=? "  # noqa: S608
                    "AND seq>? ORDER BY seq, recipient",
                    (job_id, after_seq),
                )
            else:
                cursor = conn.execute(
                    f"SELECT {_EVIDENCE_COLUMNS} FROM recipient_evidence WHERE job_id=? "  # noqa: S608
                    "AND seq>? AND seq IN (SELECT DISTINCT seq FROM recipient_evidence "
                    "WHERE job_id=? AND seq>? ORDER BY seq LIMIT ?) ORDER BY seq, recipient",
                    (job_id, after_seq, job_id, after_seq, limit),
                )
            return [_evidence_record(row) for row in cursor]

        return await self._run(run, write=False)

    async def archive_receipts(self, rows: Sequence[ArchivedReceipt]) -> int:
        """Record receipts saved to the evidence directory; how many were new."""
        items = [
            (
                r.job_id, r.seq, r.provider_id, r.digest, r.kind,
                micros(r.received_at) if r.received_at else None, r.file,
            )
            for r in rows
        ]  # fmt: skip
        if not items:
            return 0

        def run(conn: sqlite3.Connection) -> int:
            def body() -> int:
                before = conn.total_changes
                now = now_micros()
                conn.executemany(
                    "INSERT INTO receipt_archive (job_id, seq, provider_id, digest, kind, "
                    "received_at, file, archived_at) VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (job_id, seq, digest) DO NOTHING",
                    [(*item, now) for item in items],
                )
                return conn.total_changes - before

            return self._transaction(conn, body)

        return await self._run(run)

    async def archived_receipts(self, job_id: str, seq: int) -> list[ArchivedReceipt]:
        """The receipts archived for one chunk, by time then digest."""

        def run(conn: sqlite3.Connection) -> list[ArchivedReceipt]:
            if self._version < _EVIDENCE_SINCE:
                return []
            cursor = conn.execute(
                "SELECT job_id, seq, provider_id, digest, kind, received_at, file, archived_at "
                "FROM receipt_archive WHERE job_id=? AND seq=? ORDER BY received_at, digest",
                (job_id, seq),
            )
            return [
                ArchivedReceipt(
                    job_id=row[0],
                    seq=row[1],
                    provider_id=row[2],
                    digest=row[3],
                    kind=row[4],
                    received_at=from_micros(row[5]) if row[5] is not None else None,
                    file=row[6],
                    archived_at=from_micros(row[7]),
                )
                for row in cursor
            ]

        return await self._run(run, write=False)

    # -- reads ----------------------------------------------------------------------------

    async def get(self, job_id: str, seq: int) -> ChunkRecord | None:
        """One chunk, or None."""

        def run(conn: sqlite3.Connection) -> ChunkRecord | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM chunks WHERE job_id=? AND seq=?",  # noqa: S608
                (job_id, seq),
            ).fetchone()
            return _record(row) if row else None

        return await self._run(run, write=False)

    async def records(
        self,
        job_id: str,
        statuses: Sequence[ChunkStatus] | None = None,
        *,
        after_seq: int = -1,
        limit: int | None = None,
        with_evidence: bool = False,
    ) -> list[ChunkRecord]:
        """One page of a job's chunks with ``seq > after_seq`` in seq order.

        ``statuses`` keeps chunks of those statuses; ``with_evidence`` only those that
        reconciliation marked on evidence.
        """

        def run(conn: sqlite3.Connection) -> list[ChunkRecord]:
            query = f"SELECT {_COLUMNS} FROM chunks WHERE job_id=? AND seq>?"  # noqa: S608
            params: list[Any] = [job_id, after_seq]
            if with_evidence:
                query += " AND evidence IS NOT NULL"
            if statuses is not None:
                query += f" AND status IN ({','.join('?' * len(statuses))})"
                params += [s.value for s in statuses]
            query += " ORDER BY seq"
            if limit is not None:
                query += " LIMIT ?"
                params.append(limit)
            return [_record(r) for r in conn.execute(query, params)]

        return await self._run(run, write=False)

    async def digests(self, job_id: str, low: int, high: int) -> dict[int, ChunkRecord]:
        """Chunks with ``low <= seq <= high`` by seq (to verify a re-run's input)."""

        def run(conn: sqlite3.Connection) -> dict[int, ChunkRecord]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM chunks WHERE job_id=? AND seq BETWEEN ? AND ? "  # noqa: S608
                "ORDER BY seq",
                (job_id, low, high),
            )
            return {r[1]: _record(r) for r in rows}

        return await self._run(run, write=False)

    async def max_seq(self, job_id: str) -> int:
        """The highest journaled seq, -1 when none."""

        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT MAX(seq) FROM chunks WHERE job_id=?", (job_id,)).fetchone()
            return -1 if row[0] is None else int(row[0])

        return await self._run(run, write=False)

    async def claimed(self, provider: str, candidates: Sequence[str]) -> set[str]:
        """Which of ``candidates`` a chunk of ANY job already claimed (its own ids included)."""
        wanted = list(dict.fromkeys(candidates))

        def run(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), _PAGE_IN):
                page = wanted[start : start + _PAGE_IN]
                found.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT provider_id FROM claims WHERE provider=? AND provider_id IN "  # noqa: S608
                        f"({','.join('?' * len(page))})",
                        (provider, *page),
                    )
                )
            return found

        return await self._run(run, write=False)

    async def next_in_flight_at(self, provider: str, after: datetime) -> datetime | None:
        """The first ``in_flight_at`` of a ``provider`` chunk (any job) strictly after ``after``."""

        def run(conn: sqlite3.Connection) -> datetime | None:
            row = conn.execute(
                "SELECT MIN(in_flight_at) FROM chunks WHERE provider=? AND in_flight_at > ?",
                (provider, micros(after)),
            ).fetchone()
            return None if row[0] is None else from_micros(row[0])

        return await self._run(run, write=False)

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
                if status not in _STATUSES:
                    raise _DamagedRow(f"job {job_id!r} has chunks in an unknown state {status!r}")
                chunks[status] = n
                recipients[status] = r or 0
            return chunks, recipients

        return await self._run(run, write=False)

    async def migrate(self) -> int:
        """Create the journal file (or open and check it); returns its schema version.

        ``certmail journal migrate``: this version knows one SQLite schema, so an older or
        newer file is refused (JournalError) rather than changed.
        """

        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

        return await self._run(run)

    async def schema_version(self) -> int:
        """The file's schema version, checked; 0 when the file does not exist (nothing created)."""
        if not self._memory and not self.path.exists() and not self.path.is_symlink():
            return 0

        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

        return await self._run(run, write=False)

    async def aclose(self) -> None:
        """Close the database (every commit is already on disk)."""

        def run() -> None:
            with self._lock:
                conns = (self._conn, self._empty, self._ro)
                self._conn = self._empty = self._ro = None
                for conn in conns:
                    if conn is not None:
                        try:
                            conn.close()
                        except sqlite3.Error as error:
                            raise self._translate(error) from error

        await anyio.to_thread.run_sync(run, limiter=self._limiter)


def _verified(job_id: str, seq: int, ref: str, content: object) -> bytes:
    """A stored payload, refused (a damaged row) unless bytes matching its SHA-256."""
    if not isinstance(content, bytes) or hashlib.sha256(content).hexdigest() != ref:
        raise _DamagedRow(f"the payload of chunk {seq} of job {job_id!r} is damaged")
    return content


def _check_ttl(ttl: float) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < 10**9:
        raise ValidationError(f"must be a positive number of seconds, got {ttl!r}", field="ttl")


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _lease(job_id: str, row: Sequence[Any], *, lane: str = "") -> Lease:
    return Lease(
        job_id=job_id,
        owner_id=row[0],
        host=row[1],
        pid=row[2],
        token=row[3],
        expires_at=from_micros(row[4]),
        lane=lane,
    )


def _replace_status(record: ChunkRecord, status: ChunkStatus) -> ChunkRecord:
    return attrs.evolve(record, status=status)


_EVIDENCE_COLUMNS = (
    "job_id, seq, recipient, provider, provider_id, recipient_ref, outcome, final, rank, "
    "source, strength, rule, kind, raw_kind, accepted_at, delivered_at, read_at, failed_at, "
    "warned_at, decided_at, receipts, receipts_digest, certificates, error, updated_at, "
    "cleaned_at"
)
# A stored row is replaced only by one of the same or a higher rank; certificates and the
# cleanup time are kept when the new row has none.
_UPSERT_EVIDENCE = (
    f"INSERT INTO recipient_evidence ({_EVIDENCE_COLUMNS}) VALUES "  # noqa: S608 - constants
    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (job_id, seq, recipient) DO UPDATE SET provider=excluded.provider, "
    "provider_id=excluded.provider_id, recipient_ref=excluded.recipient_ref, "
    "outcome=excluded.outcome, final=excluded.final, rank=excluded.rank, "
    "source=excluded.source, strength=excluded.strength, rule=excluded.rule, "
    "kind=excluded.kind, raw_kind=excluded.raw_kind, accepted_at=excluded.accepted_at, "
    "delivered_at=excluded.delivered_at, read_at=excluded.read_at, "
    "failed_at=excluded.failed_at, warned_at=excluded.warned_at, "
    "decided_at=excluded.decided_at, receipts=excluded.receipts, "
    "receipts_digest=excluded.receipts_digest, certificates=CASE WHEN "
    "excluded.certificates = '[]' THEN recipient_evidence.certificates ELSE "
    "excluded.certificates END, error=excluded.error, updated_at=excluded.updated_at, "
    "cleaned_at=coalesce(recipient_evidence.cleaned_at, excluded.cleaned_at) "
    "WHERE excluded.rank >= recipient_evidence.rank"
)


def _opt_micros(when: datetime | None) -> int | None:
    return micros(when) if when is not None else None


def _opt_time(value: int | None) -> datetime | None:
    return from_micros(value) if value is not None else None


def _evidence_row(r: RecipientEvidence) -> tuple[Any, ...]:
    return (
        r.job_id, r.seq, r.recipient, r.provider, r.provider_id, r.recipient_ref, r.outcome,
        int(r.final), r.rank, r.source, r.strength, r.rule, r.kind, r.raw_kind,
        _opt_micros(r.accepted_at), _opt_micros(r.delivered_at), _opt_micros(r.read_at),
        _opt_micros(r.failed_at), _opt_micros(r.warned_at), _opt_micros(r.decided_at),
        r.receipts, r.receipts_digest, certificates_to_json(r.certificates), r.error,
        now_micros(), _opt_micros(r.cleaned_at),
    )  # fmt: skip


def _evidence_record(row: Sequence[Any]) -> RecipientEvidence:
    try:
        return RecipientEvidence(
            job_id=row[0], seq=row[1], recipient=row[2], provider=row[3], provider_id=row[4],
            recipient_ref=row[5], outcome=row[6], final=bool(row[7]), rank=row[8],
            source=row[9], strength=row[10], rule=row[11], kind=row[12], raw_kind=row[13],
            accepted_at=_opt_time(row[14]), delivered_at=_opt_time(row[15]),
            read_at=_opt_time(row[16]), failed_at=_opt_time(row[17]),
            warned_at=_opt_time(row[18]), decided_at=_opt_time(row[19]), receipts=row[20],
            receipts_digest=row[21], certificates=certificates_from_json(row[22]),
            error=row[23], updated_at=_opt_time(row[24]), cleaned_at=_opt_time(row[25]),
        )  # fmt: skip
    except (KeyError, ValueError, TypeError, OverflowError) as error:
        raise _DamagedRow(
            f"the evidence of {row[2]!r} in chunk {row[1]!r} of job {row[0]!r} cannot be "
            f"read ({type(error).__name__}: {error})"
        ) from error


if TYPE_CHECKING:  # mypy proves SQLiteJournal implements every method of the Journal seam
    _conforms: Journal = SQLiteJournal(":memory:")
