"""The fakes accept request bodies up to their provider's documented size, then answer 413.

aiohttp alone refuses bodies over 1 MiB; the fakes take what the providers document (PEC
Massiva: a 100 MB message, as base64 JSON) or a generous configurable default, and refuse
more with HTTP 413 in the provider's error shape. Over-limit tests configure a small limit
so they stay fast and small in memory.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import aiohttp
import pytest

from certmail_async import (
    APIStatusError,
    Attachment,
    CustomerType,
    MailboxRegistration,
    MailboxType,
    Sex,
)
from certmail_async.testing import (
    FakeLegallyMail,
    FakeOpenapiPec,
    FakePecMassiva,
    run_fake,
)
from certmail_async.testing._core import DEFAULT_MAX_BODY_SIZE, base64_size

#: A file whose base64 JSON body is just over 1 MiB (aiohttp's own default limit).
OVER_ONE_MIB = b"x" * (800 * 1024)
MIB = 1024 * 1024

REGISTRATION = MailboxRegistration(
    address="mario.rossi@legalmail.it",
    mailbox_type=MailboxType.BRONZE,
    customer_type=CustomerType.PRIVATE_INDIVIDUAL,
    first_name="Mario",
    last_name="Rossi",
    email="mario@example.com",
    phone="0548798569",
    tax_code="RSSMRA82D11H501D",
    birth_date=date(1982, 4, 11),
    sex=Sex.MALE,
    birth_country="IT",
    holder_address="via Verdi 20",
    holder_city="Roma",
    holder_postal_code="00042",
    holder_country="IT",
    holder_province="RM",
)


def test_defaults_follow_the_documented_limits() -> None:
    """PEC Massiva takes a 100 MB message as base64 JSON; the others a generous default."""
    assert base64_size(3) == 4
    assert base64_size(4) == 8
    assert FakePecMassiva().max_body_size == base64_size(100 * MIB) + MIB
    assert FakePecMassiva().max_body_size > 134 * 1000 * 1000  # 100 MB grows by 4/3
    assert FakeLegallyMail().max_body_size == DEFAULT_MAX_BODY_SIZE
    assert FakeOpenapiPec().max_body_size == DEFAULT_MAX_BODY_SIZE
    assert FakeLegallyMail(max_body_size=1000).max_body_size == 1000


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "1000"])
def test_a_bad_limit_is_refused(bad: Any) -> None:
    """max_body_size must be a positive int of bytes."""
    with pytest.raises((TypeError, ValueError)):
        FakePecMassiva(max_body_size=bad)


# aiohttp (3.12+) warns (a ResourceWarning, an error under the suite's filterwarnings)
# when a body over 1 MiB is sent as bytes: the SDK streams such bodies, so none is raised.
class TestOverOneMiB:
    async def test_pecmassiva_accepts_a_send_over_one_mib(self) -> None:
        """A PEC Massiva send whose JSON body is over 1 MiB reaches the fake's ledger."""
        async with (
            run_fake("pecmassiva", send_rate=None) as fake,
            fake.client() as client,
        ):
            sent = await client.sends.create(
                recipients=["anna@pec.example.it"],
                subject="Allegato",
                body="Testo",
                attachments=[Attachment(filename="big.bin", content=OVER_ONE_MIB)],
            )
        assert sent.code
        assert len(fake.state.ledger) == 1
        assert [r.status for r in fake.state.requests] == [201]

    async def test_legallymail_accepts_a_send_over_one_mib(self) -> None:
        """A LegallyMail send whose JSON body is over 1 MiB is accepted."""
        async with run_fake("legallymail") as fake, fake.client() as client:
            await client.emails.send(
                recipients=["anna@example.com"],
                subject="Allegato",
                html="<p>Testo</p>",
                attachments=[Attachment(filename="big.bin", content=OVER_ONE_MIB)],
            )
        assert len(fake.state.ledger) == 1

    async def test_openapi_pec_accepts_documents_over_one_mib(self) -> None:
        """openapi.it activation documents over 1 MiB of JSON are accepted."""
        big_pdf = b"%PDF-1.4 identity card " + OVER_ONE_MIB
        async with run_fake("openapi_pec") as fake, fake.client() as client:
            box = await client.mailboxes.register(registration=REGISTRATION)
            form = await client.forms.activation(box.id)
            await client.mailboxes.activate(box.id, documents=[form, big_pdf])
        assert fake.state.count("PATCH", "/pec/{id}/attivazione", status=200) == 1
        assert all(r.status != 413 for r in fake.state.requests)


class TestOverTheLimit:
    async def test_pecmassiva_refuses_with_413(self) -> None:
        """Over max_body_size PEC Massiva's fake answers 413; nothing is sent or charged."""
        async with (
            run_fake("pecmassiva", send_rate=None, max_body_size=64 * 1024) as fake,
            fake.client() as client,
        ):
            with pytest.raises(APIStatusError) as caught:
                await client.sends.create(
                    recipients=["anna@pec.example.it"],
                    subject="Allegato",
                    body="Testo",
                    attachments=[Attachment(filename="big.bin", content=b"x" * 100_000)],
                )
        assert caught.value.status == 413
        assert fake.state.ledger == []
        assert fake.state.count("POST", "/send", status=413) == 1

    async def test_legallymail_refuses_with_413(self) -> None:
        """Over max_body_size LegallyMail's fake answers 413 and spends no credit."""
        fake_config = FakeLegallyMail(max_body_size=64 * 1024)
        credits = fake_config.credits
        async with run_fake(fake_config) as fake, fake.client() as client:
            with pytest.raises(APIStatusError) as caught:
                await client.emails.send(
                    recipients=["anna@example.com"],
                    subject="Allegato",
                    html="<p>Testo</p>",
                    attachments=[Attachment(filename="big.bin", content=b"x" * 100_000)],
                )
        assert caught.value.status == 413
        assert fake.state.ledger == []
        assert fake.state.credits == credits

    async def test_openapi_pec_refuses_with_413_in_its_envelope(self) -> None:
        """Over max_body_size openapi.it's fake answers 413 in its JSON envelope."""
        async with (
            run_fake("openapi_pec", max_body_size=64 * 1024) as fake,
            fake.client() as client,
        ):
            box = await client.mailboxes.register(registration=REGISTRATION)
            with pytest.raises(APIStatusError) as caught:
                await client.mailboxes.activate(
                    box.id, documents=[b"%PDF-1.4 form" + b"x" * 100_000]
                )
        assert caught.value.status == 413
        assert fake.state.count("PATCH", "/pec/{id}/attivazione", status=413) == 1


@pytest.mark.parametrize(
    ("provider", "path"),
    [("pecmassiva", "/send"), ("legallymail", "/api/send"), ("openapi_pec", "/pec")],
)
async def test_the_limit_is_inclusive_and_the_refusal_in_the_provider_shape(
    provider: str, path: str
) -> None:
    """A body of exactly max_body_size bytes gets through; one byte more gets a JSON 413."""
    limit = 2000

    def body(size: int) -> bytes:
        pad = size - len(json.dumps({"pad": ""}))
        return json.dumps({"pad": "x" * pad}).encode()

    async with (
        run_fake(provider, max_body_size=limit) as fake,  # type: ignore[call-overload]
        aiohttp.ClientSession() as session,
    ):
        headers = {"Content-Type": "application/json"}
        async with session.post(fake.url + path, data=body(limit), headers=headers) as r:
            at_limit = r.status
        async with session.post(fake.url + path, data=body(limit + 1), headers=headers) as r:
            over, answer = r.status, await r.json()
    assert at_limit != 413
    assert over == 413
    assert answer["success"] is False
    assert str(limit) in answer["message"]
