"""What every provider client shares: lifecycle, options, validation context, resources."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from ._exceptions import ValidationError
from ._pacing import PacingBackend, PacingState, RateLimit
from ._response import RawClient, capturing, is_captured_method
from ._retry import RetryPolicy
from ._transport import BeforeSend, LastCheck, Operation, Response, Transport
from ._types import NOT_GIVEN, NotGiven, TimeoutTypes

__all__ = ["BaseClient", "Resource", "build_from_env", "env_kwargs", "validating"]

_C = TypeVar("_C")


def env_kwargs(
    variables: Iterable[tuple[str, str]], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """Constructor arguments: ``overrides``, then each missing one from its variable.

    Example:
        >>> env_kwargs([("token", "CERTMAIL_NOPE_TOKEN")], {"token": "t"})
        {'token': 't'}
    """
    kwargs = dict(overrides)
    for argument, variable in variables:
        if argument in kwargs:
            continue
        value = os.environ.get(variable, "").strip()
        if not value:
            raise ValidationError(
                f"the environment variable is not set (or pass {argument}=)", field=variable
            )
        kwargs[argument] = value
    return kwargs


def build_from_env(
    factory: Callable[..., _C], variables: Iterable[tuple[str, str]], overrides: Mapping[str, Any]
) -> _C:
    """``factory(**env_kwargs(...))``; a bad value read from a variable names the variable.

    The ValidationError of an argument that came from the environment gets the
    variable's name as its ``field`` (never the value); this frame drops the arguments
    before the error leaves, so a traceback's locals show no credential.

    Example:
        >>> import os
        >>> os.environ["CERTMAIL_X_TOKEN"] = "bad token"
        >>> def make(token: str) -> str:
        ...     raise ValidationError("no blanks", field="token")
        >>> try:
        ...     build_from_env(make, [("token", "CERTMAIL_X_TOKEN")], {})
        ... except ValidationError as err:
        ...     print(err)
        CERTMAIL_X_TOKEN: no blanks
        >>> del os.environ["CERTMAIL_X_TOKEN"]
    """
    variables = tuple(variables)
    from_env = {argument: variable for argument, variable in variables if argument not in overrides}
    kwargs = [env_kwargs(variables, overrides)]
    try:
        return factory(**kwargs.pop())
    except ValidationError as error:
        failure = error
    kwargs.clear()
    if failure.field in from_env:
        failure.field = from_env[failure.field]
    raise failure


class validating:  # lower case: used like a function, ``with validating(op):``
    """Stamp provider and operation on ValidationErrors raised inside the block."""

    __slots__ = ("_op",)

    def __init__(self, op: Operation) -> None:
        self._op = op

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, ValidationError):
            exc.provider = exc.provider or self._op.provider
            exc.operation = exc.operation or self._op.name


class BaseClient:
    """Lifecycle and options shared by the provider clients (use ``async with``)."""

    _transport: Transport
    #: (constructor argument, the environment variable ``from_env`` reads it from).
    _ENV: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """A client whose credentials come from ``CERTMAIL_*`` environment variables.

        The variables are the ones the ``certmail`` command reads (see the Quickstart's
        table). Keyword arguments are passed to the constructor and win over the
        environment. A missing or empty variable is a ``ValidationError`` whose ``field``
        names it (its value is never shown).

        Examples:
            >>> import os
            >>> from certmail_async import LegallyMailClient, ValidationError
            >>> os.environ.pop("CERTMAIL_LEGALLYMAIL_TOKEN", None)
            >>> try:
            ...     LegallyMailClient.from_env()
            ... except ValidationError as err:
            ...     print(err.field)
            CERTMAIL_LEGALLYMAIL_TOKEN
            >>> os.environ["CERTMAIL_LEGALLYMAIL_TOKEN"] = "my-token"
            >>> LegallyMailClient.from_env(base_url="http://127.0.0.1:8400").base_url
            'http://127.0.0.1:8400'
            >>> del os.environ["CERTMAIL_LEGALLYMAIL_TOKEN"]
        """
        return build_from_env(cls, cls._ENV, overrides)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session this client created (a session you passed stays open)."""
        await self._transport.aclose()

    @property
    def base_url(self) -> str:
        """The provider root this client talks to."""
        return self._transport.base_url

    @property
    def pacing(self) -> PacingState | None:
        """What the pacing of this client's scope has learned, on the running event loop.

        A :class:`~certmail_async.PacingState` snapshot (interval, mode, budget, jitter,
        429s seen...), or ``None`` when pacing is off (``rate_limit=None``) or when read
        outside a running event loop.

        Example:
            >>> import asyncio
            >>> from certmail_async import PecMassivaClient
            >>> async def show() -> tuple[float, str]:
            ...     async with PecMassivaClient(token="t", username="box@pecmassiva.com",
            ...                                 password="p") as c:
            ...         return c.pacing.interval, c.pacing.mode
            >>> asyncio.run(show())
            (1.05, 'window')
        """
        return self._transport.pacing()

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
        """A copy with other defaults, sharing this client's session and pacing gate.

        ``max_wait`` bounds the wait for a pacing slot or a 429 pause (default: three
        quarters of each call's total timeout, the rest kept for the exchange; ``None``:
        wait as long as the pacing needs, e.g. for batch jobs).
        ``pacing`` paces the copy through another backend (e.g. a
        [RedisPacing][certmail_async.RedisPacing] shared by several processes).
        ``base_url`` points the copy at another host (a proxy, a staging server): the
        client's credentials go to that host, so pass only one you trust.
        ``rate_limit`` can only slow the copy down: a stricter
        [RateLimit][certmail_async.RateLimit] paces the copy (and its own copies) through
        a gate of its own on top of the token's shared gate, which keeps its cap for the
        other clients and is not slowed by the copy; a looser one changes nothing.
        ``rate_limit=None`` on a paced client is a ``ValidationError`` (the copy would
        send past the shared gate): construct a client with ``rate_limit=None`` for that.
        ``headers`` are extra headers sent with every request; a later copy's headers
        replace earlier ones of the same name (any case). Credential headers
        (``Authorization``, ``X-Password``...), routing and framing headers (``Host``,
        ``Content-Length``, ``Content-Type``, ``Content-Encoding``...), method overrides
        and values that are not visible ASCII (or longer than 8 KiB) are refused. A
        ``User-Agent`` there is sent followed by the SDK's (``certmail-async/<version>``).
        Bad values are a ``ValidationError`` naming the field.

        Example:
            >>> from certmail_async import PecMassivaClient
            >>> c = PecMassivaClient(token="t", username="box@pecmassiva.com", password="p")
            >>> patient = c.with_options(timeout=120, max_retries=5)
            >>> patient._transport.max_retries
            5
            >>> tagged = c.with_options(headers={"X-Tenant": "acme"})
            >>> tagged._transport.default_headers
            {'X-Tenant': 'acme'}
        """
        new = copy.copy(self)
        new._transport = self._transport.copy(
            timeout=timeout, max_retries=max_retries, retry_policy=retry_policy,
            max_wait=max_wait, pacing=pacing, base_url=base_url, rate_limit=rate_limit,
            headers=headers,
        )  # fmt: skip
        new._bind_resources()
        return new

    @property
    def with_raw_response(self) -> Any:
        """The client's resources, each coroutine method returning a ``RawResponse``.

        ``client.with_raw_response.sends.create(...)`` runs exactly the call
        ``client.sends.create(...)`` runs (validation, pacing, credentials, retries, the
        send-safety rules) and returns a [RawResponse][certmail_async.RawResponse]: status,
        headers, request id, the body bytes, and ``parse()`` for the usual result. Async
        iterators (``inbox.list``) and trackers are not covered.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> tuple[int, bool]:
            ...     async with run_fake("legallymail") as fake:
            ...         async with fake.client() as client:
            ...             raw = await client.with_raw_response.account.info()
            ...     return raw.status, raw.parse().remaining_emails > 0
            >>> asyncio.run(main())
            (200, True)
        """
        return RawClient(self)

    def _bind_resources(self) -> None:
        """(Re)create the resource objects so they point at this instance."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class Resource:
    """A group of operations hanging off a client (``client.sends``, ``client.inbox``)."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every public coroutine method records its answers and tags its result with
        # them (see _response.capturing): response_info() and with_raw_response.
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if not name.startswith("_") and is_captured_method(value):
                setattr(cls, name, capturing(value))

    def _call(
        self,
        op: Operation,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        before_send: BeforeSend | None = None,
        last_check: LastCheck | None = None,
        **kw: Any,
    ) -> Coroutine[Any, Any, Response]:
        # Returns the transport's coroutine itself: one await layer less on every request.
        # ``before_send`` and ``last_check`` are the explicit per-call hooks a send passes
        # down (see BeforeSend and LastCheck).
        return self._client._transport.request(
            op, timeout=timeout, max_retries=max_retries, before_send=before_send,
            last_check=last_check, **kw,
        )  # fmt: skip
