"""XML attack fixtures: typed errors at the first declaration, nothing expanded or fetched.

The wall-clock bound below is a hang guard (an expanded billion-laughs document takes
minutes and gigabytes), not a timing claim: the refusal happens before any expansion.
"""

from __future__ import annotations

import base64
import socket
import time

import pytest

from certmail_async import CertmailError
from certmail_async.receipts import UnsafeXMLError, parse_daticert, parse_eml

from .conftest import ATTACKS, sample

HANG_GUARD_SECONDS = 5.0
FIXTURES = [
    "billion-laughs.xml",
    "quadratic-blowup.xml",
    "external-entity.xml",
    "dtd-retrieval.xml",
    "attribute-injection.xml",
]


def wrap(xml: bytes) -> bytes:
    """A delivery receipt whose daticert.xml is ``xml``."""
    return (
        b"X-Ricevuta: avvenuta-consegna\r\nSubject: CONSEGNA: x\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: application/xml; name="daticert.xml"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(xml).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )


class TestAttackFixtures:
    @pytest.mark.parametrize("name", FIXTURES)
    def test_daticert_attack_is_unsafe_xml(self, name: str) -> None:
        """Each attack document is refused with UnsafeXMLError (a CertmailError), quickly."""
        xml = (ATTACKS / name).read_bytes()
        started = time.perf_counter()
        with pytest.raises(UnsafeXMLError) as info:
            parse_daticert(xml)
        assert time.perf_counter() - started < HANG_GUARD_SECONDS
        assert isinstance(info.value, CertmailError)
        assert info.value.part == "daticert.xml"

    @pytest.mark.parametrize("name", FIXTURES)
    def test_attack_inside_a_receipt_is_never_downgraded(self, name: str) -> None:
        """A hostile daticert.xml in a receipt raises, even in lenient mode: it proves nothing."""
        started = time.perf_counter()
        with pytest.raises(UnsafeXMLError):
            parse_eml(wrap((ATTACKS / name).read_bytes()))
        assert time.perf_counter() - started < HANG_GUARD_SECONDS

    def test_committed_billion_laughs_receipt(self) -> None:
        """The shipped billion-laughs.eml sample is refused the same way."""
        with pytest.raises(UnsafeXMLError):
            parse_eml(sample("billion-laughs.eml"))

    def test_external_entity_content_never_appears(self) -> None:
        """The XXE document's target (/etc/passwd) is never read into any message."""
        with pytest.raises(UnsafeXMLError) as info:
            parse_daticert((ATTACKS / "external-entity.xml").read_bytes())
        assert "root:" not in str(info.value)

    def test_external_dtd_is_never_fetched(self) -> None:
        """A DOCTYPE naming a DTD on a listening local port: the parser never connects."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            server.setblocking(False)
            port = server.getsockname()[1]
            xml = (
                f'<!DOCTYPE postacert SYSTEM "http://127.0.0.1:{port}/Postacert.dtd">'
                '<postacert tipo="accettazione" errore="nessuno"/>'
            ).encode()
            assert parse_daticert(xml).raw_kind == "accettazione"
            with pytest.raises(BlockingIOError):
                server.accept()  # nobody knocked
