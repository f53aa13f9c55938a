"""LegallyMail credentials: one token, in one of three placements.

``header`` sends ``Authorization: Bearer <token>``; ``raw_header`` sends the token alone in
``Authorization``; ``body`` puts it in a field of JSON bodies (the GET calls,
which have no body, keep the header). This class is the only place that knows the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from .._auth import Auth, AuthRequest, BearerAuth, check_secret_length
from .._types import SecretStr
from ._wire import TOKEN_FIELD

__all__ = ["LegallyMailAuth", "TokenPlacement"]

TokenPlacement = Literal["header", "raw_header", "body"]


class LegallyMailAuth(Auth):
    """The account token in the header, raw header or body, as the account is set up.

    Example:
        >>> LegallyMailAuth("tok-1234", "body").placement
        'body'
    """

    def __init__(self, token: str | SecretStr, placement: TokenPlacement = "header") -> None:
        self._token = check_secret_length(token, field="token")
        self.placement: TokenPlacement = placement
        self._header = BearerAuth(self._token, raw=placement == "raw_header")
        self.scope_key = self._header.scope_key

    async def apply(self, request: AuthRequest) -> None:
        """The token where the placement says (body placement: POSTs with a JSON body)."""
        if self.placement == "body" and request.op.method == "POST":
            request.set_body_field(TOKEN_FIELD, request.secret(self._token))
        else:
            await self._header.apply(request)

    def secrets(self) -> Iterable[SecretStr]:
        """The token."""
        return (self._token,)
