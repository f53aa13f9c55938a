"""Regressions found by attacking the hardened edges as a hostile user (issue 10)."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from certmail_async import (
    CertmailError,
    OAuthClient,
    SecretStr,
    ValidationError,
)
from certmail_async.testing import run_fake

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def _server(handler: Handler) -> AsyncIterator[str]:
    """A hostile HTTP server on loopback answering every route with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _sdk_locals(err: BaseException) -> list[str]:
    """The repr of every local variable of every SDK frame in ``err``'s tracebacks."""
    out: list[str] = []
    pending = [traceback.TracebackException.from_exception(err, capture_locals=True)]
    while pending:
        te = pending.pop()
        for frame in te.stack:
            if "certmail_async" in frame.filename:
                out += [f"{frame.name}.{k}={v}" for k, v in (frame.locals or {}).items()]
        pending += [t for t in (te.__cause__, te.__context__) if t is not None]
    return out


class TestOAuthTokenPathLocals:
    @pytest.mark.parametrize("wrap", [str, SecretStr])
    @pytest.mark.parametrize("call", ["retrieve", "delete", "refresh"])
    async def test_token_in_path_is_in_no_sdk_frame(self, wrap: type, call: str) -> None:
        """A token used as a path id is held by no SDK frame local (the URL stays Masked)."""
        token = "Sx9kQwErTy1234567890abcdefTOKEN"
        refresh = "Rf9kQwErTy1234567890abcdefREFRESH"

        async def answer(request: web.Request) -> web.Response:
            return web.json_response({"message": "bad"}, status=400)

        async with (
            _server(answer) as url,
            OAuthClient(email="me@example.com", api_key="K" * 20, base_url=url) as oauth,
        ):
            method = getattr(oauth.tokens, call)
            kwargs = {"refresh_token": wrap(refresh)} if call == "refresh" else {}
            with pytest.raises(CertmailError) as info:
                await method(wrap(token), **kwargs)
        for text in _sdk_locals(info.value):
            assert token not in text, text[:200]
            assert refresh not in text, text[:200]


class TestLoneSurrogates:
    async def test_refused_before_the_wire_everywhere(self) -> None:
        """A lone surrogate in a path id, a subject or a body is a ValidationError, unsent."""
        async with run_fake("openapi_pec") as fake:
            async with OAuthClient(base_url=fake.url, **fake.state.oauth_kwargs()) as oauth:
                for call in (oauth.tokens.retrieve, oauth.tokens.delete):
                    with pytest.raises(ValidationError) as info:
                        await call("a\ud800b")
                    assert info.value.field == "token"
            assert fake.state.requests == []
        async with run_fake("legallymail", rate=None) as fake:
            async with fake.client(rate_limit=None) as client:
                for field in ("subject", "html", "reply_to_name"):
                    kwargs = {"recipients": ["a@pec.example.it"], "subject": "s", "html": "b"}
                    with pytest.raises(ValidationError) as info:
                        await client.emails.send(**{**kwargs, field: "x\udc80y"})
                    assert info.value.field == field
                with pytest.raises(ValidationError) as info:
                    await client.emails.retrieve("cm_\ud800")
                assert info.value.field == "tracking_id"
            assert fake.state.requests == []


class TestZeroTimeout:
    @pytest.mark.parametrize("value", [0, 0.0, -0.0])
    async def test_zero_is_refused_everywhere(self, value: float) -> None:
        """timeout=0 (which aiohttp reads as no limit: a hang) is a ValidationError, unsent."""
        from certmail_async import Timeout

        with pytest.raises(ValidationError) as info:
            Timeout(total=value)
        assert info.value.field == "timeout"
        with pytest.raises(ValidationError) as info:
            Timeout(connect=value)
        assert info.value.field == "timeout.connect"
        async with run_fake("pecmassiva", send_rate=None) as fake:
            with pytest.raises(ValidationError):
                fake.client(timeout=value)
            async with fake.client(rate_limit=None) as client:
                with pytest.raises(ValidationError):
                    client.with_options(timeout=value)
                with pytest.raises(ValidationError) as info:
                    await client.quota.retrieve(timeout=value)
                assert info.value.field == "timeout"
            assert fake.state.requests == []


class TestRateLimitAndRetryPolicyInputs:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"requests": None}, "rate_limit.requests"),
            ({"requests": "1"}, "rate_limit.requests"),
            ({"requests": True}, "rate_limit.requests"),
            ({"requests": 1.5}, "rate_limit.requests"),
            ({"requests": float("nan")}, "rate_limit.requests"),
            ({"requests": float("inf")}, "rate_limit.requests"),
            ({"per": None}, "rate_limit.per"),
            ({"per": "1"}, "rate_limit.per"),
            ({"per": True}, "rate_limit.per"),
            ({"per": float("nan")}, "rate_limit.per"),
            ({"margin": None}, "rate_limit.margin"),
            ({"margin": True}, "rate_limit.margin"),
            ({"margin": b"1"}, "rate_limit.margin"),
        ],
    )
    def test_rate_limit_bad_field_is_a_validation_error(
        self, kwargs: dict[str, object], field: str
    ) -> None:
        """A wrong type, bool, float count, NaN or inf in RateLimit is a ValidationError."""
        from certmail_async import RateLimit

        with pytest.raises(ValidationError) as info:
            RateLimit(**{"requests": 1, "per": 1.0, **kwargs})  # type: ignore[arg-type]
        assert info.value.field == field

    @pytest.mark.parametrize("name", ["base", "cap", "max_retry_after"])
    @pytest.mark.parametrize("value", [None, "1", True, b"1", [], -1, float("nan"), float("inf")])
    def test_retry_policy_bad_field_is_a_validation_error(self, name: str, value: object) -> None:
        """A wrong type, bool, negative or non-finite RetryPolicy field is a ValidationError."""
        from certmail_async import RetryPolicy

        with pytest.raises(ValidationError) as info:
            RetryPolicy(**{name: value})  # type: ignore[arg-type]
        assert info.value.field == f"retry_policy.{name}"

    def test_secret_with_a_lone_surrogate_is_a_validation_error(self) -> None:
        """A credential holding a lone surrogate is a ValidationError, not UnicodeEncodeError."""
        with pytest.raises(ValidationError) as info:
            OAuthClient(email="me@example.com", api_key="key\ud800key")
        assert info.value.field == "api_key"
