"""One entry point for every chore: `nox -s tests lint typing docs demo bench`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

PYTHON = "3.11"
#: Other interpreters the suite runs on (`nox -s tests-other-3.12`); the classifiers list
#: them, and .ci/run runs each one it finds.
OTHER_PYTHONS = ["3.12", "3.13"]
#: The extras whose bounds `lowest` pins too (the ones the dev extra installs). Not otel
#: or loadtest: the dev extra pins opentelemetry-api and hdrhistogram above their bounds.
LOWEST_EXTRAS = ("cli", "postgres", "redis")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite against the embedded fakes."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(name="tests-other", python=OTHER_PYTHONS)
def tests_other(session: nox.Session) -> None:
    """The test suite on Python 3.12 and 3.13 (`nox -s tests-other-3.13` for one)."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


def lowest_constraints() -> list[str]:
    """``name==X`` for every ``name>=X`` of the runtime and LOWEST_EXTRAS dependencies."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in LOWEST_EXTRAS:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([A-Za-z0-9_.]+)", requirement.strip())
        if match is None:
            raise ValueError(f"lowest: cannot read the bound of {requirement!r}")
        pins.append(f"{match[1]}=={match[2]}")
    return pins


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """The test suite with every direct dependency at its declared minimum (lowest-direct).

    The bounds in pyproject.toml become a pip constraints file; indirect dependencies
    resolve as usual. A bound that stops passing here must be raised.
    """
    constraints = Path(session.create_tmp()) / "lowest-constraints.txt"
    constraints.write_text("\n".join(lowest_constraints()) + "\n")
    session.log("constraints: " + ", ".join(lowest_constraints()))
    session.install("-c", str(constraints), "-e", ".[dev]")
    session.run("pip", "list", "--format=freeze")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """The full bulk crash matrix (4 x 2 x 10) and the 50-kill soak over 2,000 recipients."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-m", "slow", "-s", "tests/bulk/test_crash.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "certmail_async")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation with --strict."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """A demo bulk send against the embedded fakes, with a progress bar."""
    session.install("-e", ".[cli]")
    session.run("certmail", "demo", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: each script prints a table of ratios measured in one run."""
    session.install("-e", ".[bench]")
    scripts = session.posargs or [
        "benchmarks/overhead.py",
        "benchmarks/shared_gate.py",
        "benchmarks/pacing.py",
        "benchmarks/bulk.py",
    ]
    for script in scripts:
        session.run("python", script)
