"""Logs an operator can run on: levels, structured fields, short safe bodies, spans."""

from __future__ import annotations

import hashlib
import logging
import types
from typing import Any

import pytest

from certmail_async import (
    Attachment,
    DeliveryUnknownError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
)
from certmail_async import _transport as transport_module
from certmail_async._redact import log_summary
from certmail_async.testing import run_fake

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 2000  # ~500 KB
TAX_CODE = "RSSMRA80A01H501U"
PHONE = "+39 333 1234567"
SEND = {"recipients": ["a@pec.example.it"], "subject": "s"}


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level and r.name.startswith("certmail")]


class TestLevels:
    async def test_429_warns_and_pause_is_info(self, caplog: pytest.LogCaptureFixture) -> None:
        """A 429 logs a WARNING with structured fields; the scope pause an INFO with the scope."""
        caplog.set_level(logging.INFO, logger="certmail_async")
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/quota/{mailbox}", status=429, retry_after="1")
            async with fake.client(
                rate_limit=RateLimit(requests=1, per=0.05),
                retry_policy=RetryPolicy(max_retry_after=0.05),
                max_retries=0,
            ) as client:
                with pytest.raises(RateLimitError):
                    await client.quota.retrieve()
        (warning,) = [r for r in _records(caplog, logging.WARNING) if "rate limited" in r.msg]
        fields = {k: getattr(warning, k, None) for k in ("provider", "operation", "status")}
        assert fields == {"provider": "pecmassiva", "operation": "quota.retrieve", "status": 429}
        assert warning.attempt == 0  # type: ignore[attr-defined]
        assert warning.scope.startswith("pecmassiva:")  # type: ignore[attr-defined]
        (pause,) = [r for r in _records(caplog, logging.INFO) if "paused" in r.msg]
        assert pause.name == "certmail_async.pacing"
        assert pause.scope == warning.scope  # type: ignore[attr-defined]

    async def test_unknown_send_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        """A DeliveryUnknownError is logged at WARNING, naming the operation."""
        caplog.set_level(logging.WARNING, logger="certmail_async")
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("POST", "/send", status=502)
            async with fake.client(rate_limit=None) as client:
                with pytest.raises(DeliveryUnknownError):
                    await client.sends.create(**SEND, body="b")
        (record,) = [r for r in _records(caplog, logging.WARNING) if "unknown" in r.msg]
        assert record.operation == "sends.create"  # type: ignore[attr-defined]
        assert record.status == 502  # type: ignore[attr-defined]

    async def test_quiet_at_info_when_all_goes_well(self, caplog: pytest.LogCaptureFixture) -> None:
        """Successful calls log nothing at INFO or above."""
        caplog.set_level(logging.INFO, logger="certmail_async")
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            fake.client(rate_limit=None) as client,
        ):
            await client.sends.create(**SEND, body="b")
            await client.quota.retrieve()
        assert _records(caplog, logging.INFO) == []
        assert _records(caplog, logging.WARNING) == []


class TestDebugLines:
    async def test_route_template_size_duration_and_a_short_body(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Finding 10: a 500 KB PDF send logs a short line: digest not base64, data masked."""
        caplog.set_level(logging.DEBUG, logger="certmail_async")
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            fake.client(rate_limit=None) as client,
        ):
            sent = await client.sends.create(
                **SEND,
                body=f"Codice fiscale {TAX_CODE}, tel. {PHONE}",
                attachments=[Attachment(filename="contratto.pdf", content=PDF)],
            )
            await client.sends.receipts(sent.code)
        lines = [r for r in caplog.records if r.name == "certmail_async.http"]
        out = [r for r in lines if r.getMessage().startswith("->")]
        back = [r for r in lines if r.getMessage().startswith("<-")]
        assert len(out) == 2
        assert len(back) == 2
        for record in out:
            assert len(record.getMessage()) < 600
        send_line = out[0].getMessage()
        assert "contratto.pdf" in send_line or "sha256:" in send_line
        assert hashlib.sha256(PDF).hexdigest()[:12] in send_line
        assert TAX_CODE not in send_line
        assert PHONE not in send_line
        receipts_line = out[1].getMessage()
        assert "/send/{code}" in receipts_line
        assert sent.code not in receipts_line  # the template, not the filled URL
        assert back[1].route == "/send/{code}"  # type: ignore[attr-defined]
        assert back[0].size > 0  # type: ignore[attr-defined]
        assert back[0].duration_ms >= 0  # type: ignore[attr-defined]
        assert back[0].status == 201  # type: ignore[attr-defined]

    def test_personal_fields_are_masked_by_name(self) -> None:
        """Tax codes, phones and birth data are hidden by key and by pattern."""
        body = {
            "codice_fiscale": TAX_CODE,
            "data_nascita": "01/01/1980",
            "birth_date": "1980-01-01",
            "telefono": "0548798569",
            "note": f"cf {TAX_CODE.lower()} tel {PHONE}",
            "signers": [{"name": "Anna", "phone": PHONE}],
            "password": "hunter22",
        }
        text = log_summary(body)
        for secret in (TAX_CODE, TAX_CODE.lower(), "1980", "0548798569", PHONE, "hunter22"):
            assert secret not in text
        assert "Anna" in text

    def test_body_is_cut_to_a_prefix(self) -> None:
        """A long body is cut, saying how long it was."""
        text = log_summary({"html": "x " * 10_000})
        assert len(text) < 400
        assert "chars)" in text


class _Spans:
    """Records the spans opened through a stand-in for ``opentelemetry.trace``."""

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.provider: Any = provider
        self.module = types.SimpleNamespace(
            get_tracer_provider=lambda: self.provider,
            ProxyTracerProvider=trace.ProxyTracerProvider,
            NoOpTracerProvider=trace.NoOpTracerProvider,
            SpanKind=trace.SpanKind,
        )


class TestOpenTelemetry:
    async def test_no_op_without_opentelemetry(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With opentelemetry-api absent the calls run unchanged (no span, no error)."""
        monkeypatch.setattr(transport_module, "_otel_trace", None)
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            fake.client(rate_limit=None) as client,
        ):
            assert (await client.quota.retrieve()) is not None

    async def test_spans_when_installed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With opentelemetry installed each operation is one CLIENT span with the template."""
        pytest.importorskip("opentelemetry.sdk")
        spans = _Spans()
        monkeypatch.setattr(transport_module, "_otel_trace", spans.module)
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("GET", "/send/{code}", status=503)
            async with fake.client(rate_limit=None, retry_policy=RetryPolicy(base=0.0)) as c:
                await c.quota.retrieve()
                await c.sends.receipts("abc")
        finished: list[Any] = list(spans.exporter.get_finished_spans())
        assert [s.name for s in finished] == [
            "pecmassiva quota.retrieve",
            "pecmassiva sends.receipts",
        ]
        attrs = finished[1].attributes
        assert attrs["url.template"] == "/send/{code}"
        assert attrs["http.request.method"] == "GET"
        assert attrs["http.response.status_code"] in (200, 404)

    async def test_no_span_without_a_tracer_provider(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Installed but unconfigured (the API's proxy or no-op provider): no span is opened;
        a provider configured later is used from the next call on."""
        pytest.importorskip("opentelemetry.sdk")
        from opentelemetry import trace

        spans = _Spans()
        real = spans.provider
        monkeypatch.setattr(transport_module, "_otel_trace", spans.module)
        op = transport_module.Operation(provider="p", name="n", method="GET", path="/")
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            fake.client(rate_limit=None) as c,
        ):
            for idle in (trace.ProxyTracerProvider(), trace.NoOpTracerProvider()):
                spans.provider = idle
                assert transport_module._span(op) is transport_module._NO_SPAN
                await c.quota.retrieve()
            spans.provider = real
            await c.quota.retrieve()
        finished: list[Any] = list(spans.exporter.get_finished_spans())
        assert [s.name for s in finished] == ["pecmassiva quota.retrieve"]
