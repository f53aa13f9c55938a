"""The docs' code blocks fit their rendered width: no sideways scrolling at 1280 px."""

from __future__ import annotations

import pathlib
import re

import pytest

from tests.docs_blocks import ROOT

#: Characters a code block shows at 1280 px (mkdocs-material's content column).
WIDTH = 80
#: Blocks drawn as pictures, not shown as code (their source lines may be longer).
DIAGRAMS = ("mermaid",)
PAGES = sorted((ROOT / "docs").rglob("*.md"))
#: Pages whose owner is rewrapping them now: expected to fail until then (strict: an
#: unexpected pass fails, so the entry goes once the page fits).
PENDING: dict[str, str] = {}
FENCE = re.compile(
    r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`{]*)[^`]*\Z", re.ASCII
)


def code_lines(text: str) -> list[tuple[int, str, str]]:
    """(line number, language, line as shown) of each fenced code line, diagrams excepted."""
    found: list[tuple[int, str, str]] = []
    opened: re.Match[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if opened is None:
            opened = FENCE.match(line)
            continue
        fence = opened["fence"]
        stripped = line.strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            opened = None
            continue
        if opened["lang"].lower() in DIAGRAMS:
            continue
        indent = len(opened["indent"])
        shown = line[indent:] if not line[:indent].strip() else line.lstrip()
        found.append((number, opened["lang"], shown))
    return found


def test_code_lines_are_found_inside_fences_only() -> None:
    """The reader takes fenced lines (indented fences too), not prose, and skips diagrams."""
    text = (
        "prose " + "x" * 90 + "\n"
        "```python\nprint(1)\n```\n"
        "- item\n\n    ```bash\n    echo hi\n    ```\n"
        "~~~~text\nplain ``` inside\n~~~~\n"
        "```mermaid\ngraph LR\n```\n"
    )
    assert code_lines(text) == [
        (3, "python", "print(1)"),
        (8, "bash", "echo hi"),
        (11, "text", "plain ``` inside"),
    ]


def test_the_pages_have_code_lines() -> None:
    """The reader finds the docs' code (so the width check below is not vacuous)."""
    counted = sum(len(code_lines(page.read_text(encoding="utf-8"))) for page in PAGES)
    assert counted > 500, f"only {counted} code lines found: is the fence reader broken?"


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=pytest.mark.xfail(strict=True, reason=PENDING[name]))
        if (name := page.relative_to(ROOT).as_posix()) in PENDING
        else page
        for page in PAGES
    ],
    ids=[page.relative_to(ROOT).as_posix() for page in PAGES],
)
def test_code_lines_fit_the_code_block_width(page: pathlib.Path) -> None:
    """No line of a fenced code block on the page is longer than 80 characters."""
    too_long = [
        f"{page.relative_to(ROOT)}:{number}: {len(line)} characters ({lang or 'no language'})"
        for number, lang, line in code_lines(page.read_text(encoding="utf-8"))
        if len(line) > WIDTH
    ]
    assert not too_long, f"code lines wider than {WIDTH} characters:\n" + "\n".join(too_long)


def test_docs_ruff_config_formats_to_the_block_width() -> None:
    """docs/ruff.toml makes `ruff format` wrap the docs' Python blocks at the block width."""
    config = (ROOT / "docs" / "ruff.toml").read_text(encoding="utf-8")
    assert re.search(rf"^line-length\s*=\s*{WIDTH}\s*$", config, re.MULTILINE | re.ASCII)
    assert re.search(r'^extend\s*=\s*"\.\./pyproject\.toml"\s*$', config, re.MULTILINE)
