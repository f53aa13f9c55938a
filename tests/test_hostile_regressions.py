"""Regressions found by attacking the hardened edges as a hostile user (issue 10)."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from certmail_async import (
    CertmailError,
    LegallyMailClient,
    OAuthClient,
    RetryPolicy,
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

    async def test_refresh_refused_locally_holds_no_token(self) -> None:
        """refresh() without a refresh token: the ValidationError's frames show no token."""
        token = "Sx9kQwErTy1234567890abcdefTOKEN"
        async with OAuthClient(
            email="me@example.com", api_key="K" * 20, base_url="http://127.0.0.1:9"
        ) as oauth:
            with pytest.raises(ValidationError) as info:
                await oauth.tokens.refresh(token)
        assert info.value.field == "refresh_token"
        assert not [t for t in _sdk_locals(info.value) if token in t]


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


def _mixed_forms(secret: str) -> list[str]:
    """Escapes a fixed list of whole-string forms misses: per-character and mixed."""
    import html
    import json
    import unicodedata
    from urllib.parse import quote

    return [
        "".join(f"\\u{ord(c):04X}" for c in secret),  # every character \u-escaped
        json.dumps(json.dumps(secret))[1:-1],  # JSON inside JSON
        "".join(f"&#{ord(c)};" for c in secret),  # HTML numeric entities
        html.escape(secret),  # &quot; &amp; &#x27;
        quote(secret, safe="!'()*~"),  # encodeURIComponent's safe set
        repr(secret.encode())[2:-1],  # a Python bytes repr
        unicodedata.normalize("NFD", secret),
    ]


class TestEchoedSecretEscapes:
    PASSWORD = "p\"w\\è+%& x1!'<>"

    @pytest.mark.parametrize("form", range(7))
    @pytest.mark.parametrize("status", [400, 500, 201])
    async def test_escaped_echo_is_scrubbed(self, form: int, status: int) -> None:
        """A password echoed with its characters escaped any way leaves no trace anywhere."""
        from certmail_async import PecMassivaClient

        echo = _mixed_forms(self.PASSWORD)[form]

        async def answer(request: web.Request) -> web.Response:
            await request.read()
            code = status if request.method == "POST" else min(status, 400)
            text = '{"error": "bad ' + echo + '", "message": "' + echo + '", "x": ['
            return web.Response(status=code, text=text, content_type="application/json")

        async with (
            _server(answer) as url,
            PecMassivaClient(
                token="tok-12345678",
                username="box@pecmassiva.com",
                password=self.PASSWORD,
                base_url=url,
                rate_limit=None,
                max_retries=0,
            ) as client,
        ):
            errors = []
            for call in (
                client.quota.retrieve,
                lambda: client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b"),
            ):
                with pytest.raises(CertmailError) as info:
                    await call()
                errors.append(info.value)
        for err in errors:
            seen: BaseException | None = err
            while seen is not None:
                for text in (str(seen), repr(seen), repr(getattr(seen, "body", None))):
                    assert echo not in text
                    assert self.PASSWORD not in text
                    assert repr(echo)[1:-1] not in text
                seen = seen.__cause__

    async def test_error_code_is_scrubbed(self) -> None:
        """The provider's error code (echoed input) is scrubbed like the message."""
        from certmail_async import PecMassivaClient

        password = "Ab1!'<>?;=,@#$"

        async def answer(request: web.Request) -> web.Response:
            return web.json_response({"error": f"bad {password}", "message": "no"}, status=400)

        async with (
            _server(answer) as url,
            PecMassivaClient(
                token="tok-12345678",
                username="box@pecmassiva.com",
                password=password,
                base_url=url,
                rate_limit=None,
                max_retries=0,
            ) as client,
        ):
            with pytest.raises(CertmailError) as info:
                await client.quota.retrieve()
        assert password not in str(info.value)
        assert password not in str(info.value.code)


class TestRawAnswerCut:
    @pytest.mark.parametrize("tail", [10, 111, 500])
    async def test_long_token_straddling_the_read_window_leaves_no_prefix(self, tail: int) -> None:
        """Repeated long tokens shrink when masked: one cut by the 4 KB window must not show."""
        token = "eyJ" + "A1b2C3d4E5" * 99
        pre = '{"oops": "'
        body = pre + token * 3 + "x" * (4096 - len(pre) - 3 * len(token) - tail) + token + '"}'

        async def answer(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=200, text=body, content_type="application/json")

        async with (
            _server(answer) as url,
            LegallyMailClient(token=token, base_url=url, rate_limit=None, max_retries=0) as client,
        ):
            with pytest.raises(CertmailError) as info:
                await client.emails.send(recipients=["a@pec.example.it"], subject="s", html="b")
        raw = str(info.value.body)
        assert token[:12] not in raw


class TestSendAnswers:
    @pytest.mark.parametrize(
        "body",
        [
            {"success": True, "sent": 1, "message_id": None},
            {"success": True, "sent": 1, "message_id": ""},
            {"success": True, "sent": 1, "message_id": ".."},
            {"success": True, "sent": 1, "message_id": ["x"]},
            {"success": True, "sent": 1, "message_id": "abc\r\nX-Y: z"},
            {"success": True, "sent": -5, "message_id": "2020082610003492"},
            {"success": False, "message": "failed"},
        ],
    )
    async def test_pecmassiva_unusable_success_is_delivery_unknown(
        self, body: dict[str, object]
    ) -> None:
        """A 201 without a usable send code (null became "None") or saying success:false."""
        from certmail_async import DeliveryUnknownError

        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("POST", "/send", status=201, body=body, after_record=True)
            async with fake.client(rate_limit=None) as client:
                with pytest.raises(DeliveryUnknownError):
                    await client.sends.create(
                        recipients=["a@pec.example.it"], subject="s", body="b"
                    )
            assert fake.state.count("POST", "/send") == 1

    async def test_legallymail_success_false_on_a_send_is_delivery_unknown(self) -> None:
        """A 200 {"success": false} on emails.send / signatures.request is not a failure."""
        from certmail_async import DeliveryUnknownError, Signer

        async with run_fake("legallymail", rate=None) as fake:
            for route in ("/api/send", "/api/signature/send"):
                fake.state.faults.inject(
                    "POST", route, status=200, body={"success": False, "message": "x"}
                )
            async with fake.client(rate_limit=None, max_retries=0) as client:
                with pytest.raises(DeliveryUnknownError):
                    await client.emails.send(recipients=["a@pec.example.it"], subject="s", html="b")
                with pytest.raises(DeliveryUnknownError):
                    await client.signatures.request(
                        signers=[Signer(name="Anna", email="anna@example.com")],
                        document=b"%PDF-1.4 x",
                        document_name="a.pdf",
                    )


class TestSuccessFalseEcho:
    async def test_secret_echoed_in_a_2xx_failure_is_scrubbed(self) -> None:
        """A 2xx {"success": false} echoing the password shows it in no error, read or send."""
        from certmail_async import PecMassivaClient

        password = "Secr3t-Passw0rd-XYZ"

        async def answer(request: web.Request) -> web.Response:
            await request.read()
            body = {"success": False, "message": f"bad {password}", "error": password}
            return web.json_response(body, status=201 if request.method == "POST" else 200)

        async with (
            _server(answer) as url,
            PecMassivaClient(
                token="tok-12345678",
                username="box@pecmassiva.com",
                password=password,
                base_url=url,
                rate_limit=None,
                max_retries=0,
            ) as client,
        ):
            errors = []
            for call in (
                client.quota.retrieve,
                lambda: client.sends.delete("abc"),
                lambda: client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b"),
            ):
                with pytest.raises(CertmailError) as info:
                    await call()
                errors.append(info.value)
        for err in errors:
            seen: BaseException | None = err
            while seen is not None:
                for text in (str(seen), repr(seen), repr(getattr(seen, "body", None))):
                    assert password not in text
                seen = seen.__cause__


class _Source:
    """A TokenSource handing out whatever it was given."""

    def __init__(self, value: object) -> None:
        self.value = value

    @property
    def scope_key(self) -> str:
        return "hostile-source"

    async def get(self) -> str:
        return self.value  # type: ignore[return-value]


class TestTokenSourceValues:
    @pytest.mark.parametrize("value", [None, 123, "", "a b", "a\r\nb", "tok\u00e8", b"tok"])
    async def test_bad_token_from_a_source_is_a_validation_error(self, value: object) -> None:
        """A source's None, int, blank, CR/LF or non-ASCII token: ValidationError, unsent."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            async with fake.client(token=_Source(value), rate_limit=None) as client:
                with pytest.raises(ValidationError) as info:
                    await client.quota.retrieve()
            assert fake.state.requests == []
        assert info.value.field == "token"
        assert (info.value.provider, info.value.operation) == ("pecmassiva", "quota.retrieve")


class TestFalsyBaseUrl:
    @pytest.mark.parametrize("value", ["", False, 0, [], -0.0])
    def test_falsy_base_url_is_refused_not_production(self, value: object) -> None:
        """base_url="" (an unset setting) or False is a ValidationError, never production."""
        from certmail_async import OpenapiPecClient, PecMassivaClient

        makers = [
            lambda: PecMassivaClient(
                token="tok-12345678", username="box@pecmassiva.com", password="pw", base_url=value
            ),
            lambda: LegallyMailClient(token="tok-12345678", base_url=value),
            lambda: OpenapiPecClient(token="tok-12345678", base_url=value),
            lambda: OAuthClient(email="me@example.com", api_key="k" * 20, base_url=value),
        ]
        for make in makers:
            with pytest.raises(ValidationError) as info:
                make()
            assert info.value.field == "base_url"


class TestUndecodableContentEncoding:
    async def test_corrupt_gzip_and_unknown_brotli(self) -> None:
        """A corrupt gzip or a brotli body: ResponseDecodeError on a read (not retried as a
        network failure), DeliveryUnknownError on a send."""
        from certmail_async import DeliveryUnknownError, PecMassivaClient, ResponseDecodeError

        calls = 0

        async def answer(request: web.Request) -> web.Response:
            nonlocal calls
            calls += 1
            await request.read()
            encoding = "gzip" if calls % 2 else "br"
            return web.Response(
                status=201 if request.method == "POST" else 200,
                body=b"0123456789",
                headers={"Content-Type": "application/json", "Content-Encoding": encoding},
            )

        async with (
            _server(answer) as url,
            PecMassivaClient(
                token="tok-12345678",
                username="box@pecmassiva.com",
                password="pw",
                base_url=url,
                rate_limit=None,
                retry_policy=RetryPolicy(base=0),
            ) as client,
        ):
            for _ in range(2):
                with pytest.raises(ResponseDecodeError):
                    await client.quota.retrieve()
            reads = calls
            for _ in range(2):
                with pytest.raises(DeliveryUnknownError):
                    await client.sends.create(
                        recipients=["a@pec.example.it"], subject="s", body="b"
                    )
        assert reads == 2  # each read answered once: not retried
        assert calls == 4


class TestInboxPagination:
    @pytest.mark.parametrize("mode", ["same", "page_lies"])
    async def test_a_server_that_ignores_page_cannot_loop_forever(self, mode: str) -> None:
        """n_of_pages=1e9 with the same page again (or the wrong page number): two requests."""
        from certmail_async import PecMassivaClient

        calls = 0

        async def answer(request: web.Request) -> web.Response:
            nonlocal calls
            calls += 1
            number = int(request.query.get("page", "1"))
            item = {
                "id": 1,
                "sender": "a@pec.example.it",
                "recipient": "b@pec.example.it",
                "object": "s",
                "date": "Mon, 01 Jan 2024 10:00:00 +0000",
            }
            body = {
                "success": True,
                "message": "",
                "data": [item],
                "page": 1 if mode == "page_lies" else number,
                "total": 10**12,
                "n_of_pages": 10**9,
            }
            return web.json_response(body)

        async with (
            _server(answer) as url,
            PecMassivaClient(
                token="tok-12345678",
                username="box@pecmassiva.com",
                password="pw",
                base_url=url,
                rate_limit=None,
            ) as client,
        ):
            got = [m.id async for m in client.inbox.list()]
        assert got == [1]
        assert calls == 2


class TestJsonValueCount:
    async def test_millions_of_small_arrays_are_refused_before_parsing(self) -> None:
        """1.1M empty arrays (3 MB, under the byte limit): ResponseDecodeError, nothing built;
        on a send DeliveryUnknownError."""
        import tracemalloc

        from certmail_async import DeliveryUnknownError, PecMassivaClient, ResponseDecodeError

        body = b"[" + b",".join([b"[]"] * 1_100_000) + b"]"

        async def answer(request: web.Request) -> web.Response:
            await request.read()
            status = 201 if request.method == "POST" else 200
            return web.Response(body=body, status=status, content_type="application/json")

        async with (
            _server(answer) as url,
            PecMassivaClient(
                token="tok-12345678",
                username="box@pecmassiva.com",
                password="pw",
                base_url=url,
                rate_limit=None,
                max_retries=0,
            ) as client,
        ):
            tracemalloc.start()
            try:
                with pytest.raises(ResponseDecodeError):
                    await client.quota.retrieve()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            with pytest.raises(DeliveryUnknownError):
                await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
        assert peak < 40 * 1024 * 1024  # parsed, 1.1M lists would take about 70 MB

    def test_limit_is_configurable_and_checked(self) -> None:
        """ResponseLimits(json_values=...) is a positive int, like the other limits."""
        from certmail_async import ResponseLimits

        assert ResponseLimits(json_values=10).json_values == 10
        for bad in (0, -1, 1.5, True, None):
            with pytest.raises(ValidationError) as info:
                ResponseLimits(json_values=bad)  # type: ignore[arg-type]
            assert info.value.field == "response_limits.json_values"


class TestRetryAfterEcho:
    async def test_hostile_retry_after_is_logged_short_and_scrubbed(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A Retry-After echoing the password (or 8 KB long) is cut and scrubbed in logs and
        in the SDK frames' locals."""
        import logging

        from certmail_async import PecMassivaClient, RateLimitError

        password = "Secr3t-Passw0rd-XYZ"

        async def answer(request: web.Request) -> web.Response:
            return web.Response(status=429, headers={"Retry-After": f"{password} {'9' * 4000}"})

        caplog.set_level(logging.DEBUG, logger="certmail_async")
        async with (
            _server(answer) as url,
            PecMassivaClient(
                token="tok-12345678",
                username="box@pecmassiva.com",
                password=password,
                base_url=url,
                rate_limit=None,
                max_retries=0,
            ) as client,
        ):
            with pytest.raises(RateLimitError) as info:
                await client.quota.retrieve()
        assert not [t for t in _sdk_locals(info.value) if password in t]
        for record in caplog.records:
            assert password not in record.getMessage()
            assert len(record.getMessage()) < 1000


class TestLoggedDates:
    async def test_free_text_birth_dates_are_masked_at_debug(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A birth date written in a subject or body (11/04/1982, 1982-04-11) is not logged."""
        import logging

        caplog.set_level(logging.DEBUG, logger="certmail_async")
        async with (
            run_fake("legallymail", rate=None) as fake,
            fake.client(rate_limit=None) as client,
        ):
            await client.emails.send(
                recipients=["a@pec.example.it"],
                subject="Avviso: nato il 11/04/1982",
                html="<p>nato il 1982-04-11 (o 1.4.1982)</p>",
            )
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "POST /api/send" in text
        for date in ("11/04/1982", "1982-04-11", "1.4.1982"):
            assert date not in text


class TestRedactorRepr:
    def test_redactor_internals_show_no_secret(self) -> None:
        """The redactor's stored secrets, forms and pattern all repr as the mask."""
        from certmail_async._redact import Redactor

        secret = "Secr3t-Passw0rd-XYZ"
        redactor = Redactor([secret])
        for slot in ("_secrets", "_forms", "_pattern"):
            assert secret not in repr(getattr(redactor, slot))
        assert redactor.scrub(f"x {secret} y") == "x ********** y"
        assert secret in redactor

    @pytest.mark.parametrize("count", [1, 4, 5, 8, 30])
    def test_backslash_runs_cannot_make_scrubbing_backtrack(self, count: int) -> None:
        """A password of many backslashes and an echo of thousands: scrubbed in milliseconds."""
        import time

        from certmail_async._redact import Redactor

        secret = "ab" + "\\" * count + "cd"
        redactor = Redactor([secret])
        started = time.perf_counter()
        redactor.scrub("a" + "\\" * 5000 + "c")
        assert time.perf_counter() - started < 0.2
        assert secret not in redactor.scrub(f"x {secret} y")


class TestJsonErrorHoldsNoAnswer:
    async def test_undecodable_answer_is_in_no_frame_or_cause(self) -> None:
        """A broken JSON answer echoing the API key: not in SDK frame locals nor in the
        chained JSONDecodeError's ``doc``."""
        key = "pässwörd  é ok-KEY"

        async def answer(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(
                status=201, text='{"oops": "' + key + '"', content_type="application/json"
            )

        async with (
            _server(answer) as url,
            OAuthClient(email="me@example.com", api_key=key, base_url=url, max_retries=0) as oauth,
        ):
            with pytest.raises(CertmailError) as info:
                await oauth.tokens.create(scopes=["GET:pec.openapi.it/pec"])
        assert not [t for t in _sdk_locals(info.value) if key in t]
        seen: BaseException | None = info.value
        while seen is not None:
            assert key not in repr(vars(seen))
            seen = seen.__cause__ or seen.__context__


class TestSpoofedFileNames:
    @pytest.mark.parametrize(
        "name",
        ["fattura\u202efdp.exe", "a\u2066b.pdf", "a\u200b.pdf", "\ufeffa.pdf", "a\u200f.pdf"],
    )
    async def test_bidi_and_zero_width_characters_are_refused(self, name: str) -> None:
        """A file name that hides its real extension (RLO, isolates, zero-width) is refused
        for attachments and signature documents, before the wire."""
        from certmail_async import Attachment, Signer

        with pytest.raises(ValidationError) as info:
            Attachment(filename=name, content=b"%PDF-1.4")
        assert info.value.field == "filename"
        async with (
            run_fake("legallymail", rate=None) as fake,
            fake.client(rate_limit=None) as client,
        ):
            with pytest.raises(ValidationError) as info:
                await client.signatures.request(
                    signers=[Signer(name="Anna", email="anna@example.com")],
                    document=b"%PDF-1.4 x",
                    document_name=name,
                )
            assert info.value.field == "document_name"
            assert fake.state.requests == []

    def test_ordinary_names_still_pass(self) -> None:
        """Accents and right-to-left scripts without control characters are fine."""
        from certmail_async import Attachment

        for name in ("Fattura è.pdf", "عقد.pdf", "契約.pdf"):
            assert Attachment(filename=name, content=b"x").filename == name
