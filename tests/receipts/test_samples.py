"""The committed sample receipts are exactly what their generator writes."""

from __future__ import annotations

import runpy
from pathlib import Path

from .conftest import SAMPLES


class TestSamples:
    def test_committed_files_match_the_generator(self, tmp_path: Path) -> None:
        """Regenerating the samples gives the committed bytes (no hand edits drift)."""
        generator = runpy.run_path(str(SAMPLES / "make_samples.py"))
        generator["main"](tmp_path)
        written = sorted(p.name for p in tmp_path.glob("*.eml"))
        committed = sorted(p.name for p in SAMPLES.glob("*.eml"))
        assert written == committed
        for name in written:
            assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name

    def test_samples_use_crlf(self) -> None:
        """Every sample ends its lines with CRLF, as IMAP delivers messages."""
        for path in SAMPLES.glob("*.eml"):
            data = path.read_bytes()
            assert b"\n" in data
            assert data.count(b"\n") == data.count(b"\r\n"), path.name
