"""tests/powercut_writer.py with the store's folder fsync disabled (kiosk.store.db's
fsync_dir and makedirs_durable made plain): the fault the power-cut test must catch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import kiosk.store.db as db


def _plain_mkdirs(path: str | Path, mode: int = 0o755) -> list[Path]:
    os.makedirs(path, mode, exist_ok=True)
    return []


db.fsync_dir = lambda path: None  # type: ignore[assignment]
db.makedirs_durable = _plain_mkdirs  # type: ignore[assignment]

if __name__ == "__main__":
    import powercut_writer

    powercut_writer.main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
