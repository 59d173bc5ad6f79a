"""A full or failing disk under the real store (the forgetting filesystem's faults): the
change is refused whole, nothing is half-saved, sign-in goes on, and the store writes
again by itself once there is room (issue 18)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fusefs import fuse_available, mounted
from store_support import make_settings

from kiosk.store import Store
from kiosk.store.db import storage_problem

pytestmark = pytest.mark.skipif(bool(fuse_available()), reason=fuse_available() or "")
MODEL = "faults/fp32@0"


def templates(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((3, 128)).astype(np.float32)


@pytest.mark.parametrize("fault,kind", [("enospc", "full"), ("eio", "failing"), ("readonly", "failing")])
def test_a_refused_write_leaves_nothing_and_the_kiosk_serves_on(tmp_path: Path, fault: str, kind: str) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    with mounted(seed, tmp_path / "mnt") as mount:
        settings = make_settings(tmp_path / "mnt")
        with Store.open(settings) as store:
            store.enroll("ann@example.org", "first password 1", templates(1), MODEL)
            # Fill the WAL's allocated pages first so the fault hits a growing write.
            mount.fault(fault)
            with pytest.raises(Exception) as info:
                for i in range(50):  # one of these writes needs new space / hits the fault
                    store.enroll(f"bob{i}@example.org", "first password 2", templates(2 + i), MODEL)
            assert storage_problem(info.value) == kind, repr(info.value)
            mount.fault(None)
        # What is on disk is whole: integrity ok, Ann intact, no half-written user.
        conn = sqlite3.connect(tmp_path / "mnt" / "state" / "facekiosk.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT u.password_hash IS NOT NULL, COUNT(t.user_id) FROM users u "
                            "LEFT JOIN templates t ON t.user_id = u.id WHERE u.deleted_at IS NULL GROUP BY u.id").fetchall()
        assert all(count == 3 for _, count in rows), rows
        conn.close()
        with Store.open(settings) as store:
            assert store.sign_in_password("ann@example.org", "first password 1").email == "ann@example.org"
            user = store.enroll("carol@example.org", "first password 3", templates(99), MODEL)  # room again
            assert store.get_user("carol@example.org").id == user.id


def test_storage_problem_names_only_storage_errors() -> None:
    assert storage_problem(sqlite3.OperationalError("database or disk is full")) == "full"
    assert storage_problem(OSError(28, "No space left on device")) == "full"
    assert storage_problem(sqlite3.OperationalError("disk I/O error")) == "failing"
    assert storage_problem(sqlite3.OperationalError("attempt to write a readonly database")) == "failing"
    assert storage_problem(sqlite3.OperationalError("no such table: users")) is None
    assert storage_problem(ValueError("x")) is None


def test_doctor_says_the_disk_is_full_or_failing(tmp_path: Path) -> None:
    import os

    from kiosk.commands.doctor import check_storage

    settings = make_settings(tmp_path)
    real = os.statvfs(str(tmp_path))

    def fake(free_blocks: int, flags: int = 0):
        values = list(real)
        values[4] = free_blocks  # f_bavail
        values[8] = flags  # f_flag
        return lambda path: os.statvfs_result(values)

    assert check_storage(settings).ok is True
    full = check_storage(settings, fake(1))
    assert full.ok is False and "disk is full" in full.detail
    readonly = check_storage(settings, fake(10**9, os.ST_RDONLY))
    assert readonly.ok is False and "storage is failing" in readonly.detail
