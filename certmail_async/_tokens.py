"""Bearer tokens for the openapi.com family: a fixed token or a source that refreshes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

from ._transport import Operation, scope_digest
from ._types import SecretStr

__all__ = ["TokenSource", "bearer_auth"]


@runtime_checkable
class TokenSource(Protocol):
    """Anything that hands out a current bearer token (see ``OAuthTokenSource``).

    ``scope_key`` is stable across refreshes and not secret: pacing gates are keyed by it,
    so a refreshed token keeps the same gate.
    """

    @property
    def scope_key(self) -> str:
        """A stable, non-secret identity for pacing scopes."""
        ...

    async def get(self) -> str:
        """The token to use now (refreshed first if it is about to expire)."""
        ...


AuthHeaders = Callable[[Operation], Awaitable[Mapping[str, str]]]


def bearer_auth(token: str | SecretStr | TokenSource) -> tuple[AuthHeaders, str, SecretStr | None]:
    """Auth hook, pacing-scope key and (for a fixed token) the secret, for a bearer token."""
    if isinstance(token, TokenSource):
        source = token

        async def from_source(_op: Operation) -> Mapping[str, str]:
            return {"Authorization": f"Bearer {await source.get()}"}

        return from_source, source.scope_key, None
    secret = SecretStr(token)
    header = {"Authorization": f"Bearer {secret.get_secret_value()}"}

    async def fixed(_op: Operation) -> Mapping[str, str]:
        return header

    return fixed, scope_digest(secret.get_secret_value()), secret
