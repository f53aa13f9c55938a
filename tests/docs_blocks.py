"""The Python code blocks of README.md and docs/, with the marker that says how each is run.

A block runs as written unless the line right before its fence is a marker comment (an HTML
comment, invisible on the rendered page):

``<!-- docs-test: context NAME -->``
    A fragment that continues the prose: it runs with top-level ``await`` (as in
    ``python -m asyncio``) after the names the context defines. ``sdk``: every name of
    ``from certmail_async import *``. ``pecmassiva``: those plus ``fake`` (a running PEC
    Massiva fake) and ``client`` (a client paced under its cap). ``bulk``: the ``sdk`` names
    plus ``pecmassiva`` and ``legallymail`` clients on fakes, ``messages`` (a list of
    ``OutgoingMessage``) and ``dispatcher`` (a ``BulkDispatcher`` on ``jobs.sqlite`` that
    has already run job ``avvisi-2026-11``).
``<!-- docs-test: framework NAME -->``
    A web-framework example, run by ``tests/test_frameworks.py`` when NAME is installed.
``<!-- docs-test: skip REASON -->``
    Not run; REASON (e.g. "needs real credentials") is the skip reason the tests show.

Blocks without a marker run as programs in a fresh process (forked, per block, from one
that has only done the runner's imports), in an empty working directory, against the
fakes: the production and sandbox hosts of every provider point at running fakes, which
accept the credentials the block writes in its client calls (and the
``CERTMAIL_PECMASSIVA_*`` / ``CERTMAIL_LEGALLYMAIL_TOKEN`` variables are set to them). Top-level
``async def test_*`` functions are then called, as pytest would (the plugin's
``fake_pecmassiva`` and ``fake_legallymail`` fixtures are supplied by name).
"""

from __future__ import annotations

import pathlib
import re

import attrs

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<mode>[a-z]+)\s*(?P<arg>.*?)\s*-->\Z", re.ASCII)
MODES = ("context", "framework", "skip")
CONTEXTS = ("sdk", "pecmassiva", "bulk")


@attrs.frozen
class Block:
    """One fenced Python block: where it is, its code, and its marker (mode "run" if none)."""

    path: pathlib.Path
    line: int
    code: str
    mode: str
    arg: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[pathlib.Path]:
    """README.md and every page under docs/ (the changelog page only includes a file)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: pathlib.Path) -> list[Block]:
    """The ```python blocks of one Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if fence.startswith("```") and fence[3:].strip().lower() in ("python", "py"):
            indent = len(lines[i]) - len(lines[i].lstrip())
            start = i
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][indent:])
                i += 1
            previous = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
            mode, arg = "run", ""
            if previous.startswith("<!--") and "docs-test" in previous:
                match = MARKER.match(previous)
                if match is None or match["mode"] not in MODES:
                    raise ValueError(f"{path}:{start + 1}: unreadable marker {previous!r}")
                mode, arg = match["mode"], match["arg"]
                if not arg or (mode == "context" and arg not in CONTEXTS):
                    raise ValueError(
                        f"{path}:{start + 1}: marker {previous!r} needs a valid argument"
                    )
            found.append(Block(path, start + 1, "\n".join(body) + "\n", mode, arg))
        i += 1
    return found


def all_blocks() -> list[Block]:
    """Every Python block of the documentation, in reading order."""
    return [b for path in documents() for b in blocks(path)]
