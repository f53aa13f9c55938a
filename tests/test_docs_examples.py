"""Every Python block of README.md and docs/ runs as written against the fakes (or says why not)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.docs_blocks import ROOT, Block, all_blocks

RUNNER = pathlib.Path(__file__).with_name("docs_runner.py")
BLOCKS = all_blocks()
BLOCK_TIMEOUT = 120.0  # seconds one block may run before its process is killed


class Forkserver:
    """``docs_runner.py --serve``: imports once, forks a fresh child per block."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-W", "error::RuntimeWarning", str(RUNNER), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def run(self, spec: dict[str, str], cwd: pathlib.Path) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of one block, run in ``cwd`` (output files beside it)."""
        out, err = cwd.with_name("stdout.txt"), cwd.with_name("stderr.txt")
        request = {"spec": spec, "cwd": str(cwd), "out": str(out), "err": str(err),
                   "timeout": BLOCK_TIMEOUT}  # fmt: skip
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, f"the docs runner's fork server exited ({self.proc.poll()})"
        texts = [p.read_text(errors="replace") if p.exists() else "" for p in (out, err)]
        return int(json.loads(answer)["returncode"]), texts[0], texts[1]

    def close(self) -> None:
        """End of input: the server exits; killed if it does not."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def forkserver() -> Iterator[Forkserver]:
    """One fork server for the module's blocks (each block still gets its own process)."""
    server = Forkserver()
    try:
        yield server
    finally:
        server.close()


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
def test_block_runs(block: Block, tmp_path: pathlib.Path, forkserver: Forkserver) -> None:
    """The block runs to the end without an exception (skip and framework blocks excepted)."""
    if block.mode == "skip":
        pytest.skip(block.arg)
    if block.mode == "framework":
        pytest.skip(f"run by tests/test_frameworks.py ({block.arg})")
    spec = {"mode": block.mode, "arg": block.arg, "code": block.code, "name": block.id}
    workdir = tmp_path / "run"  # empty, as for a fresh interpreter (stdio files live beside)
    workdir.mkdir()
    returncode, stdout, stderr = forkserver.run(spec, workdir)
    assert returncode == 0, f"{block.id}\n{block.code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
