"""LegallyMail results: English frozen models. LegallyMail is NOT PEC: its own statuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import overload

import attrs

from .._models import OpenEnum

__all__ = [
    "AccountInfo",
    "Certificate",
    "Email",
    "EmailDetail",
    "EmailList",
    "EmailStatus",
    "RecipientDetail",
    "RecipientResult",
    "SendOutcome",
    "SignatureRequest",
    "SignatureStatus",
    "SignerStatus",
]


class EmailStatus(OpenEnum):
    """Status of an e-mail or of one recipient (values are the wire strings).

    Unknown values are kept (``status.known is False``, ``status.value`` is the raw string).

    Examples:
        >>> EmailStatus("delivered")
        <EmailStatus.DELIVERED: 'delivered'>
        >>> bounced = EmailStatus("bounced")  # a value this SDK does not know yet
        >>> bounced.known, bounced.value
        (False, 'bounced')
    """

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class SignatureStatus(OpenEnum):
    """Status of a signature request or of one signer (open: unknown values are kept).

    Examples:
        >>> SignatureStatus("signed") is SignatureStatus.SIGNED
        True
        >>> SignatureStatus("rejected").known
        False
    """

    PENDING = "pending"
    SIGNED = "signed"


@attrs.frozen(kw_only=True)
class RecipientResult:
    """One recipient in the answer to ``emails.send``.

    Examples:
        >>> result = RecipientResult(email="anna@example.com",
        ...                          status=EmailStatus.FAILED,
        ...                          error_details="mailbox full")
        >>> result.ok, result.error_details
        (False, 'mailbox full')
    """

    email: str
    status: EmailStatus
    tracking_id: str | None = None
    error_details: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the provider took this recipient (its status is not ``failed``)."""
        return self.status is not EmailStatus.FAILED


@attrs.frozen(kw_only=True)
class SendOutcome:
    """The answer to ``emails.send``: parent and per-recipient tracking ids, counts.

    A send can partly fail; that is a normal result, not an exception: read
    ``failed_recipients`` (and ``fail_count``).

    Examples:
        >>> out = SendOutcome(
        ...     tracking_id="cm_parent_1",
        ...     recipients=(
        ...         RecipientResult(email="anna@example.com",
        ...                         status=EmailStatus.SENT),
        ...         RecipientResult(email="luca@example.com",
        ...                         status=EmailStatus.FAILED),
        ...     ),
        ...     success_count=1, fail_count=1)
        >>> out.partial, [r.email for r in out.failed_recipients]
        (True, ['luca@example.com'])
    """

    tracking_id: str
    recipients: tuple[RecipientResult, ...]
    subject: str | None = None
    sent_at: datetime | None = None
    success_count: int = 0
    fail_count: int = 0
    error_status: str | None = None
    message: str = ""

    @property
    def failed_recipients(self) -> tuple[RecipientResult, ...]:
        """Recipients the provider reported as failed."""
        return tuple(r for r in self.recipients if not r.ok)

    @property
    def partial(self) -> bool:
        """Whether some recipients succeeded and some failed."""
        return self.success_count > 0 and self.fail_count > 0


@attrs.frozen(kw_only=True)
class Certificate:
    """Evidence of one event (delivered, read...), protected by a hash and time-stamps.

    ``pdf_download_url`` is where the provider serves it as a PDF.

    Examples:
        >>> cert = Certificate(certificate_type="delivered", has_tsr=True, has_tsq=True)
        >>> cert.certificate_type, cert.has_tsr
        ('delivered', True)
    """

    certificate_type: str
    file_hash: str | None = None
    confirmed_at: datetime | None = None
    has_tsr: bool = False
    has_tsq: bool = False
    pdf_download_url: str | None = None


@attrs.frozen(kw_only=True)
class Email:
    """One sent e-mail as ``emails.list`` shows it.

    ``recipient`` is the address, or the literal "Multiple Recipients" for a multi-recipient
    send (see ``is_multi_recipient``).

    Examples:
        >>> email = Email(id=1, tracking_id="cm_parent_1",
        ...               recipient="Multiple Recipients", subject="Contratto",
        ...               status=EmailStatus.DELIVERED, is_multi_recipient=True,
        ...               recipient_count=2)
        >>> email.is_multi_recipient, email.recipient_count
        (True, 2)
    """

    id: int
    tracking_id: str
    recipient: str
    subject: str
    status: EmailStatus
    sent_at: datetime | None = None
    read_at: datetime | None = None
    created_at: datetime | None = None
    mailsender_id: str | None = None
    is_multi_recipient: bool = False
    recipient_count: int = 1
    error_status: str | None = None


@attrs.frozen(kw_only=True)
class EmailList:
    """The answer to ``emails.list``: the e-mails and the provider's counts.

    ``count`` and ``limit`` are the provider's, ``max_limit`` the most it will list (25
    today). Iterates, indexes and has a length like the tuple of
    [Email][certmail_async.Email] it holds, so
    ``for email in await client.emails.list()`` reads as before.

    Examples:
        >>> page = EmailList(emails=(), count=0, limit=10, max_limit=25)
        >>> len(page), page.max_limit
        (0, 25)
    """

    emails: tuple[Email, ...]
    count: int | None = None
    limit: int | None = None
    max_limit: int | None = None

    def __iter__(self) -> Iterator[Email]:
        return iter(self.emails)

    def __len__(self) -> int:
        return len(self.emails)

    @overload
    def __getitem__(self, index: int) -> Email: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Email, ...]: ...

    def __getitem__(self, index: int | slice) -> Email | tuple[Email, ...]:
        return self.emails[index]


@attrs.frozen(kw_only=True)
class RecipientDetail:
    """One recipient of ``emails.retrieve``, with its own events and certificates.

    Examples:
        >>> detail = RecipientDetail(
        ...     email="anna@example.com", status=EmailStatus.READ,
        ...     certificates=(Certificate(certificate_type="delivered"),
        ...                   Certificate(certificate_type="read")))
        >>> [c.certificate_type for c in detail.certificates]
        ['delivered', 'read']
    """

    email: str
    status: EmailStatus
    name: str | None = None
    tracking_id: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    error_details: str | None = None
    certificates: tuple[Certificate, ...] = ()


@attrs.frozen(kw_only=True)
class EmailDetail(Email):
    """One e-mail with e-mail-level certificates and per-recipient detail.

    Examples:
        >>> detail = EmailDetail(
        ...     id=1, tracking_id="cm_parent_1", recipient="anna@example.com",
        ...     subject="Contratto", status=EmailStatus.DELIVERED,
        ...     recipients=(RecipientDetail(email="anna@example.com",
        ...                                 status=EmailStatus.DELIVERED),))
        >>> isinstance(detail, Email), detail.recipients[0].status.value
        (True, 'delivered')
    """

    certificates: tuple[Certificate, ...] = ()
    recipients: tuple[RecipientDetail, ...] = ()


@attrs.frozen(kw_only=True)
class AccountInfo:
    """``GET /api/info``: API version and the account's plan and remaining e-mails.

    Examples:
        >>> info = AccountInfo(api_name="LegallyMail API", api_version="1.0.0",
        ...                    email="account@example.com", plan_limit=1000,
        ...                    remaining_emails=0)
        >>> info.remaining_emails == 0  # out of credits, not forbidden
        True
    """

    api_name: str
    api_version: str
    email: str
    name: str | None = None
    plan: str | None = None
    plan_name: str | None = None
    plan_limit: int | None = None
    extra_emails: int | None = None
    remaining_emails: int | None = None


@attrs.frozen(kw_only=True)
class SignerStatus:
    """One signer of a signature request and where they are.

    Examples:
        >>> signer = SignerStatus(name="Anna Bianchi", email="anna@example.com",
        ...                       status=SignatureStatus.PENDING)
        >>> signer.status.value, signer.signed_at
        ('pending', None)
    """

    name: str
    email: str
    status: SignatureStatus
    phone: str | None = None
    signed_at: datetime | None = None


@attrs.frozen(kw_only=True)
class SignatureRequest:
    """A signature request (from ``request``, ``list`` or ``retrieve``; the latter is fullest).

    Examples:
        >>> request = SignatureRequest(
        ...     uuid="592777e5-8201-447f-bde6-2fa50ff6f5c0",
        ...     status=SignatureStatus.SIGNED, document_name="Contratto.pdf",
        ...     signers=(SignerStatus(name="Anna Bianchi", email="anna@example.com",
        ...                           status=SignatureStatus.SIGNED),))
        >>> all(s.status is SignatureStatus.SIGNED for s in request.signers)
        True
    """

    uuid: str
    status: SignatureStatus
    document_name: str
    signer_name: str | None = None
    signer_email: str | None = None
    created_at: datetime | None = None
    signed_at: datetime | None = None
    expires_at: datetime | None = None
    document_hash: str | None = None
    signed_document_hash: str | None = None
    signers: tuple[SignerStatus, ...] = ()
    download_original_url: str | None = None
    download_acta_url: str | None = None
    message: str = ""
