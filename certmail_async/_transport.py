"""HTTP transport shared by every provider client.

One :class:`Transport` per client owns (or borrows) one ``aiohttp.ClientSession``.
:meth:`Transport.request` runs one operation: it waits on the scope's pacing gate, sends,
maps every aiohttp/asyncio failure to the SDK's exception tree (in :meth:`_send_once`, the
only place that touches aiohttp's exceptions) and applies the retry rules of ``_retry``.
It knows nothing of any provider's JSON: a :class:`ProviderProfile` tells it how to read
an error body.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json as jsonlib
import logging
import platform
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs

from . import _exceptions as exc
from ._pacing import Gate, RateLimit, gate_for
from ._redact import SENSITIVE_HEADERS, Redactor, redact_body, redact_headers
from ._retry import RETRYABLE_READ_STATUSES, RetryPolicy, parse_retry_after
from ._types import NOT_GIVEN, NotGiven, SecretStr, Timeout, TimeoutTypes, given

__all__ = [
    "BeforeSend",
    "ClientSession",
    "ErrorInfo",
    "Operation",
    "ProviderProfile",
    "Response",
    "Transport",
]

#: The session type clients accept as ``session=``: provider packages name it through the
#: transport, so aiohttp stays a transport detail.
ClientSession = aiohttp.ClientSession

#: A per-call hook awaited right before a send's request leaves, after its pacing slot was
#: granted. The bulk dispatcher passes one to commit the chunk ``in_flight`` as late as
#: possible, so a crash while waiting for a slot leaves the chunk pending (surely unsent),
#: not in doubt. It runs before every attempt that may reach the wire.
BeforeSend = Callable[[], Awaitable[None]]

logger = logging.getLogger("certmail_async")

_VERSION = "0.1.0"
USER_AGENT = (
    f"certmail-async/{_VERSION} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


@attrs.frozen(kw_only=True)
class Operation:
    """One provider endpoint, as the transport needs to know it.

    ``sends`` marks calls that deliver a message: once the request may have reached the
    provider they are never retried, and an unknown outcome raises DeliveryUnknownError.
    ``idempotent=False`` marks other calls that change or charge (register, renew...): they
    are not retried either, and an unknown outcome raises the underlying error. ``paced``
    marks calls that take a slot of the scope's pacing gate.
    """

    provider: str
    name: str
    method: str
    path: str
    sends: bool = False
    idempotent: bool = True
    paced: bool = False

    @property
    def retry_safe(self) -> bool:
        """Whether repeating a request that may have been processed is harmless."""
        return self.idempotent and not self.sends


class Response:
    """A raw HTTP answer: status, headers (case-insensitive lookup) and body bytes."""

    __slots__ = ("content", "headers", "status")

    def __init__(self, *, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status = status
        self.headers = headers
        self.content = content

    def __repr__(self) -> str:
        return f"Response(status={self.status})"

    @property
    def content_type(self) -> str:
        """The media type, without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        # Decoding first skips json's encoding detection; providers answer UTF-8 JSON.
        return jsonlib.loads(self.content.decode("utf-8", "replace"))


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
        self.closed = False

    def get(self) -> aiohttp.ClientSession:
        if self.closed:
            raise RuntimeError("this client is closed; create a new one")
        if self.session is None:
            self.session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                # Our own timeouts are passed per request.
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
            )
        return self.session

    async def aclose(self) -> None:
        self.closed = True
        if self.owned and self.session is not None and not self.session.closed:
            await self.session.close()


def scope_digest(*parts: str) -> str:
    """A stable, non-reversible scope key from secret material (e.g. a token)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


class Transport:
    """Sends operations for one client: pacing, the error seam, retries, redaction."""

    def __init__(
        self,
        *,
        profile: ProviderProfile,
        base_url: str,
        auth_headers: Callable[[Operation], Awaitable[Mapping[str, str]]],
        secrets: Iterable[SecretStr],
        session: aiohttp.ClientSession | None = None,
        timeout: TimeoutTypes = Timeout(),
        max_retries: int = 2,
        retry_policy: RetryPolicy = RetryPolicy(),
        rate_limit: RateLimit | None = None,
        scope: Hashable = None,
    ) -> None:
        self.profile = profile
        self.base_url = base_url.rstrip("/")
        self._auth_headers = auth_headers
        self._secrets = tuple(secrets)
        self.redactor = Redactor(s.get_secret_value() for s in self._secrets)
        self._holder = _SessionHolder(session)
        self._is_copy = False
        self.timeout = Timeout.coerce(timeout)
        self._default_client_timeout = _client_timeout(self.timeout)
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = max_retries
        self.retry_policy = retry_policy
        self.rate_limit = rate_limit
        self.scope = (profile.name, scope)

    # -- lifecycle -------------------------------------------------------------------

    def copy(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> Transport:
        """A transport with other defaults that shares this one's session (never closes it)."""
        new = object.__new__(Transport)
        new.__dict__.update(self.__dict__)
        new._is_copy = True
        if not isinstance(timeout, NotGiven):
            new.timeout = Timeout.coerce(timeout)
            new._default_client_timeout = _client_timeout(new.timeout)
        if not isinstance(max_retries, NotGiven):
            if max_retries < 0:
                raise ValueError("max_retries must be >= 0")
            new.max_retries = max_retries
        if not isinstance(retry_policy, NotGiven):
            new.retry_policy = retry_policy
        return new

    async def aclose(self) -> None:
        """Close the session if this transport created it (a borrowed one stays open)."""
        if not self._is_copy:
            await self._holder.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._holder.closed

    def gate(self) -> Gate | None:
        """This client's pacing gate on the running loop, or ``None`` when pacing is off."""
        if self.rate_limit is None:
            return None
        return gate_for(self.scope, self.rate_limit)

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
    ) -> Response:
        """Run ``op`` once (plus the retries its kind allows) and return a success response.

        Raises the SDK's exceptions only; a send that may have happened raises
        :class:`~certmail_async.DeliveryUnknownError`.
        """
        url = self.base_url + _fill_path(op.path, path_params)
        retries = given(max_retries, self.max_retries)
        limits = self.timeout if isinstance(timeout, NotGiven) else Timeout.coerce(timeout)
        gate = self.gate()
        attempt = 0
        while True:
            if gate is not None:
                if op.paced:
                    await gate.acquire()
                else:
                    await gate.wait_unpaused()
            retry_after: float | None = None
            if before_send is not None:
                await before_send()
            if gate is not None and op.paced:
                await gate.depart()
            try:
                response = await self._send_once(
                    op, url, params=params, json=json, headers=headers, timeout=limits
                )
            except exc.ConnectError:
                # Nothing reached the provider: safe to retry even a send.
                if attempt >= retries:
                    raise
            except exc.TransportError as error:
                if op.sends:
                    raise self._unknown(op, error) from error
                if not op.retry_safe or attempt >= retries:
                    raise
            else:
                if response.status < 300:
                    return response
                failure = self._status_error(op, response)
                if isinstance(failure, exc.RateLimitError):
                    # The provider refused to process it: safe to retry after the pause.
                    if gate is not None:
                        gate.pause(failure.retry_after)
                    if attempt >= retries:
                        raise failure
                    attempt += 1
                    if gate is None:
                        wait = self.retry_policy.wait_for(attempt - 1, failure.retry_after)
                        await asyncio.sleep(wait)
                    continue
                if isinstance(failure, exc.ServerError) and op.sends:
                    raise self._unknown(op, failure) from failure
                if (
                    not op.retry_safe
                    or response.status not in RETRYABLE_READ_STATUSES
                    or attempt >= retries
                ):
                    raise failure
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            wait = self.retry_policy.wait_for(attempt, retry_after)
            attempt += 1
            logger.debug("retrying %s (attempt %d) in %.3fs", op.name, attempt + 1, wait)
            await asyncio.sleep(wait)

    async def _send_once(
        self,
        op: Operation,
        url: str,
        *,
        params: Mapping[str, str | int] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> Response:
        """Send one HTTP request. THE place where aiohttp/asyncio errors become ours."""
        session = self._holder.get()
        auth = await self._auth_headers(op)
        for key, value in auth.items():
            if key.lower() in SENSITIVE_HEADERS:
                # A refreshed token must be scrubbed too; known values are a no-op. (Nothing
                # keeps the header itself on the transport, where vars() would show it.)
                self.redactor.add(value.removeprefix("Bearer ").removeprefix("Basic "))
        all_headers = {**auth, **headers} if headers else auth
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:
            logger.debug(
                "-> %s %s %s headers=%s body=%s",
                op.name,
                op.method,
                op.path,
                redact_headers(all_headers),
                redact_body(json) if isinstance(json, Mapping) else type(json).__name__,
            )
        started = time.perf_counter() if debug else 0.0
        client_timeout = (
            self._default_client_timeout if timeout is self.timeout else _client_timeout(timeout)
        )
        try:
            async with session.request(
                op.method,
                url,
                params=params,
                json=json,
                headers=all_headers,
                timeout=client_timeout,
                allow_redirects=False,  # never hand credentials to another host
            ) as resp:
                content = await resp.read()
                # aiohttp's headers are a case-insensitive multidict: no copy needed.
                response = Response(status=resp.status, headers=resp.headers, content=content)
        except aiohttp.ConnectionTimeoutError as error:
            raise exc.ConnectError(
                "timed out opening the connection; nothing was sent",
                provider=op.provider,
                operation=op.name,
            ) from error
        except aiohttp.ClientConnectorError as error:
            raise exc.ConnectError(
                f"could not connect to {error.host}:{error.port}: {error.os_error.strerror}",
                provider=op.provider,
                operation=op.name,
            ) from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise exc.RequestTimeoutError(
                "no answer within the time limit", provider=op.provider, operation=op.name
            ) from error
        except aiohttp.ServerDisconnectedError as error:
            raise exc.TransportError(
                "the server closed the connection without an answer",
                provider=op.provider,
                operation=op.name,
            ) from error
        except (aiohttp.ClientError, OSError) as error:
            raise exc.TransportError(
                self.redactor.scrub(f"transport failure: {type(error).__name__}: {error}"),
                provider=op.provider,
                operation=op.name,
            ) from error
        if debug:
            elapsed = (time.perf_counter() - started) * 1e3
            logger.debug("<- %s %s in %.1f ms", op.name, response.status, elapsed)
        return response

    def _status_error(self, op: Operation, response: Response) -> exc.APIStatusError:
        info = self.profile.parse_error(response)
        message = self.redactor.scrub(info.message)
        body = _scrub_body(redact_body(info.body), self.redactor)
        status = response.status
        kw: dict[str, Any] = {
            "provider": op.provider,
            "operation": op.name,
            "status": status,
            "code": info.code,
            "body": body,
        }
        if 300 <= status < 400:
            where = response.headers.get("location", "?")
            return exc.APIStatusError(f"unexpected redirect to {where} (not followed)", **kw)
        if self.profile.is_rate_limited(status, info):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return exc.RateLimitError(message, retry_after=retry_after, **kw)
        cls = self.profile.error_class(status, info)
        return cls(message, **kw)

    def _unknown(self, op: Operation, cause: exc.CertmailError) -> exc.DeliveryUnknownError:
        return exc.DeliveryUnknownError(
            cause.message,
            cause=cause,
            provider=op.provider,
            operation=op.name,
            status=cause.status,
            code=cause.code,
        )

    def __repr__(self) -> str:
        return f"<Transport {self.profile.name} {self.base_url}>"


_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _fill_path(template: str, values: Mapping[str, str | int] | None) -> str:
    if not values:
        return template
    filled = {}
    for key, value in values.items():
        text = str(value)
        # Path ids are usually plain; quote only when needed ("/" never passes through).
        filled[key] = text if text and _PLAIN.issuperset(text) else quote(text, safe="")
    return template.format(**filled)


@functools.lru_cache(maxsize=64)
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # ``sock_connect``, not ``connect``: it bounds opening a new TCP/TLS connection only,
    # which is what Timeout.connect promises, and arms no timer when a pooled connection
    # is reused (``connect`` would, on every request).
    return aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect)


def _scrub_body(body: Any, redactor: Redactor) -> Any:
    if isinstance(body, str):
        return redactor.scrub(body)
    if isinstance(body, dict):
        return {k: _scrub_body(v, redactor) for k, v in body.items()}
    if isinstance(body, list):
        return [_scrub_body(v, redactor) for v in body]
    return body
