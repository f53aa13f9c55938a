"""Bulk sending: chunked, paced, ordered fan-out with a crash-safe journal."""

from ._delivery import ArchivedReceipt, CertificateDigest, RecipientEvidence
from ._dispatcher import BulkDispatcher
from ._journal import ChunkRecord, Journal
from ._journal_postgres import PostgresJournal
from ._journal_sqlite import SQLiteJournal
from ._models import (
    ChunkOutcome,
    ChunkStatus,
    Estimate,
    Evidence,
    JobStatus,
    LaneState,
    Lease,
    OutgoingMessage,
    Progress,
    RecipientRecord,
)
from ._refresh import RefreshSummary, refresh_evidence
from ._report import export_records, job_status
from ._worker import Enqueued

__all__ = [
    "ArchivedReceipt",
    "BulkDispatcher",
    "CertificateDigest",
    "ChunkOutcome",
    "ChunkRecord",
    "ChunkStatus",
    "Enqueued",
    "Estimate",
    "Evidence",
    "JobStatus",
    "Journal",
    "LaneState",
    "Lease",
    "OutgoingMessage",
    "PostgresJournal",
    "Progress",
    "RecipientEvidence",
    "RecipientRecord",
    "RefreshSummary",
    "SQLiteJournal",
    "export_records",
    "job_status",
    "refresh_evidence",
]
