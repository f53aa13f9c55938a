"""Response metadata on results and errors, and the raw-response accessor."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from certmail_async import (
    BadRequestError,
    ConnectError,
    DeliveryUnknownError,
    PecMassivaClient,
    RateLimit,
    RawResponse,
    ResponseDecodeError,
    ResponseInfo,
    ServerError,
    ValidationError,
    raw_response,
    response_info,
)
from certmail_async.testing import run_fake

TOKEN = "tok-secret-4711-abcdef"
PASSWORD = "pw-secret-0815-xyz"
QUOTA = {"data": {"usage": 5, "limit": 100}, "success": True, "message": ""}

Handler = Callable[[web.Request], web.Response]


@pytest.fixture
async def tiny() -> AsyncIterator[Callable[[Handler], str]]:
    """A tiny aiohttp server answering GET /quota/{box} with a handler the test picks."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        async def route(request: web.Request) -> web.Response:
            return handler(request)

        app = web.Application()
        app.router.add_get("/quota/{box}", route)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start  # type: ignore[misc]
    for runner in runners:
        await runner.cleanup()


def _client(url: str) -> PecMassivaClient:
    return PecMassivaClient(
        token=TOKEN, username="box@pecmassiva.com", password=PASSWORD, base_url=url
    )


async def test_result_carries_response_info_from_the_fake() -> None:
    """A model returned by a method gives its ResponseInfo through response_info()."""
    async with run_fake("pecmassiva") as fake, fake.client() as client:
        quota = await client.quota.retrieve()
    info = response_info(quota)
    assert isinstance(info, ResponseInfo)
    assert (info.status, info.provider, info.operation, info.method) == (
        200,
        "pecmassiva",
        "quota.retrieve",
        "GET",
    )
    assert info.url == fake.url + "/quota/INBOX"
    assert info.attempts == 1
    assert info.elapsed is not None
    assert info.elapsed >= 0
    assert info.request_id is None
    assert info.headers["content-type"].startswith("application/json")


async def test_request_id_and_scrubbed_headers_on_a_result(tiny: Callable[..., str]) -> None:
    """X-Request-Id becomes request_id; an echoed secret and Set-Cookie never show."""

    def handler(request: web.Request) -> web.Response:
        response = web.json_response(QUOTA, headers={"X-Request-Id": "req-42"})
        response.headers["X-Echo"] = f"token={TOKEN} password={PASSWORD}"
        response.headers["Set-Cookie"] = "session=abc123"
        return response

    url = await tiny(handler)  # type: ignore[misc]
    async with _client(url) as client:
        quota = await client.quota.retrieve()
    info = response_info(quota)
    assert info is not None
    assert info.request_id == "req-42"
    assert info.headers["x-request-id"] == "req-42"
    shown = repr(info) + str(dict(info.headers))
    assert TOKEN not in shown
    assert PASSWORD not in shown
    assert "abc123" not in shown
    assert info.headers["x-echo"] == "token=********** password=**********"


@pytest.mark.parametrize("header", ["Request-Id", "X-Correlation-Id"])
async def test_other_request_id_headers(tiny: Callable[..., str], header: str) -> None:
    """Request-Id and X-Correlation-Id are read when X-Request-Id is absent."""
    url = await tiny(lambda r: web.json_response(QUOTA, headers={header: "corr-7"}))  # type: ignore[misc]
    async with _client(url) as client:
        raw = await client.with_raw_response.quota.retrieve()
    assert raw.request_id == "corr-7"


async def test_status_error_carries_headers_and_request_id() -> None:
    """An error status keeps its answer: response, headers and request_id, repr unchanged."""
    async with run_fake("pecmassiva") as fake:
        fake.state.faults.inject("GET", "*", status=503, headers={"X-Request-Id": "rid-9"})
        async with fake.client() as client:
            with pytest.raises(ServerError) as caught:
                await client.quota.retrieve(max_retries=0)
    err = caught.value
    assert err.response is not None
    assert err.response.status == 503
    assert err.request_id == "rid-9"
    assert err.headers["X-REQUEST-ID"] == "rid-9"
    assert "rid-9" not in repr(err)
    assert repr(err).startswith("ServerError(provider=")
    again = pickle.loads(pickle.dumps(err))  # noqa: S301
    assert again.request_id == "rid-9"
    assert again.response == err.response


async def test_error_header_echo_is_scrubbed() -> None:
    """A secret echoed in an error answer's header is masked in err.headers."""
    async with run_fake("pecmassiva") as fake:
        token = "fake-pecmassiva-token"
        fake.state.faults.inject("GET", "*", status=400, headers={"X-Debug": f"Bearer {token}"})
        async with fake.client() as client:
            with pytest.raises(BadRequestError) as caught:
                await client.quota.retrieve(max_retries=0)
    headers = caught.value.headers
    assert token not in headers["x-debug"]
    assert "**********" in headers["x-debug"]


async def test_transport_error_has_no_response() -> None:
    """No answer arrived: response is None, headers empty, request_id None."""
    async with run_fake("pecmassiva") as fake:
        pass
    async with fake.client() as client:
        with pytest.raises(ConnectError) as caught:
            await client.quota.retrieve(max_retries=0)
    err = caught.value
    assert err.response is None
    assert err.request_id is None
    assert len(err.headers) == 0


async def test_delivery_unknown_from_an_answer_carries_it() -> None:
    """A send answered 500 (recorded) raises DeliveryUnknownError with that answer."""
    async with run_fake("pecmassiva") as fake:
        fake.state.faults.inject(
            "POST", "/send", status=500, after_record=True, headers={"X-Request-Id": "s-1"}
        )
        async with fake.client() as client:
            with pytest.raises(DeliveryUnknownError) as caught:
                await client.sends.create(recipients=["a@pec.example.it"], subject="S", body="B")
    assert caught.value.response is not None
    assert caught.value.response.status == 500
    assert caught.value.request_id == "s-1"


async def test_decode_error_carries_the_answer(tiny: Callable[..., str]) -> None:
    """A 200 whose body is not the documented shape: ResponseDecodeError with its answer."""
    url = await tiny(lambda r: web.Response(text="nope", headers={"X-Request-Id": "d-3"}))  # type: ignore[misc]
    async with _client(url) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.quota.retrieve()
    assert caught.value.request_id == "d-3"
    assert caught.value.response is not None
    assert caught.value.response.status == 200


async def test_raw_send_goes_through_the_gate() -> None:
    """Raw sends take a pacing slot each, exactly like sends.create."""
    cap = RateLimit(requests=1, per=0.05, margin=0)
    spaced = RateLimit(requests=1, per=0.1)
    async with (
        run_fake("pecmassiva", send_rate=cap) as fake,
        fake.client(rate_limit=spaced) as client,
    ):
        raws = [
            await client.with_raw_response.sends.create(
                recipients=[f"r{i}@pec.example.it"], subject="S", body="B"
            )
            for i in range(3)
        ]
        state = client.pacing
    assert state is not None
    assert state.departed == 3
    assert state.refusals == 0
    assert [r.status for r in raws] == [201, 201, 201]
    assert len(fake.state.ledger) == 3
    assert raws[0].parse().sent == 1
    assert raws[0].json()["success"] is True


async def test_raw_send_never_double_sends() -> None:
    """A raw send answered 500 after recording raises DeliveryUnknownError; one send only."""
    async with run_fake("pecmassiva") as fake:
        fake.state.faults.inject("POST", "/send", status=500, after_record=True)
        async with fake.client(max_retries=3) as client:
            with pytest.raises(DeliveryUnknownError):
                await client.with_raw_response.sends.create(
                    recipients=["a@pec.example.it"], subject="S", body="B"
                )
    assert len(fake.state.ledger) == 1


async def test_raw_send_runs_the_journal_hooks_and_validation() -> None:
    """before_send/last_check run once per raw send; bad input is refused before the wire."""
    calls: list[str] = []

    async def before_send() -> None:
        calls.append("before_send")

    def last_check() -> None:
        calls.append("last_check")

    async with run_fake("pecmassiva") as fake, fake.client() as client:
        raw = await client.with_raw_response.sends.create(
            recipients=["a@pec.example.it"],
            subject="S",
            body="B",
            before_send=before_send,
            last_check=last_check,
        )
        with pytest.raises(ValidationError) as caught:
            await client.with_raw_response.sends.create(recipients=["x"], subject="S", body="B")
    assert raw.status == 201
    assert calls == ["before_send", "last_check"]
    assert caught.value.field == "recipients[0]"
    assert len(fake.state.ledger) == 1


async def test_typed_raw_response_function_is_the_same_call() -> None:
    """raw_response(method, ...) sends once through the gate and hooks, validates first."""
    calls: list[str] = []

    def last_check() -> None:
        calls.append("last_check")

    async with run_fake("pecmassiva") as fake, fake.client() as client:
        raw = await raw_response(
            client.sends.create,
            recipients=["a@pec.example.it"],
            subject="S",
            body="B",
            last_check=last_check,
        )
        with pytest.raises(ValidationError) as caught:
            await raw_response(client.sends.create, recipients=["x"], subject="S", body="B")
        quota = await raw_response(client.quota.retrieve)
        with pytest.raises(ValidationError) as not_method:
            await raw_response(len, "abc")  # type: ignore[arg-type]
    assert raw.status == 201
    assert raw.parse().sent == 1
    assert calls == ["last_check"]
    assert caught.value.field == "recipients[0]"
    assert len(fake.state.ledger) == 1
    assert quota.parse().limit == quota.json()["data"]["limit"]
    assert not_method.value.field == "method"


def test_raw_response_function_is_typed_by_the_method(tmp_path: Path) -> None:
    """mypy --strict sees RawResponse[SendResult] for raw_response(client.sends.create)."""
    mypy = pytest.importorskip("mypy.api")
    script = tmp_path / "user.py"
    script.write_text(
        "from certmail_async import PecMassivaClient, raw_response\n"
        "async def f(c: PecMassivaClient) -> None:\n"
        "    raw = await raw_response(c.sends.create, recipients=['a@pec.example.it'],\n"
        "                             subject='S', body='B')\n"
        "    reveal_type(raw)\n"
        "    await raw_response(c.sends.create, recipients=1)\n"
    )
    out, _, _ = mypy.run(["--strict", "--no-incremental", str(script)])
    assert "RawResponse[certmail_async.pecmassiva._models.SendResult]" in out, out
    assert 'Argument "recipients" to "raw_response"' in out, out


async def test_raw_response_for_a_list_result() -> None:
    """A tuple result has no tag; its raw response is the answer (openapi.it: 404 = none)."""
    async with run_fake("openapi_pec") as fake, fake.client() as client:
        boxes = await client.mailboxes.list()
        raw = await client.with_raw_response.mailboxes.list()
    assert response_info(boxes) is None
    assert isinstance(raw, RawResponse)
    assert raw.status == 404
    assert raw.parse() == boxes == ()
    assert json.loads(raw.content) == raw.json()
    assert "RawResponse(status=404" in repr(raw)


async def test_raw_refuses_iterators() -> None:
    """An async iterator has no raw response: AttributeError naming it."""
    async with run_fake("pecmassiva") as fake, fake.client() as client:
        with pytest.raises(AttributeError, match=r"InboxResource\.list"):
            client.with_raw_response.inbox.list  # noqa: B018
        assert "retrieve" in dir(client.with_raw_response.quota)


async def test_models_keep_equality_hash_repr_and_pickle() -> None:
    """A tagged model equals, hashes and prints as before; copies carry no tag."""
    async with run_fake("pecmassiva") as fake, fake.client() as client:
        first = await client.quota.retrieve()
        second = await client.quota.retrieve()
    assert first == second
    assert hash(first) == hash(second)
    assert repr(first) == "Quota(usage=0, limit=1048576)"
    assert response_info(first) is not response_info(second)
    clone = pickle.loads(pickle.dumps(first))  # noqa: S301
    assert clone == first
    assert response_info(clone) is None
    assert response_info(copy.copy(first)) is None


def test_response_info_pickles_and_is_read_only() -> None:
    """ResponseInfo round-trips through pickle; its headers cannot be changed."""
    info = ResponseInfo(status=201, headers={"X-Request-Id": "a"}, request_id="a")
    again = pickle.loads(pickle.dumps(info))  # noqa: S301
    assert again == info
    assert again.headers["x-request-id"] == "a"
    with pytest.raises(TypeError):
        info.headers["x"] = "y"  # type: ignore[index]


def test_sync_raw_response() -> None:
    """The sync facade's with_raw_response returns a RawResponse."""
    from anyio.from_thread import start_blocking_portal

    from certmail_async import sync

    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(run_fake("pecmassiva")) as fake,
        sync.PecMassivaClient(
            token="fake-pecmassiva-token",
            username="box@pecmassiva.com",
            password="fake-mailbox-password",
            base_url=fake.url,
        ) as client,
    ):
        raw = client.with_raw_response.quota.retrieve()
        quota = client.quota.retrieve()
    assert raw.status == 200
    assert raw.parse() == quota
    info = response_info(quota)
    assert info is not None
    assert info.operation == "quota.retrieve"


async def test_url_never_shows_the_query() -> None:
    """ResponseInfo.url is base URL and path: a query (LegallyMail's ?limit=) is left out."""
    async with run_fake("legallymail") as fake, fake.client() as client:
        emails = await client.emails.list(limit=5)
    info = response_info(emails)
    assert info is not None
    assert info.url == fake.url + "/api/emails"


async def test_raw_call_holds_no_secret_argument_in_its_frames(tiny: Callable[..., str]) -> None:
    """A token id passed through with_raw_response: in no SDK frame's locals, nor the URL."""
    import traceback

    from certmail_async import CertmailError, OAuthClient

    token = "Sx9kQwErTy1234567890abcdefTOKEN"
    url = await tiny(lambda r: web.json_response({}))  # type: ignore[misc]
    async with OAuthClient(email="me@example.com", api_key="K" * 20, base_url=url) as oauth:
        with pytest.raises(CertmailError) as caught:
            await oauth.with_raw_response.tokens.retrieve(token)
    info = caught.value.response
    assert info is not None
    assert info.url == url + "/tokens/{token}"  # the path's template: the id is a secret
    pending = [traceback.TracebackException.from_exception(caught.value, capture_locals=True)]
    while pending:
        te = pending.pop()
        for frame in te.stack:
            if "certmail_async" in frame.filename:
                for value in (frame.locals or {}).values():
                    assert token not in value, frame.name
        pending += [t for t in (te.__cause__, te.__context__) if t is not None]
