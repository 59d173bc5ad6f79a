"""Forgot password: email, the face check (with the liveness challenge when configured),
a new password twice.

A reset never tells whether the email exists: an unknown email gets the same screens, the
same number of pictures and the same "could not verify" as a wrong face. Face comparisons
count against the lockout even when the person leaves before the verdict, so backing out
cannot be used to try many faces for free.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from kiosk.flows import accounts
from kiosk.flows.accounts import CodeSent, FaceRecorded, Locked, ResetCode, ResetSubject
from kiosk.flows.events import EventName
from kiosk.flows.jobs import Done
from kiosk.flows.journeys.email_code import CODE_DIGITS, EXPIRED
from kiosk.flows.journeys.passwords import confirmed, submit_new_password
from kiosk.flows.liveness import LivenessVerifier
from kiosk.flows.machine import face_score
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.flows.faces import FaceObservation
from kiosk.flows.verify import NO_FACE, FaceVerifier, Outcome
from kiosk.i18n import N_, NP_
from kiosk.store import mail as mail_store

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow


BY_CODE = "emailed code"  # session.subject_reason of a reset by emailed code


def submit_email(flow: Flow) -> None:
    email = flow.take_email()
    if email is None:
        return
    if flow.config.mail_enabled:
        flow.go(CHOICE)  # the face, or a code by email (an alternative to the biometric)
    else:
        look_up(flow)


def look_up(flow: Flow) -> None:
    email = flow.session.email
    assert email is not None
    flow.run_job(JobKind.RESET_LOOKUP, accounts.find_reset_subject(email, flow.rules.model_ids), N_("One moment..."), looked_up)


def send_code(flow: Flow) -> None:
    email = flow.session.email
    assert email is not None
    flow.run_job(JobKind.SEND_RESET_CODE, accounts.send_reset_code(email), N_("One moment..."), code_sent)


def code_sent(flow: Flow, done: Done) -> None:
    # The same for an address with an account and one without: the screen is no oracle.
    if isinstance(done.value, Locked):
        flow.locked(done.value)
    elif isinstance(done.value, CodeSent):
        flow.go(CODE)
        flow.emit(EventName.EMAIL_CODE_SENT, "forgot password: a code was emailed (if the address has an account)")
    else:
        flow.store_failed(done.error)


def submit_code(flow: Flow) -> None:
    session = flow.session
    typed = session.fields[Field.CODE]
    if len(typed) != CODE_DIGITS or not typed.isdigit():
        flow.say(N_("The code has 6 digits"))
        return
    session.fields[Field.CODE] = ""
    assert session.email is not None
    flow.run_job(JobKind.CHECK_RESET_CODE, accounts.check_reset_code(session.email, typed), N_("Checking..."), code_checked)


def code_checked(flow: Flow, done: Done) -> None:
    result = done.value
    session = flow.session
    if isinstance(result, Locked):
        flow.locked(result)
    elif not isinstance(result, ResetCode):
        flow.store_failed(done.error)
    elif result.user_id is not None:
        session.user_id = result.user_id
        session.subject_reason = BY_CODE
        flow.go(PASSWORD)
        flow.emit(EventName.EMAIL_CONFIRMED, "emailed reset code accepted")
    elif result.locked is not None:
        flow.locked(result.locked)
    else:
        flow.emit(EventName.EMAIL_CONFIRM_REFUSED, "emailed reset code refused", reason=result.outcome)
        if result.outcome == mail_store.WRONG:
            session.attempts_left = result.attempts_left
            flow.say(NP_("That code is not right. {n} try left before a pause.",
                         "That code is not right. {n} tries left before a pause.", result.attempts_left))
        else:
            flow.show_problem(EXPIRED)


def looked_up(flow: Flow, done: Done) -> None:
    result = done.value
    if isinstance(result, Locked):
        flow.locked(result)
    elif isinstance(result, ResetSubject):
        flow.session.user_id = result.user_id
        flow.session.templates = result.templates
        flow.session.subject_reason = result.reason
        start_verification(flow)
    else:
        flow.store_failed(done.error)


def start_verification(flow: Flow) -> None:
    session, config = flow.session, flow.config
    now = flow.clock()
    if config.liveness_for_reset:
        assert flow.liveness is not None
        session.verifier = LivenessVerifier(flow.liveness(), session.templates, flow.rules, now, config.verify_timeout_s,
                                            restart=flow.liveness if config.liveness_retry else None)
    else:
        session.verifier = FaceVerifier(session.templates, flow.rules, config.verify_good_frames, now, config.verify_timeout_s)
    session.outcome = None
    session.refusal = None
    flow.go(FACE)


def observe_face(flow: Flow, observation: FaceObservation, now: float) -> None:
    verifier = flow.session.verifier
    if verifier is not None:
        outcome = verifier.feed(observation, now)
        if outcome is not None:
            decide(flow, outcome)


def face_tick(flow: Flow, now: float) -> None:
    verifier = flow.session.verifier
    if verifier is not None:
        outcome = verifier.expire(now)
        if outcome is not None:
            decide(flow, outcome)


def liveness_word(outcome: Outcome | None) -> str | None:
    """The journal's short word on the challenge: "passed", its failure code, or None
    when no challenge ran (the full evidence is in the audit log)."""
    if outcome is None or outcome.liveness is None:
        return None
    return "passed" if outcome.liveness.get("passed") else str(outcome.liveness.get("reason") or "failed")


def decide(flow: Flow, outcome: Outcome) -> None:
    session = flow.session
    session.outcome = outcome
    verifier = session.verifier
    assert verifier is not None
    session.refusal = verifier.failure_text() if verifier.failure else None
    verifier.wipe()
    session.verifier = None
    assert session.email is not None
    if outcome.accepted and session.user_id is not None:
        nearest = None
        if flow.rules.nearest_only and outcome.probes:
            nearest = accounts.Nearest(flow.rules, session.user_id, outcome.probes)
        session.outcome = replace(outcome, probes=None)
        job = accounts.record_face(session.email, True, outcome.score, outcome.audit_reason(), nearest)
        flow.run_job(JobKind.RECORD_ACCEPT, job, N_("Checking..."), recorded)
    elif outcome.counts:
        reason = f"{outcome.reason}; {session.subject_reason}" if session.subject_reason else outcome.reason
        job = accounts.record_face(session.email, False, outcome.score, replace(outcome, reason=reason).audit_reason())
        flow.run_job(JobKind.RECORD_REFUSE, job, N_("Checking..."), recorded)
    else:
        session.attempts_left = None
        flow.say(N_("We did not see a face.") if outcome.reason == NO_FACE else N_("We could not get a clear picture of your face."))
        show_refusal(flow)


def recorded(flow: Flow, done: Done) -> None:
    """The face decision is in the store (lockout, audit): on to the new password, or the
    refusal, or the lock the refusal caused."""
    result = done.value
    outcome = flow.session.outcome
    if isinstance(result, FaceRecorded) and result.overruled is not None and outcome is not None:
        # Accepted on its score, refused by the store's check: a refusal like any other.
        outcome = flow.session.outcome = replace(outcome, accepted=False, reason=result.overruled, counts=True)
        flow.session.refusal = None
    if not isinstance(result, FaceRecorded):
        flow.store_failed(done.error)
    elif result.locked is not None:
        flow.locked(result.locked)
    elif outcome is not None and outcome.accepted:
        flow.session.templates = None
        flow.go(PASSWORD)
        flow.emit(EventName.RESET_ACCEPTED, "face accepted for a password reset", score=face_score(outcome.score),
                  reason=outcome.reason, liveness=liveness_word(outcome))
    else:
        flow.session.attempts_left = result.attempts_left
        flow.say(flow.session.refusal or N_("We could not verify you."))
        show_refusal(flow)


def show_refusal(flow: Flow) -> None:
    flow.go_keep_message(REFUSED)
    outcome = flow.session.outcome
    flow.emit(EventName.RESET_REFUSED, "face refused for a password reset", score=face_score(outcome.score if outcome else None),
              reason=outcome.reason if outcome else None, liveness=liveness_word(outcome))


def abandon_verification(flow: Flow) -> None:
    """Count comparisons already made when a person leaves before the verdict."""
    session = flow.session
    verifier = session.verifier
    if verifier is None:
        return
    if verifier.compared > 0 and session.email is not None:
        best = verifier.best
        score = best if best is not None and np.isfinite(best) else None
        flow.run_job_unawaited(JobKind.RECORD_ABANDONED, accounts.record_face(session.email, False, score, "left before the decision"))
    verifier.wipe()
    session.verifier = None


def confirm_step() -> StepSpec:
    return CONFIRM


def submit_confirm(flow: Flow) -> None:
    session = flow.session
    if not confirmed(flow):
        return
    assert session.user_id is not None
    job = accounts.change_password(session.user_id, session.fields[Field.PASSWORD], by_code=session.subject_reason == BY_CODE)
    flow.run_job(JobKind.CHANGE_PASSWORD, job, N_("Saving your new password..."), password_changed)


def password_changed(flow: Flow, done: Done) -> None:
    if done.error is not None:
        flow.store_failed(done.error)
        return
    session = flow.session
    session.fields[Field.PASSWORD] = session.fields[Field.CONFIRM] = ""
    session.user_id = None
    flow.go(DONE)
    flow.emit(EventName.PASSWORD_RESET, "password set after a face check")


EMAIL = StepSpec(
    "reset_email", screen="email", title=N_("Forgot password: your email address"), back=Back.START, field=Field.EMAIL,
    submit_label=N_("Next"), on_submit=submit_email,
)
CHOICE = StepSpec(
    "reset_choice", screen="reset_choice", title=N_("Forgot password: how to check it is you"), back=EMAIL,
    message=lambda flow: (
        N_("How do you want to show that it is you?"),
        N_("We can check your face here, or email a code to {email}.", email=flow.session.email.address if flow.session.email else ""),
    ),
    actions={Action.AGREE: look_up, Action.EMAIL_CODE: send_code},
)
CODE = StepSpec(
    "reset_code", screen="email_code", title=N_("Forgot password: the code we emailed you"), back=Back.START, field=Field.CODE,
    submit_label=N_("Next"), on_submit=submit_code,
)
FACE = StepSpec(
    "reset_face", screen="verify_face", title=N_("Forgot password: show your face"), back=EMAIL, camera=True,
    on_observe=observe_face, on_tick=face_tick, on_abandon=abandon_verification,
)
REFUSED = StepSpec(
    "reset_refused", screen="refused", title=N_("Forgot password: not verified"), back=Back.NONE,
    actions={Action.RETRY: start_verification},
)
PASSWORD = StepSpec(
    "reset_password", screen="new_password", title=N_("Choose a new password"), back=Back.NONE, field=Field.PASSWORD,
    submit_label=N_("Next"), on_submit=lambda flow: submit_new_password(flow, confirm_step()),
)
CONFIRM = StepSpec(
    "reset_confirm", screen="confirm", title=N_("Type the password again"), back=PASSWORD, field=Field.CONFIRM,
    submit_label=N_("Save"), on_submit=submit_confirm,
)
DONE = StepSpec(
    "reset_done", screen="result", title=N_("Forgot password: done"), back=Back.NONE, result=True, submit_label=N_("Done"),
    message=lambda flow: (N_("Your password has been changed."), N_("Use the new password from now on.")),
)

JOURNEY = Journey("forgot password", (EMAIL, CHOICE, CODE, FACE, REFUSED, PASSWORD, CONFIRM, DONE), start=Action.RESET, entry=EMAIL)
