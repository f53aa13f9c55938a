"""The one auth seam: each strategy places its credentials, masked and registered."""

from __future__ import annotations

import base64
import inspect

import pytest

from certmail_async import SecretStr
from certmail_async._auth import AuthRequest, BasicAuth, BearerAuth, scope_digest
from certmail_async._redact import Masked, Redactor
from certmail_async._transport import Operation
from certmail_async.legallymail._auth import LegallyMailAuth
from certmail_async.legallymail._wire import OPS as LM_OPS
from certmail_async.legallymail._wire import LegallyMailWire
from certmail_async.pecmassiva._auth import PecMassivaAuth
from certmail_async.pecmassiva._wire import OPS as PM_OPS
from certmail_async.pecmassiva._wire import PecMassivaWire

TOKEN = "tok-SECRET-4f1c9a"
PASSWORD = 'pw "è+%& SECRET'


def _request(op: Operation, json: dict[str, object] | None = None) -> AuthRequest:
    return AuthRequest(op, headers={}, json=json, redactor=Redactor())


class _Source:
    """A TokenSource that hands out a new token on every call."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def scope_key(self) -> str:
        return "stable-scope"

    async def get(self) -> str:
        self.calls += 1
        return f"refreshed-token-{self.calls}"


class TestBearerAuth:
    async def test_fixed_token(self) -> None:
        """A fixed token goes in a masked Bearer header and is known to the redactor."""
        request = _request(PM_OPS.QUOTA)
        auth = BearerAuth(TOKEN)
        await auth.apply(request)
        value = request.headers["Authorization"]
        assert value == f"Bearer {TOKEN}"
        assert isinstance(value, Masked)
        assert TOKEN not in repr(request.headers)
        assert request._redactor.scrub(TOKEN) == "**********"
        assert auth.scope_key == scope_digest(TOKEN)

    async def test_raw_placement(self) -> None:
        """raw=True sends the token without the Bearer prefix."""
        request = _request(PM_OPS.QUOTA)
        await BearerAuth(TOKEN, raw=True).apply(request)
        assert request.headers["Authorization"] == TOKEN

    async def test_token_source_is_asked_each_time_and_redacted(self) -> None:
        """A TokenSource gives a live token per request; each new one is scrubbed from then on."""
        source = _Source()
        auth = BearerAuth(source)
        redactor = Redactor()
        for n in (1, 2):
            request = AuthRequest(PM_OPS.QUOTA, headers={}, json=None, redactor=redactor)
            await auth.apply(request)
            assert request.headers["Authorization"] == f"Bearer refreshed-token-{n}"
        assert redactor.scrub("refreshed-token-1 refreshed-token-2") == "********** **********"
        assert auth.scope_key == "stable-scope"
        assert list(auth.secrets()) == []


class TestBasicAuth:
    async def test_header_and_redaction(self) -> None:
        """Basic base64(user:key): the header is masked; key and base64 forms are registered."""
        auth = BasicAuth("me@example.com", PASSWORD)
        request = _request(Operation(provider="o", name="n", method="GET", path="/"))
        await auth.apply(request)
        encoded = base64.b64encode(f"me@example.com:{PASSWORD}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {encoded}"
        redactor = Redactor(s.get_secret_value() for s in auth.secrets())
        assert redactor.scrub(f"{encoded} {encoded.rstrip('=')} {PASSWORD}") == " ".join(
            ["**********"] * 3
        )


class TestPecMassivaAuth:
    async def test_send_carries_the_login_in_the_body(self) -> None:
        """POST /send: username/password body fields (a copy), bearer header; no x-password."""
        auth = PecMassivaAuth(BearerAuth(TOKEN), "box@pecmassiva.com", PASSWORD)
        original = {"subject": "s"}
        request = _request(PM_OPS.SEND, json=original)
        await auth.apply(request)
        assert request.json == {
            "subject": "s",
            "username": "box@pecmassiva.com",
            "password": PASSWORD,
        }
        assert original == {"subject": "s"}  # the caller's dict is untouched
        assert isinstance(request.json["password"], Masked)
        assert "x-password" not in request.headers
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"

    async def test_reads_carry_the_login_in_headers(self) -> None:
        """Every other call: x-username / x-password headers, masked, no body fields."""
        auth = PecMassivaAuth(BearerAuth(TOKEN), "box@pecmassiva.com", PASSWORD)
        request = _request(PM_OPS.RECEIPTS)
        await auth.apply(request)
        assert request.headers["x-password"] == PASSWORD
        assert isinstance(request.headers["x-password"], Masked)
        assert request.json is None
        assert PASSWORD not in repr(request.headers)

    def test_wire_builders_never_take_a_password(self) -> None:
        """send_body has no credential parameter: only the Auth places the login."""
        params = inspect.signature(PecMassivaWire.send_body).parameters
        assert not {"password", "username", "token"} & set(params)
        params = inspect.signature(LegallyMailWire.send_body).parameters
        assert "token" not in params
        assert not hasattr(LegallyMailWire, "with_token")


class TestLegallyMailAuth:
    @pytest.mark.parametrize(
        ("placement", "op", "header", "body_token"),
        [
            ("header", LM_OPS.SEND, f"Bearer {TOKEN}", False),
            ("header", LM_OPS.INFO, f"Bearer {TOKEN}", False),
            ("raw_header", LM_OPS.SEND, TOKEN, False),
            ("raw_header", LM_OPS.EMAILS, TOKEN, False),
            ("body", LM_OPS.SEND, None, True),
            ("body", LM_OPS.SIGN, None, True),
            ("body", LM_OPS.INFO, f"Bearer {TOKEN}", False),  # GETs have no body
        ],
    )
    async def test_three_placements(
        self, placement: str, op: Operation, header: str | None, body_token: bool
    ) -> None:
        """header, raw_header and body placements, per operation method."""
        auth = LegallyMailAuth(SecretStr(TOKEN), placement)  # type: ignore[arg-type]
        request = _request(op, json={"subject": "s"} if op.method == "POST" else None)
        await auth.apply(request)
        assert request.headers.get("Authorization") == header
        assert ((request.json or {}).get("token") == TOKEN) is body_token
