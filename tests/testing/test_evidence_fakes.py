"""The fakes produce delivery evidence: every PEC receipt kind, LegallyMail PDFs, callbacks."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from certmail_async import (
    CallbackEvent,
    DeliveryState,
    LegallyMailState,
    MailboxEvent,
    MailboxState,
    ReceiptKind,
    Signer,
    UnknownCallbackEvent,
)
from certmail_async.openapi_pec import Callback, CallbackMethod, callback_handler
from certmail_async.receipts import EvidenceSource, delivery_report, legallymail_outcomes, parse_eml
from certmail_async.testing import (
    FakeLegallyMail,
    FakeOpenapiPec,
    FakePecMassiva,
    minimal_pdf,
    run_fake,
)
from tests.openapi_pec.conftest import PDF, reg

pytestmark = pytest.mark.timeout(30)


class Clock:
    """A fake's clock that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


BEHAVIOURS: dict[str, tuple[DeliveryState, set[ReceiptKind]]] = {
    "delivered": (DeliveryState.DELIVERED, {ReceiptKind.DELIVERY}),
    "not-delivered": (DeliveryState.NOT_DELIVERED, {ReceiptKind.NON_DELIVERY}),
    "virus": (DeliveryState.NOT_DELIVERED, {ReceiptKind.NON_DELIVERY}),
    "virus-detected": (DeliveryState.FAILED, {ReceiptKind.VIRUS_DETECTION}),
    "delayed": (DeliveryState.DELIVERED, {ReceiptKind.DELIVERY_WARNING, ReceiptKind.DELIVERY}),
    "timed-out": (DeliveryState.NOT_DELIVERED, {ReceiptKind.DELIVERY_WARNING}),
    "taken-in-charge": (
        DeliveryState.DELIVERED,
        {ReceiptKind.TAKEN_IN_CHARGE, ReceiptKind.DELIVERY},
    ),
    "silent": (DeliveryState.PENDING, set()),
}


def address(behaviour: str) -> str:
    return f"{behaviour}@pec.example.it"


@pytest.fixture
async def pec() -> AsyncIterator[Any]:
    clock = Clock()
    fake = FakePecMassiva(send_rate=None, deliver_delay=10.0, warning_delay=100.0)
    fake.clock = clock
    for name in BEHAVIOURS:
        fake.outcomes[address(name)] = name  # type: ignore[assignment]
    async with run_fake(fake) as running:
        yield running, clock


class TestPecMassivaBehaviours:
    async def test_every_behaviour_reaches_its_final_state(self, pec: Any) -> None:
        """One send to eight addresses: each ends in the state its behaviour promises."""
        running, clock = pec
        rcpts = [address(n) for n in BEHAVIOURS]
        async with running.client() as client:
            sent = await client.sends.create(recipients=rcpts, subject="Avviso", body="Testo")
            clock.now += 1000
            summary = await client.sends.receipts(sent.code)
        report = summary.report(recipients=rcpts)
        for name, (state, kinds) in BEHAVIOURS.items():
            outcome = report[address(name)]
            assert outcome.state is state, name
            own = {r.kind for r in outcome.receipts} - {ReceiptKind.ACCEPTANCE}
            assert own == kinds, name
        assert report[address("timed-out")].rule == "second time-limit notice"
        assert report.unassigned == ()

    async def test_warning_then_delivery_over_time(self, pec: Any) -> None:
        """'delayed': pending, then pending with a warning, then delivered."""
        running, clock = pec
        rcpt = address("delayed")
        async with running.client() as client:
            sent = await client.sends.create(recipients=[rcpt], subject="Avviso", body="Testo")
            states = []
            for step in (0, 10, 100):
                clock.now += step
                summary = await client.sends.receipts(sent.code)
                states.append(summary.report(recipients=[rcpt])[rcpt].state)
        assert states == [DeliveryState.PENDING, DeliveryState.DELAYED, DeliveryState.DELIVERED]

    @pytest.mark.parametrize("refusal", ["non-acceptance", "non-acceptance-virus"])
    async def test_non_acceptance_refuses_the_whole_message(self, pec: Any, refusal: str) -> None:
        """One refused address: one non-acceptance notice, nobody is sent anything."""
        running, clock = pec
        running.state.outcomes["bad@pec.example.it"] = refusal
        rcpts = ["bad@pec.example.it", address("delivered")]
        async with running.client() as client:
            sent = await client.sends.create(recipients=rcpts, subject="Avviso", body="Testo")
            clock.now += 1000
            summary = await client.sends.receipts(sent.code)
        assert [r.kind for r in summary.receipts] == [ReceiptKind.NON_ACCEPTANCE]
        prefix = "AVVISO DI NON ACCETTAZIONE PER VIRUS:" if "virus" in refusal else "AVVISO DI"
        assert summary.receipts[0].subject.startswith(prefix)
        report = summary.report(recipients=rcpts)
        assert {o.state for o in report.recipients} == {DeliveryState.NEVER_SENT}

    async def test_undeliverable_set_still_works(self, pec: Any) -> None:
        """The older ``undeliverable`` set keeps giving a non-delivery notice."""
        running, _clock = pec
        running.state.undeliverable.add("ghost@pec.example.it")
        assert running.state.behaviour("GHOST@pec.example.it") == "not-delivered"

    def test_unknown_behaviour_is_refused(self) -> None:
        """A typo in a behaviour name fails at construction, not silently later."""
        with pytest.raises(ValueError, match="unknown behaviour"):
            FakePecMassiva(outcomes={"a@pec.example.it": "deliverd"})  # type: ignore[dict-item]

    async def test_inbox_lists_in_arrival_order(self, pec: Any) -> None:
        """A delivery due later is listed after messages that arrived before it."""
        running, clock = pec
        async with running.client() as client:
            first = await client.sends.create(
                recipients=[address("delivered")], subject="Primo", body="Testo"
            )
            clock.now += 5
            second = await client.sends.create(
                recipients=[address("delivered")], subject="Secondo", body="Testo"
            )
            clock.now += 20
            subjects = [m.subject async for m in client.inbox.list()]
        assert subjects == [
            f"ACCETTAZIONE: Primo {first.code}",
            f"ACCETTAZIONE: Secondo {second.code}",
            f"CONSEGNA: Primo {first.code}",
            f"CONSEGNA: Secondo {second.code}",
        ]


class TestPecMassivaEml:
    async def test_every_message_has_a_matching_signed_eml(self, pec: Any) -> None:
        """fake.eml(id) parses to the same kind, from daticert.xml, naming the recipient."""
        running, clock = pec
        rcpts = [address(n) for n in BEHAVIOURS]
        async with running.client() as client:
            sent = await client.sends.create(recipients=rcpts, subject="Avviso", body="Testo")
            clock.now += 1000
            listed = [m async for m in client.inbox.list()]
            summary = await client.sends.receipts(sent.code)
        parsed = [parse_eml(running.state.eml(m.id)) for m in listed]
        # The subject cannot tell the final time-limit notice from the 12-hour warning
        # (pec-receipts.md 2); daticert.xml can: exactly one message differs, that way.
        differ = [(m.kind, p.kind) for m, p in zip(listed, parsed, strict=True) if m.kind != p.kind]
        assert differ == [(ReceiptKind.DELIVERY_WARNING, ReceiptKind.NON_DELIVERY)]
        assert {p.evidence for p in parsed} == {EvidenceSource.DATICERT}
        for message in parsed:
            if message.kind is not ReceiptKind.ACCEPTANCE:
                assert message.delivery_address in rcpts
            assert message.subject is not None
            assert message.subject.endswith(sent.code)
        strong = delivery_report(parsed, recipients=rcpts).states
        weak = summary.report(recipients=rcpts).states
        assert strong == weak

    def test_ordinary_message_eml(self) -> None:
        """A message put in the INBOX by hand is an anomaly envelope, still parseable."""
        fake = FakePecMassiva()
        item = fake.add_inbox_message(subject="ANOMALIA MESSAGGIO: ciao")
        assert parse_eml(fake.eml(item.id)).kind is ReceiptKind.ANOMALY_ENVELOPE
        with pytest.raises(KeyError):
            fake.eml(999)


def _xref_ok(pdf: bytes) -> bool:
    start = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert pdf[start:].startswith(b"xref\n")
    rows = re.findall(rb"(\d{10}) 00000 n ", pdf[start:])
    return all(
        pdf[int(offset) :].startswith(str(n).encode() + b" 0 obj")
        for n, offset in enumerate(rows, start=1)
    )


class TestMinimalPdf:
    def test_valid_structure_and_stable_bytes(self) -> None:
        """Header, trailer and every cross-reference offset are right; equal input, equal bytes."""
        pdf = minimal_pdf(["Certificato (prova) \\ ok", "àèì"])
        assert pdf.startswith(b"%PDF-1.4\n")
        assert pdf.endswith(b"%%EOF\n")
        assert _xref_ok(pdf)
        assert pdf == minimal_pdf(["Certificato (prova) \\ ok", "àèì"])
        assert pdf != minimal_pdf(["other"])


@pytest.fixture
async def lm() -> AsyncIterator[Any]:
    clock = Clock()
    fake = FakeLegallyMail(rate=None, deliver_delay=10.0, read_delay=50.0)
    fake.clock = clock
    fake.outcomes.update(
        {
            "reader@example.com": "read",
            "unread@example.com": "unread",
            "lost@example.com": "undelivered",
            "bounce@example.com": "bounce",
        }
    )
    async with run_fake(fake) as running:
        yield running, clock


LM_RCPTS = [
    "reader@example.com",
    "unread@example.com",
    "lost@example.com",
    "bounce@example.com",
    "plain@example.com",
]


def states(detail: Any) -> dict[str, LegallyMailState]:
    return {o.address: o.state for o in legallymail_outcomes(detail)}


async def download(url: str, token: str | None) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        answer = await session.get(url, headers=headers, allow_redirects=False)
        await answer.read()
        return answer


class TestLegallyMailEvidence:
    async def test_per_address_outcomes_and_read_events(self, lm: Any) -> None:
        """read / unread / undelivered / bounce per address; others follow read_delay."""
        running, clock = lm
        async with running.client() as client:
            out = await client.emails.send(
                recipients=LM_RCPTS, subject="Contratto", html="<p>x</p>"
            )
            clock.now += 20
            early = states(await client.emails.retrieve(out.tracking_id))
            clock.now += 100
            late = states(await client.emails.retrieve(out.tracking_id))
        assert early == {
            "reader@example.com": LegallyMailState.DELIVERED,
            "unread@example.com": LegallyMailState.DELIVERED,
            "lost@example.com": LegallyMailState.SENT,
            "bounce@example.com": LegallyMailState.FAILED,
            "plain@example.com": LegallyMailState.DELIVERED,
        }
        assert late["reader@example.com"] is LegallyMailState.READ
        assert late["plain@example.com"] is LegallyMailState.READ
        assert late["unread@example.com"] is LegallyMailState.DELIVERED
        assert late["lost@example.com"] is LegallyMailState.SENT

    async def test_certificate_pdfs_are_served_with_their_hash(self, lm: Any) -> None:
        """Each certificate's URL points at the fake and serves a PDF whose SHA-256 is file_hash."""
        running, clock = lm
        async with running.client() as client:
            out = await client.emails.send(
                recipients=["reader@example.com"], subject="Contratto", html="<p>x</p>"
            )
            clock.now += 100
            (outcome,) = legallymail_outcomes(await client.emails.retrieve(out.tracking_id))
        kinds = sorted(c.certificate_type for c in outcome.certificates)
        assert kinds == ["delivered", "read"]
        for cert in outcome.certificates:
            assert cert.pdf_download_url is not None
            assert cert.pdf_download_url.startswith(running.url + "/emails/download-certificate")
            answer = await download(cert.pdf_download_url, running.state.token)
            body = await answer.read()
            assert answer.status == 200
            assert answer.content_type == "application/pdf"
            assert body.startswith(b"%PDF-")
            assert _xref_ok(body)
            assert hashlib.sha256(body).hexdigest() == cert.file_hash
        assert len(running.state.downloads) == 2

    async def test_documents_need_the_token(self, lm: Any) -> None:
        """Without the token: 401; unknown id: 404; nothing counted as downloaded."""
        running, clock = lm
        async with running.client() as client:
            out = await client.emails.send(
                recipients=["plain@example.com"], subject="Contratto", html="<p>x</p>"
            )
        rcpt = out.recipients[0].tracking_id
        url = f"{running.url}/emails/download-certificate?id={rcpt}&status=delivered"
        assert (await download(url, None)).status == 401
        assert (await download(url, running.state.token)).status == 404  # not delivered yet
        clock.now += 20
        assert (await download(url, running.state.token)).status == 200
        assert running.state.downloads == [("/emails/download-certificate", f"{rcpt}-delivered")]

    @pytest.mark.parametrize(
        ("access", "status", "content_type"),
        [("login-redirect", 302, None), ("login-page", 200, "text/html")],
    )
    async def test_web_application_login_modes(
        self, lm: Any, access: str, status: int, content_type: str | None
    ) -> None:
        """As a web app wanting a browser login: a redirect, or an HTML page (never a PDF)."""
        running, _clock = lm
        running.state.document_access = access
        url = f"{running.url}/emails/download-certificate?id=x&status=read"
        answer = await download(url, running.state.token)
        assert answer.status == status
        if content_type:
            assert answer.content_type == content_type
        else:
            assert answer.headers["Location"] == "/login"

    async def test_signature_original_and_record(self, lm: Any) -> None:
        """The original is the uploaded PDF; the record (acta) and its URL exist once signed."""
        running, clock = lm
        running.state.sign_delay = 30.0
        document = minimal_pdf(["Contratto"])
        async with running.client() as client:
            asked = await client.signatures.request(
                signers=Signer(name="Anna Bianchi", email="anna@example.com"),
                document=document,
                document_name="Contratto.pdf",
            )
            pending = await client.signatures.retrieve(asked.uuid)
            clock.now += 31
            signed = await client.signatures.retrieve(asked.uuid)
        assert pending.download_original_url is not None
        assert pending.download_acta_url is None
        assert signed.download_acta_url is not None
        assert signed.download_acta_url.startswith(running.url + "/dashboard/")
        token = running.state.token
        original = await download(pending.download_original_url, token)
        assert await original.read() == document
        acta = await download(signed.download_acta_url, token)
        assert acta.status == 200
        assert (await acta.read()).startswith(b"%PDF-")
        clock.now -= 31  # before the signature the record route has nothing
        assert (await download(signed.download_acta_url, token)).status == 404


@pytest.fixture
async def receiver(aiohttp_client: Any) -> Any:
    """A local aiohttp app receiving callbacks with the SDK's own handler."""
    events: list[CallbackEvent] = []
    answers: list[int] = []
    app = web.Application()

    async def flaky(request: web.Request) -> web.Response:
        answers.append(len(answers))
        return web.Response(status=503 if len(answers) < 3 else 200)

    app.router.add_route("*", "/cb", callback_handler(events.append, secret="s3cret-9f2c-long"))
    app.router.add_post("/flaky", flaky)
    http = await aiohttp_client(app)
    base = f"http://127.0.0.1:{http.port}"
    return base, events, answers


class TestOpenapiCallbacks:
    @pytest.mark.parametrize("method", [CallbackMethod.POST, CallbackMethod.JSON])
    async def test_state_changes_are_posted(self, receiver: Any, method: CallbackMethod) -> None:
        """Activation and approval each post the updated mailbox, verified by the URL secret."""
        base, events, _ = receiver
        fake = FakeOpenapiPec(sandbox=True, approve_delay=10.0)
        clock = Clock()
        fake.clock = clock
        hook = Callback(url=f"{base}/cb?secret=s3cret-9f2c-long", method=method)
        async with run_fake(fake) as running, running.client() as client:
            box = await client.mailboxes.register(registration=reg(callback=hook))
            await client.mailboxes.activate(box.id, documents=[PDF])
            await fake.callbacks_idle()
            clock.now += 11
            assert await fake.advance() == 1
            await fake.callbacks_idle()
        states = [e.state for e in events if isinstance(e, MailboxEvent)]
        assert states == [MailboxState("in_evasione"), MailboxState("evasa")]
        assert all(e.verified for e in events)
        assert [d.status for d in fake.callback_deliveries] == [200, 200]
        expected = "JSON" if method is CallbackMethod.JSON else "POST"
        assert {d.method for d in fake.callback_deliveries} == {expected}

    async def test_echoed_data_carries_the_secret(self, receiver: Any) -> None:
        """A secret in the callback's data (not the URL) is echoed back and verified."""
        base, events, _ = receiver
        fake = FakeOpenapiPec(sandbox=True)
        hook = Callback(url=f"{base}/cb", data={"secret": "s3cret-9f2c-long", "job": "7"})
        async with run_fake(fake) as running, running.client() as client:
            box = await client.mailboxes.register(registration=reg(callback=hook))
            await client.mailboxes.activate(box.id, documents=[PDF])
            await fake.callbacks_idle()
        (event,) = events
        assert isinstance(event, MailboxEvent)
        assert event.data == {"job": "7"}

    async def test_auto_advance_posts_without_any_read(self, receiver: Any) -> None:
        """With auto_advance, approval is posted though nobody reads the mailbox."""
        base, events, _ = receiver
        fake = FakeOpenapiPec(sandbox=True, approve_delay=0.0, auto_advance=0.01)
        hook = Callback(url=f"{base}/cb?secret=s3cret-9f2c-long")
        async with run_fake(fake) as running, running.client() as client:
            box = await client.mailboxes.register(registration=reg(callback=hook))
            await client.mailboxes.activate(box.id, documents=[PDF])
            for _ in range(200):
                if len(fake.callback_deliveries) >= 2:
                    break
                await fake.callbacks_idle()
                await asyncio.sleep(0.01)
        states = [e.state.value for e in events if isinstance(e, MailboxEvent)]
        assert states[-1] == "evasa"

    async def test_retries_temporary_failures(self, receiver: Any) -> None:
        """503 twice, then 200: three attempts recorded with callback_retries=3."""
        base, _, answers = receiver
        fake = FakeOpenapiPec(callback_retries=3)
        last = await fake.post_callback(f"{base}/flaky", {"odd": 1})
        assert last.ok
        assert last.attempt == 3
        assert [d.status for d in fake.callback_deliveries] == [503, 503, 200]
        assert len(answers) == 3

    async def test_any_payload_can_be_posted(self, receiver: Any) -> None:
        """post_callback sends shapes the API never documented: the receiver keeps them raw."""
        base, events, _ = receiver
        fake = FakeOpenapiPec()
        await fake.post_callback(f"{base}/cb?secret=s3cret-9f2c-long", {"odd": [1, 2]})
        (event,) = events
        assert isinstance(event, UnknownCallbackEvent)
        assert event.payload == {"odd": [1, 2]}

    async def test_only_loopback_urls_are_called(self) -> None:
        """A non-loopback URL is refused and recorded, never contacted."""
        fake = FakeOpenapiPec()
        record = await fake.post_callback("https://example.com/cb", {"x": 1})
        assert record.status is None
        assert record.error is not None
        assert "loopback" in record.error
        assert attrs.asdict(record)["url"] == "https://example.com/cb"
