"""Run one documentation block against the fakes (see tests/docs_blocks.py for the rules).

Invoked as ``python tests/docs_runner.py`` in a fresh, empty working directory, with
``{"mode", "arg", "code", "name"}`` as JSON on standard input, so that nothing a block does
(logging setup, files, globals) leaks into the test session.

tests/test_docs_examples.py starts it once as ``python tests/docs_runner.py --serve``
instead: that process does the imports above (about half a second per interpreter) once,
then forks one child per block. Each child starts from the state right after those imports,
as a fresh interpreter would, and exits when its block is done: no block sees another's.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, NoReturn

from anyio.from_thread import start_blocking_portal

from certmail_async import BulkDispatcher, OutgoingMessage, RateLimit
from certmail_async.testing import RunningFake, run_fake
from tests.forkserver import reap, redirect_stdio, run_child

SCALED = 0.05  # one provider second, in test seconds (the pytest plugin's scale)


def _credentials(code: str, client: str, names: tuple[str, ...]) -> dict[str, str]:
    """The string literals a block passes to ``client(...)`` for the given keywords."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == client:
                for kw in node.keywords:
                    value = kw.value
                    if (
                        kw.arg in names
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        found[kw.arg] = value.value
    return found


@contextlib.contextmanager
def _fakes(code: str) -> Iterator[dict[str, RunningFake]]:
    """PEC Massiva, LegallyMail and openapi.it fakes on a background loop, hosts redirected."""
    pm = _credentials(code, "PecMassivaClient", ("token", "username", "password"))
    lm = _credentials(code, "LegallyMailClient", ("token",))
    with start_blocking_portal() as portal, contextlib.ExitStack() as stack:
        running: dict[str, RunningFake] = {}
        for name, config in (
            ("pecmassiva", pm),
            ("legallymail", lm),
            ("openapi_pec", {}),
        ):
            cm = run_fake(name, **config)  # type: ignore[arg-type]
            running[name] = portal.call(cm.__aenter__)
            stack.callback(portal.call, cm.__aexit__, None, None, None)
        import certmail_async.legallymail._client as lm_client
        import certmail_async.openapi_pec._client as oa_client
        import certmail_async.openapi_pec._oauth as oa_oauth
        import certmail_async.pecmassiva._client as pm_client

        pm_client.PRODUCTION_URL = pm_client.SANDBOX_URL = running["pecmassiva"].url
        lm_client.PRODUCTION_URL = running["legallymail"].url
        oa_client.PRODUCTION_URL = oa_client.SANDBOX_URL = running["openapi_pec"].url
        oa_oauth.OAUTH_URL = oa_oauth.OAUTH_SANDBOX_URL = running["openapi_pec"].url
        pm_kwargs = running["pecmassiva"].state.client_kwargs()
        os.environ["CERTMAIL_PECMASSIVA_TOKEN"] = str(pm_kwargs["token"])
        os.environ["CERTMAIL_PECMASSIVA_USERNAME"] = str(pm_kwargs["username"])
        os.environ["CERTMAIL_PECMASSIVA_PASSWORD"] = str(pm_kwargs["password"])
        os.environ["CERTMAIL_LEGALLYMAIL_TOKEN"] = str(
            running["legallymail"].state.client_kwargs()["token"]
        )
        yield running


async def _call_tests(namespace: dict[str, Any]) -> list[str]:
    """Call top-level ``async def test_*`` functions, supplying the plugin's fixtures."""
    called = []
    for name, func in list(namespace.items()):
        if not (name.startswith("test_") and inspect.iscoroutinefunction(func)):
            continue
        async with contextlib.AsyncExitStack() as stack:
            kwargs: dict[str, Any] = {}
            for param in inspect.signature(func).parameters:
                if param == "fake_pecmassiva":
                    rate = RateLimit(requests=1, per=SCALED, margin=0)
                    kwargs[param] = await stack.enter_async_context(
                        run_fake("pecmassiva", send_rate=rate)
                    )
                elif param == "fake_legallymail":
                    rate = RateLimit(requests=10, per=60 * SCALED, margin=0)
                    kwargs[param] = await stack.enter_async_context(
                        run_fake("legallymail", rate=rate)
                    )
                else:
                    raise SystemExit(f"{name}: no fixture {param!r} in the docs runner")
            await func(**kwargs)
        called.append(name)
    return called


def run_program(code: str, name: str) -> None:
    """A block as a program: executed as ``__main__``, then its test functions called."""
    with _fakes(code):
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(compile(code, name, "exec"), namespace)  # noqa: S102 - our own docs
        tests = asyncio.run(_call_tests(namespace))
    if tests:
        print("called:", ", ".join(tests))


async def run_fragment(code: str, name: str, context: str) -> None:
    """A fragment with top-level await, after the names its context defines."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("from certmail_async import *", namespace)  # noqa: S102
    async with contextlib.AsyncExitStack() as stack:
        if context == "pecmassiva":
            rate = RateLimit(requests=1, per=SCALED, margin=0)
            fake = await stack.enter_async_context(run_fake("pecmassiva", send_rate=rate))
            client = await stack.enter_async_context(
                fake.client(rate_limit=RateLimit(requests=1, per=SCALED, margin=0.5))
            )
            namespace.update(fake=fake, client=client)
        elif context == "bulk":
            pm_rate = RateLimit(requests=1, per=SCALED, margin=0)
            lm_rate = RateLimit(requests=10, per=60 * SCALED, margin=0)
            pm_fake = await stack.enter_async_context(run_fake("pecmassiva", send_rate=pm_rate))
            lm_fake = await stack.enter_async_context(run_fake("legallymail", rate=lm_rate))
            pecmassiva = await stack.enter_async_context(
                pm_fake.client(rate_limit=RateLimit(requests=1, per=SCALED, margin=0.5))
            )
            legallymail = await stack.enter_async_context(
                lm_fake.client(rate_limit=RateLimit(requests=10, per=60 * SCALED, margin=0.5))
            )
            messages = [
                OutgoingMessage(
                    provider="pecmassiva", recipients=[f"{who}@pec.example.it"],
                    subject=f"Avviso {n}", body="<p>Gentile cliente ...</p>", key=str(n),
                )
                for n, who in enumerate(("anna", "luca"), start=1)
            ] + [
                OutgoingMessage(
                    provider="legallymail", recipients=["marta@example.com"],
                    subject="Avviso 3", body="<p>Gentile cliente ...</p>", key="3",
                )
            ]  # fmt: skip
            dispatcher = await stack.enter_async_context(
                BulkDispatcher(clients=[pecmassiva, legallymail], journal="jobs.sqlite")
            )
            async for _ in dispatcher.run("avvisi-2026-11", messages):
                pass
            namespace.update(
                pecmassiva=pecmassiva,
                legallymail=legallymail,
                messages=messages,
                dispatcher=dispatcher,
            )
        compiled = compile(code, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(compiled, namespace)  # noqa: S307 - our own docs
        if inspect.iscoroutine(result):
            await result


def main() -> None:
    spec = json.loads(sys.stdin.read())
    if spec["mode"] == "run":
        run_program(spec["code"], spec["name"])
    elif spec["mode"] == "context":
        asyncio.run(run_fragment(spec["code"], spec["name"], spec["arg"]))
    else:
        raise SystemExit(f"the runner does not run {spec['mode']!r} blocks")


def _child(request: dict[str, Any]) -> NoReturn:
    """One block in a forked child: its own cwd, stdio and exit, like ``python runner.py``."""

    def setup() -> None:
        os.chdir(request["cwd"])
        redirect_stdio(request["out"], request["err"])
        sys.stdin = io.StringIO(json.dumps(request["spec"]))
        sys.argv = [__file__]

    run_child(setup, main)


def serve() -> None:
    """``--serve``: one JSON request per stdin line, one forked child each; answers its status.

    A request is ``{"spec", "cwd", "out", "err", "timeout"}`` (``spec`` as ``main`` reads
    it; ``out``/``err`` the files the child's stdout and stderr go to); the answer line is
    ``{"returncode": N}``, N as :mod:`subprocess` reports it.
    """
    if threading.active_count() != 1:  # fork copies no thread: refuse a threaded parent
        raise SystemExit("docs_runner --serve: threads are running, cannot fork safely")
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        returncode = reap(pid, float(request["timeout"]))
        print(json.dumps({"returncode": returncode}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
