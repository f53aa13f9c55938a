"""Job ownership between real OS processes on one SQLite journal: races, SIGKILL, SIGSTOP."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certmail_async.bulk._journal import this_host

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """One owner process (tests/bulk/lease_worker.py) driven over its pipes."""

    def __init__(self, journal: Path, owner: str) -> None:
        self.owner = owner
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bulk.lease_worker", "--journal", str(journal),
             "--owner", owner],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert self.read() == {"ready": True}

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"worker {self.owner} died"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, command: str) -> dict[str, Any]:
        self.send(command)
        return self.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    """Start owner processes on one journal; all are killed and reaped afterwards."""
    started: list[Worker] = []
    journal = tmp_path / "jobs.sqlite"

    def start(owner: str) -> Worker:
        worker = Worker(journal, owner)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()


def journal_rows(journal: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(journal)
    rows = conn.execute("SELECT seq, status FROM chunks ORDER BY seq").fetchall()
    conn.close()
    return rows


class TestTwoProcesses:
    def test_race_one_winner_then_takeover_after_sigkill(
        self, workers: Any, tmp_path: Path
    ) -> None:
        """Two processes race for one job: exactly one wins; SIGKILL it and a third takes over with a larger token."""
        a, b = workers("A"), workers("B")
        a.send("acquire 30")
        b.send("acquire 30")
        answers = {"A": a.read(), "B": b.read()}
        winners = [o for o, ans in answers.items() if ans.get("token") is not None]
        assert len(winners) == 1, answers
        winner, loser = (a, b) if winners == ["A"] else (b, a)
        lost = answers[loser.owner]
        assert lost["owner"] == f"{winner.owner}@{this_host()} pid {winner.pid}"
        assert 0 < lost["expires_in"] <= 30
        token = answers[winner.owner]["token"]
        assert winner.ask("open") == {"existed": False}
        assert winner.ask("in_flight 0") == {"ok": True}

        winner.process.send_signal(signal.SIGKILL)
        winner.process.wait()  # reaped: its pid is gone (a zombie would count as gone too)

        c = workers("C")
        taken = c.ask("acquire 30")
        assert taken["token"] == token + 1
        assert c.ask("open") == {"existed": True}
        assert loser.ask("acquire 30")["owner"] == f"C@{this_host()} pid {c.pid}"
        assert journal_rows(tmp_path / "jobs.sqlite") == [(0, "in_flight")]

    def test_paused_owner_is_fenced_after_takeover(self, workers: Any, tmp_path: Path) -> None:
        """An owner paused past its lease (SIGSTOP) is taken over; resumed, it can write nothing."""
        a, b = workers("A"), workers("B")
        assert a.ask("acquire 0.1")["token"] == 1
        assert a.ask("open") == {"existed": False}
        a.process.send_signal(signal.SIGSTOP)
        try:
            # B asks until A's 0.1 s lease has lapsed (A is frozen: it cannot renew).
            deadline = time.monotonic() + 10
            answer = b.ask("acquire 30")
            while "token" not in answer and time.monotonic() < deadline:
                assert "taken" not in answer, answer
                answer = b.ask("acquire 30")
            assert answer["token"] == 2
        finally:
            a.process.send_signal(signal.SIGCONT)
        refused = a.ask("in_flight 0")
        assert "taken over by B" in refused["locked"]
        assert a.ask("renew 30")["locked"]
        assert journal_rows(tmp_path / "jobs.sqlite") == []
        assert b.ask("in_flight 0") == {"ok": True}

    def test_many_racers_one_winner(self, workers: Any) -> None:
        """Five processes racing on the same instant: one token 1, four JobLockedErrors."""
        racers = [workers(f"R{i}") for i in range(5)]
        for racer in racers:
            racer.send("acquire 30")
        answers = [racer.read() for racer in racers]
        assert sorted(a.get("token") or 0 for a in answers) == [0, 0, 0, 0, 1]
