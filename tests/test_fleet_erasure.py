"""Erasure reaches every copy (issue 14): after ``delete`` no email stays in the outbox
payload (pushed, or never written with sync off), in audit reasons, in the journal, or in
the other kiosk's store; old audit entries are erased after audit.retention_days."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kiosk.store import Store
from kiosk.store.errors import EmailTakenError
from store_support import MODEL, FakeClock, make_settings, query, unit_vectors
from sync_support import PASSWORD, fleet, server, thread_errors  # noqa: F401 - fixtures

EMAIL = "bob.private@example.org"


def every_text(store: Store) -> str:
    """Every row of every table that may hold personal data, as text."""
    out = []
    for table in ("users", "outbox", "audit", "attempts", "sync_notices", "account_events", "meta"):
        out.extend(repr(row) for row in query(store, f"SELECT * FROM {table}"))
    return "\n".join(out).lower()


def test_with_sync_off_the_email_never_reaches_the_outbox_or_audit_reasons(tmp_path: Path) -> None:
    clock = FakeClock()
    store = Store.open(make_settings(tmp_path), clock=clock)
    store.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL)
    with pytest.raises(EmailTakenError):
        store.enroll(EMAIL.upper(), PASSWORD, unit_vectors(1, seed=2), MODEL)  # its reason names the email
    store.record_face_attempt(EMAIL, accepted=False, score=0.9, reason=f"compared with {EMAIL}")
    store.delete_user(EMAIL)
    assert "bob.private" not in every_text(store)
    # Retention: entries older than audit.retention_days (90) go.
    clock.advance(91 * 86400)
    store.record_face_attempt("someone@example.org", accepted=False, score=0.9)
    assert [row[0] for row in query(store, "SELECT at FROM audit")] == [clock.now]
    store.close()


def test_deletion_leaves_no_email_at_either_kiosk_or_in_the_journal(fleet, server, caplog) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    a, b = fleet("a"), fleet("b")
    a.enroll(EMAIL, seed=1)
    b.enroll(EMAIL, seed=2)  # offline at the same time: b's enrollment loses the email
    for kiosk in (a, b, a, b):
        kiosk.engine.request_catch_up()
        kiosk.engine.run_pass()
    b.store.record_face_attempt(EMAIL, accepted=False, score=0.9)
    a.store.delete_user(EMAIL)
    for kiosk in (a, b, a, b):
        kiosk.engine.request_catch_up()
        kiosk.engine.run_pass()
    for kiosk in (a, b):
        assert kiosk.store.find_user(EMAIL) is None
        assert "bob.private" not in every_text(kiosk.store), kiosk.name
    assert "bob.private" not in caplog.text.lower()
    cloud = repr(server.get_data("/")).lower()
    assert "bob.private" not in cloud and "bob,private" not in cloud
