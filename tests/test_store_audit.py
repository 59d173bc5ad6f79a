"""The audit log: keyed email hashes, plain emails when configured, images and retention."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from kiosk.store import Store
from kiosk.store.templates import derive_key
from store_support import MODEL, FakeClock, execute, make_settings, unit_vectors

JPEG = b"\xff\xd8\xff\xe0fake jpeg bytes"


def test_emails_are_keyed_hashes_by_default(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path)) as store:
        store.enroll("Ann@Example.org", "correct horse", unit_vectors(1), MODEL)
        store.record_face_attempt("ann@example.org", accepted=True, score=0.31, reason="match")
        entries = store.audit.entries()
    key = (tmp_path / "template-key").read_bytes()
    expected = hmac.new(derive_key(key, b"audit-email-hmac-v1"), b"ann@example.org", hashlib.sha256).hexdigest()
    assert [e.email_hash for e in entries] == [expected, expected]
    assert all(e.email is None for e in entries)
    assert expected != hashlib.sha256(b"ann@example.org").hexdigest()
    assert (entries[1].action, entries[1].result, entries[1].score, entries[1].reason) == ("sign_in_face", "ok", 0.31, "match")


def test_plain_emails_when_configured(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path, audit={"hash_emails": False})) as store:
        store.enroll("Ann@Example.org", "correct horse", unit_vectors(1), MODEL)
        assert store.audit.entries()[0].email == "Ann@example.org"


def test_no_images_unless_enabled(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path)) as store:
        store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
        store.record_face_attempt("ann@example.org", accepted=False, score=0.9, image=JPEG)
        entry = store.audit.entries()[-1]
        assert not entry.has_image and store.audit.image(entry.id) is None
    assert JPEG not in b"".join(p.read_bytes() for p in (tmp_path / "state").glob("facekiosk.db*"))


def test_images_are_kept_for_the_retention_period_only(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = make_settings(tmp_path, audit={"store_images": True, "image_retention_days": 2})
    with Store.open(settings, clock=clock) as store:
        store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
        store.record_face_attempt("ann@example.org", accepted=False, score=0.9, image=JPEG)
        first = store.audit.entries()[-1].id
        assert store.audit.image(first) == (JPEG, "image/jpeg")
        clock.advance(1.5 * 86400)
        store.record_face_attempt("ann@example.org", accepted=True, score=0.2, image=JPEG)
        second = store.audit.entries()[-1].id
        assert store.audit.image(first) is not None
        clock.advance(0.6 * 86400)  # the first is now 2.1 days old
        store.record_face_attempt("ann@example.org", accepted=True, score=0.2)
        assert store.audit.image(first) is None and store.audit.image(second) is not None
    # Turning images off erases the ones kept so far, at the next start.
    with Store.open(make_settings(tmp_path, audit={"store_images": False}), clock=clock) as store:
        assert store.audit.image(second) is None
        execute(store, "PRAGMA wal_checkpoint(TRUNCATE)")
    assert JPEG not in b"".join(p.read_bytes() for p in (tmp_path / "state").glob("facekiosk.db*"))


@pytest.mark.parametrize("since, count", [(None, 3), (100.0, 2), (200.0, 1)])
def test_entries_since(tmp_path: Path, since: float | None, count: int) -> None:
    clock = FakeClock(start=0.0)
    with Store.open(make_settings(tmp_path), clock=clock) as store:
        for _ in range(3):
            store.audit.record("sign_in_face", "fail", email_key="x@example.org", score=1.0)
            clock.advance(100)
        assert len(store.audit.entries(since=since)) == count
