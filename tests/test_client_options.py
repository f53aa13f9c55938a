"""with_options(base_url, rate_limit, headers), the User-Agent, and from_env()."""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from certmail_async import (
    CertmailError,
    ClientClosedError,
    PecMassivaClient,
    RateLimit,
    ValidationError,
)
from certmail_async._transport import UA_PRODUCT, USER_AGENT
from certmail_async.testing import FakePecMassiva, run_fake

QUOTA = {"data": {"usage": 1, "limit": 10}, "success": True, "message": ""}
PASSWORD = "pw-secret-0815-xyz"


class Recorder:
    """A tiny aiohttp server answering GET /quota/{box}; it keeps each request's headers."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def quota(request: web.Request) -> web.Response:
            self.seen.append(dict(request.headers))
            return web.json_response(QUOTA)

        app = web.Application()
        app.router.add_get("/quota/{box}", quota)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    """A running Recorder, stopped after the test."""
    server = Recorder()
    await server.start()
    yield server
    await server.stop()


def _client(url: str, **kw: Any) -> PecMassivaClient:
    return PecMassivaClient(
        token="tok-1234-abcd", username="box@pecmassiva.com", password=PASSWORD, base_url=url, **kw
    )


# -- base_url -------------------------------------------------------------------------


async def test_with_options_base_url_points_the_copy_elsewhere(recorder: Recorder) -> None:
    """The copy talks to the new host over the same session; the original is unchanged."""
    async with run_fake("pecmassiva") as fake, fake.client() as client:
        moved = client.with_options(base_url=recorder.url + "/")
        assert moved.base_url == recorder.url
        assert client.base_url == fake.url
        quota = await moved.quota.retrieve()
        assert quota.limit == 10
        assert len(recorder.seen) == 1
        assert moved._transport._holder is client._transport._holder
        assert (await client.quota.retrieve()).limit == 1048576


@pytest.mark.parametrize(
    "bad", ["ftp://x.example", "https://u:p@x.example", "https://x.example/?a=1", 42]
)
def test_with_options_base_url_refused(bad: object) -> None:
    """A bad base URL is a ValidationError naming base_url, before any request."""
    client = _client("https://ws.example.it")
    with pytest.raises(ValidationError) as caught:
        client.with_options(base_url=bad)  # type: ignore[arg-type]
    assert caught.value.field == "base_url"


# -- rate_limit -----------------------------------------------------------------------


def test_with_options_rate_limit_none_refused_on_a_paced_client() -> None:
    """F5: a paced client's copy cannot turn pacing off; the error says how to get one."""
    with pytest.raises(ValidationError) as caught:
        _client("https://ws.example.it").with_options(rate_limit=None)
    assert caught.value.field == "rate_limit"
    assert "construct one with rate_limit=None" in str(caught.value)
    unpaced = _client("https://ws.example.it", rate_limit=None)
    assert unpaced.with_options(rate_limit=None)._transport.backend is None


async def test_strict_copy_does_not_slow_the_token_after_it_is_gone() -> None:
    """F6: a stricter copy paces itself only; the parent and new clients keep the cap."""
    cap = RateLimit(requests=10, per=1.0)
    async with (
        run_fake("pecmassiva", send_rate=None) as fake,
        fake.client(rate_limit=cap) as parent,
    ):
        assert parent.pacing is not None
        documented = parent.pacing.interval
        strict = parent.with_options(rate_limit=RateLimit(requests=1, per=5.0))
        await strict.quota.retrieve()
        assert strict.pacing is not None
        assert strict.pacing.interval >= 5.0
        again = strict.with_options(timeout=30, rate_limit=cap)  # its copies keep it
        assert again._transport._private is strict._transport._private
        assert parent.pacing.interval == documented
        del strict, again
        gc.collect()
        assert parent.pacing.interval == documented
        async with fake.client(rate_limit=cap) as other:
            assert other.pacing is not None
            assert other.pacing.interval == documented


async def test_stricter_constructor_client_stops_counting_once_closed() -> None:
    """F6: two clients of a token keep the stricter cap while both are open, not after."""
    cap = RateLimit(requests=10, per=1.0)
    async with (
        run_fake("pecmassiva", send_rate=None) as fake,
        fake.client(rate_limit=cap) as parent,
    ):
        await parent.quota.retrieve()
        assert parent.pacing is not None
        documented = parent.pacing.interval
        async with fake.client(rate_limit=RateLimit(requests=1, per=5.0)) as strict:
            await strict.quota.retrieve()
            assert parent.pacing.interval >= 5.0  # both open: the stricter one wins
        assert parent.pacing.interval == documented
        async with fake.client(rate_limit=cap) as other:
            assert other.pacing is not None
            assert other.pacing.interval == documented


async def test_strict_copy_is_spaced_at_its_own_limit() -> None:
    """F6: the strict copy's sends leave its own interval apart (a lower bound only)."""
    async with (
        run_fake("pecmassiva", send_rate=None) as fake,
        fake.client(rate_limit=RateLimit(requests=1, per=0.01)) as parent,
    ):
        strict = parent.with_options(rate_limit=RateLimit(requests=1, per=0.3, slack=0.0))
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(3):
            await strict.sends.create(recipients=[f"s{i}@pec.example.it"], subject="S", body="B")
        elapsed = loop.time() - start
        assert strict.pacing is not None
        assert strict.pacing.departed == 3
        assert parent.pacing is not None
        assert parent.pacing.interval < 0.3
    assert elapsed >= 0.5  # two intervals of 0.3 s: the pacing can only make it longer
    assert len(fake.state.ledger) == 3


async def test_with_options_rate_limit_paces_the_copy() -> None:
    """A stricter rate_limit: the copy's sends go through a gate at that limit."""
    cap = RateLimit(requests=1, per=0.05, margin=0)
    async with (
        run_fake("pecmassiva", send_rate=cap) as fake,
        fake.client(rate_limit=None) as client,
    ):
        slow = client.with_options(rate_limit=RateLimit(requests=1, per=0.1))
        for i in range(2):
            await slow.sends.create(recipients=[f"r{i}@pec.example.it"], subject="S", body="B")
        state = slow.pacing
    assert state is not None
    assert (state.requests, state.per) == (1, 0.1)
    assert state.departed == 2
    assert state.refusals == 0
    assert len(fake.state.ledger) == 2


def test_with_options_rate_limit_refused() -> None:
    """A rate_limit that is not a RateLimit is a ValidationError naming the field."""
    with pytest.raises(ValidationError) as caught:
        _client("https://ws.example.it").with_options(rate_limit=5)  # type: ignore[arg-type]
    assert caught.value.field == "rate_limit"


# -- headers --------------------------------------------------------------------------


async def test_with_options_headers_are_sent_and_merged(recorder: Recorder) -> None:
    """Extra headers go with every request; a second with_options merges over the first."""
    async with _client(recorder.url) as client:
        tagged = client.with_options(headers={"X-Tenant": "acme", "X-Trace": "1"})
        again = tagged.with_options(headers={"X-Trace": "2"})
        await tagged.quota.retrieve()
        await again.quota.retrieve()
        await client.quota.retrieve()
    first, second, plain = recorder.seen
    assert (first["X-Tenant"], first["X-Trace"]) == ("acme", "1")
    assert (second["X-Tenant"], second["X-Trace"]) == ("acme", "2")
    assert "X-Tenant" not in plain
    assert second["x-password"] == PASSWORD  # the credentials still go in last


@pytest.mark.parametrize(
    "name",
    ["Authorization", "proxy-authorization", "Host", "Content-Length", "X-Password", "x-username"],
)
def test_with_options_headers_refuse_reserved_names(name: str) -> None:
    """Credential, routing and framing headers are refused, naming the header, no value."""
    with pytest.raises(ValidationError) as caught:
        _client("https://ws.example.it").with_options(headers={name: "Bearer s3cr3t-value"})
    assert caught.value.field == f"headers[{name}]"
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Ok": "a\r\nX-Evil: 1"}, "headers[X-Ok]"),
        ({"X-Ok": "a\nb"}, "headers[X-Ok]"),
        ({"X-Bad\r\nName": "v"}, "headers[?]"),
        ({"X Space": "v"}, "headers[X Space]"),
        ({"X-Num": 3}, "headers[X-Num]"),
    ],
)
def test_with_options_headers_refuse_control_characters(
    headers: dict[str, Any], field: str
) -> None:
    """CR/LF in a header name or value, a bad name or a non-string value: refused."""
    with pytest.raises(ValidationError) as caught:
        _client("https://ws.example.it").with_options(headers=headers)
    assert caught.value.field == field


FRAMING = [
    "Content-Encoding", "content-type", "EXPECT", "TE", "Trailer", "upgrade", "Keep-Alive",
    "Proxy-Connection", "X-HTTP-Method-Override", "x-http-method", "X-Method-Override",
]  # fmt: skip


@pytest.mark.parametrize("name", FRAMING)
def test_with_options_headers_refuse_framing_and_method_overrides(name: str) -> None:
    """F7: framing headers and method overrides are refused in any case, naming them."""
    with pytest.raises(ValidationError) as caught:
        _client("https://ws.example.it").with_options(headers={name: "gzip"})
    assert caught.value.field == f"headers[{name}]"


@pytest.mark.parametrize(
    "value", ["a\x85b", "a\u2028b", "a\u2029b", "a\ud800b", "caff\u00e8", "a\x7fb", "v" * 8193]
)
def test_with_options_headers_refuse_non_ascii_and_long_values(value: str) -> None:
    """F7: a value must be visible ASCII, space or tab, and at most 8 KiB."""
    with pytest.raises(ValidationError) as caught:
        _client("https://ws.example.it").with_options(headers={"X-A": value})
    assert caught.value.field == "headers[X-A]"


def test_with_options_headers_total_is_bounded_across_copies() -> None:
    """F7: extra headers add up to at most 32 KiB, also over successive copies."""
    client = _client("https://ws.example.it").with_options(
        headers={"X-A": "v" * 8192, "X-B": "\t ok"}
    )
    client = client.with_options(headers={"X-C": "v" * 8192, "X-D": "v" * 8192})
    with pytest.raises(ValidationError) as caught:
        client.with_options(headers={"X-E": "v" * 8192})
    assert caught.value.field == "headers"
    with pytest.raises(ValidationError):
        client.with_options(headers={"X-Dup": "1", "x-dup": "2"})


async def test_with_options_later_headers_replace_case_insensitively(recorder: Recorder) -> None:
    """F7: a later copy's user-agent replaces an earlier User-Agent (one header sent)."""
    async with _client(recorder.url) as client:
        copy = client.with_options(headers={"User-Agent": "a", "X-Tenant": "t1"})
        copy = copy.with_options(headers={"user-agent": "b", "x-tenant": "t2"})
        await copy.quota.retrieve()
    assert copy._transport.default_headers == {"user-agent": "b", "x-tenant": "t2"}
    assert recorder.seen[0]["User-Agent"] == f"b {UA_PRODUCT}"
    sent = {k.lower(): v for k, v in recorder.seen[0].items()}
    assert sent["x-tenant"] == "t2"


# -- closed parents, the sync signature ------------------------------------------------


async def test_copy_of_a_closed_client_raises_client_closed_error() -> None:
    """F10a: a copy used after its parent closed raises ClientClosedError (a RuntimeError)."""
    client = _client("http://127.0.0.1:9")
    copy = client.with_options(timeout=5)
    await client.aclose()
    with pytest.raises(ClientClosedError) as caught:
        await copy.quota.retrieve()
    assert isinstance(caught.value, CertmailError)
    assert isinstance(caught.value, RuntimeError)


# The first loop's session can no longer be closed (its loop is gone): the user's leak,
# which aiohttp reports when it is collected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_client_reused_in_a_second_asyncio_run_fails_at_once() -> None:
    """A client made in one asyncio.run and used in another: ClientClosedError, no wait."""
    import asyncio
    import gc
    import time

    async def scenario() -> tuple[PecMassivaClient, int]:
        async with run_fake("pecmassiva", send_rate=None, thread=True) as fake:
            paced = RateLimit(requests=1, per=5.0)
            client = fake.client(rate_limit=paced)
            await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
            return client, len(fake.state.ledger)

    client, sent = asyncio.run(scenario())
    box = [client]
    del client

    async def again() -> None:
        await box[0].sends.create(recipients=["b@pec.example.it"], subject="s", body="b")

    started = time.monotonic()
    with pytest.raises(ClientClosedError, match="another event loop"):
        asyncio.run(again())
    assert time.monotonic() - started < 4.0  # it did not wait for the 5 s pacing slot
    assert sent == 1
    box.clear()
    gc.collect()  # aiohttp's "unclosed session" report lands here, under the filters


def test_sync_with_options_has_the_async_keywords() -> None:
    """F8: the sync clients' with_options names the async one's keywords (typos fail)."""
    from certmail_async import sync

    want = inspect.signature(PecMassivaClient.with_options).parameters
    got = inspect.signature(sync.PecMassivaClient.with_options).parameters
    assert list(got) == list(want)
    client = sync.PecMassivaClient(
        token="tok-1234-abcd", username="box@pecmassiva.com", password="p"
    )
    try:
        with pytest.raises(TypeError):
            client.with_options(hedaers={"X-A": "1"})  # type: ignore[call-arg]
        assert client.with_options(headers={"X-A": "1"})._async._transport.default_headers == {
            "X-A": "1"
        }
    finally:
        client.close()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "abc", None])
def test_fake_max_body_size_bad_values_are_validation_errors(bad: Any) -> None:
    """F10b: a bad max_body_size (argument or attribute) is a ValidationError naming it."""
    with pytest.raises(ValidationError) as caught:
        FakePecMassiva(max_body_size=bad if bad is not None else "x")
    assert caught.value.field == "max_body_size"
    fake = FakePecMassiva()
    with pytest.raises(ValidationError) as caught:
        fake.max_body_size = bad
    assert caught.value.field == "max_body_size"


async def test_fake_max_body_size_is_fixed_once_served() -> None:
    """F10b: setting max_body_size on a served fake is refused, not silently ignored."""
    async with run_fake("pecmassiva", send_rate=None, max_body_size=1000) as fake:
        with pytest.raises(ValidationError) as caught:
            fake.state.max_body_size = 10_000
        assert caught.value.field == "max_body_size"
        assert fake.state.max_body_size == 1000


# -- User-Agent -----------------------------------------------------------------------


async def test_sdk_session_sends_the_sdk_user_agent(recorder: Recorder) -> None:
    """The session the SDK creates sends certmail-async/<version> as its User-Agent."""
    async with _client(recorder.url) as client:
        await client.quota.retrieve()
    assert recorder.seen[0]["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith(UA_PRODUCT)


async def test_caller_session_without_user_agent_gets_the_sdks(recorder: Recorder) -> None:
    """A caller's session with no User-Agent of its own: requests carry the SDK's."""
    async with aiohttp.ClientSession() as session:
        before = dict(session.headers)
        async with _client(recorder.url, session=session) as client:
            await client.quota.retrieve()
        assert dict(session.headers) == before
        assert not session.closed
    assert recorder.seen[0]["User-Agent"] == USER_AGENT


async def test_caller_session_user_agent_is_kept_first(recorder: Recorder) -> None:
    """A caller's own User-Agent is sent first, then the SDK's; the session is unchanged."""
    async with aiohttp.ClientSession(headers={"User-Agent": "acme-billing/2.1"}) as session:
        async with _client(recorder.url, session=session) as client:
            await client.quota.retrieve()
        assert session.headers["User-Agent"] == "acme-billing/2.1"
    assert recorder.seen[0]["User-Agent"] == f"acme-billing/2.1 {UA_PRODUCT}"


async def test_with_options_user_agent_is_followed_by_the_sdks(recorder: Recorder) -> None:
    """A User-Agent passed in with_options(headers=...) gets the SDK's token after it."""
    async with _client(recorder.url) as client:
        await client.with_options(headers={"user-agent": "batch/1"}).quota.retrieve()
    assert recorder.seen[0]["User-Agent"] == f"batch/1 {UA_PRODUCT}"


# -- from_env -------------------------------------------------------------------------

PECMASSIVA_ENV = {
    "CERTMAIL_PECMASSIVA_TOKEN": "fake-pecmassiva-token",
    "CERTMAIL_PECMASSIVA_USERNAME": "box@pecmassiva.com",
    "CERTMAIL_PECMASSIVA_PASSWORD": "fake-mailbox-password",
}


async def test_from_env_builds_a_working_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's CERTMAIL_PECMASSIVA_* variables are enough to talk to the provider."""
    for name, value in PECMASSIVA_ENV.items():
        monkeypatch.setenv(name, value)
    async with run_fake("pecmassiva") as fake:
        async with PecMassivaClient.from_env(base_url=fake.url) as client:
            quota = await client.quota.retrieve()
        assert client.username == "box@pecmassiva.com"
    assert quota.limit == 1048576


@pytest.mark.parametrize("missing", sorted(PECMASSIVA_ENV))
@pytest.mark.parametrize("empty", [False, True])
def test_from_env_missing_variable_is_named_without_values(
    monkeypatch: pytest.MonkeyPatch, missing: str, empty: bool
) -> None:
    """A missing (or blank) variable: ValidationError naming it, showing no value."""
    for name, value in PECMASSIVA_ENV.items():
        monkeypatch.setenv(name, value)
    if empty:
        monkeypatch.setenv(missing, "  ")
    else:
        monkeypatch.delenv(missing)
    with pytest.raises(ValidationError) as caught:
        PecMassivaClient.from_env()
    assert caught.value.field == missing
    shown = str(caught.value) + repr(caught.value)
    assert missing in shown
    for value in PECMASSIVA_ENV.values():
        assert value not in shown


def test_from_env_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyword arguments win over the environment, and stand in for a missing variable."""
    for name in PECMASSIVA_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CERTMAIL_PECMASSIVA_USERNAME", "env@pecmassiva.com")
    client = PecMassivaClient.from_env(
        token="t-override", username="kw@pecmassiva.com", password="p-override"
    )
    assert client.username == "kw@pecmassiva.com"


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        ("LegallyMailClient", "CERTMAIL_LEGALLYMAIL_TOKEN"),
        ("OpenapiPecClient", "CERTMAIL_OPENAPI_TOKEN"),
    ],
)
def test_from_env_other_providers(
    monkeypatch: pytest.MonkeyPatch, provider: str, variable: str
) -> None:
    """LegallyMail and openapi.it read their token variable; sync clients do the same."""
    import certmail_async
    from certmail_async import sync

    monkeypatch.delenv(variable, raising=False)
    for cls in (getattr(certmail_async, provider), getattr(sync, provider)):
        with pytest.raises(ValidationError) as caught:
            cls.from_env()
        assert caught.value.field == variable
    monkeypatch.setenv(variable, "tok-from-env-1234")
    client = getattr(certmail_async, provider).from_env(base_url="http://127.0.0.1:9")
    assert client.base_url == "http://127.0.0.1:9"
