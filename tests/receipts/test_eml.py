"""PEC provider messages parsed from .eml bytes: one sample per kind and variant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from certmail_async import CertmailError
from certmail_async.receipts import (
    DeliveryVariant,
    EvidenceSource,
    Outcome,
    PecErrorClass,
    PecRecipientType,
    ProviderMessage,
    ReceiptKind,
    ReceiptParseError,
    ReceiptTooLargeError,
    UnsafeXMLError,
    parse_eml,
)

from .conftest import sample

SENDER = "mario.rossi@pec.example.it"
RCPT_A = "protocollo@pec.comune.example.it"
RCPT_B = "amministrazione@pec.fornitore.example.it"
ORIGINAL_ID = "20240521101529.4411@client.example.it"
SUBJECT = "Avviso 4411 - Fattura 2024/118"
ROME_SUMMER = timezone(timedelta(hours=2))

K = ReceiptKind
E = EvidenceSource

# sample -> (kind, raw kind, evidence, delivery address, outcome, error class)
TABLE = {
    "accettazione.eml": (K.ACCEPTANCE, "accettazione", E.DATICERT, None, Outcome.PENDING, "nessuno"),
    "non-accettazione.eml": (K.NON_ACCEPTANCE, "non-accettazione", E.DATICERT, None, Outcome.FAILED, "altro"),
    "non-accettazione-virus.eml": (K.NON_ACCEPTANCE, "non-accettazione", E.DATICERT, None, Outcome.FAILED, "virus"),
    "presa-in-carico.eml": (K.TAKEN_IN_CHARGE, "presa-in-carico", E.DATICERT, None, Outcome.INFORMATIONAL, "nessuno"),
    "avvenuta-consegna-completa.eml": (K.DELIVERY, "avvenuta-consegna", E.DATICERT, RCPT_A, Outcome.DELIVERED, "nessuno"),
    "avvenuta-consegna-breve.eml": (K.DELIVERY, "avvenuta-consegna", E.DATICERT, RCPT_A, Outcome.DELIVERED, "nessuno"),
    "avvenuta-consegna-sintetica.eml": (K.DELIVERY, "avvenuta-consegna", E.DATICERT, RCPT_A, Outcome.DELIVERED, "nessuno"),
    "errore-consegna.eml": (K.NON_DELIVERY, "errore-consegna", E.DATICERT, RCPT_B, Outcome.FAILED, "no-dest"),
    "errore-consegna-virus.eml": (K.NON_DELIVERY, "errore-consegna", E.DATICERT, RCPT_A, Outcome.FAILED, "virus"),
    "errore-consegna-tempo-massimo.eml": (K.NON_DELIVERY, "errore-consegna", E.DATICERT, RCPT_B, Outcome.FAILED, "altro"),
    "preavviso-errore-consegna.eml": (K.DELIVERY_WARNING, "preavviso-errore-consegna", E.DATICERT, RCPT_B, Outcome.WARNING, "altro"),
    "preavviso-errore-consegna-aruba-541.eml": (K.DELIVERY_WARNING, "preavviso-errore-consegna", E.DATICERT, RCPT_B, Outcome.FAILED, "altro"),
    "rilevazione-virus.eml": (K.VIRUS_DETECTION, "rilevazione-virus", E.DATICERT, RCPT_A, Outcome.FAILED, "virus"),
    "posta-certificata.eml": (K.TRANSPORT_ENVELOPE, "posta-certificata", E.DATICERT, None, Outcome.INFORMATIONAL, "nessuno"),
    "anomalia.eml": (K.ANOMALY_ENVELOPE, "errore", E.HEADERS, None, Outcome.INFORMATIONAL, None),
    "anomalia-daticert-annidato.eml": (K.ANOMALY_ENVELOPE, "errore", E.HEADERS, None, Outcome.INFORMATIONAL, None),
    "mancata-consegna-non-standard.eml": (K.NON_DELIVERY, "mancata-consegna", E.DATICERT, RCPT_B, Outcome.FAILED, "superamento-tempi-massimi"),
    "accettazione-senza-daticert.eml": (K.ACCEPTANCE, "accettazione", E.HEADERS, None, Outcome.PENDING, None),
    "consegna-solo-oggetto.eml": (K.DELIVERY, None, E.SUBJECT, RCPT_A, Outcome.DELIVERED, None),
    "daticert-malformato.eml": (K.DELIVERY, "avvenuta-consegna", E.HEADERS, RCPT_A, Outcome.DELIVERED, None),
}  # fmt: skip


def parsed(name: str) -> ProviderMessage:
    return parse_eml(sample(name))


class TestEverySample:
    @pytest.mark.parametrize("name", sorted(TABLE))
    def test_kind_evidence_and_outcome(self, name: str) -> None:
        """Each sample gives the kind, raw kind, evidence source, recipient and outcome it shows."""
        kind, raw_kind, evidence, delivery, outcome, error = TABLE[name]
        m = parsed(name)
        assert (m.kind, m.raw_kind, m.evidence) == (kind, raw_kind, evidence)
        assert m.delivery_address == delivery
        assert m.outcome is outcome
        assert (m.error.value if m.error else None) == error
        assert m.raw == sample(name)

    @pytest.mark.parametrize("name", sorted(TABLE))
    def test_correlation_key_and_subject(self, name: str) -> None:
        """Every receipt names the original Message-ID (no brackets) and the original subject."""
        m = parsed(name)
        if name.startswith("anomalia.eml"):
            assert m.subject == "Offerta speciale"
            return
        if name == "consegna-solo-oggetto.eml":
            assert m.message_id is None  # a forwarded copy: no PEC header, no daticert
        else:
            assert m.message_id == ORIGINAL_ID
        assert m.subject is not None
        assert m.subject.endswith(SUBJECT)


class TestDaticertFields:
    def test_acceptance_lists_recipients_with_their_type(self) -> None:
        """destinatari keep their order and type: two PEC mailboxes and one ordinary address."""
        m = parsed("accettazione.eml")
        assert [(r.address, r.type) for r in m.recipients] == [
            (RCPT_A, PecRecipientType.CERTIFIED),
            (RCPT_B, PecRecipientType.CERTIFIED),
            ("info@example.com", PecRecipientType.EXTERNAL),
        ]
        assert m.sender == SENDER
        assert m.issuer == "Gestore Mittente Esempio S.p.A."

    def test_timestamp_combines_day_time_and_zone(self) -> None:
        """giorno, ora and zona become one aware datetime in the stated offset."""
        m = parsed("avvenuta-consegna-completa.eml")
        assert m.timestamp == datetime(2024, 5, 21, 10, 15, 32, tzinfo=ROME_SUMMER)
        assert m.timestamp.utcoffset() == timedelta(hours=2)
        assert m.daticert is not None
        assert (m.daticert.day, m.daticert.time, m.daticert.zone) == (
            "21/05/2024",
            "10:15:32",
            "+0200",
        )

    def test_provider_id_and_variant(self) -> None:
        """identificativo is the provider id; ricevuta/@tipo is the delivery variant."""
        m = parsed("avvenuta-consegna-breve.eml")
        assert m.provider_id == "opec300.20240521101532.7002.breve@pec.comune.example.it"
        assert m.variant is DeliveryVariant.SHORT

    @pytest.mark.parametrize(
        ("name", "variant", "has_original"),
        [
            ("avvenuta-consegna-completa.eml", DeliveryVariant.COMPLETE, True),
            ("avvenuta-consegna-breve.eml", DeliveryVariant.SHORT, True),
            ("avvenuta-consegna-sintetica.eml", DeliveryVariant.SUMMARY, False),
        ],
    )
    def test_delivery_variants(
        self, name: str, variant: DeliveryVariant, has_original: bool
    ) -> None:
        """completa and breve carry postacert.eml, sintetica only the certification data."""
        m = parsed(name)
        assert m.variant is variant
        assert (m.original is not None) is has_original

    def test_complete_receipt_carries_the_original_with_attachments(self) -> None:
        """postacert.eml of a complete receipt is the original: headers and the PDF itself."""
        m = parsed("avvenuta-consegna-completa.eml")
        assert m.original is not None
        assert m.original.message_id == ORIGINAL_ID
        assert m.original.subject == SUBJECT
        assert m.original.sender == SENDER
        assert m.original.to == (RCPT_A, RCPT_B)
        assert m.original.cc == ("info@example.com",)
        assert m.original.date == datetime(2024, 5, 21, 10, 15, 29, tzinfo=ROME_SUMMER)
        assert b"JVBERi0xLjQK" in m.original.raw  # the PDF, base64

    def test_short_receipt_has_hashes_instead_of_attachments(self) -> None:
        """postacert.eml of a breve receipt carries the attachment's hash, not its bytes."""
        m = parsed("avvenuta-consegna-breve.eml")
        assert m.original is not None
        assert b"SHA-256:" in m.original.raw
        assert b"JVBERi0xLjQK" not in m.original.raw

    def test_error_description_is_kept_verbatim(self) -> None:
        """errore-esteso is kept as written (AgID codes are not reproduced in the reference)."""
        assert parsed("errore-consegna.eml").extended_error == "5.1.1 - Utente inesistente"

    def test_non_standard_values_are_kept_raw(self) -> None:
        """tipo mancata-consegna is a probable non-delivery; errore stays its raw string."""
        m = parsed("mancata-consegna-non-standard.eml")
        assert m.kind is ReceiptKind.NON_DELIVERY
        assert m.raw_kind == "mancata-consegna"
        assert m.error is not None
        assert not m.error.known
        assert m.error.value == "superamento-tempi-massimi"

    def test_error_classes(self) -> None:
        """errore maps to the documented classes."""
        assert parsed("errore-consegna.eml").error is PecErrorClass.NO_RECIPIENT
        assert parsed("rilevazione-virus.eml").error is PecErrorClass.VIRUS

    def test_doctype_naming_an_external_dtd_is_accepted(self) -> None:
        """Real daticert.xml files name Postacert.dtd; that is read as data, never fetched."""
        raw = parsed("avvenuta-consegna-completa.eml").daticert
        assert raw is not None
        assert raw.kind is ReceiptKind.DELIVERY


class TestEnvelopes:
    def test_transport_envelope_sender_is_on_behalf_of(self) -> None:
        """A transport envelope carries the original; its sender is the 'Per conto di' address."""
        m = parsed("posta-certificata.eml")
        assert m.headers.transport == "posta-certificata"
        assert m.sender == SENDER
        assert m.original is not None
        assert m.original.subject == SUBJECT

    def test_anomaly_envelope_wraps_an_ordinary_message(self) -> None:
        """X-Trasporto: errore is an anomaly; the wrapped ordinary e-mail is the original."""
        m = parsed("anomalia.eml")
        assert m.sender == "offerte@mail.example.com"
        assert m.original is not None
        assert m.original.subject == "Offerta speciale"

    def test_nested_daticert_is_never_the_envelopes(self) -> None:
        """The daticert.xml inside a wrapped PEC message does not classify the envelope."""
        m = parsed("anomalia-daticert-annidato.eml")
        assert m.kind is ReceiptKind.ANOMALY_ENVELOPE
        assert m.daticert is None
        assert m.original is not None
        assert m.original.subject == f"POSTA CERTIFICATA: {SUBJECT}"

    def test_anomaly_header_wins_over_a_top_level_daticert(self) -> None:
        """A top-level daticert.xml in an anomaly envelope is noted, the envelope stays an anomaly."""
        raw = sample("posta-certificata.eml").replace(
            b"X-Trasporto: posta-certificata", b"X-Trasporto: errore"
        )
        m = parse_eml(raw)
        assert m.kind is ReceiptKind.ANOMALY_ENVELOPE
        assert any("anomaly envelope carries daticert.xml" in p for p in m.problems)


class TestFallbacks:
    def test_headers_when_daticert_is_missing(self) -> None:
        """No daticert.xml: the X-Ricevuta header decides and the problem is recorded."""
        m = parsed("accettazione-senza-daticert.eml")
        assert m.evidence is EvidenceSource.HEADERS
        assert m.problems == ("no daticert.xml",)
        assert m.timestamp == datetime(2024, 5, 21, 10, 15, 30, tzinfo=ROME_SUMMER)

    def test_headers_when_daticert_is_malformed(self) -> None:
        """A malformed daticert.xml falls back to the headers, never stops processing."""
        m = parsed("daticert-malformato.eml")
        assert m.evidence is EvidenceSource.HEADERS
        assert m.daticert is None
        assert any(p.startswith("daticert.xml: not well-formed") for p in m.problems)

    def test_subject_when_nothing_else(self) -> None:
        """Without daticert.xml nor PEC headers the subject prefix decides (weakest evidence)."""
        m = parsed("consegna-solo-oggetto.eml")
        assert m.evidence is EvidenceSource.SUBJECT
        assert m.delivery_address == RCPT_A  # from the standard receipt sentence

    def test_daticert_wins_over_disagreeing_headers(self) -> None:
        """daticert.xml tipo decides over X-Ricevuta, and the disagreement is recorded."""
        raw = sample("errore-consegna.eml").replace(
            b"X-Ricevuta: errore-consegna", b"X-Ricevuta: avvenuta-consegna"
        )
        m = parse_eml(raw)
        assert m.kind is ReceiptKind.NON_DELIVERY
        assert m.evidence is EvidenceSource.DATICERT
        assert any("daticert.xml wins" in p for p in m.problems)

    def test_unknown_tipo_falls_back_to_headers_keeping_the_raw_string(self) -> None:
        """An unknown tipo defers to a known header, and the raw tipo is kept."""
        raw = (
            b"X-Ricevuta: avvenuta-consegna\r\nSubject: x\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            b'Content-Type: application/xml; name="daticert.xml"\r\n\r\n'
            b'<postacert tipo="consegna-lunare" errore="nessuno"/>\r\n--b--\r\n'
        )
        m = parse_eml(raw)
        assert (m.kind, m.evidence, m.raw_kind) == (
            ReceiptKind.DELIVERY,
            EvidenceSource.HEADERS,
            "consegna-lunare",
        )

    def test_unknown_everything_is_kept_as_unknown(self) -> None:
        """A message nothing identifies is UNKNOWN with its raw bytes, not an error."""
        raw = b"Subject: Re: hello\r\nX-Ricevuta: ricevuta-strana\r\n\r\nhi\r\n"
        m = parse_eml(raw)
        assert m.kind is ReceiptKind.UNKNOWN
        assert m.raw_kind == "ricevuta-strana"
        assert m.evidence is EvidenceSource.HEADERS
        assert m.outcome is Outcome.INFORMATIONAL
        assert m.raw == raw

    def test_timestamp_without_zone_uses_the_date_header(self) -> None:
        """A daticert date without zona is never given Italian time: the Date header is used."""
        raw = (
            b"Date: Tue, 21 May 2024 08:15:30 +0000\r\nSubject: ACCETTAZIONE: x\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            b'Content-Type: application/xml; name="daticert.xml"\r\n\r\n'
            b'<postacert tipo="accettazione" errore="nessuno"><dati><data>'
            b"<giorno>21/05/2024</giorno><ora>10:15:30</ora></data></dati></postacert>\r\n--b--\r\n"
        )
        m = parse_eml(raw)
        assert m.daticert is not None
        assert m.daticert.timestamp is None
        assert m.timestamp == datetime(2024, 5, 21, 8, 15, 30, tzinfo=UTC)

    def test_encoded_subject_is_decoded(self) -> None:
        """An RFC 2047 subject is decoded before the prefix is read."""
        raw = b"Subject: =?UTF-8?B?Q09OU0VHTkE6IEZhdHR1cmEgw6g=?=\r\n\r\nx\r\n"
        m = parse_eml(raw)
        assert m.kind is ReceiptKind.DELIVERY
        assert m.subject == "Fattura è"


class TestLimits:
    def test_strict_mode_requires_daticert(self) -> None:
        """strict=True raises a typed error when daticert.xml is missing or malformed."""
        with pytest.raises(ReceiptParseError) as missing:
            parse_eml(sample("accettazione-senza-daticert.eml"), strict=True)
        assert missing.value.part == "daticert.xml"
        with pytest.raises(ReceiptParseError):
            parse_eml(sample("daticert-malformato.eml"), strict=True)
        assert (
            parse_eml(sample("accettazione.eml"), strict=True).evidence is EvidenceSource.DATICERT
        )

    def test_hostile_daticert_is_a_typed_error(self) -> None:
        """A billion-laughs daticert.xml raises UnsafeXMLError, a CertmailError, at once."""
        with pytest.raises(UnsafeXMLError) as info:
            parse_eml(sample("billion-laughs.eml"))
        assert isinstance(info.value, CertmailError)
        assert info.value.part == "daticert.xml"

    def test_size_limit(self) -> None:
        """Input over max_size is refused before parsing, naming the size and the limit."""
        data = sample("accettazione.eml")
        with pytest.raises(ReceiptTooLargeError) as info:
            parse_eml(data, max_size=len(data) - 1)
        assert (info.value.size, info.value.limit) == (len(data), len(data) - 1)
        assert parse_eml(data, max_size=len(data)).kind is ReceiptKind.ACCEPTANCE

    def test_daticert_size_limit_falls_back(self) -> None:
        """A daticert.xml over its own limit is skipped like a malformed one (strict raises)."""
        m = parse_eml(sample("accettazione.eml"), max_daticert_size=100)
        assert m.evidence is EvidenceSource.HEADERS
        assert any("over the 100-byte limit" in p for p in m.problems)
        with pytest.raises(ReceiptTooLargeError):
            parse_eml(sample("accettazione.eml"), max_daticert_size=100, strict=True)

    def test_deep_mime_nesting_is_a_typed_error(self) -> None:
        """MIME nested thousands deep is a ReceiptParseError, not a RecursionError."""
        data = b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
            for i in range(5000)
        )
        with pytest.raises(ReceiptParseError) as info:
            parse_eml(data)
        assert info.value.part == "message"

    def test_not_bytes_is_a_typed_error(self) -> None:
        """A str (or None) instead of bytes is a ReceiptParseError naming the type."""
        with pytest.raises(ReceiptParseError, match="expected bytes, got str"):
            parse_eml("Subject: x")  # type: ignore[arg-type]

    def test_too_many_parts_are_not_read(self) -> None:
        """Past MAX_PARTS parts the walk stops and says so; the result is still returned."""
        parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(1200))
        raw = (
            b"X-Ricevuta: accettazione\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
        )
        m = parse_eml(raw)
        assert m.kind is ReceiptKind.ACCEPTANCE
        assert any("MIME parts" in p for p in m.problems)
