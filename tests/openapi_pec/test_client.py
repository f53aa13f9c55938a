"""OpenapiPecClient against the fake: every operation and every documented error."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from certmail_async import (
    AuthenticationError,
    BadRequestError,
    CommunicationState,
    ConflictError,
    CustomerSubtype,
    CustomerType,
    MailboxState,
    MailboxType,
    NotFoundError,
    OpenapiPecClient,
    PaymentRequiredError,
    PermissionDeniedError,
    ResponseDecodeError,
    ServerError,
    ValidationError,
)
from certmail_async.testing import RunningFake
from tests.forced import forced
from tests.openapi_pec.conftest import COMM, P7M, PDF, active_box, reg, wait_state

HEX = "0123456789abcdef01234567"

pytestmark = pytest.mark.timeout(30)


class TestEndToEnd:
    async def test_register_activate_upgrade_renew_revoke(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A mailbox goes registrata -> in_evasione -> evasa, is upgraded, renewed and revoked."""
        box = await client.mailboxes.register(registration=reg())
        assert box.state is MailboxState.REGISTERED
        assert box.mailbox_type is MailboxType.BRONZE
        assert box.events.registered is not None
        form = await client.forms.activation(box.id)
        assert form.startswith(b"%PDF")
        box = await client.mailboxes.activate(box, documents=[form, PDF])
        assert box.state is MailboxState.PROCESSING
        box = await wait_state(client, box, MailboxState.ACTIVE)
        assert box.disk_mb == 1024
        assert box.activation_date is not None
        assert box.expiry_date is not None
        first_expiry = box.expiry_date
        box = await client.mailboxes.upgrade(box, mailbox_type=MailboxType.GOLD)
        assert box.mailbox_type is MailboxType.GOLD
        box = await client.mailboxes.renew(box, years=2)
        assert box.expiry_date is not None
        assert (box.expiry_date - first_expiry).days >= 729
        box = await client.mailboxes.revoke(box)
        assert box.state is MailboxState.REVOKED
        assert box.events.revoked is not None
        ops = [e.operation for e in fake.state.ledger]
        assert ops == [
            "mailboxes.register",
            "mailboxes.activate",
            "mailboxes.upgrade",
            "mailboxes.renew",
            "mailboxes.revoke",
        ]

    async def test_revoked_box_can_be_renewed(self, client: OpenapiPecClient) -> None:
        """rinnovo re-activates a revoked box."""
        box = await active_box(client)
        await client.mailboxes.revoke(box)
        box = await client.mailboxes.renew(box.id)
        assert box.state is MailboxState.ACTIVE


class TestReads:
    async def test_empty_lists_are_404_quirks(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """GET /pec 404/200 and GET /comunica_pec 404/332 are empty tuples, not errors."""
        assert await client.mailboxes.list() == ()
        assert await client.registry_communications.list() == ()
        assert fake.state.count("GET", "/pec", status=404) == 1

    async def test_other_404s_are_not_found(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A 404 with another code on a list is still NotFoundError."""
        fake.state.faults.inject(
            "GET",
            "/pec",
            status=404,
            body={"data": None, "success": False, "message": "x", "error": 999},
        )
        with pytest.raises(NotFoundError) as info:
            await client.mailboxes.list()
        assert info.value.code == 999

    async def test_list_and_retrieve(self, client: OpenapiPecClient) -> None:
        """list returns summaries; retrieve the full record."""
        box = await client.mailboxes.register(registration=reg())
        [summary] = await client.mailboxes.list()
        assert summary.id == box.id
        assert summary.state is MailboxState.REGISTERED
        again = await client.mailboxes.retrieve(summary)
        assert again.address == "provapec@testcert.legalmail.it"

    async def test_availability(self, client: OpenapiPecClient) -> None:
        """A registered address is no longer available."""
        assert await client.mailboxes.availability("provapec@testcert.legalmail.it") is True
        await client.mailboxes.register(registration=reg())
        assert await client.mailboxes.availability("provapec@testcert.legalmail.it") is False

    async def test_availability_error_form_means_false(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """An error whose message says 'not available' is read as False (PHP SDK behaviour)."""
        fake.state.faults.inject(
            "GET",
            "/verifica_pec/{address}",
            status=406,
            body={"data": None, "success": False, "message": "casella not available", "error": 208},
        )
        assert await client.mailboxes.availability("x@testcert.legalmail.it") is False

    async def test_domain_check_200_and_204(self, client: OpenapiPecClient) -> None:
        """A PEC domain answers 200 'found!'; any other 204 (pec_enabled False)."""
        found = await client.domains.check("legalmail.it")
        assert found.pec_enabled
        assert found.message == "legalmail.it found!"
        assert not (await client.domains.check("example.com")).pec_enabled


ERRORS = [
    # (label, setup-and-call, status, code, exception)
    ("domain not valid", "domain_bad", 406, 401, ConflictError),
    ("domain no credit", "domain_credit", 402, 403, PaymentRequiredError),
    ("register no credit", "register_credit", 402, 262, PaymentRequiredError),
    ("register foreign domain", "register_domain", 404, 326, NotFoundError),
    ("retrieve unknown", "retrieve_missing", 404, 202, NotFoundError),
    ("revoke not active", "revoke_inactive", 428, 304, ConflictError),
    ("revoke twice", "revoke_twice", 406, 303, ConflictError),
    ("activate wrong state", "activate_state", 428, 267, ConflictError),
    ("modifica multiples", "space_multiple", 406, 325, ConflictError),
    ("modifica storage first", "space_storage", 428, 282, ConflictError),
    ("modifica no credit", "space_credit", 402, 290, PaymentRequiredError),
    ("storage twice", "storage_twice", 406, 293, ConflictError),
    ("storage no credit", "storage_credit", 402, 297, PaymentRequiredError),
    ("upgrade not processed", "upgrade_state", 428, 272, ConflictError),
    ("upgrade no credit", "upgrade_credit", 402, 279, PaymentRequiredError),
    ("renew wrong state", "renew_state", 428, 203, ConflictError),
    ("user limit", "users_full", 406, 217, ConflictError),
    ("user no credit", "user_credit", 402, 220, PaymentRequiredError),
    ("user restricted box", "user_restricted", 428, 390, ConflictError),
    ("comm no credit", "comm_credit", 402, 351, PaymentRequiredError),
    ("comm retrieve missing", "comm_missing", 404, 334, NotFoundError),
    ("comm upload wrong state", "comm_state", 406, 355, ConflictError),
]


async def _provoke(case: str, fake: RunningFake, client: OpenapiPecClient) -> None:
    state = fake.state
    missing = "0123456789abcdef01234567"
    if case == "domain_bad":
        # The SDK refuses what the fake would (bad_domain.it) before the wire; a domain the
        # SDK accepts but the provider calls invalid gets the provider's own answer.
        body = {"data": None, "success": False, "message": "domain not valid", "error": 401}
        state.faults.inject("GET", "/domini_pec/{domain}", status=406, body=body)
        await client.domains.check("valid-looking.it")
    elif case == "domain_credit":
        state.prices["domain_check"], state.wallet = 1.0, 0.5
        await client.domains.check("legalmail.it")
    elif case == "register_credit":
        state.wallet = 1.0
        await client.mailboxes.register(registration=reg())
    elif case == "register_domain":
        state.sandbox = False  # a production fake, our own domain not registered
        async with OpenapiPecClient(token=state.token, base_url=fake.url) as prod:
            await prod.mailboxes.register(registration=reg(address="box@mydomain.it"))
    elif case == "retrieve_missing":
        await client.mailboxes.retrieve(missing)
    elif case == "revoke_inactive":
        await client.mailboxes.revoke(await client.mailboxes.register(registration=reg()))
    elif case == "revoke_twice":
        box = await active_box(client)
        await client.mailboxes.revoke(box)
        await client.mailboxes.revoke(box)
    elif case == "activate_state":
        box = await active_box(client)
        await client.mailboxes.activate(box, documents=[PDF])
    elif case == "space_multiple":
        # the client refuses non-multiples itself, so send the raw call the way a bad
        # client would and map the fake's answer through the transport
        box = await active_box(client)
        from certmail_async.openapi_pec._wire import OPS

        response_op = OPS.CHANGE_SPACE
        await client._transport.request(
            response_op, path_params={"id": box.id}, json={"spazio_disco": 1000}
        )
    elif case == "space_storage":
        await client.mailboxes.change_space(await active_box(client), storage=512)
    elif case == "space_credit":
        box = await active_box(client)
        state.wallet = 0.0
        await client.mailboxes.change_space(box, disk="+1024")
    elif case == "storage_twice":
        box = await active_box(client)
        await client.mailboxes.activate_storage(box, documents=PDF)
        await client.mailboxes.activate_storage(box, documents=PDF)
    elif case == "storage_credit":
        box = await active_box(client)
        state.wallet = 0.0
        await client.mailboxes.activate_storage(box, documents=PDF)
    elif case == "upgrade_state":
        box = await client.mailboxes.register(registration=reg())
        await client.mailboxes.upgrade(box, mailbox_type=MailboxType.GOLD)
    elif case == "upgrade_credit":
        box = await active_box(client)
        state.wallet = 0.0
        await client.mailboxes.upgrade(box, mailbox_type=MailboxType.GOLD)
    elif case == "renew_state":
        await client.mailboxes.renew(await client.mailboxes.register(registration=reg()))
    elif case == "users_full":
        box = await active_box(client)
        state.mailboxes[box.id]["multiutenza"] = [{"nome": "x"}] * 25
        await client.mailboxes.add_user(
            box.id, first_name="A", last_name="B", description="d", password_email="a@example.com"
        )
    elif case == "user_credit":
        box = await active_box(client)
        state.wallet = 0.0
        await client.mailboxes.add_user(
            box.id, first_name="A", last_name="B", description="d", password_email="a@example.com"
        )
    elif case == "user_restricted":
        # a fresh client has not seen the box type, so the provider's 428/390 answers
        box = await client.mailboxes.register(
            registration=reg(
                address="massiva@testcert.legalmail.it", mailbox_type=MailboxType.PEC_MASSIVA
            )
        )
        async with OpenapiPecClient(token=state.token, base_url=fake.url, sandbox=True) as fresh:
            await fresh.mailboxes.add_user(
                box.id,
                first_name="A",
                last_name="B",
                description="d",
                password_email="a@example.com",
            )
    elif case == "comm_credit":
        state.wallet = 0.0
        await client.registry_communications.create(request=COMM)
    elif case == "comm_missing":
        await client.registry_communications.retrieve(missing)
    elif case == "comm_state":
        comm = await client.registry_communications.create(request=COMM)
        state.code_delay = 60.0
        await client.registry_communications.upload_documents(comm.id, documents=[P7M])
    else:
        raise AssertionError(case)


class TestDocumentedErrors:
    @pytest.mark.parametrize(
        ("label", "case", "status", "code", "exc"), ERRORS, ids=[e[0] for e in ERRORS]
    )
    async def test_error_status_and_code(
        self,
        fake: RunningFake,
        client: OpenapiPecClient,
        label: str,
        case: str,
        status: int,
        code: int,
        exc: type,
    ) -> None:
        """Each documented error arrives as its typed exception with HTTP status and provider code."""
        with pytest.raises(exc) as info:
            await _provoke(case, fake, client)
        assert info.value.status == status, label
        assert info.value.code == code, label
        assert info.value.provider == "openapi_pec"

    async def test_bad_id_is_400_from_the_fake(self, fake: RunningFake) -> None:
        """The fake answers 400/201 'Wrong id' to a malformed id (the client refuses one first)."""
        headers = {"Authorization": f"Bearer {fake.state.token}"}
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{fake.url}/pec/not-hex", headers=headers) as r,
        ):
            body = await r.json()
        assert (r.status, body["error"], body["message"]) == (400, 201, "Wrong id")

    async def test_missing_field_is_428(self, fake: RunningFake) -> None:
        """A registration without tipo_casella is 428/224 'tipo_casella required'."""
        headers = {"Authorization": f"Bearer {fake.state.token}"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{fake.url}/pec", json={"casella_pec": "a@b.it"}, headers=headers) as r,
        ):
            body = await r.json()
        assert (r.status, body["error"]) == (428, 224)

    async def test_unknown_field_is_refused(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A body with a field the reference does not list is refused (406), nothing changes."""
        box = await active_box(client)
        headers = {"Authorization": f"Bearer {fake.state.token}"}
        async with (
            aiohttp.ClientSession() as s,
            s.patch(
                f"{fake.url}/pec/{box.id}/trasformazione",
                json={"tipo_casella": "GOLD", "extra": 1},
                headers=headers,
            ) as r,
        ):
            body = await r.json()
        assert r.status == 406
        assert body["message"] == "unknown field: extra"
        assert (await client.mailboxes.retrieve(box)).mailbox_type is MailboxType.BRONZE

    async def test_forms_text_plain_errors(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """PDF forms answer text/plain errors, mapped to typed errors with the text."""
        with pytest.raises(NotFoundError, match="no request matches this id"):
            await client.forms.activation("0123456789abcdef01234567")
        box = await client.mailboxes.register(registration=reg())
        with pytest.raises(ConflictError, match="first activate a pec"):
            await client.forms.storage(box.id)
        comm = await client.registry_communications.create(request=COMM)
        fake.state.code_delay = 60.0
        with pytest.raises(ConflictError, match="doesn't exist yet"):
            await client.forms.power_of_attorney(comm.id)

    async def test_form_that_is_not_a_pdf(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A 200 that is not application/pdf is a ResponseDecodeError."""
        box = await client.mailboxes.register(registration=reg())
        fake.state.faults.inject(
            "GET", "/pec/{id}/modulo_attivazione", status=200, body={"not": "pdf"}
        )
        with pytest.raises(ResponseDecodeError, match="expected a PDF"):
            await client.forms.activation(box.id)

    async def test_503_on_a_read_is_retried(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """domini_pec's documented 503 is retried for a read."""
        fake.state.faults.inject(
            "GET",
            "/domini_pec/{domain}",
            status=503,
            times=1,
            body={
                "data": None,
                "success": False,
                "message": "service temporarily unavailable",
                "error": 402,
            },
        )
        assert (await client.domains.check("legalmail.it")).pec_enabled
        assert fake.state.count("GET", "/domini_pec/{domain}") == 2

    async def test_billable_calls_are_never_retried(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A 503 on renew (a billable GET) is raised at once: one request, no second charge."""
        box = await active_box(client)
        fake.state.faults.inject(
            "GET", "/pec/{id}/rinnovo", status=503, after_record=True, times=None
        )
        with pytest.raises(ServerError):
            await client.mailboxes.renew(box)
        assert fake.state.count("GET", "/pec/{id}/rinnovo") == 1
        assert [e.operation for e in fake.state.ledger].count("mailboxes.renew") == 1


class TestScopes:
    async def test_missing_scope_is_403(self, fake: RunningFake) -> None:
        """A token without the call's scope is refused (403)."""
        token = fake.state.issue_token([f"GET:{fake.state.host}/verifica_pec"]).token
        async with OpenapiPecClient(token=token, base_url=fake.url, sandbox=True) as c:
            assert await c.mailboxes.availability("a@testcert.legalmail.it")
            with pytest.raises(PermissionDeniedError):
                await c.mailboxes.list()

    async def test_scope_matches_by_path_prefix(self, fake: RunningFake) -> None:
        """GET:host/pec covers GET /pec/{id}/rinnovo and the forms (prefix match)."""
        token = fake.state.issue_token(
            [f"GET:{fake.state.host}/pec", f"POST:{fake.state.host}/pec"]
        ).token
        async with OpenapiPecClient(token=token, base_url=fake.url, sandbox=True) as c:
            box = await c.mailboxes.register(registration=reg())
            assert (await c.forms.activation(box.id)).startswith(b"%PDF")

    async def test_production_token_fails_on_sandbox(self, fake: RunningFake) -> None:
        """Scopes name the host: a pec.openapi.it token does not work on test.pec.openapi.it."""
        token = fake.state.issue_token(["GET:pec.openapi.it/pec"]).token
        async with OpenapiPecClient(token=token, base_url=fake.url, sandbox=True) as c:
            with pytest.raises(PermissionDeniedError):
                await c.mailboxes.list()

    async def test_unknown_token_is_401(self, fake: RunningFake) -> None:
        """An unknown token is AuthenticationError."""
        async with OpenapiPecClient(token="nope-nope", base_url=fake.url, sandbox=True) as c:
            with pytest.raises(AuthenticationError):
                await c.mailboxes.list()


class TestValidation:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"address": "box@legalmail.it"}, "address"),  # sandbox needs testcert domains
            ({"tax_code": "RSSXXXXXXXX56E"}, "tax_code"),
            (
                {"tax_code": "RSSMRA82D11H501D", "sex": __import__("certmail_async").Sex.FEMALE},
                "tax_code",
            ),
            ({"birth_date": __import__("datetime").date(1983, 4, 11)}, "tax_code"),
            ({"holder_postal_code": "42"}, "holder_postal_code"),
            ({"holder_province": "Roma"}, "holder_province"),
            ({"birth_country": "Italy"}, "birth_country"),
            (
                {
                    "customer_type": CustomerType.BUSINESS,
                    "customer_subtype": CustomerSubtype.NOTARY,
                },
                "customer_subtype",
            ),
            ({"email": "nope"}, "email"),
            ({"first_name": " "}, "first_name"),
        ],
    )
    async def test_registration_checked_before_the_wire(
        self, fake: RunningFake, client: OpenapiPecClient, changes: dict[str, object], field: str
    ) -> None:
        """A bad registration is a ValidationError naming the field; nothing is sent or charged."""
        with pytest.raises(ValidationError) as info:
            await client.mailboxes.register(registration=reg(**changes))
        assert info.value.field == field
        assert fake.state.requests == []
        assert fake.state.ledger == []

    async def test_production_domain_must_match_type(self, fake: RunningFake) -> None:
        """In production @pecmassiva.com hosts PECMASSIVA boxes only."""
        async with OpenapiPecClient(token="tok-value", base_url=fake.url) as prod:
            with pytest.raises(ValidationError, match="PECMASSIVA"):
                await prod.mailboxes.register(registration=reg(address="box@pecmassiva.com"))

    async def test_restricted_box_actions_fail_before_the_wire(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """Resize, upgrade, storage and users on a PECMASSIVA box fail before any request."""
        box = await client.mailboxes.register(
            registration=reg(
                address="massiva@testcert.legalmail.it", mailbox_type=MailboxType.PEC_MASSIVA
            )
        )
        before = len(fake.state.requests)
        with pytest.raises(ValidationError, match="PECMASSIVA"):
            await client.mailboxes.change_space(box.id, disk=2048)
        with pytest.raises(ValidationError, match="PECMASSIVA"):
            await client.mailboxes.upgrade(box.id, mailbox_type=MailboxType.GOLD)
        with pytest.raises(ValidationError, match="PECMASSIVA"):
            await client.mailboxes.activate_storage(box.id, documents=PDF)
        with pytest.raises(ValidationError, match="PECMASSIVA"):
            await client.mailboxes.add_user(
                box.id,
                first_name="A",
                last_name="B",
                description="d",
                password_email="a@example.com",
            )
        with pytest.raises(ValidationError, match="one PDF"):
            await client.mailboxes.activate(box.id, documents=[PDF, PDF])
        assert len(fake.state.requests) == before

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"disk": 1000}, "disk"),
            ({"archive": "+100"}, "archive"),
            ({"storage": 700}, "storage"),
            ({"disk": "1024"}, "disk"),
            ({}, "disk"),
            ({"disk": -1024}, "disk"),
        ],
    )
    async def test_space_values(
        self, fake: RunningFake, client: OpenapiPecClient, kwargs: dict[str, object], field: str
    ) -> None:
        """Sizes are ints (set) or '+N' (add), multiples of 1024 (disk, archive) or 512 (storage)."""
        with pytest.raises(ValidationError) as info:
            await client.mailboxes.change_space("0123456789abcdef01234567", **kwargs)  # type: ignore[arg-type]
        assert info.value.field == field
        assert fake.state.requests == []

    async def test_downgrade_refused_when_type_known(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A known GOLD box cannot be 'upgraded' to SILVER; no request is made."""
        box = await active_box(client, mailbox_type=MailboxType.GOLD)
        before = len(fake.state.requests)
        with pytest.raises(ValidationError, match="not an upgrade"):
            await client.mailboxes.upgrade(box, mailbox_type=MailboxType.SILVER)
        assert len(fake.state.requests) == before

    async def test_documents_must_be_pdf_or_p7m(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """Mailbox uploads must be PDFs, communication uploads signed .p7m files."""
        with pytest.raises(ValidationError, match="PDF"):
            await client.mailboxes.activate("0123456789abcdef01234567", documents=[b"GIF89a"])
        with pytest.raises(ValidationError, match="p7m"):
            await client.registry_communications.upload_documents(
                "0123456789abcdef01234567", documents=[PDF]
            )
        with pytest.raises(ValidationError):
            await client.mailboxes.retrieve("not-an-id")
        with pytest.raises(ValidationError):
            await client.mailboxes.renew("0123456789abcdef01234567", years=0)
        assert fake.state.requests == []


class TestMoreOperations:
    async def test_change_space_set_and_add(self, client: OpenapiPecClient) -> None:
        """An int sets the size; '+N' adds N."""
        box = await active_box(client)
        box = await client.mailboxes.change_space(box, disk=3072)
        assert box.disk_mb == 3072
        box = await client.mailboxes.change_space(box, disk="+1024", archive="+1024")
        assert (box.disk_mb, box.archive_mb) == (4096, 2048)

    async def test_storage_then_storage_space(self, client: OpenapiPecClient) -> None:
        """Legal storage activates (512 MB by default) and can then grow in 512s."""
        box = await active_box(client)
        assert (await client.forms.storage(box.id)).startswith(b"%PDF")
        box = await client.mailboxes.activate_storage(box, documents=PDF)
        assert (box.legal_storage, box.storage_mb) == (True, 512)
        box = await client.mailboxes.change_space(box, storage="+512")
        assert box.storage_mb == 1024

    async def test_add_user(self, client: OpenapiPecClient) -> None:
        """add_user appends a user with its id."""
        box = await active_box(client)
        box = await client.mailboxes.add_user(
            box,
            first_name="Anna",
            last_name="Bianchi",
            description="segreteria",
            password_email="anna@example.com",
        )
        [user] = box.users
        assert user.user_id == f"{box.id}_0"
        assert user.activated is not None

    async def test_documents_rejected_then_reuploaded(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A rejected activation goes to documenti_errati and may be uploaded again."""
        fake.state.reject_documents = True
        box = await client.mailboxes.register(registration=reg())
        await client.mailboxes.activate(box, documents=[PDF])
        box = await wait_state(client, box, MailboxState.DOCUMENTS_REJECTED)
        fake.state.reject_documents = False
        await client.mailboxes.activate(box, documents=[PDF])
        await wait_state(client, box, MailboxState.ACTIVE)

    async def test_registry_communication_flow(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """codice_in_richiesta -> in_attesa_di_documenti -> documenti_caricati -> comunicazione_evasa."""
        comm = await client.registry_communications.create(request=COMM)
        assert comm.state is CommunicationState.CODE_REQUESTED
        for _ in range(100):
            comm = await client.registry_communications.retrieve(comm.id)
            if comm.state is CommunicationState.AWAITING_DOCUMENTS:
                break
            await asyncio.sleep(0.01)
        assert comm.registry_code
        assert (await client.forms.power_of_attorney(comm.id)).startswith(b"%PDF")
        comm = await client.registry_communications.upload_documents(comm.id, documents=[P7M, P7M])
        assert comm.state is CommunicationState.DOCUMENTS_UPLOADED
        assert len(comm.documents) == 2
        await asyncio.sleep(0.03)  # the fake files it filing_delay (0) after the upload
        [summary] = await client.registry_communications.list()
        assert summary.state is CommunicationState.COMPLETED

    async def test_bad_requests_from_the_fake_map_to_400(
        self, fake: RunningFake, client: OpenapiPecClient
    ) -> None:
        """A 400 from the provider is BadRequestError with its code."""
        fake.state.faults.inject(
            "GET",
            "/pec/{id}",
            status=400,
            body={"data": None, "success": False, "message": "Wrong id", "error": 201},
        )
        with pytest.raises(BadRequestError) as info:
            await client.mailboxes.retrieve("0123456789abcdef01234567")
        assert info.value.code == 201


class TestHardenedInput:
    """Issue 10's findings for openapi.it: nothing billable leaves with a loose value."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("holder_postal_code", "00042\n"),
            ("holder_postal_code", "\u0660\u0660\u0660\u0664\u0662"),
            ("holder_province", "RM\n"),
            ("phone", "0548798569\n"),
            ("birth_country", None),
            ("first_name", "Mario\r\nX"),
        ],
    )
    async def test_loose_registrations_are_refused(
        self, fake: RunningFake, client: OpenapiPecClient, field: str, value: object
    ) -> None:
        """The four registrations that went out in the finding (and kin) fail before the wire.

        The model refuses them at construction; a value forced past the constructor is
        caught again by ``register``.
        """
        with pytest.raises(ValidationError) as info:
            reg(**{field: value})
        assert info.value.field == field
        with pytest.raises(ValidationError) as info:
            await client.mailboxes.register(registration=forced(reg(), **{field: value}))
        assert info.value.field == field
        assert info.value.operation == "mailboxes.register"
        assert fake.state.requests == []
        assert fake.state.ledger == []

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda c: c.mailboxes.retrieve("0123456789abcdef01234567\n"), "mailbox"),
            (lambda c: c.mailboxes.revoke(".."), "mailbox"),
            (lambda c: c.mailboxes.change_space(HEX, disk="+1024\n"), "disk"),
            (lambda c: c.mailboxes.activate(HEX, documents=None), "documents"),
            (lambda c: c.mailboxes.renew(HEX, years=1.5), "years"),
            (
                lambda c: c.mailboxes.add_user(
                    HEX, first_name="A\nB", last_name="B", description="d", password_email="a@x.it"
                ),
                "first_name",
            ),
            (lambda c: c.mailboxes.availability("jöe@legalmail.it"), "address"),
            (lambda c: c.domains.check("bad_domain.it"), "domain"),
            (lambda c: c.domains.check(".."), "domain"),
            (lambda c: c.registry_communications.retrieve("\u0660" * 24), "communication_id"),
            (lambda c: c.forms.power_of_attorney(None), "communication_id"),
        ],
    )
    async def test_calls_refuse_loose_values(
        self, fake: RunningFake, client: OpenapiPecClient, call: Any, field: str
    ) -> None:
        """Ids with a newline or dot segments, "+1024\\n", malformed domains: no request."""
        with pytest.raises(ValidationError) as info:
            await call(client)
        assert info.value.field == field
        assert fake.state.requests == []

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [({"token": 123}, "token"), ({"token": None}, "token"), ({"sandbox": "yes"}, "sandbox")],
    )
    def test_constructor_refusals(self, kwargs: dict[str, object], field: str) -> None:
        """token=123 is a ValidationError naming the field, not a TypeError."""
        with pytest.raises(ValidationError) as info:
            OpenapiPecClient(**{"token": "t", **kwargs})  # type: ignore[arg-type]
        assert info.value.field == field
