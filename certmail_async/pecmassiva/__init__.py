"""PEC Massiva: bulk PEC sending, receipts, inbox and quota."""

from ._client import InboxResource, PecMassivaClient, QuotaResource, SendsResource
from ._models import InboxMessage, InboxMessageDetail, InboxPage, Quota, SendResult
from ._tracking import SendTracker, TrackedSend

__all__ = [
    "InboxMessage",
    "InboxMessageDetail",
    "InboxPage",
    "InboxResource",
    "PecMassivaClient",
    "Quota",
    "QuotaResource",
    "SendResult",
    "SendTracker",
    "SendsResource",
    "TrackedSend",
]
