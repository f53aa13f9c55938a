"""Bulk sending: chunked, paced, ordered fan-out with a crash-safe journal."""

from ._dispatcher import BulkDispatcher
from ._journal import ChunkRecord, Journal
from ._journal_sqlite import SQLiteJournal
from ._models import (
    ChunkOutcome,
    ChunkStatus,
    Estimate,
    JobStatus,
    OutgoingMessage,
    Progress,
    RecipientRecord,
)

__all__ = [
    "BulkDispatcher",
    "ChunkOutcome",
    "ChunkRecord",
    "ChunkStatus",
    "Estimate",
    "JobStatus",
    "Journal",
    "OutgoingMessage",
    "Progress",
    "RecipientRecord",
    "SQLiteJournal",
]
