"""What the provider answered: response metadata on results and errors, and raw responses.

``ResponseInfo`` describes the final HTTP answer of a call (status, headers scrubbed of
secrets, the provider's request id when it sends one, timing). Errors carry it as
``err.response``; results returned by the clients give it through ``response_info()``;
``client.with_raw_response.<resource>.<method>(...)`` returns a ``RawResponse`` with the
body bytes as read, for any result (lists, bytes and ``None`` included).

How a result gets its info: each public coroutine method of a resource runs inside a
*capture* (a context variable, see `capturing`); the transport records the final
answer of every request into the current capture, and the method's result is tagged with
it on the way out. The tag lives in a side table keyed by the result's identity (with a
weak reference), not on the model: equality, hashing, ``repr``, pickling and the cattrs
converters of the models are untouched.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from ._exceptions import APIError, CertmailError, ValidationError
from ._redact import MASK, SENSITIVE_HEADERS

if TYPE_CHECKING:
    from ._redact import Redactor
    from ._transport import Response

__all__ = ["RawResponse", "ResponseInfo", "raw_response", "response_info"]

T = TypeVar("T")
P = ParamSpec("P")

#: Header names whose first present value is the provider's request id.
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")


def _freeze_headers(value: Any) -> CIMultiDictProxy[str]:
    if isinstance(value, CIMultiDictProxy):
        return value
    if isinstance(value, Mapping):
        value = value.items()
    return CIMultiDictProxy(CIMultiDict(value))


@attrs.frozen(kw_only=True)
class ResponseInfo:
    """The final HTTP answer of a call: status, headers, request id, timing.

    ``headers`` is a read-only, case-insensitive mapping; every value went through the
    client's redactor (credential headers such as ``Set-Cookie`` show the mask), so no
    secret the client holds ever shows. ``request_id`` is the first present of
    ``X-Request-Id``, ``Request-Id`` and ``X-Correlation-Id``; none of the three providers
    documents one, so it is usually ``None``. ``url`` is the base URL and path, never
    the query (the path's ids are scrubbed too). ``elapsed`` is the seconds from the last
    attempt's hand-off to its answer; ``attempts`` counts the requests of the call.

    Examples:
        >>> from certmail_async import ResponseInfo
        >>> info = ResponseInfo(status=200, headers={"X-Request-Id": "r-1"},
        ...                     request_id="r-1", provider="pecmassiva",
        ...                     operation="quota.retrieve", method="GET",
        ...                     url="https://ws.pecmassiva.com/quota")
        >>> info.headers["x-request-id"], info.request_id, info.attempts
        ('r-1', 'r-1', 1)
    """

    status: int
    headers: CIMultiDictProxy[str] = attrs.field(converter=_freeze_headers)
    request_id: str | None = None
    provider: str | None = None
    operation: str | None = None
    method: str | None = None
    url: str | None = None
    elapsed: float | None = None
    attempts: int = 1

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The header proxy does not pickle: travel as a list of pairs.
        fields = attrs.asdict(self, recurse=False)
        fields["headers"] = list(self.headers.items())
        return (_rebuild_info, (fields,))


def _rebuild_info(fields: dict[str, Any]) -> ResponseInfo:
    return ResponseInfo(**fields)


def build_info(
    *,
    status: int,
    headers: Mapping[str, str],
    redactor: Redactor | None,
    provider: str | None,
    operation: str | None,
    method: str | None,
    url: str | None,
    elapsed: float | None,
    attempts: int,
) -> ResponseInfo:
    """A ResponseInfo of raw answer headers: credential headers masked, the rest scrubbed.

    Everything that comes from the answer is scrubbed of the client's secrets: header
    values *and names* (a hostile server may send a token as a header name), the request
    id (read from the scrubbed headers) and the URL.
    """
    scrub = redactor.scrub if redactor is not None else str
    clean: CIMultiDict[str] = CIMultiDict(
        [
            (scrub(name), MASK if name.lower() in SENSITIVE_HEADERS else scrub(value))
            for name, value in headers.items()
        ]
    )
    request_id = None
    for name in REQUEST_ID_HEADERS:
        found = clean.get(name)
        if found:
            request_id = found
            break
    return ResponseInfo(
        status=status,
        headers=CIMultiDictProxy(clean),
        request_id=request_id,
        provider=provider,
        operation=operation,
        method=method,
        url=url if url is None or redactor is None else redactor.scrub(url),
        elapsed=elapsed,
        attempts=attempts,
    )


class Capture:
    """The answers one call received: the transport records each final answer here."""

    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: Response | None = None


#: The capture of the call running in this task (set by `capturing`).
CAPTURE: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "certmail_capture", default=None
)

#: Results tagged with their ResponseInfo: id -> (weak reference, info).
#: The info is built on first use (scrubbing headers costs microseconds on every call):
#: until then the entry holds the answer's status, headers and metadata, not its body.
_TAGS: dict[int, tuple[weakref.ref[Any], Response]] = {}
_UNTAGGABLE = (type(None), bool, int, float, str, bytes, bytearray, list, tuple, dict)


def _tag(result: Any, response: Response) -> None:
    if isinstance(result, _UNTAGGABLE):
        return
    key = id(result)

    def forget(ref: weakref.ref[Any], key: int = key) -> None:
        entry = _TAGS.get(key)
        if entry is not None and entry[0] is ref:
            del _TAGS[key]

    try:
        ref = weakref.ref(result, forget)
    except TypeError:  # no weak references (a slotted class without __weakref__)
        return
    _TAGS[key] = (ref, response.head())


def response_info(result: object) -> ResponseInfo | None:
    """The ResponseInfo of a result a client method returned, or ``None``.

    Models (``SendResult``, ``Quota``, ``Mailbox``...) returned by a client carry it;
    lists, tuples, bytes, ``None``, booleans and numbers cannot (use
    ``client.with_raw_response``), nor does a copy made by pickling, ``copy`` or
    ``attrs.evolve``, nor a model you built yourself.

    Examples:
        >>> import asyncio
        >>> from certmail_async import response_info
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> tuple[int, str]:
        ...     async with run_fake("pecmassiva") as fake:
        ...         async with fake.client() as client:
        ...             quota = await client.quota.retrieve()
        ...     info = response_info(quota)
        ...     return info.status, info.operation
        >>> asyncio.run(main())
        (200, 'quota.retrieve')
    """
    entry = _TAGS.get(id(result))
    if entry is None or entry[0]() is not result:
        return None
    return entry[1].info()


def captured_info(response: Response | None) -> ResponseInfo | None:
    """The ResponseInfo of a recorded answer (``None`` when none was recorded)."""
    return None if response is None else response.info()


def capturing(
    method: Callable[..., Coroutine[Any, Any, T]],
) -> Callable[..., Coroutine[Any, Any, T]]:
    """Wrap a resource's coroutine method: record its answers, tag its result."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        outer = CAPTURE.get()
        capture = Capture()
        # The arguments may hold a secret in clear (a token used as an id): this frame
        # lets go of them before awaiting, so no traceback's locals show them here.
        call = method(*args, **kwargs)
        del args, kwargs
        token = CAPTURE.set(capture)
        try:
            result = await call
        except APIError as error:
            # A decoder outside Transport.decode refused the last answer: attach it.
            if error.response is None and capture.response is not None:
                error.response = capture.response.info()
            raise
        finally:
            CAPTURE.reset(token)
            if outer is not None and capture.response is not None:
                outer.response = capture.response  # a call made inside another call
        if capture.response is not None:
            _tag(result, capture.response)
        return result

    wrapper.__certmail_captures__ = True  # type: ignore[attr-defined]
    return wrapper


def is_captured_method(value: Any) -> bool:
    """Whether ``value`` is a public coroutine method `capturing` should wrap."""
    return inspect.iscoroutinefunction(value) and not getattr(value, "__certmail_captures__", False)


class RawResponse(Generic[T]):
    """The raw answer of a call made through ``client.with_raw_response``.

    The call ran exactly like the normal method (validation, pacing, credentials,
    retries, the send-safety rules); this adds what the provider answered. ``content``
    is the body as read (bounded by the client's ``ResponseLimits``); ``json()`` parses
    it; ``parse()`` returns what the normal method returns. ``info`` is the
    [ResponseInfo][certmail_async.ResponseInfo]; ``status``, ``headers`` and
    ``request_id`` are its shortcuts.
    For a call that made several requests (``sends.track``, ``wait_delivered``) it is
    the last answer.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> tuple[int, int]:
        ...     async with run_fake("pecmassiva") as fake:
        ...         async with fake.client() as client:
        ...             raw = await client.with_raw_response.quota.retrieve()
        ...     return raw.status, raw.parse().limit
        >>> asyncio.run(main())
        (200, 1048576)
    """

    __slots__ = ("_parsed", "_response", "info")

    def __init__(self, response: Response, parsed: T) -> None:
        self._response = response
        self._parsed = parsed
        #: The final answer's [ResponseInfo][certmail_async.ResponseInfo].
        self.info: ResponseInfo = response.info()

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.info.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The answer's headers (case-insensitive; values scrubbed of secrets)."""
        return self.info.headers

    @property
    def request_id(self) -> str | None:
        """The provider's request id, when it sent one (usually ``None``)."""
        return self.info.request_id

    @property
    def content(self) -> bytes:
        """The body bytes as read (an error answer: at most its first 64 KiB)."""
        return self._response.content

    def json(self) -> Any:
        """The body parsed as JSON, with the client's depth and size limits."""
        return self._response.json()

    def parse(self) -> T:
        """What the normal method returned for this answer."""
        return self._parsed

    def __repr__(self) -> str:
        info = self.info
        return (
            f"RawResponse(status={info.status}, operation={info.operation!r}, "
            f"request_id={info.request_id!r})"
        )


async def _raw(call: Coroutine[Any, Any, T], name: str) -> RawResponse[T]:
    """Await ``call`` inside a fresh capture and wrap its final answer."""
    capture = Capture()
    token = CAPTURE.set(capture)
    try:
        parsed = await call
    finally:
        CAPTURE.reset(token)
    if capture.response is None:
        raise CertmailError(f"{name} made no HTTP request: there is no raw response")
    return RawResponse(capture.response, parsed)


async def raw_response(
    method: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs
) -> RawResponse[T]:
    """Call a client method and return its `RawResponse`, typed by the method's result.

    The same as ``client.with_raw_response.<resource>.<method>(...)`` (the very same
    path: validation, pacing, credentials, retries, send safety), but a type checker
    sees ``RawResponse[SendResult]`` for ``raw_response(client.sends.create, ...)``,
    where the attribute form is untyped. A method that made no HTTP request is a
    [CertmailError][certmail_async.CertmailError].

    Examples:
        >>> import asyncio
        >>> from certmail_async import raw_response
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> tuple[int, int]:
        ...     async with run_fake("pecmassiva") as fake:
        ...         async with fake.client() as client:
        ...             raw = await raw_response(client.quota.retrieve)
        ...     return raw.status, raw.parse().limit
        >>> asyncio.run(main())
        (200, 1048576)
    """
    if not callable(method):
        raise ValidationError("expected a client method", field="method")
    name = getattr(method, "__name__", "method")
    call = method(*args, **kwargs)
    del args, kwargs  # no secret argument in this frame's locals (see capturing)
    if not inspect.iscoroutine(call):
        raise ValidationError(f"{name} is not a coroutine method of a client", field="method")
    return await _raw(call, name)


class RawResource:
    """One resource of ``client.with_raw_response``: each method returns a RawResponse."""

    __slots__ = ("_resource",)

    def __init__(self, resource: Any) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._resource, name)
        if not inspect.iscoroutinefunction(method):
            raise AttributeError(
                f"{type(self._resource).__name__}.{name} is not a request method: "
                "with_raw_response covers the coroutine methods (not iterators or trackers)"
            )

        @functools.wraps(method)
        async def raw(*args: Any, **kwargs: Any) -> RawResponse[Any]:
            call = method(*args, **kwargs)
            del args, kwargs  # no secret argument in this frame's locals (see capturing)
            return await _raw(call, name)

        return raw

    def __dir__(self) -> list[str]:
        return [
            n
            for n in dir(self._resource)
            if not n.startswith("_") and inspect.iscoroutinefunction(getattr(self._resource, n))
        ]

    def __repr__(self) -> str:
        return f"<raw {type(self._resource).__name__}>"


class RawClient:
    """``client.with_raw_response``: the client's resources, returning RawResponses."""

    __slots__ = ("_client",)

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> RawResource:
        from ._client_base import Resource

        if name.startswith("_"):
            raise AttributeError(name)
        resource = getattr(self._client, name)
        if not isinstance(resource, Resource):
            raise AttributeError(f"{name} is not a resource of {type(self._client).__name__}")
        return RawResource(resource)

    def __dir__(self) -> list[str]:
        from ._client_base import Resource

        return [n for n, v in vars(self._client).items() if isinstance(v, Resource)]

    def __repr__(self) -> str:
        return f"<raw {type(self._client).__name__}>"
