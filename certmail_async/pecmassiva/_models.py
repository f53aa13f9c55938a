"""PEC Massiva results: English frozen models with real types."""

from __future__ import annotations

from datetime import datetime

import attrs

from ..receipts._kinds import Receipt, ReceiptKind, classify_subject

__all__ = ["InboxMessage", "InboxMessageDetail", "InboxPage", "Quota", "SendResult"]


@attrs.frozen(kw_only=True)
class SendResult:
    """The answer to ``POST /send``.

    ``code`` is the send code (the wire's ``message_id``) for ``sends.receipts`` and
    ``sends.delete``; one code covers every recipient of the send. ``message`` is the
    provider's own text (empty on success in the vendor's sample).

    Examples:
        >>> SendResult(code="2020082610003492", sent=1)
        SendResult(code='2020082610003492', sent=1, message='')
    """

    code: str
    sent: int
    message: str = ""


@attrs.frozen(kw_only=True)
class InboxMessage:
    """One INBOX entry from ``inbox.list``; ``kind`` is read from its subject prefix.

    Examples:
        >>> from datetime import datetime, timezone
        >>> message = InboxMessage(
        ...     id=1, date=datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc),
        ...     subject="ACCETTAZIONE: Avviso 2020082610003492")
        >>> message.kind
        <ReceiptKind.ACCEPTANCE: 'accettazione'>
    """

    id: int
    date: datetime
    subject: str
    sender: str | None = None
    recipient: str | None = None

    @property
    def kind(self) -> ReceiptKind:
        """The PEC receipt kind from the subject (UNKNOWN for ordinary mail)."""
        return classify_subject(self.subject)[0]


@attrs.frozen(kw_only=True)
class InboxMessageDetail:
    """One INBOX message with its body (URL-decoded from the wire form).

    Examples:
        >>> from datetime import datetime, timezone
        >>> detail = InboxMessageDetail(
        ...     date=datetime(2026, 3, 2, 9, 31, tzinfo=timezone.utc),
        ...     subject="CONSEGNA: Avviso 2020082610003492",
        ...     body="... e' stato consegnato nella casella di destinazione.")
        >>> detail.kind.name, detail.as_receipt().subject == detail.subject
        ('DELIVERY', True)
    """

    date: datetime
    subject: str
    body: str
    sender: str | None = None
    recipient: str | None = None

    @property
    def kind(self) -> ReceiptKind:
        """The PEC receipt kind from the subject (UNKNOWN for ordinary mail)."""
        return classify_subject(self.subject)[0]

    def as_receipt(self) -> Receipt:
        """This message as a `Receipt`."""
        return Receipt(
            date=self.date,
            subject=self.subject,
            body=self.body,
            sender=self.sender,
            recipient=self.recipient,
        )


@attrs.frozen(kw_only=True)
class InboxPage:
    """One page of ``GET /inbox``; ``pages`` is the provider's ``n_of_pages``.

    Examples:
        >>> page = InboxPage(messages=(), page=1, total=0, pages=1)
        >>> page.total, page.pages
        (0, 1)
    """

    messages: tuple[InboxMessage, ...]
    page: int
    total: int
    pages: int


@attrs.frozen(kw_only=True)
class Quota:
    """Mailbox usage as the provider reports it.

    The unit is documented as megabytes but the vendor's sample values fit kilobytes (the
    IMAP quota unit); the raw numbers are kept and the unit is left to the caller.

    Examples:
        >>> Quota(usage=262_144, limit=1_048_576).used_fraction
        0.25
    """

    usage: int
    limit: int

    @property
    def used_fraction(self) -> float:
        """``usage / limit`` (0.0 when the limit is 0)."""
        return self.usage / self.limit if self.limit else 0.0
