"""Shared pieces of the user-store tests (tests/test_store_*.py)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from kiosk.config import Settings, parse_config

if TYPE_CHECKING:
    from kiosk.store import Store

# argon2id parameters that cost about a millisecond: for tests that are not about argon2;
# and no strength rule, for tests not about it (tests/test_password_strength.py is).
TINY_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1, "min_strength": 0}
MODEL = "dlib_resnet_v1/fp32@00112233445566778"
OTHER_MODEL = "dlib_resnet_v1/fp16@99aabbccddeeff00"


class FakeClock:
    """A clock to pass to the store: time moves only when the test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_key(path: Path) -> bytes:
    key = os.urandom(32)
    path.write_bytes(key)
    path.chmod(0o600)
    return key


def store_config(tmp_path: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A config mapping with the database and key inside ``tmp_path`` and tiny argon2."""
    if not (tmp_path / "template-key").exists():
        write_key(tmp_path / "template-key")
    data: dict[str, Any] = {
        # The repository's models (and their fusion manifest), wherever the test runs.
        "models": {"dir": str(Path(__file__).resolve().parents[1] / "models")},
        "store": {"path": "state/facekiosk.db", "key_file": "template-key"},
        "passwords": dict(TINY_ARGON2),
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    return parse_config(store_config(tmp_path, **sections), base_dir=tmp_path)


def unit_vectors(count: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _file_of(database: "Store | Path") -> Path:
    return database if isinstance(database, Path) else database.path


def query(database: "Store | Path", sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of ``sql``, read from the store's file through a connection of the test's own.

    The store's connection belongs to the store (one thread, its own transactions); a test
    that looks under the API opens the file like any other reader. With WAL it sees every
    change the store has committed.
    """
    conn = sqlite3.connect(_file_of(database), isolation_level=None, timeout=5.0)
    try:
        return conn.execute(sql, tuple(params)).fetchall()
    finally:
        conn.close()


def query_one(database: "Store | Path", sql: str, params: Sequence[Any] = ()) -> Any:
    """The single value of a one-row, one-column ``sql`` (a count, a PRAGMA, a field)."""
    [(value,)] = query(database, sql, params)
    return value


def execute(database: "Store | Path", sql: str, params: Sequence[Any] = ()) -> None:
    """Change the file behind the store's back (planted damage, a checkpoint), committed at once."""
    query(database, sql, params)
