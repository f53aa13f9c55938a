"""LegallyMail: certified-evidence e-mail and e-signature (not PEC)."""

from ._client import AccountResource, EmailsResource, LegallyMailClient, SignaturesResource
from ._evidence import EvidenceFile
from ._models import (
    AccountInfo,
    Certificate,
    Email,
    EmailDetail,
    EmailList,
    EmailStatus,
    RecipientDetail,
    RecipientResult,
    SendOutcome,
    SignatureRequest,
    SignatureStatus,
    SignerStatus,
)

__all__ = [
    "AccountInfo",
    "AccountResource",
    "Certificate",
    "Email",
    "EmailDetail",
    "EmailList",
    "EmailStatus",
    "EmailsResource",
    "EvidenceFile",
    "LegallyMailClient",
    "RecipientDetail",
    "RecipientResult",
    "SendOutcome",
    "SignatureRequest",
    "SignatureStatus",
    "SignaturesResource",
    "SignerStatus",
]
