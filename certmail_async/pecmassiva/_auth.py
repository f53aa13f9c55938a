"""PEC Massiva credentials: the openapi.com bearer token plus the mailbox login.

The mailbox ``username``/``password`` travel in the body of ``POST /send`` and in headers
on every other call (the reference's placements; the key names live in ``_wire.py``). This
class is the only place that applies them; the wire builders never see a password.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._auth import Auth, AuthRequest, BearerAuth, check_secret_length
from .._types import SecretStr
from ._wire import LOGIN_BODY_FIELDS, LOGIN_HEADERS

__all__ = ["PecMassivaAuth"]


class PecMassivaAuth(Auth):
    """Bearer token on every call; the mailbox login in the body or in headers.

    Example:
        >>> auth = PecMassivaAuth(BearerAuth("tok-1234"), "box@pecmassiva.com", "pw-5678")
        >>> sorted(s.get_secret_value() for s in auth.secrets())
        ['box@pecmassiva.com:pw-5678', 'pw-5678', 'tok-1234']
    """

    def __init__(self, token: BearerAuth, username: str, password: str | SecretStr) -> None:
        self._token = token
        self._username = username
        self._password = check_secret_length(password, field="password")
        # A proxy or a provider may echo the login as Basic credentials: the pair is
        # registered so base64("username:password") is scrubbed too.
        self._pair = SecretStr(f"{username}:{self._password.get_secret_value()}")
        self.scope_key = token.scope_key

    async def apply(self, request: AuthRequest) -> None:
        """Bearer header, then the mailbox login where the operation wants it."""
        await self._token.apply(request)
        if request.op.sends:
            user_field, password_field = LOGIN_BODY_FIELDS
            request.set_body_field(user_field, self._username)
            request.set_body_field(password_field, request.secret(self._password))
        else:
            user_header, password_header = LOGIN_HEADERS
            request.headers[user_header] = self._username
            request.headers[password_header] = request.secret(self._password)

    def secrets(self) -> Iterable[SecretStr]:
        """The token (when fixed), the mailbox password and ``username:password``."""
        return (*self._token.secrets(), self._password, self._pair)
