"""The ``certmail`` command line. Needs the ``cli`` extra: ``pip install certmail-async[cli]``."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``certmail`` command."""
    try:
        from ._app import main as run
    except ImportError as error:  # pragma: no cover - depends on the install
        raise SystemExit(
            f"certmail needs the cli extra ({error.name} is missing): "
            "pip install 'certmail-async[cli]'"
        ) from None
    run()
