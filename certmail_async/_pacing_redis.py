# The Redis gate: one pacing schedule per scope, shared by every process and host
# ---------------------------------------------------------------------------------
#
# Why: an in-process gate keeps a cap for ONE process. Eight gunicorn workers behind one
# LegallyMail egress IP, or four bulk workers on one PEC Massiva token, each with its own
# gate, send eight (four) times the cap. The Redis gate keeps the same contract as the
# in-process Gate (_pacing.py: acquire/depart/sent/observe/refused/hint/pause/abandon/
# wait_unpaused/expected_wait/state, the same PacingPolicy for slack, mode and tightening,
# burst 1), with the schedule in one Redis hash per scope.
#
# Server time: every decision is taken INSIDE Redis by a short Lua script that reads the
# server's clock (``redis.call('TIME')``), so no client clock enters the schedule: a host
# whose clock is minutes off (or steps) paces exactly like the others. The caller converts
# the answer into its own loop time with the round trip it measured: a slot ``s`` answered
# at server time ``now`` is reached locally at ``t_recv + (s - now)``, never earlier than
# the server meant (the answer left the server before ``t_recv``); a write stamped locally
# at ``t`` is reported as server time ``t + (now - t_send)``, never earlier than it was. The
# error of both is at most one round trip (well under a millisecond on a LAN), which the
# slack's floor (60 ms, or 5% of an interval on scaled time) covers many times over.
#
# The record (a hash, its TTL refreshed by each write): ``last`` the latest departure's
# slot (the anchor), ``paused`` the end of a pause, ``held``/``hsince`` stamped departures
# not yet reported written, ``strict``/``minb``/``pv``/``refusals`` the shared tightening
# (mode, least budget, its version, the 429s seen), ``departed``/``dat`` departures and the
# count at the latest tightening, ``cfg``/``cfgat``/``cfgper`` the strictest configured
# interval seen lately (when, and its window), ``res``/``prev``/``rstamp`` the latest
# reservation (for a rollback), ``boot`` the id of the server that wrote the record.
#
# Reservation (RESERVE): slot = max(now, last + interval, paused); granted only when the
# slot is at most LOOKAHEAD away (25 ms, or a quarter interval), otherwise the caller is
# told the wait and asks again shortly before it. So slots are reserved just before they
# are used: a pause, a late write or a tightening that happens meanwhile moves every slot
# not yet taken, as in the in-process lane. Departures of one process take their turn in
# a FIFO lane; between processes the first to ask near the slot gets it.
#
# Same rules as in-process: the interval is the caller's PacingPolicy interval (learned
# jitter included), never below the strictest configured interval another process used
# in the last minute (or two of its windows): the stricter rate wins across processes. A
# 429 (REFUSED) pauses the scope in Redis and tightens it there (strict mode, budget at
# least doubled; concurrent refusals of requests that left before the tightening widen
# once): the shared version ``pv`` goes up, and a reservation made with an older version
# is refused (STALE) until the caller has merged the tightening, so every worker tightens
# together. A stamped departure holds the scope's next one (HELD) until its write is
# reported (SENT) or HOLD_INTERVALS intervals pass; a write later than its slot by more
# than the tolerance moves the anchor to it. A waiter cancelled after its reservation
# rolls it back (ROLLBACK) when it is still the latest one, so the next caller takes the
# slot.
#
# The synchronous methods (sent, refused, pause, hint) act locally at once and queue their
# Redis update in an outbox, sent in order by a background task and always before this
# gate's next reservation: a process never reserves past its own pause or late write.
#
# Server changes: a record written by another server (a failover to a replica, a restore,
# a restart with persistence) or missing on a server up for less than an interval may not
# know the scope's latest departure. The first reservation after such a change waits one
# full interval from the moment it was detected (``boot`` holds the server's run_id from
# INFO), so a lagging replica never hands out a slot twice. Not covered: a scope whose
# record never reached the replica before a failover while the replica had been up longer
# than an interval (first use within the replication lag), or keys evicted under memory
# pressure (use maxmemory-policy noeviction); docs/scaling.md says so.
#
# Fails closed: every Redis call is bounded (``timeout``); while Redis does not answer, no
# paced request leaves. A caller keeps retrying (backing off to 0.5 s) for ``max_outage``
# seconds or its own deadline, then gets PacingUnavailableError; nothing is ever sent
# unpaced or paced per process instead. Unpaced calls (reads) honour the last pause they
# know when Redis is unreachable. The next call simply tries again: sending resumes by
# itself when Redis answers.
#
# Secrets: the key of a scope is an HMAC of its label (which already holds only a digest
# of the token), so neither the token nor any plain hash of it appears in Redis. The URL's
# password is shown as *** in the repr, logs and errors.
"""The Redis pacing gate: one scope's schedule shared by many processes, on server time."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import logging
import math
import re
import secrets
import weakref
from collections import deque
from collections.abc import Hashable, Sequence
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from ._exceptions import PacingUnavailableError, ValidationError
from ._pacing import (
    _ADMIT_EARLY,
    _EPSILON,
    _MIN_SLEEP,
    HOLD_INTERVALS,
    PacingPolicy,
    PacingState,
    RateClaim,
    RateLimit,
    SlotUnavailable,
    _poll,
    _scope_label,
    spacing,
)
from ._redact import Redactor
from ._types import SecretStr

__all__ = ["RedisPacing"]

logger = logging.getLogger("certmail_async.pacing")

#: Longest time between a reservation and its slot (seconds; a quarter interval if less).
LOOKAHEAD = 0.025
#: Back-off between attempts while Redis does not answer (doubling from the first).
_RETRY_FIRST, _RETRY_MAX = 0.01, 0.5
#: The SCHEMES a pacing URL may use (redis-py's).
_SCHEMES = ("redis", "rediss", "unix")
_NAMESPACE = re.compile(r"[A-Za-z0-9:_.{}-]{1,64}\Z", re.ASCII)
_HMAC_CONTEXT = b"certmail_async pacing scope v1\0"

# Script answers: the status of a reservation.
_GRANTED, _WAIT, _STALE, _HELD = 0, 1, 2, 3

# -- the scripts ---------------------------------------------------------------------------
#
# Times are integer microseconds of the server's clock (exact in Lua's doubles until the
# year 2255); string.format('%.0f') writes them without losing digits. Every script returns
# the shared state the caller caches: {status, now, slot, paused, strict, minb, pv,
# refusals}.

_PRELUDE = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function num(v, d) if v then return tonumber(v) or d end return d end
local function f(x) return string.format('%.0f', x) end
local function answer(status, slot)
  local s = redis.call('HMGET', key, 'paused', 'strict', 'minb', 'pv', 'refusals')
  return {status, now, slot, num(s[1], 0), num(s[2], 0), num(s[3], 0), num(s[4], 0),
          num(s[5], 0)}
end
"""

# ARGV: interval, cfg (configured interval), lookahead, hold, ttl_ms, token, stamped, pv,
# per, peek. A peek answers the next free slot and reserves nothing.
_RESERVE = (
    _PRELUDE
    + """
local interval, cfg, lookahead = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local hold, ttl, token, stamped = tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
local pv, per, peek = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10] == '1'
local r = redis.call('HMGET', key, 'last', 'paused', 'held', 'hsince', 'boot', 'pv',
                     'cfg', 'cfgat', 'departed', 'cfgper')
local last, paused, held, hsince = num(r[1], nil), num(r[2], 0), num(r[3], 0), num(r[4], 0)
local boot, spv, scfg, cfgat = r[5], num(r[6], 0), num(r[7], 0), num(r[8], 0)
local set = {}
-- A record from another server, or none on a server younger than an interval: the
-- latest departure may be unknown, so the next one waits a full interval from now.
local info = redis.call('INFO', 'server')
local run_id = string.match(info, 'run_id:(%w+)') or '?'
local uptime = tonumber(string.match(info, 'uptime_in_seconds:(%d+)')) or 0
if boot ~= run_id then
  if boot or uptime * 1000000 < interval + lookahead then
    last = math.max(last or 0, now + lookahead)
    table.insert(set, 'last'); table.insert(set, f(last))
  end
  table.insert(set, 'boot'); table.insert(set, run_id)
end
-- The strictest configured interval wins while its holder is active (it reserved within
-- two of its windows, or a minute): then a looser configuration takes over again.
if cfgat + math.max(2 * math.max(per, num(r[10], 0)), 60000000) < now then scfg = 0 end
if cfg >= scfg then
  scfg = cfg
  table.insert(set, 'cfg'); table.insert(set, f(cfg))
  table.insert(set, 'cfgat'); table.insert(set, f(now))
  table.insert(set, 'cfgper'); table.insert(set, f(per))
end
interval = math.max(interval, scfg)
if held > 0 and now >= hsince + hold then
  held = 0  -- the holder never reported its write: the hold is bounded
  table.insert(set, 'held'); table.insert(set, '0')
end
local slot = math.max(now, paused)
if last then slot = math.max(slot, last + interval) end
local status = -1
if spv > pv and not peek then status = 2
elseif held > 0 and not peek then status = 3
elseif peek or slot - now > lookahead then status = 1
else
  status = 0
  table.insert(set, 'last'); table.insert(set, f(slot))
  table.insert(set, 'prev'); table.insert(set, last and f(last) or '')
  table.insert(set, 'res'); table.insert(set, token)
  table.insert(set, 'rstamp'); table.insert(set, tostring(stamped))
  table.insert(set, 'departed'); table.insert(set, f(num(r[9], 0) + 1))
  if stamped == 1 then
    if held == 0 then table.insert(set, 'hsince'); table.insert(set, f(slot)) end
    table.insert(set, 'held'); table.insert(set, f(held + 1))
  end
end
if #set > 0 then
  redis.call('HSET', key, unpack(set))
  redis.call('PEXPIRE', key, ttl)
end
return answer(status, slot)
"""
)

# ARGV: token. Undo the latest reservation if it is still this token's.
_ROLLBACK = (
    _PRELUDE
    + """
local r = redis.call('HMGET', key, 'res', 'prev', 'rstamp', 'held', 'departed')
if r[1] ~= ARGV[1] then return answer(0, 0) end
if r[2] and r[2] ~= '' then redis.call('HSET', key, 'last', r[2])
else redis.call('HDEL', key, 'last') end
redis.call('HDEL', key, 'res', 'prev', 'rstamp')
if r[3] == '1' then
  local held = math.max(num(r[4], 0) - 1, 0)
  redis.call('HSET', key, 'held', f(held))
end
redis.call('HSET', key, 'departed', f(math.max(num(r[5], 0) - 1, 0)))
return answer(1, 0)
"""
)

# ARGV: at (server time of the write), tolerance, stamped, ttl_ms.
_SENT = (
    _PRELUDE
    + """
local at, tol, stamped, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
at = math.min(at, now)
local r = redis.call('HMGET', key, 'last', 'held')
if stamped == '1' then
  local held = math.max(num(r[2], 0) - 1, 0)
  redis.call('HSET', key, 'held', f(held))
  if held > 0 then redis.call('HSET', key, 'hsince', f(now)) end
end
local last = num(r[1], nil)
if last == nil or at - last > tol then redis.call('HSET', key, 'last', f(at)) end
redis.call('PEXPIRE', key, ttl)
return answer(0, 0)
"""
)

# ARGV: seconds (µs), ttl_ms.
_PAUSE = (
    _PRELUDE
    + """
local ends = now + tonumber(ARGV[1])
local r = redis.call('HMGET', key, 'paused', 'pauses')
redis.call('HSET', key, 'paused', f(math.max(num(r[1], 0), ends)),
           'pauses', f(num(r[2], 0) + 1))
redis.call('PEXPIRE', key, ARGV[2])
return answer(0, 0)
"""
)

# ARGV: seconds (µs), the caller's tightened least budget (µs), ttl_ms. Status 1: this
# refusal tightened the scope (strict, budget widened, version up); 0: counted only.
_REFUSED = (
    _PRELUDE
    + """
local r = redis.call('HMGET', key, 'departed', 'dat', 'refusals', 'minb', 'pv', 'paused',
                     'pauses')
local departed, dat, refusals = num(r[1], 0), num(r[2], 0), num(r[3], 0)
local tightened = 0
if departed > dat or refusals == 0 then
  tightened = 1
  redis.call('HSET', key, 'strict', '1', 'minb', f(math.max(num(r[4], 0), tonumber(ARGV[2]))),
             'dat', f(departed), 'pv', f(num(r[5], 0) + 1))
end
redis.call('HSET', key, 'refusals', f(refusals + 1),
           'paused', f(math.max(num(r[6], 0), now + tonumber(ARGV[1]))),
           'pauses', f(num(r[7], 0) + 1))
redis.call('PEXPIRE', key, ARGV[3])
return answer(tightened, 0)
"""
)

_SCRIPTS = {
    "reserve": _RESERVE,
    "rollback": _ROLLBACK,
    "sent": _SENT,
    "pause": _PAUSE,
    "refused": _REFUSED,
}


# -- URLs ----------------------------------------------------------------------------------


def check_url(url: object, *, field: str = "url") -> str:
    """``url`` if it is a Redis URL (``redis://``, ``rediss://``, ``unix://``).

    The error never echoes the value: it may hold a password.

    Example:
        >>> check_url("redis://127.0.0.1:6379/0")
        'redis://127.0.0.1:6379/0'
    """
    if not isinstance(url, str):
        raise ValidationError(
            f"must be a redis://, rediss:// or unix:// URL, got {type(url).__name__}", field=field
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port if parts.scheme != "unix" else None
    except ValueError:
        raise ValidationError("is not a valid Redis URL (value not shown)", field=field) from None
    if parts.scheme not in _SCHEMES:
        raise ValidationError(
            "must be a redis://, rediss:// or unix:// URL (value not shown)", field=field
        )
    if parts.scheme == "unix" and not parts.path:
        raise ValidationError("a unix:// URL needs a socket path", field=field)
    if parts.scheme != "unix" and not parts.hostname:
        raise ValidationError("a Redis URL needs a host (value not shown)", field=field)
    if port == 0:
        raise ValidationError("a Redis URL needs a port above 0", field=field)
    return url.strip()


def shown_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` parameter) shown as ``***``.

    Example:
        >>> shown_url("redis://app:s3cret@redis.internal:6379/0")
        'redis://app:***@redis.internal:6379/0'
        >>> shown_url("unix:///run/redis.sock?db=1&password=s3cret")
        'unix:///run/redis.sock?db=1&password=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        # A lone userinfo (redis://secret@host) is masked whole: it may be a password.
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    return f"{shown}?{query}" if query else shown


def _url_secrets(url: str) -> list[str]:
    """The values to scrub from texts about ``url``: its password, raw and decoded."""
    found: list[str] = []
    parts = urlsplit(url)
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, colon, password = userinfo.partition(":")
        found += [password, unquote(password)] if colon else [user, unquote(user)]
    for match in re.finditer(r"(?i)(?:^|&)password=([^&]*)", parts.query):
        found += [match.group(1), unquote(match.group(1))]
    return [value for value in found if value]


def _driver() -> ModuleType:
    """redis-py, imported on first use (the ``redis`` extra)."""
    try:
        import redis.asyncio  # the submodule must be loaded
    except ImportError:
        raise PacingUnavailableError(
            "the Redis pacing gate needs redis-py: pip install 'certmail-async[redis]'"
        ) from None
    import redis

    return redis


# -- the backend -----------------------------------------------------------------------------


@attrs.define
class _Loop:
    """What a backend keeps per event loop (redis-py clients are loop-bound)."""

    client: Any
    scripts: dict[str, Any]
    gates: dict[Hashable, RedisGate] = attrs.field(factory=dict)
    keeper: asyncio.Task[None] | None = None


class RedisPacing:
    """Pacing kept in Redis: every process and host using the URL shares each scope's cap.

    Pass it as ``pacing=`` to clients or to a BulkDispatcher; ``RateLimit(backend=url)`` or
    the ``CERTMAIL_PACING_URL`` environment variable select a process-wide one by URL. The
    schedule of each scope lives in one Redis hash and every decision is taken on the
    Redis server's clock, so client clock skew cannot break a cap. A 429 seen by any
    worker pauses and tightens the scope for all of them.

    Fails closed: while Redis does not answer no paced request leaves; a caller waits at
    most ``max_outage`` seconds (or its own deadline) and then gets
    [PacingUnavailableError][certmail_async.PacingUnavailableError], and the next call
    tries again. ``timeout`` bounds each Redis call; ``ttl`` is how long an idle scope's
    record is kept; ``namespace`` prefixes the keys (one Redis, several deployments). Key
    names hold an HMAC of the scope, never a token or a plain hash of it; the URL's
    password never shows in the repr, logs or errors. Close it with ``aclose()`` (or
    ``async with``); clients never close a backend they were given.

    Examples:
        >>> from certmail_async import PecMassivaClient, RedisPacing
        >>> pacing = RedisPacing("redis://:s3cret@redis.internal:6379/0")
        >>> pacing
        RedisPacing('redis://:***@redis.internal:6379/0')
        >>> client = PecMassivaClient(token="t", username="box@pecmassiva.com",
        ...                           password="p", pacing=pacing)
        >>> client._transport.backend is pacing
        True
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 1.0,
        max_outage: float = 10.0,
        ttl: float = 86400.0,
        namespace: str = "certmail:pacing",
    ) -> None:
        url = check_url(url)
        if importlib.util.find_spec("redis") is None:
            raise PacingUnavailableError(
                "the Redis pacing gate needs redis-py: pip install 'certmail-async[redis]'"
            )
        self.timeout = _seconds(timeout, "timeout", 0.001, 60.0)
        self.max_outage = _seconds(max_outage, "max_outage", 0.0, 3600.0)
        self.ttl = _seconds(ttl, "ttl", 1.0, 30 * 86400.0)
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
            raise ValidationError(
                "must be 1 to 64 letters, digits or : _ . - { }", field="namespace"
            )
        self.namespace = namespace
        self.url = shown_url(url)
        self._url = SecretStr(url)
        self._redactor = Redactor(_url_secrets(url))
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = (
            weakref.WeakKeyDictionary()
        )
        self._down_since: float | None = None
        self._errors: tuple[type[BaseException], ...] = (OSError, TimeoutError)

    def __repr__(self) -> str:
        return f"RedisPacing({self.url!r})"

    async def __aenter__(self) -> RedisPacing:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- gates -------------------------------------------------------------------------------

    def key(self, scope: Hashable) -> str:
        """The Redis key of ``scope``: the namespace and an HMAC of the scope's label.

        Examples:
            >>> RedisPacing("redis://127.0.0.1/0").key(("pecmassiva", "9f2c"))[:16]
            'certmail:pacing:'
        """
        mac = hmac.new(
            _HMAC_CONTEXT + self.namespace.encode(),
            _scope_label(scope).encode("utf-8", "surrogatepass"),
            hashlib.sha256,
        )
        return f"{self.namespace}:{mac.hexdigest()[:32]}"

    def gate(
        self, scope: Hashable, rate: RateLimit, *, claim: RateClaim | None = None
    ) -> RedisGate:
        """The gate of ``scope`` on the running event loop (stricter rates win).

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit
            >>> async def show() -> float:
            ...     pacing = RedisPacing("redis://127.0.0.1:6379/0")
            ...     gate = pacing.gate("doc", RateLimit(requests=1, per=1.0))
            ...     return gate.interval  # nothing asked of Redis yet
            >>> asyncio.run(show())
            1.05
        """
        state = self._loop_state()
        gate = state.gates.get(scope)
        if gate is None:
            gate = state.gates[scope] = RedisGate(self, rate, scope)
        gate._adopt(rate, claim)  # a client's claim counts while it is open
        return gate

    def _loop_state(self) -> _Loop:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            redis = _driver()
            self._errors = (redis.RedisError, OSError, TimeoutError)
            retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0)
            client = redis.asyncio.Redis.from_url(
                self._url.get_secret_value(),
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=retry,
                client_name="certmail_async-pacing",
            )
            scripts = {name: client.register_script(text) for name, text in _SCRIPTS.items()}
            state = self._loops[loop] = _Loop(client=client, scripts=scripts)
            # Closed with the loop: asyncio.run() (and every Runner) cancels the tasks left
            # when its main coroutine returns, and this one closes the connections then.
            state.keeper = loop.create_task(self._keeper(state), name="certmail-pacing-redis")
        return state

    async def _keeper(self, state: _Loop) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await self._close(state)

    async def _close(self, state: _Loop) -> None:
        for gate in list(state.gates.values()):
            with contextlib.suppress(Exception):
                await gate.aclose()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout):
                await state.client.aclose()

    async def aclose(self) -> None:
        """Send what the gates of this event loop still owe Redis, then close the connections.

        Bounded by ``timeout``; the backend can be used again afterwards (it reconnects).

        Examples:
            >>> import asyncio
            >>> async def close() -> None:
            ...     async with RedisPacing("redis://127.0.0.1:6379/0"):
            ...         pass  # never connected: nothing to close
            >>> asyncio.run(close())
        """
        loop = asyncio.get_running_loop()
        state = self._loops.pop(loop, None)
        if state is None:
            return
        keeper = state.keeper
        if keeper is not None and not keeper.done() and keeper is not asyncio.current_task():
            keeper.cancel()
            await asyncio.wait({keeper})  # its finally closes the connections
        else:
            await self._close(state)

    # -- calls ------------------------------------------------------------------------------

    async def _run(
        self, key: str, name: str, args: Sequence[str | int], give_up: float
    ) -> tuple[list[int], float, float]:
        """One script call, retried while Redis does not answer, until ``give_up``.

        Returns the answer and the loop times the call was sent and answered. Raises
        PacingUnavailableError once ``give_up`` (loop time) passes without an answer.
        """
        loop = asyncio.get_running_loop()
        delay = _RETRY_FIRST
        while True:
            state = self._loop_state()
            sent = loop.time()
            try:
                async with asyncio.timeout(self.timeout):
                    raw = await state.scripts[name](keys=[key], args=list(args))
            except self._errors as error:
                self._failed(error)
                now = loop.time()
                if now >= give_up:
                    raise self._unavailable(error, now - sent) from None
                await asyncio.sleep(min(delay, give_up - now))
                delay = min(delay * 2, _RETRY_MAX)
                continue
            answered = loop.time()
            self._recovered(loop.time())
            return [int(value) for value in raw], sent, answered

    def _failed(self, error: BaseException) -> None:
        loop = asyncio.get_running_loop()
        if self._down_since is None:
            self._down_since = loop.time()
            logger.warning(
                "pacing gate %s unreachable (%s): paced requests wait for it, none leaves unpaced",
                self.url,
                self._describe(error),
                extra={"pacing_url": self.url},
            )

    def _recovered(self, now: float) -> None:
        if self._down_since is not None:
            logger.info(
                "pacing gate %s answers again after %.3fs",
                self.url,
                now - self._down_since,
                extra={"pacing_url": self.url, "outage": now - self._down_since},
            )
            self._down_since = None

    def _describe(self, error: BaseException) -> str:
        text = self._redactor.scrub(str(error))[:200]
        return f"{type(error).__name__}: {text}" if text else type(error).__name__

    def _unavailable(self, error: BaseException, waited: float) -> PacingUnavailableError:
        down = 0.0
        with contextlib.suppress(RuntimeError):
            if self._down_since is not None:
                down = asyncio.get_running_loop().time() - self._down_since
        return PacingUnavailableError(
            f"the pacing gate {self.url} did not answer ({self._describe(error)}; "
            f"unreachable for {max(down, waited):.1f} s): nothing was sent",
            url=self.url,
        )


def _seconds(value: object, field: str, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (low <= value <= high and math.isfinite(value))
    ):
        raise ValidationError(f"must be seconds from {low} to {high}, got {value!r}", field=field)
    return float(value)


_SHARED: dict[str, RedisPacing] = {}


def shared_backend(url: str, *, field: str = "url") -> RedisPacing:
    """The process-wide RedisPacing of ``url`` (``RateLimit.backend``, ``CERTMAIL_PACING_URL``).

    Example:
        >>> shared_backend("redis://127.0.0.1/0") is shared_backend("redis://127.0.0.1/0")
        True
    """
    url = check_url(url, field=field)
    backend = _SHARED.get(url)
    if backend is None:
        backend = _SHARED[url] = RedisPacing(url)
    return backend


# -- the gate --------------------------------------------------------------------------------


@attrs.frozen
class _Reply:
    status: int
    now: float  # server seconds
    slot: float  # server seconds
    paused: float
    strict: bool
    min_budget: float
    version: int
    refusals: int
    sent: float  # loop time the call left
    answered: float  # loop time the answer came

    @classmethod
    def of(cls, raw: list[int], sent: float, answered: float) -> _Reply:
        return cls(
            status=raw[0],
            now=raw[1] / 1e6,
            slot=raw[2] / 1e6,
            paused=raw[3] / 1e6,
            strict=raw[4] == 1,
            min_budget=raw[5] / 1e6,
            version=raw[6],
            refusals=raw[7],
            sent=sent,
            answered=answered,
        )

    def local(self, server: float) -> float:
        """The loop time of server time ``server``, never earlier than the server meant."""
        return self.answered + (server - self.now)


@attrs.frozen
class _Op:
    """An update queued for Redis by a synchronous method (sent in order)."""

    script: str
    args: tuple[str | int, ...]


def _us(seconds: float) -> int:
    return max(round(seconds * 1e6), 0)


class RedisGate:
    """The gate of one scope kept in Redis: the contract of the in-process Gate.

    Obtained from [RedisPacing.gate][certmail_async.RedisPacing.gate]; the transport drives
    it like the in-process gate. Synchronous methods act locally at once and queue their
    Redis update (sent in order, before this gate's next reservation).
    """

    def __init__(self, backend: RedisPacing, rate: RateLimit, scope: Hashable) -> None:
        self._backend = backend
        self._scope = scope
        self.key = backend.key(scope)
        self._policy = PacingPolicy.of(rate)
        self._configured_strict = rate.mode == "strict"
        self._version = 0  # the shared tightening merged into the policy
        self._lane = asyncio.Lock()  # departures of this process, FIFO
        self._admission = asyncio.Lock()
        self._io = asyncio.Lock()  # the outbox goes out in order
        self._outbox: deque[_Op] = deque(maxlen=1024)
        self._flusher: asyncio.Task[None] | None = None
        self._next_free = -math.inf  # the scope's next free slot (loop time), last known
        self._paused_until = -math.inf  # the scope's pause (loop time): local and shared
        self._admitted_at = -math.inf
        self._offset = 0.0  # server time - loop time, as late as it can be (for writes)
        self._last_departure = -math.inf
        self._held = 0  # stamped departures of this process not yet reported written
        self._queued = 0
        self._departed_at_tightening = 0
        self.admitted = 0
        self.departed = 0
        self.pauses = 0
        self.turned_away = 0

    # -- what it keeps ---------------------------------------------------------------------

    @property
    def rate(self) -> RateLimit:
        """The cap this gate keeps (the stricter one when clients of the scope differ)."""
        return self._policy.rate

    @property
    def policy(self) -> PacingPolicy:
        """The adaptive rules (mode, budget, jitter), merged with the shared tightening."""
        return self._policy

    @property
    def interval(self) -> float:
        """The current spacing between departures (seconds)."""
        return self._policy.interval

    @property
    def state(self) -> PacingState:
        """A snapshot: this process's counts, the scope's shared tightening and pause."""
        return self._policy.snapshot(
            _scope_label(self._scope),
            pauses=self.pauses,
            departed=self.departed,
            paused_for=self.paused_for,
        )

    @property
    def paused_for(self) -> float:
        """Seconds left in the scope's pause, as last known (0 when not paused)."""
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0
        return max(self._paused_until - now, 0.0)

    def _adopt(self, rate: RateLimit, claim: RateClaim | None = None) -> None:
        self._configured_strict = self._configured_strict or rate.mode == "strict"
        self._policy.adopt(rate, claim)

    def _lookahead(self) -> float:
        return min(LOOKAHEAD, self._policy.interval / 4)

    def __repr__(self) -> str:
        policy = self._policy
        return (
            f"<RedisGate {self._backend.url} interval={policy.interval}s mode={policy.mode} "
            f"budget={policy.budget}s departed={self.departed}>"
        )

    # -- Redis -------------------------------------------------------------------------------

    def _absorb(self, reply: _Reply) -> None:
        """Cache what an answer says of the scope: pause, tightening, clock offset."""
        self._offset = reply.now - reply.sent  # a write is never reported early
        if reply.paused > 0:
            self._paused_until = max(self._paused_until, reply.local(reply.paused))
        if reply.version > self._version or reply.strict:
            self._policy.merge("strict" if reply.strict else self._policy.mode, reply.min_budget)
            self._version = max(self._version, reply.version)
        self._policy.refusals = max(self._policy.refusals, reply.refusals)

    async def _call(self, op: _Op, give_up: float) -> _Reply:
        raw, sent, answered = await self._backend._run(self.key, op.script, op.args, give_up)
        reply = _Reply.of(raw, sent, answered)
        self._absorb(reply)
        return reply

    def _ttl_ms(self) -> int:
        return round(max(self._backend.ttl, 4 * self._policy.rate.per) * 1000)

    def _reserve_op(self, token: str, stamped: bool, *, peek: bool) -> _Op:
        policy = self._policy
        interval = policy.interval
        configured = spacing(policy.rate, policy.rate.mode, policy.rate.budget)
        return _Op(
            "reserve",
            (
                _us(interval),
                _us(configured),
                _us(self._lookahead()),
                _us(HOLD_INTERVALS * interval),
                self._ttl_ms(),
                token,
                1 if stamped else 0,
                self._version,
                _us(policy.rate.per),
                1 if peek else 0,
            ),
        )

    async def _flush(self, give_up: float) -> None:
        """Send the outbox, in order (PacingUnavailableError when Redis stays away)."""
        async with self._io:
            while self._outbox:
                op = self._outbox[0]
                reply = await self._call(op, give_up)
                self._outbox.popleft()
                if op.script == "refused" and reply.status == 1:
                    logger.debug(
                        "pacing scope %s: tightening shared through %s",
                        _scope_label(self._scope),
                        self._backend.url,
                        extra={"scope": _scope_label(self._scope)},
                    )

    def _push(self, op: _Op) -> None:
        self._outbox.append(op)
        if self._flusher is None or self._flusher.done():
            loop = asyncio.get_running_loop()
            self._flusher = loop.create_task(self._background_flush())

    async def _background_flush(self) -> None:
        loop = asyncio.get_running_loop()
        # Ops left over after an outage go out before the next reservation.
        with contextlib.suppress(PacingUnavailableError):
            await self._flush(loop.time() + self._backend.max_outage)

    async def _peek(self, give_up: float) -> _Reply:
        reply = await self._call(self._reserve_op("", False, peek=True), give_up)
        self._next_free = reply.local(reply.slot)
        return reply

    def _give_up(self, deadline: float | None) -> float:
        loop = asyncio.get_running_loop()
        bound = loop.time() + self._backend.max_outage
        return bound if deadline is None else min(bound, deadline)

    async def aclose(self) -> None:
        """Send what is still queued for Redis (bounded by the backend's timeout)."""
        loop = asyncio.get_running_loop()
        if self._outbox:
            with contextlib.suppress(PacingUnavailableError):
                await self._flush(loop.time() + self._backend.timeout)
        flusher = self._flusher
        if flusher is not None and not flusher.done() and flusher is not asyncio.current_task():
            flusher.cancel()
            await asyncio.wait({flusher})

    # -- admission -------------------------------------------------------------------------

    def expected_wait(self) -> float:
        """Seconds a new caller would wait for its slot (from the last known schedule)."""
        now = asyncio.get_running_loop().time()
        interval = self._policy.interval
        free = max(now, self._next_free, self._paused_until)
        if self._queued == 0:
            free = max(free, self._admitted_at + _ADMIT_EARLY * interval)
        return free - now + self._queued * interval

    async def wait_unpaused(self, max_wait: float | None = None) -> None:
        """Wait while the scope is paused (the pause shared in Redis); takes no slot.

        Raises SlotUnavailable at once when the pause outlasts ``max_wait``. When Redis does
        not answer, the last pause this process knows is honoured.
        """
        loop = asyncio.get_running_loop()
        with contextlib.suppress(PacingUnavailableError):
            await self._peek(loop.time())  # one attempt: reads do not wait for Redis
        if max_wait is not None and self._paused_until - loop.time() > max_wait:
            self.turned_away += 1
            raise SlotUnavailable(self._paused_until - loop.time())
        while (wait := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait for admission: shortly before the scope's next free slot, after any pause.

        With ``max_wait``, a caller whose slot is further away raises SlotUnavailable at
        once, taking nothing. Raises PacingUnavailableError when Redis does not answer
        within the backend's ``max_outage`` (or ``max_wait``).
        """
        loop = asyncio.get_running_loop()
        deadline = None if max_wait is None else loop.time() + max_wait
        await self._peek(self._give_up(deadline))
        if max_wait is not None:
            wait = self.expected_wait()
            if wait > max_wait:
                self.turned_away += 1
                raise SlotUnavailable(wait)
        self._queued += 1
        try:
            async with (
                asyncio.timeout_at(None if deadline is None else deadline + 0.05),
                self._admission,
            ):
                while True:
                    now = loop.time()
                    interval = self._policy.interval
                    lead = max(self._lookahead(), (1 - _ADMIT_EARLY) * interval)
                    due = max(
                        self._next_free - lead,
                        self._paused_until,
                        self._admitted_at + _ADMIT_EARLY * interval,
                    )
                    if due <= now + _EPSILON:
                        break
                    await asyncio.sleep(max(min(due - now, interval), _MIN_SLEEP))
                    await self._peek(self._give_up(deadline))
                self._admitted_at = now
                self.admitted += 1
        except TimeoutError:
            self._queued -= 1
            self.turned_away += 1
            raise SlotUnavailable(self.expected_wait()) from None
        except BaseException:
            self._queued -= 1
            raise

    def abandon(self) -> None:
        """An admitted caller will not depart after all: the next may be admitted at once."""
        self._queued = max(self._queued - 1, 0)
        self._admitted_at = -math.inf

    # -- departure -------------------------------------------------------------------------

    async def depart(self, *, stamped: bool = False) -> float:
        """Right before the request is written: reserve this departure's slot and wait for it.

        The reservation is made in Redis on its clock, at most LOOKAHEAD before the slot.
        Returns the loop time it left. With ``stamped=True`` the caller reports the write
        with ``sent`` and the scope's next departure (in any process) waits for that
        report (at most HOLD_INTERVALS intervals). A caller cancelled after reserving rolls
        its reservation back when it is still the latest.
        """
        loop = asyncio.get_running_loop()
        token = secrets.token_hex(8)
        reserving = False
        try:
            async with self._lane:
                while True:
                    now = loop.time()
                    if self._paused_until > now + _EPSILON:
                        await asyncio.sleep(self._paused_until - now)
                        continue
                    await self._flush(self._give_up(None))  # own pauses and writes first
                    reserving = True
                    op = self._reserve_op(token, stamped, peek=False)
                    reply = await self._call(op, self._give_up(None))
                    interval = self._policy.interval
                    if reply.status == _GRANTED:
                        break
                    reserving = False  # nothing was reserved
                    if reply.status == _STALE:
                        continue  # the shared tightening is merged now: ask again
                    if reply.status == _HELD:
                        await asyncio.sleep(_poll(interval))
                        continue
                    self._next_free = reply.local(reply.slot)
                    wait = self._next_free - loop.time() - self._lookahead() / 2
                    await asyncio.sleep(min(max(wait, _MIN_SLEEP), interval))
                slot = reply.local(reply.slot)
                self._next_free = slot + interval
                slept = False
                while (wait := slot - loop.time()) > _EPSILON:
                    slept = True
                    await asyncio.sleep(wait)
                now = loop.time()
                reserving = False  # departed: no rollback any more
                late = now - slot
                if late > self._policy.tolerance:
                    if slept:
                        logger.debug(
                            "pacing scope %s: a departure left %.3fs after its slot; the "
                            "next waits from it",
                            _scope_label(self._scope),
                            late,
                            extra={"scope": _scope_label(self._scope), "late": late},
                        )
                    self._push(self._sent_op(now, stamped=False))
                self._last_departure = now
                if stamped:
                    self._held += 1
                self.departed += 1
        except BaseException:
            self._admitted_at = -math.inf  # the next caller need not wait for this one
            if reserving:
                self._push(_Op("rollback", (token,)))
            raise
        finally:
            self._queued = max(self._queued - 1, 0)
        return now

    def _sent_op(self, at: float, *, stamped: bool) -> _Op:
        return _Op(
            "sent",
            (
                _us(at + self._offset),
                _us(self._policy.tolerance),
                1 if stamped else 0,
                self._ttl_ms(),
            ),
        )

    def sent(self, at: float | None = None) -> None:
        """The request was written at loop time ``at`` (default now).

        A write later than the scope's latest slot by more than the tolerance moves the
        schedule in Redis (the next departure, in any process, leaves one interval after
        it). Also ends the hold of a ``stamped`` departure.
        """
        now = asyncio.get_running_loop().time()
        at = now if at is None or not math.isfinite(at) else min(at, now)
        stamped = self._held > 0
        if stamped:
            self._held -= 1
        elif at - self._last_departure <= self._policy.tolerance:
            return  # on time and holding nobody: nothing to tell
        self._push(self._sent_op(at, stamped=stamped))

    # -- learning --------------------------------------------------------------------------

    def observe(self, rtt: float) -> None:
        """One round trip (write -> response headers, seconds): feeds the jitter estimate."""
        self._policy.observe(rtt)

    def refused(self, retry_after: float | None = None) -> None:
        """A 429 on a paced request: pause and tighten the scope, for every process.

        Acts at once in this process (WARNING when it tightens, as the in-process gate) and
        shares the pause and the tightening through Redis: the scope goes strict with a
        wider budget unless no departure left since the last tightening.
        """
        seconds = self._pause_seconds(retry_after)
        candidate = PacingPolicy(
            rate=self._policy.rate,
            mode=self._policy.mode,
            min_budget=self._policy.min_budget,
            refusals=self._policy.refusals,
        )
        candidate.rtts.extend(self._policy.rtts)
        candidate.tighten()
        if self.departed > self._departed_at_tightening or self._policy.refusals == 0:
            self._departed_at_tightening = self.departed
            mode = self._policy.mode
            old, new = self._policy.tighten()
            logger.warning(
                "pacing scope %s refused for rate: %s spacing now, budget %.3fs -> %.3fs "
                "(one request every %.3fs)",
                _scope_label(self._scope),
                "strict" if mode == "window" else "still strict",
                old,
                new,
                self._policy.interval,
                extra={
                    "scope": _scope_label(self._scope),
                    "budget": new,
                    "interval": self._policy.interval,
                },
            )
        else:
            self._policy.refusals += 1
        self._pause_here(seconds)
        self._push(_Op("refused", (_us(seconds), _us(candidate.min_budget), self._ttl_ms())))

    def hint(self, remaining: int | None, reset_after: float | None) -> None:
        """Rate-limit headers on an answer: ``remaining == 0`` pauses until the reset."""
        if remaining is None or remaining > 0 or reset_after is None:
            return
        if math.isfinite(reset_after) and reset_after > 0:
            self.pause(reset_after)

    def _pause_seconds(self, seconds: float | None) -> float:
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            return self._policy.rate.window
        return float(seconds)

    def _pause_here(self, seconds: float) -> None:
        until = asyncio.get_running_loop().time() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.info(
                "pacing scope paused for %.3fs",
                seconds,
                extra={"scope": _scope_label(self._scope), "pause": seconds},
            )
        self.pauses += 1

    def pause(self, seconds: float | None) -> None:
        """Hold every request of the scope, in every process, for ``seconds``.

        ``None``, NaN, infinite or negative values mean one window; callers bound it.
        """
        seconds = self._pause_seconds(seconds)
        self._pause_here(seconds)
        self._push(_Op("pause", (_us(seconds), self._ttl_ms())))
