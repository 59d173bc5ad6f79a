"""Sign in: email, password, welcome; on the way, a person whose templates lack one of
the kiosk's models is offered the template upgrade (a few face pictures, may be skipped),
so nobody has to enroll again when the kiosk's models change."""

from __future__ import annotations

from typing import TYPE_CHECKING

import logging

from kiosk.flows import accounts
from kiosk.flows.journeys import email_code, face_capture
from kiosk.flows.machine import face_score
from kiosk.flows.accounts import Locked, RegisteredElsewhere, SignedIn, WrongPassword
from kiosk.flows.events import EventName
from kiosk.flows.jobs import Done
from kiosk.flows.session import START_OVER, Problem
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.i18n import N_, NP_

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow

# Shown once to the person whose sign-up here lost to the same email's sign-up at another
# kiosk while both were offline (kiosk.sync resolves it; the store keeps the notice).
REGISTERED_ELSEWHERE = Problem(
    N_("This email was registered at another kiosk"),
    N_("Someone signed up with this email at another kiosk first, so your sign-up here was not kept. "
       "Sign in with the password chosen there, choose \"Forgot password\", or sign up with another email."),
    ((N_("Forgot password"), Action.RESET), (START_OVER, Action.START_OVER)),
)


def submit_email(flow: Flow) -> None:
    if flow.take_email() is not None:
        flow.go(PASSWORD)


def submit_password(flow: Flow) -> None:
    session = flow.session
    if not session.fields[Field.PASSWORD]:
        flow.say(N_("Type your password"))
        return
    assert session.email is not None
    job = accounts.sign_in(session.email, session.fields[Field.PASSWORD], flow.rules.model_ids)
    flow.run_job(JobKind.SIGN_IN, job, N_("Checking..."), checked)


def checked(flow: Flow, done: Done) -> None:
    session = flow.session
    session.fields[Field.PASSWORD] = ""
    result = done.value
    if isinstance(result, SignedIn):
        session.user_id = result.user_id
        session.signed_in_email = result.email
        session.missing_models = result.missing_models
        flow.emit(EventName.SIGNED_IN, "signed in with a password")
        if result.unconfirmed:
            # Finishing a sign-up's email confirmation later, at any kiosk: a new code.
            flow.go(CODE)
            flow.emit(EventName.EMAIL_CODE_SENT, "email not confirmed yet: a new code was emailed")
            return
        flow.go(UPGRADE_OFFER if result.missing_models else WELCOME)
    elif isinstance(result, WrongPassword):
        session.attempts_left = result.attempts_left
        if result.attempts_left <= 3:
            flow.say(
                NP_(
                    "Wrong email or password. {n} try left before a pause.",
                    "Wrong email or password. {n} tries left before a pause.",
                    result.attempts_left,
                )
            )
        else:
            flow.say(N_("Wrong email or password."))
        flow.emit(EventName.SIGN_IN_REFUSED, "wrong password")
    elif isinstance(result, Locked):
        flow.locked(result)
    elif isinstance(result, RegisteredElsewhere):
        flow.show_problem(REGISTERED_ELSEWHERE)
    else:
        flow.store_failed(done.error)


def save_upgrade(flow: Flow) -> None:
    session = flow.session
    assert session.user_id is not None and session.capture is not None
    job = accounts.upgrade_templates(session.user_id, session.capture.sample_sets, session.missing_models, flow.rules)
    flow.run_job(JobKind.ADD_TEMPLATES, job, N_("Saving..."), upgraded)


def upgraded(flow: Flow, done: Done) -> None:
    session = flow.session
    if session.capture is not None:
        session.capture.wipe()
    result = done.value
    if isinstance(result, accounts.Upgraded) and result.added:
        session.missing_models = ()
        flow.go(WELCOME)
        flow.say(N_("Thank you: your face pictures are up to date."), error=False)
        flow.emit(EventName.TEMPLATES_ADDED, "face templates added for the kiosk's models")
    elif isinstance(result, accounts.Upgraded):
        flow.show_problem(Problem(
            N_("We could not add the pictures"),
            N_("They do not look like the face this account was made with. Your account works as before."),
            ((N_("Sign out"), Action.FINISH),),
        ))
        flow.emit(EventName.TEMPLATES_REFUSED, "face templates refused: not the account's face", logging.WARNING,
                  score=face_score(result.score))
    else:
        flow.store_failed(done.error)


def after_code(flow: Flow) -> StepSpec:
    """Where a signed-in person goes once their email is confirmed."""
    return UPGRADE_OFFER if flow.session.missing_models else WELCOME


def upgrade_face_step() -> StepSpec:
    return UPGRADE_FACE


UPGRADE = face_capture.CaptureStep(upgrade_face_step, save_upgrade)

EMAIL = StepSpec(
    "signin_email", screen="email", title=N_("Sign in: your email address"), back=Back.START, field=Field.EMAIL,
    submit_label=N_("Next"), on_submit=submit_email,
)
PASSWORD = StepSpec(
    "signin_password", screen="password", title=N_("Sign in: your password"), back=EMAIL, field=Field.PASSWORD,
    submit_label=N_("Sign in"), on_submit=submit_password,
)
WELCOME = StepSpec(
    "welcome", screen="result", title=N_("Welcome"), back=Back.NONE, submit_label=N_("Sign out"),
    message=lambda flow: (
        N_("You are signed in as {email}.", email=flow.session.signed_in_email or ""),
        N_("Sign out when you are done."),
    ),
)

CODE = StepSpec(
    "signin_code", screen="email_code", title=N_("Sign in: the code we emailed you"), back=Back.NONE, field=Field.CODE,
    submit_label=N_("Confirm"), on_submit=lambda flow: email_code.submitter(lambda: after_code(flow))(flow),
)
UPGRADE_OFFER = StepSpec(
    "signin_upgrade_offer", screen="offer", title=N_("Sign in: your face pictures"), back=Back.NONE,
    submit_label=N_("Take the pictures"),
    message=lambda flow: (
        N_("This kiosk now recognises faces better. Please look at the camera for a few seconds to update your face pictures."),
        N_("You can skip this: your account keeps working, and you will be asked again next time."),
    ),
    actions={Action.AGREE: UPGRADE.start, Action.DECLINE: lambda flow: flow.go(WELCOME)},
)
UPGRADE_FACE = StepSpec(
    "signin_upgrade_face", screen="enroll_face", title=N_("Sign in: your face pictures"), back=UPGRADE_OFFER, camera=True,
    on_observe=UPGRADE.observe, on_tick=UPGRADE.tick, on_abandon=face_capture.leave,
)

JOURNEY = Journey("sign in", (EMAIL, PASSWORD, CODE, UPGRADE_OFFER, UPGRADE_FACE, WELCOME), start=Action.SIGNIN, entry=EMAIL)
