"""Small shared types: the "not given" sentinel, secret holders and timeouts."""

from __future__ import annotations

import enum
import math
from typing import Final, Literal, TypeAlias, TypeVar

import attrs

from ._exceptions import ValidationError

__all__ = [
    "NOT_GIVEN",
    "NotGiven",
    "ResponseLimits",
    "SecretStr",
    "Timeout",
    "TimeoutTypes",
    "check_max_retries",
]

_T = TypeVar("_T")


class NotGiven(enum.Enum):
    """Sentinel for "use the client default", so that ``None`` can mean "no limit".

    Examples:
        >>> from certmail_async import NOT_GIVEN
        >>> NOT_GIVEN
        NOT_GIVEN
    """

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN
"""The per-call default: "whatever the client was built with" (``None`` means no limit).

Examples:
    >>> from certmail_async import NOT_GIVEN, Timeout
    >>> from certmail_async import NotGiven
    >>> def describe(timeout: Timeout | None | NotGiven = NOT_GIVEN) -> str:
    ...     if timeout is NOT_GIVEN:
    ...         return "the client's default"
    ...     return "no limit" if timeout is None else f"{timeout.total} s"
    >>> describe(), describe(None), describe(Timeout(total=5))
    ("the client's default", 'no limit', '5.0 s')
"""


def given(value: _T | NotGiven, default: _T) -> _T:
    """Return ``value`` unless it is ``NOT_GIVEN``, else ``default``."""
    return default if isinstance(value, NotGiven) else value


class SecretStr:
    """A string that never shows itself in a repr, a str() or a log line.

    Tokens, API keys and mailbox passwords are held in this type from the moment a client
    receives them; only the transport unwraps them, when it builds a request.

    Examples:
        >>> s = SecretStr("hunter2")
        >>> s
        SecretStr('**********')
        >>> s.get_secret_value()
        'hunter2'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | SecretStr) -> None:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a str, not {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        """Return the secret itself; call only where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretStr):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("SecretStr", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling (e.g. to a process pool) would copy the secret into a byte stream that
        # may end up on disk; refuse instead of leaking quietly.
        raise TypeError("SecretStr cannot be pickled")


def _seconds(value: object, field: str) -> float | None:
    """A positive finite number of seconds, or None; anything else is a ValidationError.

    Zero is refused too: aiohttp reads a timeout of 0 as "no timeout", so ``timeout=0``
    would wait forever on a server that never answers (``None`` says that explicitly).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"expected a number of seconds or None, got {type(value).__name__}", field=field
        )
    if not (math.isfinite(value) and value > 0):
        raise ValidationError(f"expected finite seconds > 0, got {value!r}", field=field)
    return float(value)


def _total_seconds(value: object) -> float | None:
    return _seconds(value, "timeout")


def _connect_seconds(value: object) -> float | None:
    return _seconds(value, "timeout.connect")


def check_max_retries(value: object, field: str = "max_retries") -> int:
    """``max_retries`` as an int >= 0 (bool, float and str refused) or a ValidationError.

    Examples:
        >>> check_max_retries(3)
        3
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"expected an integer >= 0, got {value!r}", field=field)
    return value


@attrs.frozen(kw_only=True)
class Timeout:
    """Request time limits in seconds; ``None`` means no limit for that phase.

    ``connect`` bounds opening the TCP/TLS connection (a request that times out here was
    never sent); ``total`` bounds the whole exchange, the wait for a pacing slot included:
    a call that cannot get its slot in time fails at once with ``RateLimitError``.
    Zero, negative, NaN, infinite or non-numeric values are a ``ValidationError`` naming the
    field (aiohttp would read 0 as no limit at all).

    Examples:
        >>> Timeout(total=30.0, connect=5.0)
        Timeout(total=30.0, connect=5.0)
    """

    total: float | None = attrs.field(default=30.0, converter=_total_seconds)
    connect: float | None = attrs.field(default=5.0, converter=_connect_seconds)

    @classmethod
    def coerce(cls, value: TimeoutTypes, field: str = "timeout") -> Timeout:
        """Accept a ``Timeout``, a number of seconds (total) or ``None`` (no limit)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None)
        total = _seconds(value, field)
        assert total is not None  # noqa: S101 - None was handled above
        return cls(total=total, connect=min(total, 5.0))


TimeoutTypes: TypeAlias = "Timeout | float | None"


def _positive_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"expected an integer >= 1, got {value!r}", field=field)
    return value


@attrs.frozen(kw_only=True)
class ResponseLimits:
    """How much of an answer the SDK reads: bytes after decompression, JSON nesting.

    ``json`` bounds ordinary JSON answers (default 10 MiB), ``document`` the answers that
    carry documents or whole messages (PDF forms, an inbox message; default 64 MiB),
    ``json_depth`` the nesting of any JSON answer (default 64 levels), ``json_values`` how
    many values one JSON answer may hold (default one million: ten megabytes of ``[],``
    would otherwise become half a gigabyte of Python lists). Past a byte limit
    the connection is dropped and the call raises ``ResponseTooLargeError`` (for a send,
    ``DeliveryUnknownError``: the provider may have accepted it).

    Examples:
        >>> ResponseLimits(json=1024 * 1024).document
        67108864
    """

    json: int = attrs.field(default=10 * 1024 * 1024)
    document: int = attrs.field(default=64 * 1024 * 1024)
    json_depth: int = attrs.field(default=64)
    json_values: int = attrs.field(default=1_000_000)

    @json.validator
    @document.validator
    @json_depth.validator
    @json_values.validator
    def _check(self, attribute: attrs.Attribute[int], value: int) -> None:
        _positive_int(value, f"response_limits.{attribute.name}")
