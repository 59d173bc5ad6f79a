"""The store keeps its galleries between searches only while no template changed: its own
writes (TEMP triggers), another connection's commits (PRAGMA data_version), or a
transaction in progress all mean loading again."""

from __future__ import annotations

import pytest

from kiosk.store import Store
from kiosk.store import db
from store_support import MODEL, FakeClock, execute, make_settings, unit_vectors

PASSWORD = "correct horse 9"


@pytest.fixture
def store(tmp_path):
    with Store.open(make_settings(tmp_path), clock=FakeClock()) as s:
        yield s


def owners(gallery) -> list[str]:
    return sorted(set(str(o) for o in gallery.owners))


def test_a_gallery_is_reused_while_nothing_changes(store):
    ann = store.enroll("ann@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL)
    first = store.gallery(MODEL)
    assert store.gallery(MODEL) is first
    assert owners(first) == [ann.id]


def test_own_inserts_and_deletes_load_again(store):
    ann = store.enroll("ann@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL)
    before = store.gallery(MODEL)
    bob = store.enroll("bob@example.org", PASSWORD, list(unit_vectors(3, seed=2)), MODEL)
    after = store.gallery(MODEL)
    assert after is not before and owners(after) == sorted([ann.id, bob.id])
    store.delete_user("ann@example.org")
    assert owners(store.gallery(MODEL)) == [bob.id]


def test_another_connections_commit_loads_again(store):
    ann = store.enroll("ann@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL)
    cached = store.gallery(MODEL)
    execute(store, "DELETE FROM templates WHERE user_id = ?", (ann.id,))  # its own connection
    assert store.gallery(MODEL) is not cached and owners(store.gallery(MODEL)) == []


def test_nothing_rolled_back_is_ever_served(store):
    """Rows seen inside a transaction that then rolls back never reach the cache, even
    when the write counter comes back to the same value."""
    ann = store.enroll("ann@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL)
    store.gallery(MODEL)
    with pytest.raises(RuntimeError):
        with db.transaction(store.conn):
            execute_own = store.conn.execute
            execute_own("DELETE FROM templates WHERE user_id = ?", (ann.id,))
            assert owners(store.gallery(MODEL)) == []  # inside: what the transaction sees
            raise RuntimeError("roll back")
    assert owners(store.gallery(MODEL)) == [ann.id]
