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
    so a refreshed token keeps the same gate. Pass one as ``token=`` to a client.

    Examples:
        A token kept in your own vault, read when a request needs it:

        >>> from certmail_async import TokenSource
        >>> class VaultToken:
        ...     def __init__(self, name: str) -> None:
        ...         self.name = name
        ...     @property
        ...     def scope_key(self) -> str:
        ...         return f"vault:{self.name}"  # stable, and no secret in it
        ...     async def get(self) -> str:
        ...         return "656d1e2f8b3c2a001f7e4a12"  # read from the vault here
        >>> isinstance(VaultToken("pec"), TokenSource)
        True
    """

    @property
    def scope_key(self) -> str:
        """A stable, non-secret identity for pacing scopes."""
        ...

    async def get(self) -> str:
        """The token to use now (refreshed first if it is about to expire)."""
        ...
