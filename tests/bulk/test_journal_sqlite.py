"""SQLiteJournal beyond the shared contract: the file itself (corrupt, unreadable, read-only),
the schema version, reads that never create a file, and owners found dead by pid."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from certmail_async import JobLockedError, JobNotFoundError, JournalError
from certmail_async.bulk import SQLiteJournal
from certmail_async.bulk import _journal as journal_module
from certmail_async.bulk._journal import pid_alive, this_host
from certmail_async.bulk._journal_sqlite import SCHEMA_VERSION
from certmail_async.bulk._models import ChunkRecord, ChunkStatus
from certmail_async.bulk._report import export_records, job_status

pytestmark = pytest.mark.timeout(30)


def chunk(seq: int) -> ChunkRecord:
    return ChunkRecord(
        job_id="job", seq=seq, provider="pecmassiva", recipients=(f"r{seq}@pec.example.it",),
        digest="d", subject_digest="s", status=ChunkStatus.PENDING,
    )  # fmt: skip


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where the journal lives."""
    return tmp_path / "jobs.sqlite"


@pytest.fixture
async def filled(path: Path) -> Path:
    """A journal file holding one job with 50 chunks, closed."""
    journal = SQLiteJournal(path)
    lease = await journal.acquire("job", owner_id="A", ttl=30)
    await journal.open_job(lease, "fp", {})
    await journal.add_pending(lease, [chunk(i) for i in range(50)])
    await journal.release(lease)
    await journal.aclose()
    return path


def rewrite(path: Path, edit: Callable[[bytes], bytes]) -> None:
    path.write_bytes(edit(path.read_bytes() if path.exists() else b""))


def exists(path: Path) -> bool:
    return path.exists()


async def first_use(path: Path) -> None:
    journal = SQLiteJournal(path)
    try:
        await journal.acquire("job", owner_id="B", ttl=30)
    finally:
        await journal.aclose()


class TestDamagedFiles:
    async def test_random_bytes(self, path: Path) -> None:
        """A file of random bytes is a JournalError naming the file, not sqlite3.DatabaseError."""
        rewrite(path, lambda _: os.urandom(8192))
        with pytest.raises(JournalError, match="corrupt or not a journal") as info:
            await first_use(path)
        assert info.value.path == str(path)
        assert str(path) in str(info.value)

    async def test_garbage_header(self, filled: Path) -> None:
        """A journal whose header was overwritten is refused."""
        rewrite(filled, lambda data: b"\x00" * 100 + data[100:])
        with pytest.raises(JournalError):
            await first_use(filled)

    async def test_truncated(self, filled: Path) -> None:
        """A journal cut short fails its integrity check (or is not a database at all)."""
        rewrite(filled, lambda data: data[: len(data) // 2])
        with pytest.raises(JournalError, match=str(filled)):
            await first_use(filled)

    async def test_a_directory_in_place_of_the_file(self, path: Path) -> None:
        """A directory at the journal's path is refused (the unreadable case root can build)."""
        os.mkdir(path)
        with pytest.raises(JournalError, match="is a directory"):
            await first_use(path)

    async def test_missing_directory(self, tmp_path: Path) -> None:
        """A journal in a directory that does not exist is refused, not created."""
        with pytest.raises(JournalError, match="does not exist"):
            await first_use(tmp_path / "nope" / "jobs.sqlite")
        assert not exists(tmp_path / "nope")

    async def test_lost_column(self, filled: Path) -> None:
        """A table that lost a column is refused, naming it."""
        conn = sqlite3.connect(filled)
        conn.executescript("DROP INDEX chunks_evidence; ALTER TABLE chunks DROP COLUMN evidence;")
        conn.close()
        with pytest.raises(JournalError, match="evidence"):
            await first_use(filled)

    async def test_newer_schema(self, filled: Path) -> None:
        """A journal from a newer version is refused rather than half understood."""
        conn = sqlite3.connect(filled)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()
        with pytest.raises(JournalError, match="newer"):
            await first_use(filled)

    async def test_foreign_database(self, path: Path) -> None:
        """Another program's SQLite file is not taken for a journal."""
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE chunks (x)")
        conn.close()
        with pytest.raises(JournalError, match="no certmail schema"):
            await first_use(path)


class TestDamagedRows:
    """A row whose content cannot be read back is a JournalError, never a raw error."""

    @pytest.mark.parametrize(
        ("column", "value"),
        [
            ("status", "bogus"),
            ("recipients", "not json"),
            ("recipients", "[1, 2]"),
            ("provider_ids", "{"),
            ("failed_recipients", "[]"),
            ("evidence", "{}"),
            ("in_flight_at", "soon"),
        ],
    )
    async def test_every_read_refuses_a_damaged_row(
        self, filled: Path, column: str, value: str
    ) -> None:
        """Export and a chunk read raise JournalError naming the file (status: bad states)."""
        conn = sqlite3.connect(filled)
        conn.execute(f"UPDATE chunks SET {column}=? WHERE seq=7", (value,))  # noqa: S608
        conn.commit()
        conn.close()
        journal = SQLiteJournal(filled, readonly=True)
        try:
            if column == "status":
                with pytest.raises(JournalError, match="damaged row"):
                    await job_status(journal, "job")
            with pytest.raises(JournalError, match="damaged row") as info:
                async for _ in export_records(journal, "job"):
                    pass
            assert info.value.path == str(filled)
            with pytest.raises(JournalError, match="damaged row"):
                await journal.get("job", 7)
        finally:
            await journal.aclose()

    async def test_damaged_job_metadata(self, filled: Path) -> None:
        """A job row whose metadata is not a JSON object is a JournalError."""
        conn = sqlite3.connect(filled)
        conn.execute("UPDATE jobs SET meta='[' WHERE job_id='job'")
        conn.commit()
        conn.close()
        journal = SQLiteJournal(filled, readonly=True)
        try:
            with pytest.raises(JournalError, match="unreadable metadata"):
                await journal.job_meta("job")
        finally:
            await journal.aclose()


def _chattr(flag: str, *paths: Path) -> bool:
    """Make paths read-only (+) or writable again (-), for root too when possible.

    Root ignores file modes, so as root this takes ``chattr +i`` (ext4, xfs...); another
    user gets plain modes (0o444 files, 0o555 directories). False when neither works here.
    """
    if os.geteuid() != 0:
        for p in paths:
            os.chmod(p, (0o555 if p.is_dir() else 0o444) if flag == "+i" else 0o755)
        return True
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    done = subprocess.run([chattr, flag, *map(str, paths)], capture_output=True, check=False)
    return done.returncode == 0


class TestReadOnly:
    async def test_immutable_journal_is_refused_before_any_write(self, filled: Path) -> None:
        """A journal file that cannot be written (chattr +i binds even root) is a JournalError
        saying read-only at the first call, before anything is recorded; reads still work."""
        if not _chattr("+i", filled):
            pytest.skip("no way to make a file read-only for root here (chattr +i)")
        try:
            journal = SQLiteJournal(filled)
            with pytest.raises(JournalError, match="read-only") as info:
                await journal.acquire("job", owner_id="B", ttl=30)
            assert info.value.path == str(filled)
            status = await job_status(journal, "job")
            assert status.chunks == {"pending": 50}
            await journal.aclose()
        finally:
            _chattr("-i", filled)

    async def test_unwritable_directory_is_refused(self, filled: Path) -> None:
        """With the directory immutable too (no -wal/-shm can be made), the journal is refused."""
        if not _chattr("+i", filled, filled.parent):
            pytest.skip("no way to make a file read-only for root here (chattr +i)")
        try:
            with pytest.raises(JournalError, match="read-only") as info:
                await first_use(filled)
            assert info.value.path == str(filled)
        finally:
            _chattr("-i", filled, filled.parent)

    async def test_readonly_handle_refuses_writes(self, filled: Path) -> None:
        """SQLiteJournal(readonly=True) reads and refuses every write with JournalError."""
        journal = SQLiteJournal(filled, readonly=True)
        assert await journal.max_seq("job") == 49
        with pytest.raises(JournalError, match="read-only"):
            await journal.acquire("job", owner_id="B", ttl=30)
        await journal.aclose()


class TestReadsCreateNothing:
    async def test_status_and_export_of_a_missing_file(self, path: Path) -> None:
        """status / export on a journal that does not exist: JobNotFoundError, and no file appears."""
        journal = SQLiteJournal(path)
        with pytest.raises(JobNotFoundError, match="no job 'x'"):
            await job_status(journal, "x")
        with pytest.raises(JobNotFoundError):
            [r async for r in export_records(journal, "x")]
        await journal.aclose()
        assert os.listdir(path.parent) == []

    async def test_readonly_missing_file(self, path: Path) -> None:
        """readonly=True on a missing file reads as empty and creates nothing."""
        journal = SQLiteJournal(path, readonly=True)
        assert await journal.jobs() == []
        await journal.aclose()
        assert not exists(path)

    async def test_wal_and_full_sync(self, path: Path) -> None:
        """The journal runs in WAL mode with synchronous=FULL."""
        journal = SQLiteJournal(path)
        await journal.acquire("job", owner_id="A", ttl=30)
        conn = journal._connect()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        await journal.aclose()


class TestDeadOwners:
    def _dead_pid(self) -> int:
        done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        return int(done.stdout)

    async def test_lease_of_a_dead_pid_is_taken_over(self, path: Path) -> None:
        """A live lease whose pid is gone on this host is taken over at once with token + 1."""
        journal = SQLiteJournal(path)
        lease = await journal.acquire("job", owner_id="A", ttl=30)
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE leases SET pid=?", (self._dead_pid(),))
        conn.close()
        taken = await journal.acquire("job", owner_id="B", ttl=30)
        assert taken.token == lease.token + 1
        await journal.aclose()

    async def test_lease_on_another_host_waits_for_expiry(self, path: Path) -> None:
        """On another host the pid means nothing: the lease holds until it lapses."""
        journal = SQLiteJournal(path)
        await journal.acquire("job", owner_id="A", ttl=30)
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE leases SET host='elsewhere', pid=?", (self._dead_pid(),))
        conn.close()
        with pytest.raises(JobLockedError, match="elsewhere"):
            await journal.acquire("job", owner_id="B", ttl=30)
        await journal.aclose()

    async def test_lease_from_another_pid_namespace_waits(self, path: Path) -> None:
        """Same hostname, other pid namespace (a container on the host network): pids are not
        judged, the lease holds until it lapses."""
        journal = SQLiteJournal(path)
        await journal.acquire("job", owner_id="A", ttl=30)
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(
                "UPDATE leases SET host=?, pid=?", (f"{this_host()}/pidns-1", self._dead_pid())
            )
        conn.close()
        with pytest.raises(JobLockedError, match="pidns-1"):
            await journal.acquire("job", owner_id="B", ttl=30)
        await journal.aclose()

    def test_pid_alive(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Our own pid is alive, a reaped child is not, and PermissionError means alive."""
        assert pid_alive(os.getpid())
        assert not pid_alive(self._dead_pid())

        def denied(pid: int, signal: int) -> None:
            raise PermissionError

        monkeypatch.setattr(journal_module.os, "kill", denied)
        assert pid_alive(12345)

    def test_zombie_counts_as_dead(self) -> None:
        """A killed child not yet reaped (a zombie) still answers os.kill; it counts as gone."""
        # A live child that waits on its stdin (never on the clock) until it is killed.
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
        )
        try:
            child.kill()
            for _ in range(200):
                stat = Path(f"/proc/{child.pid}/stat")
                if not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                    break
                os.sched_yield()
            assert not pid_alive(child.pid)
        finally:
            child.wait()
            assert child.stdin is not None
            child.stdin.close()


class TestErrorsAreTyped:
    async def test_no_raw_sqlite_error_escapes(self, filled: Path) -> None:
        """Even a journal broken under an open handle raises JournalError, never sqlite3.Error."""
        journal = SQLiteJournal(filled)
        await journal.max_seq("job")
        conn = sqlite3.connect(filled)
        conn.execute("DROP TABLE claims")
        conn.close()
        with pytest.raises(JournalError) as info:
            await journal.claimed("pecmassiva", ["x"])
        assert isinstance(info.value.__cause__, sqlite3.Error)
        await journal.aclose()
