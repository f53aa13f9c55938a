"""The fake answers every error of the reference's table (openapi-pec.md section 11.1)."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from certmail_async import MailboxState, OpenapiPecClient
from certmail_async.testing import RunningFake
from tests.openapi_pec.conftest import COMM, active_box, reg

MISSING = "0123456789abcdef01234567"
PDF64 = base64.b64encode(b"%PDF-1.4 x").decode()
NOT_PDF64 = base64.b64encode(b"GIF89a").decode()
P7M64 = base64.b64encode(b"\x30\x82fake").decode()
REGISTRATION = {
    "casella_pec": "raw@testcert.legalmail.it",
    "tipo_casella": "BRONZE",
    "tipo_cliente": "PV",
    "nome_richiedente": "m",
    "cognome_richiedente": "r",
    "email": "m@example.com",
    "telefono": "0548798569",
    "codice_fiscale_richiedente": "RSSMRA82D11H501D",
    "data_nascita_richiedente": "11/04/1982",
    "sesso_richiedente": "M",
    "nazione_nascita_richiedente": "IT",
    "indirizzo_titolare": "via verdi 20",
    "comune_titolare": "roma",
    "cap_titolare": "00042",
    "nazione_titolare": "IT",
    "provincia_titolare": "RM",
}
COMM_BODY = {
    "casella_pec": "azienda@pec.example.it",
    "cf": "RSSMRA82D11H501D",
    "nome": "m",
    "cognome": "r",
    "qualifica": "TITOLARE",
    "email": "m@example.com",
    "cellulare": "34",
    "ragione_sociale": "x",
    "cf_piva": "12345678910",
    "comune": "roma",
    "provincia": "RM",
}

# (method, path; {active}, {registered}, {comm} are filled in), JSON body, status, error code
CASES: list[tuple[str, str, Any, int, int | None]] = [
    ("GET", "/domini_pec/", None, 428, 400),
    ("GET", "/domini_pec/not_a_domain", None, 406, 401),
    ("GET", "/verifica_pec/", None, 428, 207),
    ("GET", "/verifica_pec/not-an-address", None, 406, 208),
    ("POST", "/pec", {**REGISTRATION, "data_nascita_richiedente": "1982-04-11"}, 406, 242),
    ("POST", "/pec", {k: v for k, v in REGISTRATION.items() if k != "tipo_casella"}, 428, 224),
    ("POST", "/pec", {**REGISTRATION, "casella_pec": "x@notmine.it"}, 404, 326),
    ("GET", "/pec/bad", None, 400, 201),
    ("GET", f"/pec/{MISSING}", None, 404, 202),
    ("DELETE", "/pec/bad", None, 400, 301),
    ("DELETE", f"/pec/{MISSING}", None, 404, 302),
    ("DELETE", "/pec/{registered}", None, 428, 304),
    ("PATCH", "/pec/bad/attivazione", {"documenti": [PDF64]}, 400, 265),
    ("PATCH", f"/pec/{MISSING}/attivazione", {"documenti": [PDF64]}, 404, 266),
    ("PATCH", "/pec/{registered}/attivazione", {"documenti": [NOT_PDF64]}, 406, 296),
    ("PATCH", "/pec/{active}/attivazione", {"documenti": [PDF64]}, 428, 267),
    ("PATCH", "/pec/bad/modifica", {"spazio_disco": 2048}, 400, 265),
    ("PATCH", f"/pec/{MISSING}/modifica", {"spazio_disco": 2048}, 404, 266),
    ("PATCH", "/pec/{active}/modifica", {"spazio_disco": 1000}, 406, 325),
    ("PATCH", "/pec/{active}/modifica", {"spazio_conservazione": 512}, 428, 282),
    ("PATCH", "/pec/bad/conservazione", {"documenti": [PDF64]}, 400, 265),
    ("PATCH", f"/pec/{MISSING}/conservazione", {"documenti": [PDF64]}, 404, 266),
    ("PATCH", "/pec/{active}/conservazione", {}, 428, 294),
    ("PATCH", "/pec/bad/trasformazione", {"tipo_casella": "GOLD"}, 400, 265),
    ("PATCH", f"/pec/{MISSING}/trasformazione", {"tipo_casella": "GOLD"}, 404, 266),
    ("PATCH", "/pec/{active}/trasformazione", {"tipo_casella": "STANDARD"}, 406, 276),
    ("PATCH", "/pec/{registered}/trasformazione", {"tipo_casella": "GOLD"}, 428, 272),
    ("GET", "/pec/bad/rinnovo", None, 400, 201),
    ("GET", f"/pec/{MISSING}/rinnovo", None, 404, 202),
    ("GET", "/pec/{registered}/rinnovo", None, 428, 203),
    (
        "POST",
        "/pec/bad/multiutenza",
        {"nome": "a", "cognome": "b", "descrizione": "c", "email_gestione_password": "d@e.it"},
        400,
        212,
    ),
    (
        "POST",
        f"/pec/{MISSING}/multiutenza",
        {"nome": "a", "cognome": "b", "descrizione": "c", "email_gestione_password": "d@e.it"},
        404,
        213,
    ),
    ("POST", "/comunica_pec", {**COMM_BODY, "qualifica": "CAPO"}, 406, 336),
    ("POST", "/comunica_pec", {k: v for k, v in COMM_BODY.items() if k != "cf"}, 428, 344),
    ("GET", "/comunica_pec/bad", None, 400, 333),
    ("PATCH", "/comunica_pec/bad", {"documenti": [P7M64]}, 400, 353),
    ("PATCH", f"/comunica_pec/{MISSING}", {"documenti": [P7M64]}, 404, 354),
    ("PATCH", "/comunica_pec/{comm}", {}, 428, 356),
]


@pytest.fixture
async def ids(fake: RunningFake, client: OpenapiPecClient) -> dict[str, str]:
    """An active box, a registered box and a communication awaiting documents."""
    active = await active_box(client)
    registered = await client.mailboxes.register(
        registration=reg(address="other@testcert.legalmail.it")
    )
    assert registered.state is MailboxState.REGISTERED
    comm = await client.registry_communications.create(request=COMM)
    return {"active": active.id, "registered": registered.id, "comm": comm.id}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    CASES,
    ids=[f"{c[0]} {c[1]} {c[3]}/{c[4]}" for c in CASES],
)
async def test_documented_error(
    fake: RunningFake,
    ids: dict[str, str],
    method: str,
    path: str,
    body: Any,
    status: int,
    code: int | None,
) -> None:
    """The fake answers the reference's status and error code for this situation."""
    headers = {"Authorization": f"Bearer {fake.state.token}"}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, fake.url + path.format(**ids), json=body, headers=headers) as r,
    ):
        payload = await r.json()
    assert r.status == status
    assert payload["error"] == code
    assert payload["success"] is False
    assert payload["data"] is None


async def test_forms_invalid_id_is_plain_text(fake: RunningFake) -> None:
    """A malformed id on a form is a text/plain 400 'Invalid id'."""
    headers = {"Authorization": f"Bearer {fake.state.token}"}
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{fake.url}/pec/bad/modulo_attivazione", headers=headers) as r,
    ):
        assert (r.status, r.content_type, await r.text()) == (400, "text/plain", "Invalid id")
