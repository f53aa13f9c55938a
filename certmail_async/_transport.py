"""HTTP transport shared by every provider client.

One :class:`Transport` per client owns (or borrows) one ``aiohttp.ClientSession``.
:meth:`Transport.request` runs one operation: it waits on the scope's pacing gate (never
longer than the call's deadline), lets the client's :class:`~certmail_async._auth.Auth`
add the credentials at the last moment, sends, reads the answer with a size limit counted
after decompression, maps every aiohttp/asyncio failure to the SDK's exception tree (in
:meth:`Transport._send_once`, the only place that touches aiohttp's exceptions) and asks
:func:`~certmail_async._retry.decide` what to do after a failure. It knows nothing of any
provider's JSON: a :class:`ProviderProfile` tells it how to read an error body.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import importlib
import io
import json as jsonlib
import logging
import math
import platform
import re
import sys
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import attrs

from . import _exceptions as exc
from ._auth import Auth, AuthRequest, NoAuth, scope_digest
from ._pacing import (
    LocalPacing,
    PacingBackend,
    PacingGate,
    PacingState,
    PrivateCap,
    RateClaim,
    RateLimit,
    SlotUnavailable,
    StricterGate,
    rate_limit_hint,
    resolve_backend,
    stricter,
)
from ._redact import Masked, Redactor, log_summary, redact_body, redact_headers

if TYPE_CHECKING:
    from ._pacing_redis import RedisPacing
from ._response import CAPTURE, ResponseInfo, build_info
from ._retry import Action, Failure, OpKind, RetryPolicy, decide, parse_retry_after
from ._types import (
    NOT_GIVEN,
    NotGiven,
    ResponseLimits,
    SecretStr,
    Timeout,
    TimeoutTypes,
    check_max_retries,
)

#: ``opentelemetry.trace`` when opentelemetry-api is installed (``certmail-async[otel]``),
#: ``None`` when not; ``False`` until the first request looks (importing the SDK stays cheap).
_otel_trace: Any = False


def _load_otel() -> Any:
    """``opentelemetry.trace`` or ``None``, imported on the first call."""
    global _otel_trace
    if _otel_trace is False:
        try:
            _otel_trace = importlib.import_module("opentelemetry.trace")
        except ImportError:  # pragma: no cover - depends on the environment
            _otel_trace = None
    return _otel_trace


__all__ = [
    "BeforeSend",
    "ClientSession",
    "LastCheck",
    "ErrorInfo",
    "Operation",
    "ProviderProfile",
    "Response",
    "Transport",
    "scope_digest",
]

#: The session type clients accept as ``session=``: provider packages name it through the
#: transport, so aiohttp stays a transport detail.
ClientSession = aiohttp.ClientSession

#: A per-call hook awaited right before a send's request leaves, after its pacing slot was
#: granted. The bulk dispatcher passes one to commit the chunk ``in_flight`` as late as
#: possible, so a crash while waiting for a slot leaves the chunk pending (surely unsent),
#: not in doubt. It runs before every attempt that may reach the wire.
BeforeSend = Callable[[], Awaitable[None]]

#: A per-call synchronous guard called at the very last moment of every attempt of a send:
#: after its pacing slot, after the credentials were applied, right before the request is
#: handed to the HTTP session. Raising aborts the attempt with nothing written (the error
#: propagates unchanged). The bulk dispatcher passes one that raises JobLockedError once
#: the run's lease is too close to expiry, so a stale owner cannot write after a takeover.
LastCheck = Callable[[], None]

logger = logging.getLogger("certmail_async")
# A library configures no output: without this, Python's last-resort handler would print
# every WARNING (429s, unknown sends) to stderr of applications that set up no logging.
logger.addHandler(logging.NullHandler())
_http_logger = logging.getLogger("certmail_async.http")

_VERSION = "0.1.0"
#: The SDK's product token, appended to a User-Agent the caller chose.
UA_PRODUCT = f"certmail-async/{_VERSION}"
USER_AGENT = f"{UA_PRODUCT} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
#: Headers ``with_options(headers=...)`` cannot set: credentials, framing, routing.
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "x-api-key",
        "x-username",
        "x-password",
        # framing: the SDK encodes the body and its length itself
        "content-encoding",
        "content-type",
        "expect",
        "te",
        "trailer",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        # method overrides: a proxy or framework could run another operation
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    }
)
#: Extra header values: visible ASCII, space and tab (RFC 9110 field-value, no obs-text).
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*\Z", re.ASCII)
_HEADER_VALUE_MAX = 8 * 1024
_HEADERS_TOTAL_MAX = 32 * 1024
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z", re.ASCII)
#: Bytes of an error answer kept for its message (the rest is not read).
_ERROR_BODY_LIMIT = 64 * 1024
#: The share of a call's total timeout kept for the exchange itself: a paced call waits
#: for its slot (or a pause) at most the rest, by default (no explicit ``max_wait``).
EXCHANGE_SHARE = 0.25
#: JSON bodies larger than this go out as a stream (aiohttp's threshold for a body
#: that "might lock the event loop"; a ResourceWarning, an error under ``-W error``).
_STREAMED_BODY = 1024 * 1024
_T = TypeVar("_T")
_DEFAULT_LIMITS = ResponseLimits()
_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


class _Departure:
    """One paced request from its slot to its answer: stamps the write on the gate.

    The write time comes from aiohttp's tracing (``on_request_headers_sent``, after the
    connection exists) on the sessions the SDK creates. A session the caller passed has
    no such hook: there the departure is stamped when the request is handed to it, and
    the round trip is measured from that moment, so a connection set-up shows up in the
    measured jitter and widens the budget instead (see docs/rate-limits.md).
    """

    __slots__ = ("at", "gate", "written")

    def __init__(self, gate: PacingGate, at: float) -> None:
        self.gate = gate
        self.at = at
        self.written: float | None = None

    def write(self, when: float) -> None:
        if self.written is None:
            self.written = when
            self.gate.sent(when)

    def answered(self, when: float) -> None:
        if self.written is not None:
            self.gate.observe(when - self.written)

    def close(self) -> None:
        # Nothing was written (a connect error, a failing last_check): the hold ends and
        # the schedule stays as the slot left it.
        if self.written is None:
            self.written = self.at
            self.gate.sent(self.at)


#: The paced request the current task is writing (read by the tracing hook).
_DEPARTURE: contextvars.ContextVar[_Departure | None] = contextvars.ContextVar(
    "certmail_departure", default=None
)


async def _on_request_headers_sent(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    departure = _DEPARTURE.get()
    if departure is not None:
        departure.write(asyncio.get_running_loop().time())


def _pacing_trace() -> aiohttp.TraceConfig:
    """The tracing hook that stamps paced requests when their headers are written."""
    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(_on_request_headers_sent)
    return config


@attrs.frozen(kw_only=True)
class Operation:
    """One provider endpoint, as the transport needs to know it.

    ``sends`` marks calls that deliver a message: once the request may have reached the
    provider they are never retried, and an unknown outcome raises DeliveryUnknownError.
    ``idempotent=False`` marks other calls that change or charge (register, renew...): they
    are not retried either, and an unknown outcome raises the underlying error. ``paced``
    marks calls that take a slot of the scope's pacing gate. ``document`` marks answers
    that carry documents or whole messages (PDF forms, an inbox message): they get the
    larger body limit of :class:`~certmail_async.ResponseLimits`.
    """

    provider: str
    name: str
    method: str
    path: str
    sends: bool = False
    idempotent: bool = True
    paced: bool = False
    document: bool = False

    @property
    def kind(self) -> OpKind:
        """The retry kind of this operation (see :func:`~certmail_async._retry.decide`)."""
        if self.sends:
            return OpKind.SEND
        return OpKind.READ if self.idempotent else OpKind.WRITE

    @property
    def retry_safe(self) -> bool:
        """Whether repeating a request that may have been processed is harmless."""
        return self.idempotent and not self.sends


class Response:
    """A raw HTTP answer: status, headers (case-insensitive lookup) and body bytes."""

    __slots__ = (
        "_info",
        "_max_depth",
        "_max_values",
        "content",
        "headers",
        "meta",
        "redactor",
        "status",
    )

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        max_depth: int = 64,
        redactor: Redactor | None = None,
        max_values: int = 1_000_000,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self._max_depth = max_depth
        self._max_values = max_values
        #: The client's redactor: decoders scrub the provider's own error words with it.
        self.redactor = redactor
        #: Set by Transport.request on the final answer: (operation, url, elapsed, attempts).
        self.meta: tuple[Operation, str, float | None, int] | None = None
        self._info: ResponseInfo | None = None

    def __repr__(self) -> str:
        return f"Response(status={self.status})"

    def head(self) -> Response:
        """This answer without its body: what :meth:`info` needs, kept by a result's tag."""
        if not self.content:
            return self
        head = Response(status=self.status, headers=self.headers, content=b"")
        head.redactor = self.redactor
        head.meta = self.meta
        head._info = self._info
        return head

    def info(self) -> ResponseInfo:
        """This answer as a [ResponseInfo][certmail_async.ResponseInfo] (built once, scrubbed)."""
        if self._info is None:
            op, url, elapsed, attempts = self.meta or (None, None, None, 1)
            self._info = build_info(
                status=self.status,
                headers=self.headers,
                redactor=self.redactor,
                provider=None if op is None else op.provider,
                operation=None if op is None else op.name,
                method=None if op is None else op.method,
                url=url,
                elapsed=elapsed,
                attempts=attempts,
            )
        return self._info

    @property
    def content_type(self) -> str:
        """The media type, without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON).

        Nesting deeper than the limit (64 levels by default) is a ``ValueError`` too, so a
        hostile answer never reaches a recursive function, and never a RecursionError.
        """
        # Decoding first skips json's encoding detection; providers answer UTF-8 JSON.
        text = self.content.decode("utf-8", "replace")
        # Count the values before building them: "[]," is 3 bytes of text but about 64 of
        # Python list, and seconds of a blocked event loop for a few million of them.
        containers = _container_count(text)
        if containers + text.count(",") > self._max_values:
            raise ValueError(f"JSON holds more than {self._max_values} values")
        problem = None
        try:
            value = jsonlib.loads(text)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        except ValueError as error:
            problem = f"not JSON: {error}"
        if problem is not None:
            # Raised outside the handler: neither this frame's locals nor a chained
            # JSONDecodeError (its ``doc``) keep an answer that may echo a secret.
            del text
            raise ValueError(problem)
        # Nesting is never deeper than the number of arrays and objects: a text with no
        # more ``[`` and ``{`` than the limit cannot exceed it, and skips the walk.
        if (
            containers > self._max_depth
            and isinstance(value, dict | list)
            and _too_deep(value, self._max_depth)
        ):
            raise ValueError(f"JSON nested deeper than {self._max_depth} levels")
        return value


def _container_count(text: str) -> int:
    """An upper bound of the arrays and objects in JSON ``text``: its ``[`` and ``{``.

    :meth:`Response.json` adds the ``,`` to bound the number of values. Brackets and
    separators inside strings are counted too, which only errs on the safe side; skipping
    strings exactly would cost a regex pass (seconds, and a copy) over a hostile answer.
    """
    return text.count("[") + text.count("{")


@attrs.frozen(kw_only=True)
class ErrorInfo:
    """What a provider said in an error body."""

    message: str
    code: int | str | None = None
    body: Any = None


class ProviderProfile:
    """How one provider words its errors; subclass per provider.

    The default reads ``{"message": ..., "error": ...}`` JSON bodies, falling back to text.
    """

    name: str = "provider"

    def parse_error(self, response: Response) -> ErrorInfo:
        """Extract the provider's message and code from an error response."""
        try:
            body = response.json()
        except ValueError:
            text = response.content.decode("utf-8", "replace").strip()
            return ErrorInfo(message=text[:500], body=text[:2000] or None)
        if isinstance(body, dict):
            message = body.get("message") or body.get("error_message") or ""
            code = body.get("error")
            if not isinstance(code, int | str) or isinstance(code, bool):
                code = None
            return ErrorInfo(message=str(message), code=code, body=body)
        return ErrorInfo(message="", body=body)

    def error_class(self, status: int, info: ErrorInfo) -> type[exc.APIStatusError]:
        """The exception class for an error status; providers refine it."""
        return exc.status_error_class(status)

    def is_rate_limited(self, status: int, info: ErrorInfo) -> bool:
        """Whether this answer means "slow down" (HTTP 429 by default)."""
        return status == 429


class _SessionHolder:
    """Creates the aiohttp session lazily, inside the running loop; shared by copies."""

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self.session = session
        self.owned = session is None
        #: Whether the session stamps paced writes (only the sessions the SDK creates).
        self.traced = self.owned
        self.closed = False
        #: The User-Agent a caller's session gets per request (its own, then the SDK's).
        #: The caller's session is never changed.
        self.user_agent: str | None = None
        if session is not None:
            theirs = session.headers.get("User-Agent")
            self.user_agent = with_product(theirs) if theirs else USER_AGENT

    def check(self) -> None:
        """ClientClosedError when closed, or when the session belongs to another loop."""
        if self.closed:
            raise exc.ClientClosedError("this client is closed; create a new one")
        loop = None if self.session is None else getattr(self.session, "_loop", None)
        if loop is not None and loop is not asyncio.get_running_loop():
            raise exc.ClientClosedError(
                "this client's HTTP session belongs to another event loop (an earlier "
                "asyncio.run?); create the client inside the loop that uses it, or use "
                "certmail_async.sync from code without a loop"
            )

    def get(self) -> aiohttp.ClientSession:
        self.check()
        if self.session is None:
            self.session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                # Our own timeouts are passed per request.
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
                trace_configs=[_pacing_trace()],
            )
        return self.session

    async def aclose(self) -> None:
        self.closed = True
        if self.owned and self.session is not None and not self.session.closed:
            await self.session.close()


class Transport:
    """Sends operations for one client: pacing, auth, the error seam, retries, redaction.

    ``auth`` applies the credentials right before each request is written (see
    ``_auth.py``); ``secrets`` adds values to scrub that the Auth does not send.
    ``max_wait`` bounds the wait for a pacing slot or a scope pause (default: three
    quarters of the call's total timeout, the rest kept for the exchange, see
    ``EXCHANGE_SHARE``; ``None``: unbounded, for batch code that would rather wait).
    ``pacing`` is where the gates keep their schedule (see ``resolve_backend``: this
    argument, else ``rate_limit.backend``, else ``CERTMAIL_PACING_URL``, else in-process).

    Example:
        >>> from certmail_async._auth import BearerAuth
        >>> t = Transport(profile=ProviderProfile(), base_url="https://api.example.com/",
        ...               auth=BearerAuth("tok-1234"))
        >>> t.base_url
        'https://api.example.com'
    """

    def __init__(
        self,
        *,
        profile: ProviderProfile,
        base_url: str,
        auth: Auth | None = None,
        secrets: Iterable[SecretStr] = (),
        session: aiohttp.ClientSession | None = None,
        timeout: TimeoutTypes = Timeout(),
        max_retries: int = 2,
        retry_policy: RetryPolicy = RetryPolicy(),
        rate_limit: RateLimit | None = None,
        scope: Hashable = None,
        max_wait: float | NotGiven | None = NOT_GIVEN,
        response_limits: ResponseLimits = _DEFAULT_LIMITS,
        pacing: PacingBackend | None = None,
    ) -> None:
        self.profile = profile
        self.base_url = check_base_url(base_url)
        self.auth: Auth = auth if auth is not None else NoAuth()
        self.redactor = Redactor()
        for secret in (*self.auth.secrets(), *secrets):
            self.redactor.add(secret.get_secret_value())
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise exc.ValidationError("expected an aiohttp.ClientSession", field="session")
        self._holder = _SessionHolder(session)
        self._is_copy = False
        self.timeout = Timeout.coerce(timeout)
        self._default_client_timeout = _client_timeout(self.timeout)
        self.max_retries = check_max_retries(max_retries)
        self.retry_policy: RetryPolicy = _check_type(retry_policy, RetryPolicy, "retry_policy")
        self.rate_limit: RateLimit | None = _check_type(rate_limit, RateLimit | None, "rate_limit")
        self.max_wait = _check_max_wait(max_wait)
        self.limits: ResponseLimits = _check_type(
            response_limits, ResponseLimits, "response_limits"
        )
        self.scope = (profile.name, scope)
        self._pacing_arg = pacing
        # Resolved once: an unusable pacing URL is a ValidationError now, not a fallback.
        self.backend: PacingBackend | None = (
            None if self.rate_limit is None else resolve_backend(pacing, self.rate_limit)
        )
        #: A copy's own stricter cap, on top of the shared gate (``with_options``).
        self._private: PrivateCap | None = None
        #: This client's rate on the shared gate, counted while it is open (copies share it).
        self._claim: RateClaim | None = (
            None if self.rate_limit is None else RateClaim(self.rate_limit)
        )
        #: Extra headers of every request (``with_options(headers=...)``).
        self.default_headers: dict[str, str] = {}
        self._base_headers = self._merge_base()

    # -- lifecycle -------------------------------------------------------------------

    def copy(
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
    ) -> Transport:
        """A transport with other defaults that shares this one's session (never closes it).

        ``headers`` are merged over the current extra headers (see :func:`check_headers`).
        """
        new = object.__new__(Transport)
        new.__dict__.update(self.__dict__)
        new._is_copy = True
        if not isinstance(base_url, NotGiven):
            new.base_url = check_base_url(base_url)
        if not isinstance(headers, NotGiven):
            given = check_headers(headers)
            replaced = {name.lower() for name in given}
            kept = {k: v for k, v in self.default_headers.items() if k.lower() not in replaced}
            new.default_headers = _check_headers_total({**kept, **given})
            new._base_headers = new._merge_base()
        if not isinstance(pacing, NotGiven):
            new._pacing_arg = pacing
        if not isinstance(rate_limit, NotGiven):
            rate = _check_type(rate_limit, RateLimit | None, "rate_limit")
            if self.rate_limit is None:  # an unpaced client: the copy paces at its limit
                new.rate_limit = rate
                new.backend = None if rate is None else resolve_backend(new._pacing_arg, rate)
                new._claim = None if rate is None else RateClaim(rate)
            elif rate is None:
                # Other clients of the token are paced by the shared gate: a copy that
                # skipped it would flood the provider's cap.
                raise exc.ValidationError(
                    "a copy of a paced client cannot turn pacing off (it would send past "
                    "the token's shared gate); for an unpaced client, construct one with "
                    "rate_limit=None",
                    field="rate_limit",
                )
            elif stricter(rate, self._private.rate if self._private else self.rate_limit):
                # The copy's own gate on top of the shared one: the stricter limit goes
                # away with the copy (and its copies), the shared gate keeps its cap.
                new._private = PrivateCap(rate, self.scope)
            # else: not stricter than what paces this client: nothing changes
        if not isinstance(timeout, NotGiven):
            new.timeout = Timeout.coerce(timeout)
            new._default_client_timeout = _client_timeout(new.timeout)
        if not isinstance(max_retries, NotGiven):
            new.max_retries = check_max_retries(max_retries)
        if not isinstance(retry_policy, NotGiven):
            new.retry_policy = _check_type(retry_policy, RetryPolicy, "retry_policy")
        if not isinstance(max_wait, NotGiven):
            new.max_wait = _check_max_wait(max_wait)
        if not isinstance(pacing, NotGiven) and new.rate_limit is not None:
            new.backend = resolve_backend(pacing, new.rate_limit)
        return new

    def _merge_base(self) -> dict[str, str]:
        """The headers every request starts from: extra headers and the User-Agent."""
        base = dict(self.default_headers)
        theirs = next((v for k, v in base.items() if k.lower() == "user-agent"), None)
        if theirs is not None:
            for key in [k for k in base if k.lower() == "user-agent"]:
                del base[key]
            base["User-Agent"] = with_product(theirs)
        elif self._holder.user_agent is not None:
            base["User-Agent"] = self._holder.user_agent
        return base

    async def aclose(self) -> None:
        """Close the session if this transport created it (a borrowed one stays open)."""
        if not self._is_copy:
            if self._claim is not None:
                self._claim.active = False  # its rate stops counting on the shared gate
            await self._holder.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._holder.closed

    def gate(self) -> PacingGate | None:
        """This client's pacing gate on the running loop, or ``None`` when pacing is off."""
        if self.rate_limit is None or self.backend is None:
            return None
        shared: PacingGate
        if isinstance(self.backend, LocalPacing):
            # In-process: the schedule is shared by every asyncio loop of the process for
            # this scope and host (see gate_for), so asyncio.run() per call keeps spacing.
            shared = self.backend.gate(
                self.scope, self.rate_limit, origin=self.base_url, claim=self._claim
            )
        elif (redis := _redis_pacing()) is not None and isinstance(self.backend, redis):
            shared = self.backend.gate(self.scope, self.rate_limit, claim=self._claim)
        else:
            shared = self.backend.gate(self.scope, self.rate_limit)
        if self._private is not None:
            return StricterGate(self._private.gate(), shared)
        return shared

    def pacing(self) -> PacingState | None:
        """What this client's scope has learned on the running loop (None: pacing off)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return None
        gate = self.gate()
        return None if gate is None else gate.state

    # -- requests --------------------------------------------------------------------

    async def request(
        self,
        op: Operation,
        *,
        path_params: Mapping[str, str | int] | None = None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        before_send: BeforeSend | None = None,
        auth: Auth | None = None,
        max_wait: float | NotGiven | None = NOT_GIVEN,
        last_check: LastCheck | None = None,
    ) -> Response:
        """Run ``op`` once (plus the retries its kind allows) and return a success response.

        Raises the SDK's exceptions only; a send that may have happened raises
        :class:`~certmail_async.DeliveryUnknownError`. ``auth`` replaces the client's
        credentials for this call (an OAuth refresh uses the refresh token). A call whose
        pacing slot or scope pause lies beyond its deadline (``max_wait``; by default
        three quarters of the total timeout, so the exchange keeps at least a quarter)
        raises :class:`~certmail_async.RateLimitError` at once, unsent.
        ``before_send`` (see :data:`BeforeSend`) is awaited once the slot is granted;
        ``last_check`` (see :data:`LastCheck`) is called right before each attempt's request
        is handed to the session, and whatever it raises propagates with nothing written.
        """
        path = _fill_path(op, path_params)
        # A path that carries a secret (an OAuth token as its id) stays Masked in the URL:
        # ``str + Masked`` is a plain str, which a traceback's locals would show.
        url = Masked(self.base_url + path) if isinstance(path, Masked) else self.base_url + path
        retries = (
            self.max_retries
            if isinstance(max_retries, NotGiven)
            else check_max_retries(max_retries)
        )
        limits = self.timeout if isinstance(timeout, NotGiven) else Timeout.coerce(timeout)
        budget = self.max_wait if isinstance(max_wait, NotGiven) else _check_max_wait(max_wait)
        # Without an explicit max_wait the total timeout is the call's deadline, waits and
        # exchange together; an explicit max_wait bounds the waits only.
        whole_call = isinstance(budget, NotGiven)
        if isinstance(budget, NotGiven):
            budget = limits.total
        self._holder.check()  # closed, or made on another loop: fail before any wait
        loop = asyncio.get_running_loop()
        deadline = None if budget is None else loop.time() + budget
        # Under the whole-call deadline a slot must leave the exchange a share of the
        # budget: a request that departs at the last millisecond times out, and a send
        # that times out after its write is a DeliveryUnknownError (never a retry).
        wait_until = deadline
        if whole_call and deadline is not None and budget is not None:
            wait_until = deadline - budget * EXCHANGE_SHARE
        gate = self.gate()
        with _span(op) as span:
            attempt = 0
            while True:
                departure: _Departure | None = None
                if gate is not None or before_send is not None:  # else nothing to wait for
                    departed = await self._wait_turn(op, gate, wait_until, attempt, before_send)
                    if departed is not None and gate is not None:
                        departure = _Departure(gate, departed)
                call_limits = limits
                if whole_call and deadline is not None and limits.total is not None:
                    left = deadline - loop.time()
                    if left < limits.total - 0.001:  # time went on waits: keep the deadline
                        call_limits = Timeout.coerce(max(left, 0.001))
                error: exc.CertmailError
                status: int | None = None
                retry_after: float | None = None
                said: str | None = None  # the Retry-After header as the provider wrote it
                token = None if departure is None else _DEPARTURE.set(departure)
                handed = loop.time()
                try:
                    response = await self._send_once(
                        op,
                        url,
                        params=params,
                        json=json,
                        headers=headers,
                        timeout=call_limits,
                        auth=auth,
                        attempt=attempt,
                        last_check=last_check,
                    )
                except exc.ConnectError as failure:
                    error, what = failure, Failure.CONNECT
                except exc.RequestTimeoutError as failure:
                    error, what = failure, Failure.TIMEOUT
                except exc.TransportError as failure:
                    error, what = failure, Failure.RESET
                except exc.ResponseDecodeError as failure:
                    # A success answer we refused to read (too large) or could not decode
                    # (its content encoding): for a send it may have happened.
                    if op.sends:
                        raise self._unknown(op, failure, attempt) from failure
                    raise
                else:
                    # What the caller may see of this answer (ResponseInfo): the URL
                    # without its query, and without a path that carries a secret.
                    shown = self.base_url + op.path if isinstance(url, Masked) else url
                    response.meta = (op, shown, loop.time() - handed, attempt + 1)
                    capture = CAPTURE.get()
                    if capture is not None:
                        capture.response = response
                    reset = None if gate is None else self._hint(gate, response)
                    if response.status < 300:
                        if span is not None:
                            span.set_attribute("http.response.status_code", response.status)
                        return response
                    status = response.status
                    error = self._status_error(op, response)
                    error.response = response.info()
                    if isinstance(error, exc.RateLimitError):
                        what = Failure.RATE_LIMITED
                    else:
                        what = Failure.STATUS
                    said = response.headers.get("retry-after")
                    retry_after = parse_retry_after(said)
                    if retry_after is None and what is Failure.RATE_LIMITED:
                        retry_after = reset  # X-RateLimit-Reset, when that is all there is
                    if said is not None:  # for the log: scrubbed (an echo?) and short
                        said = self.redactor.scrub(said)[:64]
                finally:
                    if departure is not None and token is not None:
                        _DEPARTURE.reset(token)
                        departure.close()
                decision = decide(
                    kind=op.kind,
                    failure=what,
                    attempt=attempt,
                    max_retries=retries,
                    status=status,
                    retry_after=retry_after,
                    window=self.rate_limit.window if self.rate_limit is not None else None,
                    policy=self.retry_policy,
                )
                extra = _extra(op, attempt, status)
                if decision.clamped:
                    logger.warning(
                        "%s: Retry-After %r clamped to %.3fs",
                        op.name,
                        said,
                        decision.wait,
                        extra=extra,
                    )
                if isinstance(error, exc.RateLimitError):
                    error.retry_after = decision.wait
                    logger.warning(
                        "%s: rate limited (HTTP %s); the scope pauses %.3fs",
                        op.name,
                        status,
                        decision.wait,
                        extra={**extra, "scope": _scope_text(self.scope)},
                    )
                    if gate is not None and op.paced:
                        gate.refused(decision.wait)  # pauses and tightens the spacing
                    elif gate is not None:
                        gate.pause(decision.wait)
                if span is not None and status is not None:
                    span.set_attribute("http.response.status_code", status)
                if decision.action is Action.UNKNOWN:
                    raise self._unknown(op, error, attempt) from error
                if decision.action is Action.RAISE:
                    raise error
                if wait_until is not None and loop.time() + decision.wait > wait_until:
                    # Waiting would outlast the call's deadline, or leave the retry less
                    # than its share of the budget for the exchange: fail now.
                    raise error
                attempt += 1
                logger.debug(
                    "retrying %s (attempt %d) in %.3fs",
                    op.name,
                    attempt + 1,
                    decision.wait,
                    extra=_extra(op, attempt, status),
                )
                if not (decision.pause and gate is not None):
                    await asyncio.sleep(decision.wait)

    async def _wait_turn(
        self,
        op: Operation,
        gate: PacingGate | None,
        deadline: float | None,
        attempt: int,
        before_send: BeforeSend | None,
    ) -> float | None:
        """Wait for the scope (a slot, or the end of a pause), then run the send hook.

        Returns the loop time a paced request left its gate (None when not paced).
        """
        if gate is not None:
            loop = asyncio.get_running_loop()
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                if op.paced:
                    await gate.acquire(max_wait=remaining)
                else:
                    await gate.wait_unpaused(max_wait=remaining)
            except SlotUnavailable as refused:
                raise self._no_slot(op, refused.wait, attempt) from None
        departed = False
        try:
            if before_send is not None:
                await before_send()
            if gate is not None and op.paced:
                departed = True
                # stamped: the write is reported (see _Departure); the next one waits for it
                return await gate.depart(stamped=True)
        finally:
            if gate is not None and op.paced and not departed:
                gate.abandon()
        return None

    def decode(self, op: Operation, response: Response, decoder: Callable[[Response], _T]) -> _T:
        """Decode a success answer: THE place where an undecodable answer gets its error.

        Any failure of ``decoder`` becomes :class:`~certmail_async.ResponseDecodeError`,
        except on a send (``op.sends``): the provider accepted it, so it becomes
        :class:`~certmail_async.DeliveryUnknownError` with the raw answer (scrubbed, cut
        short) in ``body``. An :class:`~certmail_async.APIError` (the provider's own
        "failed") passes through unchanged.

        Example:
            >>> t = Transport(profile=ProviderProfile(), base_url="https://x.example")
            >>> op = Operation(provider="p", name="send", method="POST", path="/", sends=True)
            >>> t.decode(op, Response(status=201, headers={}, content=b"[]"), lambda r: {}[0])
            Traceback (most recent call last):
            ...
            certmail_async._exceptions.DeliveryUnknownError: p send: HTTP 201: ...
        """
        try:
            return decoder(response)
        except exc.ResponseDecodeError as error:
            failure: exc.ResponseDecodeError = error
        except exc.APIError as error:
            # ``success: false`` under a 2xx status: the provider's words, which may echo a
            # credential, are scrubbed like any error text. On a send the status said it
            # was accepted and the body says it failed: the outcome is unknown, never a
            # failure a caller could safely send again.
            if error.response is None:
                error.response = response.info()
            refused = self._scrubbed(error)
            if not op.sends:
                raise refused from None
            raise self._unknown(op, refused, 0) from refused
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as e:
            failure = exc.ResponseDecodeError(
                f"undecodable answer ({type(e).__name__})",
                provider=op.provider,
                operation=op.name,
                status=response.status,
            )
            failure.__cause__ = e
        failure.status = failure.status or response.status
        if failure.response is None:
            failure.response = response.info()
        # Scrub first, cut after: a secret straddling the cut must not leave its start.
        raw = self.redactor.scrub_prefix(response.content.decode("utf-8", "replace"), 2000)
        failure.body = raw
        if not op.sends:
            raise failure
        raise self._unknown(op, failure, 0, body=raw) from failure

    async def _send_once(
        self,
        op: Operation,
        url: str,
        *,
        params: Mapping[str, str | int] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        timeout: Timeout,
        auth: Auth | None,
        attempt: int,
        last_check: LastCheck | None = None,
    ) -> Response:
        """Send one HTTP request. THE place where aiohttp/asyncio errors become ours."""
        session = self._holder.get()
        base = self._base_headers
        request = AuthRequest(
            op,
            headers={**base, **headers} if headers else dict(base) if base else {},
            json=None if json is None else dict(json) if isinstance(json, Mapping) else None,
            redactor=self.redactor,
        )
        # The credentials go in last, as Masked strings (see _auth.py).
        await (auth or self.auth).apply(request)
        debug = _http_logger.isEnabledFor(logging.DEBUG)
        if debug:
            _http_logger.debug(
                "-> %s %s headers=%s body=%s",
                op.method,
                op.path,
                redact_headers(request.headers),
                log_summary(request.json if request.json is not None else json, self.redactor),
                extra=_extra(op, attempt, None),
            )
        started = time.perf_counter() if debug else 0.0
        client_timeout = (
            self._default_client_timeout if timeout is self.timeout else _client_timeout(timeout)
        )
        limit = self.limits.document if op.document else self.limits.json
        if last_check is not None:
            # The last moment before the write: after the slot, the hook and the
            # credentials. What it raises leaves with nothing written.
            last_check()
        departure = _DEPARTURE.get()
        if departure is not None and not self._holder.traced:
            departure.write(asyncio.get_running_loop().time())  # no tracing: the hand-off
        data = _json_body(request, json)
        try:
            async with session.request(
                op.method,
                url,
                params=params,
                data=data,
                headers=request.headers,
                timeout=client_timeout,
                allow_redirects=False,  # never hand credentials to another host
            ) as resp:
                del data  # the encoded body may hold a credential (PEC Massiva's)
                if departure is not None and resp.status < 300:
                    # The response headers are in: one round trip. Only successes count: a
                    # 429 or a 4xx is answered by a faster path (middleware), and mixing
                    # the two would read the difference in server time as network jitter.
                    departure.answered(asyncio.get_running_loop().time())
                del request  # nothing below needs the credentials
                ok = resp.status < 300
                content = await _read_limited(resp, limit if ok else _ERROR_BODY_LIMIT)
                if content is None:
                    resp.close()  # drop the connection: the rest is never read
                    if ok:
                        too_large = exc.ResponseTooLargeError(
                            f"the answer is larger than the limit of {limit} bytes "
                            "(counted after decompression); see ResponseLimits",
                            provider=op.provider,
                            operation=op.name,
                            status=resp.status,
                            limit=limit,
                        )
                        head = Response(
                            status=resp.status,
                            headers=resp.headers,
                            content=b"",
                            redactor=self.redactor,
                        )
                        shown = self.base_url + op.path if isinstance(url, Masked) else url
                        head.meta = (op, shown, None, attempt + 1)
                        too_large.response = head.info()
                        raise too_large
                    content = b""  # an error page too long to read: its status says enough
                # aiohttp's headers are a case-insensitive multidict: no copy needed.
                response = Response(
                    status=resp.status,
                    headers=resp.headers,
                    content=content,
                    max_depth=self.limits.json_depth,
                    redactor=self.redactor,
                    max_values=self.limits.json_values,
                )
        except aiohttp.ConnectionTimeoutError as error:
            raise exc.ConnectError(
                "timed out opening the connection; nothing was sent",
                provider=op.provider,
                operation=op.name,
            ) from _bare(error)
        except aiohttp.ClientConnectorError as error:
            raise exc.ConnectError(
                f"could not connect to {error.host}:{error.port}: {error.os_error.strerror}",
                provider=op.provider,
                operation=op.name,
            ) from _bare(error)
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise exc.RequestTimeoutError(
                "no answer within the time limit", provider=op.provider, operation=op.name
            ) from _bare(error)
        except aiohttp.ServerDisconnectedError as error:
            raise exc.TransportError(
                "the server closed the connection without an answer",
                provider=op.provider,
                operation=op.name,
            ) from _bare(error)
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as error:
            if "content-encoding" not in str(error).lower():
                raise exc.TransportError(
                    self.redactor.scrub(f"transport failure: {type(error).__name__}: {error}"),
                    provider=op.provider,
                    operation=op.name,
                ) from _bare(error)
            # The server answered with a body we cannot decompress (a corrupt gzip stream,
            # brotli without the Brotli package): an undecodable answer, not a network
            # failure to retry. On a send the caller gets DeliveryUnknownError.
            raise exc.ResponseDecodeError(
                self.redactor.scrub(f"the answer's content encoding cannot be decoded: {error}"),
                provider=op.provider,
                operation=op.name,
            ) from _bare(error)
        except (aiohttp.ClientError, OSError) as error:
            raise exc.TransportError(
                self.redactor.scrub(f"transport failure: {type(error).__name__}: {error}"),
                provider=op.provider,
                operation=op.name,
            ) from _bare(error)
        if debug:
            elapsed = (time.perf_counter() - started) * 1e3
            _http_logger.debug(
                "<- %s %s %s in %.1f ms, %d bytes",
                op.method,
                op.path,
                response.status,
                elapsed,
                len(response.content),
                extra={
                    **_extra(op, attempt, response.status),
                    "duration_ms": round(elapsed, 1),
                    "size": len(response.content),
                },
            )
        return response

    def _scrubbed(self, error: exc.APIError) -> exc.APIError:
        """A copy of ``error`` with its message, code and body scrubbed of known secrets."""
        code = self.redactor.scrub(error.code) if isinstance(error.code, str) else error.code
        # Decoders raise plain APIError (``unwrap``: a 2xx with ``success: false``).
        clean = exc.APIError(
            self.redactor.scrub(error.message),
            provider=error.provider,
            operation=error.operation,
            status=error.status,
            code=code,
            body=self.redactor.scrub_any(error.body),
        )
        clean.response = error.response
        clean.__cause__ = error.__cause__
        return clean

    def _status_error(self, op: Operation, response: Response) -> exc.APIStatusError:
        # The profile cuts long messages: scrub the whole answer before it does, so a
        # secret straddling the cut cannot leave its first characters behind.
        text = response.content.decode("utf-8", "replace")
        clean = self.redactor.scrub(text)
        if clean != text:
            response = Response(
                status=response.status,
                headers=response.headers,
                content=clean.encode(),
                max_depth=self.limits.json_depth,
            )
        info = self.profile.parse_error(response)
        message = self.redactor.scrub(info.message)
        body = self.redactor.scrub_any(redact_body(info.body))
        status = response.status
        kw: dict[str, Any] = {
            "provider": op.provider,
            "operation": op.name,
            "status": status,
            "code": self.redactor.scrub(info.code) if isinstance(info.code, str) else info.code,
            "body": body,
        }
        if 300 <= status < 400:
            where = self.redactor.scrub(response.headers.get("location", "?"))
            return exc.APIStatusError(f"unexpected redirect to {where} (not followed)", **kw)
        if self.profile.is_rate_limited(status, info):
            # retry_after is set by the caller once decide() has clamped it.
            return exc.RateLimitError(message, retry_after=None, **kw)
        cls = self.profile.error_class(status, info)
        return cls(message, **kw)

    def _hint(self, gate: PacingGate, response: Response) -> float | None:
        """Apply ``X-RateLimit-Remaining`` / ``-Reset`` to the gate; the reset, clamped."""
        remaining, reset = rate_limit_hint(response.headers)
        if reset is not None and reset > self.retry_policy.max_retry_after:
            # Said like a clamped Retry-After: a hostile or broken reset must not stop the
            # scope silently for max_retry_after.
            logger.warning(
                "X-RateLimit-Reset %.3fs from now clamped to %.3fs",
                reset,
                self.retry_policy.max_retry_after,
                extra={"scope": _scope_text(self.scope), "status": response.status},
            )
            reset = self.retry_policy.max_retry_after
        if remaining is not None or reset is not None:
            gate.hint(remaining, reset)
        return reset

    def _no_slot(self, op: Operation, wait: float, attempt: int) -> exc.RateLimitError:
        logger.debug(
            "%s: no pacing slot within the deadline (next in %.3fs); nothing sent",
            op.name,
            wait,
            extra={**_extra(op, attempt, None), "scope": _scope_text(self.scope)},
        )
        return exc.RateLimitError(
            f"no pacing slot within the call's deadline; the next is in {wait:.3f}s "
            "(nothing was sent)",
            retry_after=wait,
            provider=op.provider,
            operation=op.name,
        )

    def _unknown(
        self, op: Operation, cause: exc.CertmailError, attempt: int, body: Any = None
    ) -> exc.DeliveryUnknownError:
        error = exc.DeliveryUnknownError(
            cause.message,
            cause=cause,
            provider=op.provider,
            operation=op.name,
            status=cause.status,
            code=cause.code,
            body=body if body is not None else getattr(cause, "body", None),
        )
        error.response = cause.response
        logger.warning(
            "%s: delivery unknown (%s); reconcile before sending again",
            op.name,
            type(cause).__name__,
            extra=_extra(op, attempt, cause.status),
        )
        return error

    def __repr__(self) -> str:
        return f"<Transport {self.profile.name} {self.base_url}>"


def check_base_url(value: object, field: str = "base_url") -> str:
    """An ``http(s)://host[:port][/path]`` URL without a trailing slash, or a ValidationError.

    Refused: userinfo (any ``@``: credentials go in the client's auth, never the URL), a
    query or fragment (any ``?`` or ``#``: every path would land in it), blanks, control
    and non-ASCII characters (use the host's ``xn--`` form), percent-encoded control
    characters, ``.``/``..`` path segments, a bad port. The message never repeats the
    value (it may hold a password), only the scheme when that is the problem.

    Example:
        >>> check_base_url("https://ws.pecmassiva.com/")
        'https://ws.pecmassiva.com'
        >>> try:
        ...     check_base_url("https://user:s3cret@ws.pecmassiva.com")
        ... except exc.ValidationError as err:
        ...     print(err.field, "s3cret" in str(err))
        base_url False
    """
    if not isinstance(value, str):
        raise exc.ValidationError(f"expected a URL string, got {type(value).__name__}", field=field)
    if "@" in value:
        raise exc.ValidationError(
            "the URL cannot hold credentials (user:password@); pass them to the client, "
            "not in the URL",
            field=field,
        )
    if any(ord(c) < 33 or ord(c) > 126 for c in value):
        raise exc.ValidationError(
            "the URL holds blanks, control or non-ASCII characters "
            "(write an international host in its xn-- form)",
            field=field,
        )
    if "?" in value or "#" in value:
        raise exc.ValidationError("the URL cannot hold a query or a fragment", field=field)
    if _ENCODED_CONTROL.search(value):
        raise exc.ValidationError("the URL holds percent-encoded control characters", field=field)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        # urlsplit's message repeats part of the URL: never shown.
        raise exc.ValidationError("not a URL (a bad port or [IPv6] host)", field=field) from None
    if parts.scheme not in ("http", "https") or not host or not parts.netloc:
        scheme = parts.scheme if _SCHEME.fullmatch(parts.scheme) else "?"
        raise exc.ValidationError(
            f"expected an http:// or https:// URL with a host (scheme {scheme!r})", field=field
        )
    if not (_HOST.fullmatch(host) or (":" in host and _IPV6.fullmatch(host))):
        raise exc.ValidationError("the URL's host is not a valid host name", field=field)
    if any(seg in (".", "..") for seg in _DOT_SEGMENT.sub(".", parts.path).split("/")):
        raise exc.ValidationError("the URL's path holds '.' or '..' segments", field=field)
    return value.rstrip("/")


_ENCODED_CONTROL = re.compile(r"%(?:[01][0-9A-Fa-f]|7[Ff])", re.ASCII)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,15}", re.ASCII)
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?", re.ASCII)
_IPV6 = re.compile(r"[0-9a-f:.]+", re.ASCII)
_DOT_SEGMENT = re.compile(r"%2[Ee]", re.ASCII)


def _redis_pacing() -> type[RedisPacing] | None:
    """RedisPacing (its ``gate`` takes a client's claim), if it was loaded: else None."""
    module = sys.modules.get("certmail_async._pacing_redis")
    return None if module is None else module.RedisPacing


def with_product(user_agent: str) -> str:
    """``user_agent`` followed by the SDK's product token (once).

    Example:
        >>> with_product("acme-billing/2.1")
        'acme-billing/2.1 certmail-async/0.1.0'
    """
    if UA_PRODUCT in user_agent:
        return user_agent
    return f"{user_agent} {UA_PRODUCT}"


def check_headers(headers: object, field: str = "headers") -> dict[str, str]:
    """Extra request headers, checked: no credential, framing or routing header, no CR/LF.

    Example:
        >>> check_headers({"X-Tenant": "acme"})
        {'X-Tenant': 'acme'}
        >>> check_headers({"Authorization": "Bearer x"})
        Traceback (most recent call last):
        ...
        certmail_async._exceptions.ValidationError: headers[Authorization]: ...
    """
    if not isinstance(headers, Mapping):
        raise exc.ValidationError(
            f"expected a mapping of header names to values, got {type(headers).__name__}",
            field=field,
        )
    checked: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            shown = name if isinstance(name, str) and name.isascii() and name.isprintable() else "?"
            raise exc.ValidationError(
                "a header name is letters, digits and !#$%&'*+.^_`|~- only",
                field=f"{field}[{shown}]",
            )
        where = f"{field}[{name}]"
        if name.lower() in _RESERVED_HEADERS:
            raise exc.ValidationError(
                "credential, framing, routing and method-override headers are set by the "
                "client, not here",
                field=where,
            )
        if name.lower() in seen:
            raise exc.ValidationError(
                "the header is given twice (header names are case-insensitive)", field=where
            )
        seen.add(name.lower())
        if not isinstance(value, str):
            raise exc.ValidationError(
                f"expected a string value, got {type(value).__name__}", field=where
            )
        if not _HEADER_VALUE.match(value):
            raise exc.ValidationError(
                "a header value is visible ASCII, space and tab only (no CR, LF, other "
                "control or non-ASCII characters)",
                field=where,
            )
        if len(value) > _HEADER_VALUE_MAX:
            raise exc.ValidationError(
                f"a header value is at most {_HEADER_VALUE_MAX} bytes, got {len(value)}",
                field=where,
            )
        checked[name] = value
    return _check_headers_total(checked, field)


def _check_headers_total(headers: dict[str, str], field: str = "headers") -> dict[str, str]:
    """Refuse extra headers whose names and values add up to more than 32 KiB."""
    total = sum(len(name) + len(value) for name, value in headers.items())
    if total > _HEADERS_TOTAL_MAX:
        raise exc.ValidationError(
            f"the extra headers are at most {_HEADERS_TOTAL_MAX} bytes in total, got {total}",
            field=field,
        )
    return headers


def _json_body(request: AuthRequest, json: Any) -> aiohttp.payload.Payload | io.BytesIO | None:
    """The request's JSON body, encoded once: a payload, or a stream above 1 MiB.

    Sets ``Content-Type: application/json`` as aiohttp's ``json=`` would. A large body
    (a send with a big attachment) is handed over as ``io.BytesIO``, which aiohttp
    writes in chunks, instead of one bytes payload it warns about. Neither shows the
    body in its ``repr`` (PEC Massiva's holds the password): no frame's locals in a
    traceback do.
    """
    value = request.json if request.json is not None else json
    if value is None:
        return None
    encoded = jsonlib.dumps(value).encode("utf-8")
    if not any(name.lower() == "content-type" for name in request.headers):
        request.headers["Content-Type"] = "application/json"
    if len(encoded) > _STREAMED_BODY:
        return io.BytesIO(encoded)
    return aiohttp.payload.BytesPayload(encoded, content_type="application/json")


def _check_type(value: Any, kind: Any, field: str) -> Any:
    if not isinstance(value, kind):
        raise exc.ValidationError(f"unexpected type {type(value).__name__}", field=field)
    return value


def _check_max_wait(value: float | NotGiven | None) -> float | NotGiven | None:
    if value is None or isinstance(value, NotGiven):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise exc.ValidationError("expected seconds or None", field="max_wait")
    if not (math.isfinite(value) and value >= 0):
        raise exc.ValidationError(f"expected finite seconds >= 0, got {value!r}", field="max_wait")
    return float(value)


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, decompressed, or ``None`` once it passes ``limit`` bytes (rest unread)."""
    declared = resp.content_length
    if declared is not None and not resp.headers.get("content-encoding"):
        if declared > limit:
            return None
        # Not compressed, length declared within the limit: aiohttp's parser hands out
        # exactly that many bytes, so one read is as bounded as the counted loop below.
        return await resp.content.read()
    chunks: list[bytes] = []
    size = 0
    # aiohttp decompresses gzip/deflate/br as it goes: the count is of decoded bytes.
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _bare(error: BaseException) -> BaseException:
    """``error`` and its chain without tracebacks: aiohttp's frames hold the request.

    Credentials there are :class:`~certmail_async._redact.Masked` already; this also
    keeps the URL and the body out of a traceback printed with its locals.
    """
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


def _too_deep(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _extra(op: Operation, attempt: int, status: int | None) -> dict[str, Any]:
    return {
        "provider": op.provider,
        "operation": op.name,
        "route": op.path,
        "status": status,
        "attempt": attempt,
    }


def _scope_text(scope: Hashable) -> str:
    if isinstance(scope, tuple):
        return ":".join(_scope_text(p) for p in scope if p is not None)
    return str(scope)


def _span(op: Operation) -> contextlib.AbstractContextManager[Any]:
    """An OpenTelemetry CLIENT span around one operation, or a no-op context (``None``).

    A span is opened only when it can be recorded: opentelemetry-api installed *and* a
    tracer provider configured (see :func:`_tracer`).
    """
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    cm: contextlib.AbstractContextManager[Any] = tracer.start_as_current_span(
        f"{op.provider} {op.name}",
        kind=_otel_trace.SpanKind.CLIENT,
        attributes={
            "http.request.method": op.method,
            "url.template": op.path,
            "certmail.provider": op.provider,
            "certmail.operation": op.name,
        },
    )
    return cm


#: The tracer provider last seen by :func:`_tracer` and the tracer it gave (or ``None``).
_tracer_cache: tuple[Any, Any] = (None, None)


def _tracer() -> Any:
    """The SDK's tracer, or ``None`` when no span would be recorded.

    Without opentelemetry-api, or with it but no tracer provider configured (the API's
    default proxy provider, or its ``NoOpTracerProvider``), every span the API hands out
    is a ``NonRecordingSpan``: opening one cost about a tenth of a request's client time
    (tracer lookup, context attach and detach) for nothing, so none is opened. The
    provider is looked up on every call (one function call and an identity test against
    the cached one), so a provider configured later is used from the next call on.
    """
    global _tracer_cache
    trace = _load_otel()
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    seen, tracer = _tracer_cache
    if provider is not seen:
        no_op = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        tracer = None if isinstance(provider, no_op) else provider.get_tracer("certmail_async")
        _tracer_cache = (provider, tracer)
    return tracer


def _fill_path(op: Operation, values: Mapping[str, str | int] | None) -> str:
    """The operation's path with every segment value percent-encoded (``/`` included).

    Empty, ``.`` and ``..`` values are refused: they would route the call elsewhere.
    """
    if not values:
        return op.path
    filled = {}
    masked = False
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise exc.ValidationError(
                f"expected a string or an integer id, got {type(value).__name__}",
                field=key,
                provider=op.provider,
                operation=op.name,
            )
        text = str(value) if isinstance(value, int) else str.__str__(value)
        if text in ("", ".", ".."):
            raise exc.ValidationError(
                f"{text!r} is not a valid id", field=key, provider=op.provider, operation=op.name
            )
        masked = masked or isinstance(value, Masked)
        # ASCII letters and digits are never escaped: skip quote() for them (most ids).
        filled[key] = text if text.isascii() and text.isalnum() else quote(text, safe="")
    path = op.path.format(**filled)
    return Masked(path) if masked else path


@functools.lru_cache(maxsize=64)
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # ``sock_connect``, not ``connect``: it bounds opening a new TCP/TLS connection only,
    # which is what Timeout.connect promises, and arms no timer when a pooled connection
    # is reused (``connect`` would, on every request).
    return aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect)
