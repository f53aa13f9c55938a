"""Build model instances whose fields were forced past their checks (as hostile input is)."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def forced(instance: T, **fields: Any) -> T:
    """``instance`` with ``fields`` set by ``object.__setattr__`` (no checks run)."""
    for name, value in fields.items():
        object.__setattr__(instance, name, value)
    return instance
