"""LegallyMail evidence per recipient: sent, delivered, read, failed, with certificates.

LegallyMail is not PEC (``legallymail.md`` §1): it records evidence about ordinary e-mail as
certificates protected by a hash and third-party time-stamps (TSQ/TSR). Its states are kept
in its own vocabulary and never mapped onto PEC receipt kinds.

The state of a recipient is the furthest event the record proves: ``failed`` when the
provider says so; otherwise ``read`` if a read time or a read certificate exists, then
``delivered``, then ``sent``, else ``pending``. The raw ``status`` string is kept next to it
(an unknown status stays as the provider wrote it), because the provider's example shows
``error_details`` on a delivered recipient and statuses that lag their own timestamps.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from ..legallymail._models import Certificate, EmailDetail, EmailStatus, RecipientDetail

__all__ = ["LegallyMailOutcome", "LegallyMailState", "legallymail_outcomes"]


class LegallyMailState(enum.Enum):
    """What LegallyMail proves for one recipient (its own vocabulary, not PEC's).

    Examples:
        >>> LegallyMailState.READ.final, LegallyMailState.SENT.final
        (True, False)
    """

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Whether delivery is settled (a read may still follow ``delivered``)."""
        return self in (LegallyMailState.DELIVERED, LegallyMailState.READ, LegallyMailState.FAILED)


@attrs.frozen(kw_only=True)
class LegallyMailOutcome:
    """One LegallyMail recipient: state, raw status, event times and certificates.

    Each [Certificate][certmail_async.Certificate] carries its type, ``confirmed_at``, file hash,
    ``has_tsq`` / ``has_tsr`` and the PDF URL. ``tracking_id`` is the recipient's own id
    (``parent_tracking_id`` the send's).

    Examples:
        >>> from certmail_async import EmailStatus
        >>> out = LegallyMailOutcome(address="a@example.com",
        ...                          state=LegallyMailState.SENT,
        ...                          status=EmailStatus("sent"))
        >>> out.delivery_certificate is None
        True
    """

    address: str
    state: LegallyMailState
    status: EmailStatus
    name: str | None = None
    tracking_id: str | None = None
    parent_tracking_id: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    error_details: str | None = None
    certificates: tuple[Certificate, ...] = ()

    def certificate(self, kind: str) -> Certificate | None:
        """The certificate of one type (``"delivered"``, ``"read"``...), if any."""
        for cert in self.certificates:
            if cert.certificate_type.strip().lower() == kind:
                return cert
        return None

    @property
    def delivery_certificate(self) -> Certificate | None:
        """The ``delivered`` certificate, if any."""
        return self.certificate("delivered")

    @property
    def read_certificate(self) -> Certificate | None:
        """The ``read`` certificate, if any."""
        return self.certificate("read")

    @property
    def timestamped(self) -> bool:
        """Whether every certificate has both its time-stamp query and response (TSQ/TSR)."""
        return bool(self.certificates) and all(c.has_tsq and c.has_tsr for c in self.certificates)

    @property
    def final(self) -> bool:
        """Whether delivery is settled (delivered, read or failed)."""
        return self.state.final


def _state(
    status: EmailStatus,
    sent_at: datetime | None,
    delivered_at: datetime | None,
    read_at: datetime | None,
    certificates: tuple[Certificate, ...],
) -> LegallyMailState:
    if status is EmailStatus.FAILED:
        return LegallyMailState.FAILED
    kinds = {c.certificate_type.strip().lower() for c in certificates}
    if status is EmailStatus.READ or read_at is not None or "read" in kinds:
        return LegallyMailState.READ
    if status is EmailStatus.DELIVERED or delivered_at is not None or "delivered" in kinds:
        return LegallyMailState.DELIVERED
    if status is EmailStatus.SENT or sent_at is not None:
        return LegallyMailState.SENT
    return LegallyMailState.PENDING


def _from_recipient(r: RecipientDetail, parent: str) -> LegallyMailOutcome:
    return LegallyMailOutcome(
        address=r.email.strip().lower(),
        state=_state(r.status, r.sent_at, r.delivered_at, r.read_at, r.certificates),
        status=r.status,
        name=r.name,
        tracking_id=r.tracking_id,
        parent_tracking_id=parent,
        sent_at=r.sent_at,
        delivered_at=r.delivered_at,
        read_at=r.read_at,
        error_details=r.error_details,
        certificates=r.certificates,
    )


def legallymail_outcomes(detail: EmailDetail) -> tuple[LegallyMailOutcome, ...]:
    """Per-recipient outcomes of one LegallyMail e-mail (``emails.retrieve``), by address.

    With per-recipient detail, one outcome per recipient. A single-recipient e-mail
    without it gives one outcome from the e-mail-level fields (which have no
    ``delivered_at``: delivery then shows only through a status or a certificate).

    Examples:
        >>> from certmail_async import EmailDetail, EmailStatus, RecipientDetail
        >>> detail = EmailDetail(
        ...     id=1, tracking_id="cm_1", recipient="Multiple Recipients",
        ...     subject="s", status=EmailStatus("pending"), recipients=(
        ...         RecipientDetail(email="a@example.com",
        ...                         status=EmailStatus("read")),
        ...         RecipientDetail(email="b@example.com",
        ...                         status=EmailStatus("bounced"))))
        >>> for o in legallymail_outcomes(detail):
        ...     print(o.address, o.state.value, o.status.value)
        a@example.com read read
        b@example.com pending bounced
    """
    if detail.recipients:
        outcomes = [_from_recipient(r, detail.tracking_id) for r in detail.recipients]
        return tuple(sorted(outcomes, key=lambda o: o.address))
    if detail.is_multi_recipient or "@" not in detail.recipient:
        return ()  # the addresses are only in the per-recipient detail, which is absent
    return (
        LegallyMailOutcome(
            address=detail.recipient.strip().lower(),
            state=_state(detail.status, detail.sent_at, None, detail.read_at, detail.certificates),
            status=detail.status,
            tracking_id=detail.tracking_id,
            parent_tracking_id=detail.tracking_id,
            sent_at=detail.sent_at,
            read_at=detail.read_at,
            error_details=detail.error_status,
            certificates=detail.certificates,
        ),
    )
