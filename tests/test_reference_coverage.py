"""Every public name is on exactly one reference page, with an example that renders and runs.

The reference is built by mkdocstrings from docstrings, read by griffe with the Google
parser, as here. A public name is one listed in the ``__all__`` of ``certmail_async`` or of a
public subpackage (re-exports count once, by the object they name). Its docstring must hold
an ``Examples:`` section with code (``>>>`` lines, which griffe renders as a code block and
pytest runs with ``--doctest-modules``), and its ``::: path`` entry must appear on one page
under ``docs/reference/`` and nowhere else.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pathlib
import pkgutil
import re
from collections import Counter
from collections.abc import Iterator

import griffe
import pytest

import certmail_async

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

#: The modules whose ``__all__`` is the public surface. ``cli`` is left out: its one name,
#: ``main``, is the ``certmail`` command, documented by ``certmail --help``.
PUBLIC_MODULES = (
    "certmail_async",
    "certmail_async.bulk",
    "certmail_async.legallymail",
    "certmail_async.loadtest",
    "certmail_async.openapi_pec",
    "certmail_async.pecmassiva",
    "certmail_async.receipts",
    "certmail_async.sync",
    "certmail_async.testing",
)
NOT_REFERENCED = {"certmail_async.cli"}

ENTRY = re.compile(r"^:::\s+(?P<path>[A-Za-z_][\w.]*)\s*\Z", re.ASCII)
SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|exc|mod|data|obj|const):`", re.ASCII)
DOCTEST_FLAG = re.compile(r"#\s*doctest:", re.ASCII)
#: Characters a code line of the reference shows without scrolling at 1280 px (Material's
#: content column; measured in Chromium by scripts/screenshot_docs.py).
COLUMNS = 80


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    """The package as mkdocstrings sees it: read from this checkout by griffe."""
    loaded = griffe.load(
        "certmail_async",
        search_paths=[str(ROOT)],
        docstring_parser=griffe.Parser.google,
        resolve_aliases=False,
    )
    assert isinstance(loaded, griffe.Module)
    return loaded


def resolve(package: griffe.Module, path: str) -> griffe.Object:
    """The object a dotted public path names, through any re-exports."""
    relative = path.removeprefix("certmail_async").lstrip(".")
    found = package[relative] if relative else package
    while isinstance(found, griffe.Alias):
        found = found.target
    assert isinstance(found, griffe.Object), path
    return found


def public_paths() -> dict[str, str]:
    """Canonical path -> the public path the reference uses (the shortest that exports it)."""
    chosen: dict[str, str] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            # Classes and functions are one object wherever re-exported; constants and
            # aliases (type unions, literals) are keyed by where their __all__ lists them.
            if inspect.isclass(obj) or inspect.isfunction(obj):
                key = f"{obj.__module__}.{obj.__qualname__}"
            else:
                key = f"{module_name}.{name}"
            chosen.setdefault(key, f"{module_name}.{name}")
    return chosen


def reference_entries() -> Iterator[tuple[pathlib.Path, str]]:
    """Every ``::: path`` line of every page under docs/ (reference pages or not)."""
    for page in sorted(DOCS.rglob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            match = ENTRY.match(line.strip())
            if match:
                yield page, match["path"]


def rendered(obj: griffe.Object) -> Iterator[griffe.Object]:
    """The object and the members mkdocstrings renders with it (public, defined here)."""
    yield obj
    if obj.is_class or obj.is_module:
        for name, member in obj.members.items():
            if name.startswith("_") or isinstance(member, griffe.Alias):
                continue
            yield from rendered(member)


def has_code_example(obj: griffe.Object) -> bool:
    """An ``Examples:`` section with at least one code block, as griffe parses it."""
    if obj.docstring is None:
        return False
    for section in obj.docstring.parsed:
        if section.kind is griffe.DocstringSectionKind.examples:
            kinds = {kind for kind, _ in section.value}
            if griffe.DocstringSectionKind.examples in kinds:
                return True
    return False


def test_the_public_modules_are_the_public_subpackages() -> None:
    """A new public subpackage must be added here (and to the reference) or left out on purpose."""
    found = {
        f"certmail_async.{info.name}"
        for info in pkgutil.iter_modules(certmail_async.__path__)
        if not info.name.startswith("_")
    }
    assert found == set(PUBLIC_MODULES[1:]) | NOT_REFERENCED


def test_every_public_name_has_a_rendered_example(package: griffe.Module) -> None:
    """Each public name's docstring has an Examples section with code that griffe renders."""
    names = public_paths()
    missing = [path for path in names.values() if not has_code_example(resolve(package, path))]
    assert missing == [], f"{len(missing)} of {len(names)} public names have no example"
    assert len(names) >= 200  # the surface this test was written against; it only grows


def test_every_public_name_is_on_exactly_one_reference_page(package: griffe.Module) -> None:
    """Each public name has one ``:::`` entry under docs/reference/, and no name appears twice."""
    entries = list(reference_entries())
    outside = [
        f"{page.relative_to(ROOT)}: {path}" for page, path in entries if page.parent != REFERENCE
    ]
    assert outside == [], "reference entries belong on the pages under docs/reference/"
    canonical = Counter(resolve(package, path).path for _, path in entries)
    twice = sorted(path for path, count in canonical.items() if count > 1)
    assert twice == []
    names = public_paths()
    documented = set(canonical)
    absent = sorted(
        public for public in names.values() if resolve(package, public).path not in documented
    )
    assert absent == [], f"{len(absent)} public names are on no reference page"


def test_every_reference_entry_is_public(package: griffe.Module) -> None:
    """The reference documents the public surface only, under a public path."""
    public = set(public_paths().values())
    private = sorted(path for _, path in reference_entries() if path not in public)
    assert private == []


def test_rendered_docstrings_use_markdown_not_sphinx_or_doctest_flags(
    package: griffe.Module,
) -> None:
    """No Sphinx role, doctest flag or ``Example:`` admonition shows on a reference page."""
    problems: list[str] = []
    for path in sorted(set(public_paths().values())):
        for obj in rendered(resolve(package, path)):
            if obj.docstring is None:
                continue
            text = obj.docstring.value
            if SPHINX_ROLE.search(text):
                problems.append(f"{obj.path}: Sphinx role")
            if DOCTEST_FLAG.search(text):
                problems.append(f"{obj.path}: doctest flag")
            if re.search(r"^\s*Example\b[^:\n]*:\s*$", text, re.MULTILINE | re.ASCII):
                problems.append(f"{obj.path}: 'Example:' renders as an admonition")
    assert problems == []


def test_examples_of_constants_run(package: griffe.Module) -> None:
    """Examples in attribute docstrings (which pytest's doctest finder skips) run and pass."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    parser = doctest.DocTestParser()
    ran = 0
    for path in sorted(set(public_paths().values())):
        obj = resolve(package, path)
        if not obj.is_attribute or obj.docstring is None:
            continue
        module = importlib.import_module(obj.module.path)
        test = parser.get_doctest(obj.docstring.value, dict(vars(module)), path, None, 0)
        runner.run(test)
        ran += 1
    assert ran >= 10
    assert runner.summarize(verbose=False).failed == 0


def test_example_lines_fit_the_page(package: griffe.Module) -> None:
    """No example line of a reference page is wider than the code block at 1280 px."""
    wide: list[str] = []
    for path in sorted(set(public_paths().values())):
        for obj in rendered(resolve(package, path)):
            if obj.docstring is None:
                continue
            for section in obj.docstring.parsed:
                if section.kind is not griffe.DocstringSectionKind.examples:
                    continue
                for kind, text in section.value:
                    if kind is not griffe.DocstringSectionKind.examples:
                        continue
                    wide += [
                        f"{obj.path}: {line}" for line in text.splitlines() if len(line) > COLUMNS
                    ]
    assert wide == []
