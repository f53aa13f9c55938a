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
