"""The PEC Massiva client: bulk PEC sending, receipts, inbox and quota (7 operations)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping, Sequence
from typing import Any

from .._auth import BearerAuth
from .._client_base import BaseClient, Resource, validating
from .._exceptions import APIError, DeliveryUnknownError, NotFoundError, ValidationError
from .._models import Attachment
from .._pacing import PacingBackend, RateLimit
from .._polling import check_wait, wait_rounds
from .._retry import RetryPolicy
from .._tokens import TokenSource
from .._transport import (
    BeforeSend,
    ClientSession,
    LastCheck,
    Operation,
    ProviderProfile,
    Response,
    Transport,
)
from .._types import NOT_GIVEN, NotGiven, ResponseLimits, SecretStr, Timeout, TimeoutTypes
from .._validation import (
    check_attachments,
    check_bool,
    check_email,
    check_header_text,
    check_hook,
    check_instance,
    check_int,
    check_optional,
    check_path_id,
    check_recipients,
    check_secret,
    check_text,
    check_token,
)
from ..receipts._errors import DeliveryPendingError
from ..receipts._kinds import ReceiptSummary
from ..receipts._outcomes import DeliveryReport
from ._auth import PecMassivaAuth
from ._models import InboxMessage, InboxMessageDetail, InboxPage, Quota, SendResult
from ._tracking import SendTracker
from ._wire import LENIENT, OPS, PRODUCTION_URL, PROVIDER, SANDBOX_URL

__all__ = ["PecMassivaClient"]

logger = logging.getLogger("certmail_async")

#: ``POST /send`` handles at most 1 request per second (documentation page and OAS).
DEFAULT_RATE_LIMIT = RateLimit(requests=1, per=1.0)
#: RFC 6109: a PEC message may total 30 MB, counted across all its recipients.
DEFAULT_MAX_MESSAGE_BYTES = 30 * 1024 * 1024

_wire = LENIENT


class _Profile(ProviderProfile):
    name = PROVIDER


class _MailboxResource(Resource):
    """Resources whose calls carry the mailbox credentials (added by PecMassivaAuth)."""

    _client: PecMassivaClient

    def _mailbox_call(
        self,
        op: Operation,
        *,
        timeout: TimeoutTypes | NotGiven,
        max_retries: int | NotGiven,
        path_params: Mapping[str, str | int] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Coroutine[Any, Any, Response]:
        # The transport's coroutine itself, like Resource._call: one await layer less.
        return self._call(
            op,
            path_params=path_params,
            params=params,
            timeout=timeout,
            max_retries=max_retries,
        )


class SendsResource(_MailboxResource):
    """``client.sends``: ``POST /send``, ``GET /send/{code}``, ``DELETE /send/{code}``.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> bool:
        ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
        ...         sent = await client.sends.create(
        ...             recipients=["mario.rossi@pec.example.it"],
        ...             subject="Avviso", body="Testo")
        ...         summary = await client.sends.receipts(sent.code)
        ...     return summary.accepted
        >>> asyncio.run(main())
        True
    """

    async def create(
        self,
        *,
        recipients: Iterable[str],  # a list of addresses; one str is refused
        subject: str,
        body: str,
        attachments: Sequence[Attachment] = (),
        sender: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        before_send: BeforeSend | None = None,
        last_check: LastCheck | None = None,
    ) -> SendResult:
        """Send one PEC to one or more recipients; paced at the scope's cap (1/s).

        Never retried after a 5xx, a timeout or a reset: that raises
        [DeliveryUnknownError][certmail_async.DeliveryUnknownError] (check ``sends.receipts`` before
        sending again).

        ``before_send``, when given, is awaited after the pacing slot is granted and right
        before the request is written (the bulk dispatcher journals the chunk there).
        ``last_check``, when given, is called (synchronously) right before each attempt's
        request is handed to the HTTP session, after the slot and the credentials; what it
        raises propagates and nothing is written (the bulk dispatcher checks its lease).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> int:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         result = await client.sends.create(
            ...             recipients=["mario.rossi@pec.example.it"],
            ...             subject="Diffida", body="<p>Gentile ...</p>")
            ...     return result.sent
            >>> asyncio.run(main())
            1
        """
        c = self._client
        op = OPS.SEND
        with validating(op):
            rcpts = check_recipients(recipients, max_count=c.max_recipients, ascii=True)
            check_header_text(subject, field="subject")
            check_text(body, field="body")
            atts = check_attachments(attachments)
            from_ = _check_sender(sender, c.username)
            check_hook(before_send)
            check_hook(last_check, field="last_check")
            limit = c.max_message_bytes
            attached = sum(a.size for a in atts) if atts else 0
            # A character is at most 4 UTF-8 bytes: count exactly only when it could matter.
            if limit is not None and (attached + 4 * len(body)) * len(rcpts) > limit:
                size = (attached + len(body.encode())) * len(rcpts)
            else:
                size = 0
            if limit is not None and size > limit:
                raise ValidationError(
                    f"message size x recipients is {size} bytes, over the PEC limit of {limit}",
                    field="attachments",
                )
        payload = _wire.send_body(
            sender=from_,
            recipients=rcpts,
            subject=subject,
            body=body,
            attachments=atts,
        )
        try:
            response = await self._call(
                op,
                json=payload,
                timeout=timeout,
                max_retries=max_retries,
                before_send=before_send,
                last_check=last_check,
            )
        except DeliveryUnknownError as error:
            # A failed send may still carry a send code (legacy PHP SDK, code 40012): keep
            # it so the caller can look the receipts up.
            if isinstance(error.cause, APIError):
                error.reference = _wire.send_code_in(error.cause.body)
            raise
        try:
            # Through the transport: an undecodable success answer, or a 2xx that says
            # ``success: false``, is DeliveryUnknownError.
            return c._transport.decode(op, response, lambda r: _wire.send_result(r, op))
        except DeliveryUnknownError as error:
            # ``success: false`` with a send code: keep it for the receipts lookup.
            if isinstance(error.cause, APIError):
                error.reference = _wire.send_code_in(error.cause.body)
            raise

    async def receipts(
        self,
        code: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ReceiptSummary:
        """The receipts that came back for one send, classified by subject prefix.

        The provider answers 404 "Result empty" until a receipt exists (and for an unknown
        code): both come back as an empty summary.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> list[str]:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         sent = await client.sends.create(
            ...             recipients=["mario.rossi@pec.example.it"],
            ...             subject="Avviso", body="Testo")
            ...         summary = await client.sends.receipts(sent.code)
            ...     return [r.kind.name for r in summary.receipts]
            >>> asyncio.run(main())
            ['ACCEPTANCE', 'DELIVERY']
        """
        op = OPS.RECEIPTS
        with validating(op):
            check_path_id(code, field="code")
        try:
            response = await self._mailbox_call(
                op,
                path_params={"code": code},
                timeout=timeout,
                max_retries=max_retries,
            )
        except NotFoundError:
            return ReceiptSummary(code=code, receipts=())
        return ReceiptSummary(code=code, receipts=_wire.receipts(response, op))

    async def track(
        self,
        code: str,
        *,
        recipients: Iterable[str],
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> DeliveryReport:
        """Per-recipient outcomes of one send (one ``GET /send/{code}``).

        Pass the addresses the send went to: the send code does not name them, and a
        recipient no receipt names yet is then reported as pending instead of missing.
        For many sends, [tracker][certmail_async.pecmassiva.SendsResource.tracker] costs
        far fewer calls.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> dict[str, str]:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         fake.state.outcomes["ghost@pec.example.it"] = "not-delivered"
            ...         to = ["anna@pec.example.it", "ghost@pec.example.it"]
            ...         sent = await client.sends.create(recipients=to, subject="Avviso",
            ...                                          body="Testo")
            ...         report = await client.sends.track(sent.code, recipients=to)
            ...     return {o.address: o.state.value for o in report.recipients}
            >>> asyncio.run(main())
            {'anna@pec.example.it': 'delivered', 'ghost@pec.example.it': 'not-delivered'}
        """
        with validating(OPS.RECEIPTS):
            rcpts = check_recipients(recipients, ascii=True)
        summary = await self.receipts(code, timeout=timeout, max_retries=max_retries)
        return summary.report(recipients=rcpts)

    async def wait_delivered(
        self,
        code: str,
        *,
        recipients: Iterable[str],
        timeout: float | None,
        interval: float = 5.0,
        max_interval: float = 300.0,
    ) -> DeliveryReport:
        """Poll one send until every recipient has a final outcome (delivered or failed).

        Polls go through the client's pacing gate and retries; the waits between them start
        at ``interval`` seconds and double up to ``max_interval``. At the deadline
        (``timeout`` seconds; None: none) a
        [DeliveryPendingError][certmail_async.DeliveryPendingError] carries the last report.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> str:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         to = ["anna@pec.example.it"]
            ...         sent = await client.sends.create(recipients=to, subject="Avviso",
            ...                                          body="Testo")
            ...         report = await client.sends.wait_delivered(
            ...             sent.code, recipients=to, timeout=30)
            ...     return report["anna@pec.example.it"].state.value
            >>> asyncio.run(main())
            'delivered'
        """
        with validating(OPS.RECEIPTS):
            check_path_id(code, field="code")
            rcpts = check_recipients(recipients, ascii=True)
            check_wait(timeout, interval, max_interval)
        report: DeliveryReport | None = None
        async for last in wait_rounds(timeout, interval, max_interval):
            report = await self.track(code, recipients=rcpts)
            if report.final:
                return report
            if last:
                break
        raise DeliveryPendingError(
            f"send {code}: not every recipient has a final outcome after {timeout} s",
            reports={code: report},
            provider=PROVIDER,
            operation="sends.wait_delivered",
        )

    def tracker(
        self,
        *,
        full_scan_every: int = 50,
        direct_every: int | None = 10,
        concurrency: int = 4,
        bodies: bool = False,
    ) -> SendTracker:
        """A [SendTracker][certmail_async.pecmassiva.SendTracker] for many sends at once.

        It reads the INBOX pages (25 receipts each, of any send) instead of one
        ``GET /send/{code}`` per send and round, and fetches a send only when the list
        cannot tell which recipient a receipt concerns.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> tuple[int, list[str]]:
            ...     async with run_fake("pecmassiva", send_rate=None) as fake:
            ...         async with fake.client() as client:
            ...             tracker = client.sends.tracker()
            ...             for n in range(30):
            ...                 to = [f"utente{n}@pec.example.it"]
            ...                 sent = await client.sends.create(
            ...                     recipients=to, subject=f"Avviso {n}", body="Testo")
            ...                 tracker.add(sent.code, recipients=to)
            ...             await tracker.poll()
            ...     states = {r.recipients[0].state.value for r in tracker.reports.values()}
            ...     return tracker.calls, sorted(states)
            >>> asyncio.run(main())  # 60 receipts: three INBOX pages, no other call
            (3, ['delivered'])
        """
        return SendTracker(
            self._client,
            full_scan_every=full_scan_every,
            direct_every=direct_every,
            concurrency=concurrency,
            bodies=bodies,
        )

    async def delete(
        self,
        code: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> None:
        """Delete from the INBOX the receipts of one send (archive them first).

        Raises [NotFoundError][certmail_async.NotFoundError] ("Email not found") when none exist.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> int:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         sent = await client.sends.create(
            ...             recipients=["mario.rossi@pec.example.it"],
            ...             subject="Avviso", body="Testo")
            ...         await client.sends.delete(sent.code)
            ...         return len([m async for m in client.inbox.list()])
            >>> asyncio.run(main())
            0
        """
        op = OPS.DELETE_SEND
        with validating(op):
            check_path_id(code, field="code")
        response = await self._mailbox_call(
            op,
            path_params={"code": code},
            timeout=timeout,
            max_retries=max_retries,
        )
        _wire.acknowledged(response, op)


class InboxResource(_MailboxResource):
    """``client.inbox``: ``GET /inbox``, ``GET /inbox/{id}``, ``DELETE /inbox/{id}``.

    The INBOX holds the receipts of your sends (and any mail the mailbox received).

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> list[str]:
        ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
        ...         await client.sends.create(
        ...             recipients=["mario.rossi@pec.example.it"],
        ...             subject="Avviso", body="Testo")
        ...         return [m.kind.value async for m in client.inbox.list()]
        >>> asyncio.run(main())
        ['accettazione', 'avvenuta-consegna']
    """

    async def page(
        self,
        page: int = 1,
        *,
        q: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> InboxPage:
        """One page (up to 25 messages) with the provider's ``total`` and page count.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> tuple[int, int, int]:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         await client.sends.create(
            ...             recipients=["mario.rossi@pec.example.it"],
            ...             subject="Avviso", body="Testo")
            ...         page = await client.inbox.page(1)
            ...     return len(page.messages), page.total, page.pages
            >>> asyncio.run(main())
            (2, 2, 1)
        """
        op = OPS.INBOX_LIST
        with validating(op):
            check_int(page, field="page", min=1)
            check_optional(q, check_header_text, field="q", allow_empty=True)
        response = await self._mailbox_call(
            op,
            params=_wire.inbox_params(q, page),
            timeout=timeout,
            max_retries=max_retries,
        )
        return _wire.inbox_page(response, op)

    async def list(
        self,
        q: str | None = None,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncIterator[InboxMessage]:
        """Every INBOX message, following ``n_of_pages`` (never derived from ``total``).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> list[str]:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         await client.sends.create(
            ...             recipients=["mario.rossi@pec.example.it"],
            ...             subject="Avviso", body="Testo")
            ...         found = client.inbox.list(q="ACCETTAZIONE")
            ...         return [m.subject.split()[0] async for m in found]
            >>> asyncio.run(main())
            ['ACCETTAZIONE:']
        """
        with validating(OPS.INBOX_LIST):
            check_optional(q, check_header_text, field="q", allow_empty=True)
        number = 1
        previous: list[int] | None = None
        while True:
            page = await self.page(number, q=q, timeout=timeout, max_retries=max_retries)
            ids = [m.id for m in page.messages]
            # A server that ignores ``page`` (answers another page, or the same messages
            # again) while claiming a huge ``n_of_pages`` would keep this loop requesting,
            # and yielding duplicates, forever: stop at the first page that is not new.
            if page.page != number or ids == previous:
                logger.warning(
                    "inbox.list: page %d answered as page %d with %s messages; stopping",
                    number,
                    page.page,
                    "the same" if ids == previous else "its",
                    extra={"provider": PROVIDER, "operation": "inbox.list"},
                )
                return
            for message in page.messages:
                yield message
            if number >= page.pages or not page.messages:
                return
            previous = ids
            number += 1

    async def retrieve(
        self,
        id: int,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> InboxMessageDetail:
        """One message with its body (URL-decoded).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> str:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         await client.sends.create(
            ...             recipients=["mario.rossi@pec.example.it"],
            ...             subject="Avviso", body="Testo")
            ...         page = await client.inbox.page(1)
            ...         detail = await client.inbox.retrieve(page.messages[-1].id)
            ...     return detail.body.splitlines()[-1]
            >>> asyncio.run(main())
            'Testo'
        """
        op = OPS.INBOX_GET
        response = await self._mailbox_call(
            op,
            path_params={"id": _message_id(id, op.name)},
            timeout=timeout,
            max_retries=max_retries,
        )
        return _wire.inbox_detail(response, op)

    async def delete(
        self,
        id: int,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> None:
        """Delete one INBOX message. Ids may shift after deletes: re-list before deleting.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> int:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         await client.sends.create(
            ...             recipients=["mario.rossi@pec.example.it"],
            ...             subject="Avviso", body="Testo")
            ...         await client.inbox.delete(1)
            ...         return (await client.inbox.page(1)).total
            >>> asyncio.run(main())
            1
        """
        op = OPS.INBOX_DELETE
        response = await self._mailbox_call(
            op,
            path_params={"id": _message_id(id, op.name)},
            timeout=timeout,
            max_retries=max_retries,
        )
        _wire.acknowledged(response, op)


class QuotaResource(_MailboxResource):
    """``client.quota``: ``GET /quota/{mailbox}``.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> int:
        ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
        ...         quota = await client.quota.retrieve()
        ...     return quota.limit
        >>> asyncio.run(main())
        1048576
    """

    async def retrieve(
        self,
        mailbox: str = "INBOX",
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Quota:
        """Usage and limit of a mailbox folder (raw numbers; see [Quota][certmail_async.Quota]).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> bool:
            ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
            ...         quota = await client.quota.retrieve("INBOX")
            ...     return quota.used_fraction < 0.9
            >>> asyncio.run(main())
            True
        """
        op = OPS.QUOTA
        with validating(op):
            check_path_id(mailbox, field="mailbox")
        response = await self._mailbox_call(
            op,
            path_params={"mailbox": mailbox},
            timeout=timeout,
            max_retries=max_retries,
        )
        return _wire.quota(response, op)


def _message_id(value: Any, operation: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"expected a message id (int >= 0), got {value!r}",
            field="id",
            provider=PROVIDER,
            operation=operation,
        )
    return value


def _check_sender(sender: object, username: str) -> str:
    # PEC Massiva sends from the mailbox itself (pecmassiva.md 6.1): any other sender is
    # refused by the provider, so it is refused here, before the wire.
    mailbox = check_email(username, field="sender", ascii=True)
    if sender is None:
        return mailbox
    address = check_email(sender, field="sender", ascii=True)
    if address.lower() != mailbox.lower():
        raise ValidationError(
            f"PEC Massiva sends from the mailbox {mailbox!r} only, not {address!r}",
            field="sender",
        )
    return address


def _check_options(
    *,
    token: object,
    username: object,
    password: object,
    sandbox: object,
    rate_limit: object,
    retry_policy: object,
    max_recipients: object,
    max_message_bytes: object,
) -> None:
    # The constructor's own parameters, checked before anything is built: token=123 or
    # max_recipients="10" is a ValidationError naming the field, not a TypeError later.
    try:
        check_token(token)
        # The login goes in x-username/x-password headers: no control characters.
        check_header_text(username, field="username")
        check_secret(password, field="password")
        check_bool(sandbox, field="sandbox")
        check_instance(rate_limit, RateLimit, field="rate_limit", optional=True)
        check_instance(retry_policy, RetryPolicy, field="retry_policy")
        check_optional(max_recipients, check_int, field="max_recipients", min=1)
        check_optional(max_message_bytes, check_int, field="max_message_bytes", min=1)
    except ValidationError as error:
        error.provider = PROVIDER
        raise


class PecMassivaClient(BaseClient):
    """Client for PEC Massiva (``ws.pecmassiva.com``): bulk PEC sending and receipts.

    Two credential layers: the openapi.com ``token`` on every call, and the mailbox
    ``username``/``password`` (in the body of ``POST /send``, in ``x-username``/
    ``x-password`` headers elsewhere). ``POST /send`` is paced at 1 request per second
    per token, shared by every client of that token in the process; with
    ``pacing=RedisPacing(url)`` (or ``CERTMAIL_PACING_URL``) by every process and host.

    Examples:
        Against the fake (drop ``base_url=`` for the real service, and use your own
        credentials):

        >>> import asyncio
        >>> from certmail_async import PecMassivaClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> bool:
        ...     async with run_fake("pecmassiva") as fake:
        ...         async with PecMassivaClient(
        ...             token="fake-pecmassiva-token",
        ...             username="box@pecmassiva.com",
        ...             password="fake-mailbox-password",
        ...             base_url=fake.url,
        ...         ) as client:
        ...             sent = await client.sends.create(
        ...                 recipients=["dest@pec.example.it"],
        ...                 subject="Hi", body="Hello")
        ...             summary = await client.sends.receipts(sent.code)
        ...     return summary.accepted
        >>> asyncio.run(main())
        True
    """

    _ENV = (
        ("token", "CERTMAIL_PECMASSIVA_TOKEN"),
        ("username", "CERTMAIL_PECMASSIVA_USERNAME"),
        ("password", "CERTMAIL_PECMASSIVA_PASSWORD"),
    )

    def __init__(
        self,
        *,
        token: str | SecretStr | TokenSource,
        username: str,
        password: str | SecretStr,
        base_url: str | None = None,
        sandbox: bool = False,
        session: ClientSession | None = None,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        pacing: PacingBackend | None = None,
        timeout: TimeoutTypes = Timeout(),
        max_retries: int = 2,
        retry_policy: RetryPolicy = RetryPolicy(),
        response_limits: ResponseLimits = ResponseLimits(),
        max_recipients: int | None = None,
        max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        _check_options(
            token=token,
            username=username,
            password=password,
            sandbox=sandbox,
            rate_limit=rate_limit,
            retry_policy=retry_policy,
            max_recipients=max_recipients,
            max_message_bytes=max_message_bytes,
        )
        if not token:
            raise ValidationError("a token is required", field="token", provider=PROVIDER)
        password = SecretStr(password)
        self.username = check_text(username, field="username")
        if not password:
            raise ValidationError("a password is required", field="password", provider=PROVIDER)
        auth = PecMassivaAuth(BearerAuth(token), self.username, password)
        self.max_recipients = max_recipients
        self.max_message_bytes = max_message_bytes
        self._transport = Transport(
            profile=_Profile(),
            base_url=(SANDBOX_URL if sandbox else PRODUCTION_URL) if base_url is None else base_url,
            auth=auth,
            session=session,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            response_limits=response_limits,
            pacing=pacing,
            rate_limit=rate_limit,
            scope=auth.scope_key,
        )
        self._bind_resources()

    def _bind_resources(self) -> None:
        self.sends = SendsResource(self)
        self.inbox = InboxResource(self)
        self.quota = QuotaResource(self)

    def __repr__(self) -> str:
        return f"PecMassivaClient(username={self.username!r}, base_url={self.base_url!r})"
