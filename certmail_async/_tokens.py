"""Bearer tokens for the openapi.com family: the source of a token that refreshes.

A fixed token or a [TokenSource][certmail_async.TokenSource] is turned into credentials by
`BearerAuth`, applied by the transport at the last moment.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["TokenSource"]


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
