"""Real PostgreSQL and Redis servers for tests, on loopback ports in temporary directories.

No mocks: the PostgreSQL journal and the Redis gate are tested against the real engines.
Each server starts once per test session (``postgres_server``, ``redis_process``), on a
free 127.0.0.1 port in its own temporary directory, waits for readiness with a deadline,
and is torn down at the end of the session, also when tests fail (and, through the parent
death signal, when pytest itself is killed).

Isolation: each PostgreSQL test gets a fresh schema (``postgres_schema``, dropped after
it) or a fresh database (``postgres_database``); each Redis test starts on an empty
server (``redis_server`` runs FLUSHALL first). Fault tests that stop and restart Redis
use ``redis_server.stop()`` / ``.start()`` (same port; the fixture restarts it for the
next test) or their own private server from ``redis_factory``.

A missing binary skips these tests with a visible reason, except in CI (``CI=true``),
where it fails the run: ``.ci/run`` installs ``postgresql`` and ``redis-server``.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` system
user (the temporary directory is handed to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerError",
    "in_ci",
    "postgres_database",
    "postgres_dsn",
    "postgres_schema",
    "postgres_server",
    "redis_factory",
    "redis_process",
    "redis_server",
    "redis_url",
    "run_sql",
]

T = TypeVar("T")

STARTUP_DEADLINE = 30.0  # seconds a server may take to accept connections
STOP_DEADLINE = 10.0  # seconds a server may take to shut down before it is killed
_PDEATHSIG = 1  # prctl(PR_SET_PDEATHSIG): the server dies with the test process


class ServerError(RuntimeError):
    """A server binary exists but did not start (the message carries its log's tail)."""


def in_ci() -> bool:
    """True when running in CI (``CI=true``): a missing server then fails the run."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(what: str, reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{what}: {reason} (CI=true: a missing server fails the run)", pytrace=False)
    pytest.skip(f"{what}: {reason}; install it to run these tests (see README, Testing)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # In the child, after its uid changed (a credential change clears the setting).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PDEATHSIG, signal.SIGTERM)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_DEADLINE)


# -- PostgreSQL ---------------------------------------------------------------------------


def find_postgres() -> tuple[Path, Path] | None:
    """``postgres`` and the ``initdb`` of the same version (PATH, then /usr/lib/postgresql)."""
    candidates: list[Path] = []
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve())

    def version(path: str) -> int:
        found = re.search(r"/postgresql/([0-9]+)/", path, re.ASCII)
        return int(found.group(1)) if found else 0

    for path in sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=version, reverse=True):
        candidates.append(Path(path))
    for postgres in candidates:
        initdb = postgres.with_name("initdb")
        if initdb.is_file():
            return postgres, initdb
        which = shutil.which("initdb")
        if which:
            return postgres, Path(which)
    return None


class PostgresServer:
    """One throwaway PostgreSQL cluster: initdb in a temp dir, ``postgres`` on a free port.

    Password authentication over TCP (scram-sha-256), so the journal's DSN carries a real
    secret; ``fsync=off`` because nothing here must survive a crash of the machine.
    """

    user = "certmail"

    def __init__(self, postgres: Path, initdb: Path) -> None:
        self.postgres, self.initdb = postgres, initdb
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix="certmail-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise LookupError(
                    "running as root and there is no 'postgres' user to run the server as"
                ) from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._run_as = {
                "user": account.pw_uid,
                "group": account.pw_gid,
                "extra_groups": [],
                "env": {**os.environ, "HOME": str(self.root), "USER": "postgres"},
            }

    def dsn(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server (with the password)."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _spawn(self, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv, cwd=self.root, preexec_fn=_die_with_parent, **self._run_as, **kw
        )

    def start(self) -> None:
        """initdb, then start on a free port and wait until it accepts connections."""
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self._run_as:
            os.chown(pwfile, self._run_as["user"], self._run_as["group"])
        init = self._spawn(
            [str(self.initdb), "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            out, _ = init.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            init.kill()
            init.wait()
            raise ServerError("initdb did not finish in 120 s") from None
        pwfile.unlink()
        if init.returncode != 0:
            raise ServerError(f"initdb failed ({init.returncode}):\n{out.decode()[-2000:]}")
        for _ in range(3):  # a port taken between free_port() and bind: try another
            self.port = free_port()
            if self._launch():
                return
        raise ServerError(f"postgres could not bind a port:\n{_tail(self.log)}")

    def _launch(self) -> bool:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
            "log_min_messages": "warning",
        }
        argv = [str(self.postgres), "-D", str(self.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        with self.log.open("ab") as log:
            if self._run_as:
                os.chown(self.log, self._run_as["user"], self._run_as["group"])
            self.proc = self._spawn(argv, stdout=log, stderr=subprocess.STDOUT)
        port = self.port

        def ready() -> bool:
            text = self.log.read_text(errors="replace")
            return "ready to accept connections" in text and _accepts(port)

        try:
            if _await_start(self.proc, ready):
                return True
        except TimeoutError:
            self.stop()
            raise ServerError(
                f"postgres not ready after {STARTUP_DEADLINE} s:\n{_tail(self.log)}"
            ) from None
        text = self.log.read_text(errors="replace")
        if "could not bind" in text or "already in use" in text:
            return False
        raise ServerError(f"postgres exited ({self.proc.returncode}):\n{_tail(self.log)}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), killed when it takes too long."""
        _stop(self.proc, signal.SIGINT)

    def cleanup(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _await_start(proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> bool:
    """True once ``ready()``, False when ``proc`` exits first; TimeoutError at the deadline.

    Between two checks it waits on the process itself (``proc.wait``, 20 ms at most): an
    exit ends the wait at once, readiness is looked at again after it.
    """
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.02)
    raise TimeoutError


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _in_thread(coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a private loop in a thread (safe from sync code inside a test)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro()))
        except BaseException as error:  # handed to the caller
            failure.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(STARTUP_DEADLINE)
    if thread.is_alive():
        raise TimeoutError("a database call in a helper thread did not finish")
    if failure:
        raise failure[0]
    return result[0]


def run_sql(dsn: str, sql: str, *, schema: str | None = None) -> None:
    """Run ``sql`` (several statements allowed) on ``dsn``, in ``schema`` when given.

    Synchronous (a private loop in a thread), for damage a test inflicts as an operator would.
    """
    import asyncpg

    async def run() -> None:
        settings = {"search_path": schema} if schema else None
        conn = await asyncpg.connect(dsn, server_settings=settings, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _in_thread(run)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skipped with a reason, or failed in CI)."""
    found = find_postgres()
    if found is None:
        _unavailable("PostgreSQL", "no 'postgres'/'initdb' on PATH or in /usr/lib/postgresql")
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _unavailable("PostgreSQL", "asyncpg is not installed (pip install -e '.[dev]')")
    try:
        server = PostgresServer(*found)
    except LookupError as error:
        _unavailable("PostgreSQL", str(error))
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The URL of the session server's ``postgres`` database (it carries the password)."""
    return postgres_server.dsn()


@pytest.fixture
async def postgres_schema(postgres_dsn: str) -> AsyncIterator[str]:
    """A fresh schema name for one test, dropped (with everything in it) afterwards."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    conn = await asyncpg.connect(postgres_dsn, timeout=10)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a fresh database for one test, dropped afterwards."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_server.dsn(), timeout=10)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield postgres_server.dsn(name)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


# -- Redis ----------------------------------------------------------------------------------


class RedisServer:
    """One ``redis-server`` on a loopback port, no persistence; can stop and start again.

    ``stop()`` and ``start()`` keep the port, so a client configured with :attr:`url`
    sees the server go away and come back (the fault tests of the Redis gate).
    """

    def __init__(self, binary: Path, port: int | None = None) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="certmail-redis-"))
        self.log = self.root / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start (again, on the same port) and wait until it answers PING."""
        if self.running:
            return
        argv = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.root),
                "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        try:
            if _await_start(self.proc, lambda: self.command("PING") == b"+PONG"):
                return
        except TimeoutError:
            self.stop()
            raise ServerError(
                f"redis-server not ready after {STARTUP_DEADLINE} s:\n{_tail(self.log)}"
            ) from None
        raise ServerError(f"redis-server exited ({self.proc.returncode}):\n{_tail(self.log)}")

    def stop(self) -> None:
        """Shut down (SIGTERM; nothing is saved); the port stays reserved for start()."""
        _stop(self.proc, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing its connections cleanly."""
        _stop(self.proc, signal.SIGKILL)

    def restart(self) -> None:
        """stop() then start() on the same port."""
        self.stop()
        self.start()

    def command(self, *words: str) -> bytes | None:
        """One inline command's first reply line (no client library), or None when down."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(" ".join(words).encode() + b"\r\n")
                reply = b""
                while not reply.endswith(b"\r\n"):
                    data = sock.recv(4096)
                    if not data:
                        return None
                    reply += data
                return reply.split(b"\r\n", 1)[0]
        except OSError:
            return None

    def cleanup(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def find_redis() -> Path | None:
    """``redis-server`` on PATH (or /usr/bin, /usr/sbin)."""
    found = shutil.which("redis-server") or shutil.which(
        "redis-server", path="/usr/bin:/usr/sbin:/usr/local/bin"
    )
    return Path(found) if found else None


@pytest.fixture(scope="session")
def redis_process() -> Iterator[RedisServer]:
    """One redis-server for the whole session (skipped with a reason, or failed in CI)."""
    binary = find_redis()
    if binary is None:
        _unavailable("Redis", "no 'redis-server' on PATH")
    server = RedisServer(binary)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_server(redis_process: RedisServer) -> Iterator[RedisServer]:
    """The session's Redis, running and empty for this test (restarted after a fault test)."""
    redis_process.start()
    if redis_process.command("FLUSHALL") != b"+OK":
        raise ServerError("redis-server did not answer FLUSHALL")
    yield redis_process
    redis_process.start()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis for this test."""
    return redis_server.url


@pytest.fixture
def redis_factory() -> Iterator[Callable[[], RedisServer]]:
    """Start private redis-servers (each on its own port), all torn down after the test."""
    binary = find_redis()
    if binary is None:
        _unavailable("Redis", "no 'redis-server' on PATH")
    started: list[RedisServer] = []

    def make() -> RedisServer:
        server = RedisServer(binary)
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.cleanup()
