"""Tracking many PEC Massiva sends to their final outcome, with few provider calls.

Polling ``GET /send/{code}`` for every pending send costs one call per send per round:
10,000 sends, 10,000 calls, every round. PEC Massiva also lists its whole INBOX, 25
messages a page, and every receipt's subject ends with its send's code (the vendor's
samples; unconfirmed), so one page shows the progress of up to 25 receipts of any sends.
A round of `SendTracker.poll` therefore:

1. reads the INBOX **incrementally**: only the page holding the last message already seen,
   then the pages after it. The listing is in arrival order (a mailbox's sequence numbers),
   so earlier pages do not change unless something was deleted; the messages already seen
   on that page are compared (id, date and subject: ids may be sequence numbers, which
   shift on a delete), and any difference, or a total that shrank, makes it read every
   page again. Every ``full_scan_every`` rounds it reads every page anyway;
2. groups the new messages by the send code at the end of their subject;
3. for a send with **one recipient**, the subject is enough: the kind comes from the
   prefix and the recipient is the only one (the ``"only recipient"`` rule). No more calls;
4. for a send with **several recipients**, a per-recipient receipt (delivery, non-delivery,
   warning...) in the list does not say whom it concerns (list items have no body), so
   that send's ``GET /send/{code}`` is read once, and again only when new receipts of it
   appear;
5. a send nothing at all has been listed of for ``direct_every`` rounds (not even its
   acceptance) is read directly, and again every ``direct_every`` rounds (a guard against
   receipts whose subject does not end with the code).

So a send costs about one call in its life when it has several recipients and a fraction
of a page when it has one, plus the INBOX pages of the new messages each round. Calls go
through the client, hence its pacing gate (a 429 pauses the whole scope), its retries and
its timeouts. ``benchmarks/tracking.py`` counts the calls against the fake.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from .._exceptions import ValidationError
from .._polling import check_wait, wait_rounds
from .._validation import check_path_id, check_recipients
from ..receipts._errors import DeliveryPendingError
from ..receipts._kinds import Receipt, ReceiptKind, classify_subject
from ..receipts._outcomes import DeliveryReport, delivery_report
from ._models import InboxMessage
from ._wire import PROVIDER

if TYPE_CHECKING:
    from ._client import PecMassivaClient

__all__ = ["SendTracker", "TrackedSend"]

logger = logging.getLogger("certmail_async")

_PER_RECIPIENT = frozenset(
    {
        ReceiptKind.DELIVERY,
        ReceiptKind.NON_DELIVERY,
        ReceiptKind.DELIVERY_WARNING,
        ReceiptKind.TAKEN_IN_CHARGE,
        ReceiptKind.VIRUS_DETECTION,
    }
)
PAGE_SIZE = 25


@attrs.define(kw_only=True)
class TrackedSend:
    """What the tracker knows of one send: its recipients, receipts and report.

    ``report`` is the latest per-recipient report; ``listed`` the INBOX messages of the send
    seen so far; ``fetched`` the receipts of the last ``GET /send/{code}`` read (with their
    bodies), None when it was never read; ``done`` whether the report is final.

    Examples:
        >>> from certmail_async.receipts import delivery_report
        >>> to = ("a@pec.example.it",)
        >>> send = TrackedSend(code="1", recipients=to,
        ...                    report=delivery_report((), recipients=to))
        >>> send.done, send.report.final
        (False, False)
    """

    code: str
    recipients: tuple[str, ...]
    report: DeliveryReport
    listed: list[InboxMessage] = attrs.field(factory=list)
    fetched: tuple[Receipt, ...] | None = None
    quiet_rounds: int = 0
    done: bool = False


def _code_of(subject: str) -> str | None:
    tail = classify_subject(subject)[1].rstrip()
    token = tail.rsplit(None, 1)[-1] if tail else ""
    return token or None


def _key(message: InboxMessage) -> tuple[int, datetime, str]:
    return (message.id, message.date, message.subject)


def _listed_receipt(message: InboxMessage) -> Receipt:
    return Receipt(
        date=message.date,
        subject=message.subject,
        sender=message.sender,
        recipient=message.recipient,
    )


class SendTracker:
    """Follows many PEC Massiva sends to their final outcome with few calls (see module).

    Add each send with the addresses it went to (the send code alone does not name them),
    then ``poll()`` once per round or iterate ``wait(timeout=)``. ``calls`` counts the
    provider calls made. ``bodies=True`` reads ``GET /send/{code}`` once for a
    single-recipient send when it becomes final, so its receipts carry their text (what a
    journal archives before receipts are deleted from the INBOX).

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> dict[str, str]:
        ...     async with run_fake("pecmassiva", send_rate=None) as fake:
        ...         fake.state.outcomes["ghost@pec.example.it"] = "not-delivered"
        ...         async with fake.client() as client:
        ...             tracker = client.sends.tracker()
        ...             for rcpt in ("anna@pec.example.it", "ghost@pec.example.it"):
        ...                 sent = await client.sends.create(
        ...                     recipients=[rcpt], subject="Avviso", body="Testo")
        ...                 tracker.add(sent.code, recipients=[rcpt])
        ...             done = [r async for _, r in tracker.wait(timeout=60)]
        ...     return {r.recipients[0].address: r.recipients[0].state.value
        ...             for r in done}
        >>> asyncio.run(main())
        {'anna@pec.example.it': 'delivered', 'ghost@pec.example.it': 'not-delivered'}
    """

    def __init__(
        self,
        client: PecMassivaClient,
        *,
        full_scan_every: int = 50,
        direct_every: int | None = 10,
        concurrency: int = 4,
        bodies: bool = False,
    ) -> None:
        for name, value in (("full_scan_every", full_scan_every), ("concurrency", concurrency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"expected an int >= 1, got {value!r}", field=name)
        if direct_every is not None and (
            isinstance(direct_every, bool) or not isinstance(direct_every, int) or direct_every < 1
        ):
            raise ValidationError("expected an int >= 1 or None", field="direct_every")
        self._client = client
        self.full_scan_every = full_scan_every
        self.direct_every = direct_every
        self.bodies = bool(bodies)
        self._limit = asyncio.Semaphore(concurrency)
        self._sends: dict[str, TrackedSend] = {}
        # Every INBOX message seen, in listing order, as (id, date, subject): ids may be
        # sequence numbers that shift on a delete, so the content is compared too.
        self._seen: list[tuple[int, datetime, str]] = []
        self._rounds = 0
        #: Provider calls made by this tracker (INBOX pages and ``GET /send/{code}``).
        self.calls = 0
        #: Of which INBOX pages.
        self.pages = 0
        #: Of which full INBOX scans started.
        self.full_scans = 0

    # -- the set of sends -----------------------------------------------------------------

    def add(self, code: str, *, recipients: Iterable[str]) -> None:
        """Track one send: its code and the addresses it went to (ValidationError if bad)."""
        check_path_id(code, field="code")
        rcpts = tuple(a.strip().lower() for a in check_recipients(recipients, ascii=True))
        if code in self._sends:
            raise ValidationError(f"send {code!r} is tracked already", field="code")
        self._sends[code] = TrackedSend(
            code=code, recipients=rcpts, report=delivery_report((), recipients=rcpts)
        )

    def discard(self, code: str) -> None:
        """Stop tracking a send (unknown codes are ignored)."""
        self._sends.pop(code, None)

    def __len__(self) -> int:
        return len(self._sends)

    @property
    def reports(self) -> Mapping[str, DeliveryReport]:
        """The latest report of every tracked send, by code."""
        return {code: s.report for code, s in self._sends.items()}

    @property
    def pending(self) -> tuple[str, ...]:
        """Codes whose report is not final yet."""
        return tuple(code for code, s in self._sends.items() if not s.report.final)

    def tracked(self, code: str) -> TrackedSend:
        """What is known of one send (KeyError when not tracked)."""
        return self._sends[code]

    # -- one round ------------------------------------------------------------------------

    async def poll(self) -> dict[str, DeliveryReport]:
        """One round: read the INBOX's new pages, fetch what they do not tell; what changed.

        Returns the reports that changed in this round, by code.
        """
        self._rounds += 1
        new = await self._scan()
        touched: dict[str, list[InboxMessage]] = {}
        for message in new:
            code = _code_of(message.subject)
            if code is not None and code in self._sends:
                touched.setdefault(code, []).append(message)
        fetch: list[TrackedSend] = []
        changed: dict[str, DeliveryReport] = {}
        for code, send in self._sends.items():
            if send.done:
                continue
            messages = touched.get(code, [])
            if messages:
                send.quiet_rounds = 0
                send.listed.extend(messages)
                per_recipient = any(m.kind in _PER_RECIPIENT for m in messages)
                if send.fetched is not None or (len(send.recipients) > 1 and per_recipient):
                    fetch.append(send)  # the list does not say whom they concern
                    continue
                report = delivery_report(
                    map(_listed_receipt, send.listed), recipients=send.recipients
                )
                if report.final and self.bodies:
                    fetch.append(send)
                    continue
                if self._update(send, report):
                    changed[code] = report
            elif not send.listed:
                # Nothing of this send ever showed in the list: its receipts' subjects may
                # not end with the code after all. Read it directly, now and then.
                send.quiet_rounds += 1
                if self.direct_every is not None and send.quiet_rounds >= self.direct_every:
                    send.quiet_rounds = 0
                    fetch.append(send)
        reports = await asyncio.gather(*(self._fetch(send) for send in fetch))
        for send, report in zip(fetch, reports, strict=True):
            if self._update(send, report):
                changed[send.code] = report
        return changed

    def _update(self, send: TrackedSend, report: DeliveryReport) -> bool:
        before = send.report
        send.report = report
        if report.final:
            send.done = True
        return report.states != before.states or len(report.receipts) != len(before.receipts)

    async def _fetch(self, send: TrackedSend) -> DeliveryReport:
        async with self._limit:
            self.calls += 1
            summary = await self._client.sends.receipts(send.code)
        send.fetched = summary.receipts
        return summary.report(recipients=send.recipients)

    async def _page(self, number: int) -> tuple[list[InboxMessage], int, int]:
        self.calls += 1
        self.pages += 1
        page = await self._client.inbox.page(number)
        return list(page.messages), page.total, page.pages

    async def _scan(self) -> list[InboxMessage]:
        """The INBOX messages not seen before (all of them after a full scan)."""
        full = not self._seen or self._rounds % self.full_scan_every == 0
        if not full:
            new = await self._incremental()
            if new is not None:
                return new
        return await self._full()

    async def _incremental(self) -> list[InboxMessage] | None:
        known = len(self._seen)
        number = (known - 1) // PAGE_SIZE + 1  # the page holding the last message seen
        messages, total, pages = await self._page(number)
        start = (number - 1) * PAGE_SIZE
        seen = self._seen[start:]
        if total < known or [_key(m) for m in messages[: len(seen)]] != seen:
            logger.debug(
                "inbox changed before position %d: reading every page again",
                known,
                extra={"provider": PROVIDER, "operation": "sends.tracker"},
            )
            return None
        new = messages[len(seen) :]
        while number < pages and len(messages) == PAGE_SIZE:
            number += 1
            messages, _total, pages = await self._page(number)
            new.extend(messages)
        self._seen.extend(_key(m) for m in new)
        return new

    async def _full(self) -> list[InboxMessage]:
        self.full_scans += 1
        everything: list[InboxMessage] = []
        number, pages = 1, 1
        while number <= pages:
            messages, _total, pages = await self._page(number)
            everything.extend(messages)
            if not messages:
                break
            number += 1
        self._seen = [_key(m) for m in everything]
        # What is new: each send's messages beyond those already seen, compared by content
        # (ids may have shifted); a message that disappeared is never forgotten.
        seen = {
            code: Counter((m.date, m.subject) for m in s.listed) for code, s in self._sends.items()
        }
        fresh: list[InboxMessage] = []
        for message in everything:
            code = _code_of(message.subject)
            if code is None or code not in seen:
                continue
            key = (message.date, message.subject)
            if seen[code][key] > 0:
                seen[code][key] -= 1
            else:
                fresh.append(message)
        return fresh

    # -- waiting ----------------------------------------------------------------------------

    async def wait(
        self,
        *,
        timeout: float | None,
        interval: float = 5.0,
        max_interval: float = 300.0,
    ) -> AsyncIterator[tuple[str, DeliveryReport]]:
        """Poll until every send is final, yielding ``(code, report)`` as each one becomes so.

        The waits between rounds start at ``interval`` seconds and double up to
        ``max_interval``. At the deadline (``timeout`` seconds; None: none) the sends still
        pending raise [DeliveryPendingError][certmail_async.DeliveryPendingError] with
        their reports.
        """
        check_wait(timeout, interval, max_interval)
        announced = {code for code, s in self._sends.items() if s.report.final}
        async for last in wait_rounds(timeout, interval, max_interval):
            if self.pending:
                await self.poll()
            for code, send in list(self._sends.items()):
                if code not in announced and send.report.final:
                    announced.add(code)
                    yield code, send.report
            if not self.pending:
                return
            if last:
                left = {code: self._sends[code].report for code in self.pending}
                raise DeliveryPendingError(
                    f"{len(left)} send(s) without a final outcome for every recipient "
                    f"after {timeout} s",
                    reports=left,
                    provider=PROVIDER,
                    operation="sends.wait_delivered",
                )
