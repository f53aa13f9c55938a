"""PecMassivaClient against the fake: every operation, errors, retries, pacing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from certmail_async import (
    Attachment,
    AuthenticationError,
    BadRequestError,
    ConnectError,
    DeliveryUnknownError,
    NotFoundError,
    Outcome,
    PecMassivaClient,
    RateLimit,
    ReceiptKind,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from certmail_async.testing import RunningFake
from tests.forced import forced

pytestmark = pytest.mark.timeout(30)

RCPT = "mario.rossi@pec.example.it"


async def send(client: PecMassivaClient, *recipients: str, subject: str = "Diffida") -> str:
    result = await client.sends.create(
        recipients=list(recipients) or [RCPT], subject=subject, body="<p>Gentile</p>"
    )
    return result.code


class TestSendsCreate:
    async def test_send_is_recorded_and_returns_code(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A send returns the provider's code and lands once in the fake's ledger."""
        result = await client.sends.create(
            recipients=[RCPT, "b@pec.example.it"],
            subject="Diffida",
            body="<b>x</b>",
            attachments=[
                Attachment(filename="a.pdf", content=b"%PDF-1.4", mime_type="application/pdf")
            ],
        )
        ledger = fake.state.ledger
        assert len(ledger) == 1
        assert result.code == ledger[0].code
        assert result.sent == 2
        assert ledger[0].recipients == (RCPT, "b@pec.example.it")
        assert ledger[0].attachments == (("a.pdf", 8),)
        assert ledger[0].sender == fake.state.username

    async def test_credentials_travel_in_the_body(self, fake: RunningFake) -> None:
        """POST /send carries username/password in the body: a wrong password is a 401."""
        async with fake.client(password="wrong-password-123") as bad:
            with pytest.raises(AuthenticationError) as info:
                await send(bad)
        assert info.value.status == 401
        assert info.value.message == "Authorization is not valid or empty"
        assert fake.state.ledger == []

    async def test_500_after_recording_is_delivery_unknown_with_one_ledger_entry(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A 500 on POST /send raises DeliveryUnknownError after exactly one request, never a retry."""
        fake.state.faults.inject(
            "POST",
            "/send",
            status=500,
            body={"success": False, "message": "MySQL Error 1205"},
            after_record=True,
            times=None,
        )
        with pytest.raises(DeliveryUnknownError) as info:
            await send(client)
        assert info.value.status == 500
        assert isinstance(info.value.cause, ServerError)
        assert "MySQL Error 1205" in str(info.value)
        assert len(fake.state.ledger) == 1
        assert fake.state.count("POST", "/send") == 1

    async def test_500_with_send_code_keeps_it_as_reference(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A failed send that still carries a message_id exposes it as err.reference."""
        fake.state.faults.inject(
            "POST",
            "/send",
            status=500,
            body={"success": False, "message": "SMTP error", "message_id": "2020082610003492"},
        )
        with pytest.raises(DeliveryUnknownError) as info:
            await send(client)
        assert info.value.reference == "2020082610003492"

    async def test_success_false_with_code_is_delivery_unknown(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A 201 whose body says success:false but carries a code may have sent: DeliveryUnknownError."""
        fake.state.faults.inject(
            "POST",
            "/send",
            status=201,
            body={"success": False, "message": "SMTP connection failure", "message_id": "99"},
            after_record=True,
        )
        with pytest.raises(DeliveryUnknownError) as info:
            await send(client)
        assert info.value.reference == "99"

    async def test_dropped_connection_is_delivery_unknown(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A reset after the provider recorded the send is DeliveryUnknownError, one request."""
        fake.state.faults.inject("POST", "/send", drop=True, after_record=True, times=None)
        with pytest.raises(DeliveryUnknownError):
            await send(client)
        assert len(fake.state.ledger) == 1
        assert fake.state.count("POST", "/send") == 1

    async def test_timeout_is_delivery_unknown_and_may_still_land(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A timeout is DeliveryUnknownError; the provider may still record the send later."""
        fake.state.faults.inject("POST", "/send", delay=0.2)
        with pytest.raises(DeliveryUnknownError) as info:
            await client.sends.create(recipients=[RCPT], subject="s", body="b", timeout=0.05)
        assert isinstance(info.value.cause, RequestTimeoutError)
        for _ in range(100):
            if fake.state.ledger:
                break
            await asyncio.sleep(0.01)
        assert len(fake.state.ledger) == 1  # it happened: only reconciliation can tell
        assert fake.state.count("POST", "/send") == 1

    async def test_429_pauses_then_retries_once(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A 429 on a send pauses the scope, then the send is retried and recorded once."""
        fake.state.faults.inject("POST", "/send", status=429, retry_after="0")
        code = await send(client)
        assert [s.code for s in fake.state.ledger] == [code]
        assert fake.state.count("POST", "/send", status=429) == 1
        assert fake.state.count("POST", "/send", status=201) == 1
        assert client._transport.gate() is not None
        assert client._transport.gate().pauses == 1  # type: ignore[union-attr]

    async def test_connect_failure_is_retried_and_never_unknown(self) -> None:
        """No listener: the send was never written, so it is retried and ends as ConnectError."""
        async with PecMassivaClient(
            token="t0ken-value",
            username="box@pecmassiva.com",
            password="pw-value",
            base_url="http://127.0.0.1:9",
            retry_policy=RetryPolicy(base=0.0),
            max_retries=2,
        ) as c:
            with pytest.raises(ConnectError) as info:
                await send(c)
        assert not isinstance(info.value, DeliveryUnknownError)
        assert info.value.operation == "sends.create"


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"recipients": ["not-an-address"]}, "recipients[0]"),
            ({"recipients": []}, "recipients"),
            ({"recipients": [RCPT, RCPT.upper()]}, "recipients[1]"),
            ({"subject": "  "}, "subject"),
            ({"body": ""}, "body"),
            (
                {
                    "attachments": [
                        forced(Attachment(filename="p", content=b"x"), filename="../etc/passwd")
                    ]
                },
                "attachments[0].filename",
            ),
            (
                {"attachments": [Attachment(filename="empty.txt", content=b"")]},
                "attachments[0].content",
            ),
            (
                {
                    "attachments": [
                        Attachment(filename="big.bin", content=b"x" * (31 * 1024 * 1024))
                    ]
                },
                "attachments",
            ),
            ({"sender": "nope"}, "sender"),
        ],
    )
    async def test_bad_input_fails_before_the_wire(
        self, fake: RunningFake, client: PecMassivaClient, kwargs: dict[str, object], field: str
    ) -> None:
        """Bad input raises ValidationError naming the field, and no request reaches the fake."""
        args: dict[str, object] = {"recipients": [RCPT], "subject": "s", "body": "b", **kwargs}
        with pytest.raises(ValidationError) as info:
            await client.sends.create(**args)  # type: ignore[arg-type]
        assert info.value.field == field
        assert info.value.provider == "pecmassiva"
        assert info.value.operation == "sends.create"
        assert fake.state.requests == []

    async def test_recipient_cap_is_configurable(self, fake: RunningFake) -> None:
        """max_recipients bounds a single send before the wire."""
        async with fake.client(max_recipients=2) as c:
            with pytest.raises(ValidationError, match="at most 2"):
                await c.sends.create(
                    recipients=["a@pec.example.it", "b@pec.example.it", "c@pec.example.it"],
                    subject="s",
                    body="b",
                )
        assert fake.state.requests == []

    def test_constructor_refuses_missing_credentials(self) -> None:
        """An empty token or password is refused at construction."""
        with pytest.raises(ValidationError):
            PecMassivaClient(token="", username="box@pecmassiva.com", password="p")
        with pytest.raises(ValidationError):
            PecMassivaClient(token="t", username="box@pecmassiva.com", password="")


class TestReceipts:
    async def test_lifecycle_acceptance_then_delivery(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """Receipts come back classified: acceptance, then delivery or non-delivery per recipient."""
        fake.state.undeliverable.add("ghost@pec.example.it")
        code = await send(client, RCPT, "ghost@pec.example.it")
        summary = await client.sends.receipts(code)
        kinds = [r.kind for r in summary.receipts]
        assert kinds.count(ReceiptKind.ACCEPTANCE) == 1
        assert kinds.count(ReceiptKind.DELIVERY) == 1
        assert kinds.count(ReceiptKind.NON_DELIVERY) == 1
        assert summary.accepted
        assert summary.outcome_for(RCPT) is Outcome.DELIVERED
        assert summary.outcome_for("ghost@pec.example.it") is Outcome.FAILED
        assert all(r.date.tzinfo is not None for r in summary.receipts)
        assert all(r.original_subject.endswith(code) for r in summary.receipts)

    async def test_young_send_has_no_receipts_yet(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """Before any receipt exists, the provider's 404 'Result empty' is an empty summary."""
        fake.state.accept_delay = 60.0
        code = await send(client)
        summary = await client.sends.receipts(code)
        assert summary.receipts == ()
        assert summary.outcome_for(RCPT) is Outcome.PENDING
        assert fake.state.count("GET", "/send/{code}", status=404) == 1

    async def test_delete_receipts(self, fake: RunningFake, client: PecMassivaClient) -> None:
        """Deleting a send's receipts empties them; deleting again is NotFoundError."""
        code = await send(client)
        await client.sends.delete(code)
        assert (await client.sends.receipts(code)).receipts == ()
        with pytest.raises(NotFoundError, match="Email not found"):
            await client.sends.delete(code)

    async def test_reads_use_header_credentials(self, fake: RunningFake) -> None:
        """Reads send x-username/x-password: a wrong password is AuthenticationError."""
        async with fake.client(password="wrong-password-123") as bad:
            with pytest.raises(AuthenticationError):
                await bad.sends.receipts("123")


class TestInbox:
    async def test_list_follows_every_page(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """inbox.list walks n_of_pages pages of 25 and yields every message once."""
        for i in range(60):
            fake.state.add_inbox_message(subject=f"message {i}")
        ids = [m.id async for m in client.inbox.list()]
        assert len(ids) == 60
        assert len(set(ids)) == 60
        assert fake.state.count("GET", "/inbox") == 3
        page = await client.inbox.page(3)
        assert (page.page, page.total, page.pages, len(page.messages)) == (3, 60, 3, 10)

    async def test_list_filters_with_q(self, fake: RunningFake, client: PecMassivaClient) -> None:
        """The q filter is passed through; receipts are classified by subject."""
        await send(client)
        fake.state.add_inbox_message(subject="hello there")
        accepted = [m async for m in client.inbox.list(q="ACCETTAZIONE")]
        assert len(accepted) == 1
        assert accepted[0].kind is ReceiptKind.ACCEPTANCE

    async def test_empty_inbox(self, client: PecMassivaClient) -> None:
        """An empty INBOX yields nothing."""
        assert [m async for m in client.inbox.list()] == []

    async def test_retrieve_url_decodes_body(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """inbox.retrieve URL-decodes the x-www-form-urlencoded body."""
        item = fake.state.add_inbox_message(subject="Re: fattura", body="Perché 1+1 = 2 & più")
        message = await client.inbox.retrieve(item.id)
        assert message.body == "Perché 1+1 = 2 & più"
        assert message.kind is ReceiptKind.UNKNOWN

    async def test_retrieve_and_delete_missing(self, client: PecMassivaClient) -> None:
        """A missing message is NotFoundError('Message not found')."""
        with pytest.raises(NotFoundError, match="Message not found"):
            await client.inbox.retrieve(999)

    async def test_delete(self, fake: RunningFake, client: PecMassivaClient) -> None:
        """inbox.delete removes one message."""
        item = fake.state.add_inbox_message(subject="x")
        await client.inbox.delete(item.id)
        assert fake.state.inbox == []

    async def test_bad_ids_and_pages_fail_fast(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A negative id or page 0 is a ValidationError with no request."""
        with pytest.raises(ValidationError):
            await client.inbox.retrieve(-1)
        with pytest.raises(ValidationError):
            await client.inbox.page(0)
        assert fake.state.requests == []


class TestQuota:
    async def test_quota(self, client: PecMassivaClient) -> None:
        """quota.retrieve returns usage and limit as ints."""
        quota = await client.quota.retrieve()
        assert quota.limit == 1_048_576
        assert 0 <= quota.used_fraction < 1

    async def test_unknown_mailbox(self, client: PecMassivaClient) -> None:
        """An unknown folder is the documented 400 'An error occured' [sic]."""
        with pytest.raises(BadRequestError, match="An error occured"):
            await client.quota.retrieve("Archivio")


class TestRetries:
    async def test_reads_retry_on_503(self, fake: RunningFake, client: PecMassivaClient) -> None:
        """A read is retried on 503 and succeeds within max_retries."""
        fake.state.faults.inject("GET", "/quota/{mailbox}", status=503, times=2)
        await client.quota.retrieve()
        assert fake.state.count("GET", "/quota/{mailbox}") == 3

    async def test_reads_give_up_after_max_retries(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """Per-call max_retries bounds the attempts; the last error surfaces."""
        fake.state.faults.inject("GET", "/quota/{mailbox}", status=503, times=None)
        with pytest.raises(ServerError):
            await client.quota.retrieve(max_retries=1)
        assert fake.state.count("GET", "/quota/{mailbox}") == 2

    async def test_4xx_is_not_retried(self, fake: RunningFake, client: PecMassivaClient) -> None:
        """A 400 is raised at once, one request."""
        fake.state.faults.inject("GET", "/quota/{mailbox}", status=400, times=None)
        with pytest.raises(BadRequestError):
            await client.quota.retrieve()
        assert fake.state.count("GET", "/quota/{mailbox}") == 1

    async def test_reads_retry_after_reset(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """A reset on a read is retried (reads are safe to repeat)."""
        fake.state.faults.inject("GET", "/inbox", drop=True, times=1)
        assert [m async for m in client.inbox.list()] == []
        assert fake.state.count("GET", "/inbox") == 2


@pytest.mark.fake_thread
class TestPacing:
    async def test_sends_stay_under_the_cap(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """Twelve concurrent sends through the gate: the fake never refuses one."""
        await asyncio.gather(*(send(client, f"r{i}@pec.example.it") for i in range(12)))
        cap = fake.state.send_cap
        assert cap is not None
        assert len(fake.state.ledger) == 12
        assert cap.rejected == 0
        assert cap.max_in_window() == 1

    async def test_two_clients_of_one_token_share_the_gate(self, fake: RunningFake) -> None:
        """Clients created separately for one token share one gate: still no refusal."""
        from tests.pecmassiva.conftest import PACED_CLIENT_RATE

        async with (
            fake.client(rate_limit=PACED_CLIENT_RATE) as a,
            fake.client(rate_limit=PACED_CLIENT_RATE) as b,
        ):
            assert a._transport.gate() is b._transport.gate()
            await asyncio.gather(
                *(send(c, f"r{i}@pec.example.it") for i, c in enumerate([a, b] * 5))
            )
        assert fake.state.send_cap is not None
        assert fake.state.send_cap.rejected == 0

    async def test_without_pacing_the_fake_refuses(self, fake: RunningFake) -> None:
        """With pacing off, a burst hits the fake's cap: 429s, retried after the pause."""
        async with fake.client(
            rate_limit=None, retry_policy=RetryPolicy(base=0.0, cap=0.0), max_retries=0
        ) as c:
            results = await asyncio.gather(
                *(send(c, f"r{i}@pec.example.it") for i in range(5)), return_exceptions=True
            )
        assert fake.state.send_cap is not None
        assert fake.state.send_cap.rejected >= 1
        assert any(isinstance(r, Exception) for r in results)

    async def test_reads_are_not_paced(self, fake: RunningFake) -> None:
        """Reads take no slot of the send gate."""
        async with fake.client(rate_limit=RateLimit(requests=1, per=3600)) as c:
            await asyncio.wait_for(asyncio.gather(*(c.quota.retrieve() for _ in range(5))), 5)


class TestLifecycle:
    async def test_borrowed_session_stays_open(self, fake: RunningFake) -> None:
        """A session passed in is used and never closed by the client."""
        async with aiohttp.ClientSession() as session:
            async with fake.client(session=session) as c:
                await c.quota.retrieve()
            assert not session.closed

    async def test_with_options_shares_session_and_copy_never_closes_it(
        self, fake: RunningFake
    ) -> None:
        """with_options returns a copy with other defaults; closing the copy leaves the original usable."""
        async with fake.client() as c:
            copy = c.with_options(max_retries=0, timeout=3)
            assert copy._transport.max_retries == 0
            assert c._transport.max_retries == 2
            await copy.quota.retrieve()
            await copy.aclose()
            await c.quota.retrieve()
            assert copy.sends._client is copy

    async def test_closed_client_refuses(self, fake: RunningFake) -> None:
        """A closed client raises instead of opening a new session."""
        c = fake.client()
        await c.quota.retrieve()
        await c.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await c.quota.retrieve()


class TestHardenedInput:
    """Issue 10's findings for PEC Massiva: each refused before the wire, field named."""

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"sender": "someone.else@pecmassiva.com"}, "sender"),
            ({"recipients": ["jöe@pec.example.it"]}, "recipients[0]"),
            ({"recipients": RCPT}, "recipients"),
            ({"recipients": None}, "recipients"),
            ({"subject": "Avviso\r\nBcc: evil@x.com"}, "subject"),
            ({"attachments": None}, "attachments"),
            ({"before_send": "not callable"}, "before_send"),
        ],
    )
    async def test_send_refusals(
        self, fake: RunningFake, client: PecMassivaClient, kwargs: dict[str, object], field: str
    ) -> None:
        """A foreign sender, a non-ASCII or bare-str recipient, header injection: no request."""
        args: dict[str, object] = {"recipients": [RCPT], "subject": "s", "body": "b", **kwargs}
        with pytest.raises(ValidationError) as info:
            await client.sends.create(**args)  # type: ignore[arg-type]
        assert info.value.field == field
        assert fake.state.requests == []

    async def test_sender_is_the_mailbox_in_any_case(
        self, fake: RunningFake, client: PecMassivaClient
    ) -> None:
        """The mailbox itself, whatever its letter case, is accepted as the sender."""
        result = await client.sends.create(
            recipients=[RCPT], subject="s", body="b", sender=client.username.upper()
        )
        assert result.code

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda c: c.inbox.page("2"), "page"),
            (lambda c: c.inbox.page(1.5), "page"),
            (lambda c: c.inbox.page(True), "page"),
            (lambda c: c.inbox.page(1, q=123), "q"),
            (lambda c: c.inbox.retrieve("3"), "id"),
            (lambda c: c.sends.receipts(".."), "code"),
            (lambda c: c.sends.delete("2020082610003492\n"), "code"),
            (lambda c: c.quota.retrieve("INBOX\n"), "mailbox"),
        ],
    )
    async def test_read_refusals(
        self, fake: RunningFake, client: PecMassivaClient, call: Any, field: str
    ) -> None:
        """Pages are ints >= 1, q is a str, ids have no dot segments or newlines."""
        with pytest.raises(ValidationError) as info:
            await call(client)
        assert info.value.field == field
        assert fake.state.requests == []

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"token": 123}, "token"),
            ({"username": None}, "username"),
            ({"username": "box@pecmassiva.com\r\nX: y"}, "username"),
            ({"password": 123}, "password"),
            ({"max_recipients": "10"}, "max_recipients"),
            ({"max_recipients": 0}, "max_recipients"),
            ({"sandbox": "yes"}, "sandbox"),
        ],
    )
    def test_constructor_refusals(self, kwargs: dict[str, object], field: str) -> None:
        """token=123, max_recipients="10" and friends are ValidationErrors, not TypeErrors."""
        args: dict[str, object] = {
            "token": "t",
            "username": "box@pecmassiva.com",
            "password": "p",
            **kwargs,
        }
        with pytest.raises(ValidationError) as info:
            PecMassivaClient(**args)  # type: ignore[arg-type]
        assert info.value.field == field
        assert info.value.provider == "pecmassiva"
