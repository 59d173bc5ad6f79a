"""Sign up: email, a new password twice, consent, the face pictures, the account saved."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.errors import KioskError, ValidationError
from kiosk.flows import accounts
from kiosk.flows.events import EventName
from kiosk.flows.journeys import email_code, face_capture
from kiosk.flows.journeys.passwords import confirmed, submit_new_password
from kiosk.flows.jobs import Done
from kiosk.flows.session import START_OVER, Problem
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.i18n import N_
from kiosk.store.errors import EmailTakenError

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow

RESTART = (START_OVER, Action.START_OVER)

# The consent screen's text, recorded with each account (Store.enroll, with the new account):
# change the version whenever that text changes.
CONSENT_VERSION = "2026-11-1"


def consent_version(flow: Flow) -> str:
    """The version of what the consent screen said to this person (it names the pictures
    kept when audit.store_images is on)."""
    return CONSENT_VERSION + ("+images" if flow.config.store_images else "")


def submit_email(flow: Flow) -> None:
    if flow.take_email() is not None:
        flow.go(PASSWORD)


def confirm_step() -> StepSpec:
    return CONFIRM


def submit_confirm(flow: Flow) -> None:
    if confirmed(flow):
        flow.go(CONSENT)


def save(flow: Flow) -> None:
    session = flow.session
    assert session.email is not None and session.capture is not None
    if flow.config.mail_enabled:
        job = accounts.enroll_confirming(session.email, session.fields[Field.PASSWORD], session.capture.sample_sets,
                                         flow.rules.model_id, flow.rules.find_duplicate, consent_version(flow),
                                         session.language or flow.info.language)
    else:
        job = accounts.enroll(session.email, session.fields[Field.PASSWORD], session.capture.sample_sets,
                              flow.rules.model_id, flow.rules.find_duplicate, consent_version(flow),
                              session.language or flow.info.language)
    flow.run_job(JobKind.ENROLL, job, N_("Saving your account..."), saved)
    flow.emit(EventName.ENROLL_SAVING, "saving an enrollment")


def saved(flow: Flow, done: Done) -> None:
    # A taken email is found only here, after the face capture, on purpose: asking the
    # store earlier would let anyone test addresses for free; this way each test costs
    # a face capture, and the refusal is in the audit log. A face that looks enrolled
    # already is not refused on screen (that would tell a stranger whose face is known):
    # the store holds the new account's templates for staff review and counts the attempt.
    session = flow.session
    if done.error is None:
        session.fields[Field.PASSWORD] = session.fields[Field.CONFIRM] = ""
        if session.capture:
            session.capture.wipe()
        if isinstance(done.value, accounts.CodeSent):
            # The same for a new account and for a taken address (whose owner got a
            # notice instead of a code): the screen is no oracle of who is registered.
            flow.go(CODE)
            flow.emit(EventName.EMAIL_CODE_SENT, "sign-up answered: a code was emailed")
            return
        flow.go(DONE)
        flow.emit(EventName.ENROLLED, "enrolled a new user")
        return
    storage = None
    if isinstance(done.error, EmailTakenError):
        problem = Problem(
            N_("This email is already registered"),
            N_("Sign in with it, or choose \"Forgot password\" to set a new password with your face."),
            ((N_("Sign in"), Action.SIGNIN), (N_("Forgot password"), Action.RESET), RESTART),
        )
    elif isinstance(done.error, ValidationError):
        problem = Problem(
            N_("Your details were not accepted"),
            N_("Please start again and check your email address and password."),
            (RESTART,),
        )
    else:
        storage = flow.storage_failed(done.error)
        problem = storage or Problem(
            N_("Your account was not saved"),
            N_("Something went wrong on this kiosk. Please try again, or ask staff for help."),
            ((N_("Try again"), Action.RETRY_SAVE), RESTART),
            {Action.RETRY_SAVE: save},
        )
    if not isinstance(done.error, KioskError) and storage is None:
        flow.log_unexpected(done.error)
    flow.show_problem(problem)
    flow.emit(EventName.ENROLL_REFUSED, "enrollment refused", reason=problem.title.msgid)


def face_step() -> StepSpec:
    return FACE


CAPTURE = face_capture.CaptureStep(face_step, save)
start_capture = CAPTURE.start

EMAIL = StepSpec(
    "signup_email", screen="email", title=N_("Sign up: your email address"), back=Back.START, field=Field.EMAIL,
    submit_label=N_("Next"), on_submit=submit_email,
)
PASSWORD = StepSpec(
    "signup_password", screen="new_password", title=N_("Sign up: choose a password"), back=EMAIL, field=Field.PASSWORD,
    submit_label=N_("Next"), on_submit=lambda flow: submit_new_password(flow, confirm_step()),
)
CONFIRM = StepSpec(
    "signup_confirm", screen="confirm", title=N_("Type the password again"), back=PASSWORD, field=Field.CONFIRM,
    submit_label=N_("Next"), on_submit=submit_confirm,
)
CONSENT = StepSpec(
    "signup_consent", screen="consent", title=N_("Sign up: before we take your picture"), back=CONFIRM,
    actions={Action.AGREE: start_capture, Action.DECLINE: lambda flow: flow.wipe()},
)
FACE = StepSpec(
    "signup_face", screen="enroll_face", title=N_("Sign up: your face"), back=CONSENT, camera=True,
    on_observe=CAPTURE.observe, on_tick=CAPTURE.tick, on_abandon=face_capture.leave,
)
def done_step() -> StepSpec:
    return DONE


CODE = StepSpec(
    "signup_code", screen="email_code", title=N_("Sign up: the code we emailed you"), back=Back.NONE, field=Field.CODE,
    submit_label=N_("Confirm"), on_submit=email_code.submitter(done_step),
)
DONE = StepSpec(
    "signup_done", screen="result", title=N_("Sign up: done"), back=Back.NONE, result=True, submit_label=N_("Done"),
    message=lambda flow: (
        N_("Your account {email} is ready.", email=flow.session.email.address if flow.session.email else ""),
        N_("If you ever forget your password, you can set a new one here with your face."),
    ),
)

JOURNEY = Journey("sign up", (EMAIL, PASSWORD, CONFIRM, CONSENT, FACE, CODE, DONE), start=Action.SIGNUP, entry=EMAIL)
