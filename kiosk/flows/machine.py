"""The flow: what every journey shares. The journeys themselves are in kiosk.flows.journeys.

No drawing here. Screens read the flow's state and call its methods (``act``, ``insert``,
``backspace``, ``submit``); the face worker's results come in through ``observe``; the
UI loop calls ``tick`` every frame to collect finished store jobs and apply timeouts.
Each call is dispatched to the current step's handler, declared with the step
(:class:`~kiosk.flows.steps.StepSpec`).

Privacy rules kept here, in one place:

* Everything a person entered or showed lives in one :class:`Session`. Start over, idle
  timeout, finishing a journey and leaving the admin screen all replace it with a new,
  empty one (``wipe``); jobs and face results of an old session are dropped on arrival.
* A step left unfinished gets its ``on_abandon`` first: a reset's face comparisons count
  against the lockout even when the person backs out or starts over before the verdict.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from kiosk.config.store import PasswordSettings
from kiosk.errors import KioskError
from kiosk.flows.accounts import Locked
from kiosk.flows.events import EventName, EventSink, FlowEvent, ignore_events
from kiosk.flows.faces import FaceObservation, FaceRules
from kiosk.flows.jobs import Done, Job, Jobs
from kiosk.flows.liveness import LiveCheck, LivenessVerifier
from kiosk.flows.session import START_OVER, Continuation, Pending, Problem, Session
from kiosk.flows.status import KioskInfo, SyncState, SyncStatus, SyncStatusProvider, sync_not_configured
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.flows.validation import Check, email_check, parse_email, password_checks
from kiosk.flows.verify import FrameAnalyzer
from kiosk.i18n import N_, NP_, Text
from kiosk.liveness.challenge import Status
from kiosk.store.admin_pin import load_pin_hash
from kiosk.store.db import storage_problem
from kiosk.store.emails import Email

PIN_MAX_DIGITS = 12
CODE_MAX_DIGITS = 6
EMAIL_MAX_CHARS = 254

__all__ = ["Flow", "FlowConfig", "Problem", "Session", "START_OVER"]


@dataclass(frozen=True)
class FlowConfig:
    idle_timeout_s: float = 60.0
    result_timeout_s: float = 10.0
    idle_warning_s: float = 20.0  # "Need more time?" this long before the idle timeout; 0: none
    enroll_samples: int = 5
    enroll_sample_interval_s: float = 0.4
    capture_timeout_s: float = 30.0
    verify_timeout_s: float = 15.0
    verify_good_frames: int = 3
    admin_pin_hash: str = ""  # argon2id; the store counts the tries (kiosk.store.admin_pin)
    mail_enabled: bool = False  # email confirmation codes and notices (the mail section)
    passwords: PasswordSettings = PasswordSettings()
    store_images: bool = False  # said on the consent screen
    image_retention_days: int = 7
    liveness_for_reset: bool = False  # the liveness challenge before a reset's decision
    liveness_for_enrollment: bool = False  # ... and before an enrollment's capture
    liveness_retry: bool = True  # one new challenge after a first missed prompt

    @classmethod
    def from_settings(cls, settings) -> "FlowConfig":  # type: ignore[no-untyped-def]
        """``settings``: the whole Settings (its ``ui``, ``passwords``, ``audit`` and
        ``liveness`` sections)."""
        ui = settings.ui
        return cls(
            idle_timeout_s=ui.idle_timeout_s,
            result_timeout_s=ui.result_timeout_s,
            idle_warning_s=ui.idle_warning_s,
            enroll_samples=ui.enroll_samples,
            enroll_sample_interval_s=ui.enroll_sample_interval_s,
            capture_timeout_s=ui.capture_timeout_s,
            verify_timeout_s=ui.verify_timeout_s,
            verify_good_frames=ui.verify_good_frames,
            admin_pin_hash=load_pin_hash(ui.admin_pin_hash),
            mail_enabled=settings.mail.enabled,
            passwords=settings.passwords,
            # The journeys hand no picture to the audit log yet (kiosk.store.audit can keep
            # them): the consent screen must not promise to keep any (issue 15).
            store_images=False,
            image_retention_days=settings.audit.image_retention_days,
            liveness_for_reset=settings.liveness.required_for_reset,
            liveness_for_enrollment=settings.liveness.required_for_enrollment,
            liveness_retry=settings.liveness.retry_missed_prompt,
        )

    def reloaded(self, new: "FlowConfig") -> "FlowConfig":
        """``new`` for what a reload can change; this config for what needs a restart.

        The store (jobs thread) keeps the password rules and audit settings it was
        opened with, so the screens keep saying what it will accept; the liveness
        challenge's models load at start, so its switches change at a restart too."""
        return replace(
            new,
            passwords=self.passwords,
            store_images=self.store_images,
            image_retention_days=self.image_retention_days,
            liveness_for_reset=self.liveness_for_reset,
            liveness_for_enrollment=self.liveness_for_enrollment,
            liveness_retry=self.liveness_retry,
            mail_enabled=self.mail_enabled,
        )


def default_journeys() -> tuple[Journey, ...]:
    from kiosk.flows.journeys import JOURNEYS

    return JOURNEYS


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
        events: EventSink = ignore_events,
        journeys: Sequence[Journey] | None = None,
    ) -> None:
        """``liveness``: starts a new liveness check (one per challenge); required when the
        config asks for liveness, so that a kiosk never skips it silently.
        ``events``: receives what the journeys decide (the daemon's journal).
        ``journeys``: the journeys (default: all of kiosk.flows.journeys); the first
        step of the first is the start screen."""
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
        self.events = events
        self.journeys = tuple(journeys if journeys is not None else default_journeys())
        self.home = self.journeys[0].steps[0]
        self._sessions = 0
        self.session = self._new_session()
        self.step = self.home
        # Counts every go(): a screen is entered afresh at each, even for the same step
        # (a second problem in a row has other buttons than the first).
        self.visits = 0
        now = clock()
        self.step_entered_at = now
        self.last_activity = now
        self.wipes = 0  # how many sessions were wiped (for the idle and privacy tests)

    def apply(self, config: FlowConfig, rules: FaceRules, language: str) -> None:
        """A reloaded configuration (SIGHUP): timeouts, thresholds, language. What needs
        a restart keeps its running value (:meth:`FlowConfig.reloaded`)."""
        self.config = self.config.reloaded(config)
        self.rules = rules
        self.info = replace(self.info, language=language)

    def require_liveness(self, for_reset: bool) -> None:
        """Switch the reset's liveness challenge for the sessions from now on (the demo:
        its camera shows photos). ValueError if the kiosk has no liveness check loaded."""
        if for_reset and self.liveness is None:
            raise ValueError("no liveness check was loaded: start with liveness.required_for_reset on")
        self.config = replace(self.config, liveness_for_reset=for_reset)

    # -- sessions and steps ---------------------------------------------------------------

    def _new_session(self) -> Session:
        self._sessions += 1
        return Session(self._sessions)

    def wipe(self) -> None:
        """Forget everything of the current person and show the start screen."""
        if self.step.on_abandon is not None:
            self.step.on_abandon(self)
        self.session.forget_secrets()
        self.session = self._new_session()
        self.wipes += 1
        self.go(self.home)

    def go(self, step: StepSpec) -> None:
        """Show ``step``, with no message under its field."""
        now = self.clock()
        self.step = step
        self.visits += 1
        self.step_entered_at = now
        self.last_activity = now
        self.session.message = None
        self.session.message_is_error = False

    def go_keep_message(self, step: StepSpec) -> None:
        message, error = self.session.message, self.session.message_is_error
        self.go(step)
        self.say(message, error)

    def choose_language(self, language: str) -> None:
        """The language the screen shows this person (their choice, or the kiosk's):
        a sign-up keeps it for the account's emails."""
        self.session.language = language

    def activity(self) -> None:
        self.last_activity = self.clock()

    def say(self, text: Text | None, error: bool = True) -> None:
        """The message under the field, or on a result screen."""
        self.session.message = text
        self.session.message_is_error = error

    def run_job(self, kind: JobKind, job: Job, busy: Text, then: Continuation) -> None:
        """Run a store job; ``then`` gets its result on this thread, unless the person
        left meanwhile. The screen shows ``busy`` until then."""
        self.session.job = Pending(kind, then, busy)
        self.jobs.submit((self.session.id, kind), job)

    def run_job_unawaited(self, kind: JobKind, job: Job) -> None:
        """A job whose result nobody waits for (e.g. an attempt recorded on leaving)."""
        self.jobs.submit((self.session.id, kind), job)

    def emit(self, name: EventName, message: str, level: int = logging.INFO, *, score: float | None = None,
             reason: str | None = None, liveness: str | None = None) -> None:
        """Record a decision for the journal (the current person's email travels with it)."""
        self.events(FlowEvent(name, message, self.session.email, score, reason, liveness, level))

    # -- what the screens read -------------------------------------------------------------

    @property
    def field(self) -> Field | None:
        return self.step.field

    @property
    def text(self) -> str:
        name = self.field
        return self.session.fields[name] if name else ""

    @property
    def busy(self) -> Text | None:
        return self.session.busy

    @property
    def wants_camera(self) -> bool:
        return self.step.camera and self.session.job is None

    @property
    def can_go_back(self) -> bool:
        return self.step.back is not Back.NONE

    @property
    def admin_available(self) -> bool:
        return bool(self.config.admin_pin_hash)

    def available_journeys(self) -> list[Journey]:
        """The journeys the start screen offers now, in order."""
        return [j for j in self.journeys if j.start is not None and (j.available is None or j.available(self))]

    def email_feedback(self) -> Check:
        return email_check(self.session.fields[Field.EMAIL])

    def password_feedback(self) -> list[Check]:
        """The rules of a new password, checked as it is typed."""
        return password_checks(self.session.fields[Field.PASSWORD], self.session.email, self.config.passwords)

    def confirm_feedback(self) -> Check:
        confirm, password = self.session.fields[Field.CONFIRM], self.session.fields[Field.PASSWORD]
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
        if not self.step.camera:
            return None
        verifier = self.session.verifier
        if verifier is not None:
            return verifier.prompt or verifier.guidance
        if self.session.capture is not None:
            return self.session.capture.guidance
        return None

    def _challenge_status(self) -> Status | None:
        """The liveness challenge's last status while one is on screen; None otherwise."""
        verifier = self.session.verifier
        if not self.step.camera or verifier is None:
            return None
        return verifier.status

    def liveness_prompt(self) -> str | None:
        """The challenge prompt on screen now (``turn_left``, ...), for its arrow or icon."""
        status = self._challenge_status()
        return status.prompt if status is not None and not status.done else None

    def liveness_answer_left(self) -> float | None:
        """The share of the time to answer the current prompt that is left (its bar)."""
        verifier = self.session.verifier
        if self._challenge_status() is None or verifier is None or not isinstance(verifier, LivenessVerifier):
            return None
        return verifier.answer_left()

    def liveness_progress(self) -> tuple[int, int] | None:
        """(prompts answered, prompts in all) during a challenge; None otherwise."""
        status = self._challenge_status()
        return None if status is None else (status.index, status.total)

    def frame_analyzer(self) -> FrameAnalyzer | None:
        """What the face worker should run on camera frames now; None: the face pipeline."""
        verifier = self.session.verifier
        if self.step.camera and verifier is not None and self.session.job is None:
            return verifier.frame_analyzer()
        return None

    def timeout_left(self) -> float | None:
        """Seconds until this screen times out and the session is wiped (None on the
        start screen): the idle timeout, or a result screen's own."""
        if self.step is self.home:
            return None
        limit = self.config.result_timeout_s if self.step.result else self.config.idle_timeout_s
        return max(0.0, limit - (self.clock() - self.last_activity))

    def idle_warning_left(self) -> float | None:
        """While the "Need more time?" dialog shows: the seconds until the wipe.

        Shown in the last ``idle_warning_s`` before the idle timeout of any step a
        person is in the middle of (not the start screen, not a result screen, which
        shows its own countdown, not while a store job runs)."""
        if self.step.result or self.config.idle_warning_s <= 0 or self.session.job is not None:
            return None
        left = self.timeout_left()
        return left if left is not None and left <= self.config.idle_warning_s else None

    def more_time(self) -> None:
        """The dialog's "More time" button: the idle timeout starts again."""
        self.activity()

    def countdown_s(self) -> float | None:
        verifier = self.session.verifier
        if not self.step.camera or verifier is None:
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

    def sync_status(self) -> SyncState:
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

    def message(self) -> tuple[Text | None, Text | None]:
        """(headline, body) of a message screen, as the step declares them."""
        return self.step.message(self) if self.step.message is not None else (None, None)

    # -- typing -----------------------------------------------------------------------------

    def _max_length(self, name: Field) -> int:
        if name is Field.EMAIL:
            return EMAIL_MAX_CHARS
        if name is Field.PIN:
            return PIN_MAX_DIGITS
        if name is Field.CODE:
            return CODE_MAX_DIGITS
        return self.config.passwords.max_length

    def set_text(self, value: str) -> None:
        name = self.field
        if name is None or self.session.job is not None:
            return
        self.activity()
        self.session.fields[name] = value[: self._max_length(name)]
        self.say(None)

    def insert(self, chars: str) -> None:
        self.set_text(self.text + chars)

    def backspace(self) -> None:
        if self.text:
            self.set_text(self.text[:-1])
        else:
            self.activity()

    def submit(self) -> None:
        """The keyboard's Next/Done key."""
        if self.session.job is not None:
            return
        self.activity()
        if self.step.on_submit is not None:
            self.step.on_submit(self)

    def take_email(self) -> Email | None:
        """The typed email, parsed into the session; None (and the reason said) if unusable."""
        check = self.email_feedback()
        email = parse_email(self.session.fields[Field.EMAIL]) if check.ok else None
        if email is None:
            self.say(check.text)
            return None
        self.session.email = email
        return email

    # -- buttons ----------------------------------------------------------------------------

    def act(self, action: Action | str) -> None:
        """A button (an :class:`Action`; its string value is accepted, an unknown one is a
        ValueError). Start over works at any time; the others not while a job runs."""
        action = Action(action)
        self.activity()
        if action is Action.START_OVER:
            self.wipe()
            return
        if self.session.job is not None:
            return
        handler = self.step.actions.get(action)
        if handler is not None:
            handler(self)
        elif self.step.on_action is not None:
            self.step.on_action(self, action)
        elif self.step is self.home:
            self.start(action)
        elif action is Action.BACK:
            self._back()
        elif action is Action.FINISH and self.step is not self.home:
            self.wipe()

    def start(self, action: Action) -> None:
        """Enter the journey the start screen's ``action`` button leads to."""
        for journey in self.available_journeys():
            if journey.start is action and journey.entry is not None:
                self.go(journey.entry)
                return

    def restart(self, action: Action) -> None:
        """A new session, straight into another journey (from a problem screen)."""
        self.wipe()
        self.start(action)

    def _back(self) -> None:
        target = self.step.back
        if target is Back.NONE:
            return
        if target is Back.START:
            self.wipe()
            return
        if self.step.on_abandon is not None:
            self.step.on_abandon(self)
        if self.field is not None and self.field.secret:
            self.session.fields[self.field] = ""
        self.go(target)

    # -- outcomes every journey can have -----------------------------------------------------

    def show_problem(self, problem: Problem) -> None:
        from kiosk.flows.journeys.home import PROBLEM

        self.session.problem = problem
        self.go(PROBLEM)

    def locked(self, lock: Locked) -> None:
        from kiosk.flows.journeys.home import LOCKED

        session = self.session
        session.lock_until = self.clock() + lock.remaining_s
        session.lock_scope = lock.scope
        session.fields[Field.PASSWORD] = session.fields[Field.CONFIRM] = ""
        session.templates = None
        session.verifier = None
        self.go(LOCKED)
        self.emit(EventName.LOCKED, "locked out after failed attempts", logging.WARNING, reason=lock.scope)

    def store_failed(self, error: BaseException | None) -> None:
        problem = self.storage_failed(error)
        if problem is None:
            if error is not None and not isinstance(error, KioskError):
                self.log_unexpected(error)
            problem = Problem(
                N_("Something went wrong"),
                N_("This kiosk could not complete the step. Please try again, or ask staff for help."),
                ((START_OVER, Action.START_OVER),),
            )
        self.show_problem(problem)

    def storage_failed(self, error: BaseException | None) -> Problem | None:
        """When ``error`` is the kiosk's storage being full or failing: the problem to show
        (nothing was half-saved; signing in still works) and one journal event; else None."""
        kind = storage_problem(error) if error is not None else None
        if kind is None:
            return None
        self.emit(EventName.STORAGE_PROBLEM, f"storage {kind}: a change could not be saved", logging.ERROR, reason=kind)
        return Problem(
            N_("This kiosk cannot save changes right now"),
            N_("Nothing was changed. Signing in still works here; to sign up or change a password, "
               "please try again later or use another kiosk, and tell staff."),
            ((START_OVER, Action.START_OVER),),
        )

    def log_unexpected(self, error: BaseException) -> None:
        logging.getLogger("kiosk.flows").error("unexpected error in a store job", exc_info=error)

    # -- input from the camera and the jobs --------------------------------------------------

    def observe(self, observation: FaceObservation) -> None:
        """A frame analysed by the face worker (ignored outside the camera steps)."""
        if not self.step.camera or self.session.job is not None:
            return
        now = self.clock()
        if observation.has_face:
            self.last_activity = now  # someone is in front of the camera
        if self.step.on_observe is not None:
            self.step.on_observe(self, observation, now)

    def tick(self) -> None:
        """Collect finished jobs and apply timeouts; call once per frame."""
        for done in self.jobs.poll():
            self._finished(done)
        now = self.clock()
        if self.step is not self.home:
            limit = self.config.result_timeout_s if self.step.result else self.config.idle_timeout_s
            if now - self.last_activity >= limit:
                self.wipe()
                return
        if self.session.job is None and self.step.on_tick is not None:
            self.step.on_tick(self, now)

    def _finished(self, done: Done) -> None:
        session_id, kind = done.token
        job = self.session.job
        if session_id != self.session.id or job is None or kind is not job.kind:
            return  # a previous person's job, or one nobody waits for: never shown
        self.session.job = None
        job.then(self, done)


def face_score(value: float | None) -> float | None:
    """A distance for the journal: rounded, None when nothing was compared."""
    return round(value, 4) if value is not None and np.isfinite(value) else None
