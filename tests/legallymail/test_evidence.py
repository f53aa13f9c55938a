"""LegallyMail evidence: tracking, certificate PDFs and signature documents as files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from certmail_async import (
    Certificate,
    DeliveryPendingError,
    DocumentUnavailableError,
    EmailStatus,
    LegallyMailClient,
    LegallyMailOutcome,
    LegallyMailState,
    NotFoundError,
    NotPDFError,
    ResponseLimits,
    ResponseTooLargeError,
    RetryPolicy,
    Signer,
    ValidationError,
)
from certmail_async.testing import RunningFake, minimal_pdf
from tests.legallymail.conftest import CLIENT_RATE

pytestmark = pytest.mark.timeout(60)


async def sent_to(client: LegallyMailClient, *to: str) -> Any:
    return await client.emails.send(recipients=list(to), subject="Contratto", html="<p>x</p>")


class TestTrack:
    async def test_outcomes_per_recipient(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """track() gives LegallyMail's own states per address, certificates attached."""
        fake.state.outcomes.update({"anna@example.com": "read", "luca@example.com": "bounce"})
        out = await sent_to(client, "anna@example.com", "luca@example.com")
        outcomes = {o.address: o for o in await client.emails.track(out.tracking_id)}
        assert outcomes["anna@example.com"].state is LegallyMailState.READ
        assert outcomes["luca@example.com"].state is LegallyMailState.FAILED
        kinds = [c.certificate_type for c in outcomes["anna@example.com"].certificates]
        assert kinds == ["delivered", "read"]

    async def test_wait_for_read_gives_up_at_the_deadline(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A recipient who never reads: delivered is enough by default, read=True times out."""
        fake.state.outcomes["anna@example.com"] = "unread"
        out = await sent_to(client, "anna@example.com")
        (done,) = await client.emails.wait_delivered(out.tracking_id, timeout=2, interval=0.01)
        assert done.state is LegallyMailState.DELIVERED
        with pytest.raises(DeliveryPendingError) as info:
            await client.emails.wait_delivered(
                out.tracking_id, timeout=0.15, interval=0.05, max_interval=0.05, read=True
            )
        (outcome,) = info.value.report
        assert outcome.state is LegallyMailState.DELIVERED

    async def test_wait_validates_before_any_call(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """Bad waits are ValidationErrors and cost no call (every call is capped)."""
        with pytest.raises(ValidationError) as info:
            await client.emails.wait_delivered("cm_1", timeout=-1)
        assert info.value.field == "timeout"
        with pytest.raises(ValidationError):
            await client.emails.wait_delivered("cm_1", timeout=1, read="yes")  # type: ignore[arg-type]
        assert fake.state.requests == []


class TestCertificate:
    async def test_bytes_are_the_pdf_whose_hash_the_provider_gives(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """certificate(recipient id, kind) returns the PDF; its SHA-256 is file_hash."""
        fake.state.outcomes["anna@example.com"] = "read"
        out = await sent_to(client, "anna@example.com")
        rcpt = out.recipients[0].tracking_id
        (outcome,) = await client.emails.track(out.tracking_id)
        for kind in ("delivered", "read"):
            pdf = await client.emails.certificate(rcpt, kind)
            cert = outcome.certificate(kind)
            assert cert is not None
            assert pdf.startswith(b"%PDF-")
            assert hashlib.sha256(pdf).hexdigest() == cert.file_hash

    async def test_downloads_are_paced_with_the_other_calls(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """Twelve downloads and sends in a scaled minute: the per-IP cap never refuses one."""
        out = await sent_to(client, "anna@example.com")
        rcpt = out.recipients[0].tracking_id
        for _ in range(11):
            await client.emails.certificate(rcpt, "delivered")
        assert fake.state.cap.rejected == 0
        assert len(fake.state.downloads) == 11

    async def test_document_body_limit(self, fake: RunningFake) -> None:
        """A certificate larger than ResponseLimits.document is refused unread."""
        async with fake.client(
            rate_limit=CLIENT_RATE, response_limits=ResponseLimits(document=200)
        ) as small:
            out = await sent_to(small, "anna@example.com")
            with pytest.raises(ResponseTooLargeError):
                await small.emails.certificate(out.recipients[0].tracking_id, "delivered")

    async def test_login_page_is_not_a_pdf(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A 2xx HTML page (a web app wanting a browser login) is NotPDFError."""
        fake.state.document_access = "login-page"
        with pytest.raises(NotPDFError) as info:
            await client.emails.certificate("cm_rec_1", "read")
        assert info.value.content_type == "text/html"
        assert "token" not in (info.value.body or "")

    async def test_redirect_is_not_followed(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """A redirect to a login page is DocumentUnavailableError; /login is never asked."""
        fake.state.document_access = "login-redirect"
        with pytest.raises(DocumentUnavailableError, match="redirect"):
            await client.emails.certificate("cm_rec_1", "read")
        assert fake.state.count("GET", "/login") == 0

    async def test_unknown_certificate_is_not_found(
        self, fake: RunningFake, client: LegallyMailClient
    ) -> None:
        """An id the provider does not know is the provider's 404, as for any call."""
        with pytest.raises(NotFoundError):
            await client.emails.certificate("cm_rec_nope", "read")

    @pytest.mark.parametrize(
        ("tracking_id", "kind", "field"),
        [("", "read", "tracking_id"), ("..", "read", "tracking_id"), ("cm_1", "READ!", "kind")],
    )
    async def test_input_checked_before_the_wire(
        self, fake: RunningFake, client: LegallyMailClient, tracking_id: str, kind: str, field: str
    ) -> None:
        """Bad ids and kinds are ValidationErrors naming the field, with no request."""
        with pytest.raises(ValidationError) as info:
            await client.emails.certificate(tracking_id, kind)
        assert info.value.field == field
        assert fake.state.requests == []


def foreign(url: str) -> LegallyMailOutcome:
    cert = Certificate(certificate_type="read", file_hash="x", pdf_download_url=url)
    return LegallyMailOutcome(
        address="anna@example.com",
        state=LegallyMailState.READ,
        status=EmailStatus("read"),
        tracking_id="cm_rec_1",
        certificates=(cert,),
    )


class TestSaveCertificates:
    async def test_files_with_digests(
        self, fake: RunningFake, client: LegallyMailClient, tmp_path: Path
    ) -> None:
        """Every certificate of an e-mail lands in the folder with its SHA-256, matching."""
        fake.state.outcomes["anna@example.com"] = "read"
        out = await sent_to(client, "anna@example.com", "luca@example.com")
        files = await client.emails.save_certificates(out.tracking_id, tmp_path / "job-7")
        assert sorted((f.address, f.kind) for f in files) == [
            ("anna@example.com", "delivered"),
            ("anna@example.com", "read"),
            ("luca@example.com", "delivered"),
        ]
        for f in files:
            assert f.path.parent == tmp_path / "job-7"
            assert f.path.name == f"{f.tracking_id}-{f.kind}.pdf"
            assert hashlib.sha256(f.path.read_bytes()).hexdigest() == f.sha256
            assert f.hash_matches is True
            assert f.parent_tracking_id == out.tracking_id
            assert f.has_tsq is True
        assert not list((tmp_path / "job-7").glob(".part-*"))

    async def test_again_is_idempotent_and_different_bytes_are_kept_beside(
        self, fake: RunningFake, client: LegallyMailClient, tmp_path: Path
    ) -> None:
        """Saving twice reuses the file; a file with other bytes is never replaced."""
        out = await sent_to(client, "anna@example.com")
        outcomes = await client.emails.track(out.tracking_id)
        (first,) = await client.emails.save_certificates(
            out.tracking_id, tmp_path, outcomes=outcomes
        )
        (again,) = await client.emails.save_certificates(
            out.tracking_id, tmp_path, outcomes=outcomes
        )
        assert again.path == first.path
        first.path.write_bytes(b"%PDF-1.4 tampered")
        (third,) = await client.emails.save_certificates(
            out.tracking_id, tmp_path, outcomes=outcomes
        )
        assert third.path != first.path
        assert third.path.name == f"{first.path.stem}.{third.sha256[:12]}.pdf"
        assert first.path.read_bytes() == b"%PDF-1.4 tampered"

    async def test_kinds_filter(
        self, fake: RunningFake, client: LegallyMailClient, tmp_path: Path
    ) -> None:
        """kinds=["read"] downloads the read certificates only."""
        fake.state.outcomes["anna@example.com"] = "read"
        out = await sent_to(client, "anna@example.com")
        files = await client.emails.save_certificates(out.tracking_id, tmp_path, kinds=["read"])
        assert [f.kind for f in files] == ["read"]
        assert len(fake.state.downloads) == 1

    @pytest.mark.parametrize(
        "url",
        [
            "https://legallymail.evil.example/emails/download-certificate?id=cm_rec_1",
            "http://127.0.0.2:1/emails/download-certificate?id=cm_rec_1",
            "http://user:pw@127.0.0.1/emails/download-certificate?id=cm_rec_1",
        ],
    )
    async def test_token_never_goes_to_another_host(
        self, fake: RunningFake, client: LegallyMailClient, tmp_path: Path, url: str
    ) -> None:
        """A certificate URL off the configured host is refused before any request."""
        with pytest.raises(DocumentUnavailableError, match="never sent to another host"):
            await client.emails.save_certificates("cm_1", tmp_path, outcomes=[foreign(url)])
        assert fake.state.requests == []

    async def test_a_port_change_is_another_host(
        self, fake: RunningFake, client: LegallyMailClient, tmp_path: Path
    ) -> None:
        """Same host name, other port: refused too."""
        base = fake.url.rsplit(":", 1)[0]
        url = f"{base}:1/emails/download-certificate?id=cm_rec_1&status=read"
        with pytest.raises(DocumentUnavailableError):
            await client.emails.save_certificates("cm_1", tmp_path, outcomes=[foreign(url)])

    async def test_directory_must_be_a_directory(
        self, fake: RunningFake, client: LegallyMailClient, tmp_path: Path
    ) -> None:
        """A file path or a non-path is a ValidationError before any request."""
        afile = tmp_path / "f"
        afile.write_text("x")
        for bad in (afile, 3, ""):
            with pytest.raises(ValidationError) as info:
                await client.emails.save_certificates("cm_1", bad)  # type: ignore[arg-type]
            assert info.value.field == "directory"
        assert fake.state.requests == []


class TestSignatureDocuments:
    async def test_original_and_record(
        self, fake: RunningFake, client: LegallyMailClient, tmp_path: Path
    ) -> None:
        """The original comes back byte for byte; the record exists once signed."""
        fake.state.sign_delay = 3600.0
        document = minimal_pdf(["Contratto di fornitura"])
        asked = await client.signatures.request(
            signers=Signer(name="Anna Bianchi", email="anna@example.com"),
            document=document,
            document_name="Contratto.pdf",
        )
        assert await client.signatures.document(asked.uuid, "original") == document
        with pytest.raises(DocumentUnavailableError, match="no URL"):
            await client.signatures.document(asked.uuid, "record")
        files = await client.signatures.save_documents(asked.uuid, tmp_path)
        assert [(f.kind, f.hash_matches) for f in files] == [("original", True)]
        fake.state.sign_delay = 0.0
        files = await client.signatures.save_documents(asked.uuid, tmp_path)
        assert [f.kind for f in files] == ["original", "record"]
        assert files[1].path.name == f"{asked.uuid}-record.pdf"
        assert files[1].path.read_bytes().startswith(b"%PDF-")

    async def test_which_is_checked(self, fake: RunningFake, client: LegallyMailClient) -> None:
        """Only "original" and "record" exist (the signed document has no URL)."""
        with pytest.raises(ValidationError) as info:
            await client.signatures.document(
                "550e8400-e29b-41d4-a716-446655440000",
                "signed",  # type: ignore[arg-type]
            )
        assert info.value.field == "which"
        assert fake.state.requests == []


async def test_retry_policy_applies_to_downloads(fake: RunningFake) -> None:
    """A 503 on a download is retried like any read."""
    async with fake.client(rate_limit=CLIENT_RATE, retry_policy=RetryPolicy(base=0.0)) as c:
        out = await sent_to(c, "anna@example.com")
        fake.state.faults.inject("GET", "/emails/download-certificate", status=503, times=1)
        pdf = await c.emails.certificate(out.recipients[0].tracking_id, "delivered")
        assert pdf.startswith(b"%PDF-")
