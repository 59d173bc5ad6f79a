"""record_history keeps a version's templates by digest while they are the user's current
ones, and copies them in before they change; a version whose templates went without that
is incomplete (its signature would fail), never filled with other templates."""

from __future__ import annotations

import base64
from pathlib import Path

from kiosk.store import Store, db, history
from store_support import MODEL, make_settings, query_one, unit_vectors


def signed_version(store: Store, user_id: str, change: str) -> dict:
    texts = {tid: base64.b64encode(bytes(blob)).decode() for tid, blob in
             store.conn.execute("SELECT id, blob FROM templates WHERE user_id = ?", (user_id,))}
    return {"changeId": change, "writer": "k1", "revision": 1, "signedAt": 5, "sig": "s", "email": "ann@example.org",
            "passwordHash": "$argon2id$h", "model": MODEL, "templates": texts, "deleted": False, "updatedAt": 9}


def keep(store: Store, user_id: str, record: dict, revision: int = 1) -> None:
    with db.transaction(store.conn):
        history.keep(store.conn, user_id, record, revision, store.clock(), 3)


def test_templates_are_kept_by_digest_until_they_change(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path)) as store:
        user = store.enroll("ann@example.org", "correct horse battery", unit_vectors(3, seed=1), MODEL)
        first = signed_version(store, user.id, "k1:1")
        keep(store, user.id, first)
        stored = query_one(store, "SELECT record FROM record_history")
        assert history.LIVE in stored and not any(text in stored for text in first["templates"].values())
        expected = {k: v for k, v in first.items() if k != "updatedAt"}
        assert store.record_versions(user.id)[0].record == expected

        store.reenroll(user.id, unit_vectors(3, seed=2), MODEL)  # the templates change: copied in first
        stored = query_one(store, "SELECT record FROM record_history")
        assert history.LIVE not in stored and all(text in stored for text in first["templates"].values())
        second = signed_version(store, user.id, "k1:2")
        keep(store, user.id, second, 2)
        assert [v.record for v in store.record_versions(user.id)] == [
            {k: v for k, v in second.items() if k != "updatedAt"}, expected]

        # Templates that go without being copied: the version stays incomplete, never wrong.
        with db.transaction(store.conn):
            store.conn.execute("DELETE FROM templates WHERE user_id = ?", (user.id,))
        newest = store.record_versions(user.id)[0].record
        assert newest[history.LIVE] is True and all(t.startswith("=") for t in newest["templates"].values())
        assert store.record_versions(user.id)[1].record == expected
