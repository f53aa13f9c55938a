"""Shared helpers for the receipt tests: the sample .eml files under tests/data/receipts."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).parent.parent / "data" / "receipts"
ATTACKS = SAMPLES / "attacks"


def sample(name: str) -> bytes:
    """The bytes of one committed sample."""
    return (SAMPLES / name).read_bytes()
