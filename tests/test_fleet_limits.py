"""Fleet-wide attempt limits per account (issue 14): failures at any kiosk count at all of
them, waits grow exponentially and run on fleet time (a clock step changes nothing), 100
failed passwords lock the password until a face reset or an administrator's unlock, and
wrong emailed confirmation codes at all kiosks together are limited to mail.code_max_tries
per code sent.

The attack figures: as many face attempts on one account as the kiosks allow in a day,
alternating between two kiosks whose ledgers merge (through the same code sync runs)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from kiosk.flows import accounts
from kiosk.store import Store, db, limits
from kiosk.store import mail as mail_store
from kiosk.store.emails import normalize_email
from kiosk.store.errors import AuthenticationError, LockedOutError
from store_support import MODEL, FakeClock, make_settings, query, unit_vectors
from sync_support import PASSWORD, Kiosk, fleet, passes, server, thread_errors  # noqa: F401 - fixtures
from test_fleet_account import OWNER, sign_up, with_mail

EMAIL = "ann@example.org"
DAY = 86400.0


def open_store(folder: Path, clock: FakeClock, monotonic: FakeClock | None = None, **lockout: object) -> Store:
    folder.mkdir(parents=True, exist_ok=True)
    return Store.open(make_settings(folder, lockout=lockout), clock=clock, monotonic=monotonic)


def try_face(store: Store, clock: FakeClock) -> bool:
    """One failed face attempt if the account may try now (True), else False."""
    try:
        store.face_templates_of(EMAIL, [MODEL])
    except LockedOutError:
        return False
    store.record_face_attempt(EMAIL, accepted=False, score=0.9, reason="no match")
    return True


def swap_ledgers(a: Store, b: Store) -> None:
    """What sync does between two kiosks: each merges the other's ledger."""
    for source, target, name in ((a, b, "a"), (b, a, "b")):
        ledgers = source.ledgers_to_push()
        target.merge_ledgers([(uid, name, events) for uid, events in ledgers], "db", None)


def attack_one_day(tmp_path: Path, shared: bool, **lockout: object) -> int:
    """Face attempts on one account in a day, alternating between two kiosks, each
    try as soon as the kiosk allows it (checking every 30 s)."""
    clock = FakeClock()
    a, b = open_store(tmp_path / "a", clock, **lockout), open_store(tmp_path / "b", clock, **lockout)
    user = a.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL)
    b.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL, user_id=user.id)  # the same account, synced
    count, start, turn = 0, clock.now, 0
    while clock.now - start < DAY:
        kiosk = (a, b)[turn % 2]
        if try_face(kiosk, clock):
            count += 1
            turn += 1
            if shared:
                swap_ledgers(a, b)
        else:
            clock.advance(30)
    a.close()
    b.close()
    return count


@pytest.mark.slow
def test_face_attempts_a_day_on_one_account_across_two_kiosks(tmp_path: Path) -> None:
    # Per-kiosk counting only (the limits as they were: no fleet-wide waits to speak of).
    before = attack_one_day(tmp_path / "before", shared=False, face_free_tries=100, face_wait_s=1.0, face_wait_max_s=1.0)
    after = attack_one_day(tmp_path / "after", shared=True)
    print(f"face attempts per account per day across two kiosks: before {before}, after {after}")
    assert before >= 800  # 445 a kiosk, as measured in the issue
    assert after <= 20  # 5 free, then 60 s doubling to a day


def test_failures_at_two_kiosks_add_up_and_the_wait_shows_at_both(fleet, server) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    user = a.enroll(EMAIL, seed=1)
    for kiosk in (a, b, a, b):
        kiosk.engine.request_catch_up()
        kiosk.engine.run_pass()
    assert user in b.table()
    for _ in range(3):
        a.store.record_face_attempt(EMAIL, accepted=False, score=0.9)
    a.engine.run_pass()
    # b has been offline all along: its own two failures count there at once...
    for _ in range(2):
        status = b.store.record_face_attempt(EMAIL, accepted=False, score=0.9)
    assert not status.locked or status.scope == "email"
    assert b.store.account_status(EMAIL).face_failures == 2
    # ...and once both have synced, five at both: the wait is on at both kiosks.
    for kiosk in (b, a):
        kiosk.engine.request_catch_up()
        kiosk.engine.run_pass()
    for kiosk in (a, b):
        account = kiosk.store.account_status(EMAIL)
        assert account.face_failures == 5 and 0 < account.face_wait_s <= 60.0
        with pytest.raises(LockedOutError) as locked:
            kiosk.store.face_templates_of(EMAIL, [MODEL])
        assert 0 < locked.value.remaining_s <= 60.0
    # An administrator's unlock at a clears it everywhere.
    a.store.unlock(EMAIL)
    a.engine.run_pass()
    b.engine.request_catch_up()
    b.engine.run_pass()
    assert b.store.account_status(EMAIL).face_failures == 0
    b.store.face_templates_of(EMAIL, [MODEL])
    # A forged ledger (not signed by a kiosk of the fleet) is refused.
    assert all(":" in key for key in server.get_data("/attempts"))


def test_a_clock_step_neither_extends_nor_clears_a_wait(tmp_path: Path) -> None:
    wall, mono = FakeClock(), FakeClock(start=1000.0)
    store = open_store(tmp_path, wall, mono)
    store.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL)
    for _ in range(5):
        store.record_face_attempt(EMAIL, accepted=False, score=0.9)
    first = store.account_status(EMAIL).face_wait_s
    assert first == pytest.approx(60.0)
    wall.advance(-DAY)  # stepped back a day
    with pytest.raises(LockedOutError) as locked:
        store.face_templates_of(EMAIL, [MODEL])
    assert locked.value.remaining_s == pytest.approx(max(60.0, store.lockout.status(EMAIL).remaining_s))
    assert store.account_status(EMAIL).face_wait_s == pytest.approx(60.0)
    wall.advance(2 * DAY)  # and forward a day
    assert store.account_status(EMAIL).face_wait_s == pytest.approx(60.0)
    assert store.lockout.status(EMAIL).locked  # the per-kiosk lock too
    mono.advance(60.1)  # the monotonic clock: the wait is over
    assert store.account_status(EMAIL).face_wait_s == 0.0
    store.close()


def test_a_hundred_failed_passwords_lock_the_password_until_a_face_reset(tmp_path: Path) -> None:
    clock = FakeClock()
    store = open_store(tmp_path, clock, max_failures=1000, kiosk_max_failures=1000)
    store.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL)
    for _ in range(100):
        with pytest.raises(AuthenticationError):
            store.sign_in_password(EMAIL, "wrong password")
        clock.advance(1)
    with pytest.raises(LockedOutError):
        store.sign_in_password(EMAIL, PASSWORD)  # even the right one
    store.face_templates_of(EMAIL, [MODEL])  # the face still may try
    store.record_face_attempt(EMAIL, accepted=True, score=0.2)  # the face reset
    assert store.sign_in_password(EMAIL, PASSWORD).email == EMAIL
    for _ in range(100):
        with pytest.raises(AuthenticationError):
            store.sign_in_password(EMAIL, "wrong password")
    with pytest.raises(LockedOutError):
        store.sign_in_password(EMAIL, PASSWORD)
    store.unlock(EMAIL)
    assert store.sign_in_password(EMAIL, PASSWORD).email == EMAIL
    store.close()


def test_users_export_includes_the_attempts_ledger_of_every_kiosk(fleet) -> None:  # noqa: F811
    """`facekiosk users export` gives a person everything kept about them (issue 14 item 2):
    the failed attempts and clears this kiosk and the others recorded on the account."""
    a, b = fleet("a"), fleet("b")
    a.enroll(EMAIL, seed=1)
    for kiosk in (a, b, a, b):
        kiosk.engine.request_catch_up()
        kiosk.engine.run_pass()
    a.store.record_face_attempt(EMAIL, accepted=False, score=0.9)
    a.engine.run_pass()
    for _ in range(2):
        b.store.record_face_attempt(EMAIL, accepted=False, score=0.9)
    b.engine.run_pass()
    a.engine.request_catch_up()
    a.engine.run_pass()
    data = a.store.export_user(EMAIL)
    attempts = data["attempts"]
    here = a.store.settings.sync.kiosk_id or a.store.kiosk_id  # this kiosk's own events, by its name
    assert sorted((e["kiosk"], e["kind"]) for e in attempts["events"]) == sorted([(here, "face"), ("b", "face"), ("b", "face")])
    assert all(e["at"].endswith("Z") for e in attempts["events"])
    assert attempts["face_failures"] == 3 and attempts["password_locked"] is False


# -- wrong emailed codes, counted fleet-wide ----------------------------------------------------


def wrong(code: str, n: int) -> str:
    return f"{(int(code) + n) % 10**6:06d}"


@pytest.mark.slow
def test_confirmation_code_guesses_are_limited_across_the_fleet(fleet, server) -> None:  # noqa: F811
    """The attack: someone who enrolled another person's address (or has their unconfirmed
    account's password) guesses the 6-digit confirmation code: code_max_tries (5) wrong at
    kiosk a, then more at kiosk b, which counted only its own tries, until the code lands.
    Every kiosk now counts the account's wrong codes together: after 5 anywhere, every kiosk
    refuses codes for it (even the right one) until a new code is sent, and the new code is
    checked only after a pause (lockout.face_wait_s, 1 s here)."""
    a, b = with_mail(fleet("a"), face_wait_s=1.0), with_mail(fleet("b"), face_wait_s=1.0)
    user_id, code = sign_up(a)
    passes(a, b)
    email = normalize_email(OWNER)
    outcomes = [accounts.confirm_email(email, wrong(code, n))(a.store).outcome for n in range(1, 6)]
    assert outcomes == [mail_store.WRONG] * 4 + [mail_store.TOO_MANY]  # kiosk a's own limit, as before
    passes(a, b)
    # 5 more at b: refused unchecked, the right code too. Counted per kiosk, b checked them
    # all: ['wrong', 'wrong', 'wrong', 'wrong', 'ok'], the 10th guess confirmed the address.
    at_b = [accounts.confirm_email(email, guess)(b.store).outcome for guess in [wrong(code, n) for n in range(6, 10)] + [code]]
    assert at_b == [mail_store.TOO_MANY] * 5
    assert not mail_store.is_confirmed(b.store, user_id)
    account = b.store.account_status(OWNER)
    assert account is not None and account.code_failures == 5 and account.code_locked
    # The owner asks for a new code (signing in with the password, here at b): 5 tries again, at every kiosk.
    signed = accounts.sign_in(email, PASSWORD)(b.store)
    assert isinstance(signed, accounts.SignedIn) and signed.unconfirmed
    [mail] = [m for m in mail_store.due(b.store) if m.recipient == OWNER and "confirmation code" in m.body][-1:]
    found = re.search(r"confirmation code is (\d{6})", mail.body)
    assert found is not None
    passes(b, a)
    assert not a.store.account_status(OWNER).code_locked
    refused = accounts.confirm_email(email, found.group(1))(a.store)  # the pause after the 5 wrong ones
    assert refused.outcome == mail_store.WAIT and 0 < refused.wait_s <= 1.0
    time.sleep(refused.wait_s + 0.05)
    assert accounts.confirm_email(email, wrong(found.group(1), 1))(a.store).outcome == mail_store.WRONG
    assert accounts.confirm_email(email, found.group(1))(a.store).outcome == mail_store.WAIT  # 2 s after the 6th
    time.sleep(a.store.account_status(OWNER).code_wait_s + 0.05)
    assert accounts.confirm_email(email, found.group(1))(a.store).outcome == mail_store.OK
    passes(a, b)
    assert mail_store.is_confirmed(b.store, user_id)


@pytest.mark.slow
def test_wrong_codes_split_between_kiosks_add_up(fleet, server) -> None:  # noqa: F811
    """3 wrong at a and 2 at b (each under its own limit) are 5 for the account: the next
    try at either kiosk is refused."""
    a, b = with_mail(fleet("a")), with_mail(fleet("b"))
    _, code = sign_up(a)
    passes(a, b)
    email = normalize_email(OWNER)
    assert [accounts.confirm_email(email, wrong(code, n))(a.store).outcome for n in (1, 2, 3)] == [mail_store.WRONG] * 3
    assert [accounts.confirm_email(email, wrong(code, n))(b.store).outcome for n in (4, 5)] == [mail_store.WRONG] * 2
    passes(a, b)
    for kiosk in (a, b):
        assert accounts.confirm_email(email, code)(kiosk.store).outcome == mail_store.TOO_MANY, kiosk.name


def test_wrong_codes_in_the_ledger_add_up_and_a_new_code_or_an_unlock_clears_them(tmp_path: Path) -> None:
    clock = FakeClock()
    a, b = open_store(tmp_path / "a", clock), open_store(tmp_path / "b", clock)
    user = a.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL)
    b.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL, user_id=user.id)

    def wrong_codes(store: Store, n: int) -> None:
        with db.transaction(store.conn):
            for _ in range(n):
                store.limits.record(user.id, limits.CODE_FAIL)
        clock.advance(1)

    wrong_codes(a, 3)
    wrong_codes(b, 1)
    assert not a.account_status(EMAIL).code_locked  # before sync: each knows its own
    swap_ledgers(a, b)
    assert b.account_status(EMAIL).code_failures == 4 and not b.account_status(EMAIL).code_locked
    wrong_codes(b, 1)
    swap_ledgers(a, b)
    for store in (a, b):
        status = store.account_status(EMAIL)
        assert status.code_failures == 5 and status.code_locked
        assert status.face_failures == 0 and status.face_wait_s == 0.0  # codes are not faces
    assert a.account_status(EMAIL).code_wait_s == pytest.approx(59.0)  # 60 s after the 5th (1 s ago)
    # A new code sent at b clears them at both for that code, but the pause stays: a new
    # code is no fresh set of 5 guesses.
    with db.transaction(b.conn):
        b.limits.record(user.id, limits.CODE_SENT)
    swap_ledgers(a, b)
    status = a.account_status(EMAIL)
    assert status.code_failures == 0 and not status.code_locked and status.code_wait_s == pytest.approx(59.0)
    assert "C" in limits.encode_events(b.limits.ledger(user.id))
    clock.advance(60)
    assert a.account_status(EMAIL).code_wait_s == 0.0
    wrong_codes(a, 1)  # the 6th within the day: 120 s
    assert a.account_status(EMAIL).code_wait_s == pytest.approx(119.0)
    # A day later they no longer count, and are no longer kept.
    clock.advance(DAY)
    wrong_codes(a, 1)
    assert a.account_status(EMAIL).code_wait_s == 0.0
    assert [kind for _, kind, _ in a.limits.events(user.id)].count(limits.CODE_FAIL) == 1
    # An administrator's unlock clears them all.
    wrong_codes(a, 5)
    assert a.account_status(EMAIL).code_locked and a.account_status(EMAIL).code_wait_s > 0
    a.unlock(EMAIL)
    status = a.account_status(EMAIL)
    assert status.code_failures == 0 and status.code_wait_s == 0.0
    a.close()
    b.close()


def test_a_ledger_holding_a_later_releases_kind_still_counts_what_it_knows() -> None:
    assert limits.decode_events("f1,c2,C3,x4,F5") == [(limits.FACE_FAIL, 1), (limits.CODE_FAIL, 2), (limits.CODE_SENT, 3),
                                                        (limits.FACE_OK, 5)]
    for bad in ("f1,,c2", "f1,#2", "f1,c", "f1,c-2", "é1", "c" + "1" * 17):
        with pytest.raises(limits.LedgerError):
            limits.decode_events(bad)


def code_guesses_one_day(tmp_path: Path) -> int:
    """Confirmation codes checked for one unconfirmed account in a day by someone who knows
    its password: a guess every 5 s, a new code (a sign-in) whenever the code is used up,
    and while the kiosk says wait, a look every 30 s."""
    clock = FakeClock()
    store = open_store(tmp_path, clock)
    store.enroll(EMAIL, PASSWORD, unit_vectors(1), MODEL)
    email = normalize_email(EMAIL)

    def tries() -> int:
        return int(query(store, "SELECT confirm_code_tries FROM users")[0][0])

    code = mail_store.issue_code(store, email, mail_store.CONFIRM, 900)
    checked, start = 0, clock.now
    while clock.now - start < DAY:
        before = tries()
        outcome = mail_store.check_code(store, email, mail_store.CONFIRM, wrong(code, 1), 5)
        checked += max(0, tries() - before)
        if outcome in (mail_store.TOO_MANY, mail_store.EXPIRED):
            code = mail_store.issue_code(store, email, mail_store.CONFIRM, 900)
            clock.advance(5)
        elif outcome == mail_store.WRONG:
            clock.advance(5)
        else:
            clock.advance(30)
    store.close()
    return checked


@pytest.mark.slow
def test_confirmation_code_guesses_a_day_on_one_account(tmp_path: Path) -> None:
    checked = code_guesses_one_day(tmp_path)
    print(f"confirmation codes checked for one account in a day: {checked}")
    assert checked <= 20  # 5, then 60 s doubling to a day (before: 5 a code, a code a sign-in: 17,280)


@pytest.mark.slow
def test_reset_code_guesses_at_another_kiosk_wait_like_faces(fleet, server) -> None:  # noqa: F811
    """A reset code stays on the kiosk that sent it, but every kiosk sends one to whoever
    types the address: 5 wrong at kiosk a (each counted as a failed face, fleet-wide), then
    a fresh code and 5 more guesses at kiosk b, which looked only at its own lockout. Now b
    refuses a reset code, asked for or typed, while the account's fleet-wide wait runs."""
    a, b = with_mail(fleet("a")), with_mail(fleet("b"))
    sign_up(a)
    passes(a, b)
    email = normalize_email(OWNER)
    assert isinstance(accounts.send_reset_code(email)(a.store), accounts.CodeSent)
    results = [accounts.check_reset_code(email, f"{n:06d}")(a.store) for n in range(5)]
    assert [r.outcome for r in results[:4]] == [mail_store.WRONG] * 4 and results[4].locked is not None
    passes(a, b)
    assert b.store.account_status(OWNER).face_wait_s > 0
    asked = accounts.send_reset_code(email)(b.store)
    assert isinstance(asked, accounts.Locked) and asked.scope == "email" and 0 < asked.remaining_s <= 60
    assert not [m for m in mail_store.due(b.store) if m.recipient == OWNER and m.kind == "reset_code"]
    typed = accounts.check_reset_code(email, "123456")(b.store)
    assert isinstance(typed, accounts.Locked)
