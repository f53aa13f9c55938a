"""The sync facade: one loop per process, shared gates, reuse across calls, threads and forks."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import multiprocessing
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

import certmail_async
from certmail_async import CertmailError, RateLimit, ValidationError, sync
from certmail_async.testing import RunningFake, run_fake

#: A provider "second" of 40 ms; the client keeps a wide margin above loopback jitter.
SCALED = 0.04
CLIENT_RATE = RateLimit(requests=1, per=SCALED, margin=0.5)


@contextlib.contextmanager
def serve(provider: str, **config: Any) -> Iterator[RunningFake]:
    """A fake on its own loop in its own thread, as a real server is to a sync program."""
    with start_blocking_portal() as portal:
        cm = run_fake(provider, **config)  # type: ignore[arg-type]
        fake = portal.call(cm.__aenter__)
        try:
            yield fake
        finally:
            portal.call(cm.__aexit__, None, None, None)


def kwargs_for(fake: RunningFake, **overrides: Any) -> dict[str, Any]:
    return {**fake.state.client_kwargs(), "base_url": fake.url, **overrides}


@pytest.fixture
def capped() -> Iterator[RunningFake]:
    """A PEC Massiva fake whose POST /send cap is 1 per scaled second (strict server)."""
    with serve("pecmassiva", send_rate=RateLimit(requests=1, per=SCALED, margin=0)) as fake:
        yield fake


@pytest.fixture
def open_fake() -> Iterator[RunningFake]:
    """A PEC Massiva fake without a cap."""
    with serve("pecmassiva", send_rate=None) as fake:
        yield fake


class TestScriptShape:
    def test_reused_client_across_calls(self, open_fake: RunningFake) -> None:
        """One client serves many calls in a row (no "Event loop is closed" between them)."""
        with sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None)) as client:
            first = client.sends.create(recipients=["a@pec.example.it"], subject="s1", body="b")
            second = client.sends.create(recipients=["b@pec.example.it"], subject="s2", body="b")
            assert first.code != second.code
            assert client.sends.receipts(first.code).accepted
            assert client.quota.retrieve().limit > 0
        assert len(open_fake.state.ledger) == 2

    def test_async_iterator_is_a_blocking_iterator(self, open_fake: RunningFake) -> None:
        """inbox.list, an async iterator, is a plain iterator here, and can be left early."""
        with sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None)) as client:
            client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
            subjects = [m.subject for m in client.inbox.list()]
            assert any(s.startswith("ACCETTAZIONE") for s in subjects)
            with client.inbox.list() as messages:
                assert next(messages).subject == subjects[0]

    def test_with_options_and_attributes(self, open_fake: RunningFake) -> None:
        """with_options returns a sync copy; plain attributes come from the async client."""
        with sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None)) as client:
            patient = client.with_options(timeout=10, max_retries=0)
            assert isinstance(patient, sync.PecMassivaClient)
            assert patient.quota.retrieve().limit > 0
            assert client.base_url == open_fake.url
            assert client.username == open_fake.state.client_kwargs()["username"]

    def test_errors_are_the_sdk_errors(self, open_fake: RunningFake) -> None:
        """Validation and API errors come out as the same exception classes."""
        with sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None)) as client:
            with pytest.raises(ValidationError) as info:
                client.sends.create(recipients=["not an address"], subject="s", body="b")
            assert info.value.field == "recipients[0]"
            open_fake.state.faults.inject("POST", "/send", status=500, after_record=True)
            with pytest.raises(certmail_async.DeliveryUnknownError):
                client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")

    def test_session_is_refused(self) -> None:
        """session= is a ValidationError: the facade owns its session on its own loop."""
        with pytest.raises(ValidationError) as info:
            sync.LegallyMailClient(token="t", session=object())
        assert info.value.field == "session"


class TestThreads:
    def test_worker_pool_shares_one_gate(self, capped: RunningFake) -> None:
        """Celery-like shape: 4 worker threads, a shared client and per-task clients, one gate.

        The fake refuses any two sends closer than its window; none is refused, so every
        client of the token in the process paced through one gate.
        """
        shared = sync.PecMassivaClient(**kwargs_for(capped, rate_limit=CLIENT_RATE))

        def task(i: int) -> str:
            if i % 2:
                return shared.sends.create(
                    recipients=[f"r{i}@pec.example.it"], subject="s", body="b"
                ).code
            with sync.PecMassivaClient(**kwargs_for(capped, rate_limit=CLIENT_RATE)) as own:
                return own.sends.create(
                    recipients=[f"r{i}@pec.example.it"], subject="s", body="b"
                ).code

        with ThreadPoolExecutor(max_workers=4) as pool:
            codes = list(pool.map(task, range(6)))
        shared.close()
        assert len(set(codes)) == 6
        assert capped.state.send_cap.rejected == 0
        assert capped.state.send_cap.max_in_window() == 1

    def test_django_view_shape(self, open_fake: RunningFake) -> None:
        """A sync view served by a threaded server uses one module-level client.

        With Django installed the view runs through Django's RequestFactory; otherwise the
        same function is called the way a WSGI worker thread would.
        """
        client = sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None))

        def view(request: Any) -> dict[str, str]:
            sent = client.sends.create(
                recipients=[request.GET["to"]], subject="Avviso", body="<p>...</p>"
            )
            return {"code": sent.code}

        try:
            import django  # noqa: F401
        except ImportError:
            request = type("Request", (), {"GET": {"to": "a@pec.example.it"}})()
            with ThreadPoolExecutor(max_workers=2) as pool:
                answers = list(pool.map(view, [request, request]))
        else:  # pragma: no cover - Django is not a dependency
            from django.conf import settings
            from django.test import RequestFactory

            if not settings.configured:
                settings.configure()
            request = RequestFactory().get("/notify", {"to": "a@pec.example.it"})
            answers = [view(request), view(request)]
        client.close()
        assert len({a["code"] for a in answers}) == 2
        assert len(open_fake.state.ledger) == 2

    async def test_refused_inside_a_running_loop(self, open_fake: RunningFake) -> None:
        """A blocking call on an event loop thread is refused; from a worker thread it works."""
        client = await asyncio.to_thread(
            sync.PecMassivaClient, **kwargs_for(open_fake, rate_limit=None)
        )
        with pytest.raises(CertmailError, match="worker thread"):
            client.quota.retrieve()
        quota = await asyncio.to_thread(client.quota.retrieve)
        assert quota.limit > 0
        await asyncio.to_thread(client.close)

    def test_trio_program_through_a_worker_thread(self, open_fake: RunningFake) -> None:
        """Inside anyio.run(backend="trio") (no asyncio loop) the facade works from a worker thread."""
        trio = pytest.importorskip("trio")
        client = sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None))

        async def main() -> str:
            # trio's own worker threads (anyio's need a newer trio than some installs have).
            sent = await trio.to_thread.run_sync(
                lambda: client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
            )
            return str(sent.code)

        code = anyio.run(main, backend="trio")
        client.close()
        assert open_fake.state.ledger[0].code == code


def _child_uses(client: sync.PecMassivaClient, url_kwargs: dict[str, Any], out: Any) -> None:
    try:
        client.quota.retrieve()
        out.put("inherited client worked")
    except CertmailError as error:
        out.put(f"refused: {error}")
    with sync.PecMassivaClient(**url_kwargs) as fresh:
        out.put(f"fresh: {fresh.quota.retrieve().limit}")


class TestLifecycle:
    def test_fork_child_gets_its_own_loop(self, open_fake: RunningFake) -> None:
        """A forked child refuses the parent's client and runs a new one on its own loop."""
        kwargs = kwargs_for(open_fake, rate_limit=None)
        client = sync.PecMassivaClient(**kwargs)
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            child = ctx.Process(target=_child_uses, args=(client, kwargs, out))
            child.start()
        child.join(timeout=30)
        assert child.exitcode == 0
        results = [out.get(timeout=5), out.get(timeout=5)]
        assert results[0].startswith("refused: this client was created before a fork")
        assert results[1] == "fresh: 1048576"
        assert client.quota.retrieve().limit == 1048576  # the parent's client is unharmed
        client.close()

    def test_shutdown_then_a_new_client(self, open_fake: RunningFake) -> None:
        """After shutdown() old clients fail with CertmailError and a new client starts anew."""
        client = sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None))
        sync.shutdown()
        with pytest.raises(CertmailError, match="shut down"):
            client.quota.retrieve()
        client.close()  # closing after shutdown is a no-op, not an error
        with sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None)) as fresh:
            assert fresh.quota.retrieve().limit > 0

    def test_one_loop_thread_per_process(self, open_fake: RunningFake) -> None:
        """Many clients, one loop thread."""
        clients = [
            sync.PecMassivaClient(**kwargs_for(open_fake, rate_limit=None)) for _ in range(3)
        ]
        names = [t.name for t in threading.enumerate() if t.name == "certmail-sync"]
        for c in clients:
            c.close()
        assert names == ["certmail-sync"]


ASYNC_CLIENTS = {
    sync.PecMassivaClient: certmail_async.PecMassivaClient,
    sync.LegallyMailClient: certmail_async.LegallyMailClient,
    sync.OpenapiPecClient: certmail_async.OpenapiPecClient,
    sync.OAuthClient: certmail_async.OAuthClient,
}
ARGS: dict[type[Any], dict[str, Any]] = {
    sync.PecMassivaClient: {"token": "t", "username": "box@pecmassiva.com", "password": "p"},
    sync.LegallyMailClient: {"token": "t"},
    sync.OpenapiPecClient: {"token": "t"},
    sync.OAuthClient: {"email": "me@example.com", "api_key": "k"},
}


class TestSurface:
    @pytest.mark.parametrize("sync_class", list(ASYNC_CLIENTS), ids=lambda c: c.__name__)
    def test_same_resources_and_methods(self, sync_class: type[Any]) -> None:
        """Every resource and public method of the async client exists on the sync one."""
        with sync_class(**ARGS[sync_class]) as client:
            inner = client._async
            assert isinstance(inner, ASYNC_CLIENTS[sync_class])
            resources = {
                n
                for n, v in vars(inner).items()
                if isinstance(v, certmail_async._client_base.Resource)
            }
            assert resources
            for name in resources:
                methods = {
                    m
                    for m, f in inspect.getmembers(getattr(inner, name))
                    if not m.startswith("_") and callable(f)
                }
                wrapped = getattr(client, name)
                assert methods
                assert methods <= set(dir(wrapped))
                for m in methods:
                    assert callable(getattr(wrapped, m))
