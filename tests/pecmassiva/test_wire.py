"""Strict decoding of the reference's recorded PEC Massiva responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from certmail_async import ReceiptKind, ResponseDecodeError
from certmail_async._transport import Response
from certmail_async.pecmassiva._wire import OPS, PecMassivaWire

STRICT = PecMassivaWire(strict=True)
LENIENT = PecMassivaWire(strict=False)
ROME_SUMMER = timezone(timedelta(hours=2))


def resp(body: Any, status: int = 200) -> Response:
    return Response(
        status=status,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
    )


SEND_201 = {"success": True, "sent": 1, "message": "", "message_id": "2020082610003492"}
RECEIPTS_200 = {
    "data": [
        {
            "data": "Wed, 26 Aug 2020 10:00:35 +0200",
            "object": "ACCETTAZIONE: Invio di prova pec massiva 2020082610003492",
            "message": "",
        },
        {
            "data": "Wed, 26 Aug 2020 10:00:35 +0200",
            "object": "POSTA CERTIFICATA: Invio di prova pec massiva 2020082610003492",
            "message": "Salve, questa email \ufffd una prova di invio, che prevede un corpo in html",
        },
        {
            "data": "Wed, 26 Aug 2020 10:00:36 +0200",
            "object": "CONSEGNA: Invio di prova pec massiva 2020082610003492",
            "message": "Salve, questa email \ufffd una prova di invio, che prevede un corpo in html",
        },
    ],
    "success": True,
    "message": "",
}
INBOX_200 = {
    "data": [
        {
            "date": "Wed, 26 Aug 2020 10:00:35 +0200",
            "object": "ACCETTAZIONE: Invio di prova pec massiva 2020082610003492",
            "id": 1,
        },
        {
            "date": "Wed, 26 Aug 2020 10:00:35 +0200",
            "object": "POSTA CERTIFICATA: Invio di prova pec massiva 2020082610003492",
            "id": 2,
        },
        {
            "date": "Wed, 26 Aug 2020 10:00:36 +0200",
            "object": "CONSEGNA: Invio di prova pec massiva 2020082610003492",
            "id": 3,
        },
    ],
    "success": True,
    "message": "",
    "total": 981,
    "page": 39,
    "n_of_pages": 39,
}
INBOX_ONE_200 = {
    "data": {
        "date": "Mon, 21 Sep 2020 15:26:37 +0200",
        "object": "ACCETTAZIONE: Invio di prova pec massiva 202009211526363",
        "body": "This is an example body.",
    },
    "success": True,
    "message": "",
}
QUOTA_200 = {"data": {"usage": 171012, "limit": 1048576}, "success": True, "message": ""}


class TestStrictSamples:
    def test_send(self) -> None:
        """POST /send 201 decodes to SendResult(code, sent)."""
        result = STRICT.send_result(resp(SEND_201, 201), OPS.SEND)
        assert (result.code, result.sent) == ("2020082610003492", 1)

    def test_receipts(self) -> None:
        """GET /send/{code} items: 'data' is the date, 'object' the subject, kinds by prefix."""
        receipts = STRICT.receipts(resp(RECEIPTS_200), OPS.RECEIPTS)
        assert [r.kind for r in receipts] == [
            ReceiptKind.ACCEPTANCE,
            ReceiptKind.TRANSPORT_ENVELOPE,
            ReceiptKind.DELIVERY,
        ]
        assert receipts[2].date == datetime(2020, 8, 26, 10, 0, 36, tzinfo=ROME_SUMMER)
        assert receipts[0].body == ""
        assert "\ufffd" in receipts[1].body  # mangled text kept, not refused

    def test_inbox_page(self) -> None:
        """GET /inbox keeps n_of_pages as given, even when it disagrees with total/25."""
        page = STRICT.inbox_page(resp(INBOX_200), OPS.INBOX_LIST)
        assert (page.page, page.total, page.pages) == (39, 981, 39)
        assert [m.id for m in page.messages] == [1, 2, 3]
        assert page.messages[0].date.astimezone(UTC) == datetime(2020, 8, 26, 8, 0, 35, tzinfo=UTC)

    def test_inbox_single(self) -> None:
        """GET /inbox/{id} decodes with date, subject and body."""
        message = STRICT.inbox_detail(resp(INBOX_ONE_200), OPS.INBOX_GET)
        assert message.body == "This is an example body."
        assert message.kind is ReceiptKind.ACCEPTANCE

    def test_quota(self) -> None:
        """GET /quota/{mailbox} keeps raw usage and limit."""
        quota = STRICT.quota(resp(QUOTA_200), OPS.QUOTA)
        assert (quota.usage, quota.limit) == (171012, 1048576)


class TestDrift:
    def test_strict_refuses_unknown_keys_lenient_accepts(self) -> None:
        """A new provider field fails the strict decoder (drift shows) but not the client's."""
        drifted = json.loads(json.dumps(QUOTA_200))
        drifted["data"]["unit"] = "KB"
        with pytest.raises(ResponseDecodeError, match="unit"):
            STRICT.quota(resp(drifted), OPS.QUOTA)
        assert LENIENT.quota(resp(drifted), OPS.QUOTA).usage == 171012

    def test_sender_display_name_is_cleaned(self) -> None:
        """A quoted sender with trailing blanks ('"Per conto di: x" ') is cleaned."""
        body = json.loads(json.dumps(RECEIPTS_200))
        body["data"][0]["sender"] = '"Per conto di: dev-api@pecmassiva.com" '
        body["data"][0]["recipient"] = "box@pecmassiva.com"
        receipts = STRICT.receipts(resp(body), OPS.RECEIPTS)
        assert receipts[0].sender == "Per conto di: dev-api@pecmassiva.com"

    @pytest.mark.parametrize(
        "body",
        [
            {
                "data": [{"data": "not a date", "object": "x", "message": ""}],
                "success": True,
                "message": "",
            },
            {"data": "nope", "success": True, "message": ""},
            {"success": True, "message": ""},
            ["not", "an", "object"],
        ],
    )
    def test_bad_shapes_are_one_decode_error(self, body: Any) -> None:
        """Malformed bodies raise ResponseDecodeError naming the operation."""
        with pytest.raises(ResponseDecodeError) as info:
            LENIENT.receipts(resp(body), OPS.RECEIPTS)
        assert info.value.operation == "sends.receipts"

    def test_non_json_success_is_decode_error(self) -> None:
        """An HTML page under a 200 is a ResponseDecodeError, not a crash."""
        html = Response(status=200, headers={"content-type": "text/html"}, content=b"<html>")
        with pytest.raises(ResponseDecodeError, match="text/html"):
            LENIENT.quota(html, OPS.QUOTA)

    def test_send_body_shape(self) -> None:
        """POST /send carries recipient as an array and attachments as [{name, file}] in base64."""
        from certmail_async import Attachment

        body = STRICT.send_body(
            sender="box@pecmassiva.com",
            recipients=["a@pec.example.it"],
            subject="s",
            body="b",
            attachments=[Attachment(filename="a.txt", content=b"hi")],
        )
        assert body["recipient"] == ["a@pec.example.it"]
        assert body["attachments"] == [{"name": "a.txt", "file": "aGk="}]
        assert set(body) == {
            "sender",
            "recipient",
            "subject",
            "body",
            "attachments",
        }
