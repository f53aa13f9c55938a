"""The web-framework examples of docs/frameworks.md, each run where its framework is installed."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal

from certmail_async.testing import RunningFake, run_fake
from tests.docs_blocks import ROOT, Block, blocks

FRAMEWORK_BLOCKS = [b for b in blocks(ROOT / "docs" / "frameworks.md") if b.mode == "framework"]


def examples(name: str) -> list[Block]:
    found = [b for b in FRAMEWORK_BLOCKS if b.arg == name]
    assert found, f"docs/frameworks.md has no {name} example"
    return found


def load(block: Block) -> dict[str, Any]:
    """Execute an example as an imported module (not as __main__) and return its globals."""
    namespace: dict[str, Any] = {"__name__": f"docs_{block.arg}"}
    exec(compile(block.code, block.id, "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


def point_env_at(fake: RunningFake, monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = fake.state.client_kwargs()
    monkeypatch.setenv("CERTMAIL_PECMASSIVA_TOKEN", str(kwargs["token"]))
    monkeypatch.setenv("CERTMAIL_PECMASSIVA_USERNAME", str(kwargs["username"]))
    monkeypatch.setenv("CERTMAIL_PECMASSIVA_PASSWORD", str(kwargs["password"]))
    monkeypatch.setenv("CERTMAIL_PECMASSIVA_BASE_URL", fake.url)


@contextlib.contextmanager
def threaded_fake() -> Iterator[RunningFake]:
    """A PEC Massiva fake on its own loop thread (for frameworks with a sync test client)."""
    with start_blocking_portal() as portal:
        cm = run_fake("pecmassiva")
        fake = portal.call(cm.__aenter__)
        try:
            yield fake
        finally:
            portal.call(cm.__aexit__, None, None, None)


def test_every_framework_has_its_example() -> None:
    """The page shows FastAPI, aiohttp.web, Django (async and sync views) and Celery."""
    assert {b.arg for b in FRAMEWORK_BLOCKS} == {"fastapi", "aiohttp", "django", "celery", "trio"}


async def test_aiohttp_web(aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp.web: the app's cleanup context opens the client; POST /notify sends one PEC."""
    async with run_fake("pecmassiva") as fake:
        point_env_at(fake, monkeypatch)
        (block,) = examples("aiohttp")
        app = load(block)["app"]
        http = await aiohttp_client(app)
        answer = await http.post("/notify", params={"to": "anna@pec.example.it"})
        assert answer.status == 200
        code = (await answer.json())["code"]
        await http.close()  # runs the cleanup context: the client is closed
    assert [s.code for s in fake.state.ledger] == [code]
    assert fake.state.ledger[0].recipients == ("anna@pec.example.it",)


def test_fastapi_lifespan(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI: the lifespan opens one client; POST /notify sends one PEC."""
    pytest.importorskip("fastapi", reason="FastAPI is not installed (not a dependency)")
    pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
    with warnings.catch_warnings():  # newer Starlette deprecates its httpx-based client
        warnings.simplefilter("ignore")  # its own warning class, a UserWarning
        from fastapi.testclient import TestClient

    with threaded_fake() as fake:
        point_env_at(fake, monkeypatch)
        (block,) = examples("fastapi")
        app = load(block)["app"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = TestClient(app)
        with client as http:
            answer = http.post("/notify", params={"to": "anna@pec.example.it"})
        assert answer.status_code == 200
        assert [s.code for s in fake.state.ledger] == [answer.json()["code"]]


def test_django_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django: the async view (client per request) and the sync view (sync facade) send."""
    pytest.importorskip("django", reason="Django is not installed (not a dependency)")
    from django.conf import settings

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["testserver"])
    from django.test import RequestFactory

    async_block, sync_block = examples("django")
    with threaded_fake() as fake:
        point_env_at(fake, monkeypatch)
        request = RequestFactory().get("/notify", {"to": "anna@pec.example.it"})
        first = asyncio.run(load(async_block)["notify"](request))
        module = load(sync_block)
        second = module["notify"](request)
        module["pec"]().close()
        assert first.status_code == second.status_code == 200
        assert len(fake.state.ledger) == 2


def test_celery_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery: the task sends through the sync facade and returns the send code."""
    pytest.importorskip("celery", reason="Celery is not installed (not a dependency)")
    (block,) = examples("celery")
    with threaded_fake() as fake:
        point_env_at(fake, monkeypatch)
        code = load(block)["send_notice"]("anna@pec.example.it")  # called in-process
        assert [s.code for s in fake.state.ledger] == [code]


def test_trio_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """trio: the program sends through the sync facade from trio's worker thread."""
    pytest.importorskip("trio", reason="trio is not installed (not a dependency)")
    (block,) = examples("trio")
    with threaded_fake() as fake:
        point_env_at(fake, monkeypatch)
        load(block)  # the example calls trio.run(main) itself
        assert len(fake.state.ledger) == 1
