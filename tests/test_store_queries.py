"""The store's API for callers outside kiosk/store that once ran their own SQL: counting
users, finding one, noticing other writers, consistent snapshots, the file check behind
``doctor`` and the benchmark's bulk loading."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from kiosk.commands.doctor import check_store
from kiosk.store import Store, db
from kiosk.store.bulk import NewUser, add_users, count_templates
from kiosk.store.emails import normalize_email
from kiosk.store.health import check_file
from store_support import MODEL, execute, make_settings, unit_vectors


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(make_settings(tmp_path)) as opened:
        yield opened


def test_count_users_counts_live_accounts_only(store: Store) -> None:
    assert store.count_users() == 0
    for n, email in enumerate(("ann@example.org", "bob@example.org", "cy@example.org")):
        store.enroll(email, "correct horse", unit_vectors(1, seed=n), MODEL)
    store.delete_user("bob@example.org")
    assert store.count_users() == 2 == len(store.list_users())
    assert len(store.list_users(include_deleted=True)) == 3


def test_find_user_is_none_where_get_user_raises(store: Store) -> None:
    ann = store.enroll("Ann@example.org", "correct horse", unit_vectors(1), MODEL)
    found = store.find_user("ANN@EXAMPLE.ORG")
    assert found is not None and found.id == ann.id
    assert store.find_user("nobody@example.org") is None
    store.delete_user("ann@example.org")
    assert store.find_user("ann@example.org") is None  # a tombstone keeps no email


def test_data_version_moves_on_other_connections_commits_only(store: Store, tmp_path: Path) -> None:
    before = store.data_version()
    store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    assert store.data_version() == before, "the store's own commit"
    with Store.open(make_settings(tmp_path)) as other:
        other.enroll("bob@example.org", "correct horse", unit_vectors(1, seed=1), MODEL)
    after = store.data_version()
    assert after != before
    assert store.data_version() == after, "nothing new since"


def test_read_snapshot_sees_one_state_while_another_connection_commits(store: Store) -> None:
    store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    conn = db.connect(store.path, create=False)
    try:
        with db.read_snapshot(conn):
            first = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            store.enroll("bob@example.org", "correct horse", unit_vectors(1, seed=1), MODEL)
            assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == first == 1
        assert not conn.in_transaction
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 2
        # Inside a write transaction the reads join it: no nested BEGIN, no early COMMIT.
        with db.transaction(conn):
            with db.read_snapshot(conn):
                conn.execute("SELECT COUNT(*) FROM users").fetchone()
            assert conn.in_transaction
        # An exception in the block still releases the snapshot.
        with pytest.raises(LookupError):
            with db.read_snapshot(conn):
                raise LookupError
        assert not conn.in_transaction
    finally:
        conn.close()


def test_check_file_and_the_doctor_line(store: Store, tmp_path: Path) -> None:
    store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    health = check_file(store.path)
    assert (health.integrity, health.users, health.schema_version) == ("ok", 1, db.SCHEMA_VERSION)
    check = check_store(make_settings(tmp_path))
    assert check.ok and check.detail == f"{store.path}: schema {db.SCHEMA_VERSION}, 1 users, integrity ok"


def test_doctor_reports_a_damaged_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with Store.open(settings) as store:
        path = store.path
        execute(store, "PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as f:  # keep the header, garble the pages after it
        f.seek(4096)
        f.write(b"\xff" * 8192)
    with pytest.raises(sqlite3.DatabaseError):
        check_file(path)
    check = check_store(settings)
    assert check.ok is False and "restore the database from a backup" in (check.fix or "")


def test_bulk_added_users_are_whole_accounts(store: Store, tmp_path: Path) -> None:
    password_hash = store.passwords.hash("one shared password", normalize_email("x@example.org"))
    batches = [
        [NewUser(str(uuid.uuid4()), normalize_email(f"user{b}-{i}@example.org"), unit_vectors(2, seed=10 * b + i)) for i in range(3)]
        for b in range(2)
    ]
    assert count_templates(store.path, MODEL) == 0
    assert add_users(store, iter(batches), password_hash, MODEL) == 6
    assert store.count_users() == 6 and store.pending_count() == 0
    assert len(store.gallery(MODEL)) == 12 and count_templates(store.path, MODEL) == 12
    assert store.sign_in_password("user1-2@example.org", "one shared password").id == batches[1][2].id
    _, matrix = store.face_templates("user0-1@example.org", MODEL)
    assert np.array_equal(matrix, batches[0][1].vectors)
    assert count_templates(tmp_path / "nothing.db", MODEL) == -1
