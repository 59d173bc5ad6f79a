"""The journeys as one state machine: sign up, sign in, forgot password, admin.

No drawing here. Screens read the flow's state and call its methods (``act``, ``insert``,
``backspace``, ``submit``); the face worker's results come in through ``observe``; the
UI loop calls ``tick`` every frame to collect finished store jobs and apply timeouts.

Privacy rules kept here, in one place:

* Everything a person entered or showed lives in one :class:`Session`. Start over, idle
  timeout, finishing a journey and leaving the admin screen all replace it with a new,
  empty one (``wipe``); jobs and face results of an old session are dropped on arrival.
* A password reset never tells whether the email exists: an unknown email gets the same
  screens, the same number of pictures and the same "could not verify" as a wrong face.
* Face comparisons made during a reset count against the lockout even when the person
  backs out or starts over before the verdict, so backing out cannot be used to try many
  faces for free.
"""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Callable

import numpy as np

from kiosk.config.store import PasswordSettings
from kiosk.errors import KioskError, ValidationError
from kiosk.flows import accounts
from kiosk.flows.accounts import FaceRecorded, Locked, RegisteredElsewhere, ResetSubject, SignedIn, WrongPassword
from kiosk.flows.capture import EnrollmentCapture
from kiosk.flows.faces import FaceObservation, FaceRules
from kiosk.flows.jobs import Done, Jobs
from kiosk.flows.liveness import LiveCheck, LivenessVerifier
from kiosk.flows.status import KioskInfo, SyncStatus, SyncStatusProvider, sync_not_configured
from kiosk.flows.validation import Check, email_check, parse_email, password_checks, password_ok
from kiosk.flows.verify import NO_FACE, Outcome, FaceVerifier, Verifier
from kiosk.i18n import N_, NP_, Text
from kiosk.store.emails import Email
from kiosk.store.errors import DuplicateFaceError, EmailTakenError


class Step(str, Enum):
    ATTRACT = "attract"
    SIGNUP_EMAIL = "signup_email"
    SIGNUP_PASSWORD = "signup_password"
    SIGNUP_CONFIRM = "signup_confirm"
    SIGNUP_CONSENT = "signup_consent"
    SIGNUP_FACE = "signup_face"
    SIGNUP_DONE = "signup_done"
    SIGNIN_EMAIL = "signin_email"
    SIGNIN_PASSWORD = "signin_password"
    WELCOME = "welcome"
    RESET_EMAIL = "reset_email"
    RESET_FACE = "reset_face"
    RESET_REFUSED = "reset_refused"
    RESET_PASSWORD = "reset_password"
    RESET_CONFIRM = "reset_confirm"
    RESET_DONE = "reset_done"
    LOCKED = "locked"
    PROBLEM = "problem"
    ADMIN_PIN = "admin_pin"
    ADMIN = "admin"


FIELD_OF = {
    Step.SIGNUP_EMAIL: "email",
    Step.SIGNIN_EMAIL: "email",
    Step.RESET_EMAIL: "email",
    Step.SIGNUP_PASSWORD: "password",
    Step.SIGNIN_PASSWORD: "password",
    Step.RESET_PASSWORD: "password",
    Step.SIGNUP_CONFIRM: "confirm",
    Step.RESET_CONFIRM: "confirm",
    Step.ADMIN_PIN: "pin",
}
SECRET_FIELDS = ("password", "confirm", "pin")
PREVIOUS = {
    Step.SIGNUP_EMAIL: Step.ATTRACT,
    Step.SIGNUP_PASSWORD: Step.SIGNUP_EMAIL,
    Step.SIGNUP_CONFIRM: Step.SIGNUP_PASSWORD,
    Step.SIGNUP_CONSENT: Step.SIGNUP_CONFIRM,
    Step.SIGNUP_FACE: Step.SIGNUP_CONSENT,
    Step.SIGNIN_EMAIL: Step.ATTRACT,
    Step.SIGNIN_PASSWORD: Step.SIGNIN_EMAIL,
    Step.RESET_EMAIL: Step.ATTRACT,
    Step.RESET_FACE: Step.RESET_EMAIL,
    Step.RESET_CONFIRM: Step.RESET_PASSWORD,
    Step.ADMIN_PIN: Step.ATTRACT,
}
# Screens that only show a result go back to the start sooner.
RESULT_STEPS = (Step.SIGNUP_DONE, Step.RESET_DONE, Step.LOCKED)
CAMERA_STEPS = (Step.SIGNUP_FACE, Step.RESET_FACE)
PIN_MAX_DIGITS = 12

START_OVER = N_("Start over")


@dataclass(frozen=True)
class FlowConfig:
    idle_timeout_s: float = 60.0
    result_timeout_s: float = 10.0
    enroll_samples: int = 5
    enroll_sample_interval_s: float = 0.4
    capture_timeout_s: float = 30.0
    verify_timeout_s: float = 15.0
    verify_good_frames: int = 3
    admin_pin: str = ""
    admin_max_tries: int = 3
    admin_cooldown_s: float = 300.0
    passwords: PasswordSettings = PasswordSettings()
    store_images: bool = False  # said on the consent screen
    image_retention_days: int = 7
    liveness_for_reset: bool = False  # the liveness challenge before a reset's decision
    liveness_for_enrollment: bool = False  # ... and before an enrollment's capture

    @classmethod
    def from_settings(cls, ui, settings) -> "FlowConfig":
        """``ui``: the UiSettings section; ``settings``: the whole Settings."""
        return cls(
            idle_timeout_s=ui.idle_timeout_s,
            result_timeout_s=ui.result_timeout_s,
            enroll_samples=ui.enroll_samples,
            enroll_sample_interval_s=ui.enroll_sample_interval_s,
            capture_timeout_s=ui.capture_timeout_s,
            verify_timeout_s=ui.verify_timeout_s,
            verify_good_frames=ui.verify_good_frames,
            admin_pin=ui.admin_pin,
            passwords=settings.passwords,
            store_images=settings.audit.store_images,
            image_retention_days=settings.audit.image_retention_days,
            liveness_for_reset=settings.liveness.required_for_reset,
            liveness_for_enrollment=settings.liveness.required_for_enrollment,
        )


@dataclass(frozen=True)
class Problem:
    """A failure screen: what happened, what to do, and buttons (label, action)."""

    title: Text
    body: Text
    actions: tuple[tuple[Text, str], ...]


# Shown once to the person whose sign-up here lost to the same email's sign-up at another
# kiosk while both were offline (kiosk.sync resolves it; the store keeps the notice).
REGISTERED_ELSEWHERE = Problem(
    N_("This email was registered at another kiosk"),
    N_("Someone signed up with this email at another kiosk first, so your sign-up here was not kept. "
       "Sign in with the password chosen there, choose \"Forgot password\", or sign up with another email."),
    ((N_("Forgot password"), "reset"), (START_OVER, "start_over")),
)


@dataclass
class Session:
    id: int
    fields: dict[str, str] = field(default_factory=lambda: {"email": "", "password": "", "confirm": "", "pin": ""})
    message: Text | None = None  # feedback under the field, or on a result screen
    message_is_error: bool = False
    email: Email | None = None
    user_id: str | None = None
    signed_in_email: str | None = None
    templates: np.ndarray | None = None
    subject_reason: str = ""
    capture: EnrollmentCapture | None = None
    verifier: Verifier | None = None  # the reset's face check, or enrollment's liveness check
    outcome: Outcome | None = None
    refusal: Text | None = None  # why the last face check failed, when it was not the face
    attempts_left: int | None = None
    lock_until: float | None = None
    lock_scope: str | None = None
    problem: Problem | None = None
    user_count: int | None = None
    pending: str | None = None  # the kind of store job awaited
    busy: Text | None = None  # shown while ``pending``


class Flow:
    def __init__(
        self,
        config: FlowConfig,
        rules: FaceRules,
        jobs: Jobs,
        clock: Callable[[], float] = time.monotonic,
        sync_status: SyncStatusProvider = sync_not_configured,
        info: KioskInfo | None = None,
        camera_fps: Callable[[], float] = lambda: 0.0,
        liveness: Callable[[], LiveCheck] | None = None,
    ) -> None:
        """``liveness``: starts a new liveness check (one per challenge); required when the
        config asks for liveness, so that a kiosk never skips it silently."""
        if (config.liveness_for_reset or config.liveness_for_enrollment) and liveness is None:
            raise ValueError("the config requires a liveness check, but none was given")
        self.liveness = liveness
        self.config = config
        self.rules = rules
        self.jobs = jobs
        self.clock = clock
        self.sync_status_provider = sync_status
        self.info = info or KioskInfo(version="", model_id=rules.model_id, language="")
        self.camera_fps = camera_fps
        self._sessions = 0
        self.session = self._new_session()
        self.step = Step.ATTRACT
        now = clock()
        self.step_entered_at = now
        self.last_activity = now
        self.wipes = 0  # how many sessions were wiped (for the idle and privacy tests)
        self.admin_failures = 0
        self.admin_blocked_until = 0.0

    # -- sessions and steps ---------------------------------------------------------------

    def _new_session(self) -> Session:
        self._sessions += 1
        return Session(self._sessions)

    def wipe(self) -> None:
        """Forget everything of the current person and show the start screen."""
        self._abandon_verification()
        old = self.session
        for name in old.fields:
            old.fields[name] = ""
        if old.capture is not None:
            old.capture.wipe()
        old.templates = None
        old.verifier = None
        self.session = self._new_session()
        self.wipes += 1
        self._go(Step.ATTRACT)

    def _go(self, step: Step) -> None:
        now = self.clock()
        self.step = step
        self.step_entered_at = now
        self.last_activity = now
        self.session.message = None
        self.session.message_is_error = False

    def activity(self) -> None:
        self.last_activity = self.clock()

    def _say(self, text: Text | None, error: bool = True) -> None:
        self.session.message = text
        self.session.message_is_error = error

    def _submit(self, kind: str, job, busy: Text) -> None:
        self.session.pending = kind
        self.session.busy = busy
        self.jobs.submit((self.session.id, kind), job)

    # -- what the screens read -------------------------------------------------------------

    @property
    def field(self) -> str | None:
        return FIELD_OF.get(self.step)

    @property
    def text(self) -> str:
        name = self.field
        return self.session.fields[name] if name else ""

    @property
    def busy(self) -> Text | None:
        return self.session.busy if self.session.pending else None

    @property
    def wants_camera(self) -> bool:
        return self.step in CAMERA_STEPS and not self.session.pending

    @property
    def can_go_back(self) -> bool:
        return self.step in PREVIOUS

    @property
    def admin_available(self) -> bool:
        return bool(self.config.admin_pin) and self.clock() >= self.admin_blocked_until

    def email_feedback(self) -> Check:
        return email_check(self.session.fields["email"])

    def password_feedback(self) -> list[Check]:
        email = self.session.email if self.step != Step.SIGNIN_PASSWORD else None
        return password_checks(self.session.fields["password"], email, self.config.passwords)

    def confirm_feedback(self) -> Check:
        confirm, password = self.session.fields["confirm"], self.session.fields["password"]
        if not confirm:
            return Check(False, N_("Type the same password again"), hint=True)
        if confirm == password:
            return Check(True, N_("The passwords match"))
        if password.startswith(confirm):
            return Check(False, N_("Keep typing..."), hint=True)
        return Check(False, N_("The passwords are not the same"))

    def capture_progress(self) -> tuple[int, int]:
        capture = self.session.capture
        return capture.progress if capture else (0, self.config.enroll_samples)

    def face_guidance(self) -> Text | None:
        verifier = self.session.verifier
        if self.step in CAMERA_STEPS and verifier is not None:
            return verifier.prompt or verifier.guidance
        if self.step == Step.SIGNUP_FACE and self.session.capture:
            return self.session.capture.guidance
        return None

    def _challenge_status(self):
        """The liveness challenge's last status while one is on screen; None otherwise."""
        verifier = self.session.verifier
        if self.step not in CAMERA_STEPS or not isinstance(verifier, LivenessVerifier):
            return None
        return verifier.status

    def liveness_prompt(self) -> str | None:
        """The challenge prompt on screen now (``turn_left``, ...), for its arrow or icon."""
        status = self._challenge_status()
        return status.prompt if status is not None and not status.done else None

    def liveness_progress(self) -> tuple[int, int] | None:
        """(prompts answered, prompts in all) during a challenge; None otherwise."""
        status = self._challenge_status()
        return None if status is None else (status.index, status.total)

    def frame_analyzer(self) -> Callable[[np.ndarray, float, int], FaceObservation] | None:
        """What the face worker should run on camera frames now; None: the face pipeline."""
        verifier = self.session.verifier
        if self.step in CAMERA_STEPS and verifier is not None and not self.session.pending:
            return verifier.analyze_frame
        return None

    def countdown_s(self) -> float | None:
        verifier = self.session.verifier
        if self.step not in CAMERA_STEPS or verifier is None:
            return None
        return max(0.0, verifier.deadline - self.clock())

    def lock_minutes_left(self) -> int:
        until = self.session.lock_until or self.clock()
        # Rounded up, less a millisecond of float noise from clock arithmetic.
        return max(1, math.ceil((until - self.clock() - 1e-3) / 60.0))

    def lock_text(self) -> Text:
        minutes = self.lock_minutes_left()
        if self.session.lock_scope == "kiosk":
            return NP_(
                "Too many failed attempts on this kiosk. Try again in {n} minute.",
                "Too many failed attempts on this kiosk. Try again in {n} minutes.",
                minutes,
            )
        return NP_(
            "Too many failed attempts for this email. Try again in {n} minute.",
            "Too many failed attempts for this email. Try again in {n} minutes.",
            minutes,
        )

    def sync_status(self) -> SyncStatus:
        try:
            return self.sync_status_provider()
        except Exception as err:  # noqa: BLE001 - the admin screen must still open
            return SyncStatus(configured=True, state="error", detail=str(err))

    def consent_text(self) -> Text:
        if self.config.store_images:
            return NP_(
                "We also keep the picture taken at each sign-in for {n} day, to investigate misuse.",
                "We also keep the picture taken at each sign-in for {n} days, to investigate misuse.",
                self.config.image_retention_days,
            )
        return N_("We do not keep any photo of you: the face numbers cannot be turned back into a picture.")

    # -- typing -----------------------------------------------------------------------------

    def _max_length(self, name: str) -> int:
        if name == "email":
            return 254
        if name == "pin":
            return PIN_MAX_DIGITS
        return self.config.passwords.max_length

    def set_text(self, value: str) -> None:
        name = self.field
        if name is None or self.session.pending:
            return
        self.activity()
        self.session.fields[name] = value[: self._max_length(name)]
        self._say(None)

    def insert(self, chars: str) -> None:
        self.set_text(self.text + chars)

    def backspace(self) -> None:
        if self.text:
            self.set_text(self.text[:-1])
        else:
            self.activity()

    def submit(self) -> None:
        """The keyboard's Next/Done key."""
        if self.session.pending:
            return
        self.activity()
        handler = {
            Step.SIGNUP_EMAIL: self._submit_email,
            Step.SIGNIN_EMAIL: self._submit_email,
            Step.RESET_EMAIL: self._submit_email,
            Step.SIGNUP_PASSWORD: self._submit_new_password,
            Step.RESET_PASSWORD: self._submit_new_password,
            Step.SIGNUP_CONFIRM: self._submit_confirm,
            Step.RESET_CONFIRM: self._submit_confirm,
            Step.SIGNIN_PASSWORD: self._submit_sign_in,
            Step.ADMIN_PIN: self._submit_pin,
        }.get(self.step)
        if handler is not None:
            handler()

    # -- buttons ----------------------------------------------------------------------------

    def act(self, action: str) -> None:
        """A button: start_over, back, signup, signin, reset, admin, agree, decline, retry,
        retry_capture, retry_save, finish."""
        self.activity()
        if action == "start_over":
            self.wipe()
            return
        if self.session.pending:
            return
        step = self.step
        if step == Step.ATTRACT and action in ("signup", "signin", "reset"):
            self._go({"signup": Step.SIGNUP_EMAIL, "signin": Step.SIGNIN_EMAIL, "reset": Step.RESET_EMAIL}[action])
        elif step == Step.ATTRACT and action == "admin" and self.admin_available:
            self._go(Step.ADMIN_PIN)
        elif action == "back" and step in PREVIOUS:
            self._back()
        elif step == Step.SIGNUP_CONSENT and action == "agree":
            self._start_capture()
        elif step == Step.SIGNUP_CONSENT and action == "decline":
            self.wipe()
        elif step == Step.RESET_REFUSED and action == "retry":
            self._start_verification()
        elif step == Step.PROBLEM and action == "retry_capture":
            self._start_capture()
        elif step == Step.PROBLEM and action == "retry_save":
            self._save_enrollment()
        elif step == Step.PROBLEM and action in ("signin", "reset", "signup"):
            self.wipe()
            self.act(action)
        elif action == "finish" and step != Step.ATTRACT:
            self.wipe()

    def _back(self) -> None:
        target = PREVIOUS[self.step]
        if target == Step.ATTRACT:
            self.wipe()
            return
        if self.step == Step.RESET_FACE:
            self._abandon_verification()
            self.session.verifier = None
        if self.step == Step.SIGNUP_FACE and self.session.capture:
            self.session.capture.wipe()
            self.session.capture = None
        if self.step == Step.SIGNUP_FACE and self.session.verifier is not None:
            self.session.verifier.wipe()
            self.session.verifier = None
        if self.field in SECRET_FIELDS:
            self.session.fields[self.field] = ""
        self._go(target)

    # -- sign up ----------------------------------------------------------------------------

    def _submit_email(self) -> None:
        check = self.email_feedback()
        email = parse_email(self.session.fields["email"]) if check.ok else None
        if email is None:
            self._say(check.text)
            return
        self.session.email = email
        if self.step == Step.SIGNUP_EMAIL:
            self._go(Step.SIGNUP_PASSWORD)
        elif self.step == Step.SIGNIN_EMAIL:
            self._go(Step.SIGNIN_PASSWORD)
        else:
            self._submit("reset_lookup", accounts.find_reset_subject(email, self.rules.model_id), N_("One moment..."))

    def _submit_new_password(self) -> None:
        password = self.session.fields["password"]
        if not password_ok(password, self.session.email, self.config.passwords):
            failing = [check for check in self.password_feedback() if not check.ok]
            self._say(failing[0].text if failing else N_("This password cannot be used"))
            return
        self._go(Step.SIGNUP_CONFIRM if self.step == Step.SIGNUP_PASSWORD else Step.RESET_CONFIRM)

    def _submit_confirm(self) -> None:
        if self.session.fields["confirm"] != self.session.fields["password"]:
            self.session.fields["confirm"] = ""
            self._say(N_("The passwords are not the same. Type it again."))
            return
        if self.step == Step.SIGNUP_CONFIRM:
            self._go(Step.SIGNUP_CONSENT)
        else:
            assert self.session.user_id is not None
            self._submit(
                "change_password",
                accounts.change_password(self.session.user_id, self.session.fields["password"]),
                N_("Saving your new password..."),
            )

    def _start_capture(self) -> None:
        """The face step of a sign-up: the liveness challenge first when the config asks
        for it, then the capture, which then only takes the face the challenge saw."""
        now = self.clock()
        self.session.capture = None
        self.session.verifier = None
        if self.config.liveness_for_enrollment:
            assert self.liveness is not None
            self.session.verifier = LivenessVerifier(
                self.liveness(), None, self.rules, now, self.config.verify_timeout_s, compare=False
            )
        else:
            self._begin_capture(None)
        self._go(Step.SIGNUP_FACE)

    def _begin_capture(self, anchor: np.ndarray | None) -> None:
        self.session.capture = EnrollmentCapture(
            self.config.enroll_samples,
            self.config.enroll_sample_interval_s,
            self.rules,
            self.clock(),
            self.config.capture_timeout_s,
            anchor=anchor,
        )

    def _enrollment_liveness(self, outcome: Outcome) -> None:
        session = self.session
        verifier = session.verifier
        assert isinstance(verifier, LivenessVerifier)
        session.verifier = None
        if outcome.accepted and verifier.embedding is not None:
            self._begin_capture(verifier.embedding)
            verifier.wipe()
            return
        verifier.wipe()
        self._show_problem(
            Problem(
                N_("We could not check that you are present"),
                verifier.failure_text() if outcome.reason != NO_FACE else N_("We did not see a face."),
                ((N_("Try again"), "retry_capture"), (START_OVER, "start_over")),
            )
        )

    def _save_enrollment(self) -> None:
        session = self.session
        assert session.email is not None and session.capture is not None
        job = accounts.enroll(
            session.email, session.fields["password"], session.capture.samples, self.rules.model_id, self.rules.duplicate_threshold
        )
        self._submit("enroll", job, N_("Saving your account..."))

    def _enrolled(self, done: Done) -> None:
        # A taken email is found only here, after the face capture, on purpose: asking the
        # store earlier would let anyone test addresses for free; this way each test costs
        # a face capture, and the refusal is in the audit log.
        session = self.session
        if done.error is None:
            session.fields["password"] = session.fields["confirm"] = ""
            if session.capture:
                session.capture.wipe()
            self._go(Step.SIGNUP_DONE)
            return
        restart = (START_OVER, "start_over")
        if isinstance(done.error, EmailTakenError):
            problem = Problem(
                N_("This email is already registered"),
                N_("Sign in with it, or choose \"Forgot password\" to set a new password with your face."),
                ((N_("Sign in"), "signin"), (N_("Forgot password"), "reset"), restart),
            )
        elif isinstance(done.error, DuplicateFaceError):
            problem = Problem(
                N_("This face is already registered"),
                N_("You already have an account. Sign in, or choose \"Forgot password\" to set a new password with your face."),
                ((N_("Sign in"), "signin"), (N_("Forgot password"), "reset"), restart),
            )
        elif isinstance(done.error, ValidationError):
            problem = Problem(
                N_("Your details were not accepted"),
                N_("Please start again and check your email address and password."),
                (restart,),
            )
        else:
            problem = Problem(
                N_("Your account was not saved"),
                N_("Something went wrong on this kiosk. Please try again, or ask staff for help."),
                ((N_("Try again"), "retry_save"), restart),
            )
        if not isinstance(done.error, KioskError):
            self._log_unexpected(done.error)
        self._show_problem(problem)

    def _show_problem(self, problem: Problem) -> None:
        self.session.problem = problem
        self._go(Step.PROBLEM)

    # -- sign in ----------------------------------------------------------------------------

    def _submit_sign_in(self) -> None:
        session = self.session
        if not session.fields["password"]:
            self._say(N_("Type your password"))
            return
        assert session.email is not None
        self._submit("sign_in", accounts.sign_in(session.email, session.fields["password"]), N_("Checking..."))

    def _signed_in(self, done: Done) -> None:
        session = self.session
        session.fields["password"] = ""
        result = done.value
        if isinstance(result, SignedIn):
            session.user_id = result.user_id
            session.signed_in_email = result.email
            self._go(Step.WELCOME)
        elif isinstance(result, WrongPassword):
            session.attempts_left = result.attempts_left
            if result.attempts_left <= 3:
                self._say(
                    NP_(
                        "Wrong email or password. {n} try left before a pause.",
                        "Wrong email or password. {n} tries left before a pause.",
                        result.attempts_left,
                    )
                )
            else:
                self._say(N_("Wrong email or password."))
        elif isinstance(result, Locked):
            self._locked(result)
        elif isinstance(result, RegisteredElsewhere):
            self._show_problem(REGISTERED_ELSEWHERE)
        else:
            self._store_failed(done.error)

    def _locked(self, lock: Locked) -> None:
        self.session.lock_until = self.clock() + lock.remaining_s
        self.session.lock_scope = lock.scope
        self.session.fields["password"] = self.session.fields["confirm"] = ""
        self.session.templates = None
        self.session.verifier = None
        self._go(Step.LOCKED)

    def _store_failed(self, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, KioskError):
            self._log_unexpected(error)
        self._show_problem(
            Problem(
                N_("Something went wrong"),
                N_("This kiosk could not complete the step. Please try again, or ask staff for help."),
                ((START_OVER, "start_over"),),
            )
        )

    # -- forgot password --------------------------------------------------------------------

    def _reset_subject(self, done: Done) -> None:
        result = done.value
        if isinstance(result, Locked):
            self._locked(result)
        elif isinstance(result, ResetSubject):
            self.session.user_id = result.user_id
            self.session.templates = result.templates
            self.session.subject_reason = result.reason
            self._start_verification()
        else:
            self._store_failed(done.error)

    def _start_verification(self) -> None:
        now = self.clock()
        session = self.session
        if self.config.liveness_for_reset:
            assert self.liveness is not None
            session.verifier = LivenessVerifier(self.liveness(), session.templates, self.rules, now, self.config.verify_timeout_s)
        else:
            session.verifier = FaceVerifier(session.templates, self.rules, self.config.verify_good_frames, now, self.config.verify_timeout_s)
        session.outcome = None
        session.refusal = None
        self._go(Step.RESET_FACE)

    def _decide(self, outcome: Outcome) -> None:
        session = self.session
        session.outcome = outcome
        verifier = session.verifier
        if isinstance(verifier, LivenessVerifier):
            session.refusal = verifier.failure_text() if verifier.failure else None
            verifier.wipe()
        session.verifier = None
        if outcome.accepted and session.user_id is not None:
            self._submit("record_accept", accounts.record_face(session.email, True, outcome.score, outcome.audit_reason()), N_("Checking..."))
        elif outcome.counts:
            reason = f"{outcome.reason}; {session.subject_reason}" if session.subject_reason else outcome.reason
            reason = replace(outcome, reason=reason).audit_reason()
            self._submit("record_refuse", accounts.record_face(session.email, False, outcome.score, reason), N_("Checking..."))
        else:
            session.attempts_left = None
            self._say(N_("We did not see a face.") if outcome.reason == NO_FACE else N_("We could not get a clear picture of your face."))
            self._go_keep_message(Step.RESET_REFUSED)

    def _go_keep_message(self, step: Step) -> None:
        message, error = self.session.message, self.session.message_is_error
        self._go(step)
        self._say(message, error)

    def _face_recorded(self, done: Done) -> None:
        result = done.value
        if not isinstance(result, FaceRecorded):
            self._store_failed(done.error)
            return
        if result.locked is not None:
            self._locked(result.locked)
        elif done.token[1] == "record_accept":
            self.session.templates = None
            self._go(Step.RESET_PASSWORD)
        else:
            self.session.attempts_left = result.attempts_left
            self._say(self.session.refusal or N_("We could not verify you."))
            self._go_keep_message(Step.RESET_REFUSED)

    def _abandon_verification(self) -> None:
        """Count comparisons already made when a person leaves before the verdict."""
        verifier = self.session.verifier
        if self.step != Step.RESET_FACE or verifier is None or self.session.email is None:
            return
        if getattr(verifier, "compared", 0) > 0:
            best = getattr(verifier, "best", None)
            score = best if best is not None and np.isfinite(best) else None
            token = (self.session.id, "record_abandoned")
            self.jobs.submit(token, accounts.record_face(self.session.email, False, score, "left before the decision"))
        self.session.verifier = None

    def _password_changed(self, done: Done) -> None:
        if done.error is not None:
            self._store_failed(done.error)
            return
        session = self.session
        session.fields["password"] = session.fields["confirm"] = ""
        session.user_id = None
        self._go(Step.RESET_DONE)

    # -- admin ------------------------------------------------------------------------------

    def _submit_pin(self) -> None:
        typed = self.session.fields["pin"].encode()
        self.session.fields["pin"] = ""
        if self.config.admin_pin and hmac.compare_digest(typed, self.config.admin_pin.encode()):
            self.admin_failures = 0
            self._go(Step.ADMIN)
            self._submit("count_users", accounts.count_users(), N_("One moment..."))
            return
        self.admin_failures += 1
        if self.admin_failures >= self.config.admin_max_tries:
            self.admin_failures = 0
            self.admin_blocked_until = self.clock() + self.config.admin_cooldown_s
            self.wipe()
            return
        self._say(N_("Wrong PIN"))

    # -- input from the camera and the jobs --------------------------------------------------

    def observe(self, observation: FaceObservation) -> None:
        """A frame analysed by the face worker (ignored outside the camera steps)."""
        session = self.session
        if self.step not in CAMERA_STEPS or session.pending:
            return
        now = self.clock()
        if observation.has_face:
            self.last_activity = now  # someone is in front of the camera
        if self.step == Step.SIGNUP_FACE and session.verifier is not None:
            outcome = session.verifier.feed(observation, now)
            if outcome is not None:
                self._enrollment_liveness(outcome)
        elif self.step == Step.SIGNUP_FACE and session.capture is not None:
            if observation.liveness is not None:
                return  # a frame of the challenge, analysed before the capture began
            session.capture.feed(observation, now)
            if session.capture.done:
                self._save_enrollment()
        elif self.step == Step.RESET_FACE and session.verifier is not None:
            outcome = session.verifier.feed(observation, now)
            if outcome is not None:
                self._decide(outcome)

    def tick(self) -> None:
        """Collect finished jobs and apply timeouts; call once per frame."""
        for done in self.jobs.poll():
            self._finished(done)
        now = self.clock()
        session = self.session
        if self.step != Step.ATTRACT:
            limit = self.config.result_timeout_s if self.step in RESULT_STEPS else self.config.idle_timeout_s
            if now - self.last_activity >= limit:
                self.wipe()
                return
        if session.pending:
            return
        if self.step == Step.SIGNUP_FACE and session.verifier is not None:
            outcome = session.verifier.expire(now)
            if outcome is not None:
                self._enrollment_liveness(outcome)
        elif self.step == Step.SIGNUP_FACE and session.capture is not None and session.capture.expired(now):
            session.capture.wipe()
            self._show_problem(
                Problem(
                    N_("We could not take enough clear pictures"),
                    N_("Stand about an arm's length from the screen, look at the camera, and make sure your face is well lit."),
                    ((N_("Try again"), "retry_capture"), (START_OVER, "start_over")),
                )
            )
        elif self.step == Step.RESET_FACE and session.verifier is not None:
            outcome = session.verifier.expire(now)
            if outcome is not None:
                self._decide(outcome)

    def _finished(self, done: Done) -> None:
        session_id, kind = done.token
        if session_id != self.session.id or kind != self.session.pending:
            return  # a previous person's job: its result is never shown
        self.session.pending = None
        self.session.busy = None
        handler = {
            "enroll": self._enrolled,
            "sign_in": self._signed_in,
            "reset_lookup": self._reset_subject,
            "record_accept": self._face_recorded,
            "record_refuse": self._face_recorded,
            "change_password": self._password_changed,
            "count_users": self._counted,
        }[kind]
        handler(done)

    def _counted(self, done: Done) -> None:
        if done.error is None:
            self.session.user_count = int(done.value)

    def _log_unexpected(self, error: BaseException) -> None:
        import logging

        logging.getLogger("kiosk.flows").error("unexpected error in a store job", exc_info=error)
