"""The real-server harness (tests/servers.py): readiness, restarts on one port, isolation,
and a missing server skipped with its reason, or failed in CI."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from tests import servers
from tests.servers import PostgresServer, RedisServer


class TestMissingServers:
    def test_skipped_with_a_reason_outside_ci(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without CI=true a missing server skips, naming what is missing."""
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match="Redis: no 'redis-server'"):
            servers._unavailable("Redis", "no 'redis-server' on PATH")

    def test_a_failure_in_ci(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With CI=true a missing server fails the run."""
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception, match="CI=true"):
            servers._unavailable("PostgreSQL", "no 'postgres'")


class TestPostgres:
    async def test_password_authentication_and_fresh_schemas(
        self, postgres_server: PostgresServer, postgres_schema: str
    ) -> None:
        """The server takes its password over TCP, refuses another, and a test's schema is new."""
        conn = await asyncpg.connect(postgres_server.dsn(), timeout=10)
        try:
            assert await conn.fetchval("SELECT current_setting('port')") == str(
                postgres_server.port
            )
            exists = "SELECT count(*) FROM pg_namespace WHERE nspname = $1"
            assert await conn.fetchval(exists, postgres_schema) == 0
        finally:
            await conn.close()
        wrong = postgres_server.dsn().replace(postgres_server.password, "not-it")
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(wrong, timeout=10)

    async def test_a_fresh_database(self, postgres_database: str) -> None:
        """postgres_database gives an empty database of its own."""
        conn = await asyncpg.connect(postgres_database, timeout=10)
        try:
            assert (
                await conn.fetchval("SELECT current_database()")
                == (postgres_database.rsplit("/", 1)[1])
            )
            tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            assert await conn.fetchval(tables) == 0
        finally:
            await conn.close()


class TestRedis:
    def test_stop_and_start_on_the_same_port(self, redis_server: RedisServer) -> None:
        """stop() takes the server away; start() brings it back on the same port, empty."""
        port = redis_server.port
        assert redis_server.command("SET", "k", "v") == b"+OK"
        redis_server.stop()
        assert redis_server.command("PING") is None
        redis_server.start()
        assert redis_server.port == port
        assert redis_server.command("PING") == b"+PONG"
        assert redis_server.command("EXISTS", "k") == b":0"

    def test_each_test_starts_empty(self, redis_server: RedisServer) -> None:
        """The fixture flushes what an earlier test left."""
        assert redis_server.command("DBSIZE") == b":0"
        assert redis_server.command("SET", "left", "behind") == b"+OK"

    def test_private_servers(self, redis_factory: Callable[[], RedisServer]) -> None:
        """redis_factory starts servers of a test's own, on distinct ports; kill() is abrupt."""
        one, two = redis_factory(), redis_factory()
        assert one.port != two.port
        one.kill()
        assert one.command("PING") is None
        assert two.command("PING") == b"+PONG"
