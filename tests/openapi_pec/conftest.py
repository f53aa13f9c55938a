"""Fixtures for the openapi.it PEC tests: a sandbox fake and clients for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import attrs
import pytest

from certmail_async import (
    CommunicationRole,
    CustomerType,
    Mailbox,
    MailboxRegistration,
    MailboxState,
    MailboxType,
    OAuthClient,
    OpenapiPecClient,
    RegistryCommunicationRequest,
    RetryPolicy,
    Sex,
)
from certmail_async.testing import RunningFake, run_fake

PDF = b"%PDF-1.4\n%fake\n"
P7M = b"\x30\x82\x01\x00fake-cms"
REG = MailboxRegistration(
    address="provapec@testcert.legalmail.it",
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
COMM = RegistryCommunicationRequest(
    address="azienda@pec.example.it",
    first_name="Mario",
    last_name="Rossi",
    tax_code="RSSMRA82D11H501D",
    role=CommunicationRole.LEGAL_REPRESENTATIVE,
    email="mario@example.com",
    mobile="3401234567",
    company_name="Azienda Test Srl",
    company_tax_id="12345678910",
    city="Roma",
    province="RM",
)


def reg(**changes: Any) -> MailboxRegistration:
    return attrs.evolve(REG, **changes)


@pytest.fixture
async def fake() -> AsyncIterator[RunningFake]:
    """A sandbox fake whose provider approves documents after 20 ms."""
    async with run_fake(
        "openapi_pec", sandbox=True, approve_delay=0.02, code_delay=0.02
    ) as running:
        yield running


@pytest.fixture
async def client(fake: RunningFake) -> AsyncIterator[OpenapiPecClient]:
    """A sandbox client with every PEC scope, retrying reads without waiting."""
    async with fake.client(retry_policy=RetryPolicy(base=0.0)) as c:
        yield c


@pytest.fixture
async def oauth(fake: RunningFake) -> AsyncIterator[OAuthClient]:
    """An OAuth client on the same fake."""
    async with OAuthClient(base_url=fake.url, **fake.state.oauth_kwargs()) as c:
        yield c


async def wait_state(client: OpenapiPecClient, box: Mailbox, state: MailboxState) -> Mailbox:
    """Poll until the mailbox reaches ``state`` (the fake's delays are tens of ms)."""
    for _ in range(100):
        box = await client.mailboxes.retrieve(box.id)
        if box.state is state:
            return box
        await asyncio.sleep(0.01)
    raise AssertionError(f"still {box.state}")


async def active_box(client: OpenapiPecClient, **changes: Any) -> Mailbox:
    """Register and activate a mailbox, then wait until it is evasa."""
    box = await client.mailboxes.register(registration=reg(**changes))
    await client.mailboxes.activate(box, documents=[PDF])
    return await wait_state(client, box, MailboxState.ACTIVE)
