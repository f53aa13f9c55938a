# PostgresJournal: the shared journal, one PostgreSQL schema (asyncpg)
# ------------------------------------------------------------------
#
# The same Journal contract as SQLiteJournal (and the same conformance suite), for many
# processes on many hosts. Selected with ``journal="postgresql://user@host/db"`` (or
# ``postgres://``; ``?schema=name`` picks the schema, default ``certmail``).
#
# Clock: every time the journal stores or compares (lease expiry, in_flight_at, updated_at)
# is the SERVER's clock (clock_timestamp()), so hosts with skewed clocks agree on when a
# lease lapsed. Times are timestamptz (microseconds, like SQLite's integers).
#
# Tables (all in the schema; no foreign keys: an operator's DELETE is detected by the
# counts below instead of cascading silently):
#
#   schema_version (version PK, applied_at, sdk)   one row per applied migration
#   jobs    (job_id PK, fingerprint, meta jsonb, created_at, n_chunks)
#   chunks  (job_id, seq) PK, provider, lane, recipients text[], digest, subject_digest,
#           key, status (CHECK: the stored states), provider_ids text[], error,
#           failed_recipients jsonb, evidence jsonb, attempts, in_flight_at,
#           in_flight_token (the fencing token that marked it in flight), updated_at
#   leases  (job_id, lane) PK, owner_id, host, pid, token, acquired_at, expires_at, released
#   claims  (provider, provider_id) PK, job_id, seq
#
# Ownership: the job lease is the `leases` row with lane = ''. acquire/renew/release take
# it FOR UPDATE; every transition (open_job, add_pending, add_final, mark_in_flight,
# mark_done) first reads it FOR SHARE and checks owner, token and expiry in the same
# transaction as its write. The share lock is what fences: a takeover must UPDATE that
# row, so it waits until every write in progress under the old token has committed (and
# the new owner then reads it), and a write that starts after the takeover reads the new
# token and is refused (JobLockedError, nothing written). A paused ex-owner cannot commit
# later either: its next transaction reads the new token. A session that stalls inside a
# transaction is ended by idle_in_transaction_session_timeout, so it never holds the lease
# row for long. Tokens only grow (a released lease keeps its row).
#
# Claims: the primary key (provider, provider_id) is the uniqueness; mark_done inserts its
# ids with ON CONFLICT DO NOTHING, then looks for an id owned by another chunk and, if
# there is one, raises JournalError(code="claimed") so the whole transaction (outcome
# included) rolls back. Two concurrent claimers of one id: the second waits on the first's
# uncommitted row, then sees it.
#
# Integrity: each job row counts its chunk rows (n_chunks, updated in the transactions
# that insert chunks); open_job refuses a job whose rows went missing, or rows without a
# job. The first call of a handle checks the schema: version table, version equal to this
# SDK's, every table and column present; a writer also refuses a read-only server (a hot
# standby after a failover, say). Rows that cannot be decoded are JournalError.
#
# Schema and migrations: `migrate()` (``certmail journal migrate``) takes a transaction-
# scoped advisory lock for the schema, so processes migrating at once run one after the
# other, applies the missing steps of _MIGRATIONS in one transaction (PostgreSQL's DDL is
# transactional: all or nothing) and records each in schema_version; run twice it does
# nothing. A schema newer than this SDK knows is refused. A writer creates a missing
# schema on first use (as SQLite creates its file), but never upgrades an older one: old
# workers may still run against it, so upgrading is an explicit `migrate`.
#
# Durability: a commit returns once the server made it durable per synchronous_commit. The
# journal refuses to be weakened by a server or role default of `off` (its transactions set
# it to `on`); with replicas, only synchronous replication keeps a committed in_flight row
# through a failover (docs/bulk.md: what a failover can cost).
#
# Bounds: a pool of at most `pool_size` connections; every call (connect, pool wait,
# queries, commit) finishes within `timeout` seconds; the server's own statement and lock
# timeouts are half of it (so the server usually answers first, with the precise reason)
# and its idle-in-transaction timeout a quarter (a paused process loses its transaction
# and its share lock before a takeover waiting on that lock gives up). Every driver error
# becomes JournalError with the URL's password scrubbed; the URL is held as a secret and
# never shown with its password.
#
# Workers (schema 2): a job enqueued for workers gets one `leases` row per lane (lane = the
# provider, e.g. "pecmassiva"; released, token 0) next to its job row, plus `stopped` (the
# reason a worker stopped the lane: no worker takes it until the job is enqueued again) and
# what its chunks send (`payloads`, by SHA-256, once per job; `chunk_payloads` seq -> ref).
# A worker takes a lane with _FREE_LANE (below):
#     SELECT ... FROM leases WHERE job_id=$1 AND lane <> '' AND stopped IS NULL
#       AND (released OR expires_at <= clock_timestamp() OR host = <this host>)
#       AND <the lane has chunks pending or in flight>
#     ORDER BY lane LIMIT 1 FOR UPDATE SKIP LOCKED
# and takes it in that transaction (token + 1): two workers never wait on each other nor
# take the same lane, and one dead for longer than its ttl (or whose pid is gone on this
# host) is replaced. Chunk transitions under a lane lease fence on the chunk's lane row
# (chunks.lane) exactly as they fence on the job row under the job lease. The lane owner
# claims its next chunks, in seq order, with _NEXT_CHUNKS
#     SELECT seq FROM chunks WHERE job_id=$1 AND lane=$2 AND status='pending'
#     ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED
# inside a lane-fenced transaction (index chunks_lane). The fence guarantees no other
# protocol writer is inside that lane, so SKIP LOCKED skips nothing there in normal
# operation; a lower pending seq that was skipped means an outside writer, and the lane
# stops rather than break per-provider order.
#
# Delivery evidence (schema 3): `recipient_evidence` (job_id, seq, recipient) PK, each
# recipient's latest outcome and proof (jsonb certificate digests; an upsert that never
# lowers the rank), and `receipt_archive` (job_id, seq, digest) PK, the PEC Massiva receipts
# saved to the evidence directory (digests, kind, time, file; never their text). Neither is
# fenced by a lease: they are observations, written while a job may still be sending.
#
# The job lease and the lane leases exclude each other, with the same row locks: taking
# the job lease locks every lane row (waiting for lane writes in progress) and is refused
# while one is live, and releases the lapsed ones; taking a lane locks the job row (share
# when released, update otherwise, waiting for job writes in progress) and is refused
# while the job lease is live, and releases a lapsed one. A stale holder of either kind
# can then neither renew nor write. Lock order is always job row, then lane rows.
"""PostgresJournal: the bulk journal in PostgreSQL, shared by processes on many hosts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import attrs

from .._exceptions import (
    CertmailError,
    JobLockedError,
    JobMismatchError,
    JournalError,
    ValidationError,
)
from .._redact import Redactor
from .._types import SecretStr
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
    lane_names,
    lease_gone,
    locked_error,
)
from ._journal import this_host as _this_host
from ._journal_sqlite import CLAIMED
from ._models import ChunkRecord, ChunkStatus, Evidence, LaneState, Lease

if TYPE_CHECKING:
    from typing import TypeAlias

    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[Any]

__all__ = ["DEFAULT_SCHEMA", "LOCKED", "SCHEMA_VERSION", "PostgresJournal", "is_postgres_url"]

T = TypeVar("T")

#: ``JournalError.code`` when a row stayed locked by another session past the lock timeout.
LOCKED = "locked"

#: The schema (namespace) the journal's tables live in unless the URL or caller names one.
DEFAULT_SCHEMA = "certmail"

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z", re.ASCII)
_LOCK_CLASS = 0x63_65_72_74  # advisory lock namespace ("cert"); the key is hashtext(schema)
_JOB = ""  # the lane of the job lease
_PAGE_IN = 10_000  # ids per ANY($n) query

# One entry per schema version: the statements that take a schema from the previous one.
# ``{s}`` is the quoted schema name. Never edit a released step: append a new one.
_MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE {s}.jobs (
            job_id text PRIMARY KEY,
            fingerprint text NOT NULL,
            meta jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            n_chunks bigint NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE {s}.chunks (
            job_id text NOT NULL,
            seq bigint NOT NULL,
            provider text NOT NULL,
            lane text NOT NULL,
            recipients text[] NOT NULL,
            digest text NOT NULL,
            subject_digest text NOT NULL,
            key text,
            status text NOT NULL
                CHECK (status IN ('pending', 'in_flight', 'sent', 'failed', 'unknown')),
            provider_ids text[] NOT NULL DEFAULT '{}',
            error text,
            failed_recipients jsonb NOT NULL DEFAULT '{}',
            evidence jsonb,
            attempts integer NOT NULL DEFAULT 0,
            in_flight_at timestamptz,
            in_flight_token bigint,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (job_id, seq)
        )""",
        "CREATE INDEX chunks_status ON {s}.chunks (job_id, status, seq)",
        "CREATE INDEX chunks_lane ON {s}.chunks (job_id, lane, seq) WHERE status <> 'sent'",
        "CREATE INDEX chunks_in_flight ON {s}.chunks (provider, in_flight_at)",
        "CREATE INDEX chunks_evidence ON {s}.chunks (job_id, seq) WHERE evidence IS NOT NULL",
        """CREATE TABLE {s}.leases (
            job_id text NOT NULL,
            lane text NOT NULL DEFAULT '',
            owner_id text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            token bigint NOT NULL,
            acquired_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            released boolean NOT NULL DEFAULT false,
            PRIMARY KEY (job_id, lane)
        )""",
        """CREATE TABLE {s}.claims (
            provider text NOT NULL,
            provider_id text NOT NULL,
            job_id text NOT NULL,
            seq bigint NOT NULL,
            PRIMARY KEY (provider, provider_id)
        )""",
    ),
    (  # 2: workers (lanes stopped by a worker; what enqueued chunks send)
        "ALTER TABLE {s}.leases ADD COLUMN stopped text",
        """CREATE TABLE {s}.payloads (
            job_id text NOT NULL,
            ref text NOT NULL,
            content bytea NOT NULL,
            PRIMARY KEY (job_id, ref)
        )""",
        """CREATE TABLE {s}.chunk_payloads (
            job_id text NOT NULL,
            seq bigint NOT NULL,
            ref text NOT NULL,
            PRIMARY KEY (job_id, seq)
        )""",
    ),
    (  # 3: delivery evidence (each recipient's latest outcome; receipts archived)
        """CREATE TABLE {s}.recipient_evidence (
            job_id text NOT NULL,
            seq bigint NOT NULL,
            recipient text NOT NULL,
            provider text NOT NULL,
            provider_id text,
            recipient_ref text,
            outcome text NOT NULL,
            final boolean NOT NULL,
            rank integer NOT NULL,
            source text NOT NULL,
            strength integer NOT NULL,
            rule text,
            kind text,
            raw_kind text,
            accepted_at timestamptz,
            delivered_at timestamptz,
            read_at timestamptz,
            failed_at timestamptz,
            warned_at timestamptz,
            decided_at timestamptz,
            receipts integer NOT NULL DEFAULT 0,
            receipts_digest text,
            certificates jsonb NOT NULL DEFAULT '[]',
            error text,
            updated_at timestamptz NOT NULL,
            cleaned_at timestamptz,
            PRIMARY KEY (job_id, seq, recipient)
        )""",
        """CREATE TABLE {s}.receipt_archive (
            job_id text NOT NULL,
            seq bigint NOT NULL,
            provider_id text NOT NULL,
            digest text NOT NULL,
            kind text NOT NULL,
            received_at timestamptz,
            file text,
            archived_at timestamptz NOT NULL,
            PRIMARY KEY (job_id, seq, digest)
        )""",
    ),
]

#: The schema version this SDK writes (the last step of its migrations).
SCHEMA_VERSION = len(_MIGRATIONS)

_TABLES: dict[str, tuple[str, ...]] = {
    "schema_version": ("version", "applied_at", "sdk"),
    "jobs": ("job_id", "fingerprint", "meta", "created_at", "n_chunks"),
    "chunks": (
        "job_id", "seq", "provider", "lane", "recipients", "digest", "subject_digest", "key",
        "status", "provider_ids", "error", "failed_recipients", "evidence", "attempts",
        "in_flight_at", "in_flight_token", "updated_at",
    ),
    "leases": (
        "job_id", "lane", "owner_id", "host", "pid", "token", "acquired_at", "expires_at",
        "released", "stopped",
    ),
    "claims": ("provider", "provider_id", "job_id", "seq"),
    "payloads": ("job_id", "ref", "content"),
    "chunk_payloads": ("job_id", "seq", "ref"),
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

# Plain constants: ``{s}`` is the quoted schema (a checked name), every value a $n parameter.
_SELECT_CHUNKS = (
    "SELECT job_id, seq, provider, recipients, digest, subject_digest, key, status, "
    "provider_ids, error, failed_recipients::text, attempts, in_flight_at, updated_at, "
    "evidence::text FROM {s}.chunks WHERE job_id=$1"
)
_SELECT_LEASE = (
    "SELECT owner_id, host, pid, token, expires_at, released, clock_timestamp() AS now "
    "FROM {s}.leases WHERE job_id=$1 AND lane=$2"
)
# The workers' two queries (see the header). _FREE_LANE: the first lane a worker may take
# ($2: this host; a lane held from here is taken only if its pid is gone, checked after the
# lock; $3: lanes it has no client for or already passed over), locked without waiting for
# a lane another transaction holds, so concurrent workers get distinct lanes. _NEXT_CHUNKS:
# the lane's pending chunks in seq order, inside the lane-fenced transaction.
_FREE_LANE = (
    "SELECT lane, token, owner_id, host, pid, expires_at, released FROM {s}.leases l "
    "WHERE job_id=$1 AND lane <> '' AND stopped IS NULL AND lane <> ALL($3::text[]) "
    "AND (released OR expires_at <= clock_timestamp() OR host = $2) "
    "AND EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.job_id=l.job_id AND c.lane=l.lane "
    "AND c.status IN ('pending', 'in_flight')) "
    "ORDER BY lane LIMIT 1 FOR UPDATE SKIP LOCKED"
)
_NEXT_CHUNKS = (
    "SELECT seq FROM {s}.chunks WHERE job_id=$1 AND lane=$2 AND status='pending' "
    "ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED"
)
_INSERT = """INSERT INTO {s}.chunks (job_id, seq, provider, lane, recipients, digest,
    subject_digest, key, status, provider_ids, error, failed_recipients, evidence, attempts,
    in_flight_at, in_flight_token, updated_at)
SELECT $1, r.seq, r.provider, r.provider,
    ARRAY(SELECT x FROM jsonb_array_elements_text(r.recipients) WITH ORDINALITY AS e(x, i)
          ORDER BY i),
    r.digest, r.subject_digest, r.key, r.status,
    ARRAY(SELECT x FROM jsonb_array_elements_text(r.provider_ids) WITH ORDINALITY AS e(x, i)
          ORDER BY i),
    r.error, r.failed, r.evidence, r.attempts,
    coalesce(r.in_flight_at, CASE WHEN r.status = 'in_flight' THEN clock_timestamp() END),
    CASE WHEN r.status = 'in_flight' THEN $15::bigint END, clock_timestamp()
FROM unnest($2::bigint[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::jsonb[], $10::text[], $11::jsonb[], $12::jsonb[], $13::integer[],
    $14::timestamptz[])
    AS r(seq, provider, recipients, digest, subject_digest, key, status, provider_ids, error,
         failed, evidence, attempts, in_flight_at)
ON CONFLICT (job_id, seq) DO NOTHING"""

_STATUSES = {s.value: s for s in ChunkStatus}


def is_postgres_url(spec: object) -> bool:
    """Whether a journal spec names PostgreSQL (``postgresql://`` or ``postgres://``).

    Examples:
        >>> is_postgres_url("postgresql://app@db.internal/jobs"), is_postgres_url("jobs.sqlite")
        (True, False)
    """
    return isinstance(spec, str) and spec.lower().startswith(("postgresql://", "postgres://"))


def _driver() -> ModuleType:
    """asyncpg, imported on first use (the ``postgres`` extra)."""
    try:
        return import_module("asyncpg")
    except ImportError:
        raise JournalError(
            "the PostgreSQL journal needs asyncpg: pip install 'certmail-async[postgres]'"
        ) from None


class _DamagedRow(Exception):
    """A row whose content cannot be read back."""


class _Absent(Exception):
    """A read found no schema: the journal is empty (reads never create one)."""


def _check_ttl(ttl: float) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < 10**9:
        raise ValidationError(f"must be a positive number of seconds, got {ttl!r}", field="ttl")


def _positive(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**6:
        raise ValidationError(f"must be a positive number, got {value!r}", field=field)
    return float(value)


def _parse(url: object, schema: str | None) -> tuple[str, str, str, list[str]]:
    """(dsn for the driver, schema, display name without secrets, secrets to scrub)."""
    if not isinstance(url, str) or not is_postgres_url(url):
        # the value is not echoed: it may hold a password
        raise ValidationError("must be a postgresql:// or postgres:// URL", field="url")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ValidationError("must not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        user, password = parts.username, parts.password
    except ValueError:
        raise ValidationError("is not a valid URL", field="url") from None
    secrets = [unquote(password)] if password else []
    secrets += [value for key, value in query if key in ("password", "sslpassword") and value]
    named = [value for key, value in query if key == "schema"]
    if named and schema is not None and named[-1] != schema:
        raise ValidationError("names a schema and schema= names another", field="schema")
    chosen = schema if schema is not None else (named[-1] if named else DEFAULT_SCHEMA)
    if not isinstance(chosen, str) or not _SCHEMA_NAME.match(chosen):
        raise ValidationError(
            "must be a lower-case SQL name (letters, digits, _; at most 63)", field="schema"
        )
    rest = [(key, value) for key, value in query if key != "schema"]
    dsn = urlunsplit(parts._replace(query=urlencode(rest)))
    host = parts.netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{f'{user}@' if user else ''}{host}{parts.path}"
    if chosen != DEFAULT_SCHEMA:
        shown += f"?schema={chosen}"
    return dsn, chosen, shown, [*secrets, url]


class PostgresJournal:
    """The bulk journal in PostgreSQL: one schema shared by processes on many hosts.

    ``url`` is a libpq-style URL (``postgresql://user@host:5432/db``; several hosts and
    ``target_session_attrs=read-write`` work as in asyncpg); ``?schema=name`` or
    ``schema=`` picks the schema (default ``certmail``). The URL is a secret: its password
    never appears in `display_name`, errors, logs or the repr. Prefer ``PGPASSWORD``
    or ``~/.pgpass`` to a password in the URL.

    Nothing connects until the first call. A writer creates a missing schema on first use;
    `migrate` creates or upgrades it explicitly (``certmail journal migrate``).
    Reads of a schema that does not exist see an empty journal and create nothing;
    ``readonly=True`` never writes (status and export). ``timeout`` bounds every call
    (seconds); ``pool_size`` bounds the connections this handle opens.

    Examples:
        >>> async def demo() -> None:
        ...     journal = PostgresJournal("postgresql://app@db.internal/jobs")
        ...     print(await journal.migrate())  # the schema version, e.g. 1
        ...     lease = await journal.acquire("avvisi", owner_id="w1", ttl=30)
        ...     await journal.open_job(lease, "fp", {})
        ...     await journal.release(lease)
        ...     await journal.aclose()
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        readonly: bool = False,
        timeout: float = 15.0,
        pool_size: int = 5,
    ) -> None:
        dsn, self.schema, self.display_name, secrets = _parse(url, schema)
        self.readonly = bool(readonly)
        self.timeout = _positive(timeout, "timeout")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValidationError(f"must be a positive int, got {pool_size!r}", field="pool_size")
        self.pool_size = pool_size
        self._dsn = SecretStr(dsn)
        self._redactor = Redactor(secrets)
        self._s = f'"{self.schema}"'
        self._pool: asyncpg.Pool[Any] | None = None
        self._pool_lock: asyncio.Lock | None = None
        self._checked = False  # the schema was checked
        self._primary = False  # the server accepts writes (checked before the first one)
        self._sync_on = False  # the server's default synchronous_commit is off: set it on

    def __repr__(self) -> str:
        return f"PostgresJournal({self.display_name!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _error(self, message: str) -> JournalError:
        text = self._redactor.scrub(f"journal {self.display_name}: {message}")
        return JournalError(text, path=self.display_name)

    def _sql(self, text: str) -> str:
        return text.replace("{s}", self._s)

    async def _connection_init(self, conn: asyncpg.Connection[Any]) -> None:
        if await conn.fetchval("SELECT current_setting('synchronous_commit')") == "off":
            self._sync_on = True

    async def _get_pool(self) -> asyncpg.Pool[Any]:
        if self._pool is not None:
            return self._pool
        if self._pool_lock is None:
            self._pool_lock = asyncio.Lock()
        async with self._pool_lock:
            if self._pool is None:
                driver = _driver()
                # ms: the server gives up first; a session stalled inside a transaction
                # (a paused process) is ended sooner than a lock waiter gives up on it.
                half = max(2, round(self.timeout * 500))
                settings = {
                    "application_name": "certmail_async journal",
                    "statement_timeout": str(half),
                    "lock_timeout": str(half),
                    "idle_in_transaction_session_timeout": str(half // 2),
                }
                if self.readonly:
                    settings["default_transaction_read_only"] = "on"
                pool: asyncpg.Pool[Any] = driver.create_pool(
                    self._dsn.get_secret_value(),
                    min_size=0,
                    max_size=self.pool_size,
                    max_inactive_connection_lifetime=60.0,
                    timeout=self.timeout / 2,
                    server_settings=settings,
                    init=self._connection_init,
                )
                await pool
                self._pool = pool
        return self._pool

    def _errors(self) -> tuple[type[Exception], ...]:
        driver = _driver()
        return (
            driver.PostgresError,
            driver.InterfaceError,
            driver.exceptions.InternalClientError,
            OSError,
        )

    def _translate(self, error: BaseException) -> JournalError:
        state = getattr(error, "sqlstate", None) or ""
        text = " ".join(str(error).split()) or type(error).__name__
        if state == "25006":
            why = f"is read-only ({text}); nothing can be recorded, so nothing is sent"
        elif state.startswith("28"):
            why = f"refused the credentials ({text})"
        elif state == "3D000":
            why = f"names a database that does not exist ({text})"
        elif state in ("42P01", "42703", "3F000"):
            why = f"lost part of its schema ({text}); refusing to use it"
        elif state == "42501":
            why = f"denies this user a permission it needs ({text})"
        elif state == "55P03":
            error = self._error(f"a row stayed locked by another session ({text})")
            error.code = LOCKED
            return error
        elif state == "57014":
            why = f"a statement ran past its timeout ({text})"
        elif state in ("40001", "40P01"):
            why = f"a concurrent transaction conflicted; nothing was written ({text})"
        elif state.startswith(("08", "57P")) or isinstance(error, OSError):
            why = f"cannot be reached ({type(error).__name__}: {text})"
        else:
            why = f"failed ({type(error).__name__}: {text})"
        return self._error(why)

    async def _call(
        self, fn: Callable[[_Conn], Awaitable[T]], *, write: bool, check: bool = True
    ) -> T:
        """Run ``fn`` on a pooled connection within ``timeout``; driver errors -> JournalError.

        With ``check``, the first call checks the schema (and a writer, the server).
        """
        if write and self.readonly:
            raise self._error("was opened read-only")
        errors: tuple[type[Exception], ...] = (TimeoutError, *self._errors())
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                pool = await self._get_pool()
                async with pool.acquire() as conn:
                    if check and not (self._checked and (self._primary or not write)):
                        await self._check(conn, write=write)
                    return await fn(conn)
        except _DamagedRow as error:
            raise self._error(f"holds a damaged row: {error}") from None
        except CertmailError:
            raise
        except errors as error:
            if deadline.expired():
                raise self._error(
                    f"did not answer within {self.timeout:g} s (a write in progress may or "
                    "may not have been recorded; nothing was sent on it)"
                ) from None
            raise self._translate(error) from None

    async def _write(self, body: Callable[[_Conn], Awaitable[T]]) -> T:
        async def run(conn: _Conn) -> T:
            async with conn.transaction():
                if self._sync_on:
                    await conn.execute("SET LOCAL synchronous_commit TO on")
                return await body(conn)

        return await self._call(run, write=True)

    async def _read(self, body: Callable[[_Conn], Awaitable[T]], empty: T) -> T:
        try:
            return await self._call(body, write=False)
        except _Absent:
            return empty

    # -- schema ---------------------------------------------------------------------------

    async def _inspect(self, conn: _Conn) -> tuple[int, dict[str, set[str]]]:
        """The schema version (0: none) and each table's columns, read consistently."""
        rows = await conn.fetch(
            "SELECT c.relname, array_agg(a.attname::text) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "AND NOT a.attisdropped WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') "
            "GROUP BY c.relname",
            self.schema,
        )
        tables = {row[0]: set(row[1]) for row in rows}
        version = 0
        if "schema_version" in tables:
            version = await conn.fetchval(
                self._sql("SELECT coalesce(max(version), 0) FROM {s}.schema_version")
            )
        return int(version), tables

    def _verify(self, version: int, tables: dict[str, set[str]]) -> None:
        if version > SCHEMA_VERSION:
            raise self._error(
                f"was written by a newer certmail_async (schema {version} > {SCHEMA_VERSION})"
            )
        if version == 0:
            raise self._error(
                f"schema {self.schema!r} holds tables but no certmail schema version (a "
                "foreign schema); use another schema or database"
            )
        if version < SCHEMA_VERSION:
            raise self._error(
                f"has schema version {version}, this certmail_async needs {SCHEMA_VERSION}: "
                "run `certmail journal migrate` (after the workers of the old version stopped)"
            )
        for table, columns in _TABLES.items():
            if table not in tables:
                raise self._error(f"lost its {table!r} table; refusing to use it")
            missing = [c for c in columns if c not in tables[table]]
            if missing:
                raise self._error(f"table {table!r} lost columns {', '.join(missing)}")

    async def _check(self, conn: _Conn, *, write: bool) -> None:
        if not self._checked:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                version, tables = await self._inspect(conn)
            if version == 0 and not tables:
                if not write:
                    raise _Absent
                await self._migrate(conn, create_only=True)
            else:
                self._verify(version, tables)
            self._checked = True
        if write:
            if await conn.fetchval("SELECT pg_is_in_recovery()"):
                raise self._error(
                    "is a read-only standby (in recovery); nothing can be recorded, so "
                    "nothing is sent (point the URL at the primary, e.g. "
                    "target_session_attrs=read-write)"
                )
            self._primary = True

    async def _migrate(self, conn: _Conn, *, create_only: bool) -> int:
        from .. import __version__

        async with conn.transaction():
            if self._sync_on:
                await conn.execute("SET LOCAL synchronous_commit TO on")
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS,
                               self.schema)  # fmt: skip
            version, tables = await self._inspect(conn)  # after the lock: the latest state
            if (version == 0 and tables) or version > SCHEMA_VERSION:
                self._verify(version, tables)  # foreign or newer: refused
            if create_only and version != 0:
                self._verify(version, tables)  # another process created it meanwhile
                return version
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1", self.schema
            )
            if not exists:
                await conn.execute(f"CREATE SCHEMA {self._s}")
            if "schema_version" not in tables:
                await conn.execute(
                    self._sql(
                        "CREATE TABLE {s}.schema_version (version integer PRIMARY KEY, "
                        "applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
                        "sdk text NOT NULL)"
                    )
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step - 1]:
                    await conn.execute(self._sql(statement))
                await conn.execute(
                    self._sql("INSERT INTO {s}.schema_version (version, sdk) VALUES ($1, $2)"),
                    step,
                    __version__,
                )
            version, tables = await self._inspect(conn)
            self._verify(version, tables)
        return version

    async def migrate(self) -> int:
        """Create the schema, or bring it to this SDK's version; returns the version.

        Idempotent, and safe when several processes run it at once (an advisory lock).
        A schema newer than this SDK is refused (JournalError).
        """

        async def run(conn: _Conn) -> int:
            version = await self._migrate(conn, create_only=False)
            self._checked = True
            return version

        return await self._call(run, write=True, check=False)

    async def schema_version(self) -> int:
        """The schema version stored in the database (0 when there is no schema yet)."""

        async def run(conn: _Conn) -> int:
            version, _ = await self._inspect(conn)
            return version

        return await self._call(run, write=False, check=False)

    # -- ownership --------------------------------------------------------------------------

    async def _fence(self, conn: _Conn, lease: Lease, job_id: str, lane: str | None = None) -> None:
        """Inside the write transaction: refuse a lease that is no longer the live one.

        ``lane`` is the lane of the chunk written (None: a job-level write); a job lease
        writes everything, a lane lease only its lane's chunks. FOR SHARE on the lease row
        (the job's or the lane's): a takeover waits until this transaction ends, so what it
        writes under this token is committed before the new owner reads anything.
        """
        if lease.job_id != job_id:
            raise self._error(f"a lease of job {lease.job_id!r} cannot write job {job_id!r}")
        if lease.lane and lane != lease.lane:
            what = "job-level rows" if lane is None else f"lane {lane!r}"
            raise self._error(f"the lease of lane {lease.lane!r} cannot write {what}")
        where = f"job {job_id!r}" + (f" lane {lease.lane!r}" if lease.lane else "")
        row = await conn.fetchrow(
            self._sql(_SELECT_LEASE + " FOR SHARE"),
            job_id,
            lease.lane,
        )
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
                expires_in=max(0.0, _left(row)) if holder and row else None,
            )
        if row[4] <= row[6]:
            raise JobLockedError(
                f"{where}: the lease of {lease.owner_id} lapsed "
                f"{(row[6] - row[4]).total_seconds():.3f} s ago (renew it sooner); "
                "nothing was written",
                owner=f"{row[0]}@{row[1]} pid {row[2]}",
                expires_in=0.0,
            )

    async def _no_live_lane(self, conn: _Conn, job_id: str) -> None:
        """Under the job row's lock: refuse while a worker holds a lane; release lapsed lanes.

        The lane rows are locked first (waiting for lane writes in progress), then read on
        a clock taken after the locks. A lapsed lane is released (its token kept), so its
        owner can no longer renew it once the job lease is taken.
        """
        rows = await conn.fetch(
            self._sql(
                "SELECT owner_id, host, pid, token, expires_at, released, lane FROM {s}.leases "
                "WHERE job_id=$1 AND lane <> '' ORDER BY lane FOR UPDATE"
            ),
            job_id,
        )
        if not rows:
            return
        now = await conn.fetchval("SELECT clock_timestamp()")
        for row in rows:
            holder = _lease(job_id, row, lane=row[6])
            if not row[5] and row[4] > now and not lease_gone(holder):
                raise locked_error(holder, (row[4] - now).total_seconds())
        await conn.execute(
            self._sql(
                "UPDATE {s}.leases SET released=true WHERE job_id=$1 AND lane <> '' "
                "AND NOT released"
            ),
            job_id,
        )

    async def acquire(self, job_id: str, *, owner_id: str, ttl: float) -> Lease:
        """Take the job's lease for ``ttl`` seconds, or take over a gone owner's (token + 1).

        A live lease held by anyone else raises [JobLockedError][certmail_async.JobLockedError]
        naming the owner, host and pid. The same ``owner_id`` from this process gets its
        lease back, extended, with the same token.
        """
        _check_ttl(ttl)
        host, pid = _this_host(), os.getpid()
        span = timedelta(microseconds=round(ttl * 1_000_000))
        select = self._sql(_SELECT_LEASE + " FOR UPDATE")

        async def body(conn: _Conn) -> Lease:
            row = await conn.fetchrow(select, job_id, _JOB)
            if row is None:
                now = await conn.fetchval("SELECT clock_timestamp()")
                inserted = await conn.fetchval(
                    self._sql(
                        "INSERT INTO {s}.leases (job_id, lane, owner_id, host, pid, token, "
                        "acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7) "
                        "ON CONFLICT (job_id, lane) DO NOTHING RETURNING token"
                    ),
                    job_id, _JOB, owner_id, host, pid, now, now + span,
                )  # fmt: skip
                if inserted is not None:
                    await self._no_live_lane(conn, job_id)
                    return Lease(job_id=job_id, owner_id=owner_id, host=host, pid=pid,
                                 token=1, expires_at=now + span)  # fmt: skip
                row = await conn.fetchrow(select, job_id, _JOB)  # another acquirer's row
                if row is None:
                    raise self._error(f"job {job_id!r}: its lease row vanished; try again")
            # Read after the row lock: the select's own clock may be from before a wait.
            now = await conn.fetchval("SELECT clock_timestamp()")
            current = _lease(job_id, row)
            live = not row[5] and row[4] > now
            mine = (row[0], row[1], row[2]) == (owner_id, host, pid)
            if live and mine:
                token = current.token
            elif live and not lease_gone(current):
                raise locked_error(current, (row[4] - now).total_seconds())
            else:
                token = current.token + 1
            await self._no_live_lane(conn, job_id)
            await conn.execute(
                self._sql(
                    "UPDATE {s}.leases SET owner_id=$3, host=$4, pid=$5, token=$6, "
                    "acquired_at=$7, expires_at=$8, released=false WHERE job_id=$1 AND lane=$2"
                ),
                job_id, _JOB, owner_id, host, pid, token, now, now + span,
            )  # fmt: skip
            return Lease(job_id=job_id, owner_id=owner_id, host=host, pid=pid, token=token,
                         expires_at=now + span)  # fmt: skip

        try:
            return await self._write(body)
        except JournalError as error:
            if error.code == LOCKED:  # a stalled session holds the lease row
                raise JobLockedError(
                    f"job {job_id!r}: its lease row is held by another session's unfinished "
                    "transaction; try again",
                ) from None
            raise

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (the job's or a lane's) by ``ttl`` from now (the heartbeat).

        Raises [JobLockedError][certmail_async.JobLockedError] when the lease was taken over or
        released (taking the job lease releases the lapsed lane leases, and taking a lane
        the lapsed job lease). A lease that lapsed but that nobody took over is renewed.
        """
        _check_ttl(ttl)
        span = timedelta(microseconds=round(ttl * 1_000_000))
        where = f"job {lease.job_id!r}" + (f" lane {lease.lane!r}" if lease.lane else "")

        async def body(conn: _Conn) -> Lease:
            row = await conn.fetchrow(
                self._sql(_SELECT_LEASE + " FOR UPDATE"),
                lease.job_id,
                lease.lane,
            )
            if row is None or row[5] or (row[0], row[3]) != (lease.owner_id, lease.token):
                if row is None or row[5]:
                    raise JobLockedError(f"{where}: the lease of {lease.owner_id} was released")
                current = _lease(lease.job_id, row, lane=lease.lane)
                raise locked_error(current, _left(row), stale=lease)
            expires = await conn.fetchval("SELECT clock_timestamp()") + span  # after the lock
            await conn.execute(
                self._sql("UPDATE {s}.leases SET expires_at=$3 WHERE job_id=$1 AND lane=$2"),
                lease.job_id,
                lease.lane,
                expires,
            )
            return attrs.evolve(lease, host=row[1], pid=row[2], expires_at=expires)

        return await self._write(body)

    async def release(self, lease: Lease) -> None:
        """Give the lease up (no-op when it was taken over); its token stays, tokens only grow."""

        async def body(conn: _Conn) -> None:
            await conn.execute(
                self._sql(
                    "UPDATE {s}.leases SET released=true, expires_at=clock_timestamp() "
                    "WHERE job_id=$1 AND lane=$2 AND owner_id=$3 AND token=$4"
                ),
                lease.job_id, lease.lane, lease.owner_id, lease.token,
            )  # fmt: skip

        await self._write(body)

    async def holder(self, job_id: str) -> Lease | None:
        """The job's current lease, live or lapsed; None when nobody holds it (or released)."""

        async def body(conn: _Conn) -> Lease | None:
            row = await conn.fetchrow(
                self._sql(_SELECT_LEASE),
                job_id,
                _JOB,
            )
            return None if row is None or row[5] else _lease(job_id, row)

        return await self._read(body, None)

    # -- jobs -------------------------------------------------------------------------------

    async def open_job(self, lease: Lease, fingerprint: str, meta: Mapping[str, str]) -> bool:
        """Create the job or check it; True when it already existed.

        Raises [JobMismatchError][certmail_async.JobMismatchError] when the job was started with
        another fingerprint, and [JournalError][certmail_async.JournalError] when its chunk rows
        are missing (or chunk rows exist without their job row).
        """
        job_id = lease.job_id
        meta_json = json.dumps(dict(meta))

        async def body(conn: _Conn) -> bool:
            await self._fence(conn, lease, job_id)
            row = await conn.fetchrow(
                self._sql("SELECT fingerprint, n_chunks FROM {s}.jobs WHERE job_id=$1 FOR UPDATE"),
                job_id,
            )
            present = await conn.fetchval(
                self._sql("SELECT count(*) FROM {s}.chunks WHERE job_id=$1"), job_id
            )
            if row is None:
                if present:
                    raise self._error(
                        f"job {job_id!r} has {present} chunk rows but no job row; "
                        "refusing to treat it as new"
                    )
                await conn.execute(
                    self._sql(
                        "INSERT INTO {s}.jobs (job_id, fingerprint, meta, created_at, n_chunks) "
                        "VALUES ($1, $2, $3::jsonb, clock_timestamp(), 0)"
                    ),
                    job_id,
                    fingerprint,
                    meta_json,
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

        return await self._write(body)

    async def job_meta(self, job_id: str) -> dict[str, str] | None:
        """The metadata stored with the job (plus ``created_at``, ISO), or None when unknown."""

        async def body(conn: _Conn) -> dict[str, str] | None:
            row = await conn.fetchrow(
                self._sql("SELECT meta::text, created_at FROM {s}.jobs WHERE job_id=$1"), job_id
            )
            if row is None:
                return None
            try:
                meta: dict[str, str] = json.loads(row[0])
                if not isinstance(meta, dict):
                    raise TypeError("not a JSON object")
                meta["created_at"] = row[1].isoformat()
            except (ValueError, TypeError, AttributeError) as error:
                raise _DamagedRow(f"job {job_id!r} has unreadable metadata ({error})") from error
            return meta

        return await self._read(body, None)

    async def jobs(self) -> list[str]:
        """Every job id in the journal, oldest first."""

        async def body(conn: _Conn) -> list[str]:
            rows = await conn.fetch(self._sql("SELECT job_id FROM {s}.jobs ORDER BY created_at"))
            return [r[0] for r in rows]

        return await self._read(body, [])

    # -- transitions (fenced) ---------------------------------------------------------------

    async def _insert(
        self, conn: _Conn, job_id: str, records: Sequence[ChunkRecord],
        token: int | None = None,
    ) -> int:  # fmt: skip
        """Insert chunk rows (rows already there are left alone); how many were new."""
        r = records
        status = await conn.execute(
            self._sql(_INSERT),
            job_id,
            [c.seq for c in r],
            [c.provider for c in r],
            [json.dumps(list(c.recipients)) for c in r],
            [c.digest for c in r],
            [c.subject_digest for c in r],
            [c.key for c in r],
            [c.status.value for c in r],
            [json.dumps(list(c.provider_ids)) for c in r],
            [c.error for c in r],
            [json.dumps(dict(c.failed_recipients)) for c in r],
            [evidence_to_json(c.evidence) for c in r],
            [c.attempts for c in r],
            [_aware(c.in_flight_at) for c in r],
            token,
        )
        added = int(status.rsplit(" ", 1)[-1])
        if added:
            counted = await conn.execute(
                self._sql("UPDATE {s}.jobs SET n_chunks = n_chunks + $2 WHERE job_id=$1"),
                job_id,
                added,
            )
            if counted != "UPDATE 1":
                raise self._error(f"job {job_id!r} was not opened (no job row)")
        return added

    async def add_pending(self, lease: Lease, records: Sequence[ChunkRecord]) -> None:
        """Insert chunks as pending in one transaction (rows already there are left alone)."""
        if not records:
            return
        by_job: dict[str, list[ChunkRecord]] = {}
        for record in records:
            by_job.setdefault(record.job_id, []).append(record)

        async def body(conn: _Conn) -> None:
            for job_id, batch in by_job.items():
                await self._fence(conn, lease, job_id)
                await self._insert(conn, job_id, batch)

        await self._write(body)

    async def add_final(self, lease: Lease, record: ChunkRecord) -> None:
        """Record a chunk that is final without a request (invalid input: FAILED).

        A chunk already journaled (an earlier run recorded it) is left as it is.
        """

        async def body(conn: _Conn) -> None:
            await self._fence(conn, lease, record.job_id)
            await self._insert(conn, record.job_id, [record])

        await self._write(body)

    async def mark_in_flight(self, lease: Lease, record: ChunkRecord) -> None:
        """Durably mark a chunk in flight, stamping ``in_flight_at``; BEFORE its request leaves.

        Refuses (JournalError) a chunk the journal already holds as SENT: it is never sent
        twice, whatever the caller believes.
        """
        chunk = record
        select = self._sql("SELECT status FROM {s}.chunks WHERE job_id=$1 AND seq=$2 FOR UPDATE")

        async def body(conn: _Conn) -> None:
            await self._fence(conn, lease, chunk.job_id, chunk.provider)
            current = await conn.fetchval(select, chunk.job_id, chunk.seq)
            if current is None:
                flying = attrs.evolve(chunk, status=ChunkStatus.IN_FLIGHT, attempts=1,
                                      in_flight_at=None)  # fmt: skip
                if await self._insert(conn, chunk.job_id, [flying], lease.token):
                    return
                current = await conn.fetchval(select, chunk.job_id, chunk.seq)
            if current == ChunkStatus.SENT.value:
                raise self._error(
                    f"job {chunk.job_id!r} chunk {chunk.seq} is already SENT; "
                    "refusing to send it again"
                )
            await conn.execute(
                self._sql(
                    "UPDATE {s}.chunks SET status='in_flight', attempts=attempts+1, "
                    "in_flight_at=clock_timestamp(), in_flight_token=$3, "
                    "updated_at=clock_timestamp(), error=NULL WHERE job_id=$1 AND seq=$2"
                ),
                chunk.job_id,
                chunk.seq,
                lease.token,
            )

        await self._write(body)

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
        failed = dict(failed_recipients or {})
        fields = (final.value, ids, error, json.dumps(failed), evidence_to_json(evidence))
        done = attrs.evolve(
            chunk, status=final, provider_ids=tuple(ids), error=error, failed_recipients=failed,
            evidence=evidence, attempts=0, in_flight_at=None,
        )  # fmt: skip

        async def body(conn: _Conn) -> None:
            await self._fence(conn, lease, chunk.job_id, chunk.provider)
            updated = await conn.execute(
                self._sql(
                    "UPDATE {s}.chunks SET status=$3, provider_ids=$4, error=$5, "
                    "failed_recipients=$6::jsonb, evidence=$7::jsonb, "
                    "updated_at=clock_timestamp() WHERE job_id=$1 AND seq=$2"
                ),
                chunk.job_id, chunk.seq, *fields,
            )  # fmt: skip
            if updated == "UPDATE 0":
                await self._insert(conn, chunk.job_id, [done])
            if not ids:
                return
            wanted = sorted(set(ids))  # one order for every claimer: no deadlock
            await conn.execute(
                self._sql(
                    "INSERT INTO {s}.claims (provider, provider_id, job_id, seq) "
                    "SELECT $1, unnest($2::text[]), $3, $4 ON CONFLICT DO NOTHING"
                ),
                chunk.provider, wanted, chunk.job_id, chunk.seq,
            )  # fmt: skip
            owner = await conn.fetchrow(
                self._sql(
                    "SELECT provider_id, job_id, seq FROM {s}.claims WHERE provider=$1 "
                    "AND provider_id = ANY($2::text[]) AND NOT (job_id=$3 AND seq=$4) "
                    "ORDER BY provider_id LIMIT 1"
                ),
                chunk.provider, wanted, chunk.job_id, chunk.seq,
            )  # fmt: skip
            if owner is not None:
                conflict = self._error(
                    f"{chunk.provider} id {owner[0]!r} is already claimed by job "
                    f"{owner[1]!r} chunk {owner[2]}; chunk {chunk.seq} of job "
                    f"{chunk.job_id!r} cannot claim it (nothing was written)"
                )
                conflict.code = CLAIMED
                raise conflict

        await self._write(body)

    # -- lanes (workers) --------------------------------------------------------------------

    async def add_lanes(self, lease: Lease, lanes: Sequence[str]) -> None:
        """Open the job to workers: one free lease row per lane; stopped lanes are reopened."""
        names = lane_names(lanes)

        async def body(conn: _Conn) -> None:
            await self._fence(conn, lease, lease.job_id)
            await conn.execute(
                self._sql(
                    "INSERT INTO {s}.leases (job_id, lane, owner_id, host, pid, token, "
                    "acquired_at, expires_at, released) SELECT $1, unnest($2::text[]), '', '', "
                    "0, 0, clock_timestamp(), clock_timestamp(), true "
                    "ON CONFLICT (job_id, lane) DO UPDATE SET stopped=NULL"
                ),
                lease.job_id,
                names,
            )

        await self._write(body)

    async def acquire_lane(
        self, job_id: str, *, owner_id: str, ttl: float, lanes: Sequence[str] | None = None
    ) -> Lease | None:
        """Take a free lane of the job that has work (token + 1), in lane order; or None.

        Free: released, lapsed, or its owner's pid is gone on this host. Lanes another
        transaction holds are skipped, never waited for (FOR UPDATE SKIP LOCKED). A stopped
        lane, a lane with nothing pending or in flight, and every lane while the job's own
        lease is live, are never taken.
        """
        _check_ttl(ttl)
        host, pid = _this_host(), os.getpid()
        wanted = None if lanes is None else set(lane_names(lanes))
        span = timedelta(microseconds=round(ttl * 1_000_000))

        async def body(conn: _Conn) -> Lease | None:
            peek = await conn.fetchrow(self._sql(_SELECT_LEASE), job_id, _JOB)
            if peek is None:
                return None  # never opened: no lanes either
            # Released (the usual case): a share lock, so workers do not queue on each
            # other. Otherwise an update lock: taking a lane releases a lapsed job lease,
            # after the writes still in progress under it.
            mode = " FOR SHARE" if peek[5] else " FOR UPDATE"
            job = await conn.fetchrow(self._sql(_SELECT_LEASE + mode), job_id, _JOB)
            if job is None:
                return None
            now = await conn.fetchval("SELECT clock_timestamp()")
            if not job[5]:
                if mode == " FOR SHARE":
                    return None  # taken meanwhile: look again later
                if job[4] > now and not lease_gone(_lease(job_id, job)):
                    return None  # one runner holds the whole job
            passed: list[str] = []  # lanes this worker cannot run, or live on this host
            known = await conn.fetch(
                self._sql("SELECT lane FROM {s}.leases WHERE job_id=$1 AND lane <> ''"), job_id
            )
            if wanted is not None:
                passed = [r[0] for r in known if r[0] not in wanted]
            while True:
                row = await conn.fetchrow(self._sql(_FREE_LANE), job_id, host, passed)
                if row is None:
                    return None
                lane = row[0]
                holder = Lease(job_id=job_id, owner_id=row[2], host=row[3], pid=row[4],
                               token=row[1], expires_at=row[5], lane=lane)  # fmt: skip
                now = await conn.fetchval("SELECT clock_timestamp()")  # after the lock
                if row[6] or row[5] <= now or lease_gone(holder):
                    break
                passed.append(lane)  # live, its owner runs on this host
            if not job[5]:  # lapsed or gone: its owner can no longer renew it
                await conn.execute(
                    self._sql("UPDATE {s}.leases SET released=true WHERE job_id=$1 AND lane=$2"),
                    job_id,
                    _JOB,
                )
            token = row[1] + 1
            await conn.execute(
                self._sql(
                    "UPDATE {s}.leases SET owner_id=$3, host=$4, pid=$5, token=$6, "
                    "acquired_at=$7, expires_at=$8, released=false "
                    "WHERE job_id=$1 AND lane=$2"
                ),
                job_id, lane, owner_id, host, pid, token, now, now + span,
            )  # fmt: skip
            return Lease(job_id=job_id, owner_id=owner_id, host=host, pid=pid, token=token,
                         expires_at=now + span, lane=lane)  # fmt: skip

        try:
            return await self._write(body)
        except JournalError as error:
            if error.code == LOCKED:  # a stalled session holds the job row: not now
                return None
            raise

    async def stop_lane(self, lease: Lease, reason: str) -> None:
        """Release the lane and keep it from workers (``reason``) until enqueued again."""
        if not lease.lane:
            raise self._error("stop_lane needs a lane lease")

        async def body(conn: _Conn) -> None:
            await self._fence(conn, lease, lease.job_id, lease.lane)
            await conn.execute(
                self._sql(
                    "UPDATE {s}.leases SET stopped=$3, released=true, "
                    "expires_at=clock_timestamp() WHERE job_id=$1 AND lane=$2"
                ),
                lease.job_id,
                lease.lane,
                reason or "stopped",
            )

        await self._write(body)

    async def lanes(self, job_id: str | None = None) -> list[LaneState]:
        """The lanes of one job, or of every enqueued job (oldest job first), by lane."""
        query = (
            "SELECT l.owner_id, l.host, l.pid, l.token, l.expires_at, l.released, l.lane, "
            "l.job_id, l.stopped, (SELECT count(*) FROM {s}.chunks c WHERE c.job_id=l.job_id "
            "AND c.lane=l.lane AND c.status IN ('pending', 'in_flight')), clock_timestamp() "
            "FROM {s}.leases l LEFT JOIN {s}.jobs j ON j.job_id=l.job_id WHERE l.lane <> ''"
        )
        params: list[Any] = []
        if job_id is not None:
            query += " AND l.job_id=$1"
            params.append(job_id)
        query += " ORDER BY j.created_at, l.job_id, l.lane"

        async def body(conn: _Conn) -> list[LaneState]:
            out: list[LaneState] = []
            for row in await conn.fetch(self._sql(query), *params):
                holder = None if row[5] else _lease(row[7], row, lane=row[6])
                live = holder is not None and row[4] > row[10] and not lease_gone(holder)
                state = LaneState(job_id=row[7], lane=row[6], holder=holder, live=live,
                                  stopped=row[8], remaining=int(row[9]))  # fmt: skip
                out.append(state)
            return out

        return await self._read(body, [])

    async def next_chunks(self, lease: Lease, limit: int) -> list[ChunkRecord]:
        """The lane's next ``limit`` pending chunks, in seq order (fenced by the lane lease).

        Claimed FOR UPDATE SKIP LOCKED; a lower pending chunk that was skipped (locked by
        a writer outside the protocol) stops the lane rather than break the order.
        """
        if not lease.lane:
            raise self._error("next_chunks needs a lane lease")

        async def body(conn: _Conn) -> list[ChunkRecord]:
            await self._fence(conn, lease, lease.job_id, lease.lane)
            seqs = [
                r[0]
                for r in await conn.fetch(self._sql(_NEXT_CHUNKS), lease.job_id, lease.lane, limit)
            ]
            first = await conn.fetchval(
                self._sql(
                    "SELECT min(seq) FROM {s}.chunks WHERE job_id=$1 AND lane=$2 "
                    "AND status='pending'"
                ),
                lease.job_id,
                lease.lane,
            )
            if first is not None and (not seqs or first < seqs[0]):
                raise self._error(
                    f"job {lease.job_id!r} lane {lease.lane!r}: chunk {first} is locked by "
                    "another session; stopping the lane rather than send out of order"
                )
            if not seqs:
                return []
            rows = await conn.fetch(
                self._sql(_SELECT_CHUNKS + " AND seq = ANY($2::bigint[]) ORDER BY seq"),
                lease.job_id,
                seqs,
            )
            return [_record(r) for r in rows]

        return await self._write(body)

    async def add_payloads(self, lease: Lease, payloads: Sequence[tuple[int, str, bytes]]) -> None:
        """Store what chunks send, ``(seq, ref, content)``; ``ref`` is the content's SHA-256.

        Contents are kept once per job and ref; rows already there are left alone.
        """
        items = checked_payloads(payloads, self._error)
        if not items:
            return
        contents = {ref: content for _, ref, content in items}

        async def body(conn: _Conn) -> None:
            await self._fence(conn, lease, lease.job_id)
            await conn.execute(
                self._sql(
                    "INSERT INTO {s}.payloads (job_id, ref, content) SELECT $1, r, c "
                    "FROM unnest($2::text[], $3::bytea[]) AS t(r, c) ON CONFLICT DO NOTHING"
                ),
                lease.job_id,
                list(contents),
                list(contents.values()),
            )
            await conn.execute(
                self._sql(
                    "INSERT INTO {s}.chunk_payloads (job_id, seq, ref) SELECT $1, q, r "
                    "FROM unnest($2::bigint[], $3::text[]) AS t(q, r) ON CONFLICT DO NOTHING"
                ),
                lease.job_id,
                [seq for seq, _, _ in items],
                [ref for _, ref, _ in items],
            )

        await self._write(body)

    async def payloads(self, job_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored content of these chunks (checked against its SHA-256)."""
        wanted = sorted(set(seqs))

        async def body(conn: _Conn) -> dict[int, bytes]:
            found: dict[int, bytes] = {}
            for start in range(0, len(wanted), _PAGE_IN):
                rows = await conn.fetch(
                    self._sql(
                        "SELECT c.seq, p.ref, p.content FROM {s}.chunk_payloads c JOIN "
                        "{s}.payloads p ON p.job_id=c.job_id AND p.ref=c.ref "
                        "WHERE c.job_id=$1 AND c.seq = ANY($2::bigint[])"
                    ),
                    job_id,
                    wanted[start : start + _PAGE_IN],
                )
                for seq, ref, content in rows:
                    if hashlib.sha256(content).hexdigest() != ref:
                        raise _DamagedRow(
                            f"the payload of chunk {seq} of job {job_id!r} is damaged"
                        )
                    found[seq] = bytes(content)
            return found

        return await self._read(body, {})

    async def drop_payloads(self, lease: Lease) -> int:
        """Forget the content of the lane's SENT and FAILED chunks; how many chunks lost it."""
        if not lease.lane:
            raise self._error("drop_payloads needs a lane lease")

        async def body(conn: _Conn) -> int:
            await self._fence(conn, lease, lease.job_id, lease.lane)
            status = await conn.execute(
                self._sql(
                    "DELETE FROM {s}.chunk_payloads cp USING {s}.chunks c WHERE "
                    "cp.job_id=$1 AND c.job_id=$1 AND c.seq=cp.seq AND c.lane=$2 "
                    "AND c.status IN ('sent', 'failed')"
                ),
                lease.job_id,
                lease.lane,
            )
            await conn.execute(
                self._sql(
                    "DELETE FROM {s}.payloads p WHERE p.job_id=$1 AND NOT EXISTS (SELECT 1 "
                    "FROM {s}.chunk_payloads c WHERE c.job_id=p.job_id AND c.ref=p.ref)"
                ),
                lease.job_id,
            )
            return int(status.rsplit(" ", 1)[-1])

        return await self._write(body)

    # -- delivery evidence (observations: unfenced) ---------------------------------------

    async def put_evidence(self, rows: Sequence[RecipientEvidence]) -> int:
        """Upsert each recipient's latest evidence (never to a lower rank); rows written."""
        items = [_evidence_args(r) for r in rows]
        if not items:
            return 0

        async def body(conn: _Conn) -> int:
            written = 0
            query = self._sql(_UPSERT_EVIDENCE)
            for args in items:
                status = await conn.execute(query, *args)
                written += int(status.rsplit(" ", 1)[-1])
            return written

        return await self._write(body)

    async def evidence(
        self, job_id: str, *, after_seq: int = -1, limit: int | None = None
    ) -> list[RecipientEvidence]:
        """The evidence rows of the next ``limit`` chunks after ``after_seq``."""
        query = _SELECT_EVIDENCE + " WHERE job_id=$1 AND seq>$2"
        params: list[Any] = [job_id, after_seq]
        if limit is not None:
            query += (
                " AND seq IN (SELECT DISTINCT seq FROM {s}.recipient_evidence WHERE job_id=$1 "
                "AND seq>$2 ORDER BY seq LIMIT $3)"
            )
            params.append(limit)
        query += " ORDER BY seq, recipient"

        async def body(conn: _Conn) -> list[RecipientEvidence]:
            return [_evidence_record(r) for r in await conn.fetch(self._sql(query), *params)]

        return await self._read(body, [])

    async def archive_receipts(self, rows: Sequence[ArchivedReceipt]) -> int:
        """Record receipts saved to the evidence directory; how many were new."""
        items = [
            (r.job_id, r.seq, r.provider_id, r.digest, r.kind, r.received_at, r.file) for r in rows
        ]
        if not items:
            return 0

        async def body(conn: _Conn) -> int:
            added = 0
            query = self._sql(
                "INSERT INTO {s}.receipt_archive (job_id, seq, provider_id, digest, kind, "
                "received_at, file, archived_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                "clock_timestamp()) ON CONFLICT (job_id, seq, digest) DO NOTHING"
            )
            for args in items:
                status = await conn.execute(query, *args)
                added += int(status.rsplit(" ", 1)[-1])
            return added

        return await self._write(body)

    async def archived_receipts(self, job_id: str, seq: int) -> list[ArchivedReceipt]:
        """The receipts archived for one chunk, by time then digest."""

        async def body(conn: _Conn) -> list[ArchivedReceipt]:
            rows = await conn.fetch(
                self._sql(
                    "SELECT job_id, seq, provider_id, digest, kind, received_at, file, "
                    "archived_at FROM {s}.receipt_archive WHERE job_id=$1 AND seq=$2 "
                    "ORDER BY received_at, digest"
                ),
                job_id,
                seq,
            )
            return [
                ArchivedReceipt(
                    job_id=r[0],
                    seq=r[1],
                    provider_id=r[2],
                    digest=r[3],
                    kind=r[4],
                    received_at=r[5],
                    file=r[6],
                    archived_at=r[7],
                )
                for r in rows
            ]

        return await self._read(body, [])

    # -- reads ------------------------------------------------------------------------------

    async def get(self, job_id: str, seq: int) -> ChunkRecord | None:
        """One chunk, or None."""

        async def body(conn: _Conn) -> ChunkRecord | None:
            row = await conn.fetchrow(
                self._sql(_SELECT_CHUNKS + " AND seq=$2"),
                job_id,
                seq,
            )
            return _record(row) if row else None

        return await self._read(body, None)

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
        query = _SELECT_CHUNKS + " AND seq>$2"
        params: list[Any] = [job_id, after_seq]
        if with_evidence:
            query += " AND evidence IS NOT NULL"
        if statuses is not None:
            params.append([s.value for s in statuses])
            query += f" AND status = ANY(${len(params)}::text[])"
        query += " ORDER BY seq"
        if limit is not None:
            params.append(limit)
            query += f" LIMIT ${len(params)}"

        async def body(conn: _Conn) -> list[ChunkRecord]:
            return [_record(r) for r in await conn.fetch(self._sql(query), *params)]

        return await self._read(body, [])

    async def digests(self, job_id: str, low: int, high: int) -> dict[int, ChunkRecord]:
        """Chunks with ``low <= seq <= high`` by seq (to verify a re-run's input)."""

        async def body(conn: _Conn) -> dict[int, ChunkRecord]:
            rows = await conn.fetch(
                self._sql(_SELECT_CHUNKS + " AND seq BETWEEN $2 AND $3 ORDER BY seq"),
                job_id,
                low,
                high,
            )
            return {r[1]: _record(r) for r in rows}

        return await self._read(body, {})

    async def max_seq(self, job_id: str) -> int:
        """The highest journaled seq, -1 when none."""

        async def body(conn: _Conn) -> int:
            value = await conn.fetchval(
                self._sql("SELECT max(seq) FROM {s}.chunks WHERE job_id=$1"), job_id
            )
            return -1 if value is None else int(value)

        return await self._read(body, -1)

    async def claimed(self, provider: str, candidates: Sequence[str]) -> set[str]:
        """Which of ``candidates`` a chunk of ANY job already claimed (its own ids included)."""
        wanted = list(dict.fromkeys(candidates))

        async def body(conn: _Conn) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), _PAGE_IN):
                rows = await conn.fetch(
                    self._sql(
                        "SELECT provider_id FROM {s}.claims WHERE provider=$1 "
                        "AND provider_id = ANY($2::text[])"
                    ),
                    provider,
                    wanted[start : start + _PAGE_IN],
                )
                found.update(r[0] for r in rows)
            return found

        return await self._read(body, set())

    async def next_in_flight_at(self, provider: str, after: datetime) -> datetime | None:
        """The first ``in_flight_at`` of a ``provider`` chunk (any job) strictly after ``after``."""

        async def body(conn: _Conn) -> datetime | None:
            value: datetime | None = await conn.fetchval(
                self._sql(
                    "SELECT min(in_flight_at) FROM {s}.chunks WHERE provider=$1 "
                    "AND in_flight_at > $2"
                ),
                provider,
                _aware(after),
            )
            return value

        return await self._read(body, None)

    async def counts(self, job_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """Chunks and recipients per status."""

        async def body(conn: _Conn) -> tuple[dict[str, int], dict[str, int]]:
            chunks: dict[str, int] = {}
            recipients: dict[str, int] = {}
            rows = await conn.fetch(
                self._sql(
                    "SELECT status, count(*), coalesce(sum(cardinality(recipients)), 0) "
                    "FROM {s}.chunks WHERE job_id=$1 GROUP BY status"
                ),
                job_id,
            )
            for status, n, r in rows:
                if status not in _STATUSES:
                    raise _DamagedRow(f"job {job_id!r} has chunks in an unknown state {status!r}")
                chunks[status] = int(n)
                recipients[status] = int(r)
            return chunks, recipients

        return await self._read(body, ({}, {}))

    async def aclose(self) -> None:
        """Close the pool (every commit is already durable); the next call opens a new one."""
        pool, self._pool, self._pool_lock = self._pool, None, None
        self._checked = self._primary = False
        if pool is None:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await pool.close()
        except TimeoutError:
            pool.terminate()
        except (*self._errors(),) as error:
            pool.terminate()
            raise self._translate(error) from None


def _left(row: Any) -> float:
    """Seconds left on a lease row (negative when lapsed), on the server's clock."""
    return float((row[4] - row[6]).total_seconds())


def _lease(job_id: str, row: Any, *, lane: str = "") -> Lease:
    return Lease(
        job_id=job_id,
        owner_id=row[0],
        host=row[1],
        pid=row[2],
        token=row[3],
        expires_at=row[4],
        lane=lane,
    )


def _aware(when: datetime | None) -> datetime | None:
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when


def _texts(value: Any) -> tuple[str, ...]:
    items = tuple(value)
    if not all(type(i) is str for i in items):
        raise ValueError("holds an element that is not text")
    return items


def _record(row: Any) -> ChunkRecord:
    """A chunk row as a `ChunkRecord`; a damaged row raises `_DamagedRow`."""
    try:
        (job_id, seq, provider, recipients, digest, subject_digest, key, status, provider_ids,
         error, failed, attempts, in_flight_at, updated_at, evidence) = row  # fmt: skip
        failures = json.loads(failed) if failed != "{}" else {}
        if not isinstance(failures, dict) or not all(
            type(k) is str and type(v) is str for k, v in failures.items()
        ):
            raise ValueError("failed_recipients is not an object of texts")
        return ChunkRecord(
            job_id=job_id,
            seq=seq,
            provider=provider,
            recipients=_texts(recipients),
            digest=digest,
            subject_digest=subject_digest,
            key=key,
            status=_STATUSES[status],
            provider_ids=_texts(provider_ids),
            error=error,
            failed_recipients=failures,
            attempts=attempts,
            in_flight_at=in_flight_at,
            updated_at=updated_at,
            evidence=evidence_from_json(evidence),
        )
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as error:
        where = f"chunk {row[1]!r} of job {row[0]!r}" if len(row) > 1 else "a chunk row"
        raise _DamagedRow(f"{where} cannot be read ({type(error).__name__}: {error})") from error


_EVIDENCE_COLUMNS = (
    "job_id, seq, recipient, provider, provider_id, recipient_ref, outcome, final, rank, "
    "source, strength, rule, kind, raw_kind, accepted_at, delivered_at, read_at, failed_at, "
    "warned_at, decided_at, receipts, receipts_digest, certificates, error, updated_at, "
    "cleaned_at"
)
_SELECT_EVIDENCE = (
    "SELECT job_id, seq, recipient, provider, provider_id, recipient_ref, outcome, final, "
    "rank, source, strength, rule, kind, raw_kind, accepted_at, delivered_at, read_at, "
    "failed_at, warned_at, decided_at, receipts, receipts_digest, certificates::text, error, "
    "updated_at, cleaned_at FROM {s}.recipient_evidence"
)
# A stored row is replaced only by one of the same or a higher rank; certificates and the
# cleanup time are kept when the new row has none. updated_at is the server's clock.
_UPSERT_EVIDENCE = (
    "INSERT INTO {s}.recipient_evidence AS t (" + _EVIDENCE_COLUMNS + ") VALUES ($1, $2, $3, "  # noqa: S608
    "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, "
    "$23::jsonb, $24, clock_timestamp(), $25) ON CONFLICT (job_id, seq, recipient) DO UPDATE "
    "SET provider=excluded.provider, provider_id=excluded.provider_id, "
    "recipient_ref=excluded.recipient_ref, outcome=excluded.outcome, final=excluded.final, "
    "rank=excluded.rank, source=excluded.source, strength=excluded.strength, "
    "rule=excluded.rule, kind=excluded.kind, raw_kind=excluded.raw_kind, "
    "accepted_at=excluded.accepted_at, delivered_at=excluded.delivered_at, "
    "read_at=excluded.read_at, failed_at=excluded.failed_at, warned_at=excluded.warned_at, "
    "decided_at=excluded.decided_at, receipts=excluded.receipts, "
    "receipts_digest=excluded.receipts_digest, certificates=CASE WHEN "
    "excluded.certificates = '[]'::jsonb THEN t.certificates ELSE excluded.certificates END, "
    "error=excluded.error, updated_at=excluded.updated_at, "
    "cleaned_at=coalesce(t.cleaned_at, excluded.cleaned_at) WHERE excluded.rank >= t.rank"
)


def _evidence_args(r: RecipientEvidence) -> tuple[Any, ...]:
    # timestamptz needs a zone: a naive time (LegallyMail's) is stored as UTC, as in SQLite.
    return (
        r.job_id, r.seq, r.recipient, r.provider, r.provider_id, r.recipient_ref, r.outcome,
        r.final, r.rank, r.source, r.strength, r.rule, r.kind, r.raw_kind,
        _aware(r.accepted_at), _aware(r.delivered_at), _aware(r.read_at),
        _aware(r.failed_at), _aware(r.warned_at), _aware(r.decided_at), r.receipts,
        r.receipts_digest, certificates_to_json(r.certificates), r.error,
        _aware(r.cleaned_at),
    )  # fmt: skip


def _evidence_record(row: Any) -> RecipientEvidence:
    try:
        return RecipientEvidence(
            job_id=row[0], seq=row[1], recipient=row[2], provider=row[3], provider_id=row[4],
            recipient_ref=row[5], outcome=row[6], final=bool(row[7]), rank=row[8],
            source=row[9], strength=row[10], rule=row[11], kind=row[12], raw_kind=row[13],
            accepted_at=row[14], delivered_at=row[15], read_at=row[16], failed_at=row[17],
            warned_at=row[18], decided_at=row[19], receipts=row[20], receipts_digest=row[21],
            certificates=certificates_from_json(row[22]), error=row[23], updated_at=row[24],
            cleaned_at=row[25],
        )  # fmt: skip
    except (KeyError, ValueError, TypeError, OverflowError) as error:
        raise _DamagedRow(
            f"the evidence of {row[2]!r} in chunk {row[1]!r} of job {row[0]!r} cannot be "
            f"read ({type(error).__name__}: {error})"
        ) from error


if TYPE_CHECKING:  # mypy proves PostgresJournal implements every method of the Journal seam
    _conforms: Journal = PostgresJournal("postgresql://localhost/db")
