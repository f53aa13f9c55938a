"""openapi.com OAuth v2: create, list, read, refresh and delete tokens; list scopes.

Account calls use HTTP Basic auth (account e-mail + API key); a refresh uses the token's
refresh token as Bearer. The API key, tokens and refresh tokens are secrets: masked in
reprs, redacted from logs and errors.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from .._auth import BasicAuth, BearerAuth, check_secret_length
from .._client_base import BaseClient, Resource, validating
from .._exceptions import ValidationError
from .._redact import Masked
from .._retry import RetryPolicy
from .._transport import ClientSession, Operation, ProviderProfile, Transport, scope_digest
from .._types import NOT_GIVEN, NotGiven, ResponseLimits, SecretStr, Timeout, TimeoutTypes
from .._validation import (
    check_bool,
    check_email,
    check_header_text,
    check_instance,
    check_int,
    check_optional,
    check_path_id,
    check_pattern,
    check_secret,
    check_sequence,
)
from ._checks import check_token_limits
from ._models import Scope, Token, TokenLimits
from ._wire import LENIENT, OAUTH_OPS, OAUTH_PROVIDER, OAUTH_SANDBOX_URL, OAUTH_URL

__all__ = ["OAuthClient", "OAuthTokenSource", "ScopesResource", "TokensResource"]

_SCOPE = re.compile(r"(?:GET|POST|PUT|PATCH|DELETE|\*):[A-Za-z0-9*.-]+/[\w*./{}-]*", re.ASCII)
_MAX_TTL = 365 * 24 * 3600
_wire = LENIENT


class _Profile(ProviderProfile):
    name = OAUTH_PROVIDER


def _token_value(token: Token | SecretStr | str) -> str:
    if isinstance(token, Token):
        return token.token.get_secret_value()
    if isinstance(token, SecretStr):
        return token.get_secret_value()
    return token


class TokensResource(Resource):
    """``oauth.tokens``: create, list, retrieve, refresh and delete tokens (``/tokens``).

    Examples:
        >>> import asyncio
        >>> from certmail_async import OAuthClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> tuple[str, ...]:
        ...     async with run_fake("openapi_pec") as fake, OAuthClient(
        ...         **fake.state.oauth_kwargs(), base_url=fake.url
        ...     ) as oauth:
        ...         token = await oauth.tokens.create(
        ...             scopes=["GET:pec.openapi.it/pec"], ttl=3600)
        ...         fresh = await oauth.tokens.refresh(token)  # the old one dies
        ...         await oauth.tokens.delete(fresh)
        ...     return fresh.scopes
        >>> asyncio.run(main())
        ('GET:pec.openapi.it/pec',)
    """

    _client: OAuthClient

    def _path(self, token: Token | SecretStr | str, op: Operation) -> dict[str, str | int]:
        with validating(op):
            if not isinstance(token, Token | SecretStr | str):
                raise ValidationError(
                    f"expected a Token or a token string, got {type(token).__name__}",
                    field="token",
                )
            value = check_path_id(_token_value(token), field="token")
        # The token sits in the URL path here: make sure no error text can show it, and
        # that no repr of the path (a traceback's locals) shows it either.
        self._client._transport.redactor.add(value)
        return {"token": Masked(value)}

    async def create(
        self,
        *,
        scopes: Sequence[str],
        name: str | None = None,
        ttl: int | None = None,
        limits: TokenLimits | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Token:
        """Create a token with ``scopes`` (``METHOD:host/path``), a ``ttl`` in seconds (<= 1 year).

        Examples:
            >>> import asyncio
            >>> from certmail_async import OAuthClient
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> tuple[str, ...]:
            ...     async with run_fake("openapi_pec") as fake, OAuthClient(
            ...         **fake.state.oauth_kwargs(), base_url=fake.url
            ...     ) as oauth:
            ...         token = await oauth.tokens.create(
            ...             scopes=["GET:pec.openapi.it/pec",
            ...                     "POST:pec.openapi.it/pec"],
            ...             ttl=3600)
            ...     return token.scopes
            >>> asyncio.run(main())
            ('GET:pec.openapi.it/pec', 'POST:pec.openapi.it/pec')
        """
        op = OAUTH_OPS.CREATE
        with validating(op):
            for i, scope in enumerate(check_sequence(scopes, field="scopes", min_len=1)):
                check_pattern(scope, _SCOPE, field=f"scopes[{i}]", what="METHOD:host/path")
            check_optional(name, check_header_text, field="name", max_len=200)
            check_optional(ttl, check_int, field="ttl", min=1, max=_MAX_TTL)
            if limits is not None:
                check_token_limits(limits)
        response = await self._call(
            op,
            json=_wire.token_body(scopes=scopes, name=name, ttl=ttl, limits=limits),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._learn(_wire.token(response, op))

    async def list(
        self,
        *,
        limit: int = 100,
        skip: int = 0,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> tuple[Token, ...]:
        """A page of your tokens (``limit`` up to 100, ``skip`` to page on)."""
        op = OAUTH_OPS.LIST
        with validating(op):
            check_int(limit, field="limit", min=1, max=100)
            check_int(skip, field="skip", min=0)
        response = await self._call(
            op, params=_wire.list_params(limit, skip), timeout=timeout, max_retries=max_retries
        )
        return tuple(self._learn(t) for t in _wire.tokens(response, op))

    async def retrieve(
        self,
        token: Token | SecretStr | str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Token:
        """One token's details."""
        op = OAUTH_OPS.RETRIEVE
        path_params = self._path(token, op)
        del token  # only the Masked path id stays in this frame (tracebacks with locals)
        response = await self._call(
            op, path_params=path_params, timeout=timeout, max_retries=max_retries
        )
        return self._learn(_wire.token(response, op))

    async def delete(
        self,
        token: Token | SecretStr | str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> None:
        """Delete a token (it stops working at once)."""
        op = OAUTH_OPS.DELETE
        path_params = self._path(token, op)
        del token  # only the Masked path id stays in this frame (tracebacks with locals)
        await self._call(op, path_params=path_params, timeout=timeout, max_retries=max_retries)

    async def refresh(
        self,
        token: Token | SecretStr | str,
        *,
        refresh_token: SecretStr | str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Token:
        """A new token (and refresh token) with the same scopes; the old token dies at once.

        ``refresh_token`` defaults to the one carried by ``token`` when it is a
        [Token][certmail_async.Token].
        """
        op = OAUTH_OPS.REFRESH
        if refresh_token is None and isinstance(token, Token):
            refresh_token = token.refresh_token
        path_params = self._path(token, op)
        del token  # only the Masked path id stays in this frame (tracebacks with locals)
        with validating(op):
            if refresh_token is None:
                raise ValidationError("a refresh token is required", field="refresh_token")
            # The refresh token replaces the Basic credentials for this one call; the
            # BearerAuth registers it for redaction and places it at the last moment.
            auth = BearerAuth(check_secret(refresh_token, field="refresh_token", token=True))
        del refresh_token  # no plaintext credential stays in this frame
        response = await self._call(
            op,
            path_params=path_params,
            json={},
            auth=auth,
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._learn(_wire.token(response, op))

    def _learn(self, token: Token) -> Token:
        redactor = self._client._transport.redactor
        redactor.add(token.token.get_secret_value())
        if token.refresh_token is not None:
            redactor.add(token.refresh_token.get_secret_value())
        return token


class ScopesResource(Resource):
    """``oauth.scopes``: the scopes your account can grant (``/scopes``).

    Examples:
        >>> import asyncio
        >>> from certmail_async import OAuthClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> str:
        ...     async with run_fake("openapi_pec") as fake, OAuthClient(
        ...         **fake.state.oauth_kwargs(), base_url=fake.url
        ...     ) as oauth:
        ...         scopes = await oauth.scopes.list()
        ...     return scopes[0].scope
        >>> asyncio.run(main())
        'GET:pec.openapi.it/pec'
    """

    async def list(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> tuple[Scope, ...]:
        """The scopes your account can grant, with their rate limits."""
        op = OAUTH_OPS.SCOPES
        response = await self._call(op, timeout=timeout, max_retries=max_retries)
        return _wire.scopes(response, op)


class OAuthClient(BaseClient):
    """Client for openapi.com OAuth v2 (``oauth.openapi.com``): token management.

    Examples:
        Against the fake (drop ``base_url=`` for the real service, and use your account's
        e-mail and API key):

        >>> import asyncio
        >>> from certmail_async import OAuthClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> bool:
        ...     async with run_fake("openapi_pec") as fake:
        ...         async with OAuthClient(email="account@example.com",
        ...                                api_key="fake-openapi-api-key",
        ...                                base_url=fake.url) as oauth:
        ...             token = await oauth.tokens.create(
        ...                 scopes=["GET:pec.openapi.it/pec"])
        ...     return token.token.get_secret_value() in repr(token)
        >>> asyncio.run(main())  # the secret never shows in a repr
        False
    """

    def __init__(
        self,
        *,
        email: str,
        api_key: str | SecretStr,
        sandbox: bool = False,
        base_url: str | None = None,
        session: ClientSession | None = None,
        timeout: TimeoutTypes = Timeout(),
        max_retries: int = 2,
        retry_policy: RetryPolicy = RetryPolicy(),
        response_limits: ResponseLimits = ResponseLimits(),
    ) -> None:
        try:  # the constructor's own parameters, before anything is built
            check_email(email, field="email")
            check_secret_length(check_secret(api_key, field="api_key"), field="api_key")
            check_bool(sandbox, field="sandbox")
            check_instance(retry_policy, RetryPolicy, field="retry_policy")
        except ValidationError as error:
            error.provider = OAUTH_PROVIDER
            raise
        self.email = check_email(email, field="email")
        self._api_key = SecretStr(api_key)
        if not self._api_key:
            raise ValidationError(
                "an API key is required", field="api_key", provider=OAUTH_PROVIDER
            )
        self._transport = Transport(
            profile=_Profile(),
            base_url=(OAUTH_SANDBOX_URL if sandbox else OAUTH_URL)
            if base_url is None
            else base_url,
            auth=BasicAuth(self.email, self._api_key, field="api_key"),
            session=session,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            response_limits=response_limits,
            rate_limit=None,
            scope=self.email,
        )
        self._bind_resources()

    def _bind_resources(self) -> None:
        self.tokens = TokensResource(self)
        self.scopes = ScopesResource(self)

    def __repr__(self) -> str:
        return f"OAuthClient(email={self.email!r}, base_url={self.base_url!r})"


class OAuthTokenSource:
    """A token that refreshes itself ``refresh_before`` seconds before it expires.

    Give it to [OpenapiPecClient][certmail_async.OpenapiPecClient] or
    [PecMassivaClient][certmail_async.PecMassivaClient] as ``token=``: every
    request then gets a live token. A refresh kills the old token at once, so the swap is
    done under a lock and concurrent requests wait for the new one.

    Examples:
        >>> import asyncio
        >>> from certmail_async import OAuthClient, OAuthTokenSource, OpenapiPecClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> int:
        ...     async with run_fake("openapi_pec") as fake, OAuthClient(
        ...         **fake.state.oauth_kwargs(), base_url=fake.url
        ...     ) as oauth:
        ...         token = await oauth.tokens.create(
        ...             scopes=["GET:pec.openapi.it/pec"], ttl=3600)
        ...         source = OAuthTokenSource(oauth, token, refresh_before=300)
        ...         async with OpenapiPecClient(token=source,
        ...                                     base_url=fake.url) as client:
        ...             return len(await client.mailboxes.list())
        >>> asyncio.run(main())
        0
    """

    def __init__(self, oauth: OAuthClient, token: Token, *, refresh_before: float = 300.0) -> None:
        try:
            check_instance(oauth, OAuthClient, field="oauth")
            check_instance(token, Token, field="token")
            check_secret(token.token, field="token", token=True)
            if isinstance(refresh_before, bool) or not isinstance(refresh_before, int | float):
                raise ValidationError("expected a number of seconds", field="refresh_before")
            if not 0 <= refresh_before < 366 * 24 * 3600:
                raise ValidationError("expected 0 seconds to a year", field="refresh_before")
        except ValidationError as error:
            error.provider = OAUTH_PROVIDER
            raise
        self._oauth = oauth
        self._token = token
        self._refresh_before = refresh_before
        self._lock = asyncio.Lock()
        self._scope = scope_digest(token.token.get_secret_value())
        self.refreshes = 0

    @property
    def scope_key(self) -> str:
        """Stable across refreshes: the digest of the first token."""
        return self._scope

    @property
    def token(self) -> Token:
        """The current token."""
        return self._token

    def _fresh(self) -> bool:
        expires = self._token.expire_at
        if expires is None:
            return True
        return (expires - datetime.now(UTC)).total_seconds() > self._refresh_before

    async def get(self) -> str:
        """The current token value, refreshed first when it is about to expire."""
        if not self._fresh():
            async with self._lock:
                if not self._fresh():  # another task may have refreshed while we waited
                    self._token = await self._oauth.tokens.refresh(self._token)
                    self.refreshes += 1
        return self._token.token.get_secret_value()

    def __repr__(self) -> str:
        return f"<OAuthTokenSource expires={self._token.expire_at} refreshes={self.refreshes}>"
