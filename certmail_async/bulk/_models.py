"""Bulk job models: what goes in (OutgoingMessage), what comes out (ChunkOutcome, Progress)."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal

import attrs

from .._exceptions import ValidationError
from .._models import Attachment
from .._validation import (
    check_attachments,
    check_choice,
    check_email,
    check_header_text,
    check_optional,
    check_sequence_of,
    check_str,
)

__all__ = [
    "Chunk",
    "ChunkOutcome",
    "ChunkRecord",
    "ChunkStatus",
    "Estimate",
    "Evidence",
    "JobStatus",
    "LaneState",
    "Lease",
    "OutgoingMessage",
    "Progress",
    "RecipientRecord",
    "RejectedMessage",
    "SendReport",
    "check_outgoing_message",
]

ProviderName = Literal["pecmassiva", "legallymail"]


PROVIDERS: tuple[ProviderName, ...] = ("pecmassiva", "legallymail")


def _as_tuple(value: object) -> object:
    # Lists and other iterables become tuples; a str, bytes, mapping or non-iterable is left
    # as is for the check to refuse (a str is not a list of recipients).
    if isinstance(value, tuple | str | bytes | bytearray | Mapping) or not isinstance(
        value, Iterable
    ):
        return value
    return tuple(value)


@attrs.frozen(kw_only=True)
class OutgoingMessage:
    """One message of a bulk job: the same subject and body to one or more recipients.

    The dispatcher splits ``recipients`` into chunks no larger than the provider allows;
    each chunk is one send. The constructor checks types (a
    [ValidationError][certmail_async.ValidationError]
    naming the field): ``provider`` is "pecmassiva" or "legallymail", ``recipients`` a
    non-empty list of strings (not one str), ``subject`` text without control characters,
    ``body`` a str, ``attachments`` a list of [Attachment][certmail_async.Attachment]; addresses
    themselves are
    checked per recipient by the dispatcher, so one bad address fails one item.

    ``key`` is yours (an invoice number...) and comes back on every outcome; ``sender`` is
    PEC Massiva's (defaults to the mailbox username).

    Examples:
        >>> OutgoingMessage(provider="legallymail", recipients=["a@example.com"],
        ...                 subject="Avviso", body="<p>...</p>", key="INV-1").provider
        'legallymail'
    """

    provider: ProviderName
    recipients: tuple[str, ...] = attrs.field(converter=_as_tuple)
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_as_tuple)
    key: str | None = None
    sender: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_fields(self)


def _check_fields(message: OutgoingMessage) -> None:
    check_choice(message.provider, PROVIDERS, field="provider")
    recipients = message.recipients
    if type(recipients) is not tuple:
        raise ValidationError(
            f"expected a list of addresses, got {type(recipients).__name__}", field="recipients"
        )
    check_sequence_of(recipients, str, field="recipients", min_len=1)
    check_header_text(message.subject, field="subject")
    check_str(message.body, field="body", allow_empty=True)
    if type(message.attachments) is not tuple:
        raise ValidationError(
            f"expected a list of Attachment, got {type(message.attachments).__name__}",
            field="attachments",
        )
    check_attachments(message.attachments, field="attachments")
    # Keys end up in journals, exports and CLI output: one line each.
    check_optional(message.key, check_header_text, field="key", allow_empty=True)
    # PEC Massiva's sender is the mailbox: an address (the send checks it is the mailbox).
    check_optional(message.sender, check_email, field="sender", ascii=True)


@attrs.frozen(kw_only=True)
class RejectedMessage:
    """An input row a reader could not turn into an `OutgoingMessage`.

    Readers (the CLI's CSV reader) yield it instead of raising, so the bad row becomes a
    FAILED outcome naming the field, journaled like any other, and the job goes on.
    ``provider``, ``recipients`` and ``key`` are kept as read, for the audit.
    """

    provider: str
    recipients: tuple[str, ...]
    key: str | None
    error: ValidationError


def check_outgoing_message(value: object) -> OutgoingMessage:
    """Re-check a message read from user input; raise ValidationError naming the field.

    Catches what the constructor cannot: a dict or another object given as a message, and
    a message whose fields were forced with ``object.__setattr__``. The bulk dispatcher
    calls it on every message it reads (a bad one becomes a FAILED outcome).

    Examples:
        >>> check_outgoing_message({"provider": "legallymail"})
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: message: expected an OutgoingMessage, got dict
    """
    if isinstance(value, RejectedMessage):
        raise value.error
    if not isinstance(value, OutgoingMessage):
        raise ValidationError(
            f"expected an OutgoingMessage, got {type(value).__name__}", field="message"
        )
    _check_fields(value)
    return value


class ChunkStatus(enum.Enum):
    """Where a chunk (one send) stands.

    ``PENDING`` and ``IN_FLIGHT`` live only in the journal; outcomes are final or UNKNOWN.
    The values are the journal's (and ``certmail status``'s) words.

    Examples:
        >>> from certmail_async import ChunkStatus
        >>> ChunkStatus("unknown") is ChunkStatus.UNKNOWN
        True
        >>> [s.value for s in ChunkStatus if s.name not in ("PENDING", "IN_FLIGHT")]
        ['sent', 'failed', 'unknown', 'skipped']
    """

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"  # the provider accepted it (provider_ids)
    FAILED = "failed"  # refused or invalid: it was NOT sent (error says why)
    UNKNOWN = "unknown"  # may have been sent: reconcile, then decide (retry_unknown=True)
    SKIPPED = "skipped"  # not sent in this run: already final in an earlier run


@attrs.frozen(kw_only=True)
class ChunkOutcome:
    """The result of one chunk: one send to up to a provider's per-send recipient limit.

    Examples:
        >>> import asyncio, os, tempfile
        >>> from certmail_async import BulkDispatcher, ChunkStatus, OutgoingMessage
        >>> from certmail_async.testing import run_fake
        >>> message = OutgoingMessage(
        ...     provider="pecmassiva", subject="Avviso", body="Testo", key="INV-1",
        ...     recipients=["anna@pec.example.it", "luca@pec.example.it"])
        >>> async def main(journal: str) -> list[tuple[int, str, str | None]]:
        ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
        ...         async with BulkDispatcher(clients=[client],
        ...                                   journal=journal) as dispatcher:
        ...             return [(o.seq, o.status.value, o.key)
        ...                     async for o in dispatcher.run("avvisi", [message])]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(os.path.join(folder, "jobs.sqlite")))
        [(0, 'sent', 'INV-1')]
    """

    seq: int
    provider: str
    recipients: tuple[str, ...]
    status: ChunkStatus
    provider_ids: tuple[str, ...] = ()
    error: str | None = None
    key: str | None = None
    failed_recipients: Mapping[str, str] = attrs.field(factory=dict)
    previous: ChunkStatus | None = None  # for SKIPPED: the status an earlier run recorded
    evidence: Evidence | None = None  # what reconciliation matched, when it settled the chunk


@attrs.frozen(kw_only=True)
class Progress:
    """Where a run stands; ``eta`` comes from the pacing caps, not from guesses.

    ``BulkDispatcher(..., on_progress=...)`` hands you one as the run goes, and the
    dispatcher's ``progress`` is the latest.

    Examples:
        >>> progress = Progress(done_chunks=3, done_recipients=150, total_chunks=20,
        ...                     total_recipients=1000, counts={"sent": 3},
        ...                     elapsed=3.2, rate=46.9, eta=18.0,
        ...                     lanes={"pecmassiva": "sending"})
        >>> done, total = progress.done_recipients, progress.total_recipients
        >>> f"{done}/{total}, {progress.eta:.0f} s left"
        '150/1000, 18 s left'
    """

    done_chunks: int
    done_recipients: int
    total_chunks: int | None
    total_recipients: int | None
    counts: Mapping[str, int]
    elapsed: float
    rate: float  # recipients per second so far
    eta: float | None  # seconds, from the remaining chunks of each lane and its pace
    #: What needs saying now, e.g. "pecmassiva: provider unreachable, retry in 20 s".
    notice: str | None = None
    #: Each lane's state: "sending", "paused: ...", "stopped: ..." or "done".
    lanes: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def fraction(self) -> float | None:
        """Done / total recipients, when the total is known."""
        if not self.total_recipients:
            return None
        return self.done_recipients / self.total_recipients


@attrs.frozen(kw_only=True)
class Estimate:
    """What a job will take at the documented caps, said up front.

    Examples:
        >>> Estimate(messages=1, recipients=100_000, chunks={"legallymail": 10_000},
        ...          seconds=63_000.0).hours
        17.5
    """

    messages: int
    recipients: int
    chunks: Mapping[str, int]
    seconds: float

    @property
    def hours(self) -> float:
        """The estimate in hours."""
        return round(self.seconds / 3600, 2)


@attrs.frozen(kw_only=True)
class RecipientRecord:
    """One recipient of a job, for audits (``export``).

    ``error`` is the reason when the recipient was not sent (FAILED) or may have been
    (UNKNOWN); ``evidence`` says which provider record reconciliation matched when an
    interrupted chunk was marked SENT after the fact.

    Examples:
        >>> row = RecipientRecord(
        ...     job_id="j", seq=0, provider="pecmassiva", recipient="a@pec.example.it",
        ...     status=ChunkStatus.SENT, provider_ids=("S1",), error=None, key=None,
        ...     updated_at=None,
        ...     evidence=Evidence(record_id="S1", matched=("recipients",)))
        >>> row.evidence.record_id
        'S1'
    """

    job_id: str
    seq: int
    provider: str
    recipient: str
    status: ChunkStatus
    provider_ids: tuple[str, ...]
    error: str | None
    key: str | None
    updated_at: datetime | None
    evidence: Evidence | None = None


@attrs.frozen(kw_only=True)
class JobStatus:
    """Counts per state, and the chunks whose fate needs a decision (UNKNOWN).

    ``unknown`` and ``in_flight`` carry a human reason in ``error``; ``reconciled`` lists
    the chunks marked SENT on evidence after an interruption, each with its
    [Evidence][certmail_async.bulk.Evidence] (record id, fields matched). The three lists hold at
    most
    ``max_listed`` chunks each (a parameter of ``status``; the counts are always complete);
    ``truncated`` says one was cut.

    Examples:
        >>> status = JobStatus(job_id="j", chunks={"sent": 2}, recipients={"sent": 20},
        ...                    unknown=(), in_flight=())
        >>> status.finished
        True
    """

    job_id: str
    chunks: Mapping[str, int]
    recipients: Mapping[str, int]
    unknown: tuple[ChunkOutcome, ...]
    in_flight: tuple[ChunkOutcome, ...]
    created_at: datetime | None = None
    meta: Mapping[str, str] = attrs.field(factory=dict)
    reconciled: tuple[ChunkRecord, ...] = ()
    truncated: bool = False
    #: The job's lanes when it was enqueued for workers: who owns each, what is left.
    lanes: tuple[LaneState, ...] = ()

    @property
    def finished(self) -> bool:
        """No chunk pending, in flight or unknown."""
        return not any(
            self.chunks.get(s.value, 0)
            for s in (ChunkStatus.PENDING, ChunkStatus.IN_FLIGHT, ChunkStatus.UNKNOWN)
        )


@attrs.frozen(kw_only=True)
class Evidence:
    """Why reconciliation marked an in-doubt chunk SENT: the provider record it claimed.

    ``record_id`` is the provider's id (PEC Massiva send code, LegallyMail tracking id);
    ``matched`` names the fields that matched (``recipients``, ``subject``, ``body_digest``,
    ``created_at``, ``tag``); ``created_at`` is the record's time at the provider.
    Stored in the journal and shown by ``status`` and ``export``.

    Examples:
        >>> found = Evidence(record_id="S-0042",
        ...                  matched=("recipients", "subject", "created_at"))
        >>> found.matched
        ('recipients', 'subject', 'created_at')
    """

    record_id: str
    matched: tuple[str, ...]
    created_at: datetime | None = None
    note: str | None = None


@attrs.frozen(kw_only=True)
class Lease:
    """One owner's hold on a job: taken atomically, renewed while running.

    ``token`` is the fencing token: it grows at every takeover, and every journal
    transition checks it, so an owner whose lease was taken over can neither commit nor
    send again. ``expires_at`` is when the lease lapses unless renewed (journal clock).
    ``host`` is the hostname (with the pid namespace inside a container), so a lease whose
    pid died on this host can be taken over at once.

    ``lane`` is ``""`` for the job's lease (one runner owns the whole job) and the lane's
    name (the provider, e.g. ``"pecmassiva"``) for a worker's lease on one lane of an
    enqueued job: such a lease writes only that lane's chunks.

    Examples:
        >>> from datetime import UTC, datetime
        >>> Lease(job_id="avvisi", owner_id="5f1c", host="worker-1", pid=4711, token=3,
        ...       expires_at=datetime(2026, 11, 29, 21, 0, tzinfo=UTC)).token
        3
    """

    job_id: str
    owner_id: str
    host: str
    pid: int
    token: int
    expires_at: datetime
    lane: str = ""


@attrs.frozen(kw_only=True)
class LaneState:
    """One lane of an enqueued job as the journal holds it (for workers and status).

    ``holder`` is the lane's last owner (None when released or never taken) and ``live``
    whether its lease still runs (journal clock); ``stopped`` the reason a worker stopped
    the lane (an account error, an outage, a send it could not settle: no worker takes it
    until the job is enqueued again); ``remaining`` its chunks pending or in flight.

    Examples:
        >>> LaneState(job_id="avvisi", lane="pecmassiva", holder=None, live=False,
        ...           stopped=None, remaining=120).runnable
        True
    """

    job_id: str
    lane: str
    holder: Lease | None
    live: bool
    stopped: str | None
    remaining: int

    @property
    def runnable(self) -> bool:
        """Work is left and no live owner holds the lane, nor did a worker stop it."""
        return self.remaining > 0 and not self.live and self.stopped is None


@attrs.frozen(kw_only=True)
class ChunkRecord:
    """One chunk as the journal keeps it (recipients, digests, outcome; never a body).

    Examples:
        >>> ChunkRecord(job_id="avvisi", seq=0, provider="pecmassiva",
        ...             recipients=("a@pec.example.it",), digest="d",
        ...             subject_digest="s", status=ChunkStatus.PENDING).status.value
        'pending'
    """

    job_id: str
    seq: int
    provider: str
    recipients: tuple[str, ...]
    digest: str
    subject_digest: str
    status: ChunkStatus
    key: str | None = None
    provider_ids: tuple[str, ...] = ()
    error: str | None = None
    failed_recipients: Mapping[str, str] = attrs.field(factory=dict)
    attempts: int = 0
    in_flight_at: datetime | None = None
    updated_at: datetime | None = None
    evidence: Evidence | None = None  # what reconciliation matched, when it marked SENT


@attrs.frozen(kw_only=True)
class Chunk:
    """One send: a slice of a message's recipients, with its seq and fingerprints.

    ``subject`` is the subject as sent (the message's, plus the correlation tag when the
    dispatcher adds one); ``digest`` covers the content and every recipient of the message
    exactly as given, so a changed input is detected on resume.

    Examples:
        >>> m = OutgoingMessage(provider="legallymail", recipients=["a@example.com"],
        ...                     subject="Avviso", body="<p>...</p>")
        >>> Chunk(seq=0, provider="legallymail", recipients=("a@example.com",), message=m,
        ...       subject="Avviso", digest="d", subject_digest="s").record("job").status.value
        'pending'
    """

    seq: int
    provider: str
    recipients: tuple[str, ...]
    message: OutgoingMessage = attrs.field(repr=False)
    subject: str
    digest: str
    subject_digest: str

    def record(self, job_id: str, status: ChunkStatus = ChunkStatus.PENDING) -> ChunkRecord:
        """This chunk as a journal record."""
        return ChunkRecord(
            job_id=job_id,
            seq=self.seq,
            provider=self.provider,
            recipients=self.recipients,
            digest=self.digest,
            subject_digest=self.subject_digest,
            status=status,
            key=self.message.key,
        )


@attrs.frozen(kw_only=True)
class SendReport:
    """What a send (or a reconciliation) established about one chunk.

    Examples:
        >>> SendReport(status=ChunkStatus.SENT, provider_ids=("2020082610003492",)).status.value
        'sent'
    """

    status: ChunkStatus
    provider_ids: tuple[str, ...] = ()
    failed_recipients: Mapping[str, str] = attrs.field(factory=dict)
    error: str | None = None
    evidence: Evidence | None = None


def digest(*parts: object) -> str:
    """A stable SHA-256 over JSON-able parts (content fingerprints; never a credential)."""
    h = hashlib.sha256()
    h.update(json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode())
    return h.hexdigest()


def content_digest(provider: str, recipients: Sequence[str], message: OutgoingMessage) -> str:
    """The fingerprint of one chunk: what would be sent, with attachments by hash."""
    return digest(
        provider,
        list(recipients),
        message.subject,
        hashlib.sha256(message.body.encode()).hexdigest(),
        [
            (a.filename, a.mime_type, hashlib.sha256(a.content).hexdigest())
            for a in message.attachments
        ],
        message.sender,
        message.key,
    )


def subject_digest(subject: str) -> str:
    """The fingerprint of a subject, for reconciliation without keeping the subject.

    Exact: subjects that differ by one space (leading or trailing included) or by case are
    different subjects, so one is never taken as evidence of the other.

    Examples:
        >>> subject_digest("Avviso") == subject_digest("Avviso ")
        False
    """
    return hashlib.sha256(subject.encode()).hexdigest()
