"""The store's side of sync (kiosk/store/replica.py), without a network: what a push
carries, how cloud versions are applied, conflicts, notices and the schema migration."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.store import Store, db
from kiosk.store import audit as audit_mod
from kiosk.store.replica import (
    CONFLICT,
    DELETED,
    INSERTED,
    INVALID,
    SKIPPED_PENDING,
    SKIPPED_TOMBSTONE,
    UNCHANGED,
    UPDATED,
    RemoteUser,
    SyncState,
)
from store_support import MODEL, make_settings, query, query_one, unit_vectors, write_key

PASSWORD = "correct horse battery"


@pytest.fixture
def pair(tmp_path: Path):
    """Two stores sharing one template key (two kiosks of a fleet)."""
    key = write_key(tmp_path / "fleet-key")
    stores = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "template-key").write_bytes(key)
        (tmp_path / name / "template-key").chmod(0o600)
        stores.append(Store.open(make_settings(tmp_path / name)))
    yield stores
    for store in stores:
        store.close()


def remote_of(store: Store, user_id: str, updated_at_ms: int, change_id: str = "x:1", writer: str = "k", base: str | None = None) -> RemoteUser:
    """What the cloud would hold after ``store`` pushed its current row of ``user_id``."""
    item = store.next_push()
    assert item is not None and item.user_id == user_id
    return RemoteUser(
        user_id=user_id,
        deleted=item.deleted,
        updated_at_ms=updated_at_ms,
        change_id=change_id,
        writer=writer,
        base=base,
        revision=item.revision,
        origin_kiosk=item.origin_kiosk,
        created_at=item.created_at,
        email=item.email,
        password_hash=item.password_hash,
        faces=item.faces,
    )


def push(store: Store, change_id: str) -> None:
    store.mark_pushed(store.next_push(), change_id)


def test_push_item_covers_all_pending_rows_of_the_user(pair) -> None:
    a, _ = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    a.change_password(user.id, "another password")
    item = a.next_push()
    assert item.kinds == ("enroll", "password") and item.revision == 2
    assert len(item.templates) == 3 and all(blob[0] == 1 for _, blob in item.templates)
    assert item.remote_change is None and not item.deleted
    a.mark_pushed(item, f"{a.kiosk_id}:{item.upto_seq}")
    assert a.next_push() is None and a.pending_count() == 0
    assert all(sent_at is not None for (sent_at,) in query(a, "SELECT sent_at FROM outbox WHERE user_id = ?", (user.id,)))
    assert {r[0] for r in query(a, "SELECT result FROM outbox")} == {"sent"}


def test_a_change_made_after_the_snapshot_stays_pending(pair) -> None:
    a, _ = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    item = a.next_push()
    a.change_password(user.id, "changed while pushing")
    a.mark_pushed(item, "me:1")
    assert [e.kind for e in a.pending_outbox()] == ["password"]


def test_apply_inserts_updates_and_ignores_repeats(pair) -> None:
    a, b = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    version1 = remote_of(a, user.id, 1000, "a:1")
    assert b.apply_remote([version1]).outcomes == {user.id: INSERTED}
    assert b.apply_remote([version1]).outcomes == {user.id: UNCHANGED}
    assert b.sign_in_password("ann@example.org", PASSWORD).id == user.id
    push(a, "a:1")
    a.change_password(user.id, "second password")
    version2 = remote_of(a, user.id, 2000, "a:2", base="a:1")
    assert b.apply_remote([version2]).outcomes == {user.id: UPDATED}
    assert b.apply_remote([version1]).outcomes == {user.id: UNCHANGED}  # older: ignored
    assert b.sign_in_password("ann@example.org", "second password").id == user.id


def test_pending_local_changes_are_not_overwritten_by_a_pull(pair) -> None:
    """Last writer wins: the pending change is written to the cloud after this version."""
    a, b = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    b.apply_remote([remote_of(a, user.id, 1000, "a:1")])
    push(a, "a:1")
    b.change_password(user.id, "changed on b")
    a.change_password(user.id, "changed on a")
    assert b.apply_remote([remote_of(a, user.id, 2000, "a:2", base="a:1")]).outcomes == {user.id: SKIPPED_PENDING}
    assert b.sign_in_password("ann@example.org", "changed on b").id == user.id
    assert b.next_push().kinds == ("password",)


def test_a_cloud_deletion_wins_over_pending_changes_and_erases(pair) -> None:
    a, b = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    b.apply_remote([remote_of(a, user.id, 1000, "a:1")])
    push(a, "a:1")
    b.change_password(user.id, "changed on b")
    a.delete_user("ann@example.org")
    tombstone = remote_of(a, user.id, 2000, "a:3", base="a:1")
    assert tombstone.deleted and tombstone.email is None
    assert b.apply_remote([tombstone]).outcomes == {user.id: DELETED}
    [row] = query(b, "SELECT email, password_hash, deleted_at FROM users WHERE id = ?", (user.id,))
    assert row[0] is None and row[1] is None and row[2] == 2.0
    assert query_one(b, "SELECT COUNT(*) FROM templates WHERE user_id = ?", (user.id,)) == 0
    assert b.pending_count() == 0
    assert {r[0] for r in query(b, "SELECT result FROM outbox WHERE user_id = ?", (user.id,))} == {"superseded"}
    entries = b.audit.entries(user_id=user.id)
    assert any(e.action == audit_mod.DELETE and "discarded" in e.reason for e in entries)


def test_a_local_tombstone_is_never_resurrected(pair) -> None:
    a, b = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    live = remote_of(a, user.id, 1000, "a:1")
    b.apply_remote([live])
    b.delete_user("ann@example.org")
    assert b.apply_remote([replace(live, updated_at_ms=5000, change_id="a:9")]).outcomes == {user.id: SKIPPED_TOMBSTONE}
    assert query_one(b, "SELECT deleted_at IS NOT NULL FROM users WHERE id = ?", (user.id,)) == 1


def test_a_tombstone_of_an_unknown_user_is_kept(pair) -> None:
    a, b = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    a.delete_user("ann@example.org")
    assert b.apply_remote([remote_of(a, user.id, 1000, "a:2")]).outcomes == {user.id: INSERTED}
    assert b.list_users(include_deleted=True)[0].deleted


def test_pulled_user_with_the_email_of_an_unsynced_local_user_wins(pair) -> None:
    a, b = pair
    winner = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL)
    loser = b.enroll("ANN@example.org", "b's password", list(unit_vectors(3, seed=2)), MODEL)
    b.change_password(loser.id, "changed before sync")
    report = b.apply_remote([remote_of(a, winner.id, 1000, "a:1", writer="kiosk-a")])
    assert report.outcomes == {winner.id: INSERTED}
    assert b.get_user("ann@example.org").id == winner.id
    notice = b.sync_notice("Ann@example.org")
    assert notice.kind == "email_taken" and notice.other_kiosk == "kiosk-a" and notice.user_id == loser.id
    # The loser's unsent rows are dropped and replaced by its withdrawal (a tombstone push).
    results = query(b, "SELECT kind, result FROM outbox WHERE user_id = ? ORDER BY seq", (loser.id,))
    assert results == [("enroll", "dropped"), ("password", "dropped"), ("delete", None)]
    item = b.next_push()
    assert item.user_id == loser.id and item.deleted and item.lost_to == winner.id and item.released_emails == ()


def test_pulled_user_with_the_email_of_a_synced_local_user_is_held_back(pair) -> None:
    """Both in the cloud with one email: inconsistent for now (a deletion is on its way);
    the version is reported as a conflict and applied later, nothing local is touched."""
    a, b = pair
    first = b.enroll("ann@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL)
    push(b, "b:1")
    other = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3, seed=2)), MODEL)
    assert b.apply_remote([remote_of(a, other.id, 1000, "a:1")]).outcomes == {other.id: CONFLICT}
    assert b.get_user("ann@example.org").id == first.id


def test_records_that_do_not_open_with_the_fleet_key_are_invalid(pair, tmp_path: Path) -> None:
    a, b = pair
    (tmp_path / "c").mkdir()
    write_key(tmp_path / "c" / "template-key")
    with Store.open(make_settings(tmp_path / "c")) as c:
        user = c.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
        foreign = remote_of(c, user.id, 1000, "c:1")
    report = b.apply_remote([foreign])
    assert report.outcomes == {user.id: INVALID} and "does not open" in report.problems[0]
    assert b.list_users(include_deleted=True) == []
    # A template moved onto another user id fails too (the id is bound into the seal).
    mine = a.enroll("bob@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    moved = replace(remote_of(a, mine.id, 1000, "a:1"), user_id=str(uuid.uuid4()))
    assert b.apply_remote([moved]).outcomes == {moved.user_id: INVALID}


def test_last_writer_wins_is_logged_by_the_kiosk_whose_change_was_overwritten(pair) -> None:
    a, b = pair
    user = a.enroll("ann@example.org", PASSWORD, list(unit_vectors(3)), MODEL)
    b.apply_remote([remote_of(a, user.id, 1000, f"{a.kiosk_id}:1")])
    push(a, f"{a.kiosk_id}:1")
    a.change_password(user.id, "a's change")
    push(a, f"{a.kiosk_id}:2")  # a's change is in the cloud...
    b.change_password(user.id, "b's change")
    # ...b had not seen it (its base is a's first version) and wrote later: b wins.
    b_version = remote_of(b, user.id, 3000, f"{b.kiosk_id}:5", writer="kiosk-b", base=f"{a.kiosk_id}:1")
    assert a.apply_remote([b_version]).outcomes == {user.id: UPDATED}
    lost = [e for e in a.audit.entries(user_id=user.id) if e.result == audit_mod.CONFLICT]
    assert len(lost) == 1 and lost[0].action == audit_mod.PASSWORD_CHANGE and "kiosk-b" in lost[0].reason


def test_sync_state_is_per_database(pair) -> None:
    a, _ = pair
    assert a.sync_state("https://one") == SyncState("https://one", False, 0)
    a.save_sync_state(SyncState("https://one", True, 1234))
    assert a.sync_state("https://one") == SyncState("https://one", True, 1234)
    assert a.sync_state("https://two") == SyncState("https://two", False, 0)  # another database: start over


def test_notice_api_normalises_emails(pair) -> None:
    _, b = pair
    assert b.sync_notice("nobody@example.org") is None
    assert not b.dismiss_sync_notice("nobody@example.org")


def test_version_2_database_gets_the_sync_columns(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    path = db.db_path(settings.store, settings.resolve, {})
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    db.migrate(conn, migrations=db.MIGRATIONS[:2])
    user_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO users (id, email, email_key, origin_kiosk, created_at, updated_at) VALUES (?, 'a@x.org', 'a@x.org', 'k', 1, 1)",
        (user_id,),
    )
    conn.execute("INSERT INTO outbox (user_id, kind, revision, created_at, sent_at) VALUES (?, 'enroll', 1, 1, 2)", (user_id,))
    conn.execute("INSERT INTO outbox (user_id, kind, revision, created_at) VALUES (?, 'password', 2, 1)", (user_id,))
    conn.close()
    with Store.open(settings) as store:
        assert query_one(store, "PRAGMA user_version") == db.SCHEMA_VERSION
        assert [r[0] for r in query(store, "SELECT result FROM outbox ORDER BY seq")] == ["sent", None]
        assert query(store, "SELECT remote_change FROM users") == [(None,)]
        assert store.pending_count() == 1
