"""Users, passwords, templates, outbox and audit through ``kiosk.store.Store``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from kiosk.config import parse_config
from kiosk.errors import ValidationError
from kiosk.store import Store, db, outbox
from kiosk.store.errors import (
    AuthenticationError,
    DuplicateFaceError,
    EmailTakenError,
    ReenrollRequiredError,
    UnknownUserError,
)
from store_support import MODEL, OTHER_MODEL, FakeClock, execute, make_settings, query_one, store_config, unit_vectors


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(make_settings(tmp_path), clock=FakeClock())
    yield opened
    opened.close()


def test_enrollment_writes_user_templates_outbox_and_audit(store: Store, tmp_path: Path) -> None:
    templates = unit_vectors(3)
    user = store.enroll(" Ann@Example.org ", "correct horse", templates, MODEL)
    assert user.email == "Ann@example.org" and user.revision == 1 and user.has_password
    assert [t.model_id for t in user.templates] == [MODEL] * 3
    same, matrix = store.face_templates("ann@EXAMPLE.org", MODEL)
    assert same.id == user.id
    assert sorted(map(tuple, matrix.tolist())) == sorted(map(tuple, templates.tolist()))
    [entry] = store.pending_outbox()
    assert (entry.user_id, entry.kind, entry.revision) == (user.id, outbox.ENROLL, 1)
    assert "$argon2" not in json.dumps(entry.payload)
    [record] = store.audit.entries()
    assert (record.action, record.result, record.user_id) == ("enroll", "ok", user.id)
    assert record.email is None and len(record.email_hash or "") == 64  # hashed by default


def test_files_are_private(store: Store, tmp_path: Path) -> None:
    store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    folder = tmp_path / "state"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("facekiosk.db", "facekiosk.db-wal", "facekiosk.db-shm"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_database_settings(store: Store) -> None:
    assert query_one(store, "PRAGMA journal_mode") == "wal"
    assert query_one(store, "PRAGMA user_version") == db.SCHEMA_VERSION
    # Foreign keys are a setting of each connection: db.connect makes the store's.
    conn = db.connect(store.path, create=False)
    try:
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()


def test_email_is_unique_whatever_the_case(store: Store) -> None:
    store.enroll("Ann@example.org", "correct horse", unit_vectors(1, seed=1), MODEL)
    with pytest.raises(EmailTakenError, match="already registered"):
        store.enroll("ANN@EXAMPLE.ORG", "another password", unit_vectors(1, seed=2), MODEL)
    assert [e.result for e in store.audit.entries()] == ["ok", "refused"]


def test_duplicate_face_is_refused_with_a_reason(store: Store) -> None:
    face = unit_vectors(1, seed=3)
    first = store.enroll("ann@example.org", "correct horse", face, MODEL, duplicate_threshold=0.6)
    near = face + 0.01
    with pytest.raises(DuplicateFaceError, match="already registered") as err:
        store.enroll("bob@example.org", "correct horse", np.concatenate([unit_vectors(1, seed=4), near]), MODEL, duplicate_threshold=0.6)
    assert err.value.user_id == first.id and err.value.distance == pytest.approx(0.01 * np.sqrt(128), rel=1e-3)
    # A different face, and the same face under another model, are not duplicates.
    store.enroll("bob@example.org", "correct horse", unit_vectors(2, seed=5), MODEL, duplicate_threshold=0.6)
    store.enroll("cy@example.org", "correct horse", face, OTHER_MODEL, duplicate_threshold=0.6)
    assert store.audit.entries()[1].result == "refused" and store.audit.entries()[1].score == pytest.approx(err.value.distance)


def test_gallery_holds_current_model_live_templates_only(store: Store) -> None:
    a = store.enroll("a@example.org", "correct horse", unit_vectors(3, seed=1), MODEL)
    b = store.enroll("b@example.org", "correct horse", unit_vectors(2, seed=2), MODEL)
    store.enroll("c@example.org", "correct horse", unit_vectors(2, seed=3), OTHER_MODEL)
    store.enroll("d@example.org", "correct horse", unit_vectors(2, seed=4), MODEL)
    store.delete_user("d@example.org")
    gallery = store.gallery(MODEL)
    assert gallery.matrix.shape == (5, 128) and gallery.matrix.dtype == np.float32
    assert sorted(gallery.owners.tolist()) == sorted([a.id] * 3 + [b.id] * 2)
    probe = unit_vectors(1, seed=2)[0] + 0.05
    match = gallery.nearest(probe)
    brute = np.linalg.norm(gallery.matrix - probe, axis=1)
    assert match.owner == b.id and match.distance == pytest.approx(brute.min(), abs=1e-4)
    assert store.gallery("unknown/model@0").matrix.shape[0] == 0


def test_templates_of_another_model_mean_reenroll(store: Store) -> None:
    user = store.enroll("ann@example.org", "correct horse", unit_vectors(2), OTHER_MODEL)
    with pytest.raises(ReenrollRequiredError, match="enroll your face again"):
        store.face_templates("ann@example.org", MODEL)
    again = store.reenroll(user.id, unit_vectors(2, seed=9), MODEL)
    assert again.revision == 2 and again.model_ids() == {MODEL}
    assert store.face_templates("ann@example.org", MODEL)[1].shape == (2, 128)
    assert [(e.kind, e.revision, e.payload.get("reenroll")) for e in store.pending_outbox()] == [("enroll", 1, None), ("enroll", 2, True)]


def test_sign_in_password(store: Store) -> None:
    user = store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    assert store.sign_in_password("ANN@example.org", "correct horse").id == user.id
    with pytest.raises(AuthenticationError) as wrong:
        store.sign_in_password("ann@example.org", "wrong horse")
    with pytest.raises(AuthenticationError) as unknown:
        store.sign_in_password("nobody@example.org", "wrong horse")
    assert str(wrong.value) == str(unknown.value) == "wrong email or password"
    assert [e.reason for e in store.audit.entries() if e.result == "fail"] == ["wrong password", "unknown email"]


def test_password_rules(store: Store) -> None:
    for password, fragment in [("short", "too short"), ("Ann@Example.org", "email"), ("x" * 257, "too long"), ("pass\0word!", "NUL"), ("pass\x1bword!", "control")]:
        with pytest.raises(ValidationError, match=fragment):
            store.enroll("ann@example.org", password, unit_vectors(1), MODEL)
    assert store.list_users() == []


def test_nfkc_password_typed_differently_still_matches(store: Store) -> None:
    store.enroll("ann@example.org", "ｐａｓｓｗｏｒｄ１", unit_vectors(1), MODEL)  # full-width forms
    store.sign_in_password("ann@example.org", "password1")


def test_hash_is_upgraded_at_sign_in_when_parameters_change(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path)) as store:
        user = store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
        old_hash = query_one(store, "SELECT password_hash FROM users")
    assert old_hash.startswith("$argon2id$") and ",t=1," in old_hash
    with Store.open(make_settings(tmp_path, passwords={"argon2_time_cost": 2, "argon2_memory_kib": 16})) as store:
        assert store.sign_in_password("ann@example.org", "correct horse").revision == 2
        new_hash = query_one(store, "SELECT password_hash FROM users")
        assert "m=16,t=2," in new_hash
        assert store.pending_outbox()[-1].payload == {"reason": "rehash"}
        assert store.sign_in_password("ann@example.org", "correct horse").revision == 2  # no second upgrade
    assert user.id


def test_change_password(store: Store) -> None:
    user = store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    changed = store.change_password(user.id, "battery staple")
    assert changed.revision == 2
    store.sign_in_password("ann@example.org", "battery staple")
    with pytest.raises(AuthenticationError):
        store.sign_in_password("ann@example.org", "correct horse")
    assert [(e.kind, e.revision) for e in store.pending_outbox()] == [("enroll", 1), ("password", 2)]
    with pytest.raises(UnknownUserError):
        store.change_password("7d7f4c2e-3c1e-4a55-9d21-1f0a4b0c9e11", "battery staple")


def test_delete_leaves_a_tombstone_and_erases_the_rest(store: Store, tmp_path: Path) -> None:
    user = store.enroll("erase.me@example.org", "correct horse", unit_vectors(2), MODEL)
    tomb = store.delete_user("Erase.Me@example.org", reason="asked at the desk")
    assert tomb.deleted and tomb.email is None and not tomb.has_password and tomb.templates == ()
    assert tomb.id == user.id and tomb.revision == 2
    assert query_one(store, "SELECT COUNT(*) FROM templates") == 0
    with pytest.raises(UnknownUserError):
        store.get_user("erase.me@example.org")
    delete = store.pending_outbox()[-1]
    # With sync off the deletion's outbox row never holds the address (it is kept only
    # while sync needs it to free the cloud's email index: tests/test_sync_*).
    assert (delete.kind, delete.revision, delete.payload) == ("delete", 2, {})
    # Once the deletion has been handed on, nothing of the address is left in the file.
    item = store.next_push()
    assert item is not None and item.user_id == user.id
    store.mark_pushed(item, "change-1")
    assert store.pending_count() == 0
    execute(store, "PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("facekiosk.db*"))
    assert b"erase.me@example.org" not in data
    # The email is free again, for a new person with a new id.
    fresh = store.enroll("erase.me@example.org", "correct horse", unit_vectors(1, seed=7), MODEL)
    assert fresh.id != user.id


def test_export_has_the_persons_data_and_no_secrets(store: Store) -> None:
    user = store.enroll("ann@example.org", "correct horse", unit_vectors(2), MODEL)
    store.sign_in_password("ann@example.org", "correct horse")
    data = store.export_user("ANN@example.org")
    text = json.dumps(data)
    assert data["id"] == user.id and data["email"] == "ann@example.org"
    assert len(data["face_templates"]) == 2 and [e["action"] for e in data["audit"]] == ["enroll", "sign_in_password"]
    assert "$argon2" not in text
    blob = query_one(store, "SELECT blob FROM templates LIMIT 1")
    assert blob.hex() not in text
    assert data["consent"] == {"version": None, "given_at": None} and data["email_confirmed_at"] is None
    from kiosk.store import mail as mail_store

    mail_store.record_consent(store, user.id, "2026-11-1")
    mail_store.set_confirmed(store, user.id)
    data = store.export_user("ann@example.org")
    assert data["consent"]["version"] == "2026-11-1" and data["consent"]["given_at"].endswith("Z")
    assert data["email_confirmed_at"].endswith("Z")


def test_user_id_from_the_enrolling_kiosk_must_be_a_uuid(store: Store) -> None:
    with pytest.raises(ValidationError, match="UUID"):
        store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL, user_id="1; DROP TABLE users")
    chosen = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL, user_id=chosen).id == chosen


def test_default_database_path(tmp_path: Path) -> None:
    settings = parse_config(store_config(tmp_path, store={"path": ""}), base_dir=tmp_path)
    assert db.db_path(settings.store, settings.resolve, {}) == tmp_path / "var" / "facekiosk.db"
    systemd = {"STATE_DIRECTORY": str(tmp_path / "lib" / "facekiosk")}
    assert db.db_path(settings.store, settings.resolve, systemd) == tmp_path / "lib" / "facekiosk" / "facekiosk.db"
    with Store.open(settings, environ=systemd) as store:
        assert store.path == tmp_path / "lib" / "facekiosk" / "facekiosk.db"
    assert (tmp_path / "lib" / "facekiosk" / "facekiosk.db").is_file()


def test_admin_commands_do_not_create_a_database(tmp_path: Path) -> None:
    from kiosk.errors import StoreError

    with pytest.raises(StoreError, match="no user database"):
        Store.open(make_settings(tmp_path), create=False)
    assert not (tmp_path / "state" / "facekiosk.db").exists()
