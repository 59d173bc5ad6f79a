"""Consent and email confirmation travel with the signed user record (issue 15 items 1
and 8): a person signs up at kiosk a (consent recorded, a code emailed), types the code
at kiosk b, and kiosk a then allows the face reset it refused before. The code itself
never leaves a (the record carries its keyed hash), and a record that claims a
confirmation without a valid signature is quarantined. The journeys' own jobs, real
stores, real firebase-admin against tests/rtdb_server.py."""

from __future__ import annotations

import json
import re
import time

import firebase_admin
import pytest
from firebase_admin import db

from kiosk.flows import accounts
from kiosk.store import Store
from kiosk.store import mail as mail_store
from kiosk.store import quarantine
from kiosk.store.emails import normalize_email
from store_support import MODEL, unit_vectors
from sync_support import PASSWORD, Kiosk, admin_app, cloud_users, fleet, server, thread_errors  # noqa: F401 - fixtures

pytestmark = [pytest.mark.usefixtures("thread_errors"), pytest.mark.slow]

OWNER = "ann.owner@example.org"
CONSENT = "2026-11-1"


def with_mail(kiosk: Kiosk) -> Kiosk:
    """The kiosk with a mail relay configured (emails only queue here: nobody sends them)."""
    kiosk.store.close()
    mail = kiosk.settings.mail.model_copy(update={"host": "127.0.0.1", "sender": "kiosk@example.org"})
    kiosk.settings = kiosk.settings.model_copy(update={"mail": mail})
    kiosk.store = Store.open(kiosk.settings)
    kiosk.engine = kiosk.make_engine()
    return kiosk


def passes(*kiosks: Kiosk, rounds: int = 2) -> None:
    for _ in range(rounds):
        for kiosk in kiosks:
            kiosk.engine.request_catch_up()
            kiosk.engine.run_pass()


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
    genuine = cloud_users(server)[user_id]
    # Someone with the service account marks the address confirmed, keeping a's signature.
    forged = {k: v for k, v in genuine.items() if k not in ("confirmCode", "confirmCodeUntil", "updatedAt")}
    forged.update(confirmedAt=int(time.time() * 1000), revision=genuine["revision"] + 1, updatedAt={".sv": "timestamp"})
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
