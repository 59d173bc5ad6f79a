"""Lockout timing with a fake clock passed to the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.store import Store
from kiosk.store.errors import AuthenticationError, LockedOutError
from kiosk.store.lockout import FACE, PASSWORD
from store_support import MODEL, FakeClock, make_settings, unit_vectors

LOCKOUT = {"max_failures": 5, "kiosk_max_failures": 12, "window_s": 900.0, "lockout_s": 600.0}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    opened = Store.open(make_settings(tmp_path, lockout=LOCKOUT), clock=clock)
    opened.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    yield opened
    opened.close()


def test_locks_after_max_failures_for_lockout_s(store: Store, clock: FakeClock) -> None:
    key = "ann@example.org"
    for n in range(1, 5):
        status = store.lockout.record_failure(key, PASSWORD)
        assert not status.locked and status.failures == n and status.attempts_left == 5 - n
        clock.advance(10)
    status = store.lockout.record_failure(key, FACE)
    assert status.locked and status.scope == "email" and status.remaining_s == 600.0
    clock.advance(599)
    assert store.lockout.status(key).remaining_s == pytest.approx(1.0)
    assert "1 minute" in store.lockout.status(key).message()
    clock.advance(1)
    after = store.lockout.status(key)
    # Over: and the failures that caused it no longer count, though still in the window.
    assert not after.locked and after.remaining_s == 0.0 and after.failures == 0 and after.attempts_left == 5


def test_failures_outside_the_window_do_not_count(store: Store, clock: FakeClock) -> None:
    for _ in range(5):
        status = store.lockout.record_failure("ann@example.org", PASSWORD)
        clock.advance(250)  # the fifth failure comes 1000 s after the first: window 900 s
    assert not status.locked and status.failures == 4


def test_lockout_longer_than_window_lasts_its_full_time(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path, lockout={**LOCKOUT, "window_s": 60.0, "lockout_s": 3600.0})
    with Store.open(settings, clock=clock) as store:
        for _ in range(5):
            store.lockout.record_failure("ann@example.org", PASSWORD)
        clock.advance(1800)
        assert store.lockout.status("ann@example.org").remaining_s == pytest.approx(1800.0)


def test_success_clears_the_email_failures(store: Store, clock: FakeClock) -> None:
    for _ in range(4):
        store.lockout.record_failure("ann@example.org", PASSWORD)
    store.lockout.record_success("ann@example.org")
    assert store.lockout.status("ann@example.org").failures == 0


def test_kiosk_wide_lockout_across_emails(store: Store, clock: FakeClock) -> None:
    for i in range(11):
        assert not store.lockout.record_failure(f"guess{i % 4}@example.org", PASSWORD).locked
        clock.advance(1)
    store.lockout.record_failure("guess9@example.org", PASSWORD)
    status = store.lockout.status("ann@example.org")  # an email that never failed
    assert status.locked and status.scope == "kiosk" and status.remaining_s == 600.0
    assert "this kiosk" in status.message()
    with pytest.raises(LockedOutError):
        store.sign_in_password("ann@example.org", "correct horse")
    # Once over, the kiosk starts a fresh count: one more failure does not lock it again.
    clock.advance(600)
    store.sign_in_password("ann@example.org", "correct horse")
    assert not store.lockout.record_failure("guess0@example.org", PASSWORD).locked


def test_sign_in_is_refused_while_locked_even_with_the_right_password(store: Store, clock: FakeClock) -> None:
    for n in range(4):
        with pytest.raises(AuthenticationError):
            store.sign_in_password("ann@example.org", "wrong horse")
        clock.advance(5)
    with pytest.raises(LockedOutError) as locked:
        store.sign_in_password("ann@example.org", "wrong horse")
    assert locked.value.scope == "email" and locked.value.remaining_s == 600.0
    clock.advance(120)
    with pytest.raises(LockedOutError) as still:
        store.sign_in_password("ANN@example.org", "correct horse")
    assert still.value.remaining_s == pytest.approx(480.0)
    assert store.audit.entries()[-1].result == "locked"
    clock.advance(480)
    store.sign_in_password("ann@example.org", "correct horse")


def test_face_failures_count_and_lock_face_sign_in(store: Store, clock: FakeClock) -> None:
    for _ in range(5):
        store.face_templates("ann@example.org", MODEL)
        status = store.record_face_attempt("ann@example.org", accepted=False, score=0.93, reason="different person")
    assert status.locked
    with pytest.raises(LockedOutError):
        store.face_templates("ann@example.org", MODEL)
    assert [e.score for e in store.audit.entries(since=clock() - 1) if e.action == "sign_in_face"][:5] == [0.93] * 5


def test_lockout_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path, lockout=LOCKOUT)
    with Store.open(settings, clock=clock) as store:
        for _ in range(5):
            store.lockout.record_failure("ann@example.org", PASSWORD)
    clock.advance(60)
    with Store.open(settings, clock=clock) as store:
        assert store.lockout_status("Ann@Example.org").remaining_s == pytest.approx(540.0)


def test_clock_set_back_never_lengthens_the_wait(store: Store, clock: FakeClock) -> None:
    for _ in range(5):
        store.lockout.record_failure("ann@example.org", PASSWORD)
    clock.advance(-86400)  # a kiosk without a real-time clock booting in the past
    status = store.lockout.status("ann@example.org")
    assert status.locked and status.remaining_s == 600.0
