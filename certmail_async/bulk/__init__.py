"""Bulk sending: chunked, paced, ordered fan-out with a crash-safe journal."""

from typing import TYPE_CHECKING, Any

from .._lazy import LazyNames
from ._delivery import ArchivedReceipt, CertificateDigest, RecipientEvidence
from ._dispatcher import BulkDispatcher
from ._journal import ChunkRecord, Journal
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
from ._report import export_records, job_status
from ._worker import Enqueued

if TYPE_CHECKING:
    from ._journal_postgres import PostgresJournal
    from ._refresh import RefreshSummary, refresh_evidence

# The PostgreSQL journal and the evidence refresh load on first use (PEP 562).
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "_journal_postgres": ("PostgresJournal",),
    "_refresh": ("RefreshSummary", "refresh_evidence"),
}


_NAMES = LazyNames(__name__, globals(), _LAZY_MODULES)


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access and cache the name here.

    Examples:
        >>> from certmail_async import bulk
        >>> bulk.PostgresJournal.__name__
        'PostgresJournal'
    """
    return _NAMES.load(name)


def __dir__() -> list[str]:
    """List the module's names, the lazily loaded public ones included."""
    return _NAMES.names()


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
