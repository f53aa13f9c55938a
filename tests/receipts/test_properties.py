"""Property tests: no subject, header set or XML document crashes the classifiers.

"Crash" means any exception other than the typed ``ReceiptParseError`` family (itself a
``CertmailError``). Example counts are set per test; run with
``--hypothesis-show-statistics`` to see them.
"""

from __future__ import annotations

import contextlib
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certmail_async.receipts import (
    EvidenceSource,
    ProviderMessage,
    ReceiptKind,
    ReceiptParseError,
    UnsafeXMLError,
    classify_subject,
    kind_from_wire,
    parse_daticert,
    parse_eml,
)
from certmail_async.receipts._kinds import _PREFIXES

PREFIXES = [p for p, _k in _PREFIXES]
TIPI = [k.value for k in ReceiptKind] + ["mancata-consegna", "errore", "", " ", "ACCETTAZIONE"]
HEADER_NAMES = [
    "X-Ricevuta",
    "X-Trasporto",
    "X-Riferimento-Message-ID",
    "X-TipoRicevuta",
    "X-VerificaSicurezza",
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "MIME-Version",
]
TAGS = [
    "postacert",
    "intestazione",
    "mittente",
    "destinatari",
    "risposte",
    "oggetto",
    "dati",
    "gestore-emittente",
    "data",
    "giorno",
    "ora",
    "identificativo",
    "msgid",
    "ricevuta",
    "consegna",
    "ricezione",
    "errore-esteso",
]
ATTRS = ["tipo", "errore", "zona"]

# Characters XML 1.0 allows in text (no C0 controls but tab/CR/LF, no surrogates, no FFFE/F).
xml_chars = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(chr(c) for c in range(32) if c not in (9, 10, 13))
    + "\ufffe\uffff",
)
xml_text = st.text(xml_chars, max_size=20)
wire_values = st.one_of(st.sampled_from(TIPI), st.text(max_size=30))


def subjects() -> st.SearchStrategy[str]:
    """Arbitrary text, and text that starts with a real prefix in any case and spacing."""
    prefixed = st.builds(
        lambda p, lower, pad, rest: " " * pad + (p.lower() if lower else p) + rest,
        st.sampled_from(PREFIXES),
        st.booleans(),
        st.integers(0, 3),
        st.text(max_size=60),
    )
    return st.one_of(st.text(max_size=200), prefixed)


def header_sets() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Lists of (name, value) with PEC header names, random names and hostile values."""
    names = st.one_of(
        st.sampled_from(HEADER_NAMES),
        st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=":"),
                min_size=1, max_size=20),
    )  # fmt: skip
    values = st.one_of(
        wire_values,
        st.text(max_size=120),
        st.sampled_from(
            [
                "=?UTF-8?B?Q09OU0VHTkE6IHg=?=",
                "=?bogus-charset?Q?=FF=FE?=",
                "=?UTF-8?B?not base64?=",
                'multipart/mixed; boundary="b"',
                "multipart/mixed; boundary=",
                'application/xml; name="daticert.xml"',
                "message/rfc822",
                "base64",
                "quoted-printable",
                '"Per conto di: a@b.it" <posta-certificata@x.it>',
                "Per conto di:",
                "Tue, 21 May 2024 10:15:30 +0200",
                "Tue, 99 Foo 20240 99:99:99 +9999",
                "<>",
            ]
        ),
    )
    return st.lists(st.tuples(names, values), max_size=12)


def render(headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8", "surrogatepass")
    return head + b"\r\n" + body


def _attrs(values: dict[str, str]) -> str:
    # quoteattr escapes &, <, > and quotes; characters XML cannot carry are never generated.
    return "".join(f" {k}={quoteattr(v)}" for k, v in values.items())


# One element: a daticert tag (or another name), attributes, text.
leaf = st.tuples(
    st.sampled_from([*TAGS, "x", "a-b", "postacert"]),
    st.dictionaries(st.sampled_from(ATTRS), st.one_of(wire_values, xml_text), max_size=2),
    xml_text,
)


def _render(element: tuple[str, dict[str, str], str], children: str = "") -> str:
    tag, attrs, text = element
    clean = {
        k: "".join(c for c in v if c in _XML_OK or (c.isprintable() and c not in "\ufffe\uffff"))
        for k, v in attrs.items()
    }
    return f"<{tag}{_attrs(clean)}>{escape(text)}{children}</{tag}>"


_XML_OK = {"\t", "\n", "\r"}


# Built once (not per example): hypothesis then computes their properties once.
_sections = st.lists(
    st.tuples(leaf, st.lists(st.tuples(leaf, st.lists(leaf, max_size=2)), max_size=4)),
    max_size=3,
)
_root_attrs = st.dictionaries(st.sampled_from(ATTRS), wire_values, max_size=2)
_roots = st.sampled_from(["postacert", "postacert", "postacert", "html"])
_prologs = st.sampled_from(
    [
        "",
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<?xml version="1.0"?>\n<!DOCTYPE postacert SYSTEM "Postacert.dtd">\n',
    ]
)


@st.composite
def daticert_documents(draw: st.DrawFn) -> bytes:
    """Well-formed documents over the daticert vocabulary, three levels deep at most."""
    sections = draw(_sections)
    body = "".join(
        _render(section, "".join(_render(child, "".join(_render(g) for g in grand))
                                 for child, grand in kids))
        for section, kids in sections
    )  # fmt: skip
    root_attrs = draw(_root_attrs)
    root = draw(_roots)
    prolog = draw(_prologs)
    return (prolog + _render((root, root_attrs, ""), body)).encode()


def eml_with(daticert: bytes, headers: list[tuple[str, str]]) -> bytes:
    import base64

    body = (
        b'--b\r\nContent-Type: application/xml; name="daticert.xml"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(daticert).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )
    headers = [*headers, ("Content-Type", 'multipart/mixed; boundary="b"')]
    return render(headers, body)


def check(message: ProviderMessage, data: bytes) -> None:
    # A result is always internally consistent, whatever the input, and keeps the evidence.
    assert message.raw == data
    assert isinstance(message.kind, ReceiptKind)
    assert isinstance(message.evidence, EvidenceSource)
    assert all(isinstance(p, str) for p in message.problems)
    if message.evidence is EvidenceSource.DATICERT:
        assert message.daticert is not None
    if message.timestamp is not None:
        assert message.timestamp.tzinfo is not None


class TestSubjects:
    @settings(max_examples=1000)
    @given(subjects())
    @example("ﬆ")
    @example("poﬆa certificata: x")
    @example("\x00CONSEGNA:")
    def test_classify_subject_never_crashes(self, subject: str) -> None:
        """Any text classifies to a kind and a remainder; known kinds start with their prefix."""
        kind, rest = classify_subject(subject)
        assert isinstance(kind, ReceiptKind)
        assert isinstance(rest, str)
        if kind is not ReceiptKind.UNKNOWN:
            head = subject.lstrip()
            assert any(head[: len(p)].upper() == p for p in PREFIXES)
            assert rest in head

    @settings(max_examples=500)
    @given(st.one_of(wire_values, st.none()))
    def test_kind_from_wire_never_crashes(self, raw: str | None) -> None:
        """Any tipo / header string maps to a kind (UNKNOWN when not in the vocabulary)."""
        assert isinstance(kind_from_wire(raw), ReceiptKind)


class TestHeaders:
    @settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
    @given(header_sets(), st.binary(max_size=200))
    @example([("X-Ricevuta", "avvenuta-consegna")], b"")
    @example([("Content-Type", "multipart/mixed; boundary=")], b"--\r\n--")
    @example([("Subject", "=?UTF-8?B?\udcff?=")], b"")
    def test_header_sets_never_crash(self, headers: list[tuple[str, str]], body: bytes) -> None:
        """Any header set and body parses to a ProviderMessage or a typed error, nothing else."""
        data = render(headers, body)
        try:
            message = parse_eml(data)
        except ReceiptParseError:
            return
        check(message, data)

    @settings(max_examples=400)
    @given(st.binary(max_size=2000))
    def test_arbitrary_bytes_never_crash(self, data: bytes) -> None:
        """Arbitrary bytes: a ProviderMessage or a typed error."""
        with contextlib.suppress(ReceiptParseError):
            check(parse_eml(data), data)


class TestXml:
    @settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
    @given(daticert_documents())
    def test_generated_documents_never_crash(self, xml: bytes) -> None:
        """Well-formed documents over the daticert vocabulary parse, or give a typed error."""
        try:
            d = parse_daticert(xml)
        except UnsafeXMLError as error:  # no DTD subset nor entity is ever generated here
            raise AssertionError("a plain document was refused as unsafe") from error
        except ReceiptParseError:
            return
        assert isinstance(d.kind, ReceiptKind)
        if d.timestamp is not None:
            assert d.timestamp.tzinfo is not None

    @settings(max_examples=300)
    @given(daticert_documents(), st.integers(0, 10_000), st.binary(min_size=1, max_size=8))
    def test_corrupted_documents_never_crash(self, xml: bytes, at: int, junk: bytes) -> None:
        """A document with bytes spliced in: a Daticert or a typed error."""
        at %= len(xml) + 1
        with contextlib.suppress(ReceiptParseError):
            parse_daticert(xml[:at] + junk + xml[at:])

    @settings(max_examples=300)
    @given(st.binary(max_size=500))
    def test_arbitrary_bytes_never_crash(self, data: bytes) -> None:
        """Arbitrary bytes as daticert.xml: a Daticert or a typed error."""
        with contextlib.suppress(ReceiptParseError):
            parse_daticert(data)

    @settings(max_examples=300)
    @given(
        st.sampled_from(["ENTITY a 'x'", "ENTITY % p SYSTEM 'http://127.0.0.1:9/x'",
                         "ATTLIST postacert tipo CDATA 'avvenuta-consegna'",
                         "ELEMENT postacert ANY", "NOTATION n SYSTEM 'x'"]),
        st.text(xml_chars, max_size=20),
    )  # fmt: skip
    def test_any_internal_subset_is_unsafe(self, declaration: str, noise: str) -> None:
        """Whatever an internal DTD subset declares, the document is refused as unsafe."""
        xml = f"<!DOCTYPE postacert [<!{declaration}>]><postacert>{escape(noise)}</postacert>"
        try:
            parse_daticert(xml.encode())
        except UnsafeXMLError:
            return
        raise AssertionError("an internal subset was accepted")

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(daticert_documents(), header_sets())
    def test_documents_inside_messages_never_crash(
        self, xml: bytes, headers: list[tuple[str, str]]
    ) -> None:
        """A generated daticert.xml attached to a message with random headers: no crash."""
        data = eml_with(xml, headers)
        try:
            message = parse_eml(data)
        except ReceiptParseError:
            return
        check(message, data)
        if message.daticert is not None and message.daticert.kind is not ReceiptKind.UNKNOWN:
            transport = (message.headers.transport or "").strip().lower()
            if transport != "errore":
                assert message.kind is message.daticert.kind
                assert message.evidence is EvidenceSource.DATICERT
