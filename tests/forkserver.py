"""``python -m MODULE ARGS...`` many times, without paying for its imports each time.

``python -m tests.forkserver MODULE [WARM...]`` imports MODULE once (with everything it
imports at module level; for a package, the WARM modules its ``__main__`` would import),
then reads one JSON request per line on standard input and forks one child
per request. The child takes the request's environment, working directory, ``argv`` and
stdout/stderr files, runs MODULE as ``__main__`` (what ``python -m MODULE ARGS`` does from
that point on: its top-level code runs again, its imports are already there), and exits as
the interpreter would (exit code, traceback on stderr, non-daemon threads joined, atexit
hooks run). The server answers ``{"returncode": N}``, N as :mod:`subprocess` reports it
(negative: the signal that killed the child).

A child is a real process of its own (its pid, its sockets, its SIGKILL); it only skips the
half second of imports a fresh interpreter pays. Tests use :class:`ForkServer`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import json
import os
import random
import runpy
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent


def _exit_code(exit: SystemExit) -> int:
    """The status the interpreter exits with for ``exit`` (it prints a non-int message)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


def redirect_stdio(out: str, err: str | None) -> None:
    """stdin from /dev/null, stdout to the file ``out``, stderr to ``err`` (None: stdout)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for fd, target in ((0, os.open(os.devnull, os.O_RDONLY)),
                       (1, os.open(out, flags, 0o600))):  # fmt: skip
        os.dup2(target, fd)
        os.close(target)
    if err is None:  # stderr=STDOUT
        os.dup2(1, 2)
    else:
        target = os.open(err, flags, 0o600)
        os.dup2(target, 2)
        os.close(target)


def run_child(setup: Callable[[], None], body: Callable[[], object]) -> NoReturn:
    """In a forked child: ``setup()``, then ``body()``, then exit as the interpreter would.

    The exit code, the traceback on stderr, non-daemon threads joined and atexit hooks run,
    as ``python`` does after its main module; a failing ``setup`` exits 1. Never returns.
    """
    code = 1
    try:
        setup()
        random.seed()  # a fresh interpreter seeds from the OS, not from its parent
        try:
            body()
            code = 0
        except SystemExit as exit:
            code = _exit_code(exit)
        except BaseException:
            traceback.print_exc()
        # What interpreter shutdown does: wait for non-daemon threads, run atexit hooks.
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _child(module: str, request: dict[str, Any]) -> NoReturn:
    """Run MODULE as ``__main__`` in this forked child; never returns."""

    def setup() -> None:
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        redirect_stdio(request["out"], request["err"])
        sys.argv = [module, *request["args"]]

    run_child(setup, lambda: runpy.run_module(module, run_name="__main__", alter_sys=True))


def reap(pid: int, timeout: float) -> int:
    """The child's exit status (negative: killed by that signal); SIGKILL after ``timeout``.

    Waits on the child itself (a pidfd, or a thread blocked in ``waitpid``), never polls.
    """
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None:
        statuses: list[int] = []
        waiter = threading.Thread(target=lambda: statuses.append(os.waitpid(pid, 0)[1]))
        waiter.start()
        waiter.join(timeout)
        if waiter.is_alive():
            os.kill(pid, signal.SIGKILL)
            waiter.join()
        return os.waitstatus_to_exitcode(statuses[0])
    try:
        if not select.select([pidfd], [], [], max(timeout, 0.0))[0]:
            os.kill(pid, signal.SIGKILL)  # its pidfd stays valid: the status is ours
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        os.close(pidfd)


def serve(module: str, *warm: str) -> None:
    """Import ``module`` and ``warm``, then one forked child per request (see the module doc)."""
    for name in (module, *warm):
        importlib.import_module(name)
    if threading.active_count() != 1:  # fork copies no thread: refuse a threaded parent
        raise SystemExit(f"forkserver: importing {module} started threads, cannot fork")
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(module, request)
        returncode = reap(pid, float(request["timeout"]))
        print(json.dumps({"returncode": returncode}), flush=True)


class ForkServer:
    """The test side: ``run(args)`` is ``python -m MODULE *args`` in a forked child."""

    def __init__(self, module: str, *warm: str, env: dict[str, str] | None = None) -> None:
        self.module = module
        self.users = 0  # arun calls in progress (shared() hands a busy server to nobody)
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.forkserver", module, *warm],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )

    def run(
        self,
        *args: str,
        cwd: Path = ROOT,
        timeout: float = 90.0,
        env: dict[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> tuple[int, bytes, bytes]:
        """(exit code, stdout, stderr) of one run; the child is killed after ``timeout``.

        ``env`` defaults to this process's environment now; ``merge_stderr`` sends the
        child's stderr into its stdout (``stderr=STDOUT``); the returned stderr is then empty.
        """
        with self._lock, tempfile.TemporaryDirectory(prefix="forkserver-") as tmp:
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            request = {"args": list(args), "cwd": str(cwd),
                       "env": dict(os.environ if env is None else env), "out": str(out),
                       "err": None if merge_stderr else str(err), "timeout": timeout}  # fmt: skip
            assert self.proc.stdin is not None
            assert self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
            assert answer, f"the fork server of {self.module} exited ({self.proc.poll()})"
            texts = [p.read_bytes() if p.exists() else b"" for p in (out, err)]
            return int(json.loads(answer)["returncode"]), texts[0], texts[1]

    async def arun(
        self,
        *args: str,
        cwd: Path = ROOT,
        timeout: float = 90.0,
        env: dict[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> tuple[int, bytes, bytes]:
        """:meth:`run` from a thread: the test's loop keeps serving (the fakes live there)."""
        self.users += 1
        try:
            return await asyncio.to_thread(
                self.run, *args, cwd=cwd, timeout=timeout, env=env, merge_stderr=merge_stderr
            )
        finally:
            self.users -= 1

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


_SHARED: dict[tuple[str, ...], list[ForkServer]] = {}


def shared(module: str, *warm: str, env: dict[str, str] | None = None) -> ForkServer:
    """An idle server of (module, warm) for the session, started when none is idle.

    Call its ``arun`` right away (that marks it busy): runs that overlap each get their
    own server, so they run side by side as separate interpreters would. Servers close
    at interpreter exit (and end by themselves when this process dies: their standard
    input closes). ``env`` is a new server's environment, hence what imports see.
    """
    servers = _SHARED.setdefault((module, *warm), [])
    for server in servers:
        if server.users == 0 and not server._lock.locked():
            return server
    server = ForkServer(module, *warm, env=env)
    atexit.register(server.close)
    servers.append(server)
    return server


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tests.forkserver MODULE [WARM...]")
    serve(sys.argv[1], *sys.argv[2:])
