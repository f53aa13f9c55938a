"""Strict decoding of the reference's recorded LegallyMail responses."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from certmail_async import EmailStatus, ResponseDecodeError, SignatureStatus, Signer
from certmail_async._transport import Response
from certmail_async.legallymail._wire import OPS, LegallyMailWire

STRICT = LegallyMailWire(strict=True)


def resp(body: Any, status: int = 200) -> Response:
    return Response(
        status=status,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
    )


SEND = {
    "success": True,
    "message": "Email sent to 2 of 2 recipients",
    "data": {
        "tracking_id": "cm_parent_abc123",
        "recipients": [
            {
                "email": "recipient1@example.com",
                "status": "sent",
                "tracking_id": "cm_rec1_xyz",
                "error_details": None,
            },
            {
                "email": "recipient2@example.com",
                "status": "sent",
                "tracking_id": "cm_rec2_abc",
                "error_details": None,
            },
        ],
        "subject": "Test Email",
        "sent_at": "2024-01-15 10:30:00",
        "success_count": 2,
        "fail_count": 0,
        "error_status": None,
    },
}
INFO = {
    "name": "LegallyMail API",
    "version": "1.0.0",
    "user": {
        "email": "usuario@example.com",
        "name": "Nombre Usuario",
        "plan": "professional",
        "plan_name": "Profesional",
        "plan_limit": 100,
        "extra_emails": 0,
        "remaining_emails": 75,
    },
}
EMAILS = {
    "success": True,
    "count": 2,
    "limit": 10,
    "max_limit": 25,
    "emails": [
        {
            "id": 123,
            "tracking_id": "cm_abc123",
            "recipient": "example@example.com",
            "subject": "Test Email",
            "status": "read",
            "sent_at": "2024-01-15 10:30:00",
            "read_at": "2024-01-15 11:00:00",
            "created_at": "2024-01-15 10:30:00",
            "mailsender_id": "mail_xyz789",
            "is_multi_recipient": False,
            "recipient_count": 1,
            "error_status": None,
        },
        {
            "id": 122,
            "tracking_id": "cm_def456",
            "recipient": "Multiple Recipients",
            "subject": "Group Email",
            "status": "pending",
            "sent_at": "2024-01-14 15:20:00",
            "read_at": None,
            "created_at": "2024-01-14 15:20:00",
            "mailsender_id": "mail_uvw012",
            "is_multi_recipient": True,
            "recipient_count": 5,
            "error_status": "Soft Bounce",
        },
    ],
}
EMAIL = {
    "success": True,
    "email": {
        "id": 123,
        "tracking_id": "cm_abc123",
        "recipient": "Multiple Recipients",
        "subject": "Group Email",
        "status": "pending",
        "sent_at": "2024-01-15 10:30:00",
        "read_at": None,
        "created_at": "2024-01-15 10:30:00",
        "mailsender_id": "mail_xyz789",
        "is_multi_recipient": True,
        "recipient_count": 2,
        "error_status": None,
        "certificates": [],
        "recipients": [
            {
                "email": "recipient1@example.com",
                "name": "Recipient One",
                "status": "read",
                "tracking_id": "cm_rec1_xyz",
                "sent_at": "2024-01-15 10:30:05",
                "delivered_at": "2024-01-15 10:30:10",
                "read_at": "2024-01-15 11:00:00",
                "error_details": None,
                "certificates": [
                    {
                        "certificate_type": "read",
                        "file_hash": "sha256_hash_read_1",
                        "confirmed_at": "2024-01-15 11:00:00",
                        "has_tsr": True,
                        "has_tsq": True,
                        "pdf_download_url": "https://legallymail.com/emails/download-certificate?id=cm_rec1_xyz&status=read",
                    }
                ],
            },
            {
                "email": "recipient2@example.com",
                "name": "Recipient Two",
                "status": "delivered",
                "tracking_id": "cm_rec2_abc",
                "sent_at": "2024-01-15 10:30:05",
                "delivered_at": "2024-01-15 10:30:12",
                "read_at": None,
                "error_details": "Recipient inbox full",
                "certificates": [
                    {
                        "certificate_type": "delivered",
                        "file_hash": "sha256_hash_del_2",
                        "confirmed_at": "2024-01-15 10:30:12",
                        "has_tsr": True,
                        "has_tsq": True,
                        "pdf_download_url": "https://legallymail.com/emails/download-certificate?id=cm_rec2_abc&status=delivered",
                    }
                ],
            },
        ],
    },
}
SIGN = {
    "success": True,
    "message": "Signature request sent successfully",
    "data": {
        "uuid": "550e8400-e29b-41d4-a716-446655440000",
        "signer_name": "John Doe",
        "signer_email": "john.doe@example.com",
        "document_name": "Contract.pdf",
        "status": "pending",
        "created_at": "2024-01-15 10:30:00",
    },
}
SIGNATURES = {
    "success": True,
    "data": [
        {
            "uuid": "550e8400-e29b-41d4-a716-446655440000",
            "signer_name": "John Doe",
            "signer_email": "john.doe@example.com",
            "document_name": "Contract.pdf",
            "status": "signed",
            "created_at": "2024-01-15 10:30:00",
            "signed_at": "2024-01-15 11:00:00",
        }
    ],
}
SIGNATURE = {
    "success": True,
    "data": {
        "uuid": "550e8400-e29b-41d4-a716-446655440000",
        "signer_name": "John Doe",
        "signer_email": "john.doe@example.com",
        "document_name": "Contract.pdf",
        "status": "signed",
        "created_at": "2024-01-15 10:30:00",
        "signed_at": "2024-01-15 11:00:00",
        "expires_at": "2024-01-22 10:30:00",
        "document_hash": "...",
        "signed_document_hash": "...",
        "signers": [
            {
                "signer_name": "John Doe",
                "signer_email": "john.doe@example.com",
                "signer_phone": "+34600000000",
                "status": "signed",
                "signed_at": "2024-01-15 11:00:00",
            }
        ],
        "download_original_url": "https://legallymail.com/dashboard/electronic-signature/download-original/...",
        "download_acta_url": "https://legallymail.com/dashboard/electronic-signature/download-acta/...",
    },
}


class TestStrictSamples:
    def test_send(self) -> None:
        """POST /api/send: parent and per-recipient tracking ids, counts, naive sent_at."""
        out = STRICT.send_outcome(resp(SEND), OPS.SEND)
        assert out.tracking_id == "cm_parent_abc123"
        assert [r.tracking_id for r in out.recipients] == ["cm_rec1_xyz", "cm_rec2_abc"]
        assert out.sent_at == datetime(2024, 1, 15, 10, 30)
        assert out.message == "Email sent to 2 of 2 recipients"

    def test_info_without_success_key(self) -> None:
        """GET /api/info has no success key and decodes flat."""
        info = STRICT.account(resp(INFO), OPS.INFO)
        assert (info.api_version, info.plan, info.remaining_emails) == ("1.0.0", "professional", 75)

    def test_emails(self) -> None:
        """GET /api/emails items, with the 'pending' status the examples show."""
        emails = STRICT.emails(resp(EMAILS), OPS.EMAILS)
        assert [e.status for e in emails] == [EmailStatus.READ, EmailStatus.PENDING]
        assert emails[1].error_status == "Soft Bounce"
        assert emails[1].read_at is None

    def test_email_with_certificates(self) -> None:
        """GET /api/email: per-recipient status, error details and certificates."""
        email = STRICT.email(resp(EMAIL), OPS.EMAIL)
        second = email.recipients[1]
        assert second.status is EmailStatus.DELIVERED
        assert second.error_details == "Recipient inbox full"  # not by itself a failure
        assert second.certificates[0].certificate_type == "delivered"
        assert second.certificates[0].has_tsq

    def test_signatures(self) -> None:
        """Signature create, list and detail samples decode strictly."""
        created = STRICT.signature(resp(SIGN), OPS.SIGN)
        assert created.status is SignatureStatus.PENDING
        listed = STRICT.signatures(resp(SIGNATURES), OPS.SIGNATURES)
        assert listed[0].signed_at == datetime(2024, 1, 15, 11, 0)
        detail = STRICT.signature(resp(SIGNATURE), OPS.SIGNATURE)
        assert detail.signers[0].phone == "+34600000000"
        assert detail.download_acta_url is not None
        assert detail.download_acta_url.endswith("download-acta/...")


class TestOpenAndExplicit:
    def test_unknown_status_is_kept_raw(self) -> None:
        """An undocumented status decodes as a pseudo-member that keeps the raw string."""
        body = json.loads(json.dumps(EMAILS))
        body["emails"][0]["status"] = "bounced"
        status = STRICT.emails(resp(body), OPS.EMAILS)[0].status
        assert status.value == "bounced"
        assert not status.known
        assert EmailStatus.READ.known

    def test_zone_is_only_attached_when_asked(self) -> None:
        """Timestamps stay naive by default; a configured zone is attached, not converted."""
        rome = ZoneInfo("Europe/Rome")
        out = LegallyMailWire(tz=rome).send_outcome(resp(SEND), OPS.SEND)
        assert out.sent_at == datetime(2024, 1, 15, 10, 30, tzinfo=rome)

    def test_strict_refuses_drift(self) -> None:
        """A new key in an envelope fails the strict decoder, not the lenient one."""
        body = {**EMAILS, "next_cursor": "abc"}
        with pytest.raises(ResponseDecodeError, match="next_cursor"):
            STRICT.emails(resp(body), OPS.EMAILS)
        assert len(LegallyMailWire().emails(resp(body), OPS.EMAILS)) == 2


class TestRequestBodies:
    def test_recipients_join_into_one_string(self) -> None:
        """Several recipients go as one comma-separated string."""
        body = STRICT.send_body(
            recipients=["a@x.it", "b@x.it"],
            subject="s",
            html="h",
            reply_to=None,
            reply_to_name=None,
            attachments=(),
        )
        assert body == {"recipient": "a@x.it, b@x.it", "subject": "s", "message": "h"}

    def test_single_and_multi_signer_forms(self) -> None:
        """One signer uses signer_name/signer_email; several use `signers`."""
        one = STRICT.signature_body(
            signers=[Signer(name="A", email="a@x.it")],
            document=b"%PDF-",
            document_name="d.pdf",
            language=None,
        )
        assert {"signer_name", "signer_email"} <= set(one)
        assert "signers" not in one
        two = STRICT.signature_body(
            signers=[
                Signer(name="A", email="a@x.it"),
                Signer(name="B", email="b@x.it", phone="+39 333 1234567"),
            ],
            document=b"%PDF-",
            document_name="d.pdf",
            language="it",
        )
        assert two["signers"][1] == {"name": "B", "email": "b@x.it", "phone": "+39 333 1234567"}
        assert "signer_name" not in two
