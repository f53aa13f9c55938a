"""Small shared types: the "not given" sentinel, secret holders and timeouts."""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeAlias, TypeVar

import attrs

__all__ = ["NOT_GIVEN", "NotGiven", "SecretStr", "Timeout", "TimeoutTypes"]

_T = TypeVar("_T")


class NotGiven(enum.Enum):
    """Sentinel for "use the client default", so that ``None`` can mean "no limit".

    Example:
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


def given(value: _T | NotGiven, default: _T) -> _T:
    """Return ``value`` unless it is ``NOT_GIVEN``, else ``default``."""
    return default if isinstance(value, NotGiven) else value


class SecretStr:
    """A string that never shows itself in a repr, a str() or a log line.

    Tokens, API keys and mailbox passwords are held in this type from the moment a client
    receives them; only the transport unwraps them, when it builds a request.

    Example:
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


@attrs.frozen(kw_only=True)
class Timeout:
    """Request time limits in seconds; ``None`` means no limit for that phase.

    ``connect`` bounds opening the TCP/TLS connection (a request that times out here was
    never sent); ``total`` bounds the whole exchange.

    Example:
        >>> Timeout(total=30.0, connect=5.0)
        Timeout(total=30.0, connect=5.0)
    """

    total: float | None = 30.0
    connect: float | None = 5.0

    @classmethod
    def coerce(cls, value: TimeoutTypes) -> Timeout:
        """Accept a ``Timeout``, a number of seconds (total) or ``None`` (no limit)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None)
        total = float(value)
        return cls(total=total, connect=min(total, 5.0))


TimeoutTypes: TypeAlias = "Timeout | float | None"
