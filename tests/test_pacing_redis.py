"""The Redis gate against a real redis-server: the gate contract, many processes, faults.

The contract tests run against both backends (``local``: the in-process gate; ``redis``:
each "process" is its own RedisPacing, with its own connections, on one Redis). Time is
scaled (a cap of 1 per 0.2 s) with a slack of 40 ms, far above event-loop noise; spacing
is asserted against the cap's own interval T/N, the contract's promise. Multi-process
tests run real worker processes (tests/test_pacing_redis_worker.py) against a fake whose
cap is enforced, and read the fake's ledger.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from certmail_async import (
    BulkDispatcher,
    ChunkStatus,
    LocalPacing,
    OutgoingMessage,
    PacingBackend,
    PacingUnavailableError,
    PecMassivaClient,
    RateLimit,
    RedisPacing,
    RetryPolicy,
    ValidationError,
)
from certmail_async._auth import scope_digest
from certmail_async._pacing import PACING_URL_ENV, SlotUnavailable
from certmail_async._pacing_redis import shared_backend
from certmail_async._redact import secret_forms
from certmail_async.testing import run_fake
from tests.servers import RedisServer

PER = 0.2
SLACK = 0.04
RATE = RateLimit(requests=1, per=PER, slack=SLACK)  # one every 0.24 s, cap 1 per 0.2 s
CAP = RateLimit(requests=1, per=PER, margin=0)  # what the fake enforces
NOISE = 0.01  # what a busy 2-core box may add to a wake-up (the slack is 4 times that)
ROOT = Path(__file__).resolve().parent.parent

Processes = Callable[[], PacingBackend]

# _start_here: a redis-server is started from the test's main thread, never from a worker
# thread (asyncio.to_thread): the harness ties the server's life to the thread that
# started it (PR_SET_PDEATHSIG), and the loop's executor threads exit with the test.


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in itertools.pairwise(ordered)]


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``check`` every 5 ms until it holds (fails the test after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def redis_cli(port: int, *words: str) -> str:
    """What ``redis-cli -p PORT WORDS...`` prints (the tool itself, as an operator would)."""
    tool = shutil.which("redis-cli")
    if tool is None:
        pytest.skip("redis-cli is not installed (it comes with redis-server)")
    done = subprocess.run(
        [tool, "-p", str(port), *words], capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout


async def send_once(gate: object, *, stamped: bool = False) -> float:
    await gate.acquire()  # type: ignore[attr-defined]
    return await gate.depart(stamped=stamped)  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(params=["local", "redis"])
async def processes(request: pytest.FixtureRequest) -> AsyncIterator[Processes]:
    """Makes the backend of one more "process": all share one scope's schedule."""
    if request.param == "local":
        local = LocalPacing()  # one process: its clients share one gate
        yield lambda: local
        return
    url = request.getfixturevalue("redis_url")
    made: list[RedisPacing] = []

    def make() -> RedisPacing:
        made.append(RedisPacing(url, timeout=1.0, max_outage=2.0))
        return made[-1]

    yield make
    for backend in made:
        await backend.aclose()


class TestContract:
    async def test_spacing_never_below_the_cap_interval(self, processes: Processes) -> None:
        """Ten callers in two processes leave at least T/N apart, at the planned pace."""
        a, b = processes(), processes()
        ga, gb = a.gate("spacing", RATE), b.gate("spacing", RATE)
        times: list[float] = []

        async def send(gate: object) -> None:
            times.append(await send_once(gate, stamped=True))
            gate.sent()  # type: ignore[attr-defined]

        await asyncio.gather(*(send(g) for g in [ga, gb] * 5))
        spacing = gaps(times)
        assert len(times) == 10
        assert min(spacing) >= RATE.cap_interval
        assert statistics.mean(spacing) <= RATE.interval + NOISE  # paced, not stalled

    async def test_stricter_rate_wins(self, processes: Processes) -> None:
        """Two processes asking 1/0.2 s and 1/0.4 s of one scope both keep 1/0.4 s."""
        loose = RateLimit(requests=1, per=0.2, slack=SLACK)
        strict = RateLimit(requests=1, per=0.4, slack=SLACK)
        ga, gb = processes().gate("stricter", loose), processes().gate("stricter", strict)
        times = [await send_once(gb)]
        for gate in (ga, gb, ga, ga):
            times.append(await send_once(gate))
        assert min(gaps(times)) >= strict.cap_interval

    async def test_pause_is_shared(self, processes: Processes) -> None:
        """A pause set by one process holds the other's paced and unpaced calls."""
        loop = asyncio.get_running_loop()
        ga, gb = processes().gate("pause", RATE), processes().gate("pause", RATE)
        await send_once(ga)
        ga.pause(0.4)
        paused_at = loop.time()
        await asyncio.sleep(0.02)  # the pause reaches Redis (a round trip)
        await gb.wait_unpaused()
        unpaused = loop.time()
        left = await send_once(gb)
        assert unpaused >= paused_at + 0.4 - NOISE
        assert left >= paused_at + 0.4 - NOISE

    async def test_refusal_pauses_and_tightens_every_process(self, processes: Processes) -> None:
        """A 429 seen by one process: the other pauses too and goes strict, budget doubled."""
        loop = asyncio.get_running_loop()
        ga, gb = processes().gate("refused", RATE), processes().gate("refused", RATE)
        await send_once(ga)
        ga.refused(0.3)
        refused_at = loop.time()
        await asyncio.sleep(0.02)
        times = [await send_once(gb)]
        assert times[0] >= refused_at + 0.3 - NOISE
        state = gb.state
        assert (state.mode, state.budget) == ("strict", pytest.approx(2 * SLACK))
        assert state.interval == pytest.approx(PER + 2 * SLACK)
        for gate in (ga, gb, ga):
            times.append(await send_once(gate))
        assert min(gaps(times)) >= PER + 2 * SLACK - NOISE  # both keep the tighter pace

    async def test_cancelled_waiter_gives_its_slot_back(self, processes: Processes) -> None:
        """A waiter cancelled half an interval in: the next caller takes its slot."""
        gate = processes().gate("cancel", RATE)
        first = await send_once(gate)
        waiter = asyncio.create_task(send_once(gate))
        await asyncio.sleep(RATE.interval / 2)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        second = await send_once(gate)
        assert second - first == pytest.approx(RATE.interval, abs=0.03)

    async def test_slot_beyond_max_wait_is_refused_at_once(self, processes: Processes) -> None:
        """max_wait shorter than the next slot: SlotUnavailable at once, and no slot taken."""
        loop = asyncio.get_running_loop()
        gate = processes().gate("no-slot", RATE)
        first = await send_once(gate)
        started = loop.time()
        for _ in range(3):
            with pytest.raises(SlotUnavailable) as refused:
                await gate.acquire(max_wait=RATE.interval / 4)
            assert refused.value.wait > RATE.interval / 4
        assert loop.time() - started < 0.1  # refused at once, not after waiting
        second = await send_once(gate)
        assert second - first == pytest.approx(RATE.interval, abs=0.03)

    async def test_late_write_pushes_the_next_departure(self, processes: Processes) -> None:
        """A write 0.1 s after its slot (a TLS handshake): the next leaves an interval after it."""
        loop = asyncio.get_running_loop()
        ga, gb = processes().gate("late", RATE), processes().gate("late", RATE)
        await send_once(ga, stamped=True)
        await asyncio.sleep(0.1)
        ga.sent()
        written = loop.time()
        second = await send_once(gb)
        assert second >= written + RATE.interval - 0.005

    async def test_hold_is_bounded(self, processes: Processes) -> None:
        """A stamped departure never reported written holds the next two intervals at most."""
        ga, gb = processes().gate("stuck", RATE), processes().gate("stuck", RATE)
        first = await send_once(ga, stamped=True)  # never reported
        second = await send_once(gb)
        assert 2 * RATE.interval - NOISE <= second - first <= 2 * RATE.interval + 0.08


class TestRedisOnly:
    async def test_cancel_after_the_reservation_rolls_it_back(self, redis_url: str) -> None:
        """A waiter cancelled between its reservation and its slot frees that slot in Redis."""
        async with RedisPacing(redis_url) as pacing:
            gate = pacing.gate("rollback", RATE)
            real = gate._call
            granted = asyncio.Event()

            tokens: list[str] = []

            async def spy(op: Any, give_up: float) -> Any:
                reply = await real(op, give_up)
                if op.script == "reserve" and op.args[5] and reply.status == 0:
                    tokens.append(op.args[5])
                    granted.set()  # a reservation: the waiter now sleeps to its slot
                return reply

            gate._call = spy  # type: ignore[method-assign]
            probe = aioredis.Redis.from_url(redis_url)
            try:
                for _ in range(3):  # a loop stall may let the waiter leave before the cancel
                    first = await send_once(gate)
                    anchor = await probe.hget(gate.key, "last")  # the first one's slot
                    granted.clear()
                    waiter = asyncio.create_task(send_once(gate))
                    await asyncio.wait_for(granted.wait(), 2.0)
                    if waiter.done():
                        continue
                    waiter.cancel()  # no await since the check: it still sleeps to its slot
                    with pytest.raises(asyncio.CancelledError):
                        await waiter
                    await until(lambda: not gate._outbox)
                    assert tokens[-1].encode() != await probe.hget(gate.key, "res")
                    assert await probe.hget(gate.key, "last") == anchor  # rolled back
                    second = await send_once(gate)
                    break
                else:
                    pytest.fail("the waiter was never caught between reservation and slot")
            finally:
                await probe.aclose()
        assert second - first == pytest.approx(RATE.interval, abs=0.03)

    async def test_flushed_script_cache_is_reloaded(self, redis_server: RedisServer) -> None:
        """SCRIPT FLUSH between two departures: NOSCRIPT is handled, the spacing holds."""
        async with RedisPacing(redis_server.url) as pacing:
            gate = pacing.gate("noscript", RATE)
            first = await send_once(gate)
            assert redis_server.command("SCRIPT", "FLUSH") == b"+OK"
            second = await send_once(gate)
        assert second - first >= RATE.cap_interval

    async def test_record_from_another_server_waits_one_interval(self, redis_url: str) -> None:
        """A record written by another server (a failover): the next waits a full interval."""
        loop = asyncio.get_running_loop()
        async with RedisPacing(redis_url) as pacing:
            gate = pacing.gate("failover", RATE)
            await send_once(gate)
            await asyncio.sleep(RATE.interval + 0.02)  # one interval on: the next slot is free...
            probe = aioredis.Redis.from_url(redis_url)
            try:
                await probe.hset(gate.key, "boot", "the-old-primary")  # ...on the old server
            finally:
                await probe.aclose()
            detected = loop.time()
            after = await send_once(gate)
        assert after - detected >= RATE.interval - NOISE

    async def test_restart_without_data_waits_one_interval(self, redis_server: RedisServer) -> None:
        """Redis restarted without its data: the first departure waits a full interval."""
        loop = asyncio.get_running_loop()
        async with RedisPacing(redis_server.url, max_outage=5.0) as pacing:
            gate = pacing.gate("restart", RATE)
            await send_once(gate)
            redis_server.restart()  # main thread: see _start_here
            back = loop.time()
            after = await send_once(gate)
        assert after - back >= RATE.interval - NOISE

    async def test_many_processes_tighten_once_per_burst(self, redis_url: str) -> None:
        """Three processes refused in one burst widen the shared budget once, not thrice."""
        backends = [RedisPacing(redis_url) for _ in range(3)]
        try:
            gates = [b.gate("burst", RATE) for b in backends]
            await send_once(gates[0])
            for gate in gates:
                gate.refused(0.05)
            for gate in gates:
                await gate._flush(asyncio.get_running_loop().time() + 2)
            await send_once(gates[2])
            assert gates[2].state.budget == pytest.approx(2 * SLACK)
            assert gates[2].state.refusals == 3
            probe = aioredis.Redis.from_url(redis_url)
            try:
                version = await probe.hget(gates[0].key, "pv")
            finally:
                await probe.aclose()
            assert version == b"1"  # tightened once for the burst
        finally:
            for backend in backends:
                await backend.aclose()


def _spawn(
    fake_url: str, redis_url: str, sends: int, label: str, *skew: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_pacing_redis_worker", fake_url, redis_url,
         str(PER), str(sends), label, *skew],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


async def _run_workers(workers: list[subprocess.Popen[str]]) -> list[dict[str, object]]:
    """Wait until every worker is ready, start them at once, collect their reports."""

    def ready(proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        return proc.stdout.readline().strip()

    try:
        said = await asyncio.wait_for(
            asyncio.gather(*(asyncio.to_thread(ready, w) for w in workers)), 30
        )
        assert said == ["ready"] * len(workers), [w.stderr.read() for w in workers if w.stderr]
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        outs = await asyncio.wait_for(
            asyncio.gather(*(asyncio.to_thread(w.communicate, timeout=40) for w in workers)), 45
        )
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    for w, (_, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, err[-2000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]


def _check_ledger(fake: object, labels: list[str], sends: int) -> list[float]:
    """Every send arrived once, in order per worker, never two within T/N; the arrivals."""
    state = fake.state  # type: ignore[attr-defined]
    assert state.send_cap.rejected == 0
    subjects = [record.subject for record in state.ledger]
    assert sorted(subjects) == sorted(f"{label}-{i}" for label in labels for i in range(sends))
    for label in labels:
        mine = [int(s.rsplit("-", 1)[1]) for s in subjects if s.rsplit("-", 1)[0] == label]
        assert mine == sorted(mine)
    arrivals = [record.at for record in state.ledger]
    assert min(gaps(arrivals)) >= CAP.cap_interval
    return arrivals


class TestProcesses:
    @pytest.mark.parametrize("workers", [2, 4])
    async def test_processes_sharing_a_scope_keep_the_spacing(
        self, redis_url: str, workers: int
    ) -> None:
        """2 and 4 real processes on one token: no 429, never two sends within T/N."""
        sends = 12 // workers
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            labels = [f"w{i}" for i in range(workers)]
            reports = await _run_workers(
                [_spawn(fake.url, redis_url, sends, label) for label in labels]
            )
            assert all(r == {"sent": sends, "errors": []} for r in reports), reports
            arrivals = _check_ledger(fake, labels, sends)
        # paced at the plan, not slower: 12 sends in about 11 intervals
        assert arrivals[-1] - arrivals[0] <= 11 * RATE.interval + 0.25

    async def test_client_clock_skew_does_not_matter(self, redis_url: str) -> None:
        """One process with a wall clock an hour off and a monotonic clock 0.5% fast: no 429."""
        sends = 6
        async with run_fake("pecmassiva", send_rate=CAP) as fake:
            reports = await _run_workers(
                [
                    _spawn(fake.url, redis_url, sends, "plain"),
                    _spawn(fake.url, redis_url, sends, "skewed", "-3600", "1.005"),
                ]
            )
            assert all(r == {"sent": sends, "errors": []} for r in reports), reports
            _check_ledger(fake, ["plain", "skewed"], sends)


class TestFaults:
    async def test_unreachable_redis_fails_closed_then_resumes(
        self, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Redis down: the send raises PacingUnavailableError after a bounded wait, nothing
        leaves; Redis back: the next send goes, still spaced."""
        caplog.set_level(logging.INFO, logger="certmail_async.pacing")
        loop = asyncio.get_running_loop()
        async with (
            run_fake("pecmassiva", send_rate=CAP) as fake,
            RedisPacing(redis_server.url, timeout=0.2, max_outage=0.3) as pacing,
            fake.client(rate_limit=RATE, pacing=pacing, max_retries=0) as client,
        ):
            await client.sends.create(recipients=["a@pec.example.it"], subject="1", body="b")
            await asyncio.to_thread(redis_server.stop)
            started = loop.time()
            with pytest.raises(PacingUnavailableError) as failed:
                await client.sends.create(recipients=["b@pec.example.it"], subject="2", body="b")
            waited = loop.time() - started
            assert len(fake.state.ledger) == 1  # nothing left unpaced
            redis_server.start()  # main thread: see _start_here
            await client.sends.create(recipients=["c@pec.example.it"], subject="3", body="b")
        assert 0.25 <= waited <= 0.3 + 0.2 + 0.15  # max_outage, plus at most one call
        assert failed.value.url == redis_server.url
        assert [r.subject for r in fake.state.ledger] == ["1", "3"]
        assert fake.state.send_cap.rejected == 0
        messages = [r.getMessage() for r in caplog.records]
        assert any("unreachable" in m and "none leaves unpaced" in m for m in messages)
        assert any("answers again" in m for m in messages)

    async def test_redis_stopped_mid_job(
        self, redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A bulk job: Redis stops mid-job, no send leaves while it is down, the job resumes
        by itself when it is back; every recipient once, the cap never broken."""
        caplog.set_level(logging.INFO, logger="certmail_async")
        loop = asyncio.get_running_loop()
        t0, wall0 = loop.time(), time.time()

        def say(what: str, at: float | None = None) -> None:
            print(f"[{(loop.time() - t0) if at is None else at:6.3f}s] {what}")

        notices: list[str] = []
        total = 14
        messages = [
            OutgoingMessage(
                provider="pecmassiva",
                recipients=[f"r{i}@pec.example.it"],
                subject=f"job-{i}",
                body="b",
            )
            for i in range(total)
        ]
        async with (
            run_fake("pecmassiva", send_rate=CAP) as fake,
            RedisPacing(redis_server.url, timeout=0.2, max_outage=0.1) as pacing,
            fake.client(rate_limit=RATE) as client,
            BulkDispatcher(
                clients=[client],
                journal=tmp_path / "jobs.sqlite",
                pacing=pacing,
                outage_backoff=RetryPolicy(base=0.05, cap=0.2),
                on_progress=lambda p: p.notice and notices.append(p.notice),
            ) as dispatcher,
        ):
            ledger = fake.state.ledger

            async def run() -> list[object]:
                return [o async for o in dispatcher.run("redis-outage", messages)]

            job = asyncio.create_task(run())
            await until(lambda: len(ledger) >= 4)
            say(f"{len(ledger)} sent; stopping Redis")
            await asyncio.to_thread(redis_server.stop)
            stopped = loop.time()
            say(f"Redis stopped ({len(ledger)} sent)")
            await asyncio.sleep(0.45)  # two intervals and more with no gate
            during = [r for r in ledger if stopped + 0.05 < r.at]
            say(f"after 0.45 s without Redis: {len(ledger)} sent, {len(during)} since the stop")
            redis_server.start()  # main thread: see _start_here
            started = loop.time()
            say("Redis started again (empty)")
            outcomes = await asyncio.wait_for(job, 30)
            say(f"job done: {len(outcomes)} outcomes, {len(ledger)} sent")
        for record in caplog.records:  # when each was logged
            if record.name == "certmail_async.pacing" or "pacing" in record.getMessage():
                say(f"log {record.levelname}: {record.getMessage()}", record.created - wall0)
        for notice in dict.fromkeys(notices):
            say(f"progress: {notice}")
        arrivals = [r.at for r in ledger]
        before = max(t for t in arrivals if t <= stopped)
        after = min(t for t in arrivals if t >= started)
        say(f"last send before the stop at {before - t0:.3f}s, first after the restart at "
            f"{after - t0:.3f}s ({after - started:.3f}s after it)")  # fmt: skip
        assert during == []  # no request left while the gate was down
        assert [t for t in arrivals if stopped + 0.05 < t < started] == []
        assert len(ledger) == total  # every recipient sent...
        assert len({r.recipients for r in ledger}) == total  # ...once: no duplicate
        assert all(o.status is ChunkStatus.SENT for o in outcomes)  # type: ignore[attr-defined]
        assert fake.state.send_cap.rejected == 0  # the cap enforced by the fake held
        assert min(gaps(arrivals)) >= CAP.cap_interval
        assert any("pacing gate unreachable" in n for n in notices)
        assert any("answers again" in r.getMessage() for r in caplog.records)


class TestSecrets:
    async def test_keys_hold_no_token_nor_hash_of_it(self, redis_server: RedisServer) -> None:
        """redis-cli --scan: no key (nor value) holds the token or a hash of it, in any encoding."""
        token = "tok-" + secrets.token_urlsafe(24)
        async with (
            run_fake("pecmassiva", token=token, send_rate=CAP) as fake,
            RedisPacing(redis_server.url) as pacing,
            fake.client(rate_limit=RATE, pacing=pacing) as client,
        ):
            await client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
            gate = client._transport.gate()
            assert gate is not None
            await gate._flush(asyncio.get_running_loop().time() + 2)  # type: ignore[attr-defined]
        keys = (await asyncio.to_thread(redis_cli, redis_server.port, "--scan")).split()
        assert len(keys) == 1
        assert keys[0].startswith("certmail:pacing:")
        dump = await asyncio.to_thread(redis_cli, redis_server.port, "HGETALL", keys[0])
        forms: set[str] = set(secret_forms(token)) | {scope_digest(token)}
        raw = token.encode()
        for algo in ("md5", "sha1", "sha256", "sha512"):
            digest = hashlib.new(algo, raw).digest()
            forms |= {
                digest.hex(),
                digest.hex().upper(),
                base64.b64encode(digest).decode(),
                base64.urlsafe_b64encode(digest).decode().rstrip("="),
            }
            forms |= {hashlib.new(algo, raw + b"\0").hexdigest()[:16]}
        for text in (*keys, dump):
            found = [f for f in forms if len(f) >= 8 and f[:12] in text]
            assert found == []

    async def test_url_password_never_shown(
        self,
        redis_factory: Callable[[], RedisServer],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The password of the Redis URL is in no repr, log line or error (wrong one included)."""
        caplog.set_level(logging.DEBUG, logger="certmail_async")
        server = redis_factory()
        password = "pw-" + secrets.token_urlsafe(18)
        assert server.command("CONFIG", "SET", "requirepass", password) == b"+OK"
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        texts: list[str] = []
        async with RedisPacing(url, timeout=0.3, max_outage=0.2) as pacing:
            gate = pacing.gate("secret", RATE)
            await send_once(gate)  # the password works
            shown_rate = repr(RateLimit(requests=1, per=1, backend=url))
            texts += [repr(pacing), repr(gate), pacing.url, shown_rate]
            await asyncio.to_thread(server.stop)
            with pytest.raises(PacingUnavailableError) as down:
                await send_once(gate)
            texts += [str(down.value), repr(down.value), str(down.value.url)]
        wrong = url.replace(password, password[::-1])
        server.start()  # main thread: see _start_here
        assert server.command("CONFIG", "SET", "requirepass", password) == b"+OK"
        async with RedisPacing(wrong, timeout=0.3, max_outage=0.2) as other:
            with pytest.raises(PacingUnavailableError) as refused:
                await send_once(other.gate("secret", RATE))
            texts += [str(refused.value), repr(other)]
        texts += [r.getMessage() for r in caplog.records] + [caplog.text]
        assert "AuthenticationError" in str(refused.value) or "auth" in str(refused.value).lower()
        for text in texts:
            assert password not in text
            assert password[::-1] not in text


class TestSelection:
    def test_rate_limit_backend_selects_a_shared_redis_gate(self) -> None:
        """RateLimit(backend=url) paces through the process-wide RedisPacing of that URL."""
        url = "redis://:pw-rate-limit@127.0.0.1:1/0"
        rate = RateLimit(requests=1, per=1, backend=url)
        client = PecMassivaClient(token="t", username="u@x.it", password="p", rate_limit=rate)
        assert client._transport.backend is shared_backend(url)
        assert "pw-rate-limit" not in repr(rate)

    def test_environment_selects_redis_for_the_process(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CERTMAIL_PACING_URL paces every client through Redis; pacing=LocalPacing() opts out."""
        monkeypatch.setenv(PACING_URL_ENV, "redis://127.0.0.1:1/3")
        client = PecMassivaClient(token="t", username="u@x.it", password="p")
        assert isinstance(client._transport.backend, RedisPacing)
        assert client._transport.backend.url == "redis://127.0.0.1:1/3"
        local = PecMassivaClient(token="t", username="u@x.it", password="p", pacing=LocalPacing())
        assert isinstance(local._transport.backend, LocalPacing)
        unpaced = PecMassivaClient(token="t", username="u@x.it", password="p", rate_limit=None)
        assert unpaced._transport.backend is None

    def test_unusable_url_is_refused_never_a_fallback(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bad CERTMAIL_PACING_URL or pacing= value is a ValidationError, value not echoed."""
        monkeypatch.setenv(PACING_URL_ENV, "http://user:hunter22@redis.internal/0")
        with pytest.raises(ValidationError) as bad_env:
            PecMassivaClient(token="t", username="u@x.it", password="p")
        assert bad_env.value.field == PACING_URL_ENV
        assert "hunter22" not in str(bad_env.value)
        monkeypatch.delenv(PACING_URL_ENV)
        with pytest.raises(ValidationError) as bad_arg:
            PecMassivaClient(
                token="t",
                username="u@x.it",
                password="p",
                pacing="redis://127.0.0.1/0",  # type: ignore[arg-type]
            )
        assert bad_arg.value.field == "pacing"
        with pytest.raises(ValidationError) as bad_rate:
            RateLimit(requests=1, per=1, backend="redis://:hunter22@")
        assert bad_rate.value.field == "rate_limit.backend"
        assert "hunter22" not in str(bad_rate.value)

    async def test_dispatcher_paces_copies_of_the_clients(self, tmp_path: Path) -> None:
        """BulkDispatcher(pacing=...) paces its own copies; the caller's clients are unchanged."""
        pacing = RedisPacing("redis://127.0.0.1:1/0")
        client = PecMassivaClient(token="t", username="u@x.it", password="p")
        async with BulkDispatcher(
            clients=[client], journal=tmp_path / "j.sqlite", pacing=pacing
        ) as dispatcher:
            used = dispatcher._adapters["pecmassiva"].client
            assert used._transport.backend is pacing
            assert isinstance(client._transport.backend, LocalPacing)
            assert used._transport._holder is client._transport._holder  # one session
        with pytest.raises(ValidationError) as bad:
            BulkDispatcher(clients=[client], journal=":memory:", pacing=object())  # type: ignore[arg-type]
        assert bad.value.field == "pacing"


class TestCommandLine:
    async def test_two_bulk_processes_share_the_cap(self, redis_url: str, tmp_path: Path) -> None:
        """Two `certmail bulk` processes on one token (--pacing-url, CERTMAIL_PACING_URL): no 429."""
        cap = RateLimit(requests=1, per=0.5, margin=0)  # --time-scale 0.5: a second of 0.5 s
        async with run_fake("pecmassiva", send_rate=cap) as fake:
            runs = []
            for name, how in (("a", ["--pacing-url", redis_url]), ("b", [])):
                rows = tmp_path / f"{name}.csv"
                rows.write_text(
                    "recipient,subject\n"
                    + "".join(f"{name}{i}@pec.example.it,{name}-{i}\n" for i in range(3))
                )
                env = {**os.environ, PACING_URL_ENV: redis_url} if not how else None
                runs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "certmail_async",
                        "bulk",
                        str(rows),
                        "--provider",
                        "pecmassiva",
                        "--job-id",
                        name,
                        "--body",
                        "b",
                        "--journal",
                        str(tmp_path / f"{name}.sqlite"),
                        "--base-url",
                        fake.url,
                        "--fake-credentials",
                        "--time-scale",
                        "0.5",
                        *how,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.STDOUT,
                        env=env,
                        cwd=ROOT,
                    )
                )
            outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in runs)), 60)
            codes = [p.returncode for p in runs]
            assert codes == [0, 0], [out.decode()[-1500:] for out, _ in outs]
            assert len(fake.state.ledger) == 6
            assert fake.state.send_cap.rejected == 0
            assert min(gaps([r.at for r in fake.state.ledger])) >= cap.cap_interval

    async def test_bad_pacing_url_is_a_usage_error(self, tmp_path: Path) -> None:
        """--pacing-url that is not a Redis URL: exit 2, the value (a password) not echoed."""
        rows = tmp_path / "rows.csv"
        rows.write_text("recipient,subject\na@pec.example.it,s\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "certmail_async", "bulk", str(rows), "--provider",
            "pecmassiva", "--job-id", "j", "--body", "b", "--journal",
            str(tmp_path / "j.sqlite"), "--base-url", "http://127.0.0.1:9", "--fake-credentials",
            "--pacing-url", "http://user:hunter22@redis.internal/0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2, out.decode()
        assert "--pacing-url" in out.decode()
        assert "hunter22" not in out.decode()
