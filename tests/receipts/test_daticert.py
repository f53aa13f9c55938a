"""daticert.xml read safely: fields, dates, and what is refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from certmail_async.receipts import (
    ReceiptKind,
    ReceiptParseError,
    ReceiptTooLargeError,
    UnsafeXMLError,
    parse_daticert,
)
from certmail_async.receipts._daticert import combine_timestamp


class TestFields:
    def test_every_documented_field(self) -> None:
        """Each XPath of the reference's table lands in its field, normalised where stated."""
        xml = """<?xml version="1.0" encoding="UTF-8"?>
<postacert tipo="errore-consegna" errore="no-dest">
  <intestazione>
    <mittente> Mario.Rossi@PEC.example.it </mittente>
    <destinatari tipo="certificato">a@pec.example.it</destinatari>
    <destinatari tipo="esterno">b@example.com</destinatari>
    <risposte>reply@pec.example.it</risposte>
    <oggetto>Fattura è 12</oggetto>
  </intestazione>
  <dati>
    <gestore-emittente>Provider S.p.A.</gestore-emittente>
    <data zona="-0130"><giorno>01/02/2024</giorno><ora>23:59:59</ora></data>
    <identificativo>opec1@pec.provider.it</identificativo>
    <msgid>&lt; orig@pec.example.it &gt;</msgid>
    <ricevuta tipo="completa"/>
    <consegna>a@pec.example.it</consegna>
    <ricezione>a@pec.example.it</ricezione>
    <errore-esteso>5.1.1 - Utente inesistente</errore-esteso>
  </dati>
</postacert>""".encode()
        d = parse_daticert(xml)
        assert d.kind is ReceiptKind.NON_DELIVERY
        assert d.sender == "mario.rossi@pec.example.it"
        assert [(r.address, r.type.value if r.type else None) for r in d.recipients] == [
            ("a@pec.example.it", "certificato"),
            ("b@example.com", "esterno"),
        ]
        assert d.reply_to == "reply@pec.example.it"
        assert d.subject == "Fattura è 12"
        assert d.issuer == "Provider S.p.A."
        assert d.timestamp == datetime(
            2024, 2, 1, 23, 59, 59, tzinfo=timezone(-timedelta(hours=1, minutes=30))
        )
        assert d.provider_id == "opec1@pec.provider.it"
        assert d.message_id == "orig@pec.example.it"
        assert d.variant is not None
        assert d.variant.value == "completa"
        assert d.delivery_address == "a@pec.example.it"
        assert d.receiving_address == "a@pec.example.it"
        assert d.extended_error == "5.1.1 - Utente inesistente"

    def test_missing_parts_are_none(self) -> None:
        """A bare postacert element gives UNKNOWN and empty fields, not an error."""
        d = parse_daticert(b"<postacert/>")
        assert d.kind is ReceiptKind.UNKNOWN
        assert d.raw_kind is None
        assert d.recipients == ()
        assert d.timestamp is None

    def test_declared_latin1_encoding(self) -> None:
        """A document declared ISO-8859-1 is decoded by its declaration."""
        xml = '<?xml version="1.0" encoding="ISO-8859-1"?><postacert tipo="accettazione">'
        xml += "<intestazione><oggetto>Perché</oggetto></intestazione></postacert>"
        assert parse_daticert(xml.encode("latin-1")).subject == "Perché"

    def test_stylesheet_and_public_doctype_are_accepted(self) -> None:
        """The form a real provider file takes (stylesheet PI, PUBLIC DTD URL) parses."""
        xml = (
            b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
            b'<?xml-stylesheet type="text/xsl" href="https://provider.example/postacert.xsl"?>\r\n'
            b'<!DOCTYPE postacert PUBLIC "posta certificata" '
            b'"https://provider.example/dtd/postacert.dtd">\r\n'
            b'<postacert tipo="avvenuta-consegna" errore="nessuno"/>'
        )
        assert parse_daticert(xml).kind is ReceiptKind.DELIVERY


class TestTimestamp:
    @pytest.mark.parametrize(
        ("day", "time", "zone"),
        [
            ("31/02/2024", "10:00:00", "+0100"),  # no such day
            ("21/05/2024", "25:00:00", "+0100"),
            ("21/05/2024", "10:00:00", "CET"),  # a name, not an offset
            ("21/05/2024", "10:00:00", "+2500"),
            ("2024-05-21", "10:00:00", "+0100"),
            ("21/05/2024", "10:00:00", None),
            (None, "10:00:00", "+0100"),
            ("\u0662\u0661/05/2024", "10:00:00", "+0100"),  # Arabic-Indic digits: not [0-9]
        ],
    )
    def test_malformed_parts_give_no_timestamp(
        self, day: str | None, time: str | None, zone: str | None
    ) -> None:
        """Any missing or malformed part gives None: no zone or date is ever guessed."""
        assert combine_timestamp(day, time, zone) is None

    def test_zone_with_colon_and_no_seconds(self) -> None:
        """+02:00 and HH:MM are read too."""
        assert combine_timestamp("1/5/2024", "9:05", "+02:00") == datetime(
            2024, 5, 1, 9, 5, tzinfo=timezone(timedelta(hours=2))
        )


class TestRefused:
    def test_not_well_formed(self) -> None:
        """Broken XML is a ReceiptParseError naming daticert.xml."""
        with pytest.raises(ReceiptParseError) as info:
            parse_daticert(b"<postacert tipo='x'>")
        assert info.value.part == "daticert.xml"
        assert not isinstance(info.value, UnsafeXMLError)

    def test_wrong_root(self) -> None:
        """Another root element is not certification data."""
        with pytest.raises(ReceiptParseError, match="not <postacert>"):
            parse_daticert(b"<html/>")

    def test_size_limit(self) -> None:
        """Over max_size bytes is refused before parsing."""
        with pytest.raises(ReceiptTooLargeError):
            parse_daticert(b"<postacert/>" + b" " * 100, max_size=100)

    def test_external_dtd_is_never_read(self, tmp_path: Path) -> None:
        """A DOCTYPE pointing at a real DTD file with a default tipo: the file is not read."""
        dtd = tmp_path / "inject.dtd"
        dtd.write_text('<!ATTLIST postacert tipo CDATA "avvenuta-consegna">')
        xml = f'<!DOCTYPE postacert SYSTEM "{dtd.as_uri()}"><postacert errore="nessuno"/>'
        d = parse_daticert(xml.encode())
        assert d.raw_kind is None
        assert d.kind is ReceiptKind.UNKNOWN

    def test_undefined_entity_is_malformed_not_expanded(self) -> None:
        """A reference to an undeclared entity is a parse error."""
        with pytest.raises(ReceiptParseError):
            parse_daticert(b"<postacert tipo='&x;'/>")
