"""Public names a package loads on first use (PEP 562), in one place for every package.

A package's ``__init__`` keeps its imports cheap: names that pull in a rarely used module
(a provider, a parser, the fakes) are listed with the private module that defines them,
and the package's module-level ``__getattr__`` / ``__dir__`` call `LazyNames`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["LazyNames"]


class LazyNames:
    """Where each lazily loaded public name of ``package`` is defined.

    ``modules`` maps a private module (relative, ``"_pacing"``) to the names it defines;
    ``subpackages`` are imported when read as attributes. A loaded name is cached in
    ``namespace`` (the package's ``globals()``), so ``__getattr__`` runs once per name.

    Examples:
        >>> namespace: dict[str, object] = {}
        >>> names = LazyNames("certmail_async", namespace, {"_pacing": ("RateLimit",)})
        >>> names.load("RateLimit").__name__, "RateLimit" in namespace
        ('RateLimit', True)
        >>> names.load("Nope")
        Traceback (most recent call last):
        ...
        AttributeError: module 'certmail_async' has no attribute 'Nope'
    """

    __slots__ = ("_namespace", "_package", "_subpackages", "_where")

    def __init__(
        self,
        package: str,
        namespace: MutableMapping[str, Any],
        modules: Mapping[str, Iterable[str]],
        subpackages: Iterable[str] = (),
    ) -> None:
        self._package = package
        self._namespace = namespace
        self._where = {name: module for module, names in modules.items() for name in names}
        self._subpackages = frozenset(subpackages)

    def load(self, name: str) -> Any:
        """The value of ``name``, imported now and cached (AttributeError when unknown)."""
        if name in self._subpackages:
            return importlib.import_module(f".{name}", self._package)
        module = self._where.get(name)
        if module is None:
            raise AttributeError(f"module {self._package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", self._package), name)
        self._namespace[name] = value
        return value

    def names(self) -> list[str]:
        """The package's names for ``dir()``, the lazily loaded public ones included."""
        return sorted(set(self._namespace) | set(self._where))
