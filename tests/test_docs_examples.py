"""Every Python block of README.md and docs/ runs as written against the fakes (or says why not)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.docs_blocks import ROOT, Block, all_blocks

RUNNER = pathlib.Path(__file__).with_name("docs_runner.py")
BLOCKS = all_blocks()


def test_the_docs_have_blocks_and_every_marker_is_readable() -> None:
    """The extractor finds the README's and the guides' blocks (and parsed every marker)."""
    where = {b.path.name for b in BLOCKS}
    assert {"README.md", "quickstart.md", "testing.md"} <= where
    assert len(BLOCKS) >= 20


def test_skips_say_why() -> None:
    """A skipped block names what it needs (credentials, a framework, your own data)."""
    for block in BLOCKS:
        if block.mode == "skip":
            assert block.arg.startswith("needs "), block.id


def test_readme_opens_with_the_two_commands() -> None:
    """The README's first lines (after its title) are the one-line demo and test commands."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    content = [ln for ln in lines if ln.strip() and not ln.startswith(("#", "```"))]
    assert content[0].startswith("python3 -m pip install -q nox && python3 -m nox -s demo")
    assert content[1].startswith("python3 -m pip install -q nox && python3 -m nox -s tests")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_runs(block: Block, tmp_path: pathlib.Path) -> None:
    """The block runs to the end without an exception (skip and framework blocks excepted)."""
    if block.mode == "skip":
        pytest.skip(block.arg)
    if block.mode == "framework":
        pytest.skip(f"run by tests/test_frameworks.py ({block.arg})")
    spec = {"mode": block.mode, "arg": block.arg, "code": block.code, "name": block.id}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", str(RUNNER)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (
        f"{block.id}\n{block.code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
