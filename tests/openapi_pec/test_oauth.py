"""OAuthClient and OAuthTokenSource against the fake OAuth v2 service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from certmail_async import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    OAuthClient,
    OAuthTokenSource,
    OpenapiPecClient,
    PecMassivaClient,
    SecretStr,
    TokenLimits,
    ValidationError,
)
from certmail_async.testing import RunningFake

pytestmark = pytest.mark.timeout(30)


class TestTokens:
    async def test_create_list_retrieve_delete(self, fake: RunningFake, oauth: OAuthClient) -> None:
        """Tokens are created with scopes, ttl and limits, listed, read and deleted."""
        host = fake.state.host
        token = await oauth.tokens.create(
            scopes=[f"GET:{host}/pec"],
            name="read-only",
            ttl=3600,
            limits=TokenLimits(total_requests=100, ip=("127.0.0.1",)),
        )
        assert token.scopes == (f"GET:{host}/pec",)
        assert token.expire_at is not None
        assert token.created_at is not None
        assert timedelta(minutes=59) < token.expire_at - token.created_at <= timedelta(hours=1)
        assert token.limits is not None
        assert token.limits.total_requests == 100
        listed = await oauth.tokens.list()
        assert token.token in [t.token for t in listed]
        assert (await oauth.tokens.retrieve(token)).name == "read-only"
        await oauth.tokens.delete(token)
        with pytest.raises(NotFoundError) as info:
            await oauth.tokens.retrieve(token)
        assert info.value.code == 120

    async def test_refresh_replaces_the_token(self, fake: RunningFake, oauth: OAuthClient) -> None:
        """refresh returns a new token with the same scopes; the old one stops working."""
        old = await oauth.tokens.create(scopes=[f"GET:{fake.state.host}/pec"])
        new = await oauth.tokens.refresh(old)
        assert new.token != old.token
        assert new.scopes == old.scopes
        async with OpenapiPecClient(token=old.token, base_url=fake.url, sandbox=True) as c:
            with pytest.raises(AuthenticationError):
                await c.mailboxes.list()
        async with OpenapiPecClient(token=new.token, base_url=fake.url, sandbox=True) as c:
            assert await c.mailboxes.list() == ()

    async def test_refresh_with_a_wrong_refresh_token(
        self, fake: RunningFake, oauth: OAuthClient
    ) -> None:
        """A wrong refresh token is 401/130."""
        token = await oauth.tokens.create(scopes=[f"GET:{fake.state.host}/pec"])
        with pytest.raises(AuthenticationError) as info:
            await oauth.tokens.refresh(token, refresh_token="not-the-refresh-token")
        assert info.value.code == 130

    @pytest.mark.parametrize(
        ("scopes", "code"),
        [(["GET:nowhere.example.com/pec"], 90)],
    )
    async def test_scope_errors_from_the_service(
        self, oauth: OAuthClient, scopes: list[str], code: int
    ) -> None:
        """Scopes for an API not enabled are 422/90."""
        with pytest.raises(ConflictError) as info:
            await oauth.tokens.create(scopes=scopes)
        assert (info.value.status, info.value.code) == (422, code)

    @pytest.mark.parametrize("scopes", [[], ["pec.openapi.it/pec"], ["GET pec.openapi.it"]])
    async def test_bad_scopes_fail_before_the_wire(
        self, fake: RunningFake, oauth: OAuthClient, scopes: list[str]
    ) -> None:
        """Missing or malformed scopes are ValidationErrors; no request is made."""
        with pytest.raises(ValidationError):
            await oauth.tokens.create(scopes=scopes)
        assert fake.state.requests == []

    async def test_wrong_api_key(self, fake: RunningFake) -> None:
        """A wrong API key is 401."""
        async with OAuthClient(
            email=fake.state.email, api_key="wrong-key-123", base_url=fake.url
        ) as bad:
            with pytest.raises(AuthenticationError):
                await bad.scopes.list()

    async def test_scopes(self, oauth: OAuthClient) -> None:
        """scopes.list returns the 12 PEC scopes; rateLimit false becomes None."""
        scopes = await oauth.scopes.list()
        assert len(scopes) == 12
        assert all(s.rate_limit is None for s in scopes)


class TestTokenSource:
    async def test_refreshes_before_expiry_and_keeps_the_gate(
        self, fake: RunningFake, oauth: OAuthClient
    ) -> None:
        """A token near expiry is refreshed once, under a lock, before the next request."""
        token = await oauth.tokens.create(scopes=fake.state.all_scopes())
        near = attrs.evolve(token, expire_at=datetime.now(UTC) + timedelta(seconds=10))
        source = OAuthTokenSource(oauth, near, refresh_before=60)
        key = source.scope_key
        async with OpenapiPecClient(token=source, base_url=fake.url, sandbox=True) as c:
            import asyncio

            await asyncio.gather(*(c.mailboxes.list() for _ in range(5)))
            assert source.refreshes == 1
            assert source.token.token != token.token
            await c.mailboxes.list()
        assert source.refreshes == 1
        assert source.scope_key == key
        assert token.token.get_secret_value() not in fake.state.tokens

    async def test_pecmassiva_takes_a_token_source(
        self, fake: RunningFake, oauth: OAuthClient
    ) -> None:
        """PecMassivaClient accepts a token source too."""
        token = await oauth.tokens.create(scopes=fake.state.all_scopes())
        client = PecMassivaClient(
            token=OAuthTokenSource(oauth, token), username="box@pecmassiva.com", password="pw"
        )
        from certmail_async._auth import AuthRequest
        from certmail_async.pecmassiva._wire import OPS

        request = AuthRequest(OPS.QUOTA, headers={}, json=None, redactor=client._transport.redactor)
        await client._transport.auth.apply(request)
        assert request.headers["Authorization"] == f"Bearer {token.token.get_secret_value()}"
        await client.aclose()

    async def test_secrets_are_masked(self, fake: RunningFake, oauth: OAuthClient) -> None:
        """Token, refresh token and API key never show in reprs."""
        token = await oauth.tokens.create(scopes=[f"GET:{fake.state.host}/pec"])
        secret = token.token.get_secret_value()
        refresh = token.refresh_token.get_secret_value() if token.refresh_token else "x" * 8
        texts = [repr(token), repr(oauth), repr(vars(oauth)), repr(OAuthTokenSource(oauth, token))]
        for text in texts:
            assert secret not in text
            assert refresh not in text
            assert fake.state.api_key not in text
        assert isinstance(token.token, SecretStr)
