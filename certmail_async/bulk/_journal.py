"""The write-ahead journal of bulk jobs.

Safety rests on two commits around every send: the chunk is committed ``in_flight``
BEFORE its request leaves, and ``sent`` (with the provider ids) or ``failed`` /
``unknown`` right after. A crash between them leaves an ``in_flight`` row, which the next
run reconciles against the provider before anything else happens.

Journals store recipients, digests, provider ids and reconciliation evidence; never a
credential, never a body (only its digest).

[Journal][certmail_async.Journal] is the typed interface the dispatcher needs, so a server database
can
replace SQLite (``_journal_sqlite.py``) for many workers; the helpers below are shared by
every backend (times, evidence encoding, "is this owner gone?").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .._exceptions import JobLockedError, JournalError, ValidationError
from ._delivery import ArchivedReceipt, RecipientEvidence
from ._models import ChunkRecord, ChunkStatus, Evidence, LaneState, Lease

if TYPE_CHECKING:
    from ._journal_sqlite import SQLiteJournal as SQLiteJournal

__all__ = [  # ChunkRecord and SQLiteJournal: re-exported for older imports
    "ChunkRecord",
    "Journal",
    "checked_payloads",
    "SQLiteJournal",
    "evidence_from_json",
    "evidence_to_json",
    "lane_names",
    "lease_gone",
    "locked_error",
    "micros",
    "from_micros",
    "now_micros",
    "pid_alive",
    "this_host",
    "utc",
]


class Journal(Protocol):
    """The typed seam between the dispatcher and its storage (SQLite, PostgreSQL...).

    Every backend passes the same conformance tests (``tests/bulk/test_journal_*``).

    Ownership contract: a job is run by one owner at a time. `acquire` takes the
    job's lease atomically (raising [JobLockedError][certmail_async.JobLockedError] when a live
    owner holds it), or takes over a lease whose owner is gone (its pid is dead on this
    host, or its heartbeat expired) with a NEW, larger fencing token. Every transition
    (``open_job``, ``add_pending``, ``add_final``, ``mark_in_flight``, ``mark_done``) takes the
    [Lease][certmail_async.bulk.Lease] and checks its token in the same transaction as the write: a
    stale
    owner gets ``JobLockedError`` and writes nothing (so its ``mark_in_flight``, which
    runs right before a send leaves, stops the send). A lease that lapsed is refused too
    until it is renewed; `renew` succeeds as long as nobody took it over. A released
    lease keeps its token, so tokens only grow. Times are on the journal's clock.

    Integrity contract: opening a journal checks it (quick integrity check, schema, every
    table present); a corrupt, unreadable or read-only journal, or a job whose chunk rows
    are missing, raises [JournalError][certmail_async.JournalError] naming the journal, before
    any request. A damaged job is never treated as new. Backends raise only the SDK's
    errors (JournalError, JobLockedError, JobMismatchError, ValidationError for a bad
    ``ttl``), never their driver's.

    Claims: every provider id recorded with a chunk is claimed for it across the whole
    journal (all jobs), in the transaction that records it.

    Reads come in pages (``after_seq`` / ``limit``) so status and export stay flat in
    memory for millions of chunks. Reads never create a store (a missing SQLite file reads
    as empty).

    Lanes contract (workers): a job opened to workers (`add_lanes`, under the job
    lease) has one lease per lane (lane = provider). `acquire_lane` takes a lane
    that has chunks pending or in flight, is not stopped, and is free (released, lapsed,
    or its owner's pid is gone on this host) with a NEW, larger token, without waiting for
    lanes other workers hold; it returns None when there is none, or while the job's own
    lease is live. The job lease and the lane leases exclude each other: `acquire`
    and `renew` of the job lease raise JobLockedError while a lane lease is live,
    and a lane lease is neither taken nor renewed while the job lease is live. A lane
    lease (``lease.lane``) is renewed and released like the job's, and fences the chunk
    transitions of ITS lane (``mark_in_flight``, ``mark_done``) exactly as the job lease
    fences every transition: checked in the write's transaction, a stale or lapsed lane
    owner writes nothing. A lane lease cannot write job-level rows (``open_job``,
    ``add_pending``, ``add_final``, ``add_lanes``, ``add_payloads``) nor another lane's
    chunks. `next_chunks` gives the lane owner its pending chunks in seq order.
    Payloads (what a chunk sends: subject, body, attachments) are stored for enqueued
    jobs only, content-addressed per job, and dropped once the lane no longer needs them.

    Examples:
        Code written against the protocol works with either backend:

        >>> import asyncio, os, tempfile
        >>> from certmail_async import Journal, SQLiteJournal
        >>> async def owners(journal: Journal, job_id: str) -> list[int]:
        ...     first = await journal.acquire(job_id, owner_id="w1", ttl=30)
        ...     await journal.release(first)
        ...     second = await journal.acquire(job_id, owner_id="w2", ttl=30)
        ...     await journal.release(second)
        ...     return [first.token, second.token]  # fencing tokens only grow
        >>> async def main(path: str) -> list[int]:
        ...     journal = SQLiteJournal(path)
        ...     try:
        ...         return await owners(journal, "avvisi")
        ...     finally:
        ...         await journal.aclose()
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(os.path.join(folder, "jobs.sqlite")))
        [1, 2]
    """

    #: A name for messages: the file path, or the database URL without its password.
    display_name: str

    # -- ownership --------------------------------------------------------------------

    async def acquire(self, job_id: str, *, owner_id: str, ttl: float) -> Lease:
        """Take the job's lease for ``ttl`` seconds (or take over a dead owner's).

        The same ``owner_id`` in the same process gets its live lease back (same token).
        """
        ...

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (the heartbeat); JobLockedError when it was taken over."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the lease up (no-op when it was taken over)."""
        ...

    async def holder(self, job_id: str) -> Lease | None:
        """The current lease of a job, live or lapsed; None when never taken or released."""
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
        """Durably mark a chunk in flight, stamping ``in_flight_at``; BEFORE it leaves.

        A chunk the journal holds as SENT is refused (JournalError).
        """
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

        Every id in ``provider_ids`` (whatever the status) is claimed for this chunk in the
        same transaction, for the whole journal: an id already claimed by another chunk of
        any job raises JournalError with ``code == "claimed"`` and nothing is written (two
        owners of two jobs reconciling one provider record at once: one of them loses).
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
        with_evidence: bool = False,
    ) -> list[ChunkRecord]:
        """One page of a job's chunks with ``seq > after_seq``, in seq order.

        ``statuses`` keeps chunks of those statuses; ``with_evidence`` only the chunks
        that carry reconciliation [Evidence][certmail_async.bulk.Evidence]. ``limit=None`` means no
        limit (for
        small jobs and tests; status and export always page).
        """
        ...

    async def digests(self, job_id: str, low: int, high: int) -> dict[int, ChunkRecord]:
        """Chunks with ``low <= seq <= high`` by seq (to verify a re-run's input)."""
        ...

    async def max_seq(self, job_id: str) -> int:
        """The highest journaled seq (-1 for none)."""
        ...

    async def claimed(self, provider: str, candidates: Sequence[str]) -> set[str]:
        """Which of ``candidates`` some chunk of ANY job in this journal already claimed.

        A chunk's own ids are included: subtract ``record.provider_ids`` when reconciling it.
        """
        ...

    async def next_in_flight_at(self, provider: str, after: datetime) -> datetime | None:
        """The first ``in_flight_at`` of a chunk of ``provider`` (any job) after ``after``.

        Bounds reconciliation: a record created after the lane's next send is not ours.
        """
        ...

    async def counts(self, job_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """Chunks and recipients per status."""
        ...

    # -- lanes (workers) ----------------------------------------------------------------

    async def add_lanes(self, lease: Lease, lanes: Sequence[str]) -> None:
        """Open the job to workers: a free lease row per lane; stopped lanes are reopened."""
        ...

    async def acquire_lane(
        self, job_id: str, *, owner_id: str, ttl: float, lanes: Sequence[str] | None = None
    ) -> Lease | None:
        """Take a free lane with work (of ``lanes``, or any), token + 1; None when none is."""
        ...

    async def stop_lane(self, lease: Lease, reason: str) -> None:
        """Release a lane and keep it from workers until the job is enqueued again."""
        ...

    async def lanes(self, job_id: str | None = None) -> list[LaneState]:
        """The lanes of one job (or of every enqueued job), by job then lane."""
        ...

    async def next_chunks(self, lease: Lease, limit: int) -> list[ChunkRecord]:
        """The lane's next pending chunks in seq order (fenced by the lane lease)."""
        ...

    async def add_payloads(self, lease: Lease, payloads: Sequence[tuple[int, str, bytes]]) -> None:
        """Store what chunks send: ``(seq, ref, content)`` with ``ref`` the content's SHA-256."""
        ...

    async def payloads(self, job_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored content of these chunks (a chunk without one is absent)."""
        ...

    async def drop_payloads(self, lease: Lease) -> int:
        """Forget the content of the lane's chunks no worker needs any more; how many."""
        ...

    # -- delivery evidence (observations, not transitions: unfenced) -----------------------

    async def put_evidence(self, rows: Sequence[RecipientEvidence]) -> int:
        """Store each recipient's latest delivery evidence; how many rows were written.

        A row replaces the stored one of its (job, seq, recipient) only when its ``rank`` is
        the same or higher (evidence never goes back); an empty ``certificates`` keeps the
        stored ones, and ``cleaned_at`` once set stays. Not fenced by a lease: refreshing
        evidence changes no chunk and may run while the job is still sending.
        """
        ...

    async def evidence(
        self, job_id: str, *, after_seq: int = -1, limit: int | None = None
    ) -> list[RecipientEvidence]:
        """The evidence rows of the next ``limit`` chunks with ``seq > after_seq``.

        Ordered by seq, then recipient; every row of a chunk is on the same page. A
        journal whose schema predates evidence (read-only) reads as having none.
        """
        ...

    async def archive_receipts(self, rows: Sequence[ArchivedReceipt]) -> int:
        """Record receipts saved to the evidence directory; how many were new."""
        ...

    async def archived_receipts(self, job_id: str, seq: int) -> list[ArchivedReceipt]:
        """The receipts archived for one chunk, by time then digest."""
        ...

    async def aclose(self) -> None:
        """Release the journal."""
        ...


def __getattr__(name: str) -> object:
    # ``from ._journal import SQLiteJournal`` keeps working (it lives in _journal_sqlite).
    if name == "SQLiteJournal":
        from ._journal_sqlite import SQLiteJournal

        return SQLiteJournal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- helpers shared by every backend -------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utc(seconds: float) -> datetime:
    """An aware UTC datetime from epoch seconds.

    Examples:
        >>> utc(0).isoformat()
        '1970-01-01T00:00:00+00:00'
    """
    return datetime.fromtimestamp(seconds, UTC)


def micros(when: datetime) -> int:
    """Exact epoch microseconds of ``when`` (naive is UTC): how journals store times.

    Integers, not float seconds, so a time read back and compared again is exactly equal.

    Examples:
        >>> micros(utc(1.5))
        1500000
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The aware UTC datetime of epoch microseconds (the inverse of `micros`).

    Examples:
        >>> from_micros(1_500_000) == utc(1.5)
        True
    """
    return _EPOCH + timedelta(microseconds=value)


def now_micros() -> int:
    """The journal clock of an in-process journal: this host's time, epoch microseconds.

    Examples:
        >>> now_micros() > micros(utc(1_700_000_000))
        True
    """
    return time.time_ns() // 1000


def evidence_to_json(evidence: Evidence | None) -> str | None:
    """The JSON a journal stores for [Evidence][certmail_async.bulk.Evidence] (None stays None).

    Examples:
        >>> evidence_to_json(Evidence(record_id="A1", matched=("subject",)))
        '{"record_id": "A1", "matched": ["subject"], "created_at": null, "note": null}'
    """
    if evidence is None:
        return None
    return json.dumps(
        {
            "record_id": evidence.record_id,
            "matched": list(evidence.matched),
            "created_at": evidence.created_at.isoformat() if evidence.created_at else None,
            "note": evidence.note,
        }
    )


def evidence_from_json(text: str | None) -> Evidence | None:
    """The [Evidence][certmail_async.bulk.Evidence] back from `evidence_to_json`.

    Examples:
        >>> evidence_from_json('{"record_id": "A1", "matched": ["subject"]}').matched
        ('subject',)
    """
    if not text:
        return None
    data = json.loads(text)
    created = data.get("created_at")
    return Evidence(
        record_id=str(data["record_id"]),
        matched=tuple(data.get("matched") or ()),
        created_at=datetime.fromisoformat(created) if created else None,
        note=data.get("note"),
    )


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as gone).

    ``PermissionError`` means the process exists under another user: alive.

    Examples:
        >>> pid_alive(os.getpid())
        True
    """
    if pid <= 0:
        return True  # not a real pid: never assume its owner died
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    try:  # a killed but not yet reaped child still answers os.kill
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


_INIT_PID_NAMESPACE = 0xEFFFFFFC  # PROC_PID_INIT_INO: the machine's own pid namespace


@functools.cache
def this_host() -> str:
    """This host as leases name it: the hostname, plus the pid namespace inside a container.

    Two containers that share a hostname (``--network host``) and a journal must not judge
    each other's pids: their pid namespaces tell them apart.

    Examples:
        >>> this_host().startswith(socket.gethostname())
        True
    """
    name = socket.gethostname()
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return name if namespace == _INIT_PID_NAMESPACE else f"{name}/pidns-{namespace}"


def lease_gone(lease: Lease) -> bool:
    """True when the lease's owner surely died: it ran on this host and its pid is gone.

    On another host nothing is known: the lease lapses with its heartbeat.

    Examples:
        >>> lease_gone(Lease(job_id="j", owner_id="o", host=this_host(),
        ...                  pid=os.getpid(), token=1, expires_at=utc(0)))
        False
    """
    return lease.host == this_host() and not pid_alive(lease.pid)


def locked_error(
    current: Lease, expires_in: float, *, stale: Lease | None = None
) -> JobLockedError:
    """The [JobLockedError][certmail_async.JobLockedError] for a job held by ``current``.

    With ``stale``, the message says that lease was taken over.

    Examples:
        >>> err = locked_error(Lease(job_id="j", owner_id="w1", host="h", pid=7, token=3,
        ...                          expires_at=utc(0)), 4.0)
        >>> err.owner, err.expires_in
        ('w1@h pid 7', 4.0)
    """
    owner = f"{current.owner_id}@{current.host} pid {current.pid}"
    expires_in = max(0.0, expires_in)
    where = f"job {current.job_id!r}" + (f" lane {current.lane!r}" if current.lane else "")
    if stale is not None:
        message = (
            f"{where}: the lease of {stale.owner_id} (token {stale.token}) was "
            f"taken over by {current.owner_id} on {current.host}, pid {current.pid} "
            f"(token {current.token}); nothing was written"
        )
    else:
        message = (
            f"{where} is run by {current.owner_id} on {current.host}, "
            f"pid {current.pid} (token {current.token}); its lease expires in "
            f"{expires_in:.1f} s unless renewed"
        )
    return JobLockedError(message, owner=owner, expires_in=expires_in)


def lane_names(lanes: Sequence[str]) -> list[str]:
    """Lane names checked (non-empty text), deduplicated and sorted.

    Examples:
        >>> lane_names(["pecmassiva", "legallymail", "pecmassiva"])
        ['legallymail', 'pecmassiva']
    """
    if isinstance(lanes, str) or not all(isinstance(x, str) and x for x in lanes):
        raise ValidationError("must be a list of lane names (non-empty text)", field="lanes")
    return sorted(set(lanes))


def checked_payloads(
    payloads: Sequence[tuple[int, str, bytes]], error: Callable[[str], JournalError]
) -> list[tuple[int, str, bytes]]:
    """Payload rows whose ref is the SHA-256 of their content (anything else: ``error``).

    Examples:
        >>> import hashlib
        >>> ref = hashlib.sha256(b"x").hexdigest()
        >>> checked_payloads([(0, ref, b"x")], JournalError)[0][0]
        0
    """
    items = [(int(seq), ref, bytes(content)) for seq, ref, content in payloads]
    for seq, ref, content in items:
        if hashlib.sha256(content).hexdigest() != ref:
            raise error(f"the payload of chunk {seq} does not match its reference")
    return items
