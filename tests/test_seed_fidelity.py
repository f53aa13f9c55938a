"""The vendor pages' own samples (shared/seeds, shared/reference) through the clients and fakes.

Each sample below is copied from the vendor documentation page named beside it. Response
samples are served by the SDK's own fake (through its fault plan, which answers a route with a
given body), so they go through the whole client: transport, envelope, converter, model.
Placeholders in a sample (``34xxxxxx18``, ``RSSXXXXXXXX56E``) are replaced by valid values, and
the test says so.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from certmail_async import (
    CommunicationRole,
    CustomerType,
    IdDocument,
    IdDocumentType,
    LegallyMailClient,
    MailboxRegistration,
    MailboxType,
    OpenapiPecClient,
    PecMassivaClient,
    RegistryCommunicationRequest,
    ResponseDecodeError,
    RetryPolicy,
    Sex,
)
from certmail_async._transport import Response
from certmail_async.legallymail._wire import OPS as LM_OPS
from certmail_async.legallymail._wire import LegallyMailWire
from certmail_async.openapi_pec._wire import OPS as OA_OPS
from certmail_async.openapi_pec._wire import OpenapiWire
from certmail_async.pecmassiva._wire import OPS as PM_OPS
from certmail_async.pecmassiva._wire import PecMassivaWire
from certmail_async.testing import RunningFake, run_fake

NO_WAIT = RetryPolicy(base=0.0)

# seeds/000 (openapi.it PEC page), "Availability of a certified e-mail box", 200 sample.
AVAILABILITY_SAMPLE = {"data": {}, "success": True, "message": "", "error": None}
# seeds/002 (PEC Massiva page), GET /quota/{mailbox} 200 sample.
QUOTA_SAMPLE = {"data": {"usage": 171012, "limit": 1048576}, "success": True, "message": ""}
# seeds/002, POST /send 201 sample.
SEND_SAMPLE = {"success": True, "sent": 1, "message": "", "message_id": "2020082610003492"}
# seeds/004 (LegallyMail page), GET /api/emails "Risposta riuscita".
EMAILS_SAMPLE: dict[str, Any] = {
    "success": True,
    "count": 2,
    "limit": 10,
    "max_limit": 25,
    "emails": [
        {
            "id": 123,
            "tracking_id": "cm_abc123",
            "recipient": "example@example.com",
            "subject": "Test Email",
            "status": "read",
            "sent_at": "2024-01-15 10:30:00",
            "read_at": "2024-01-15 11:00:00",
            "created_at": "2024-01-15 10:30:00",
            "mailsender_id": "mail_xyz789",
            "is_multi_recipient": False,
            "recipient_count": 1,
            "error_status": None,
        },
        {
            "id": 122,
            "tracking_id": "cm_def456",
            "recipient": "Multiple Recipients",
            "subject": "Group Email",
            "status": "pending",
            "sent_at": "2024-01-14 15:20:00",
            "read_at": None,
            "created_at": "2024-01-14 15:20:00",
            "mailsender_id": "mail_uvw012",
            "is_multi_recipient": True,
            "recipient_count": 5,
            "error_status": "Soft Bounce",
        },
    ],
}
# seeds/000, "Communicate a certified e-mail" request sample (the page's field set).
COMMUNICATION_SAMPLE = {
    "casella_pec": "mypec@pec.com",
    "titolare_casella": "mario rossi",
    "email": "mail@domain.com",
    "cellulare": "34xxxxxx18",
    "ragione_sociale": "azienda test",
    "cf_piva": "12345678910",
    "comune": "roma",
    "provincia": "RM",
}
# seeds/000, "Register a new certified mailbox" request sample.
REGISTRATION_SAMPLE = {
    "casella_pec": "yourpec@testcert.legalmail.it",
    "tipo_casella": "bronze",
    "tipo_cliente": "PV",
    "sottotipo_cliente": "",
    "sottotipo_cliente_altro": "",
    "nome_richiedente": "mario",
    "cognome_richiedente": "rossi",
    "email": "mail@domain.com",
    "telefono": "0548798569",
    "codice_fiscale_richiedente": "RSSXXXXXXXX56E",
    "data_nascita_richiedente": "11/04/1982",
    "sesso_richiedente": "M",
    "nazione_nascita_richiedente": "it",
    "provincia_nascita_richiedente": "RM",
    "denominazione_titolare": "",
    "cf_piva_titolare": "",
    "indirizzo_titolare": "via verdi 20",
    "comune_titolare": "roma",
    "cap_titolare": "00042",
    "nazione_titolare": "it",
    "provincia_titolare": "rm",
    "callback": {},
}
VALID_TAX_CODE = "RSSMRA82D11H501D"  # stands in for the sample's "RSSXXXXXXXX56E"


def resp(body: Any, status: int = 200) -> Response:
    return Response(
        status=status,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
    )


@pytest.fixture
async def pm() -> AsyncIterator[tuple[RunningFake, PecMassivaClient]]:
    """A PEC Massiva fake without a cap and an unpaced client (no waiting in these tests)."""
    async with (
        run_fake("pecmassiva", send_rate=None) as fake,
        fake.client(rate_limit=None, retry_policy=NO_WAIT) as client,
    ):
        yield fake, client


@pytest.fixture
async def lm() -> AsyncIterator[tuple[RunningFake, LegallyMailClient]]:
    """A LegallyMail fake without a cap and an unpaced client."""
    async with (
        run_fake("legallymail", rate=None) as fake,
        fake.client(rate_limit=None, retry_policy=NO_WAIT) as client,
    ):
        yield fake, client


@pytest.fixture
async def oa() -> AsyncIterator[tuple[RunningFake, OpenapiPecClient]]:
    """A sandbox openapi.it PEC fake and a client holding every PEC scope."""
    async with (
        run_fake("openapi_pec", sandbox=True) as fake,
        fake.client(retry_policy=NO_WAIT) as client,
    ):
        yield fake, client


class TestAvailability:
    async def test_seed_sample_is_unknown_not_an_error(
        self, oa: tuple[RunningFake, OpenapiPecClient]
    ) -> None:
        """The page's literal answer (data: {}) decodes as None (unknown), not ResponseDecodeError."""
        fake, client = oa
        fake.state.faults.inject(
            "GET", "/verifica_pec/{address}", status=200, body=AVAILABILITY_SAMPLE
        )
        assert await client.mailboxes.availability("prova_pec@legalmail.it") is None
        # The fake's own answer still says True or False.
        assert await client.mailboxes.availability("prova_pec@legalmail.it") is True

    def test_seed_sample_strict(self) -> None:
        """The strict converter (drift detector) accepts the sample too."""
        op = OA_OPS.AVAILABILITY
        assert OpenapiWire(strict=True).availability(resp(AVAILABILITY_SAMPLE), op) is None

    async def test_non_boolean_still_refused(
        self, oa: tuple[RunningFake, OpenapiPecClient]
    ) -> None:
        """A present but non-boolean 'available' is still a decode error (not guessed)."""
        fake, client = oa
        body = {**AVAILABILITY_SAMPLE, "data": {"available": "yes"}}
        fake.state.faults.inject("GET", "/verifica_pec/{address}", status=200, body=body)
        with pytest.raises(ResponseDecodeError):
            await client.mailboxes.availability("prova_pec@legalmail.it")


class TestPecMassivaIntegers:
    async def test_quota_seed_sample(self, pm: tuple[RunningFake, PecMassivaClient]) -> None:
        """The page's quota sample decodes to its raw numbers through client and fake."""
        fake, client = pm
        fake.state.faults.inject("GET", "/quota/{mailbox}", status=200, body=QUOTA_SAMPLE)
        quota = await client.quota.retrieve()
        assert (quota.usage, quota.limit) == (171012, 1048576)

    @pytest.mark.parametrize("usage", [True, False, 171012.5, "lots"])
    async def test_quota_refuses_booleans_and_fractions(
        self, pm: tuple[RunningFake, PecMassivaClient], usage: object
    ) -> None:
        """usage: true (once decoded as 1) and 171012.5 (once 171012) are ResponseDecodeError."""
        fake, client = pm
        body = {**QUOTA_SAMPLE, "data": {"usage": usage, "limit": 1048576}}
        fake.state.faults.inject("GET", "/quota/{mailbox}", status=200, body=body)
        with pytest.raises(ResponseDecodeError, match="usage"):
            await client.quota.retrieve()

    @pytest.mark.parametrize("strict", [True, False])
    def test_hook_applies_in_both_converters(self, strict: bool) -> None:
        """The refusing int hook is in the model decoders of the strict and lenient converters."""
        wire = PecMassivaWire(strict=strict)
        bad_page = {
            "data": [],
            "success": True,
            "message": "",
            "page": 1,
            "total": True,
            "n_of_pages": 1,
        }
        with pytest.raises(ResponseDecodeError, match="total"):
            wire.inbox_page(resp(bad_page), PM_OPS.INBOX_LIST)
        assert (
            wire.quota(
                resp({**QUOTA_SAMPLE, "data": {"usage": 1.0, "limit": "5"}}), PM_OPS.QUOTA
            ).usage
            == 1
        )


class TestSendResultMessage:
    async def test_seed_sample_keeps_message(
        self, pm: tuple[RunningFake, PecMassivaClient]
    ) -> None:
        """POST /send's 201 sample keeps 'message' (the provider's own words) on SendResult."""
        fake, client = pm
        worded = {**SEND_SAMPLE, "message": "Invio effettuato"}
        fake.state.faults.inject("POST", "/send", status=201, body=worded)
        sent = await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
        assert (sent.code, sent.sent, sent.message) == ("2020082610003492", 1, "Invio effettuato")

    async def test_fake_answer(self, pm: tuple[RunningFake, PecMassivaClient]) -> None:
        """The fake's own 201 keeps its empty message too."""
        _fake, client = pm
        sent = await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
        assert sent.message == ""

    def test_strict(self) -> None:
        """The strict converter decodes the sample with message (nothing dropped, nothing extra)."""
        sent = PecMassivaWire(strict=True).send_result(resp(SEND_SAMPLE, 201), PM_OPS.SEND)
        assert (sent.code, sent.sent, sent.message) == ("2020082610003492", 1, "")


class TestEmailsList:
    async def test_seed_sample_keeps_counts(
        self, lm: tuple[RunningFake, LegallyMailClient]
    ) -> None:
        """emails.list keeps count, limit and max_limit of the page's sample, and its two e-mails."""
        fake, client = lm
        fake.state.faults.inject("GET", "/api/emails", status=200, body=EMAILS_SAMPLE)
        listed = await client.emails.list(limit=10)
        assert (listed.count, listed.limit, listed.max_limit) == (2, 10, 25)
        assert [e.tracking_id for e in listed] == ["cm_abc123", "cm_def456"]
        assert len(listed) == 2
        assert listed[1].error_status == "Soft Bounce"

    async def test_fake_answer(self, lm: tuple[RunningFake, LegallyMailClient]) -> None:
        """The fake's own list answer keeps the counts as well."""
        _fake, client = lm
        await client.emails.send(recipients=["a@example.com"], subject="s", html="h")
        listed = await client.emails.list(limit=5)
        assert (listed.count, listed.limit, listed.max_limit) == (1, 5, 25)

    def test_strict(self) -> None:
        """The strict converter decodes the sample into EmailList without dropping a key."""
        listed = LegallyMailWire(strict=True).emails(resp(EMAILS_SAMPLE), LM_OPS.EMAILS)
        assert (listed.count, listed.limit, listed.max_limit, len(listed)) == (2, 10, 25, 2)


class TestCommunicationHolder:
    def _request(self, **changes: Any) -> RegistryCommunicationRequest:
        s = COMMUNICATION_SAMPLE
        values: dict[str, Any] = {
            "address": s["casella_pec"],
            "email": s["email"],
            "mobile": "3401234518",  # stands in for the sample's placeholder "34xxxxxx18"
            "company_name": s["ragione_sociale"],
            "company_tax_id": s["cf_piva"],
            "city": s["comune"],
            "province": s["provincia"],
            # The OAS's required fields, which the page's sample does not carry.
            "first_name": "Mario",
            "last_name": "Rossi",
            "tax_code": VALID_TAX_CODE,
            "role": CommunicationRole.LEGAL_REPRESENTATIVE,
        }
        values.update(changes)
        return RegistryCommunicationRequest(**values)

    async def test_seed_holder_reaches_the_fake(
        self, oa: tuple[RunningFake, OpenapiPecClient]
    ) -> None:
        """POST /comunica_pec sends the page's required titolare_casella as given, and reads it back."""
        fake, client = oa
        comm = await client.registry_communications.create(
            request=self._request(holder=COMMUNICATION_SAMPLE["titolare_casella"])
        )
        assert fake.state.communications[comm.id]["titolare_casella"] == "mario rossi"
        assert comm.holder == "mario rossi"
        assert (comm.city, comm.province, comm.mobile) == ("roma", "RM", "3401234518")
        assert comm.role is CommunicationRole.LEGAL_REPRESENTATIVE

    async def test_default_holder_from_names(
        self, oa: tuple[RunningFake, OpenapiPecClient]
    ) -> None:
        """Without holder= the SDK still sends titolare_casella, built from the names."""
        fake, client = oa
        comm = await client.registry_communications.create(request=self._request())
        assert fake.state.communications[comm.id]["titolare_casella"] == "Mario Rossi"

    def test_holder_is_validated(self) -> None:
        """A holder with a line break is a ValidationError naming the field, before any request."""
        from certmail_async import ValidationError

        with pytest.raises(ValidationError) as info:
            self._request(holder="mario\r\nrossi")
        assert info.value.field == "holder"

    def test_strict_echo(self) -> None:
        """The strict converter models every echoed request field (none dropped as drift)."""
        echo = {
            **{k: v for k, v in COMMUNICATION_SAMPLE.items()},
            "nome": "mario", "cognome": "rossi", "cf": VALID_TAX_CODE,
            "qualifica": "LEGALE_RAPPRESENTANTE", "id": "60ad149c3a7168084f1d2b68",
            "stato": "codice_in_richiesta", "codice_registro_imprese": None,
            "documenti_registro_imprese": [], "owner": "me@example.com", "timestamp": 1622000000,
            "callback": False,
        }  # fmt: skip
        body = {"data": echo, "success": True, "message": "", "error": None}
        comm = OpenapiWire(strict=True).communication(resp(body), OA_OPS.COMM_RETRIEVE)
        assert (comm.holder, comm.first_name, comm.tax_code) == (
            "mario rossi",
            "mario",
            VALID_TAX_CODE,
        )


class TestMailboxEcho:
    async def test_registration_sample_echo(self, oa: tuple[RunningFake, OpenapiPecClient]) -> None:
        """The page's registration sample comes back with its echo modelled (phone, birth, holder)."""
        fake, client = oa
        s = REGISTRATION_SAMPLE
        registration = MailboxRegistration(
            address=s["casella_pec"],
            mailbox_type=MailboxType(s["tipo_casella"]),  # "bronze": upper-cased by the enum
            customer_type=CustomerType(s["tipo_cliente"]),
            first_name=s["nome_richiedente"],
            last_name=s["cognome_richiedente"],
            email=s["email"],
            phone=s["telefono"],
            tax_code=VALID_TAX_CODE,
            birth_date=date(1982, 4, 11),
            sex=Sex(s["sesso_richiedente"]),
            birth_country=s["nazione_nascita_richiedente"],
            birth_province=s["provincia_nascita_richiedente"],
            holder_address=s["indirizzo_titolare"],
            holder_city=s["comune_titolare"],
            holder_postal_code=s["cap_titolare"],
            holder_country=s["nazione_titolare"],
            holder_province=s["provincia_titolare"],
            id_document=IdDocument(
                type=IdDocumentType.IDENTITY_CARD, number="CA12345AB", issued_by="Comune di Roma",
                issued_on=date(2020, 1, 1), expires_on=date(2030, 1, 1),
            ),
        )  # fmt: skip
        box = await client.mailboxes.register(registration=registration)
        again = await client.mailboxes.retrieve(box.id)
        for got in (box, again):
            assert got.phone == "0548798569"
            assert got.applicant_birth_date == date(1982, 4, 11)
            assert got.applicant_sex is Sex.MALE
            assert got.holder_postal_code == "00042"
            assert got.id_document_type is IdDocumentType.IDENTITY_CARD
            assert got.id_document_expires_on == date(2030, 1, 1)
        # Every key the fake stores decodes strictly: nothing of a Casella is dropped.
        raw = {"data": fake.state.mailboxes[box.id], "success": True, "message": "", "error": None}
        strict = OpenapiWire(strict=True).mailbox(resp(raw), OA_OPS.RETRIEVE)
        assert strict.applicant_tax_code == VALID_TAX_CODE

    def test_empty_codes_are_none(self) -> None:
        """The sample's "" subtype decodes as None, not as an unknown pseudo-member."""
        data = {
            "id": "6040e4613a716838dc4eee0e", "casella_pec": "yourpec@testcert.legalmail.it",
            "stato": "registrata", "sottotipo_cliente": "", "sottotipo_cliente_altro": "",
            "denominazione_titolare": "", "data_scadenza": "",
        }  # fmt: skip
        body = {"data": data, "success": True, "message": "", "error": None}
        box = OpenapiWire(strict=True).mailbox(resp(body), OA_OPS.RETRIEVE)
        assert box.customer_subtype is None
        assert (box.customer_subtype_other, box.holder_name) == ("", "")
