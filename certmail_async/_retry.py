# How certmail_async retries, and why it never retries a send that may have happened
# ----------------------------------------------------------------------------------
#
# A certified e-mail cannot be recalled and no provider offers an idempotency key, so the
# retry rules are asymmetric. They live in ONE pure function, `decide`, which the
# transport calls after every failed attempt and the bulk dispatcher calls for its lane
# pauses; nothing else in the SDK decides whether to try again.
#
# * Reads (list receipts, read the inbox, account info...) are safe to repeat. They are
#   retried on a connection failure, a timeout, a reset, a rate-limit answer and HTTP
#   500/502/503/504, up to ``max_retries`` times, with capped exponential backoff and full
#   jitter: ``sleep = uniform(0, min(cap, base * 2**attempt))``. Full jitter (AWS
#   architecture blog, "Exponential Backoff And Jitter") spreads a herd of clients best
#   for the same total wait.
# * Sends (``OpKind.SEND``) are retried only when the request provably did not take
#   effect: the connection could not be opened (nothing was written to the wire) or the
#   provider answered "slow down" (it refused to process it). After a 5xx, a timeout or a
#   reset the answer is ``UNKNOWN``: the caller gets DeliveryUnknownError and the bulk
#   dispatcher reconciles against the provider's own records before any resend.
# * Other calls that change state or charge money (``OpKind.WRITE``: register, renew...)
#   follow the send rules but raise the underlying error instead of DeliveryUnknownError.
# * Any other 4xx is the caller's problem and is never retried.
#
# Waits are bounded. A ``Retry-After`` (seconds or an HTTP date) overrides the backoff, but
# never beyond ``RetryPolicy.max_retry_after`` (default 300 s): that cap is THE bound of
# every wait the SDK takes after a refusal, the scope pause of the pacing gate included.
# Absurd values (``inf``, ``nan``, ``1e309``, negative, a date in the past, a week ahead)
# come out clamped, and the decision says so (``clamped=True``) so the caller logs it.
"""Retry policy, Retry-After parsing and the one retry decision (`decide`)."""

from __future__ import annotations

import email.utils
import enum
import math
import random
from datetime import UTC, datetime

import attrs

from ._exceptions import ValidationError

# decide() and its enums are the SDK's internal contract (transport, bulk dispatcher).
__all__ = ["RetryPolicy", "parse_retry_after"]

RETRYABLE_READ_STATUSES = frozenset({429, 500, 502, 503, 504})


class OpKind(enum.Enum):
    """What repeating an operation would do.

    Examples:
        >>> OpKind.SEND.value
        'send'
    """

    READ = "read"  # harmless to repeat
    SEND = "send"  # delivers a message: an unknown outcome is DeliveryUnknownError
    WRITE = "write"  # changes or charges: never repeated once it may have happened


class Failure(enum.Enum):
    """What went wrong with one attempt.

    Examples:
        >>> Failure.CONNECT.value
        'connect'
    """

    CONNECT = "connect"  # the connection could not be opened: nothing left the process
    TIMEOUT = "timeout"  # no answer in time: the request may have been processed
    RESET = "reset"  # the connection broke after the request left
    RATE_LIMITED = "rate_limited"  # HTTP 429 or the provider's own "slow down" answer
    STATUS = "status"  # another HTTP error status (give ``status=``)


class Action(enum.Enum):
    """What to do after a failed attempt.

    Examples:
        >>> Action.RETRY.value
        'retry'
    """

    RETRY = "retry"  # wait ``Decision.wait`` seconds, then try again
    RAISE = "raise"  # raise the underlying error
    UNKNOWN = "unknown"  # a send may have happened: raise DeliveryUnknownError


@attrs.frozen(kw_only=True)
class Decision:
    """The outcome of `decide`.

    ``wait`` is the seconds to wait before the retry (for a rate-limit answer: the scope
    pause, already clamped to ``RetryPolicy.max_retry_after``); ``pause`` says that the
    wait is a pause of the whole pacing scope, not a private backoff; ``clamped`` says an
    absurd or excessive ``Retry-After`` was cut down (log it at WARNING).

    Examples:
        >>> decide(kind=OpKind.SEND, failure=Failure.TIMEOUT, attempt=0, max_retries=2)
        Decision(action=<Action.UNKNOWN: 'unknown'>, wait=0.0, pause=False, clamped=False)
    """

    action: Action
    wait: float = 0.0
    pause: bool = False
    clamped: bool = False


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Backoff parameters (seconds). Tests pass ``base=0`` to retry without waiting.

    ``max_retry_after`` caps every wait after a refusal: a ``Retry-After`` header and the
    scope pause of the pacing gate alike.

    Examples:
        >>> p = RetryPolicy(base=0.5, cap=8.0)
        >>> 0 <= p.backoff(3) <= 4.0
        True
        >>> RetryPolicy(max_retry_after=60).clamp_retry_after(86400.0)
        (60.0, True)
    """

    base: float = attrs.field(default=0.5)
    cap: float = attrs.field(default=8.0)
    max_retry_after: float = attrs.field(default=300.0)

    @base.validator
    @cap.validator
    @max_retry_after.validator
    def _check(self, attribute: attrs.Attribute[float], value: float) -> None:
        # A ValidationError naming the field (a ValueError too), like every public input.
        field = f"retry_policy.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "None" if value is None else type(value).__name__
            raise ValidationError(
                f"RetryPolicy.{attribute.name} must be a number of seconds, got {kind}", field=field
            )
        if not (math.isfinite(value) and value >= 0):
            raise ValidationError(
                f"RetryPolicy.{attribute.name} must be finite and >= 0, got {value!r}", field=field
            )

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 62)))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def clamp_retry_after(self, seconds: float) -> tuple[float, bool]:
        """``seconds`` bounded to ``[0, max_retry_after]``, and whether it had to be cut.

        NaN counts as absurd and becomes the cap (the provider asked to slow down).
        """
        if math.isnan(seconds) or seconds > self.max_retry_after:
            return float(self.max_retry_after), True
        if seconds < 0:
            return 0.0, True
        return float(seconds), False

    def wait_for(self, attempt: int, retry_after: float | None) -> float:
        """The wait before the next attempt: Retry-After when given (bounded), else backoff."""
        if retry_after is not None:
            return self.clamp_retry_after(retry_after)[0]
        return self.backoff(attempt)


DEFAULT_POLICY = RetryPolicy()


def decide(
    *,
    kind: OpKind,
    failure: Failure,
    attempt: int,
    max_retries: int,
    status: int | None = None,
    retry_after: float | None = None,
    window: float | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Decision:
    """THE retry decision: pure, no I/O, no clock.

    ``attempt`` counts the attempts already failed before this one (0 for the first);
    ``retry_after`` is the raw parsed header (`parse_retry_after`, may be absurd);
    ``window`` is the scope's rate window, the pause after a rate-limit answer that gave
    no Retry-After (``None``: plain backoff).

    Examples:
        >>> d = decide(kind=OpKind.SEND, failure=Failure.RATE_LIMITED, attempt=0,
        ...            max_retries=2, retry_after=float("inf"))
        >>> d.action, d.wait, d.pause, d.clamped
        (<Action.RETRY: 'retry'>, 300.0, True, True)
        >>> decide(kind=OpKind.READ, failure=Failure.STATUS, status=503, attempt=2,
        ...        max_retries=2).action
        <Action.RAISE: 'raise'>
    """
    exhausted = attempt >= max_retries
    clamped = False
    if retry_after is not None and math.isnan(retry_after):
        retry_after, clamped = None, True  # unusable: as if absent, but say so
    if failure is Failure.RATE_LIMITED:
        # Refused, not processed: safe for every kind. The whole scope pauses even when
        # this call gives up, so its neighbours do not run into the same wall.
        if retry_after is not None:
            wait, clamped = policy.clamp_retry_after(retry_after)
        elif window is not None:
            wait = policy.clamp_retry_after(window)[0]
        else:
            wait = policy.backoff(attempt)
        action = Action.RAISE if exhausted else Action.RETRY
        return Decision(action=action, wait=wait, pause=True, clamped=clamped)
    if failure is Failure.CONNECT:
        # Nothing was written to the wire: even a send may go again.
        if exhausted:
            return Decision(action=Action.RAISE)
        return Decision(action=Action.RETRY, wait=policy.backoff(attempt))
    # A redirect answer to a send (never followed) may come after the provider processed it
    # (Post/Redirect/Get: 302, 303); only 307/308 say "not processed, repeat it there".
    redirected = status is not None and 300 <= status < 400 and status not in (307, 308)
    server_failed = failure is not Failure.STATUS or (
        status is not None and (status >= 500 or redirected)
    )
    if kind is OpKind.SEND and server_failed:
        return Decision(action=Action.UNKNOWN)
    if kind is not OpKind.READ or exhausted:
        return Decision(action=Action.RAISE)
    if failure is Failure.STATUS and status not in RETRYABLE_READ_STATUSES:
        return Decision(action=Action.RAISE)
    if retry_after is not None and failure is Failure.STATUS:
        wait, clamped = policy.clamp_retry_after(retry_after)
        return Decision(action=Action.RETRY, wait=wait, clamped=clamped)
    return Decision(action=Action.RETRY, wait=policy.backoff(attempt), clamped=clamped)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    The value is returned as the provider said it, absurd or not (``inf``, negative, a past
    date gives a negative number): `RetryPolicy.clamp_retry_after` bounds it, so the
    clamp can be logged. Garbage gives ``None``.

    Examples:
        >>> parse_retry_after("3")
        3.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT",
        ...     now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC))
        5.0
        >>> parse_retry_after("soon") is None
        True
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return (when - now).total_seconds()
