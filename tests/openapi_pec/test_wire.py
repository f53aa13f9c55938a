"""Strict decoding of openapi.it PEC records built from the reference's schemas."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from certmail_async import (
    CommunicationState,
    CustomerType,
    MailboxState,
    MailboxType,
    ResponseDecodeError,
)
from certmail_async._transport import Response
from certmail_async.openapi_pec._wire import OAUTH_OPS, OPS, OpenapiWire
from tests.openapi_pec.conftest import REG

STRICT = OpenapiWire(strict=True)
LENIENT = OpenapiWire()


def envelope(data: Any) -> Response:
    body = {"data": data, "success": True, "message": "", "error": None}
    return Response(
        status=200, headers={"content-type": "application/json"}, content=json.dumps(body).encode()
    )


CASELLA = {
    "id": "6040e4613a716838dc4eee0e",
    "casella_pec": "provapec@testcert.legalmail.it",
    "tipo_casella": "BRONZE",
    "tipo_cliente": "PV",
    "sottotipo_cliente": "",
    "sottotipo_cliente_altro": "",
    "nome_richiedente": "mario",
    "cognome_richiedente": "rossi",
    "email": "mail@domain.com",
    "telefono": "0548798569",
    "cellulare": "",
    "codice_fiscale_richiedente": "RSSXXXXXXXX56E",
    "data_nascita_richiedente": "11/04/1982",
    "sesso_richiedente": "M",
    "nazione_nascita_richiedente": "IT",
    "comune_nascita_richiedente": "",
    "provincia_nascita_richiedente": "RM",
    "denominazione_titolare": "",
    "cf_piva_titolare": "",
    "indirizzo_titolare": "via verdi 20",
    "comune_titolare": "roma",
    "cap_titolare": "00042",
    "nazione_titolare": "IT",
    "provincia_titolare": "RM",
    "callback": {"url": "https://example.com/cb", "field": "data", "method": "POST", "data": {}},
    "dominio": "testcert.legalmail.it",
    "owner": "me@example.com",
    "timestamp": {
        "registrazione": 1614865505,
        "ultima_modifica": 1614865600,
        "evasione": 1614870000,
        "scadenza": 1646406000,
    },
    "cod_attivazione": "10174594",
    "uid": "MA178634",
    "conservazione": False,
    "storico": True,
    "sms": False,
    "spazio_disco": 1024,
    "spazio_storico": 1024,
    "spazio_conservazione": 0,
    "data_attivazione": "04/03/2021",
    "data_scadenza": "04/03/2022",
    "descrizione": "",
    "stato": "evasa",
    "documenti_attivazione": ["6040e4613a716838dc4eee0e_0_attivazione.pdf"],
    "documenti_conservazione": [],
    "multiutenza": [
        {
            "nome": "a",
            "cognome": "b",
            "descrizione": "c",
            "email_gestione_password": "d@e.it",
            "id_utenza": "6040e4613a716838dc4eee0e_0",
            "timestamp": {"attivazione": 1614870000},
            "userid": "MA177993",
        }
    ],
    "autorinnovo": False,
}


class TestStrict:
    def test_casella(self) -> None:
        """A full Casella decodes strictly: enums, unix seconds, dd/mm/yyyy, users, callback."""
        box = STRICT.mailbox(envelope(CASELLA), OPS.RETRIEVE)
        assert box.state is MailboxState.ACTIVE
        assert box.mailbox_type is MailboxType.BRONZE
        assert box.customer_type is CustomerType.PRIVATE_INDIVIDUAL
        assert box.events.registered == datetime(2021, 3, 4, 13, 45, 5, tzinfo=UTC)
        assert box.activation_date == date(2021, 3, 4)
        assert box.users[0].uid == "MA177993"
        assert box.callback is not None
        assert box.callback.url == "https://example.com/cb"
        assert box.archive is True

    def test_new_key_is_drift(self) -> None:
        """A key outside the schema fails strict decoding but not the client's."""
        with pytest.raises(ResponseDecodeError, match="pec_tier"):
            STRICT.mailbox(envelope({**CASELLA, "pec_tier": 3}), OPS.RETRIEVE)
        assert (
            LENIENT.mailbox(envelope({**CASELLA, "pec_tier": 3}), OPS.RETRIEVE).id == CASELLA["id"]
        )

    def test_unknown_state_is_kept(self) -> None:
        """An undocumented stato is kept as a pseudo-member, not refused."""
        box = LENIENT.mailbox(envelope({**CASELLA, "stato": "sospesa"}), OPS.RETRIEVE)
        assert box.state.value == "sospesa"
        assert not box.state.known

    def test_lower_case_type_is_upper_cased(self) -> None:
        """The vendor sample's lower-case 'bronze' decodes as BRONZE."""
        assert (
            LENIENT.mailbox(
                envelope({**CASELLA, "tipo_casella": "bronze"}), OPS.RETRIEVE
            ).mailbox_type
            is MailboxType.BRONZE
        )

    def test_communication_with_false_callback(self) -> None:
        """callback: false decodes to None; timestamp is a single integer here."""
        comm = STRICT.communication(
            envelope(
                {
                    "id": "60ad149c3a7168084f1d2b68",
                    "casella_pec": "mypec@pec.com",
                    "stato": "documenti_caricati",
                    "codice_registro_imprese": "openapi",
                    "documenti_registro_imprese": ["x_0_registro_imprese.p7m"],
                    "owner": "me@example.com",
                    "timestamp": 1622020252,
                    "callback": False,
                    "ragione_sociale": "azienda test",
                    "cf_piva": "12345678910",
                    "nome": "mario",
                    "cognome": "rossi",
                    "cf": "RSSMRA82D11H501D",
                    "qualifica": "TITOLARE",
                    "email": "a@b.it",
                    "cellulare": "34",
                    "comune": "roma",
                    "provincia": "RM",
                }
            ),
            OPS.COMM_RETRIEVE,
        )
        assert comm.state is CommunicationState.DOCUMENTS_UPLOADED
        assert comm.callback is None
        assert comm.created == datetime.fromtimestamp(1622020252, UTC)

    def test_token_bare_or_wrapped(self) -> None:
        """A TokenDetail decodes bare or inside {data: ...}."""
        detail = {
            "token": "656d1e2f8b3c2a001f7e4a12",
            "name": None,
            "scopes": ["GET:pec.openapi.it/pec"],
            "createdAt": "2024-01-01T00:00:00Z",
            "expireAt": "2025-01-01T00:00:00Z",
            "updatedAt": "2024-01-01T00:00:00Z",
            "refreshToken": "r" * 32,
            "limits": None,
        }
        bare = Response(status=200, headers={}, content=json.dumps(detail).encode())
        for response in (bare, envelope(detail)):
            token = STRICT.token(response, OAUTH_OPS.CREATE)
            assert token.token.get_secret_value() == "656d1e2f8b3c2a001f7e4a12"
            assert token.expire_at == datetime(2025, 1, 1, tzinfo=UTC)


class TestBodies:
    def test_registration_body(self) -> None:
        """The registration body uses the wire keys, dd/mm/yyyy and a string postal code."""
        body = STRICT.registration_body(REG)
        assert body["data_nascita_richiedente"] == "11/04/1982"
        assert body["cap_titolare"] == "00042"
        assert body["tipo_casella"] == "BRONZE"
        assert body["sottotipo_cliente"] == ""
        assert "callback" not in body

    def test_space_body_keeps_relative_strings(self) -> None:
        """'+N' stays a string (adds); an int stays an int (sets)."""
        assert STRICT.space_body(3072, "+1024", None) == {
            "spazio_disco": 3072,
            "spazio_storico": "+1024",
        }
