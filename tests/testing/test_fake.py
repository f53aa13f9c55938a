"""The fake servers themselves: strict input, caps in three modes, faults."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from certmail_async import RateLimit
from certmail_async.testing import FakePecMassiva, RateCap, run_fake

GOOD = {
    "sender": "box@pecmassiva.com",
    "recipient": ["a@pec.example.it"],
    "subject": "s",
    "body": "b",
    "username": "box@pecmassiva.com",
    "password": "fake-mailbox-password",
}
AUTH = {"Authorization": "Bearer fake-pecmassiva-token"}


async def post_send(url: str, body: Any, headers: dict[str, str] = AUTH) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/send", json=body, headers=headers) as r:
        return r.status, await r.json()


class TestStrictSend:
    @pytest.mark.parametrize(
        "change",
        [
            {"extra": 1},
            {"recipient": []},
            {"recipient": ["not an address"]},
            {"subject": ""},
            {"sender": "someone.else@pecmassiva.com"},
            {"attachments": [{"name": "a", "file": "***not base64***"}]},
            {"attachments": [{"name": "a", "file": "aGk=", "mime": "x"}]},
            {"attachments": "aGk="},
        ],
    )
    async def test_bad_bodies_are_400(self, change: dict[str, Any]) -> None:
        """Unknown keys, empty or bad fields are refused with the documented 400."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            status, body = await post_send(fake.url, {**GOOD, **change})
            assert (status, body) == (
                400,
                {"success": False, "message": "Post parameter is not valid"},
            )
            assert fake.state.ledger == []

    async def test_missing_key_is_400(self) -> None:
        """A missing required key is refused."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            body = dict(GOOD)
            del body["subject"]
            assert (await post_send(fake.url, body))[0] == 400

    async def test_data_uri_and_single_object_accepted(self) -> None:
        """The OAS forms (data URI, single attachment object) are accepted too."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            status, body = await post_send(
                fake.url,
                {**GOOD, "attachments": {"name": "a.png", "file": "data:image/png;base64,aGk="}},
            )
            assert status == 201
            assert body["message_id"] == fake.state.ledger[0].code
            assert fake.state.ledger[0].attachments == (("a.png", 2),)

    async def test_bad_token_is_401(self) -> None:
        """A wrong bearer token is the documented 401."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            status, body = await post_send(fake.url, GOOD, {"Authorization": "Bearer nope"})
            assert (status, body["message"]) == (401, "Authorization is not valid or empty")

    async def test_cap_answers_429(self) -> None:
        """A second send inside the window is refused with 429 and not recorded."""
        async with run_fake(
            "pecmassiva", send_rate=RateLimit(requests=1, per=60, margin=0)
        ) as fake:
            assert (await post_send(fake.url, GOOD))[0] == 201
            assert (await post_send(fake.url, GOOD))[0] == 429
            assert len(fake.state.ledger) == 1
            assert fake.state.send_cap is not None
            assert fake.state.send_cap.rejected == 1


class TestRateCapModes:
    def test_sliding(self) -> None:
        """Sliding: any window of per seconds holds at most N."""
        cap = RateCap(requests=2, per=1.0)
        assert [cap.admit("k", t) for t in (0.0, 0.5, 0.9, 1.0, 1.4, 1.5)] == [
            True,
            True,
            False,
            True,
            False,
            True,
        ]

    def test_fixed(self) -> None:
        """Fixed: windows aligned on multiples of per; a burst at the edge passes twice."""
        cap = RateCap(requests=2, per=1.0, mode="fixed")
        assert [cap.admit("k", t) for t in (0.8, 0.9, 0.95, 1.0, 1.1, 1.2)] == [
            True,
            True,
            False,
            True,
            True,
            False,
        ]
        assert cap.max_in_window() == 4  # what a sliding observer sees

    def test_token_bucket(self) -> None:
        """Token bucket: a full bucket of N, refilled at N/per."""
        cap = RateCap(requests=2, per=1.0, mode="token_bucket")
        assert [cap.admit("k", t) for t in (0.0, 0.0, 0.0, 0.5, 0.6)] == [
            True,
            True,
            False,
            True,
            False,
        ]

    def test_keys_are_separate(self) -> None:
        """Each key (token or IP) has its own window."""
        cap = RateCap(requests=1, per=1.0)
        assert cap.admit("a", 0.0)
        assert cap.admit("b", 0.0)


class TestFaults:
    async def test_fault_before_record_leaves_no_trace(self) -> None:
        """A fault injected before the handler answers without recording the send."""
        fake = FakePecMassiva(send_rate=None)
        fake.faults.inject("POST", "/send", status=503)
        async with run_fake(fake) as running:
            assert (await post_send(running.url, GOOD))[0] == 503
            assert fake.ledger == []
            assert (await post_send(running.url, GOOD))[0] == 201  # times=1: spent

    async def test_run_fake_refuses_unknown_provider(self) -> None:
        """An unknown provider name is a ValueError listing the known ones."""
        with pytest.raises(ValueError, match="pecmassiva"):
            async with run_fake("nope"):  # type: ignore[arg-type]
                pass


async def test_plugin_fixture_gives_scaled_fake(fake_pecmassiva: Any) -> None:
    """The pytest plugin's fake_pecmassiva fixture runs on scaled time with a matching client."""
    async with fake_pecmassiva.client() as client:
        await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
    assert len(fake_pecmassiva.state.ledger) == 1
    assert fake_pecmassiva.state.send_cap.per == pytest.approx(0.05)
