"""The pytest plugin's fixtures, and that loading the plugin loads none of the fakes."""

from __future__ import annotations

import subprocess
import sys

from certmail_async import OAuthClient, OpenapiPecClient, PecMassivaClient
from certmail_async.testing import FakeOpenapiPec, FakePecMassiva, RunningFake


async def test_openapi_pec_fixture_serves_pec_and_oauth(
    fake_openapi_pec: RunningFake[FakeOpenapiPec, OpenapiPecClient],
) -> None:
    """fake_openapi_pec gives a PEC client with a working token and an OAuth service at its URL."""
    async with fake_openapi_pec.client() as client:
        assert isinstance(client, OpenapiPecClient)
        assert tuple(await client.mailboxes.list()) == ()
    async with OAuthClient(
        **fake_openapi_pec.state.oauth_kwargs(), base_url=fake_openapi_pec.url
    ) as oauth:
        await oauth.tokens.create(scopes=["GET:pec.openapi.it/pec"], name="reports")
    names = [token.name for token in fake_openapi_pec.state.tokens.values()]
    assert "reports" in names


async def test_pecmassiva_fixture_client_is_typed_and_real(
    fake_pecmassiva: RunningFake[FakePecMassiva, PecMassivaClient],
) -> None:
    """RunningFake's client() builds the provider's real client class (typed, not Any)."""
    async with fake_pecmassiva.client() as client:
        assert type(client) is PecMassivaClient
    assert isinstance(fake_pecmassiva.state, FakePecMassiva)


def test_loading_the_plugin_loads_no_fake_or_aiohttp() -> None:
    """Importing the plugin (as pytest does at start-up) imports neither aiohttp nor the fakes."""
    code = (
        "import sys, certmail_async.testing.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', "
        "'certmail_async.testing._', 'email_validator', 'codicefiscale'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_import_certmail_async_loads_only_the_exceptions() -> None:
    """`import certmail_async` loads only its errors and lazy-name table until a name is used."""
    code = (
        "import sys, certmail_async; "
        "print(sorted(m for m in sys.modules if m.startswith('certmail_async')), "
        "'aiohttp' in sys.modules); "
        "from certmail_async import PecMassivaClient; print('aiohttp' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == [
        "['certmail_async', 'certmail_async._exceptions', 'certmail_async._lazy'] False",
        "True",
    ]
