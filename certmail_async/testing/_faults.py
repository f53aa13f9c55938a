"""Fault injection and server-side rate caps for the fake providers."""

from __future__ import annotations

import bisect
import math
import zlib
from collections import deque
from collections.abc import Hashable
from typing import Any, Literal

import attrs
from aiohttp import web

__all__ = ["CapMode", "Fault", "FaultPlan", "RateCap", "stream_hostile"]

CapMode = Literal["sliding", "fixed", "token_bucket"]


@attrs.define(kw_only=True)
class Fault:
    """One injected failure.

    * ``status`` (with optional ``body`` and ``retry_after``): answer with this error;
    * ``delay``: wait this many seconds before answering (to trigger client timeouts);
    * ``drop``: close the connection without an answer (a reset);
    * ``after_record``: let the handler run first, so the send IS recorded in the ledger,
      then fail. This is the "the provider got it but you never heard" case.
    * ``times``: how many matching requests it hits (``None``: all of them).
    * ``headers``: extra answer headers (a ``Location`` carrying a token, odd Retry-After).

    Hostile answers, streamed and generated on the fly (never held in memory):

    * ``huge``: a JSON body of this many bytes (``{"data": "aaaa...``);
    * ``gzip_bomb``: a gzip-encoded body that inflates to this many bytes of spaces;
    * ``endless``: a body that never ends (until the client drops the connection).

    Examples:
        >>> from certmail_async.testing import FaultPlan
        >>> plan = FaultPlan()
        >>> fault = plan.inject("GET", "/inbox", drop=True, times=2)
        >>> fault.drop, fault.spent
        (True, False)
        >>> for _ in range(3):
        ...     _ = plan.take("GET", "/inbox", "/inbox")
        >>> fault.hits, fault.spent
        (2, True)
    """

    method: str
    path: str
    status: int | None = None
    body: Any = None
    retry_after: str | None = None
    delay: float = 0.0
    drop: bool = False
    after_record: bool = False
    times: int | None = 1
    headers: dict[str, str] = attrs.field(factory=dict)
    huge: int | None = None
    gzip_bomb: int | None = None
    endless: bool = False
    hits: int = 0
    #: Bytes the fake managed to write for a streamed answer (before the client hung up).
    written: int = 0

    @property
    def streams(self) -> bool:
        """Whether this fault answers with a streamed hostile body."""
        return self.huge is not None or self.gzip_bomb is not None or self.endless

    def matches(self, method: str, route: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return self.method.upper() in (method.upper(), "*") and self.path in (route, path, "*")

    @property
    def spent(self) -> bool:
        """Whether the fault has hit as many requests as it was asked to."""
        return self.times is not None and self.hits >= self.times


class FaultPlan:
    """The faults a fake will inject, consumed in the order they were added.

    Examples:
        >>> plan = FaultPlan()
        >>> _ = plan.inject("POST", "/send", status=500, after_record=True)
        >>> plan.take("POST", "/send", "/send").status
        500
        >>> plan.take("POST", "/send", "/send") is None
        True
    """

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def inject(self, method: str, path: str, **kw: Any) -> Fault:
        """Add a fault for ``method`` (or ``"*"``) on a route template or path (or ``"*"``)."""
        fault = Fault(method=method, path=path, **kw)
        self._faults.append(fault)
        return fault

    def take(self, method: str, route: str, path: str) -> Fault | None:
        """The next live fault for this request, counted as one hit."""
        for fault in self._faults:
            if not fault.spent and fault.matches(method, route, path):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        """Remove every fault."""
        self._faults.clear()


class RateCap:
    """A server-side cap of ``requests`` per ``per`` seconds, per key (token or IP).

    ``mode`` is how the server counts: ``sliding`` (any window of ``per`` seconds),
    ``fixed`` (windows aligned on multiples of ``per``) or ``token_bucket`` (capacity
    ``requests``, refilled continuously). Only admitted requests count. The cap remembers
    every admission so `max_in_window` can report the worst sliding window seen.

    Examples:
        >>> cap = RateCap(requests=1, per=1.0)
        >>> cap.admit("k", 0.0), cap.admit("k", 0.5), cap.admit("k", 1.0)
        (True, False, True)
        >>> cap.max_in_window()
        1
    """

    def __init__(self, *, requests: int, per: float, mode: CapMode = "sliding") -> None:
        if requests < 1 or per <= 0:
            raise ValueError("a cap needs requests >= 1 and per > 0")
        self.requests = requests
        self.per = per
        self.mode = mode
        self.rejected = 0
        self.admitted: dict[Hashable, list[float]] = {}
        self._recent: dict[Hashable, deque[float]] = {}
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def admit(self, key: Hashable, now: float) -> bool:
        """Count a request at time ``now``; False when it is over the cap."""
        ok = self._check(key, now)
        if ok:
            self.admitted.setdefault(key, []).append(now)
        else:
            self.rejected += 1
        return ok

    def _check(self, key: Hashable, now: float) -> bool:
        if self.mode == "token_bucket":
            tokens, last = self._buckets.get(key, (float(self.requests), now))
            tokens = min(self.requests, tokens + (now - last) * self.requests / self.per)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return True
            self._buckets[key] = (tokens, now)
            return False
        recent = self._recent.setdefault(key, deque())
        if self.mode == "fixed":
            # Windows [k*per, (k+1)*per): forget what came before the current one.
            start = math.floor(now / self.per) * self.per
            while recent and recent[0] < start:
                recent.popleft()
        else:
            # Any window [t, t+per): forget what is at least ``per`` old.
            while recent and recent[0] <= now - self.per:
                recent.popleft()
        if len(recent) >= self.requests:
            return False
        recent.append(now)
        return True

    def max_in_window(self, window: float | None = None) -> int:
        """The most admitted requests of one key in any sliding window of ``window`` s."""
        width = self.per if window is None else window
        best = 0
        for times in self.admitted.values():
            for i, t in enumerate(times):
                # Requests in [t, t + width): the server's window starting at t.
                j = bisect.bisect_left(times, t + width, lo=i)
                best = max(best, j - i)
        return best

    @property
    def total_admitted(self) -> int:
        """Admitted requests over every key."""
        return sum(len(v) for v in self.admitted.values())


_CHUNK = 64 * 1024


class _GzipOfSpaces:
    """A gzip stream of spaces whose blocks are compressed once and then repeated.

    Each chunk ends with a full flush, which resets the compressor's history, so every chunk
    after the first compresses to the same bytes: a 1 GB bomb costs the fake no CPU.
    """

    def __init__(self, chunk: int) -> None:
        self._data = b" " * chunk
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate
        self._block: bytes | None = None
        self._crc = 0
        self._size = 0

    def header(self) -> bytes:
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, no name, no mtime

    def block(self, size: int) -> bytes:
        data = self._data[:size]
        self._crc = zlib.crc32(data, self._crc)
        self._size += size
        if size == len(self._data) and self._block is not None:
            return self._block
        out = self._deflate.compress(data) + self._deflate.flush(zlib.Z_FULL_FLUSH)
        if size == len(self._data) and self._size > size:
            self._block = out  # the second full chunk: history-free, repeatable
        return out

    def trailer(self) -> bytes:
        tail = self._deflate.flush(zlib.Z_FINISH)
        return tail + self._crc.to_bytes(4, "little") + (self._size % 2**32).to_bytes(4, "little")


async def stream_hostile(request: web.Request, fault: Fault) -> web.StreamResponse:
    """Answer with ``fault``'s streamed body: huge, a gzip bomb or endless.

    Bodies are generated chunk by chunk (a 1 GB bomb costs the fake a few KB of memory and
    almost no CPU) and writing stops as soon as the client drops the connection.
    """
    response = web.StreamResponse(status=fault.status or 200)
    response.content_type = "application/json"
    for key, value in fault.headers.items():
        response.headers[key] = value
    gzip = None
    if fault.gzip_bomb is not None:
        response.headers["Content-Encoding"] = "gzip"
        gzip = _GzipOfSpaces(_CHUNK)
    elif fault.huge is not None:
        response.content_length = fault.huge
    await response.prepare(request)
    total = fault.gzip_bomb if fault.gzip_bomb is not None else fault.huge
    head = b'{"data": "'
    sent = 0
    try:
        if gzip is not None:
            await response.write(gzip.header())
        while total is None or sent < total:
            size = _CHUNK if total is None else min(_CHUNK, total - sent)
            if gzip is not None:
                piece = gzip.block(size)
            elif sent == 0 and size >= len(head):
                piece = head + b"a" * (size - len(head))
            else:
                piece = b"a" * size
            sent += size
            await response.write(piece)
            fault.written += len(piece)
        if gzip is not None:
            await response.write(gzip.trailer())
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client hung up: that is the point
    return response
