"""The blocking facade: the async clients, run on one event loop in a background thread.

# How it works, and why this way
#
# The SDK is asyncio code (aiohttp needs asyncio). Sync code (a Django view, a Celery task,
# a script) cannot ``await``, and running ``asyncio.run()`` per call breaks a reused client:
# its aiohttp session belongs to the first, closed loop ("Event loop is closed").
#
# So the process gets ONE event loop, in one daemon thread, started on first use and driven
# through anyio's ``BlockingPortal`` (the object ``anyio.from_thread.start_blocking_portal``
# yields; the thread is started here, as a daemon, so an unclosed portal never holds up
# interpreter exit). Every sync client builds its async client on that loop and every call
# is ``portal.call(...)``: thread-safe, so one client serves many threads at once, and since
# pacing gates are kept per event loop, every sync client of a scope in the process shares
# one gate: the documented caps hold across all your threads.
#
# Fork: a child process does not inherit the loop's thread. The runtime remembers the pid
# that started it; in a child a new runtime starts on first use, and a client created
# before the fork refuses to run (its session's sockets belong to the parent).
# Closing: ``client.close()`` (or ``with``) closes one client; `shutdown` stops the
# loop (it also runs at interpreter exit); a later call starts a fresh one.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib
import inspect
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._client_base import BaseClient, Resource, build_from_env
from ._exceptions import CertmailError, ValidationError
from ._types import NOT_GIVEN

if TYPE_CHECKING:  # each sync client loads its async client when first built
    from collections.abc import Mapping

    from ._pacing import PacingBackend, RateLimit
    from ._retry import RetryPolicy
    from ._types import NotGiven, TimeoutTypes

    # (named in quoted subscripts below, which ruff does not count as uses)
    from .legallymail import LegallyMailClient as _AsyncLegallyMail  # noqa: F401
    from .openapi_pec import OAuthClient as _AsyncOAuth  # noqa: F401
    from .openapi_pec import OAuthTokenSource as _AsyncTokenSource
    from .openapi_pec import OpenapiPecClient as _AsyncOpenapiPec  # noqa: F401
    from .openapi_pec import Token
    from .pecmassiva import PecMassivaClient as _AsyncPecMassiva  # noqa: F401

__all__ = [
    "BlockingIterator",
    "LegallyMailClient",
    "OAuthClient",
    "OAuthTokenSource",
    "OpenapiPecClient",
    "PecMassivaClient",
    "SyncClient",
    "SyncResource",
    "shutdown",
]

T = TypeVar("T")
C = TypeVar("C", bound=BaseClient)


class _LazyClass(Generic[T]):
    """A class attribute naming a class by module and name, imported on first access."""

    def __init__(self, module: str, name: str) -> None:
        self._where = (module, name)
        self._cls: type[T] | None = None

    def __get__(self, obj: object, owner: type[Any] | None = None) -> type[T]:
        if self._cls is None:
            module, name = self._where
            self._cls = getattr(importlib.import_module(module, __package__), name)
        return self._cls


#: Seconds to wait for the loop thread to start, and to stop at shutdown.
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class _Runtime:
    """One event loop in one daemon thread, reached through a BlockingPortal."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        ready: Future[BlockingPortal] = Future()

        async def serve() -> None:
            async with BlockingPortal() as portal:
                ready.set_result(portal)
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(serve, backend="asyncio")
            except BaseException as error:  # pragma: no cover - the loop failed to start
                if not ready.done():
                    ready.set_exception(error)

        self.thread = threading.Thread(target=run, name="certmail-sync", daemon=True)
        self.thread.start()
        self.portal = ready.result(timeout=_START_TIMEOUT)
        self.closed = False

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on the loop (awaited when it returns a coroutine)."""
        if self.closed:
            raise CertmailError("the sync runtime was shut down; create a new client")
        _refuse_inside_event_loop()
        return self.portal.call(func, *args)

    def run(self, box: list[Callable[[], Any]]) -> Any:
        """Run the one callable in ``box`` on the loop, holding no argument in any frame.

        The arguments of a call may hold a secret in clear (a token passed as an id): the
        caller packs the call in a one-element list and drops its own arguments, the
        coroutine handed to the portal pops it before anything can raise, so neither this
        frame, anyio's portal frames nor the coroutine's keep them in their locals (a
        traceback captured with ``capture_locals=True`` shows an empty list).
        """
        try:
            if self.closed:
                raise CertmailError("the sync runtime was shut down; create a new client")
            _refuse_inside_event_loop()
        except CertmailError:
            box.clear()
            raise
        return self.portal.call(_unboxing(box))

    def stop(self) -> None:
        """Stop the loop (pending calls are cancelled) and wait a bounded time for it."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(RuntimeError):  # already stopped
            self.portal.call(self.portal.stop, True)
        self.thread.join(timeout=_STOP_TIMEOUT)


_lock = threading.Lock()
_runtime: _Runtime | None = None


def _current() -> _Runtime:
    """The process's runtime, started on first use (again in a forked child)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.closed or _runtime.pid != os.getpid():
            _runtime = _Runtime()
        return _runtime


def _after_fork_in_child() -> None:
    # The parent's loop thread does not exist here, and the lock may have been held by a
    # parent thread at fork time: start over (lazily).
    global _lock, _runtime
    _lock = threading.Lock()
    _runtime = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def shutdown() -> None:
    """Stop the facade's event loop (run at interpreter exit; safe to call twice).

    Clients created before are unusable afterwards; a new client starts a new loop.

    Examples:
        >>> from certmail_async import sync
        >>> sync.shutdown()
    """
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None and runtime.pid == os.getpid():
        runtime.stop()


atexit.register(shutdown)


def _refuse_inside_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise CertmailError(
        "the sync facade blocks: inside a running event loop use the async client, or call "
        "it from a worker thread (asyncio.to_thread, anyio.to_thread.run_sync)"
    )


class BlockingIterator(Generic[T]):
    """An async iterator of the SDK (``inbox.list``) consumed from sync code.

    Each ``next()`` runs one step on the facade's loop. Leaving a loop early is fine; use
    ``with`` (or `close`) to release the underlying request at once.

    Examples:
        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("pecmassiva")) as fake:
        ...         with sync.PecMassivaClient(
        ...             token="fake-pecmassiva-token",
        ...             username="box@pecmassiva.com",
        ...             password="fake-mailbox-password",
        ...             base_url=fake.url,
        ...         ) as client:
        ...             sent = client.sends.create(
        ...                 recipients=["mario.rossi@pec.example.it"],
        ...                 subject="Avviso", body="Testo")
        ...             with client.inbox.list() as messages:  # a BlockingIterator
        ...                 kinds = [m.kind.value for m in messages]
        >>> kinds
        ['accettazione', 'avvenuta-consegna']
    """

    def __init__(self, runtime: _Runtime, agen: Any) -> None:
        self._runtime = runtime
        self._agen = agen
        self._done = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        result = self._runtime.call(_step, self._agen)
        if result is _END:
            self._done = True
            raise StopIteration
        return result  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the async iterator on the loop."""
        if not self._done:
            self._done = True
            self._runtime.call(self._agen.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_END = object()


async def _step(agen: Any) -> Any:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return _END


class SyncResource:
    """A resource of a sync client: the async resource's methods, blocking.

    Coroutine methods return their result; async-iterator methods (``inbox.list``) return
    a `BlockingIterator`.

    Examples:
        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("pecmassiva")) as fake:
        ...         with sync.PecMassivaClient(
        ...             token="fake-pecmassiva-token",
        ...             username="box@pecmassiva.com",
        ...             password="fake-mailbox-password",
        ...             base_url=fake.url,
        ...         ) as client:
        ...             quota = client.quota.retrieve()  # client.quota: a SyncResource
        >>> quota.limit
        1048576
    """

    def __init__(self, runtime: _Runtime, resource: Any) -> None:
        self._runtime = runtime
        self._resource = resource

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._resource, name)
        if not callable(attr):
            return attr
        runtime = self._runtime
        if inspect.isasyncgenfunction(attr):

            def iterate(*args: Any, **kwargs: Any) -> BlockingIterator[Any]:
                return BlockingIterator(runtime, attr(*args, **kwargs))

            iterate.__doc__ = attr.__doc__
            return iterate

        def call(*args: Any, **kwargs: Any) -> Any:
            box: list[Callable[[], Any]] = [functools.partial(attr, *args, **kwargs)]
            del args, kwargs  # may hold a secret (a token as an id): see _Runtime.run
            return runtime.run(box)

        call.__doc__ = attr.__doc__
        return call

    def __dir__(self) -> list[str]:
        return [n for n in dir(self._resource) if not n.startswith("_")]

    def __repr__(self) -> str:
        return f"<sync {type(self._resource).__name__}>"


def _unboxing(box: list[Callable[[], Any]]) -> Callable[[], Any]:
    """A zero-argument coroutine function running ``box``'s callable, popped first."""

    async def unboxed() -> Any:
        result = _pop_and_call(box)
        if inspect.isawaitable(result):
            return await result
        return result

    return unboxed


def _pop_and_call(box: list[Callable[[], Any]]) -> Any:
    # A frame of its own: the callable (and its bound arguments) are gone when it returns.
    return box.pop()()


async def _invoke(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = func(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def _unwrap(value: Any) -> Any:
    """Sync wrappers passed as arguments (a token source) become their async objects."""
    if isinstance(value, SyncClient | OAuthTokenSource):
        return value._async
    return value


class SyncClient(Generic[C]):
    """Base of the blocking clients: the async client's resources and options, blocking.

    Build it like the async client (same keyword arguments, except ``session=``: the
    facade owns its session on its own loop) and use it as a plain ``with`` block, or call
    `close`. One client may be shared by many threads.

    Examples:
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("pecmassiva")) as fake:
        ...         with sync.PecMassivaClient(
        ...             token="fake-pecmassiva-token",
        ...             username="box@pecmassiva.com",
        ...             password="fake-mailbox-password",
        ...             base_url=fake.url,
        ...         ) as client:
        ...             def usage(_: int) -> int:
        ...                 return client.quota.retrieve().usage
        ...             with ThreadPoolExecutor(4) as pool:  # one client, many threads
        ...                 usages = list(pool.map(usage, range(4)))
        >>> usages
        [0, 0, 0, 0]
    """

    _async_class: type[C]
    _async: C

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("session") is not None:
            raise ValidationError(
                "the sync facade runs its own session on its own event loop; "
                "pass session= to the async client instead",
                field="session",
            )
        box: list[Callable[[], Any]] = [
            functools.partial(self._async_class, **{k: _unwrap(v) for k, v in kwargs.items()})
        ]
        del kwargs  # the credentials: in no frame's locals if the constructor raises
        self._runtime = _current()
        self._async = self._runtime.run(box)
        self._bind()

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """The async client's ``from_env``, blocking: credentials from ``CERTMAIL_*``.

        Examples:
            >>> import os
            >>> from certmail_async import ValidationError, sync
            >>> os.environ.pop("CERTMAIL_OPENAPI_TOKEN", None)
            >>> try:
            ...     sync.OpenapiPecClient.from_env()
            ... except ValidationError as err:
            ...     print(err.field)
            CERTMAIL_OPENAPI_TOKEN
        """
        return build_from_env(cls, cls._async_class._ENV, overrides)

    @classmethod
    def _wrap(cls, runtime: _Runtime, client: C) -> Self:
        new = cls.__new__(cls)
        new._runtime = runtime
        new._async = client
        new._bind()
        return new

    def _bind(self) -> None:
        self._resources = {
            name: SyncResource(self._runtime, value)
            for name, value in vars(self._async).items()
            if isinstance(value, Resource)
        }

    def _check_runtime(self) -> _Runtime:
        runtime = self._runtime
        if runtime.pid != os.getpid():
            raise CertmailError(
                "this client was created before a fork; create a new one in this process"
            )
        return runtime

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        resources = self.__dict__.get("_resources", {})
        if name in resources:
            self._check_runtime()
            return resources[name]
        return getattr(self._async, name)  # plain attributes: base_url, username...

    def __dir__(self) -> list[str]:
        return sorted({*dir(type(self)), *(n for n in dir(self._async) if not n.startswith("_"))})

    @property
    def with_raw_response(self) -> Any:
        """The async client's ``with_raw_response``, blocking: methods return RawResponse.

        Examples:
            >>> from anyio.from_thread import start_blocking_portal
            >>> from certmail_async import sync
            >>> from certmail_async.testing import run_fake
            >>> with start_blocking_portal() as portal:  # the fake serves from a thread
            ...     with portal.wrap_async_context_manager(run_fake("legallymail")) as fake:
            ...         with sync.LegallyMailClient(
            ...             token="fake-legallymail-token", base_url=fake.url
            ...         ) as client:
            ...             raw = client.with_raw_response.account.info()
            >>> raw.status, raw.parse().remaining_emails
            (200, 1000)
        """
        return _SyncRaw(self._check_runtime(), self._async.with_raw_response)

    def with_options(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven = NOT_GIVEN,
        max_wait: float | NotGiven | None = NOT_GIVEN,
        pacing: PacingBackend | NotGiven = NOT_GIVEN,
        base_url: str | NotGiven = NOT_GIVEN,
        rate_limit: RateLimit | NotGiven | None = NOT_GIVEN,
        headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A copy with other defaults (the async client's ``with_options``), blocking."""
        runtime = self._check_runtime()
        options = {
            "timeout": timeout, "max_retries": max_retries, "retry_policy": retry_policy,
            "max_wait": max_wait, "pacing": pacing, "base_url": base_url,
            "rate_limit": rate_limit, "headers": headers,
        }  # fmt: skip
        return self._wrap(runtime, runtime.call(_invoke, self._async.with_options, (), options))

    def close(self) -> None:
        """Close the HTTP session (on the facade's loop)."""
        runtime = self._runtime
        if runtime.closed or runtime.pid != os.getpid():
            return  # the loop (and the session with it) is gone already
        runtime.call(self._async.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # A client whose constructor raised has no async client: its repr (a traceback's
        # locals, a debugger) must not raise in turn.
        inner = self.__dict__.get("_async")
        return f"<sync.{type(self).__name__}: not built>" if inner is None else f"sync.{inner!r}"


class _SyncRaw:
    """``with_raw_response`` of a sync client: its resources, blocking."""

    def __init__(self, runtime: _Runtime, raw: Any) -> None:
        self._runtime = runtime
        self._raw = raw

    def __getattr__(self, name: str) -> SyncResource:
        if name.startswith("_"):
            raise AttributeError(name)
        return SyncResource(self._runtime, getattr(self._raw, name))

    def __dir__(self) -> list[str]:
        return dir(self._raw)


class PecMassivaClient(SyncClient["_AsyncPecMassiva"]):
    """[PecMassivaClient][certmail_async.PecMassivaClient], blocking.

    Examples:
        Against the fake (served from a thread here, as a real server is; drop
        ``base_url=`` for the real service, and use your own credentials):

        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("pecmassiva")) as fake:
        ...         with sync.PecMassivaClient(
        ...             token="fake-pecmassiva-token",
        ...             username="box@pecmassiva.com",
        ...             password="fake-mailbox-password",
        ...             base_url=fake.url,
        ...         ) as client:
        ...             sent = client.sends.create(
        ...                 recipients=["mario.rossi@pec.example.it"],
        ...                 subject="Avviso", body="Testo")
        ...             accepted = client.sends.receipts(sent.code).accepted
        >>> accepted
        True
    """

    _async_class = _LazyClass["_AsyncPecMassiva"](".pecmassiva", "PecMassivaClient")


class LegallyMailClient(SyncClient["_AsyncLegallyMail"]):
    """[LegallyMailClient][certmail_async.LegallyMailClient], blocking.

    Examples:
        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("legallymail")) as fake:
        ...         with sync.LegallyMailClient(
        ...             token="fake-legallymail-token", base_url=fake.url
        ...         ) as client:
        ...             info = client.account.info()
        >>> info.remaining_emails
        1000
    """

    _async_class = _LazyClass["_AsyncLegallyMail"](".legallymail", "LegallyMailClient")


class OpenapiPecClient(SyncClient["_AsyncOpenapiPec"]):
    """[OpenapiPecClient][certmail_async.OpenapiPecClient], blocking.

    Examples:
        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("openapi_pec")) as fake:
        ...         with sync.OpenapiPecClient(
        ...             token=fake.state.token, base_url=fake.url
        ...         ) as pec:
        ...             free = pec.mailboxes.availability("mario.rossi@legalmail.it")
        >>> free
        True
    """

    _async_class = _LazyClass["_AsyncOpenapiPec"](".openapi_pec", "OpenapiPecClient")


class OAuthClient(SyncClient["_AsyncOAuth"]):
    """[OAuthClient][certmail_async.OAuthClient], blocking.

    Examples:
        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("openapi_pec")) as fake:
        ...         with sync.OAuthClient(
        ...             email="account@example.com", api_key="fake-openapi-api-key",
        ...             base_url=fake.url,
        ...         ) as oauth:
        ...             token = oauth.tokens.create(scopes=["GET:pec.openapi.it/pec"])
        >>> token.scopes
        ('GET:pec.openapi.it/pec',)
    """

    _async_class = _LazyClass["_AsyncOAuth"](".openapi_pec", "OAuthClient")


class OAuthTokenSource:
    """[OAuthTokenSource][certmail_async.OAuthTokenSource] for the sync clients.

    It refreshes on the facade's loop.

    Examples:
        >>> from anyio.from_thread import start_blocking_portal
        >>> from certmail_async import sync
        >>> from certmail_async.testing import run_fake
        >>> with start_blocking_portal() as portal:  # the fake serves from a thread
        ...     with portal.wrap_async_context_manager(run_fake("openapi_pec")) as fake:
        ...         with sync.OAuthClient(
        ...             **fake.state.oauth_kwargs(), base_url=fake.url
        ...         ) as oauth:
        ...             token = oauth.tokens.create(scopes=["GET:pec.openapi.it/pec"])
        ...             source = sync.OAuthTokenSource(oauth, token)
        ...             with sync.OpenapiPecClient(
        ...                 token=source, base_url=fake.url
        ...             ) as pec:
        ...                 boxes = pec.mailboxes.list()
        >>> boxes
        ()
    """

    def __init__(self, oauth: OAuthClient, token: Token, *, refresh_before: float = 300.0) -> None:
        if not isinstance(oauth, OAuthClient):
            raise ValidationError(
                f"expected a sync.OAuthClient, got {type(oauth).__name__}", field="oauth"
            )
        runtime = oauth._check_runtime()
        from .openapi_pec import OAuthTokenSource as _AsyncTokenSource

        self._async: _AsyncTokenSource = runtime.call(
            _invoke, _AsyncTokenSource, (oauth._async, token), {"refresh_before": refresh_before}
        )

    @property
    def token(self) -> Token:
        """The current token."""
        return self._async.token

    @property
    def scope_key(self) -> str:
        """Stable across refreshes (see the async source)."""
        return self._async.scope_key

    def __repr__(self) -> str:
        return f"sync.{self._async!r}"
