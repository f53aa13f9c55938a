"""The machinery every fake provider shares: app, middleware, request log, faults, caps."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import importlib
import json
import os
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, overload

import attrs
from aiohttp import web

from .._exceptions import ValidationError
from .._pacing import RateLimit
from ._faults import CapMode, Fault, FaultPlan, RateCap, stream_hostile
from ._load import (
    METRICS_PATH,
    FaultRates,
    Latency,
    ServerMetrics,
    count_duplicates,
    merge_snapshots,
)

if TYPE_CHECKING:  # serve's overloads name each fake's client (the modules import this one)
    from ..legallymail import LegallyMailClient
    from ..openapi_pec import OpenapiPecClient
    from ..pecmassiva import PecMassivaClient
    from ._legallymail import FakeLegallyMail
    from ._openapi_pec import FakeOpenapiPec
    from ._pecmassiva import FakePecMassiva

__all__ = [
    "EMAIL",
    "CappedRoute",
    "FakeProvider",
    "RequestRecord",
    "RunningFake",
    "b64decode",
    "base64_size",
]

#: What the fakes accept as an address: deliberately simple (the SDK validates strictly,
#: and a fake must not be stricter than the provider it stands for).
EMAIL = re.compile(r'[^@\s"<>,;]+@[^@\s"<>,;]+\.[A-Za-z]{2,}\Z', re.ASCII)


def b64decode(data: object, *, data_uri: bool = False) -> bytes | None:
    """Strict base64 as the providers take it (optionally a ``data:...;base64,`` URI), or None."""
    if not isinstance(data, str):
        return None
    if data_uri and data.startswith("data:") and ";base64," in data:
        data = data.split(";base64,", 1)[1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def base64_size(size: int) -> int:
    """The length of the base64 text of ``size`` bytes (4 characters per 3 bytes, padded).

    Examples:
        >>> from certmail_async.testing._core import base64_size
        >>> base64_size(3), base64_size(4), base64_size(100 * 1024 * 1024)
        (4, 8, 139810136)
    """
    return 4 * ((size + 2) // 3)


#: The body size the fakes accept when the provider documents none: the base64 text of
#: 100 MiB of files plus 1 MiB for the rest of the JSON (a generous choice of the fakes).
DEFAULT_MAX_BODY_SIZE = base64_size(100 * 1024 * 1024) + 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One request the fake received, with the status it answered (0: dropped).

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> list[tuple[str, str, int]]:
        ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
        ...         await client.quota.retrieve()
        ...     return [(r.method, r.route, r.status) for r in fake.state.requests]
        >>> asyncio.run(main())
        [('GET', '/quota/{mailbox}', 200)]
    """

    method: str
    route: str
    path: str
    at: float
    status: int
    remote: str | None


@attrs.frozen(kw_only=True)
class CappedRoute:
    """A rate cap applied to some routes, keyed per token or per client IP."""

    cap: RateCap
    methods_routes: frozenset[tuple[str, str]] | None  # None: every route
    key: Callable[[web.Request], Hashable]

    def applies(self, method: str, route: str) -> bool:
        """Whether a request counts against this cap."""
        return self.methods_routes is None or (method, route) in self.methods_routes


class FakeProvider:
    """Base of the fake servers. Subclasses add routes and the provider's error bodies.

    Every fake keeps the ``requests`` it received, a ``faults`` plan to inject failures,
    its rate ``caps``, and ``latency`` and ``fault_rates`` for load tests.

    Request bodies are accepted up to ``max_body_size`` bytes (each fake's default follows
    its provider's documented limit; set it before serving, or pass ``max_body_size=`` to
    the fake or to ``run_fake``). A larger body is answered by `body_too_large` (HTTP 413
    in the provider's error shape) and recorded, before any cap or fault applies.

    Examples:
        >>> from certmail_async.testing import FakeLegallyMail, FakeProvider
        >>> fake = FakeLegallyMail()
        >>> isinstance(fake, FakeProvider), fake.requests
        (True, [])
        >>> fake.faults.inject("POST", "/api/send", status=503).status
        503
    """

    name: ClassVar[str] = "provider"
    #: ``"module:Class"`` of the SDK client this fake stands in for.
    client_path: ClassVar[str] = ""
    #: The request body size (bytes) accepted unless ``max_body_size=`` says otherwise.
    default_max_body_size: ClassVar[int] = DEFAULT_MAX_BODY_SIZE

    def __init__(self, *, max_body_size: int | None = None) -> None:
        self._served = False  # max_body_size is fixed once the app is built
        self.max_body_size = self.default_max_body_size if max_body_size is None else max_body_size
        self.requests: list[RequestRecord] = []
        self.faults = FaultPlan()
        self.caps: list[CappedRoute] = []
        self.clock: Callable[[], float] = time.monotonic
        #: Seconds added to every request before it "arrives" (before the cap sees it):
        #: ``(low, high)`` uniform jitter, or a `Latency` (fixed, uniform, long-tailed).
        self.latency: tuple[float, float] | Latency | None = None
        #: Random faults by kind (500, reset, lost answer...), drawn per request.
        self.fault_rates: FaultRates | None = None
        #: Counters served at ``/_fake/metrics``.
        self.metrics = ServerMetrics()
        #: Keep at most about this many `requests` (the oldest go first); None: all.
        self.request_log_limit: int | None = None
        #: Set when this fake is one of several worker processes (see ``serve_workers``).
        self.worker_folder: str | None = None
        self.worker_index = 0
        self._rng = random.Random(0)

    @property
    def max_body_size(self) -> int:
        """The largest request body (bytes) accepted; a larger one gets `body_too_large`.

        A positive int, set before the fake is served (the served app's limit is fixed
        then): anything else is a ``ValidationError`` naming ``max_body_size``.
        """
        return self._max_body_size

    @max_body_size.setter
    def max_body_size(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            shown = value if type(value) is int else type(value).__name__
            raise ValidationError(
                f"expected a positive int of bytes, got {shown}", field="max_body_size"
            )
        if self._served:
            raise ValidationError(
                "the limit is fixed once the fake is served: pass max_body_size= to "
                "run_fake or the fake, or set it before serving",
                field="max_body_size",
            )
        self._max_body_size = value

    # -- to override -------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the provider's routes."""
        raise NotImplementedError

    def error(self, status: int, message: str, **extra: Any) -> web.Response:
        """An error answer in the provider's shape."""
        return web.json_response({"success": False, "message": message, **extra}, status=status)

    def body_too_large(self) -> web.Response:
        """The answer to a request body over `max_body_size`: 413 in the provider's shape.

        No provider documents this answer: the status and the body are the fakes' choice
        (what a web server in front of the API plausibly says, in the API's error shape).
        """
        return self.error(
            413, f"Request Entity Too Large: the body exceeds {self.max_body_size} bytes"
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the matching SDK client (credentials, base URL aside)."""
        return {}

    def ledger_stats(self) -> dict[str, Any]:
        """The ledger figures the metrics route reports (sends, duplicates, sizes)."""
        return {}

    def flush_ledger(self) -> None:
        """Write out what the ledger buffers (spill and digest files)."""

    def client_rate_limit(self) -> RateLimit | None:
        """A client RateLimit that keeps under this fake's first cap (5% margin)."""
        if not self.caps:
            return None
        cap = self.caps[0].cap
        return RateLimit(requests=cap.requests, per=cap.per)

    # -- shared ------------------------------------------------------------------------

    def client_class(self) -> Any:
        """The SDK client class this fake stands in for (imported lazily)."""
        module, _, attr = self.client_path.partition(":")
        return getattr(importlib.import_module(module), attr)

    def add_optional_cap(
        self, rate: RateLimit | None, *, mode: CapMode = "sliding", **kw: Any
    ) -> RateCap | None:
        """`add_cap` from a RateLimit, or nothing when ``rate`` is None."""
        if rate is None:
            return None
        return self.add_cap(requests=rate.requests, per=rate.per, mode=mode, **kw)

    def add_cap(
        self,
        *,
        requests: int,
        per: float,
        mode: CapMode = "sliding",
        routes: set[tuple[str, str]] | None = None,
        key: Callable[[web.Request], Hashable] = lambda r: r.remote or "?",
    ) -> RateCap:
        """Enforce a cap on some ``(METHOD, route)`` pairs (all when ``routes`` is None)."""
        cap = RateCap(requests=requests, per=per, mode=mode)
        self.caps.append(
            CappedRoute(
                cap=cap,
                methods_routes=frozenset(routes) if routes is not None else None,
                key=key,
            )
        )
        return cap

    def rate_limited(self, retry_after: float | None) -> web.Response:
        """The answer to a request over the cap (HTTP 429)."""
        response = self.error(429, "Too Many Requests")
        # Retry-After is whole seconds: a scaled window under a second cannot be said, so
        # the client falls back to pausing one window of its own RateLimit.
        if retry_after is not None and retry_after >= 1:
            response.headers["Retry-After"] = str(round(retry_after))
        return response

    def count(self, method: str, route: str, *, status: int | None = None) -> int:
        """How many requests hit a route (optionally with a given answer status)."""
        return sum(
            1
            for r in self.requests
            if r.method == method and r.route == route and (status is None or r.status == status)
        )

    def build_app(self) -> web.Application:
        """The aiohttp application, with the shared middleware in front of the routes."""
        # aiohttp refuses a body at (older versions) or over its limit: one byte of room
        # makes max_body_size itself accepted; the middleware answers the refusal.
        self._served = True
        app = web.Application(
            middlewares=[self._middleware], client_max_size=self.max_body_size + 1
        )
        app.router.add_get(METRICS_PATH, self._metrics_route)
        self.add_routes(app)
        return app

    def metrics_snapshot(self) -> dict[str, Any]:
        """This process's metrics with its ledger figures."""
        return self.metrics.snapshot(ledger=self.ledger_stats())

    def write_worker_snapshot(self) -> None:
        """Publish this worker's metrics to the shared folder (atomically replaced)."""
        if self.worker_folder is None:
            return
        self.flush_ledger()
        path = os.path.join(self.worker_folder, f"metrics-{self.worker_index}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.metrics_snapshot(), f)
        os.replace(path + ".tmp", path)

    def _all_snapshots(self) -> list[dict[str, Any]]:
        own = self.metrics_snapshot()
        if self.worker_folder is None:
            return [own]
        snaps = [own]
        for name in sorted(os.listdir(self.worker_folder)):
            if name.startswith("metrics-") and name.endswith(".json"):
                if name == f"metrics-{self.worker_index}.json":
                    continue
                with open(os.path.join(self.worker_folder, name), encoding="utf-8") as f:
                    snaps.append(json.load(f))
        return snaps

    async def _metrics_route(self, request: web.Request) -> web.Response:
        """``GET /_fake/metrics``: every worker's counters added up.

        ``?duplicates=1`` runs the duplicate check across workers (their digest files).
        """
        merged = merge_snapshots(self._all_snapshots())
        merged["provider"] = self.name
        if self.worker_folder is not None and request.query.get("duplicates") == "1":
            self.flush_ledger()
            files = [
                os.path.join(self.worker_folder, n)
                for n in os.listdir(self.worker_folder)
                if n.startswith("digests-")
            ]
            sends, duplicates = count_duplicates(files)
            merged["ledger"]["duplicates"] = duplicates
            merged["ledger"]["digested_sends"] = sends
        return web.json_response(merged)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        if route == METRICS_PATH:
            return await handler(request)  # never capped, faulted, delayed nor recorded
        method = request.method
        status = 0
        response: web.StreamResponse | None
        entered = time.perf_counter()
        if self.latency is not None:
            if isinstance(self.latency, Latency):
                await asyncio.sleep(self.latency.sample(self._rng))
            else:
                await asyncio.sleep(self._rng.uniform(*self.latency))
        arrived = self.clock()  # when the request came in, before its body was read
        # Read the whole request first, as a real server does before it processes slowly:
        # a client that times out during an injected delay has still delivered its request.
        too_large = False
        try:
            body_size = len(await request.read())
        except web.HTTPRequestEntityTooLarge:
            too_large = True
        else:
            too_large = body_size > self.max_body_size
        try:
            if too_large:
                refusal = self.body_too_large()
                status = refusal.status
                return refusal
            for capped in self.caps:
                if capped.applies(method, route) and not capped.cap.admit(
                    capped.key(request), arrived
                ):
                    refusal = self.rate_limited(capped.cap.per)
                    status = refusal.status
                    return refusal
            fault = self.faults.take(method, route, request.path)
            if fault is None and self.fault_rates is not None:
                fault = self._random_fault(method, route)
            if fault is not None and not fault.after_record:
                response = await self._apply(request, fault, None)
                if response is None:
                    response = await handler(request)
            else:
                response = await handler(request)
                if fault is not None:
                    response = await self._apply(request, fault, response) or response
            status = response.status
            return response
        except web.HTTPException as http_error:
            status = http_error.status
            raise
        finally:
            self.requests.append(
                RequestRecord(
                    method=method,
                    route=route,
                    path=request.path,
                    at=self.clock(),
                    status=status,
                    remote=request.remote,
                )
            )
            limit = self.request_log_limit
            if limit is not None and len(self.requests) > 2 * limit:
                del self.requests[:-limit]  # amortised: one cut per ``limit`` requests
            self.metrics.record(method, route, status, time.perf_counter() - entered)

    def _random_fault(self, method: str, route: str) -> Fault | None:
        """A one-off Fault drawn from `fault_rates` (None most of the time)."""
        assert self.fault_rates is not None  # noqa: S101 - checked by the caller
        kind = self.fault_rates.pick(self._rng, method, route)
        if kind is None:
            return None
        self.metrics.fault(kind)
        if kind == "reset":
            return Fault(method=method, path=route, drop=True)
        if kind == "timeout":
            return Fault(method=method, path=route, delay=self.fault_rates.hang)
        if kind == "lost":
            return Fault(method=method, path=route, status=500, after_record=True)
        return Fault(method=method, path=route, status=int(kind))

    async def _apply(
        self, request: web.Request, fault: Any, response: web.StreamResponse | None
    ) -> web.StreamResponse | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            if request.transport is not None:
                request.transport.close()
            raise _Dropped
        if fault.streams:
            return await stream_hostile(request, fault)
        if fault.status is not None:
            if fault.body is None:
                answer = self.error(fault.status, "injected fault")
            elif isinstance(fault.body, str):
                answer = web.Response(text=fault.body, status=fault.status)
            else:
                answer = web.json_response(fault.body, status=fault.status)
            if fault.retry_after is not None:
                answer.headers["Retry-After"] = fault.retry_after
            for key, value in fault.headers.items():
                answer.headers[key] = value
            return answer
        return response


class _Dropped(web.HTTPException):
    """Raised after closing the transport so aiohttp writes nothing more."""

    status_code = 599

    def __init__(self) -> None:
        super().__init__()


StateT = TypeVar("StateT", bound=FakeProvider)
"""The fake a [RunningFake][certmail_async.testing.RunningFake] serves."""
ClientT = TypeVar("ClientT")
"""The SDK client its ``client()`` builds."""


@attrs.define
class RunningFake(Generic[StateT, ClientT]):
    """A fake provider listening on loopback: its ``url`` and its ``state``.

    ``state`` is the fake itself (its ledger, requests and faults); ``client()`` builds the
    matching SDK client, pointed at ``url`` and paced under the fake's cap. It is generic
    in both for type checkers: ``run_fake("pecmassiva")`` gives a
    ``RunningFake[FakePecMassiva, PecMassivaClient]``, and so do ``run_fake(fake)`` and
    ``serve(fake)`` with a ``FakePecMassiva`` you configured (a fake class of your own
    gives ``RunningFake[YourFake, Any]``).

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> tuple[bool, str]:
        ...     async with run_fake("legallymail") as fake:
        ...         async with fake.client() as client:
        ...             info = await client.account.info()
        ...         return fake.url.startswith("http://127.0.0.1:"), info.email
        >>> asyncio.run(main())
        (True, 'account@example.com')
    """

    url: str
    state: StateT

    def client(self, **overrides: Any) -> ClientT:
        """The matching SDK client, pointed at this fake, paced under its cap."""
        kwargs: dict[str, Any] = {
            **self.state.client_kwargs(),
            "base_url": self.url,
            "rate_limit": self.state.client_rate_limit(),
        }
        kwargs.update(overrides)
        return cast("ClientT", self.state.client_class()(**kwargs))


@overload
def serve(
    fake: FakePecMassiva, *, host: str = ..., port: int = ..., thread: bool = ...
) -> contextlib.AbstractAsyncContextManager[RunningFake[FakePecMassiva, PecMassivaClient]]: ...
@overload
def serve(
    fake: FakeLegallyMail, *, host: str = ..., port: int = ..., thread: bool = ...
) -> contextlib.AbstractAsyncContextManager[RunningFake[FakeLegallyMail, LegallyMailClient]]: ...
@overload
def serve(
    fake: FakeOpenapiPec, *, host: str = ..., port: int = ..., thread: bool = ...
) -> contextlib.AbstractAsyncContextManager[RunningFake[FakeOpenapiPec, OpenapiPecClient]]: ...
@overload
def serve(
    fake: StateT, *, host: str = ..., port: int = ..., thread: bool = ...
) -> contextlib.AbstractAsyncContextManager[RunningFake[StateT, Any]]: ...
@contextlib.asynccontextmanager
async def serve(
    fake: StateT, *, host: str = "127.0.0.1", port: int = 0, thread: bool = False
) -> AsyncIterator[RunningFake[StateT, Any]]:
    """Serve ``fake`` on loopback until the block exits.

    [run_fake][certmail_async.testing.run_fake] builds the fake from a name and calls this.

    With ``thread=True`` the fake runs on its own event loop in a background thread, as a
    real server runs apart from its clients: its caps then stamp each request when it
    arrives, even while the caller's loop is stalled (a CPU-bound step, thousands of tasks
    created at once). Use it wherever a test or demo judges the client's pacing by the
    fake's refusals on a real (scaled) clock; keep the default for virtual-clock tests.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import FakePecMassiva, serve
        >>> async def main() -> str:
        ...     fake = FakePecMassiva(username="uffici@pecmassiva.com")
        ...     async with serve(fake, host="127.0.0.1") as running:
        ...         async with running.client() as client:
        ...             return client.username
        >>> asyncio.run(main())
        'uffici@pecmassiva.com'
    """
    if thread:
        async with _serve_in_thread(fake, host=host, port=port) as running:
            yield running
        return
    runner = web.AppRunner(fake.build_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        server = site._server
        assert server is not None  # noqa: S101 - started just above
        sockets = getattr(server, "sockets", None) or ()
        bound = sockets[0].getsockname()[1] if sockets else port
        yield RunningFake(url=f"http://{host}:{bound}", state=fake)
    finally:
        await runner.cleanup()


#: How long starting or stopping a fake in its own thread may take before it is an error.
THREAD_START_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def _serve_in_thread(
    fake: StateT, *, host: str, port: int
) -> AsyncIterator[RunningFake[StateT, Any]]:
    """Serve ``fake`` from a daemon thread with its own event loop (see :func:`serve`)."""
    caller = asyncio.get_running_loop()
    ready: asyncio.Future[RunningFake[StateT, Any]] = caller.create_future()
    handles: dict[str, Any] = {}

    def _settle(result: RunningFake[StateT, Any] | None, error: BaseException | None) -> None:
        if ready.done():
            return
        if error is not None:
            ready.set_exception(error)
        else:
            assert result is not None  # noqa: S101 - one of the two is given
            ready.set_result(result)

    async def _main() -> None:
        stop = asyncio.Event()
        handles["loop"], handles["stop"] = asyncio.get_running_loop(), stop
        try:
            async with serve(fake, host=host, port=port) as running:
                caller.call_soon_threadsafe(_settle, running, None)
                await stop.wait()
        except BaseException as error:  # reported to the caller, who owns the failure
            with contextlib.suppress(RuntimeError):  # the caller's loop is already closed
                caller.call_soon_threadsafe(_settle, None, error)

    worker = threading.Thread(
        target=asyncio.run, args=(_main(),), name="certmail-fake", daemon=True
    )
    worker.start()
    try:
        async with asyncio.timeout(THREAD_START_TIMEOUT):
            running = await ready
        yield running
    finally:
        loop, stop = handles.get("loop"), handles.get("stop")
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                loop.call_soon_threadsafe(stop.set)
        await asyncio.to_thread(worker.join, THREAD_START_TIMEOUT)
