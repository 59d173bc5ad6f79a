"""Schema versions: forward migration from an older database, refusal of a newer one."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from kiosk.errors import StoreError
from kiosk.store import Store, db
from kiosk.store.passwords import Passwords
from kiosk.store.templates import TemplateCodec
from store_support import MODEL, execute, make_settings, query_one, unit_vectors


def _make_v1_database(tmp_path: Path) -> tuple[str, list]:
    """A database as FaceKiosk with schema version 1 left it, holding one user."""
    settings = make_settings(tmp_path)
    path = db.db_path(settings.store, settings.resolve, {})
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    db.migrate(conn, migrations=db.MIGRATIONS[:1])
    assert db.schema_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'audit'").fetchone() is None
    user_id = str(uuid.uuid4())
    codec = TemplateCodec((tmp_path / "template-key").read_bytes(), encrypt=True)
    vectors = list(unit_vectors(2))
    password_hash = Passwords(settings.passwords).hash("correct horse", None)
    conn.execute(
        "INSERT INTO users (id, email, email_key, password_hash, origin_kiosk, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, 1)",
        (user_id, "Ann@example.org", "ann@example.org", password_hash, "old-kiosk"),
    )
    for i, vector in enumerate(vectors):
        conn.execute(
            "INSERT INTO templates (id, user_id, model_id, dim, blob, created_at) VALUES (?, ?, ?, 128, ?, ?)",
            (str(uuid.uuid4()), user_id, MODEL, codec.encode(user_id, MODEL, vector), 1 + i),
        )
    conn.execute("INSERT INTO outbox (user_id, kind, revision, created_at) VALUES (?, 'enroll', 1, 1)", (user_id,))
    conn.close()
    return user_id, vectors


def test_version_1_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    user_id, vectors = _make_v1_database(tmp_path)
    with Store.open(make_settings(tmp_path)) as store:
        assert query_one(store, "PRAGMA user_version") == db.SCHEMA_VERSION == 8
        assert query_one(store, "SELECT COUNT(*) FROM review_templates") == 0
        assert query_one(store, "SELECT COUNT(*) FROM record_history") == 0  # version 7
        assert query_one(store, "SELECT confirm_code_tries FROM users") == 0
        assert query_one(store, "SELECT language FROM users") is None  # version 8: the kiosk's language
        user, matrix = store.face_templates("ANN@example.org", MODEL)
        assert user.id == user_id and (matrix == vectors).all()
        assert store.sign_in_password("ann@example.org", "correct horse").id == user_id  # audit table exists now
        assert [e.kind for e in store.pending_outbox()] == ["enroll"]
        assert query_one(store, "PRAGMA integrity_check") == "ok"


def test_newer_database_is_refused(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path)) as store:
        execute(store, f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this FaceKiosk understands"):
        Store.open(make_settings(tmp_path))


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    db.migrate(conn, migrations=db.MIGRATIONS[:1])

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk says no")

    with pytest.raises(sqlite3.OperationalError):
        db.migrate(conn, migrations=(*db.MIGRATIONS[:1], broken))
    assert db.schema_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    path = db.db_path(settings.store, settings.resolve, {})
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="unusable"):
        Store.open(settings)


def test_a_second_opener_of_a_new_database_waits_instead_of_failing(tmp_path: Path) -> None:
    """Two openers of a database that does not exist yet (the kiosk's threads at first
    start, an admin command beside the service): while one holds the write lock on the
    file, still in rollback mode, SQLite refuses the other's switch to WAL at once with
    "database is locked", without waiting out the busy timeout. The opener must wait."""
    import threading
    import time

    path = tmp_path / "new.db"
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("BEGIN IMMEDIATE")
    first.execute("CREATE TABLE first_opener (x)")
    release = threading.Timer(0.3, lambda: first.execute("COMMIT"))
    release.start()
    start = time.monotonic()
    try:
        conn = db.connect(path)
    finally:
        release.join()
        first.close()
    assert time.monotonic() - start >= 0.25
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.schema_version(conn) == len(db.MIGRATIONS)
    conn.close()
