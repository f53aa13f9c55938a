"""LegallyMail: certified-evidence e-mail and e-signature (not PEC)."""

from typing import TYPE_CHECKING, Any

from .._lazy import LazyNames
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

if TYPE_CHECKING:
    from ._client import AccountResource, EmailsResource, LegallyMailClient, SignaturesResource
    from ._evidence import EvidenceFile

# The client and the evidence downloads load on first use (PEP 562): the models alone
# (which receipts and bulk read) do not pull the client in.
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "_client": ("AccountResource", "EmailsResource", "LegallyMailClient", "SignaturesResource"),
    "_evidence": ("EvidenceFile",),
}


_NAMES = LazyNames(__name__, globals(), _LAZY_MODULES)


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access and cache the name here.

    Examples:
        >>> from certmail_async import legallymail
        >>> legallymail.LegallyMailClient.__name__
        'LegallyMailClient'
    """
    return _NAMES.load(name)


def __dir__() -> list[str]:
    """List the module's names, the lazily loaded public ones included."""
    return _NAMES.names()


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
