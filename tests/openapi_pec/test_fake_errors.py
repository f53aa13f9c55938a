"""The fake answers every error of the reference's table (openapi-pec.md section 11.1)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from certmail_async import (
    Mailbox,
    MailboxState,
    MailboxType,
    OpenapiPecClient,
    RegistryCommunication,
)
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

# Every JSON row of openapi-pec.md section 11.1: (method, path, body, status, code, setup).
# Paths name prepared records in braces; setup "broke" empties the wallet (and prices the
# domain check), "down" takes the domain service down. Rows needing an empty account and the
# text/plain form rows are in the tests below.
USER = {"nome": "a", "cognome": "b", "descrizione": "c", "email_gestione_password": "d@e.it"}
CASES: list[tuple[str, str, Any, int, int | None, str]] = [
    ("GET", "/domini_pec/legalmail.it", None, 402, 403, "broke"),
    ("GET", "/domini_pec/not_a_domain", None, 406, 401, ""),
    ("GET", "/domini_pec/", None, 428, 400, ""),
    ("GET", "/domini_pec/legalmail.it", None, 503, 402, "down"),
    ("GET", "/verifica_pec/not-an-address", None, 406, 208, ""),
    ("GET", "/verifica_pec/", None, 428, 207, ""),
    ("POST", "/pec", REGISTRATION, 402, 262, "broke"),
    ("POST", "/pec", {**REGISTRATION, "casella_pec": "x@notmine.it"}, 404, 326, ""),
    ("POST", "/pec", {**REGISTRATION, "data_nascita_richiedente": "1982-04-11"}, 406, 242, ""),
    ("POST", "/pec", {k: v for k, v in REGISTRATION.items() if k != "tipo_casella"}, 428, 224, ""),
    ("GET", "/pec/bad", None, 400, 201, ""),
    ("GET", f"/pec/{MISSING}", None, 404, 202, ""),
    ("DELETE", "/pec/bad", None, 400, 301, ""),
    ("DELETE", f"/pec/{MISSING}", None, 404, 302, ""),
    ("DELETE", "/pec/{revoked}", None, 406, 303, ""),
    ("DELETE", "/pec/{registered}", None, 428, 304, ""),
    ("PATCH", "/pec/bad/attivazione", {"documenti": [PDF64]}, 400, 265, ""),
    ("PATCH", f"/pec/{MISSING}/attivazione", {"documenti": [PDF64]}, 404, 266, ""),
    ("PATCH", "/pec/{registered}/attivazione", {"documenti": [NOT_PDF64]}, 406, 296, ""),
    ("PATCH", "/pec/{active}/attivazione", {"documenti": [PDF64]}, 428, 267, ""),
    ("PATCH", "/pec/bad/modifica", {"spazio_disco": 2048}, 400, 265, ""),
    ("PATCH", "/pec/{active}/modifica", {"spazio_disco": 2048}, 402, 290, "broke"),
    ("PATCH", f"/pec/{MISSING}/modifica", {"spazio_disco": 2048}, 404, 266, ""),
    ("PATCH", "/pec/{active}/modifica", {"spazio_disco": 1000}, 406, 325, ""),
    ("PATCH", "/pec/{active}/modifica", {"spazio_conservazione": 512}, 428, 282, ""),
    ("PATCH", "/pec/bad/conservazione", {"documenti": [PDF64]}, 400, 265, ""),
    ("PATCH", "/pec/{active}/conservazione", {"documenti": [PDF64]}, 402, 297, "broke"),
    ("PATCH", f"/pec/{MISSING}/conservazione", {"documenti": [PDF64]}, 404, 266, ""),
    ("PATCH", "/pec/{storage}/conservazione", {"documenti": [PDF64]}, 406, 293, ""),
    ("PATCH", "/pec/{active}/conservazione", {}, 428, 294, ""),
    ("PATCH", "/pec/bad/trasformazione", {"tipo_casella": "GOLD"}, 400, 265, ""),
    ("PATCH", "/pec/{active}/trasformazione", {"tipo_casella": "GOLD"}, 402, 279, "broke"),
    ("PATCH", f"/pec/{MISSING}/trasformazione", {"tipo_casella": "GOLD"}, 404, 266, ""),
    ("PATCH", "/pec/{active}/trasformazione", {"tipo_casella": "STANDARD"}, 406, 276, ""),
    ("PATCH", "/pec/{registered}/trasformazione", {"tipo_casella": "GOLD"}, 428, 272, ""),
    ("GET", "/pec/bad/rinnovo", None, 400, 201, ""),
    ("GET", f"/pec/{MISSING}/rinnovo", None, 404, 202, ""),
    ("GET", "/pec/{registered}/rinnovo", None, 428, 203, ""),
    ("POST", "/pec/bad/multiutenza", USER, 400, 212, ""),
    ("POST", "/pec/{active}/multiutenza", USER, 402, 220, "broke"),
    ("POST", f"/pec/{MISSING}/multiutenza", USER, 404, 213, ""),
    ("POST", "/pec/{full}/multiutenza", USER, 406, 217, ""),
    ("POST", "/pec/{massiva}/multiutenza", USER, 428, 390, ""),
    ("POST", "/comunica_pec", COMM_BODY, 402, 351, "broke"),
    ("POST", "/comunica_pec", {**COMM_BODY, "qualifica": "CAPO"}, 406, 336, ""),
    ("POST", "/comunica_pec", {k: v for k, v in COMM_BODY.items() if k != "cf"}, 428, 344, ""),
    ("GET", "/comunica_pec/bad", None, 400, 333, ""),
    ("GET", f"/comunica_pec/{MISSING}", None, 404, 334, ""),
    ("PATCH", "/comunica_pec/bad", {"documenti": [P7M64]}, 400, 353, ""),
    ("PATCH", f"/comunica_pec/{MISSING}", {"documenti": [P7M64]}, 404, 354, ""),
    ("PATCH", "/comunica_pec/{uploaded}", {"documenti": [P7M64]}, 406, 355, ""),
    ("PATCH", "/comunica_pec/{comm}", {}, 428, 356, ""),
]


@pytest.fixture
async def ids(fake: RunningFake, client: OpenapiPecClient) -> dict[str, str]:
    """Records in every state the table's rows need (made side by side: the fake's
    approval and code delays run concurrently instead of one after the other)."""

    async def communications() -> tuple[RegistryCommunication, RegistryCommunication]:
        comm = await client.registry_communications.create(request=COMM)
        uploaded = await client.registry_communications.create(request=COMM)
        await asyncio.sleep(0.03)  # the fake's code_delay: both now await documents
        await client.registry_communications.upload_documents(uploaded.id, documents=b"\x30\x82x")
        return comm, uploaded

    names = ("active", "revoked", "storage", "full", "registered", "massiva")
    *boxes, (comm, uploaded) = await asyncio.gather(
        active_box(client),
        active_box(client, address="revoked@testcert.legalmail.it"),
        active_box(client, address="storage@testcert.legalmail.it"),
        active_box(client, address="full@testcert.legalmail.it"),
        client.mailboxes.register(registration=reg(address="other@testcert.legalmail.it")),
        client.mailboxes.register(
            registration=reg(
                address="massa@testcert.legalmail.it", mailbox_type=MailboxType.PEC_MASSIVA
            )
        ),
        communications(),
    )
    made: dict[str, Mailbox] = dict(zip(names, boxes, strict=True))
    assert made["registered"].state is MailboxState.REGISTERED
    await client.mailboxes.revoke(made["revoked"])
    await client.mailboxes.activate_storage(made["storage"], documents=b"%PDF-1.4 x")
    fake.state.mailboxes[made["full"].id]["multiutenza"] = [dict(USER)] * 25
    return {
        **{name: box.id for name, box in made.items()},
        "comm": comm.id,
        "uploaded": uploaded.id,
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "setup"),
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
    setup: str,
) -> None:
    """The fake answers the reference's status and error code for this situation."""
    if setup == "broke":
        fake.state.wallet, fake.state.prices["domain_check"] = 0.0, 1.0
    elif setup == "down":
        fake.state.domain_service_down = True
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


def test_the_table_is_complete() -> None:
    """CASES plus the two empty-account rows are every JSON row of the reference's table."""
    import re

    reference = Path(__file__).resolve().parents[3] / "shared" / "reference" / "openapi-pec.md"
    if not reference.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    text = reference.read_text()
    section = text[text.index("### 11.1") : text.index("### 11.2")]
    rows = [
        (int(m.group(1)), int(m.group(2)))
        for m in re.finditer(r"^\| [^|]*\| (\d{3}) \| (\d+) \|", section, re.M)
    ]
    covered = [(c[3], c[4]) for c in CASES] + [(404, 200), (404, 332)]
    assert len(rows) == 54
    assert sorted(rows) == sorted(covered)


@pytest.mark.parametrize(
    ("path", "status", "code"), [("/pec", 404, 200), ("/comunica_pec", 404, 332)]
)
async def test_empty_account_lists(fake: RunningFake, path: str, status: int, code: int) -> None:
    """An account with no mailboxes (no communications) answers the documented 404 quirk."""
    headers = {"Authorization": f"Bearer {fake.state.token}"}
    async with aiohttp.ClientSession() as s, s.get(fake.url + path, headers=headers) as r:
        assert (r.status, (await r.json())["error"]) == (status, code)


async def test_domain_check_204(fake: RunningFake) -> None:
    """A domain that cannot do PEC is the documented 204 No Content."""
    headers = {"Authorization": f"Bearer {fake.state.token}"}
    url = f"{fake.url}/domini_pec/example.com"
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        assert (r.status, await r.read()) == (204, b"")


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/pec/bad/modulo_attivazione", 400, "Invalid id"),
        (f"/pec/{MISSING}/modulo_attivazione", 404, "no request matches this id:"),
        ("/pec/{registered}/modulo_conservazione", 406, "first activate a pec"),
        (f"/comunica_pec/{MISSING}/procura_registro_imprese", 404, "no request matches this id:"),
    ],
)
async def test_forms_answer_plain_text(
    fake: RunningFake, ids: dict[str, str], path: str, status: int, text: str
) -> None:
    """The three PDF forms answer the documented text/plain errors."""
    headers = {"Authorization": f"Bearer {fake.state.token}"}
    async with (
        aiohttp.ClientSession() as s,
        s.get(fake.url + path.format(**ids), headers=headers) as r,
    ):
        assert (r.status, r.content_type) == (status, "text/plain")
        assert text in await r.text()
