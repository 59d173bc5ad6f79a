"""Consent and email confirmation travel with the signed user record (issue 15 items 1
and 8): a person signs up at kiosk a (consent recorded, a code emailed), types the code
at kiosk b, and kiosk a then allows the face reset it refused before. The code itself
never leaves a (the record carries its keyed hash), and a record that claims a
confirmation without a valid signature is quarantined. The language of the sign-up's
screen travels too: a reset or a lock at kiosk b emails the owner in it. The journeys' own jobs, real
stores, real firebase-admin against tests/rtdb_server.py."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import time

import firebase_admin
import pytest
from firebase_admin import db

from kiosk.commands import users as users_command
from kiosk.flows import accounts
from kiosk.mail.worker import MailWorker
from kiosk.store import Store
from kiosk.store import mail as mail_store
from kiosk.store import quarantine
from kiosk.store.emails import normalize_email
from mail_support import Received, SmtpServer
from store_support import MODEL, unit_vectors
from sync_support import DATABASE_URL, PASSWORD, Kiosk, admin_app, cloud_users, fleet, passes, server, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")  # each test under 1.5 s: in the fast set

OWNER = "ann.owner@example.org"
CONSENT = "2026-11-1"


def with_mail(kiosk: Kiosk, **lockout: object) -> Kiosk:
    """The kiosk with a mail relay configured (emails only queue here: nobody sends them),
    and ``lockout`` settings changed."""
    kiosk.store.close()
    mail = kiosk.settings.mail.model_copy(update={"host": "127.0.0.1", "sender": "kiosk@example.org"})
    kiosk.settings = kiosk.settings.model_copy(update={"mail": mail, "lockout": kiosk.settings.lockout.model_copy(update=lockout)})
    kiosk.store = Store.open(kiosk.settings)
    kiosk.engine = kiosk.make_engine()
    return kiosk



def sign_up(kiosk: Kiosk) -> tuple[str, str]:
    """Sign-up as the journey does it (consent, then the account and its code); the user id
    and the code from the queued email."""
    samples = [{MODEL: vector} for vector in unit_vectors(3, seed=1)]
    done = accounts.enroll_confirming(normalize_email(OWNER), PASSWORD, samples, MODEL, None, CONSENT)(kiosk.store)
    assert isinstance(done, accounts.CodeSent)
    [mail] = [m for m in mail_store.due(kiosk.store) if m.recipient == OWNER]
    found = re.search(r"confirmation code is (\d{6})", mail.body)
    assert found is not None
    return kiosk.store.get_user(OWNER).id, found.group(1)


def reset_reason(kiosk: Kiosk) -> str:
    subject = accounts.find_reset_subject(normalize_email(OWNER), [MODEL])(kiosk.store)
    return "allowed" if subject.user_id is not None else subject.reason



def forge_and_expect_quarantine(fleet, server, b, user_id: str, changes: dict, drop: tuple[str, ...] = ()) -> None:  # noqa: F811
    """Rewrite a's cloud record of ``user_id`` with ``changes`` (a's signature kept, fields in
    ``drop`` removed) through the service account; b's next pass quarantines it as a's."""
    genuine = cloud_users(server)[user_id]
    forged = {k: v for k, v in genuine.items() if k not in (*drop, "updatedAt")}
    forged.update(changes, revision=genuine["revision"] + 1, updatedAt={".sv": "timestamp"})
    app = admin_app(fleet.admin)
    try:
        db.reference(f"/users/{user_id}", app).set(forged)
    finally:
        firebase_admin.delete_app(app)
    before = b.engine.status().quarantined
    passes(b, rounds=1)
    assert b.engine.status().quarantined == before + 1
    [entry] = [e for e in quarantine.entries(b.store) if e.user_id == user_id]
    assert "signature" in entry.reason and entry.writer == "a"

def test_confirmation_typed_at_another_kiosk_lets_the_first_allow_a_face_reset(fleet, server) -> None:  # noqa: F811
    a, b = with_mail(fleet("a")), with_mail(fleet("b"))
    user_id, code = sign_up(a)
    assert reset_reason(a) == "email not confirmed"
    passes(a, b)

    # What travelled: the consent, and the code as its keyed hash only.
    record = cloud_users(server)[user_id]
    assert record["consentVersion"] == CONSENT and isinstance(record["consentAt"], int)
    assert "confirmedAt" not in record and re.fullmatch(r"k1:[0-9a-f]{64}", record["confirmCode"])
    assert code not in json.dumps(record)
    assert record["confirmCodeUntil"] > int(time.time() * 1000)
    version, at = mail_store.consent(b.store, user_id)
    assert version == CONSENT and at == pytest.approx(record["consentAt"] / 1000)
    assert not mail_store.is_confirmed(b.store, user_id) and reset_reason(b) == "email not confirmed"

    # Typed at b: a wrong code is refused (and counted there), the right one confirms.
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert accounts.confirm_email(normalize_email(OWNER), wrong)(b.store).outcome == mail_store.WRONG
    assert accounts.confirm_email(normalize_email(OWNER), code)(b.store).outcome == mail_store.OK
    assert mail_store.is_confirmed(b.store, user_id) and reset_reason(b) == "allowed"
    passes(b, a)

    assert mail_store.is_confirmed(a.store, user_id)
    assert reset_reason(a) == "allowed"
    record = cloud_users(server)[user_id]
    assert record["writer"] == "b" and isinstance(record["confirmedAt"], int)
    assert not {"confirmCode", "confirmCodeUntil"} & set(record)
    assert record["consentVersion"] == CONSENT  # still there after b's write
    # The code is used up everywhere: typed again at a, nothing happens (already confirmed).
    assert mail_store.consent(a.store, user_id)[0] == CONSENT


def test_a_new_code_asked_for_at_one_kiosk_works_at_the_other(fleet, server) -> None:  # noqa: F811
    a, b = with_mail(fleet("a")), with_mail(fleet("b"))
    user_id, first = sign_up(a)
    passes(a, b)
    # The person signs in with the password at b, unconfirmed: b emails a new code.
    signed = accounts.sign_in(normalize_email(OWNER), PASSWORD)(b.store)
    assert isinstance(signed, accounts.SignedIn) and signed.unconfirmed
    [mail] = [m for m in mail_store.due(b.store) if m.recipient == OWNER]
    found = re.search(r"confirmation code is (\d{6})", mail.body)
    assert found is not None
    passes(b, a)
    if found.group(1) != first:  # the older code stopped working everywhere
        assert accounts.confirm_email(normalize_email(OWNER), first)(a.store).outcome == mail_store.WRONG
    assert accounts.confirm_email(normalize_email(OWNER), found.group(1))(a.store).outcome == mail_store.OK
    passes(a, b)
    assert mail_store.is_confirmed(b.store, user_id) and reset_reason(b) == "allowed"


def test_a_forged_confirmation_is_quarantined(fleet, server) -> None:  # noqa: F811
    a, b = with_mail(fleet("a")), with_mail(fleet("b"))
    user_id, _ = sign_up(a)
    passes(a, b)
    # Someone with the service account marks the address confirmed, keeping a's signature.
    forge_and_expect_quarantine(fleet, server, b, user_id, {"confirmedAt": int(time.time() * 1000)},
                                drop=("confirmCode", "confirmCodeUntil"))
    assert not mail_store.is_confirmed(b.store, user_id)
    assert reset_reason(b) == "email not confirmed"


def test_a_concurrent_write_does_not_undo_a_confirmation(fleet, server) -> None:  # noqa: F811
    a, b = with_mail(fleet("a")), with_mail(fleet("b"))
    user_id, code = sign_up(a)
    passes(a, b)
    # Confirmed at b and pushed, while a changes the password without having seen it.
    assert accounts.confirm_email(normalize_email(OWNER), code)(b.store).outcome == mail_store.OK
    passes(b)
    a.store.change_password(user_id, "another good password 9")
    a.engine.run_pass()  # a's push replaces b's version (last writer wins) ...
    record = cloud_users(server)[user_id]
    assert record["writer"] == "a" and isinstance(record["confirmedAt"], int)  # ... and keeps its confirmation
    passes(a, b)
    for kiosk in (a, b):
        assert mail_store.is_confirmed(kiosk.store, user_id), kiosk.name
        assert kiosk.store.sign_in_password(OWNER, "another good password 9").id == user_id


# -- the emails' language travels with the record ----------------------------------------------


@pytest.fixture
def relay():
    smtp = SmtpServer()
    yield smtp
    smtp.stop()


def with_relay(kiosk: Kiosk, smtp: SmtpServer) -> Kiosk:
    """The kiosk with its mail section pointing at the in-process relay (ui.language en)."""
    kiosk.store.close()
    mail = kiosk.settings.mail.model_copy(update=smtp.mail_settings())
    kiosk.settings = kiosk.settings.model_copy(update={"mail": mail})
    assert kiosk.settings.ui.language == "en"
    kiosk.store = Store.open(kiosk.settings)
    kiosk.engine = kiosk.make_engine()
    return kiosk


def deliver(kiosk: Kiosk, smtp: SmtpServer) -> list[Received]:
    """What the kiosk's mail worker sends now (smtplib to aiosmtpd), as the relay got it."""
    before = len(smtp.received)
    MailWorker(kiosk.settings.mail, lambda: kiosk.store).send_due(kiosk.store)
    return smtp.received[before:]


def german_sign_up(kiosk: Kiosk, smtp: SmtpServer) -> tuple[str, str]:
    """Sign-up with the screen in German, as the journey does it; the user id and the code."""
    samples = [{MODEL: vector} for vector in unit_vectors(3, seed=1)]
    done = accounts.enroll_confirming(normalize_email(OWNER), PASSWORD, samples, MODEL, None, CONSENT, "de")(kiosk.store)
    assert isinstance(done, accounts.CodeSent)
    [mail] = deliver(kiosk, smtp)
    assert mail.subject.startswith("Ihr FaceKiosk-Bestätigungscode")
    code = mail.code()
    assert code is not None
    return kiosk.store.get_user(OWNER).id, code


def test_the_emails_language_travels_a_reset_and_a_lock_at_another_kiosk_write_german(fleet, server, relay) -> None:  # noqa: F811
    a, b = with_relay(fleet("a"), relay), with_relay(fleet("b"), relay)
    user_id, code = german_sign_up(a, relay)
    assert accounts.confirm_email(normalize_email(OWNER), code)(a.store).outcome == mail_store.OK
    passes(a, b)
    assert cloud_users(server)[user_id]["language"] == "de"  # signed with the rest of the record
    assert mail_store.language_of(b.store, user_id) == "de"
    assert "emails in: de" in users_show(b)

    # A face reset at b (the journey's job after an accepted face): the notice is German.
    assert reset_reason(b) == "allowed"
    accounts.change_password(user_id, "another good password 9")(b.store)
    [notice] = deliver(b, relay)
    assert notice.recipients == [OWNER]
    assert notice.subject == "Ihr Passwort wurde zurückgesetzt"
    assert "Wenn Sie das waren, ist nichts zu tun." in notice.body and "reset" not in notice.body

    # Failed faces at b until the account locks: the lock notice is German too.
    for _ in range(10):
        recorded = accounts.record_face(normalize_email(OWNER), False, 0.9, "no match")(b.store)
        if recorded.locked is not None:
            break
    assert recorded.locked is not None
    [lock] = deliver(b, relay)
    assert lock.subject == "Ihr Konto wurde gesperrt" and "locked" not in lock.body

    # b's push (the new password) keeps the language for every kiosk.
    passes(b, a)
    assert cloud_users(server)[user_id]["language"] == "de" and cloud_users(server)[user_id]["writer"] == "b"
    assert mail_store.language_of(a.store, user_id) == "de"


def test_a_forged_language_is_quarantined(fleet, server, relay) -> None:  # noqa: F811
    a, b = with_relay(fleet("a"), relay), with_relay(fleet("b"), relay)
    user_id, _ = german_sign_up(a, relay)
    passes(a, b)
    forge_and_expect_quarantine(fleet, server, b, user_id, {"language": "en"})
    assert mail_store.language_of(b.store, user_id) == "de"


def users_show(kiosk: Kiosk) -> str:
    """`facekiosk users show` on the kiosk's store, as printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert users_command._show(kiosk.store, kiosk.settings, argparse.Namespace(email=OWNER, json=False)) == 0
    return out.getvalue()


def test_a_kiosk_upgraded_from_record_format_2_takes_the_languages_its_release_refused(fleet, server, relay) -> None:  # noqa: F811
    """The release before this one quarantined a record holding `language` (a field it did
    not know) and kept the version before it; upgraded, it reads the table again once and
    applies it."""
    a, b = with_relay(fleet("a"), relay), with_relay(fleet("b"), relay)
    user_id, _ = german_sign_up(a, relay)
    passes(a, b)
    seen = b.store.sync_state(DATABASE_URL).last_seen_ms
    # What that release left: the account as of an older version, a sync state of format 2.
    conn = b.store.conn
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE users SET language = NULL, remote_change = 'a:0', remote_updated_at = 0, revision = 1 WHERE id = ?",
                 (user_id,))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'sync_state'", (json.dumps(
        {"database": DATABASE_URL, "initial_done": True, "last_seen_ms": seen, "format": 2}).encode(),))
    conn.execute("COMMIT")
    assert mail_store.language_of(b.store, user_id) is None
    assert b.store.sync_state(DATABASE_URL).last_seen_ms == 0  # read everything again, once
    passes(b, rounds=1)
    assert mail_store.language_of(b.store, user_id) == "de"
    assert b.store.sync_state(DATABASE_URL).last_seen_ms > 0  # and the cursor is back where the records are
