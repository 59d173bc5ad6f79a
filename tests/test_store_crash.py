"""Crash safety: a writer killed with SIGKILL at random moments never loses a reported change.

A subprocess (tests/store_crash_writer.py) enrolls users, changes passwords and deletes
users in a loop, printing a line after each commit. It is killed at a random moment,
again and again on the same database. After each kill:

* ``PRAGMA integrity_check`` is ok;
* every change the writer reported is there, with its outbox row;
* no user is half-written: each live user has an email, a password hash, all three
  templates and one outbox row per revision; each tombstone has none of those.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from argon2 import PasswordHasher

from store_support import store_config

ROOT = Path(__file__).resolve().parent.parent
WRITER = Path(__file__).resolve().parent / "store_crash_writer.py"


def _read_line(fd: int) -> bytes:
    """One line straight off the pipe, a byte at a time. A buffered ``readline`` may take
    bytes past the newline into its buffer, and ``communicate`` (which reads the raw pipe)
    would never see them: the next reported line would come back cut at its start."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


def _run_and_kill(config: Path, seed: int, rng: random.Random) -> list[list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(config), str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    )
    head = b""
    if rng.random() < 0.2:
        time.sleep(rng.uniform(0.0, 0.8))  # during start-up: imports, opening, migrating
    else:
        head = _read_line(proc.stdout.fileno())  # READY: the write loop starts now
        time.sleep(rng.uniform(0.0, 0.6))
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"writer ended by itself ({proc.returncode}): {err.decode()[-2000:]}"
    text = (head + out).decode()
    lines = text.split("\n")[:-1]  # a line cut by the kill has no newline: not reported
    return [line.split(" ", 3) for line in lines if line != "READY"]


def _check(db_path: Path, reported: dict[str, list[list[str]]], hasher: PasswordHasher) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            assert not reported  # killed before the schema was made: nothing was reported either
            return
        users = {row[0]: row for row in conn.execute("SELECT id, email, password_hash, revision, deleted_at FROM users")}
        templates = dict(conn.execute("SELECT user_id, COUNT(*) FROM templates GROUP BY user_id").fetchall())
        revisions = defaultdict(list)
        kinds = {}
        for user_id, kind, revision in conn.execute("SELECT user_id, kind, revision FROM outbox ORDER BY seq"):
            revisions[user_id].append(revision)
            kinds[(user_id, revision)] = kind

        # No half-written user, reported or not.
        for user_id, (_, email, password_hash, revision, deleted_at) in users.items():
            assert revisions[user_id] == list(range(1, revision + 1)), f"outbox rows of {user_id} do not match its revisions"
            assert kinds[(user_id, 1)] == "enroll"
            if deleted_at is None:
                assert email and password_hash and templates.get(user_id) == 3, f"half-written user {user_id}"
            else:
                assert email is None and password_hash is None and user_id not in templates
                assert kinds[(user_id, revision)] == "delete"

        # Every reported change is there.
        last_password: dict[str, tuple[int, str]] = {}
        for user_id, events in reported.items():
            assert user_id in users, f"reported enrollment of {user_id} is lost"
            for event in events:
                if event[0] == "E":
                    assert kinds[(user_id, 1)] == "enroll"
                    if users[user_id][4] is None:
                        assert users[user_id][1] == event[2]
                elif event[0] == "P":
                    revision = int(event[2])
                    assert users[user_id][3] >= revision and kinds[(user_id, revision)] == "password"
                    last_password[user_id] = (revision, event[3])
                else:
                    assert users[user_id][4] is not None, f"reported deletion of {user_id} is lost"
                    assert kinds[(user_id, int(event[2]))] == "delete"
        for user_id, (revision, password) in last_password.items():
            _, _, password_hash, current, deleted_at = users[user_id]
            if deleted_at is None and current == revision:
                assert hasher.verify(password_hash, password)
    finally:
        conn.close()


def _crash_many(tmp_path: Path, kills: int) -> None:
    data = store_config(tmp_path)
    data["store"]["path"] = str(tmp_path / "state" / "facekiosk.db")
    data["store"]["key_file"] = str(tmp_path / "template-key")
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(data))
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    rng = random.Random(1234)
    reported: dict[str, list[list[str]]] = defaultdict(list)
    changes = 0
    for seed in range(kills):
        events = _run_and_kill(config, seed, rng)
        changes += len(events)
        for event in events:
            reported[event[1]].append(event)
        if (tmp_path / "state" / "facekiosk.db").exists():
            _check(tmp_path / "state" / "facekiosk.db", reported, hasher)
    assert changes > kills, f"only {changes} changes were reported over {kills} runs: the kills came too early"
    print(f"{kills} kills, {changes} reported changes, {len(reported)} users")


def test_crash_safety_quick(tmp_path: Path) -> None:
    _crash_many(tmp_path, kills=5)


@pytest.mark.slow
def test_crash_safety_50_kills(tmp_path: Path) -> None:
    _crash_many(tmp_path, kills=50)
