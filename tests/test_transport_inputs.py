"""Path segments and transport options: refused before the wire, naming the field."""

from __future__ import annotations

import math
from typing import Any

import pytest

from certmail_async import (
    LegallyMailClient,
    OAuthClient,
    OpenapiPecClient,
    PecMassivaClient,
    Timeout,
    ValidationError,
)
from certmail_async._transport import Operation, ProviderProfile, Transport, _fill_path
from certmail_async.testing import run_fake

OP = Operation(provider="p", name="things.get", method="GET", path="/things/{id}/x")


class TestPathSegments:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("abc", "/things/abc/x"),
            (42, "/things/42/x"),
            ("a/b", "/things/a%2Fb/x"),
            ("a b+c", "/things/a%20b%2Bc/x"),
            ("%2e%2e", "/things/%252e%252e/x"),
            ("è?#&", "/things/%C3%A8%3F%23%26/x"),
            ("...", "/things/.../x"),
        ],
    )
    def test_every_segment_is_percent_encoded(self, value: str | int, expected: str) -> None:
        """Each value is encoded as one segment: '/', '?', '#', '%' and spaces cannot escape."""
        assert _fill_path(OP, {"id": value}) == expected

    @pytest.mark.parametrize("value", ["", ".", ".."])
    def test_dot_and_empty_ids_are_refused(self, value: str) -> None:
        """Empty, '.' and '..' would route elsewhere: ValidationError naming the parameter."""
        with pytest.raises(ValidationError) as info:
            _fill_path(OP, {"id": value})
        assert info.value.field == "id"
        assert info.value.operation == "things.get"

    @pytest.mark.parametrize("value", [None, True, 1.5, b"x", ["a"]])
    def test_wrong_types_are_refused(self, value: Any) -> None:
        """None, bools, floats, bytes and lists are not path ids."""
        with pytest.raises(ValidationError) as info:
            _fill_path(OP, {"id": value})
        assert info.value.field == "id"

    async def test_dot_ids_never_reach_the_wire(self) -> None:
        """Finding 5: '..' on every path operation is refused with zero requests."""
        async with run_fake("pecmassiva", send_rate=None) as fake, fake.client() as client:
            calls = [
                client.sends.receipts(".."),
                client.sends.delete(".."),
                client.quota.retrieve(".."),
                client.sends.receipts("."),
                client.quota.retrieve(""),
            ]
            for call in calls:
                with pytest.raises(ValidationError):
                    await call
            assert fake.state.requests == []


CLIENTS: list[tuple[type[Any], dict[str, Any]]] = [
    (PecMassivaClient, {"token": "tok-1234", "username": "box@pecmassiva.com", "password": "pw"}),
    (LegallyMailClient, {"token": "tok-1234"}),
    (OpenapiPecClient, {"token": "tok-1234"}),
    (OAuthClient, {"email": "me@example.com", "api_key": "key-1234"}),
]
IDS = [c.__name__ for c, _ in CLIENTS]


class TestClientOptions:
    @pytest.mark.parametrize(("cls", "kwargs"), CLIENTS, ids=IDS)
    @pytest.mark.parametrize(
        "url",
        ["ftp://x.example", "http://", "x.example", "https://a b.example", 123, "http://h:99999"],
    )
    def test_base_url_is_checked_at_construction(
        self, cls: type[Any], kwargs: dict[str, Any], url: Any
    ) -> None:
        """base_url must be http(s) with a host: ValidationError(field='base_url') at once."""
        with pytest.raises(ValidationError) as info:
            cls(**kwargs, base_url=url)
        assert info.value.field == "base_url"

    @pytest.mark.parametrize(("cls", "kwargs"), CLIENTS, ids=IDS)
    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("timeout", -1),
            ("timeout", math.nan),
            ("timeout", math.inf),
            ("timeout", "30"),
            ("timeout", True),
            ("max_retries", -1),
            ("max_retries", True),
            ("max_retries", 1.5),
            ("max_retries", "2"),
        ],
    )
    def test_options_are_checked_everywhere(
        self, cls: type[Any], kwargs: dict[str, Any], option: str, value: Any
    ) -> None:
        """timeout and max_retries are checked at construction and in with_options."""
        with pytest.raises(ValidationError) as info:
            cls(**kwargs, **{option: value})
        assert info.value.field == option
        client = cls(**kwargs)
        with pytest.raises(ValidationError) as info:
            client.with_options(**{option: value})
        assert info.value.field == option

    @pytest.mark.parametrize(
        ("option", "value"),
        [("timeout", -1), ("timeout", "1"), ("max_retries", -1), ("max_retries", 1.5)],
    )
    async def test_options_are_checked_per_call(self, option: str, value: Any) -> None:
        """A per-call timeout or max_retries of the wrong kind fails before the wire."""
        async with run_fake("pecmassiva", send_rate=None) as fake, fake.client() as client:
            with pytest.raises(ValidationError) as info:
                await client.quota.retrieve(**{option: value})
            assert info.value.field == option
            assert fake.state.requests == []

    @pytest.mark.parametrize("value", [-1, math.nan, "5", True])
    def test_max_wait_is_checked(self, value: Any) -> None:
        """with_options(max_wait=...) takes seconds >= 0 or None."""
        client = LegallyMailClient(token="tok-1234")
        with pytest.raises(ValidationError) as info:
            client.with_options(max_wait=value)
        assert info.value.field == "max_wait"
        assert client.with_options(max_wait=None)._transport.max_wait is None

    def test_timeout_object_is_checked(self) -> None:
        """Timeout(total=-1) and Timeout(connect='x') are ValidationErrors too."""
        with pytest.raises(ValidationError):
            Timeout(total=-1)
        with pytest.raises(ValidationError) as info:
            Timeout(connect="x")  # type: ignore[arg-type]
        assert info.value.field == "timeout.connect"

    def test_transport_refuses_credentials_in_the_url(self) -> None:
        """A base_url with user:password would put a credential in every error text."""
        with pytest.raises(ValidationError):
            Transport(profile=ProviderProfile(), base_url="https://u:p@x.example")
