"""Sign up: email, a new password twice, consent, the face pictures, the account saved."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiosk.errors import KioskError, ValidationError
from kiosk.flows import accounts
from kiosk.flows.capture import EnrollmentCapture
from kiosk.flows.events import EventName
from kiosk.flows.faces import FaceObservation
from kiosk.flows.journeys.passwords import confirmed, submit_new_password
from kiosk.flows.jobs import Done
from kiosk.flows.liveness import LivenessVerifier
from kiosk.flows.session import START_OVER, Problem
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.flows.verify import NO_FACE, Outcome
from kiosk.i18n import N_
from kiosk.store.errors import DuplicateFaceError, EmailTakenError

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow

RESTART = (START_OVER, Action.START_OVER)


def submit_email(flow: Flow) -> None:
    if flow.take_email() is not None:
        flow.go(PASSWORD)


def confirm_step() -> StepSpec:
    return CONFIRM


def submit_confirm(flow: Flow) -> None:
    if confirmed(flow):
        flow.go(CONSENT)


def start_capture(flow: Flow) -> None:
    """The face step: the liveness challenge first when the config asks for it, then the
    capture, which then only takes the face the challenge saw."""
    session = flow.session
    session.capture = None
    session.verifier = None
    if flow.config.liveness_for_enrollment:
        assert flow.liveness is not None
        session.verifier = LivenessVerifier(
            flow.liveness(), None, flow.rules, flow.clock(), flow.config.verify_timeout_s, compare=False
        )
    else:
        begin_capture(flow, None)
    flow.go(FACE)


def begin_capture(flow: Flow, anchor: np.ndarray | None) -> None:
    config = flow.config
    flow.session.capture = EnrollmentCapture(
        config.enroll_samples, config.enroll_sample_interval_s, flow.rules, flow.clock(), config.capture_timeout_s, anchor=anchor
    )


def liveness_done(flow: Flow, outcome: Outcome) -> None:
    session = flow.session
    verifier = session.verifier
    assert verifier is not None
    session.verifier = None
    if outcome.accepted and verifier.embedding is not None:
        begin_capture(flow, verifier.embedding)
        verifier.wipe()
        return
    verifier.wipe()
    flow.show_problem(
        Problem(
            N_("We could not check that you are present"),
            verifier.failure_text() if outcome.reason != NO_FACE else N_("We did not see a face."),
            ((N_("Try again"), Action.RETRY_CAPTURE), RESTART),
            {Action.RETRY_CAPTURE: start_capture},
        )
    )


def observe_face(flow: Flow, observation: FaceObservation, now: float) -> None:
    session = flow.session
    if session.verifier is not None:
        outcome = session.verifier.feed(observation, now)
        if outcome is not None:
            liveness_done(flow, outcome)
    elif session.capture is not None:
        if observation.liveness is not None:
            return  # a frame of the challenge, analysed before the capture began
        session.capture.feed(observation, now)
        if session.capture.done:
            save(flow)


def face_tick(flow: Flow, now: float) -> None:
    session = flow.session
    if session.verifier is not None:
        outcome = session.verifier.expire(now)
        if outcome is not None:
            liveness_done(flow, outcome)
    elif session.capture is not None and session.capture.expired(now):
        session.capture.wipe()
        flow.show_problem(
            Problem(
                N_("We could not take enough clear pictures"),
                N_("Stand about an arm's length from the screen, look at the camera, and make sure your face is well lit."),
                ((N_("Try again"), Action.RETRY_CAPTURE), RESTART),
                {Action.RETRY_CAPTURE: start_capture},
            )
        )


def leave_face(flow: Flow) -> None:
    session = flow.session
    if session.capture is not None:
        session.capture.wipe()
        session.capture = None
    if session.verifier is not None:
        session.verifier.wipe()
        session.verifier = None


def save(flow: Flow) -> None:
    session = flow.session
    assert session.email is not None and session.capture is not None
    job = accounts.enroll(
        session.email, session.fields[Field.PASSWORD], session.capture.samples, flow.rules.model_id, flow.rules.duplicate_threshold
    )
    flow.run_job(JobKind.ENROLL, job, N_("Saving your account..."), saved)
    flow.emit(EventName.ENROLL_SAVING, "saving an enrollment")


def saved(flow: Flow, done: Done) -> None:
    # A taken email is found only here, after the face capture, on purpose: asking the
    # store earlier would let anyone test addresses for free; this way each test costs
    # a face capture, and the refusal is in the audit log.
    session = flow.session
    if done.error is None:
        session.fields[Field.PASSWORD] = session.fields[Field.CONFIRM] = ""
        if session.capture:
            session.capture.wipe()
        flow.go(DONE)
        flow.emit(EventName.ENROLLED, "enrolled a new user")
        return
    if isinstance(done.error, EmailTakenError):
        problem = Problem(
            N_("This email is already registered"),
            N_("Sign in with it, or choose \"Forgot password\" to set a new password with your face."),
            ((N_("Sign in"), Action.SIGNIN), (N_("Forgot password"), Action.RESET), RESTART),
        )
    elif isinstance(done.error, DuplicateFaceError):
        problem = Problem(
            N_("This face is already registered"),
            N_("You already have an account. Sign in, or choose \"Forgot password\" to set a new password with your face."),
            ((N_("Sign in"), Action.SIGNIN), (N_("Forgot password"), Action.RESET), RESTART),
        )
    elif isinstance(done.error, ValidationError):
        problem = Problem(
            N_("Your details were not accepted"),
            N_("Please start again and check your email address and password."),
            (RESTART,),
        )
    else:
        problem = Problem(
            N_("Your account was not saved"),
            N_("Something went wrong on this kiosk. Please try again, or ask staff for help."),
            ((N_("Try again"), Action.RETRY_SAVE), RESTART),
            {Action.RETRY_SAVE: save},
        )
    if not isinstance(done.error, KioskError):
        flow.log_unexpected(done.error)
    flow.show_problem(problem)
    flow.emit(EventName.ENROLL_REFUSED, "enrollment refused", reason=problem.title.msgid)


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
    on_observe=observe_face, on_tick=face_tick, on_abandon=leave_face,
)
DONE = StepSpec(
    "signup_done", screen="result", title=N_("Sign up: done"), back=Back.NONE, result=True, submit_label=N_("Done"),
    message=lambda flow: (
        N_("Your account {email} is ready.", email=flow.session.email.address if flow.session.email else ""),
        N_("If you ever forget your password, you can set a new one here with your face."),
    ),
)

JOURNEY = Journey("sign up", (EMAIL, PASSWORD, CONFIRM, CONSENT, FACE, DONE), start=Action.SIGNUP, entry=EMAIL)
