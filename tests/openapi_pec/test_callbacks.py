"""openapi.it callbacks: every delivery shape of openapi-pec.md §12, secrets, the aiohttp handler."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from certmail_async import (
    CallbackEvent,
    CallbackVerificationError,
    CertmailError,
    CommunicationState,
    MailboxEvent,
    MailboxState,
    MailboxType,
    RegistryCommunicationEvent,
    SecretStr,
    UnknownCallbackEvent,
    ValidationError,
)
from certmail_async.openapi_pec import callback_handler, parse_callback

SECRET = "cb-7Qx9-long-random-secret"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}

# A Casella as openapi-pec.md §9.3 describes it, the callback echoed with your data.
CASELLA: dict[str, Any] = {
    "id": "6040e4613a716838dc4eee0e",
    "casella_pec": "provapec@testcert.legalmail.it",
    "tipo_casella": "BRONZE",
    "tipo_cliente": "PV",
    "nome_richiedente": "mario",
    "cognome_richiedente": "rossi",
    "email": "mail@domain.com",
    "callback": {
        "url": "https://app.example.com/openapi/callback",
        "field": "data",
        "method": "POST",
        "data": {"secret": SECRET, "customer": 4411},
    },
    "dominio": "testcert.legalmail.it",
    "owner": "me@example.com",
    "timestamp": {"registrazione": 1614865505, "evasione": 1614870000},
    "stato": "evasa",
}
# A RichiestaComunicazionePec (§9.7): callback may be false.
COMUNICAZIONE: dict[str, Any] = {
    "id": "60ad149c3a7168084f1d2b68",
    "casella_pec": "azienda@pec.example.it",
    "stato": "comunicazione_evasa",
    "codice_registro_imprese": "openapi",
    "documenti_registro_imprese": ["60ad149c3a7168084f1d2b68_0_registro_imprese.p7m"],
    "owner": "me@example.com",
    "timestamp": 1622020252,
    "callback": False,
}


def form(payload: Any, field: str = "data", **extra: str) -> bytes:
    """method POST: the JSON payload as a string inside a form field."""
    return urlencode({field: json.dumps(payload), **extra}).encode()


class TestShapes:
    def test_form_post_mailbox(self) -> None:
        """method POST (the PEC default): form field 'data' holding JSON -> MailboxEvent."""
        event = parse_callback(form(CASELLA), FORM)
        assert isinstance(event, MailboxEvent)
        assert event.state is MailboxState.ACTIVE
        assert event.mailbox.address == "provapec@testcert.legalmail.it"
        assert event.mailbox.mailbox_type is MailboxType.BRONZE
        assert event.data == {"customer": 4411}
        assert event.content_type == "application/x-www-form-urlencoded"
        assert not event.verified

    def test_json_method_mailbox(self) -> None:
        """method JSON: the payload is the raw body."""
        event = parse_callback(json.dumps(CASELLA).encode(), JSON)
        assert isinstance(event, MailboxEvent)
        assert event.state is MailboxState.ACTIVE

    def test_json_body_without_content_type(self) -> None:
        """A JSON body is read as JSON whatever (or whether) the content type says."""
        assert isinstance(parse_callback(json.dumps(CASELLA), None), MailboxEvent)

    def test_custom_field_name(self) -> None:
        """A callback whose 'field' is not 'data': the named field, or the one holding JSON."""
        body = form(CASELLA, field="payload", other="x")
        named = parse_callback(body, FORM, field="payload")
        guessed = parse_callback(body, FORM)
        assert isinstance(named, MailboxEvent)
        assert isinstance(guessed, MailboxEvent)

    def test_registry_communication(self) -> None:
        """A Business Register communication state change, callback false -> its event."""
        event = parse_callback(form(COMUNICAZIONE), FORM)
        assert isinstance(event, RegistryCommunicationEvent)
        assert event.state is CommunicationState.COMPLETED
        assert event.communication.registry_code == "openapi"
        assert event.communication.callback is None
        assert event.data == {}

    @pytest.mark.parametrize("record", [CASELLA, COMUNICAZIONE])
    def test_wrapped_in_the_api_envelope(self, record: dict[str, Any]) -> None:
        """The record inside {data, success, message, error} is found too."""
        wrapped = {"data": record, "success": True, "message": "", "error": None}
        event = parse_callback(json.dumps(wrapped), JSON)
        assert not isinstance(event, UnknownCallbackEvent)

    @pytest.mark.parametrize(
        ("state", "kind"),
        [
            ("registrata", MailboxState.REGISTERED),
            ("in_evasione", MailboxState.PROCESSING),
            ("documenti_errati", MailboxState.DOCUMENTS_REJECTED),
            ("revocata", MailboxState.REVOKED),
        ],
    )
    def test_every_mailbox_state(self, state: str, kind: MailboxState) -> None:
        """Each documented mailbox state decodes to its enum member."""
        event = parse_callback(form({**CASELLA, "stato": state}), FORM)
        assert isinstance(event, MailboxEvent)
        assert event.state is kind

    @pytest.mark.parametrize(
        "state",
        ["codice_in_richiesta", "in_attesa_di_documenti", "documenti_caricati"],
    )
    def test_every_communication_state(self, state: str) -> None:
        """Each documented communication state decodes to a RegistryCommunicationEvent."""
        event = parse_callback(form({**COMUNICAZIONE, "stato": state}), FORM)
        assert isinstance(event, RegistryCommunicationEvent)
        assert event.state.value == state

    def test_new_mailbox_state_is_kept_raw(self) -> None:
        """An undocumented state on a mailbox record: a MailboxEvent keeping the raw value."""
        event = parse_callback(form({**CASELLA, "stato": "sospesa"}), FORM)
        assert isinstance(event, MailboxEvent)
        assert not event.state.known
        assert event.state.value == "sospesa"


class TestUnknownShapesAreKept:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"not json at all", "neither JSON nor a form"),
            (b"[1, 2, 3]", "neither a mailbox nor"),
            (b'{"event": "something.new", "id": 3}', "neither a mailbox nor"),
            (b"data=%7Bbroken", "neither JSON nor a form"),
            (b"", "neither JSON nor a form"),
            (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
            ("&".join(f"f{i}=x" for i in range(150)).encode(), "more than 100 form fields"),
            (b"\xff\xfe\x00garbage", "neither JSON nor a form"),
        ],
    )
    def test_unknown_shapes_are_events_not_errors(self, body: bytes, reason: str) -> None:
        """Anything unrecognised is an UnknownCallbackEvent with the raw body and the reason."""
        event = parse_callback(body, JSON)
        assert isinstance(event, UnknownCallbackEvent)
        assert reason in event.reason
        assert event.raw == body

    def test_too_large_is_cut_and_kept(self) -> None:
        """A body past max_size is an unknown event whose raw body is cut at the limit."""
        event = parse_callback(b"x" * 2000, FORM, max_size=1000)
        assert isinstance(event, UnknownCallbackEvent)
        assert len(event.raw) == 1000
        assert "1000-byte limit" in event.reason

    def test_missing_named_field(self) -> None:
        """A form without the field the callback named: unknown, saying which field."""
        event = parse_callback(form(CASELLA, field="data"), FORM, field="payload")
        assert isinstance(event, UnknownCallbackEvent)
        assert "'payload'" in event.reason

    @settings(max_examples=300)
    @given(
        st.one_of(st.binary(max_size=300), st.text(max_size=300)),
        st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4),
        st.one_of(st.none(), st.sampled_from(["data", "payload", ""])),
    )
    def test_never_raises_without_a_secret(
        self, body: bytes | str, headers: dict[str, str], field: str | None
    ) -> None:
        """No body, header set or field name makes parse_callback raise: the event is kept."""
        event = parse_callback(body, headers, field=field or None)
        assert isinstance(event, CallbackEvent)


class TestSecret:
    def test_secret_in_the_url_query(self) -> None:
        """?secret=... matching: verified; the echoed data never shows the secret."""
        event = parse_callback(form(CASELLA), FORM, secret=SECRET, query=f"secret={SECRET}")
        assert event.verified
        assert SECRET not in repr(event)
        assert SECRET.encode() not in event.raw
        assert SECRET not in json.dumps(event.payload)

    def test_secret_in_the_echoed_data(self) -> None:
        """No query secret: the callback's echoed data carries it."""
        event = parse_callback(form(CASELLA), FORM, secret=SecretStr(SECRET))
        assert isinstance(event, MailboxEvent)
        assert event.verified
        assert event.data == {"customer": 4411}
        assert event.mailbox.callback is not None
        assert "secret" not in event.mailbox.callback.data
        assert SECRET not in repr(event)

    def test_secret_as_a_query_mapping(self) -> None:
        """The query can be a mapping (Starlette's request.query_params, say)."""
        record = {**CASELLA, "callback": False}
        event = parse_callback(form(record), FORM, secret=SECRET, query={"secret": SECRET})
        assert event.verified

    @pytest.mark.parametrize(
        ("query", "record", "message"),
        [
            ("secret=wrong-guess-123", CASELLA, "in the callback URL does not match"),
            (None, {**CASELLA, "callback": False}, "no secret in the callback URL nor"),
            (
                None,
                {**CASELLA, "callback": {**CASELLA["callback"], "data": {"secret": "nope-nope"}}},
                "in the callback data does not match",
            ),
        ],
    )
    def test_failed_check_is_the_one_error(
        self, query: str | None, record: dict[str, Any], message: str
    ) -> None:
        """Wrong or missing secret: CallbackVerificationError (a CertmailError), no value shown."""
        with pytest.raises(CallbackVerificationError) as info:
            parse_callback(form(record), FORM, secret=SECRET, query=query)
        assert isinstance(info.value, CertmailError)
        assert message in str(info.value)
        assert SECRET not in str(info.value)
        assert "wrong-guess" not in str(info.value)

    def test_unknown_shape_still_needs_the_secret(self) -> None:
        """An unrecognised body with no secret anywhere is refused, not passed on unverified."""
        with pytest.raises(CallbackVerificationError):
            parse_callback(b"hello", FORM, secret=SECRET)
        event = parse_callback(b"hello", FORM, secret=SECRET, query=f"secret={quote(SECRET)}")
        assert isinstance(event, UnknownCallbackEvent)
        assert event.verified

    @pytest.mark.parametrize("bad", ["", "short", 12345678, b"bytes-secret"])
    def test_weak_or_wrong_type_secret_is_refused(self, bad: Any) -> None:
        """An empty, short or non-string secret never silently turns verification off."""
        with pytest.raises(ValidationError) as info:
            parse_callback(form(CASELLA), FORM, secret=bad)
        assert info.value.field == "secret"


@pytest.fixture
def events() -> list[CallbackEvent]:
    return []


async def serve(aiohttp_client: Any, handler: Any) -> Any:
    app = web.Application()
    app.router.add_route("*", "/openapi/callback", handler)
    return await aiohttp_client(app)


class TestAiohttpHandler:
    async def test_delivers_verified_events(
        self, aiohttp_client: Any, events: list[CallbackEvent]
    ) -> None:
        """A genuine form POST: 200, and on_event got the decoded, verified event."""

        async def on_event(event: CallbackEvent) -> None:
            events.append(event)

        http = await serve(aiohttp_client, callback_handler(on_event, secret=SECRET))
        answer = await http.post("/openapi/callback", data={"data": json.dumps(CASELLA)})
        assert answer.status == 200
        (event,) = events
        assert isinstance(event, MailboxEvent)
        assert event.verified

    async def test_sync_on_event_and_query_secret(
        self, aiohttp_client: Any, events: list[CallbackEvent]
    ) -> None:
        """A plain function works too; the secret may come in the URL; JSON method."""
        http = await serve(aiohttp_client, callback_handler(events.append, secret=SECRET))
        answer = await http.post(
            f"/openapi/callback?secret={SECRET}", json={**COMUNICAZIONE, "callback": False}
        )
        assert answer.status == 200
        assert isinstance(events[0], RegistryCommunicationEvent)

    async def test_forged_call_is_403_and_not_delivered(
        self, aiohttp_client: Any, events: list[CallbackEvent]
    ) -> None:
        """A wrong secret: 403 and on_event is never called."""
        http = await serve(aiohttp_client, callback_handler(events.append, secret=SECRET))
        answer = await http.post("/openapi/callback?secret=forged-guess", json=CASELLA)
        assert answer.status == 403
        assert events == []

    async def test_too_large_and_wrong_method(
        self, aiohttp_client: Any, events: list[CallbackEvent]
    ) -> None:
        """Past max_size: 413 (declared or streamed); GET: 405; nothing delivered."""
        http = await serve(aiohttp_client, callback_handler(events.append, max_size=1000))
        assert (await http.post("/openapi/callback", data=b"x" * 5000)).status == 413

        async def chunks() -> Any:
            for _ in range(10):
                yield b"y" * 200

        assert (await http.post("/openapi/callback", data=chunks())).status == 413
        assert (await http.get("/openapi/callback")).status == 405
        assert events == []

    async def test_unknown_shape_is_delivered(
        self, aiohttp_client: Any, events: list[CallbackEvent]
    ) -> None:
        """An unrecognised body is still handed over (200), raw kept."""
        http = await serve(aiohttp_client, callback_handler(events.append))
        answer = await http.post("/openapi/callback", data=b"surprise")
        assert answer.status == 200
        assert isinstance(events[0], UnknownCallbackEvent)
        assert events[0].raw == b"surprise"

    async def test_failing_on_event_is_500(self, aiohttp_client: Any) -> None:
        """on_event raising: 500, so a sender configured to retry tries again."""

        def on_event(_event: CallbackEvent) -> None:
            raise RuntimeError("database down")

        http = await serve(aiohttp_client, callback_handler(on_event))
        assert (await http.post("/openapi/callback", json=CASELLA)).status == 500

    async def test_slow_on_event_is_503(self, aiohttp_client: Any) -> None:
        """on_event past its deadline: 503 instead of holding the sender's connection."""
        never = asyncio.Event()

        async def on_event(_event: CallbackEvent) -> None:
            await never.wait()

        http = await serve(aiohttp_client, callback_handler(on_event, timeout=0.05))
        assert (await http.post("/openapi/callback", json=CASELLA)).status == 503

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"secret": ""}, "secret"),
            ({"max_size": 0}, "max_size"),
            ({"timeout": 0}, "timeout"),
            ({"timeout": float("nan")}, "timeout"),
        ],
    )
    def test_bad_configuration_fails_at_start_up(self, kwargs: dict[str, Any], field: str) -> None:
        """A bad secret, size or timeout is a ValidationError when the handler is built."""
        with pytest.raises(ValidationError) as info:
            callback_handler(print, **kwargs)
        assert info.value.field == field


class TestDocsExamples:
    """The receiver examples of docs/receipts.md, run as written."""

    @staticmethod
    def example(name: str) -> dict[str, Any]:
        from tests.docs_blocks import ROOT, blocks

        (block,) = [
            b
            for b in blocks(ROOT / "docs" / "receipts.md")
            if b.mode == "framework" and b.arg == name
        ]
        namespace: dict[str, Any] = {"__name__": f"docs_{name}"}
        exec(compile(block.code, block.id, "exec"), namespace)  # noqa: S102 - our own docs
        return namespace

    async def test_aiohttp_example(self, aiohttp_client: Any) -> None:
        """The aiohttp.web example accepts a genuine callback and refuses a forged one."""
        module = self.example("aiohttp")
        http = await aiohttp_client(module["app"])
        genuine = {
            **CASELLA,
            "callback": {**CASELLA["callback"], "data": {"secret": module["SECRET"]}},
        }
        assert (
            await http.post("/openapi/callback", data={"data": json.dumps(genuine)})
        ).status == 200
        assert (await http.post("/openapi/callback", json=CASELLA)).status == 403
        (event,) = module["seen"]
        assert isinstance(event, MailboxEvent)
        assert event.verified

    def test_fastapi_example(self) -> None:
        """The FastAPI example verifies by the URL secret and keeps the event."""
        pytest.importorskip("fastapi", reason="FastAPI is not installed (not a dependency)")
        pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

            module = self.example("starlette")
            http = TestClient(module["app"])
        secret = module["SECRET"]
        assert http.post(f"/openapi/callback?secret={secret}", json=CASELLA).status_code == 200
        assert http.post("/openapi/callback?secret=forged-guess", json=CASELLA).status_code == 403
        assert isinstance(module["seen"][0], MailboxEvent)
