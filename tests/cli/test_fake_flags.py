"""The fakes-only flags of `certmail bulk` and `resume` never reach a real provider."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmail_async.cli._app import _loopback, app

RUNNER = CliRunner()


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    """A one-row recipients file."""
    path = tmp_path / "rows.csv"
    path.write_text("recipient,subject\na@pec.example.it,Avviso\n")
    return path


def bulk(csv_file: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    result = RUNNER.invoke(
        app,
        [
            "bulk", str(csv_file), "--provider", "pecmassiva", "--job-id", "j", "--body", "b",
            "--journal", str(tmp_path / "j.sqlite"), *extra,
        ],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    return result.exit_code, result.output


class TestRefusals:
    def test_fake_credentials_without_base_url(self, csv_file: Path, tmp_path: Path) -> None:
        """--fake-credentials alone would talk to the production host: exit 2, nothing sent."""
        code, out = bulk(csv_file, tmp_path, "--fake-credentials")
        assert code == 2
        assert "--fake-credentials only works with a fake" in out
        assert "production host" in out
        assert not (tmp_path / "j.sqlite").exists()

    @pytest.mark.parametrize(
        "url", ["https://ws.pecmassiva.com", "http://10.0.0.5:8400", "http://127.example.com"]
    )
    def test_fake_credentials_with_a_real_host(
        self, csv_file: Path, tmp_path: Path, url: str
    ) -> None:
        """--fake-credentials with a non-loopback --base-url is refused (exit 2)."""
        code, out = bulk(csv_file, tmp_path, "--fake-credentials", "--base-url", url)
        assert code == 2
        assert "loopback" in out

    def test_time_scale_without_a_fake(self, csv_file: Path, tmp_path: Path) -> None:
        """--time-scale (fakes only) against the production host is refused (exit 2)."""
        code, out = bulk(csv_file, tmp_path, "--time-scale", "0.1")
        assert code == 2
        assert "--time-scale is for the fakes only" in out

    def test_time_scale_with_a_real_host(self, csv_file: Path, tmp_path: Path) -> None:
        """--time-scale against a non-loopback --base-url is refused (exit 2)."""
        code, out = bulk(csv_file, tmp_path, "--time-scale", "0.1", "--base-url", "https://x.it")
        assert code == 2
        assert "--time-scale is for the fakes only" in out

    def test_loopback_is_accepted(self, csv_file: Path, tmp_path: Path) -> None:
        """With a loopback --base-url both flags pass the check (the dry run sends nothing)."""
        code, out = bulk(
            csv_file, tmp_path, "--fake-credentials", "--time-scale", "0.1",
            "--base-url", "http://127.0.0.1:9", "--dry-run",
        )  # fmt: skip
        assert code == 0, out


class TestLoopback:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("http://127.0.0.1:8400", True),
            ("http://127.3.2.1", True),
            ("http://localhost:8400", True),
            ("http://[::1]:8400", True),
            ("https://ws.pecmassiva.com", False),
            ("http://127.0.0.1.example.com", False),
            ("http://[::ffff:10.0.0.1]", False),
            ("not a url", False),
            (None, False),
        ],
    )
    def test_loopback(self, url: str | None, expected: bool) -> None:
        """Only 127.0.0.0/8, ::1 and localhost count as loopback."""
        assert _loopback(url) is expected
