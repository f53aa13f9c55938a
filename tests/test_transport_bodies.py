"""Bounded bodies: size limits after decompression, JSON depth, undecodable sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from certmail_async import (
    DeliveryUnknownError,
    RateLimit,
    ResponseDecodeError,
    ResponseLimits,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from certmail_async._transport import Operation, ProviderProfile, Response, Transport
from certmail_async.testing import run_fake

PASSWORD = 'p"w\\è+ %&x'  # echoed back by the hostile server
MB = 1024 * 1024
FAST = {"rate_limit": None, "retry_policy": RetryPolicy(base=0.0), "max_retries": 0}


def _fake(**kw: Any) -> Any:
    return run_fake("pecmassiva", password=PASSWORD, send_rate=None, **kw)


class TestBodyLimits:
    async def test_huge_json_is_cut_and_the_connection_dropped(self) -> None:
        """A 100 MB answer to a read stops at the limit: typed error, the fake stops writing."""
        async with _fake() as fake:
            fault = fake.state.faults.inject("GET", "/quota/{mailbox}", huge=100 * MB)
            async with fake.client(response_limits=ResponseLimits(json=MB), **FAST) as client:
                with pytest.raises(ResponseTooLargeError) as info:
                    await client.quota.retrieve()
        assert info.value.limit == MB
        assert fault.written < 100 * MB  # declared length over the limit: nothing read

    async def test_gzip_bomb_counts_decompressed_bytes(self) -> None:
        """A 1 GB gzip bomb (a few KB on the wire) is refused once it inflates past the limit."""
        async with _fake() as fake:
            fault = fake.state.faults.inject("GET", "/quota/{mailbox}", gzip_bomb=1024 * MB)
            async with fake.client(response_limits=ResponseLimits(json=MB), **FAST) as client:
                with pytest.raises(ResponseTooLargeError):
                    await client.quota.retrieve()
        assert fault.written < 10 * MB

    async def test_endless_body_ends_at_the_limit_not_the_timeout(self) -> None:
        """An endless body is refused at the limit, long before the total timeout."""
        async with _fake() as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", endless=True)
            async with fake.client(
                response_limits=ResponseLimits(json=MB), timeout=30.0, **FAST
            ) as client:
                with pytest.raises(ResponseTooLargeError):
                    await client.quota.retrieve()

    async def test_documents_get_their_own_limit(self) -> None:
        """inbox.retrieve (a whole message) reads up to the document limit, not the JSON one."""
        async with _fake() as fake:
            fake.state.faults.inject("GET", "/inbox/{id}", huge=2 * MB, times=2)
            limits = ResponseLimits(json=MB, document=4 * MB)
            async with fake.client(response_limits=limits, **FAST) as client:
                with pytest.raises(ResponseDecodeError) as info:  # read whole, then bad JSON
                    await client.inbox.retrieve(1)
                assert not isinstance(info.value, ResponseTooLargeError)
            async with fake.client(response_limits=ResponseLimits(document=MB), **FAST) as c:
                with pytest.raises(ResponseTooLargeError):
                    await c.inbox.retrieve(1)

    async def test_huge_error_page_keeps_its_status(self) -> None:
        """A huge 503 page still reads as ServerError (its start only), not a size error."""
        async with _fake() as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", huge=50 * MB, status=503)
            async with fake.client(**FAST) as client:
                with pytest.raises(ServerError):
                    await client.quota.retrieve()

    @pytest.mark.parametrize("bad", [{"json": 0}, {"document": -1}, {"json_depth": True}])
    def test_limits_are_checked(self, bad: dict[str, Any]) -> None:
        """A zero, negative or non-integer limit is a ValidationError naming the field."""
        with pytest.raises(ValidationError) as info:
            ResponseLimits(**bad)
        assert info.value.field == f"response_limits.{next(iter(bad))}"


class TestJsonDepth:
    @pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 5_000 + "1" + "}" * 5_000])
    async def test_deep_json_is_a_decode_error(self, body: str) -> None:
        """Deeply nested JSON (even unterminated) is ResponseDecodeError, never RecursionError."""
        async with _fake() as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=200, body=body)
            async with fake.client(**FAST) as client:
                with pytest.raises(ResponseDecodeError):
                    await client.quota.retrieve()

    def test_depth_limit_is_exact(self) -> None:
        """64 levels parse; 65 are refused."""
        ok = Response(status=200, headers={}, content=("[" * 64 + "]" * 64).encode())
        assert ok.json() is not None
        deep = Response(status=200, headers={}, content=("[" * 65 + "]" * 65).encode())
        with pytest.raises(ValueError, match="deeper"):
            deep.json()

    @pytest.mark.parametrize(
        ("text", "ok"),
        [
            ('{"a": "[[[[{{{{", "b": [[1]]}', True),  # brackets in strings: walked, fine
            ('[[], [], [], [], {"a": [1]}]', True),  # many containers, shallow
            ("[[[1]]]", True),  # exactly the limit, no walk needed
            ('{"s": "x", "a": [[[1]]]}', False),  # 4 levels, 4 brackets
            ('[[[["[[[["]]]]', False),
        ],
    )
    def test_depth_limit_with_few_or_quoted_brackets(self, text: str, ok: bool) -> None:
        """The bracket count only skips the walk when it cannot find too deep a value."""
        r = Response(status=200, headers={}, content=text.encode(), max_depth=3)
        if ok:
            assert r.json() == json.loads(text)
        else:
            with pytest.raises(ValueError, match="deeper"):
                r.json()

    async def test_deep_error_body_is_read_safely(self) -> None:
        """A deeply nested 400 body still gives a BadRequestError with a text message."""
        from certmail_async import BadRequestError

        async with _fake() as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=400, body="[" * 50_000)
            async with fake.client(**FAST) as client:
                with pytest.raises(BadRequestError):
                    await client.quota.retrieve()


SEND = {"recipients": ["a@pec.example.it"], "subject": "s", "body": "b"}


class TestUndecodableSends:
    @pytest.mark.parametrize(
        "answer",
        [
            {"oops": 1, "echo": PASSWORD},
            [],
            "garbage <html> " + PASSWORD,
            "[" * 10_000,
            json.dumps({"success": True, "message_id": {"x": [1]}}),
        ],
    )
    async def test_pecmassiva_send_with_bad_answer_is_unknown(self, answer: Any) -> None:
        """A 201 the SDK cannot decode is DeliveryUnknownError, with the raw answer, redacted."""
        async with _fake() as fake:
            fake.state.faults.inject("POST", "/send", status=201, body=answer, after_record=True)
            async with fake.client(**FAST) as client:
                with pytest.raises(DeliveryUnknownError) as info:
                    await client.sends.create(**SEND)
            assert len(fake.state.ledger) == 1  # it was sent
        err = info.value
        assert isinstance(err.cause, ResponseDecodeError)
        assert isinstance(err.body, str)
        assert err.body
        for text in (err.body, str(err), repr(err), str(err.cause)):
            assert PASSWORD not in text
            assert json.dumps(PASSWORD)[1:-1] not in text

    async def test_pecmassiva_send_with_huge_answer_is_unknown(self) -> None:
        """A 201 whose answer is past the limit is DeliveryUnknownError, not a size error."""
        async with _fake() as fake:
            fake.state.faults.inject("POST", "/send", huge=50 * MB, after_record=True)
            async with fake.client(response_limits=ResponseLimits(json=MB), **FAST) as client:
                with pytest.raises(DeliveryUnknownError) as info:
                    await client.sends.create(**SEND)
            assert len(fake.state.ledger) == 1
        assert isinstance(info.value.cause, ResponseTooLargeError)

    @pytest.mark.parametrize("answer", [{"oops": 1}, [], "nope", {"success": True, "data": 3}])
    async def test_legallymail_send_with_bad_answer_is_unknown(self, answer: Any) -> None:
        """LegallyMail: a success status with an undecodable answer is DeliveryUnknownError."""
        fast = RateLimit(requests=100, per=0.1, margin=0)
        async with run_fake("legallymail", rate=fast) as fake:
            fake.state.faults.inject(
                "POST", "/api/send", status=200, body=answer, after_record=True
            )
            async with fake.client(**FAST) as client:
                with pytest.raises(DeliveryUnknownError):
                    await client.emails.send(recipients=["a@example.com"], subject="s", html="h")

    def test_reads_keep_response_decode_error(self) -> None:
        """Transport.decode: a read's undecodable answer stays ResponseDecodeError."""
        t = Transport(profile=ProviderProfile(), base_url="https://x.example")
        op = Operation(provider="p", name="read", method="GET", path="/")
        response = Response(status=200, headers={}, content=b"[]")
        with pytest.raises(ResponseDecodeError) as info:
            t.decode(op, response, lambda r: r.json()["missing"])
        assert info.value.body == "[]"


_RSS_PROBE = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    from certmail_async import ResponseTooLargeError, RetryPolicy
    from certmail_async.testing import run_fake

    KIND = sys.argv[1]

    async def main():
        async with run_fake("pecmassiva", send_rate=None) as fake:
            kw = {KIND: True} if KIND == "endless" else {KIND: int(sys.argv[2])}
            async with fake.client(rate_limit=None, max_retries=0, timeout=60) as client:
                await client.quota.retrieve()  # warm up: sockets, imports
                fault = fake.state.faults.inject("GET", "/quota/{mailbox}", **kw)
                base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                try:
                    await client.quota.retrieve()
                except ResponseTooLargeError:
                    pass
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"base_kb": base, "peak_kb": peak, "written": fault.written}))

    asyncio.run(main())
    """
)


def _probe(kind: str, size: int = 0) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, kind, str(size)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


class TestPeakMemory:
    """Peak RSS of a whole process (client and fake) against hostile bodies.

    The default JSON limit is 10 MiB; the fake streams its body, so the peak is the
    client's buffer plus aiohttp's decompression chunks. Numbers go in the closing note.
    """

    @pytest.mark.parametrize(
        ("kind", "size"), [("huge", 100 * MB), ("gzip_bomb", 1024 * MB), ("endless", 0)]
    )
    def test_peak_rss_stays_bounded(self, kind: str, size: int) -> None:
        """100 MB body, 1 GB gzip bomb, endless body: peak RSS grows by under 80 MB."""
        result = _probe(kind, size)
        grown_mb = (result["peak_kb"] - result["base_kb"]) / 1024
        print(
            f"{kind}: base {result['base_kb'] / 1024:.0f} MB, peak "
            f"{result['peak_kb'] / 1024:.0f} MB (+{grown_mb:.1f} MB), fake wrote "
            f"{result['written'] / MB:.2f} MB"
        )
        assert grown_mb < 80
