"""LegallyMailClient against the fake: all 7 operations, errors, pacing, partial results."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from certmail_async import (
    Attachment,
    AuthenticationError,
    DeliveryUnknownError,
    EmailStatus,
    LegallyMailClient,
    NotFoundError,
    OutOfCreditsError,
    PermissionDeniedError,
    RateLimit,
    RetryPolicy,
    SignatureStatus,
    Signer,
    ValidationError,
)
from certmail_async.testing import RunningFake
from tests.forced import forced
from tests.legallymail.conftest import CLIENT_RATE, PDF, SCALED_MINUTE

pytestmark = pytest.mark.timeout(30)


class TestEmailsSend:
    async def test_send_returns_parent_and_recipient_ids(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A send returns the parent tracking id and one tracking id per recipient."""
        out = await client.emails.send(
            recipients=["anna@example.com", "luca@example.com"],
            subject="Contratto",
            html="<p>Ecco</p>",
            reply_to="office@example.com",
            reply_to_name="Ufficio",
            attachments=[Attachment(filename="c.pdf", content=PDF, mime_type="application/pdf")],
        )
        [sent] = fake.state.ledger
        assert out.tracking_id == sent.tracking_id
        assert [r.tracking_id for r in out.recipients] == [r.tracking_id for r in sent.recipients]
        assert all(r.status is EmailStatus.SENT for r in out.recipients)
        assert (out.success_count, out.fail_count, out.partial) == (2, 0, False)
        assert out.message == "Email sent to 2 of 2 recipients"
        assert sent.attachments == (("c.pdf", len(PDF), "application/pdf"),)
        assert sent.reply_to == "office@example.com"

    async def test_partial_failure_is_a_normal_result(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """Some recipients failing is a typed result with failed_recipients, not an exception."""
        fake.state.bounce.add("ghost@example.com")
        out = await client.emails.send(
            recipients=["anna@example.com", "ghost@example.com"], subject="s", html="<p>h</p>"
        )
        assert out.partial
        assert [r.email for r in out.failed_recipients] == ["ghost@example.com"]
        assert out.failed_recipients[0].error_details == "Hard bounce: mailbox does not exist"

    async def test_500_is_delivery_unknown_never_retried(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A 500 after the fake recorded the send: DeliveryUnknownError, one request, one ledger entry."""
        fake.state.faults.inject("POST", "/api/send", status=500, after_record=True, times=None)
        with pytest.raises(DeliveryUnknownError):
            await client.emails.send(recipients=["a@example.com"], subject="s", html="<p>h</p>")
        assert len(fake.state.ledger) == 1
        assert fake.state.count("POST", "/api/send") == 1

    async def test_reset_is_delivery_unknown(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A dropped connection on a send is DeliveryUnknownError, never a retry."""
        fake.state.faults.inject("POST", "/api/send", drop=True, after_record=True, times=None)
        with pytest.raises(DeliveryUnknownError):
            await client.emails.send(recipients=["a@example.com"], subject="s", html="<p>h</p>")
        assert fake.state.count("POST", "/api/send") == 1

    async def test_out_of_credits_is_told_apart(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """403 for no credits is OutOfCreditsError; an ordinary 403 is PermissionDeniedError only."""
        fake.state.credits = 1
        with pytest.raises(OutOfCreditsError, match="No credits"):
            await client.emails.send(
                recipients=["a@example.com", "b@example.com"], subject="s", html="h"
            )
        fake.state.faults.inject(
            "GET", "/api/info", status=403, body={"success": False, "message": "Forbidden"}
        )
        with pytest.raises(PermissionDeniedError) as info:
            await client.account.info()
        assert not isinstance(info.value, OutOfCreditsError)
        assert (await client.account.info()).remaining_emails == 1

    async def test_bad_token_is_401(self, fake: RunningFake) -> None:
        """A wrong token is AuthenticationError."""
        async with fake.client(token="wrong-token-value") as bad:
            with pytest.raises(AuthenticationError):
                await bad.account.info()


class TestTokenPlacement:
    @pytest.mark.parametrize(
        ("placement", "via"), [("header", "bearer"), ("raw_header", "raw"), ("body", "body")]
    )
    async def test_each_documented_placement_works(
        self, fake: RunningFake, placement: str, via: str
    ) -> None:
        """The token can go as Bearer, as the raw header value, or in the JSON body."""
        async with fake.client(rate_limit=CLIENT_RATE, token_placement=placement) as c:
            await c.emails.send(recipients=["a@example.com"], subject="s", html="h")
            await c.account.info()  # GETs always carry the header
        assert fake.state.ledger[0].token_via == via


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"recipients": [f"r{i}@example.com" for i in range(11)]}, "recipients"),
            ({"recipients": ["nope"]}, "recipients[0]"),
            ({"html": " "}, "html"),
            ({"subject": ""}, "subject"),
            ({"reply_to": "not-an-address"}, "reply_to"),
            (
                {
                    "attachments": [
                        forced(Attachment(filename="a.bin", content=b"x"), mime_type="binary")
                    ]
                },
                "attachments[0].mime_type",
            ),
        ],
    )
    async def test_send_input_fails_before_the_wire(
        self, fake: RunningFake, client: LegallyMailClient, kwargs: dict[str, object], field: str
    ) -> None:
        """Bad send input raises ValidationError naming the field; no request is made."""
        args: dict[str, object] = {
            "recipients": ["a@example.com"],
            "subject": "s",
            "html": "<p>h</p>",
            **kwargs,
        }
        with pytest.raises(ValidationError) as info:
            await client.emails.send(**args)  # type: ignore[arg-type]
        assert info.value.field == field
        assert info.value.provider == "legallymail"
        assert fake.state.requests == []

    async def test_raised_recipient_limit(self, fake: RunningFake) -> None:
        """max_recipients follows an account whose limit support raised."""
        fake.state.max_recipients = 20
        async with fake.client(rate_limit=CLIENT_RATE, max_recipients=20) as c:
            out = await c.emails.send(
                recipients=[f"r{i}@example.com" for i in range(15)], subject="s", html="h"
            )
        assert out.success_count == 15

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"signers": []}, "signers"),
            (
                {"signers": [Signer(name=f"S{i}", email=f"s{i}@example.com") for i in range(6)]},
                "signers",
            ),
            (
                {"signers": [forced(Signer(name="A", email="a@example.com"), name="")]},
                "signers[0].name",
            ),
            (
                {"signers": [forced(Signer(name="A", email="a@example.com"), email="bad")]},
                "signers[0].email",
            ),
            (
                {"signers": [forced(Signer(name="A", email="a@example.com"), phone="call me")]},
                "signers[0].phone",
            ),
            ({"document": b"GIF89a not a pdf"}, "document"),
            ({"document": b"%PDF-" + b"x" * (10 * 1024 * 1024)}, "document"),
            ({"document_name": ""}, "document_name"),
            ({"language": "de"}, "language"),
        ],
    )
    async def test_signature_input_fails_before_the_wire(
        self, fake: RunningFake, client: LegallyMailClient, kwargs: dict[str, object], field: str
    ) -> None:
        """Bad signature input raises ValidationError naming the field; no request is made."""
        args: dict[str, object] = {
            "signers": [Signer(name="Anna", email="anna@example.com")],
            "document": PDF,
            "document_name": "c.pdf",
            **kwargs,
        }
        with pytest.raises(ValidationError) as info:
            await client.signatures.request(**args)  # type: ignore[arg-type]
        assert info.value.field == field
        assert fake.state.requests == []

    @pytest.mark.parametrize("limit", [0, 26, -1])
    async def test_limits_are_1_to_25(
        self, fake: RunningFake, client: LegallyMailClient, limit: int
    ) -> None:
        """List limits outside 1..25 fail before the wire."""
        with pytest.raises(ValidationError):
            await client.emails.list(limit=limit)
        with pytest.raises(ValidationError):
            await client.signatures.list(limit=limit)
        assert fake.state.requests == []

    async def test_uuid_must_be_a_uuid(self, fake: RunningFake, client: LegallyMailClient) -> None:
        """signatures.retrieve refuses a non-UUID before the wire."""
        with pytest.raises(ValidationError):
            await client.signatures.retrieve("not-a-uuid")
        assert fake.state.requests == []


class TestReads:
    async def test_email_lifecycle_sent_delivered_read(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """emails.retrieve shows sent, then delivered with a certificate, then read."""
        fake.state.deliver_delay = 0.05
        fake.state.read_delay = 0.05
        out = await client.emails.send(recipients=["anna@example.com"], subject="s", html="h")
        first = await client.emails.retrieve(out.tracking_id)
        assert first.recipients[0].status is EmailStatus.SENT
        assert first.recipients[0].certificates == ()
        await asyncio.sleep(0.12)
        later = await client.emails.retrieve(out.tracking_id)
        rcpt = later.recipients[0]
        assert rcpt.status is EmailStatus.READ
        assert [c.certificate_type for c in rcpt.certificates] == ["delivered", "read"]
        assert rcpt.certificates[0].has_tsr
        assert rcpt.certificates[0].pdf_download_url is not None
        assert rcpt.tracking_id in rcpt.certificates[0].pdf_download_url
        assert isinstance(rcpt.delivered_at, datetime)
        assert rcpt.delivered_at.tzinfo is None  # naive, as documented, unless asked

    async def test_list_newest_first(self, fake: RunningFake, client: LegallyMailClient) -> None:
        """emails.list returns the latest sends, newest first, with multi-recipient flags."""
        await client.emails.send(recipients=["a@example.com"], subject="one", html="h")
        await client.emails.send(
            recipients=["a@example.com", "b@example.com"], subject="two", html="h"
        )
        emails = await client.emails.list(limit=5)
        assert [e.subject for e in emails] == ["two", "one"]
        assert emails[0].is_multi_recipient
        assert emails[0].recipient == "Multiple Recipients"
        assert emails[0].recipient_count == 2

    async def test_retrieve_unknown_is_404(self, client: LegallyMailClient) -> None:
        """An unknown tracking id is NotFoundError."""
        with pytest.raises(NotFoundError):
            await client.emails.retrieve("cm_missing")

    async def test_account_info(self, client: LegallyMailClient) -> None:
        """account.info reads the envelope without a success key."""
        info = await client.account.info()
        assert info.api_name == "LegallyMail API"
        assert info.remaining_emails == 1000

    async def test_explicit_timezone_is_attached(self, fake: RunningFake) -> None:
        """timezone= attaches the named zone to every provider timestamp."""
        madrid = ZoneInfo("Europe/Madrid")
        async with fake.client(rate_limit=CLIENT_RATE, timezone=madrid) as c:
            out = await c.emails.send(recipients=["a@example.com"], subject="s", html="h")
        assert out.sent_at is not None
        assert out.sent_at.tzinfo is madrid


class TestSignatures:
    async def test_single_signer_lifecycle(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A single-signer request is pending, then signed, with hashes and download URLs."""
        fake.state.sign_delay = 0.05
        req = await client.signatures.request(
            signers=Signer(name="Anna Bianchi", email="anna@example.com", phone="+39 333 1234567"),
            document=PDF,
            document_name="Contratto.pdf",
            language="it",
        )
        assert req.status is SignatureStatus.PENDING
        assert req.message == "Signature request sent successfully"
        await asyncio.sleep(0.08)
        done = await client.signatures.retrieve(req.uuid)
        assert done.status is SignatureStatus.SIGNED
        assert done.signers[0].phone == "+39 333 1234567"
        assert done.download_acta_url is not None
        assert done.expires_at is not None
        assert done.created_at is not None
        assert (done.expires_at - done.created_at).days == 7
        assert fake.state.signatures[0].language == "it"

    async def test_multiple_signers_use_the_signers_form(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """Two or more signers go as the `signers` array."""
        people = [Signer(name=f"Firmante {i}", email=f"f{i}@example.com") for i in range(5)]
        req = await client.signatures.request(signers=people, document=PDF, document_name="c.pdf")
        detail = await client.signatures.retrieve(req.uuid)
        assert [s.email for s in detail.signers] == [p.email for p in people]
        listed = await client.signatures.list(limit=1)
        assert [s.uuid for s in listed] == [req.uuid]

    async def test_signature_500_is_delivery_unknown(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A 5xx on a signature request is never retried."""
        fake.state.faults.inject("POST", "/api/signature/send", status=502, times=None)
        with pytest.raises(DeliveryUnknownError):
            await client.signatures.request(
                signers=Signer(name="A", email="a@example.com"), document=PDF, document_name="c.pdf"
            )
        assert fake.state.count("POST", "/api/signature/send") == 1


@pytest.mark.fake_thread
class TestPacing:
    async def test_every_endpoint_is_paced_and_stays_under_the_cap(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A burst of mixed calls never draws a 429: reads take slots too."""
        calls = [client.account.info() for _ in range(8)] + [
            client.emails.send(recipients=[f"r{i}@example.com"], subject="s", html="h")
            for i in range(8)
        ]
        await asyncio.gather(*calls)
        cap = fake.state.cap
        assert cap.rejected == 0
        assert cap.max_in_window() <= 10

    async def test_two_clients_share_one_gate(self, fake: RunningFake) -> None:
        """Two LegallyMailClients in one process share the per-IP gate and stay under the cap together."""
        async with (
            fake.client(rate_limit=CLIENT_RATE) as a,
            fake.client(rate_limit=CLIENT_RATE) as b,
        ):
            assert a._transport.gate() is b._transport.gate()
            sends = [
                c.emails.send(recipients=[f"r{i}@example.com"], subject="s", html="h")
                for i, c in enumerate([a, b] * 12)
            ]
            await asyncio.gather(*sends)
            state = a.pacing
        cap = fake.state.cap
        assert len(fake.state.ledger) == 24
        assert cap.rejected == 0
        assert cap.max_in_window() <= 10
        # paced, not stalled: both clients' 24 sends left through the one gate, no pause
        assert state is not None
        assert (state.departed, state.pauses, state.refusals) == (24, 0, 0)

    async def test_429_without_retry_after_pauses_one_window(self, fake: RunningFake) -> None:
        """A 429 with no Retry-After pauses the whole scope for one full window, then retries."""
        async with fake.client(rate_limit=CLIENT_RATE, retry_policy=RetryPolicy(base=0.0)) as c:
            fake.state.faults.inject("GET", "/api/info", status=429)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await c.account.info()
            elapsed = loop.time() - started
            gate = c._transport.gate()
        assert gate is not None
        assert gate.pauses == 1
        assert elapsed >= SCALED_MINUTE * 0.95
        assert fake.state.count("GET", "/api/info") == 2

    async def test_without_pacing_the_fake_answers_429(self, fake: RunningFake) -> None:
        """Unpaced bursts hit the fake's per-IP cap (which proves the cap is live)."""
        async with fake.client(rate_limit=None, max_retries=0) as c:
            results = await asyncio.gather(
                *(c.account.info() for _ in range(15)), return_exceptions=True
            )
        assert fake.state.cap.rejected == 5
        assert sum(isinstance(r, Exception) for r in results) == 5

    async def test_default_rate_is_one_every_6_006_seconds(self) -> None:
        """The default cap is 10 per minute with a 60 ms budget over the window: 6.006 s."""
        client = LegallyMailClient(token="t0ken")
        assert client._transport.rate_limit == RateLimit(requests=10, per=60.0)
        assert client._transport.rate_limit.interval == pytest.approx(6.006)
        await client.aclose()


class TestHardenedInput:
    """Issue 10's findings for LegallyMail: each refused before the wire, field named."""

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"subject": "Avviso\r\nBcc: evil@x.com"}, "subject"),
            ({"reply_to_name": "Ufficio\r\nBcc: evil@x.com"}, "reply_to_name"),
            ({"reply_to_name": "Ufficio\x00"}, "reply_to_name"),
            ({"recipients": "a@example.com"}, "recipients"),
            ({"recipients": None}, "recipients"),
            ({"attachments": None}, "attachments"),
            (
                {"attachments": [forced(Attachment(filename="a.pdf", content=PDF), filename=None)]},
                "attachments[0].filename",
            ),
            (
                {
                    "attachments": [
                        forced(
                            Attachment(filename="a.pdf", content=PDF), mime_type="application/pdf\n"
                        )
                    ]
                },
                "attachments[0].mime_type",
            ),
        ],
    )
    async def test_send_refusals(
        self, fake: RunningFake, client: LegallyMailClient, kwargs: dict[str, object], field: str
    ) -> None:
        """Header injection in subject or reply-to name, a bare str, None: no request."""
        args: dict[str, object] = {
            "recipients": ["a@example.com"],
            "subject": "s",
            "html": "<p>h</p>",
            **kwargs,
        }
        with pytest.raises(ValidationError) as info:
            await client.emails.send(**args)  # type: ignore[arg-type]
        assert info.value.field == field
        assert fake.state.requests == []

    async def test_bodies_keep_newlines(self, fake: RunningFake, client: LegallyMailClient) -> None:
        """The HTML body may hold newlines (only header text refuses control characters)."""
        out = await client.emails.send(
            recipients=["a@example.com"], subject="s", html="<p>riga 1</p>\r\n<p>riga 2</p>"
        )
        assert out.tracking_id

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"signers": None}, "signers"),
            ({"document_name": "Contratto\x00.pdf"}, "document_name"),
            ({"document_name": "Contratto\r\n.pdf"}, "document_name"),
            ({"document": None}, "document"),
            ({"language": "it\n"}, "language"),
        ],
    )
    async def test_signature_refusals(
        self, fake: RunningFake, client: LegallyMailClient, kwargs: dict[str, object], field: str
    ) -> None:
        """None for signers or document, control characters in the document name: no request."""
        args: dict[str, object] = {
            "signers": [Signer(name="Anna", email="anna@example.com")],
            "document": PDF,
            "document_name": "c.pdf",
            **kwargs,
        }
        with pytest.raises(ValidationError) as info:
            await client.signatures.request(**args)  # type: ignore[arg-type]
        assert info.value.field == field
        assert fake.state.requests == []

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"token": 123}, "token"),
            ({"token": "tok\r\nX: y"}, "token"),
            ({"max_recipients": "10"}, "max_recipients"),
            ({"max_document_bytes": "10"}, "max_document_bytes"),
            ({"timezone": "Europe/Rome"}, "timezone"),
            ({"token_placement": "cookie"}, "token_placement"),
        ],
    )
    def test_constructor_refusals(self, kwargs: dict[str, object], field: str) -> None:
        """token=123 and max_recipients="10" are ValidationErrors naming the field."""
        with pytest.raises(ValidationError) as info:
            LegallyMailClient(**{"token": "t", **kwargs})  # type: ignore[arg-type]
        assert info.value.field == field
        assert info.value.provider == "legallymail"
