"""Bulk job models: what goes in (OutgoingMessage), what comes out (ChunkOutcome, Progress)."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal

import attrs

from .._models import Attachment

__all__ = [
    "ChunkOutcome",
    "ChunkRecord",
    "ChunkStatus",
    "Estimate",
    "Evidence",
    "JobStatus",
    "Lease",
    "OutgoingMessage",
    "Progress",
    "RecipientRecord",
]

ProviderName = Literal["pecmassiva", "legallymail"]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _attachments(value: Iterable[Attachment]) -> tuple[Attachment, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class OutgoingMessage:
    """One message of a bulk job: the same subject and body to one or more recipients.

    The dispatcher splits ``recipients`` into chunks no larger than the provider allows;
    each chunk is one send. ``key`` is yours (an invoice number...) and comes back on every
    outcome; ``sender`` is PEC Massiva's (defaults to the mailbox username).

    Example:
        >>> OutgoingMessage(provider="legallymail", recipients=["a@example.com"],
        ...                 subject="Avviso", body="<p>...</p>", key="INV-1").provider
        'legallymail'
    """

    provider: ProviderName
    recipients: tuple[str, ...] = attrs.field(converter=_strings)
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_attachments)
    key: str | None = None
    sender: str | None = None


class ChunkStatus(enum.Enum):
    """Where a chunk (one send) stands.

    ``PENDING`` and ``IN_FLIGHT`` live only in the journal; outcomes are final or UNKNOWN.
    """

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"  # the provider accepted it (provider_ids)
    FAILED = "failed"  # refused or invalid: it was NOT sent (error says why)
    UNKNOWN = "unknown"  # may have been sent: reconcile, then decide (retry_unknown=True)
    SKIPPED = "skipped"  # not sent in this run: already final in an earlier run


@attrs.frozen(kw_only=True)
class ChunkOutcome:
    """The result of one chunk: one send to up to a provider's per-send recipient limit."""

    seq: int
    provider: str
    recipients: tuple[str, ...]
    status: ChunkStatus
    provider_ids: tuple[str, ...] = ()
    error: str | None = None
    key: str | None = None
    failed_recipients: Mapping[str, str] = attrs.field(factory=dict)
    previous: ChunkStatus | None = None  # for SKIPPED: the status an earlier run recorded


@attrs.frozen(kw_only=True)
class Progress:
    """Where a run stands; ``eta`` comes from the pacing caps, not from guesses."""

    done_chunks: int
    done_recipients: int
    total_chunks: int | None
    total_recipients: int | None
    counts: Mapping[str, int]
    elapsed: float
    rate: float  # recipients per second so far
    eta: float | None  # seconds, from the remaining chunks of each lane and its pace

    @property
    def fraction(self) -> float | None:
        """Done / total recipients, when the total is known."""
        if not self.total_recipients:
            return None
        return self.done_recipients / self.total_recipients


@attrs.frozen(kw_only=True)
class Estimate:
    """What a job will take at the documented caps, said up front.

    Example:
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
    """One recipient of a job, for audits (``export``)."""

    job_id: str
    seq: int
    provider: str
    recipient: str
    status: ChunkStatus
    provider_ids: tuple[str, ...]
    error: str | None
    key: str | None
    updated_at: datetime | None


@attrs.frozen(kw_only=True)
class JobStatus:
    """Counts per state, and the chunks whose fate needs a decision (UNKNOWN)."""

    job_id: str
    chunks: Mapping[str, int]
    recipients: Mapping[str, int]
    unknown: tuple[ChunkOutcome, ...]
    in_flight: tuple[ChunkOutcome, ...]
    created_at: datetime | None = None
    meta: Mapping[str, str] = attrs.field(factory=dict)

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
    """

    job_id: str
    owner_id: str
    host: str
    pid: int
    token: int
    expires_at: datetime


@attrs.frozen(kw_only=True)
class ChunkRecord:
    """One chunk as the journal keeps it."""

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
    """The fingerprint of a subject, for reconciliation without keeping the subject."""
    return hashlib.sha256(subject.strip().encode()).hexdigest()
