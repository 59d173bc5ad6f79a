"""The journeys with email configured: a real store, jobs inline, the real face pipeline,
the kiosk's mail worker sending through smtplib to aiosmtpd in this process.

Attacks this answers (issue 15): anyone could enroll `victim@...` with their own face and
password, then the owner heard "already registered" and "Forgot password" failed for
them; sign-up told strangers which emails are registered; a reset by face was silent.
"""

from __future__ import annotations

import pytest

from kiosk.flows import EventName, FaceRules, Flow, FlowConfig, FlowEvent, InlineJobs, Step
from kiosk.flows import accounts
from kiosk.i18n import load_catalog
from kiosk.mail.worker import MailWorker
from kiosk.store import Store
from kiosk.store import mail as mail_store
from kiosk.store.emails import normalize_email
from mail_support import SmtpServer
from test_flows import MAX_FAILURES, PASSWORD, Kiosk, faces_a, faces_b, rules  # noqa: F401 - fixtures
from ui_support import FakeClock, store_settings

OWNER = "ann@example.org"


class MailKiosk(Kiosk):
    """test_flows' kiosk with the mail section pointing at ``smtp``, and its mail worker
    run by hand (``deliver``)."""

    def __init__(self, tmp_path, rules, smtp: SmtpServer, **config):
        self.wall = FakeClock()
        self.clock = FakeClock(1000.0)
        self.smtp = smtp
        self.settings = store_settings(tmp_path, lockout={"max_failures": MAX_FAILURES, "lockout_s": 600.0},
                                       mail=smtp.mail_settings())
        self.jobs = InlineJobs(lambda: Store.open(self.settings, clock=self.wall))
        self.store = self.jobs.store
        defaults = dict(passwords=self.settings.passwords, enroll_samples=5, enroll_sample_interval_s=0.3,
                        verify_good_frames=2, verify_timeout_s=10.0, capture_timeout_s=20.0, mail_enabled=True)
        self.events: list[FlowEvent] = []
        self.flow = Flow(FlowConfig(**{**defaults, **config}), rules, self.jobs, clock=self.clock, events=self.events.append)
        self.worker = MailWorker(self.settings.mail, lambda: self.store)

    def start_reset(self, email):
        """Forgot password with mail: the email, then the face (the choice screen's agree)."""
        self.flow.act("reset")
        self.enter(email)
        assert self.flow.step == Step.RESET_CHOICE, self.flow.step
        self.flow.act("agree")
        self.flow.tick()
        assert self.flow.step == Step.RESET_FACE, self.flow.step

    def deliver(self) -> list:
        self.worker.send_due(self.store)
        return self.smtp.received

    def screen(self) -> tuple:
        """Everything the person sees: step, title, message, the code screen's hint."""
        flow = self.flow
        return flow.step, flow.step.title, flow.session.message, flow.session.problem, flow.busy


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def kiosk(tmp_path, rules, smtp):
    k = MailKiosk(tmp_path, rules, smtp)
    yield k
    k.jobs.close()


def test_sign_up_asks_for_the_emailed_code(kiosk, faces_a):
    kiosk.sign_up(OWNER, faces_a)
    flow = kiosk.flow
    assert flow.step == Step.SIGNUP_CODE
    user = kiosk.store.get_user(OWNER)
    assert not mail_store.is_confirmed(kiosk.store, user.id)
    assert mail_store.consent(kiosk.store, user.id)[0] == "2026-11-1"  # what the consent screen said
    [mail] = kiosk.deliver()
    assert mail.recipients == [OWNER] and mail.code() is not None
    assert "Kiosk at the front desk" in mail.body and "15 minutes" in mail.body
    kiosk.enter("12345")
    assert flow.session.message.msgid == "The code has 6 digits"
    kiosk.enter(f"{(int(mail.code()) + 1) % 10**6:06d}")
    assert flow.step == Step.SIGNUP_CODE and flow.session.message.msgid.startswith("That code is not right")
    kiosk.enter(mail.code())
    assert flow.step == Step.SIGNUP_DONE
    assert mail_store.is_confirmed(kiosk.store, user.id)
    names = kiosk.event_names()
    assert {"email_code_sent", "email_confirm_refused", "email_confirmed"} <= set(names)


def test_a_taken_email_gets_the_same_answer_and_its_owner_a_notice(tmp_path, rules, smtp, faces_a, faces_b):
    """The attack: forty sign-ups with a victim's email gave forty "already registered".
    Now a stranger sees exactly what a new sign-up sees; the owner is told instead."""
    (tmp_path / "new").mkdir()
    (tmp_path / "taken").mkdir()
    new = MailKiosk(tmp_path / "new", rules, smtp)
    taken = MailKiosk(tmp_path / "taken", rules, smtp)
    taken.store.enroll(OWNER, "owner's own password 7", [faces_b[0].embeddings[taken.flow.rules.model_id]] * 3,
                       taken.flow.rules.model_id)
    seen = []
    for kiosk in (new, taken):
        kiosk.sign_up(OWNER, faces_a)
        seen.append(kiosk.screen())
    assert seen[0] == seen[1], seen
    assert seen[0][0] == Step.SIGNUP_CODE
    # Translated, the screen says the same in every language too (no hidden oracle).
    for language in ("en", "de"):
        catalog = load_catalog(language)
        assert catalog(new.flow.step.title) == catalog(taken.flow.step.title)
    new.deliver()
    mails = taken.deliver()
    codes = [m for m in mails if m.code()]
    notices = [m for m in mails if not m.code()]
    assert len(codes) == 1 and len(notices) == 1
    assert notices[0].subject == "A sign-up with your email address"
    assert "already has an account" in notices[0].body and "Kiosk at the front desk" in notices[0].body
    # Whatever the stranger types, the code is "not right", and the owner's account is untouched.
    taken.enter(codes[0].code())
    assert taken.flow.session.message.msgid.startswith("That code is not right")
    assert taken.store.sign_in_password(OWNER, "owner's own password 7").email == OWNER
    new.jobs.close()
    taken.jobs.close()


def test_unconfirmed_account_cannot_reset_by_face_and_confirms_later(tmp_path, rules, smtp, faces_a):
    """Until the address is confirmed its face cannot take the account; the person finishes
    later by signing in (here on a second kiosk session over the same database)."""
    first = MailKiosk(tmp_path, rules, smtp)
    first.sign_up(OWNER, faces_a)
    first.flow.act("start_over")  # walks away without typing the code
    subject = accounts.find_reset_subject(normalize_email(OWNER), first.flow.rules.model_ids)(first.store)
    assert subject.templates is None and subject.reason == "email not confirmed"
    first.jobs.close()

    second = MailKiosk(tmp_path, rules, smtp)
    flow = second.flow
    flow.act("signin")
    second.enter(OWNER)
    second.enter(PASSWORD)
    assert flow.step == Step.SIGNIN_CODE
    mails = second.deliver()
    latest = [m for m in mails if m.code()][-1]
    second.enter(latest.code())
    assert flow.step == Step.WELCOME
    subject = accounts.find_reset_subject(normalize_email(OWNER), flow.rules.model_ids)(second.store)
    assert subject.templates is not None
    second.jobs.close()


def test_the_owner_is_told_after_a_reset_by_face(kiosk, faces_a):
    kiosk.sign_up(OWNER, faces_a)
    code = kiosk.deliver()[-1].code()
    kiosk.enter(code)
    flow = kiosk.flow
    flow.act("finish")
    kiosk.wall.now = 1_767_225_600.0  # 2026-01-01 00:00 UTC on the store's clock
    kiosk.start_reset(OWNER)
    kiosk.show(faces_a[2:])
    assert flow.step == Step.RESET_PASSWORD
    kiosk.enter("a brand new secret")
    kiosk.enter("a brand new secret")
    assert flow.step == Step.RESET_DONE
    notice = kiosk.deliver()[-1]
    assert notice.recipients == [OWNER] and notice.subject == "Your password was reset"
    assert "reset by face at Kiosk at the front desk on 2026-01-01 00:00 UTC" in notice.body
    assert "If this was not you" in notice.body


def test_the_owner_is_told_when_the_account_is_locked(kiosk, faces_a):
    kiosk.sign_up(OWNER, faces_a)
    kiosk.deliver()
    flow = kiosk.flow
    flow.act("start_over")
    for _ in range(MAX_FAILURES):
        flow.act("signin")
        kiosk.enter(OWNER)
        kiosk.enter("not the password 1")
        flow.act("start_over")
    locks = [m for m in kiosk.deliver() if m.subject == "Your account was locked"]
    assert len(locks) == 1 and "locked for 10 minutes" in locks[0].body
    flow.act("signin")  # trying again while locked sends nothing more
    kiosk.enter(OWNER)
    kiosk.enter("not the password 2")
    assert len([m for m in kiosk.deliver() if m.subject == "Your account was locked"]) == 1


def test_reset_by_an_emailed_code_instead_of_the_face(kiosk, faces_a):
    """EN 301 549 5.3: an alternative to the biometric. A wrong code counts like a refused
    face; an address without an account gets the same screens and no email."""
    kiosk.sign_up(OWNER, faces_a)
    kiosk.enter(kiosk.deliver()[-1].code())
    flow = kiosk.flow
    flow.act("finish")
    seen = []
    for email in (OWNER, "nobody@example.org"):
        flow.act("reset")
        kiosk.enter(email)
        assert flow.step == Step.RESET_CHOICE
        flow.act("email_code")
        flow.tick()
        assert flow.step == Step.RESET_CODE
        before = len(kiosk.smtp.received)
        mails = kiosk.deliver()
        kiosk.enter("000000" if email != OWNER else f"{(int(mails[-1].code()) + 1) % 10**6:06d}")
        seen.append((kiosk.screen(), flow.session.attempts_left, len(mails) - before))
        flow.act("start_over")
    assert seen[0][:2] == seen[1][:2], seen  # the same screens and tries left
    assert (seen[0][2], seen[1][2]) == (1, 0)  # an email only to the account's address
    assert kiosk.store.lockout_status("nobody@example.org").failures == 1  # counted like a face attempt
    flow.act("reset")
    kiosk.enter(OWNER)
    flow.act("email_code")
    flow.tick()
    code = kiosk.deliver()[-1].code()
    kiosk.enter(code)
    assert flow.step == Step.RESET_PASSWORD
    kiosk.enter("a brand new secret")
    kiosk.enter("a brand new secret")
    assert flow.step == Step.RESET_DONE
    assert kiosk.store.sign_in_password(OWNER, "a brand new secret").email == OWNER
    notice = kiosk.deliver()[-1]
    assert notice.subject == "Your password was reset" and "with a code sent to this address" in notice.body
    flow.act("finish")
    flow.act("reset")  # the code was used up
    kiosk.enter(OWNER)
    flow.act("email_code")
    flow.tick()
    kiosk.enter(code)
    assert flow.step == Step.RESET_CODE and flow.session.message is not None


def test_after_too_many_wrong_codes_a_new_code_waits_its_turn(kiosk, faces_a):
    """5 wrong codes make the code useless (a new one is needed); the new code is checked
    only after a pause (60 s, doubling with each further wrong code, fleet-wide), so asking
    for code after code does not give 5 fresh guesses each time. The pause is the lock
    screen's."""
    flow = kiosk.flow
    kiosk.sign_up(OWNER, faces_a)
    [first] = kiosk.deliver()
    wrong = f"{(int(first.code()) + 1) % 10**6:06d}"
    for _ in range(5):
        kiosk.enter(wrong)
    assert flow.session.problem is not None and flow.session.problem.title.msgid == "This code no longer works"
    flow.act("start_over")
    flow.act("signin")
    kiosk.enter(OWNER)
    kiosk.enter(PASSWORD)
    assert flow.step == Step.SIGNIN_CODE
    second = kiosk.deliver()[-1].code()
    kiosk.enter(second)
    assert flow.step.name == "locked", flow.step
    assert flow.lock_text().msgid.startswith("Too many failed attempts for this email") and flow.lock_minutes_left() == 1
    user = kiosk.store.get_user(OWNER)
    assert not mail_store.is_confirmed(kiosk.store, user.id)
    kiosk.wall.advance(61)  # fleet time: the pause is over
    flow.act("start_over")
    flow.act("signin")
    kiosk.enter(OWNER)
    kiosk.enter(PASSWORD)
    third = kiosk.deliver()[-1].code()
    kiosk.enter(third)
    assert flow.step == Step.WELCOME
    assert mail_store.is_confirmed(kiosk.store, user.id)
