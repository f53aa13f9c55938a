"""One entry point for every chore: `nox -s tests lint typing docs demo bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite against the embedded fakes."""
    session.install("-e", ".[dev]")
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
