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
