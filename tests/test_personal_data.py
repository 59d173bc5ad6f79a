"""Personal data kept to what is needed (issue 15).

The attack: every email typed at a failed sign-in or reset, including addresses that have
no account here, was stored in clear in the database (the lockout's attempts), so a copy
of the file listed who had tried, or been tried. Now only the keyed hash is kept; and the
consent each person gave is recorded with its version and time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.errors import KioskError
from kiosk.store import Store
from kiosk.store import mail as mail_store
from store_support import FakeClock, make_settings, unit_vectors

MODEL = "m"


def database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((tmp_path / "state").glob("facekiosk.db*")))


def test_emails_of_failed_attempts_are_only_kept_as_keyed_hashes(tmp_path: Path) -> None:
    clock = FakeClock()
    with Store.open(make_settings(tmp_path), clock=clock) as store:
        store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
        for email in ("stranger@example.net", "ann@example.org"):
            with pytest.raises(KioskError):
                store.sign_in_password(email, "wrong horse")
        store.record_face_attempt("someone.else@example.com", False, 1.2, "no match")
        # The count still works by email, through the hash.
        assert store.lockout_status("stranger@example.net").failures == 1
        assert store.lockout_status("someone.else@example.com").failures == 1
        assert store.lockout_status("ann@example.org").failures == 1
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = database_bytes(tmp_path)
    for typed in (b"stranger@example.net", b"someone.else@example.com", b"stranger", b"someone.else"):
        assert typed not in data, typed
    # Ann has an account: her address is in her user row, and nowhere else.
    assert data.count(b"ann@example.org") <= 3  # the row (address and comparison key) and the key's unique index


def test_consent_is_recorded_per_person(tmp_path: Path) -> None:
    clock = FakeClock(1_767_225_600.0)
    with Store.open(make_settings(tmp_path), clock=clock) as store:
        user = store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
        mail_store.record_consent(store, user.id, "2026-11-1+images")
        assert mail_store.consent(store, user.id) == ("2026-11-1+images", 1_767_225_600.0)


def test_the_consent_screen_promises_no_picture_while_none_is_kept(tmp_path: Path) -> None:
    """With audit.store_images on, the consent screen used to promise that the picture of
    each sign-in was kept, but no journey handed one to the audit log. The promise goes
    until one does."""
    from kiosk.flows import FlowConfig

    settings = make_settings(tmp_path, audit={"store_images": True, "image_retention_days": 30})
    assert FlowConfig.from_settings(settings).store_images is False
