"""Emails in the person's language: the language the screen showed at sign-up is kept
with the account, and every email to that account (the code, the notices, a reset code)
is written in it; accounts without one get the kiosk's configured language. A real
store, the journeys, the kiosk's mail worker with smtplib and aiosmtpd in this process.

What reaches the relay is checked as bytes: UTF-8 quoted-printable body, the subject as
an RFC 2047 encoded word, so umlauts survive any relay.
"""

from __future__ import annotations

import email.header
import re

import pytest

from kiosk.flows import Step
from kiosk.store import Store
from kiosk.store import mail as mail_store
from mail_support import Received
from test_flows import MAX_FAILURES, faces_a, faces_b, rules  # noqa: F401 - fixtures
from test_flows_mail import MailKiosk, kiosk, smtp  # noqa: F401 - fixtures

OWNER = "juergen.mueller@example.org"


def raw_header(mail: Received, name: str) -> str:
    head = mail.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # the whole header is ASCII
    found = re.search(rf"^{name}: (.*(?:\r\n[ \t].*)*)", head, re.MULTILINE | re.IGNORECASE)
    assert found, f"no {name} header in {head!r}"
    return found.group(1)


def test_a_german_sign_up_gets_the_german_code_email_in_utf8(kiosk, faces_a):  # noqa: F811
    kiosk.wall.now = 1_767_225_600.0  # 2026-01-01 00:00 UTC on the store's clock
    kiosk.flow.choose_language("de")  # the person chose Deutsch on the start screen
    kiosk.sign_up(OWNER, faces_a)
    assert kiosk.flow.step == Step.SIGNUP_CODE
    [mail] = kiosk.deliver()
    code = mail.code()
    assert code is not None
    # The subject: decoded, German with its umlaut; on the wire, an RFC 2047 UTF-8 word.
    assert mail.subject == f"Ihr FaceKiosk-Bestätigungscode: {code}"
    wire = raw_header(mail, "Subject")
    assert wire.isascii() and "=?utf-8?" in wire.lower(), wire
    assert str(email.header.make_header(email.header.decode_header(wire))) == mail.subject
    # The body: text/plain, charset utf-8, quoted-printable (7-bit on the wire).
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content_charset() == "utf-8"
    assert mail.message["Content-Transfer-Encoding"] == "quoted-printable"
    assert mail.raw.isascii()
    assert b"Best=C3=A4tigungscode" in mail.raw  # ä as UTF-8, quoted-printable
    body = mail.body
    assert f"Ihr Bestätigungscode lautet {code}" in body
    assert "Er gilt einmal, 15 Minuten lang." in body
    assert "am 01.01.2026 um 00:00 Uhr (UTC) angefordert, an diesem Terminal: Kiosk at the front desk." in body
    assert "Bis die Adresse bestätigt ist" in body and "Ohne den Code geschieht nichts." in body
    # No English left (but the kiosk's name, which the operator chose).
    assert not re.search(r"\b(the|your|code is|minutes)\b", body.replace("Kiosk at the front desk", "")), body
    # Kept with the account, and the code works.
    user = kiosk.store.get_user(OWNER)
    assert mail_store.language_of(kiosk.store, user.id) == "de"
    kiosk.enter(code)
    assert kiosk.flow.step == Step.SIGNUP_DONE


def test_later_notices_follow_the_sign_up_language_not_the_screen_of_the_moment(kiosk, faces_a):  # noqa: F811
    kiosk.flow.choose_language("de")
    kiosk.sign_up(OWNER, faces_a)
    kiosk.enter(kiosk.deliver()[-1].code())
    flow = kiosk.flow
    flow.act("finish")
    # Someone at the kiosk, its screen in English, gets the account locked.
    for _ in range(MAX_FAILURES):
        flow.choose_language("en")
        flow.act("signin")
        kiosk.enter(OWNER)
        kiosk.enter("not the password 1")
        flow.act("start_over")
    [lock] = [m for m in kiosk.deliver() if m.subject == "Ihr Konto wurde gesperrt"]
    assert "Es ist deshalb 10 Minuten lang gesperrt." in lock.body
    assert "Wenn Sie das nicht waren" in lock.body and "„Passwort vergessen“" in lock.body
    assert lock.message.get_content_charset() == "utf-8"


def test_the_owner_of_a_taken_address_is_told_in_their_own_language(tmp_path, rules, smtp, faces_a, faces_b):  # noqa: F811
    kiosk = MailKiosk(tmp_path, rules, smtp)
    try:
        kiosk.flow.choose_language("de")
        kiosk.sign_up(OWNER, faces_b)
        kiosk.deliver()
        kiosk.flow.act("start_over")
        kiosk.flow.choose_language("en")  # a stranger, in English, tries the owner's address
        kiosk.sign_up(OWNER, faces_a)
        [notice] = [m for m in kiosk.deliver() if m.code() is None]
        assert notice.subject == "Eine Registrierung mit Ihrer E-Mail-Adresse"
        assert "hat jemand versucht, sich mit dieser E-Mail-Adresse zu registrieren" in notice.body
    finally:
        kiosk.jobs.close()


def test_an_english_sign_up_stays_english_and_an_account_without_a_language_gets_the_kiosks(tmp_path, rules, smtp,  # noqa: F811
                                                                                           faces_a):  # noqa: F811
    kiosk = MailKiosk(tmp_path, rules, smtp)
    try:
        kiosk.flow.choose_language("en")
        kiosk.sign_up(OWNER, faces_a)
        [mail] = kiosk.deliver()
        assert mail.subject.startswith("Your FaceKiosk confirmation code: ") and "Your confirmation code is" in mail.body
        assert mail_store.language_of(kiosk.store, kiosk.store.get_user(OWNER).id) == "en"
    finally:
        kiosk.jobs.close()
    # An account from before languages were kept (NULL), on a kiosk configured in German.
    settings = kiosk.settings.model_copy(update={"ui": kiosk.settings.ui.model_copy(update={"language": "de"})})
    with Store.open(settings) as store:
        user = store.get_user(OWNER)
        store.conn.execute("UPDATE users SET language = NULL WHERE id = ?", (user.id,))
        from kiosk.flows import accounts

        accounts.change_password(user.id, "a brand new secret 9", by_code=True)(store)
        from kiosk.mail.worker import MailWorker

        MailWorker(settings.mail, lambda: store).send_due(store)
    notice = smtp.received[-1]
    assert notice.subject == "Ihr Passwort wurde zurückgesetzt"
    assert "mit einem Code, der an diese Adresse gesendet wurde zurückgesetzt" in notice.body


def test_a_short_umlaut_body_still_goes_7bit(tmp_path):
    """Left to itself the email package sends short non-ASCII lines as raw 8-bit, which a
    relay without 8BITMIME may mangle: the kiosk always encodes quoted-printable."""
    from kiosk.mail.smtp import build_message
    from store_support import make_settings

    settings = make_settings(tmp_path, mail={"host": "localhost", "sender": "k@example.org"})
    message = build_message(settings.mail, "a@example.org", "Grüße", "Grüße")
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.as_bytes().isascii()
    assert "=?utf-8?" in message.as_bytes().decode().lower()
