"""Power cuts at random moments lose nothing the kiosk said was saved (tests/powercut.py).

Before kiosk/store/db.py fsynced the database's folder, the first cuts lost every
acknowledged change: SQLite fsyncs the folder of its WAL, never the folder above, so the
state folder and the database vanished with the power (``the database is gone with 56
acknowledged users``). ``benchmarks/powercut.py --cuts 200 --json`` runs more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fusefs import fuse_available

pytestmark = pytest.mark.skipif(bool(fuse_available()), reason=fuse_available() or "")


def assert_nothing_lost(figures) -> None:
    result = figures.as_dict()
    assert result["changes_lost"] == 0 and result["corrupt_databases"] == 0, result
    assert result["torn_files"] == 0 and result["failed_starts"] == 0, result
    assert result["acknowledged_changes"] > result["cuts"], f"the cuts came too early to test anything: {result}"


def test_a_few_cuts(tmp_path: Path) -> None:
    from powercut import run_cuts

    assert_nothing_lost(run_cuts(tmp_path, cuts=3, seed=7))


@pytest.mark.slow
def test_twenty_five_cuts(tmp_path: Path) -> None:
    from powercut import run_cuts

    assert_nothing_lost(run_cuts(tmp_path, cuts=25, seed=11))


@pytest.mark.slow
def test_the_harness_sees_a_lost_database(tmp_path: Path, monkeypatch) -> None:
    """The check can fail: with the folder fsync taken out again, a cut loses the database."""
    import powercut

    monkeypatch.setattr(powercut, "WRITER", Path(__file__).resolve().parent / "powercut_writer_nodirsync.py")
    figures = powercut.run_cuts(tmp_path, cuts=3, seed=3)
    assert figures.lost > 0 and any("database is gone" in f for f in figures.failures), figures.as_dict()


def test_the_benchmark_runs_a_snapshot_of_the_code(tmp_path: Path) -> None:
    """benchmarks/powercut.py copies the code first and runs the copy (harness and writer):
    a commit in the checkout during a long run once put two schema versions in one run
    (51 failed starts from cut 35: 'schema version 6, newer than this FaceKiosk understands
    (5)'). The copy is what Python imports, ahead of the venv's editable install."""
    import importlib.util
    import os
    import subprocess
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "powercut.py"
    spec = importlib.util.spec_from_file_location("powercut_benchmark", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.snapshot(bench.CHECKOUT, tmp_path / "code")
    for part in ("kiosk/store/db.py", "tests/powercut_writer.py", "tests/fusefs.py", "benchmarks/powercut.py", "config.yml"):
        assert (code / part).is_file(), part
    assert not list(code.rglob("__pycache__"))
    found = subprocess.run([sys.executable, "-c", "import kiosk.store.db, powercut; print(kiosk.store.db.__file__, powercut.WRITER)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{code / 'tests'}"}).stdout.split()
    assert found == [str(code / "kiosk/store/db.py"), str(code / "tests/powercut_writer.py")]


def test_serving_check_uses_the_password_of_the_current_revision(tmp_path: Path) -> None:
    """A password change the writer committed but the cut kept from being reported replaces
    the last reported password legitimately: the check signs in only where the account is
    at the reported change's revision (before, it counted a failed start on every later
    cut, and its own wrong tries locked the account), and still fails on a wrong one."""
    import numpy as np

    from kiosk.config import parse_config
    from kiosk.store import Store
    from powercut import DB, KEY, LOCKOUT, Figures, check_serves
    from store_support import TINY_ARGON2

    (tmp_path / KEY).parent.mkdir(parents=True)
    (tmp_path / KEY).write_bytes(bytes(range(32)))
    (tmp_path / KEY).chmod(0o600)
    settings = parse_config({"store": {"path": str(tmp_path / DB), "key_file": str(tmp_path / KEY)},
                             "passwords": dict(TINY_ARGON2), "lockout": dict(LOCKOUT)}, base_dir=tmp_path)
    with Store.open(settings) as store:
        user = store.enroll("ann@example.org", "first password", np.ones((3, 128), np.float32), "crash/fp32@0")
        reported = store.change_password(user.id, "reported")
        store.change_password(user.id, "committed, never reported")
    figures = Figures()
    check_serves(tmp_path, {user.id: (reported.revision, "reported")}, figures, "stale")
    assert figures.failed_starts == 0, figures.failures
    check_serves(tmp_path, {user.id: (reported.revision + 1, "not it")}, figures, "wrong")
    assert figures.failed_starts == 1, figures.failures


def test_the_sync_check_sees_a_drained_change_missing_on_the_server(tmp_path: Path) -> None:
    """The check can fail: an outbox row a finished sync pass covered but the server lacks."""
    import sqlite3
    from types import SimpleNamespace

    from powercut import Figures, check_synced

    db = tmp_path / "facekiosk.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, user_id TEXT, revision INTEGER)")
    conn.executemany("INSERT INTO outbox VALUES (?, ?, ?)", [(1, "u1", 1), (2, "u1", 2), (3, "u2", 1)])
    conn.commit()
    conn.close()
    records = {"u1": {"revision": 2, "deleted": False}}
    cloud = SimpleNamespace(server=SimpleNamespace(get_data=lambda path: records))
    figures = Figures()
    check_synced(db, cloud, 2, figures, "covered")  # u2's row came after the pass
    assert figures.lost == 0, figures.failures
    check_synced(db, cloud, 3, figures, "missing")
    assert figures.lost == 1 and "u2" in figures.failures[0], figures.failures
