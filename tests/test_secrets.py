"""No secret in any log line, repr or error text, whatever happens."""

from __future__ import annotations

import logging

import pytest

from certmail_async import CertmailError, RateLimit, RetryPolicy, SecretStr
from certmail_async.testing import run_fake

TOKEN = "tok-SECRET-4f1c9a"
PASSWORD = "pw-SECRET-77e2b0"


def _texts(err: BaseException) -> list[str]:
    out = []
    seen: BaseException | None = err
    while seen is not None:
        out += [str(seen), repr(seen), repr(getattr(seen, "body", None))]
        seen = seen.__cause__ or getattr(seen, "cause", None)
    return out


class TestSecretStr:
    def test_masked_everywhere(self) -> None:
        """repr, str and f-strings of a SecretStr never show the value."""
        s = SecretStr(TOKEN)
        assert TOKEN not in repr(s)
        assert TOKEN not in str(s)
        assert TOKEN not in f"{s} {s!r}"
        assert s.get_secret_value() == TOKEN

    def test_cannot_be_pickled(self) -> None:
        """Pickling a secret is refused rather than copying it into a byte stream."""
        import pickle

        with pytest.raises(TypeError):
            pickle.dumps(SecretStr(TOKEN))


class TestNoLeak:
    async def test_no_secret_in_logs_reprs_or_errors(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Across success, 401, 500, timeout, reset and echoed secrets, no token or password leaks."""
        caplog.set_level(logging.DEBUG)
        errors: list[BaseException] = []
        async with run_fake(
            "pecmassiva",
            token=TOKEN,
            password=PASSWORD,
            send_rate=RateLimit(requests=1, per=0.01, margin=0),
        ) as fake:
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.01, margin=0.5),
                retry_policy=RetryPolicy(base=0.0),
            ) as client:
                await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
                await client.quota.retrieve()
                faults = fake.state.faults
                # the provider echoes the secrets back in an error body
                faults.inject(
                    "POST",
                    "/send",
                    status=500,
                    body={
                        "success": False,
                        "message": f"bad {PASSWORD} {TOKEN}",
                        "password": PASSWORD,
                        "token": TOKEN,
                    },
                )
                faults.inject("POST", "/send", drop=True)
                faults.inject("POST", "/send", delay=0.2)
                faults.inject(
                    "GET",
                    "/quota/{mailbox}",
                    status=400,
                    body=f"plain text error with {TOKEN}",
                    times=None,
                )
                for call in (
                    lambda: client.sends.create(
                        recipients=["a@pec.example.it"], subject="s", body="b"
                    ),
                    lambda: client.sends.create(
                        recipients=["a@pec.example.it"], subject="s", body="b"
                    ),
                    lambda: client.sends.create(
                        recipients=["a@pec.example.it"], subject="s", body="b", timeout=0.05
                    ),
                    lambda: client.quota.retrieve(),
                    lambda: client.sends.create(recipients=["bad"], subject="s", body="b"),
                ):
                    with pytest.raises(CertmailError) as info:
                        await call()
                    errors.append(info.value)
                reprs = [
                    repr(client),
                    repr(client.with_options(max_retries=1)),
                    repr(vars(client)),
                    repr(client._transport),
                    repr(vars(client._transport)),  # no credential kept on the transport
                    repr(client._transport.redactor),
                ]
            async with fake.client(password="wrong-" + PASSWORD) as bad:
                with pytest.raises(CertmailError) as info:
                    await bad.quota.retrieve()
                errors.append(info.value)
        assert len(errors) == 6
        texts = [t for e in errors for t in _texts(e)] + reprs
        texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
        assert any("Authorization" in t for t in texts)  # headers were logged, masked
        for text in texts:
            assert TOKEN not in text
            assert PASSWORD not in text


class TestLegallyMailNoLeak:
    @pytest.mark.parametrize("placement", ["header", "raw_header", "body"])
    async def test_token_never_leaks_in_any_placement(
        self, caplog: pytest.LogCaptureFixture, placement: str
    ) -> None:
        """Body, raw-header and Bearer token placements: no token in logs, reprs or errors."""
        caplog.set_level(logging.DEBUG)
        fast = RateLimit(requests=10, per=0.1, margin=0)
        async with (
            run_fake("legallymail", token=TOKEN, rate=fast) as fake,
            fake.client(
                rate_limit=RateLimit(requests=10, per=0.1, margin=0.5),
                retry_policy=RetryPolicy(base=0.0),
                token_placement=placement,
            ) as client,
        ):
            await client.emails.send(recipients=["a@example.com"], subject="s", html="h")
            fake.state.faults.inject(
                "POST",
                "/api/send",
                status=500,
                body={"success": False, "message": f"echo {TOKEN}", "token": TOKEN},
            )
            with pytest.raises(CertmailError) as info:
                await client.emails.send(recipients=["a@example.com"], subject="s", html="h")
            texts = [*_texts(info.value), repr(client), repr(vars(client))]
        logs = [r.getMessage() for r in caplog.records]
        if placement == "body":
            # the token field travelled in the logged body, masked
            assert any('"token": "**********"' in line for line in logs)
        for text in texts + logs:
            assert TOKEN not in text


class TestOpenapiNoLeak:
    async def test_api_key_and_tokens_in_paths_never_leak(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The OAuth API key, a token used as a path id and a refresh token never leak."""
        from certmail_async import OAuthClient

        caplog.set_level(logging.DEBUG)
        async with (
            run_fake("openapi_pec", api_key=TOKEN) as fake,
            OAuthClient(base_url=fake.url, **fake.state.oauth_kwargs()) as oauth,
        ):
            token = await oauth.tokens.create(scopes=[f"GET:{fake.state.host}/pec"])
            value = token.token.get_secret_value()
            assert token.refresh_token is not None
            refresh = token.refresh_token.get_secret_value()
            fake.state.faults.inject("GET", "/tokens/{token}", drop=True, times=None)
            fake.state.faults.inject(
                "PATCH", "/tokens/{token}", status=500, body=f"boom {value} {refresh}"
            )
            errors = []
            for call in (oauth.tokens.retrieve(token), oauth.tokens.refresh(token)):
                with pytest.raises(CertmailError) as info:
                    await call
                errors.append(info.value)
            texts = [t for e in errors for t in _texts(e)] + [repr(oauth), repr(token)]
        texts += [r.getMessage() for r in caplog.records]
        for text in texts:
            for secret in (TOKEN, value, refresh):
                assert secret not in text


# -- every encoding ------------------------------------------------------------------------

MATRIX = [
    'quo"te-pw',
    "back\\slash-pw",
    "accentè-pw",
    "plus+sign-pw",
    "per%cent-pw",
    "amp&ersand-pw",
    "with space-pw",
    'all "\\ è+%& of them',
]


def _forms(secret: str, basic_user: str | None = None) -> list[str]:
    """Every form a hostile server could echo a secret in (Basic: with ``basic_user``)."""
    import base64
    import json
    from urllib.parse import quote, quote_plus

    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote(secret, safe="").lower(),
        quote_plus(secret).lower(),
    }
    if basic_user is not None:
        forms.add(base64.b64encode(f"{basic_user}:{secret}".encode()).decode())
    return sorted(f for f in forms if len(f) >= 4)


def _echo(secret: str, basic_user: str | None = None) -> str:
    """An error text carrying the secret in every form at once."""
    return " | ".join(_forms(secret, basic_user))


def _all_texts(err: BaseException) -> list[str]:
    import traceback

    texts = _texts(err)
    texts.append("".join(traceback.TracebackException.from_exception(err).format()))
    return texts


def _assert_clean(texts: list[str], secret: str, basic_user: str | None = None) -> None:
    for text in texts:
        for form in _forms(secret, basic_user):
            assert form not in text, (form, text[:300])


class TestRedactorForms:
    @pytest.mark.parametrize("secret", MATRIX)
    def test_scrubs_every_form(self, secret: str) -> None:
        """Raw, JSON-escaped (ASCII or not), URL-encoded (%20 or +, any hex case): all masked."""
        from certmail_async._redact import Redactor

        redactor = Redactor([secret])
        for form in _forms(secret):
            assert redactor.scrub(f"<{form}>") == "<**********>", form

    @pytest.mark.parametrize("secret", MATRIX)
    def test_scrubs_nested_bodies(self, secret: str) -> None:
        """scrub_any walks dicts and lists (keys included) without recursion."""
        from certmail_async._redact import Redactor

        redactor = Redactor([secret])
        nested: object = {"echo": [secret, {secret: 1}]}
        for _ in range(5000):
            nested = [nested]
        out = redactor.scrub_any(nested)
        for _ in range(5000):
            out = out[0]
        assert out == {"echo": ["**********", {"**********": 1}]}


class TestEchoedSecretsMatrix:
    @pytest.mark.parametrize("password", MATRIX)
    async def test_pecmassiva_password_never_leaks(
        self, password: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A password echoed back in every encoding is scrubbed from errors, bodies and logs."""
        caplog.set_level(logging.DEBUG)
        async with (
            run_fake("pecmassiva", password=password, send_rate=None) as fake,
            fake.client(
                rate_limit=None, retry_policy=RetryPolicy(base=0.0), max_retries=0
            ) as client,
        ):
            sent = await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
            assert sent.code  # the odd password was accepted: it travelled intact
            await client.quota.retrieve()  # x-password header accepted too
            faults = fake.state.faults
            echo = _echo(password)
            faults.inject(
                "POST",
                "/send",
                status=500,
                body={"success": False, "message": echo, "password": password, "e": echo},
            )
            faults.inject("GET", "/quota/{mailbox}", status=400, body=echo)
            faults.inject(
                "GET",
                "/quota/{mailbox}",
                status=302,
                headers={"Location": f"https://evil.example/?p={echo}"},
            )
            faults.inject("POST", "/send", status=201, body=echo, after_record=True)
            errors = []
            for call in (
                lambda: client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b"),
                client.quota.retrieve,
                client.quota.retrieve,
                lambda: client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b"),
            ):
                with pytest.raises(CertmailError) as info:
                    await call()
                errors.append(info.value)
        assert "redirect" in str(errors[2])
        texts = [t for e in errors for t in _all_texts(e)]
        texts += [r.getMessage() for r in caplog.records]
        _assert_clean(texts, password)

    @pytest.mark.parametrize("api_key", [m for m in MATRIX if " " not in m])
    async def test_basic_credentials_never_leak(self, api_key: str) -> None:
        """The OAuth API key and its Basic base64 form, echoed back, are scrubbed."""
        from certmail_async import OAuthClient

        async with run_fake("openapi_pec", api_key=api_key) as fake:
            kwargs = {**fake.state.oauth_kwargs(), "email": "me@example.com"}
            async with OAuthClient(base_url=fake.url, **kwargs) as oauth:
                echo = _echo(api_key, "me@example.com")
                fake.state.faults.inject("GET", "/scopes", status=500, body=echo)
                with pytest.raises(CertmailError) as info:
                    await oauth.scopes.list(max_retries=0)
        _assert_clean(_all_texts(info.value), api_key, "me@example.com")


class TestTracebackLocals:
    """A traceback captured with its locals shows no credential (finding 3)."""

    def _format(self, err: BaseException) -> str:
        import io
        import traceback

        from rich.console import Console
        from rich.traceback import Traceback

        plain = "".join(
            traceback.TracebackException.from_exception(err, capture_locals=True).format()
        )
        buffer = io.StringIO()
        console = Console(file=buffer, width=200)
        console.print(Traceback.from_exception(type(err), err, err.__traceback__, show_locals=True))
        return plain + buffer.getvalue()

    @pytest.mark.parametrize("fault", ["delay", "drop", "status"])
    async def test_pecmassiva_frames_hold_no_secret(self, fault: str) -> None:
        """Send and read failures: no token, password or x-password value in any frame."""
        password = 'pw "\\è+%& 77e2b0'
        async with run_fake("pecmassiva", token=TOKEN, password=password, send_rate=None) as fake:
            kw = {"delay": 0.3} if fault == "delay" else {}
            kw = {"drop": True} if fault == "drop" else kw
            kw = {"status": 500} if fault == "status" else kw
            fake.state.faults.inject("*", "*", times=None, **kw)
            async with fake.client(rate_limit=None, max_retries=0, timeout=0.1) as client:
                failures = []
                for call in (
                    lambda: client.sends.create(
                        recipients=["a@pec.example.it"], subject="s", body="b"
                    ),
                    client.quota.retrieve,
                ):
                    with pytest.raises(CertmailError) as info:
                        await call()
                    failures.append(info.value)
        for err in failures:
            text = self._format(err)
            assert "Traceback" in text or "raise" in text
            _assert_clean([text], TOKEN)
            _assert_clean([text], password)

    async def test_connect_error_frames_hold_no_secret(self) -> None:
        """A refused connection: the SDK frames and aiohttp's show no credential."""
        from certmail_async import ConnectError, OAuthClient, PecMassivaClient

        pm = PecMassivaClient(
            token=TOKEN,
            username="box@pecmassiva.com",
            password=PASSWORD,
            base_url="http://127.0.0.1:9",
            rate_limit=None,
            max_retries=0,
        )
        oauth = OAuthClient(
            email="me@example.com",
            api_key=PASSWORD,
            base_url="http://127.0.0.1:9",
            max_retries=0,
        )
        errors = []
        async with pm, oauth:
            for call in (
                lambda: pm.sends.create(recipients=["a@pec.example.it"], subject="s", body="b"),
                pm.quota.retrieve,
                oauth.scopes.list,
            ):
                with pytest.raises(ConnectError) as info:
                    await call()
                errors.append(info.value)
        for err in errors:
            text = self._format(err)
            _assert_clean([text], TOKEN)
            _assert_clean([text], PASSWORD)


class TestCutsAfterScrubbing:
    @pytest.mark.parametrize("offset", [490, 495, 499, 1995, 1999])
    async def test_secret_straddling_a_cut_leaves_no_prefix(self, offset: int) -> None:
        """Messages are cut at 500 and raw answers at 2000 chars: scrubbed before the cut."""
        filler = "x" * offset
        async with (
            run_fake("pecmassiva", password=PASSWORD, send_rate=None) as fake,
            fake.client(rate_limit=None, max_retries=0) as client,
        ):
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=400, body=filler + PASSWORD)
            fake.state.faults.inject(
                "POST", "/send", status=201, body=filler + PASSWORD, after_record=True
            )
            errors = []
            for call in (
                client.quota.retrieve,
                lambda: client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b"),
            ):
                with pytest.raises(CertmailError) as info:
                    await call()
                errors.append(info.value)
        for text in (t for e in errors for t in _texts(e)):
            assert PASSWORD[:8] not in text
