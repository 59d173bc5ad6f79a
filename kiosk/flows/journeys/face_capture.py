"""The face pictures of an enrollment, shared by sign-up and the template upgrade: the
liveness challenge first when the config asks for it, then the capture, which then only
takes the face the challenge saw. The journey names its step and what follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from kiosk.flows.capture import EnrollmentCapture
from kiosk.flows.faces import FaceObservation
from kiosk.flows.liveness import LivenessVerifier
from kiosk.flows.session import START_OVER, Problem
from kiosk.flows.steps import Action, StepSpec
from kiosk.flows.verify import NO_FACE, Outcome
from kiosk.i18n import N_

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow

Handler = Callable[["Flow"], None]
RESTART = (START_OVER, Action.START_OVER)


@dataclass(frozen=True)
class CaptureStep:
    """The handlers of a journey's picture-taking step: ``step`` names it (called, since
    a step is declared after its handlers), ``done`` runs once the pictures are taken."""

    step: Callable[[], StepSpec]
    done: Handler

    def start(self, flow: Flow) -> None:
        start(flow, self.step())

    def observe(self, flow: Flow, observation: FaceObservation, now: float) -> None:
        observe(flow, observation, now, self.done, self.start)

    def tick(self, flow: Flow, now: float) -> None:
        tick(flow, now, self.start)


def start(flow: Flow, step: StepSpec) -> None:
    """Show ``step`` (a camera step) with a new capture (or liveness challenge first)."""
    session = flow.session
    session.capture = None
    session.verifier = None
    if flow.config.liveness_for_enrollment:
        assert flow.liveness is not None
        session.verifier = LivenessVerifier(
            flow.liveness(), None, flow.rules, flow.clock(), flow.config.verify_timeout_s, compare=False
        )
    else:
        begin(flow, None)
    flow.go(step)


def begin(flow: Flow, anchor: np.ndarray | None) -> None:
    config = flow.config
    flow.session.capture = EnrollmentCapture(
        config.enroll_samples, config.enroll_sample_interval_s, flow.rules, flow.clock(), config.capture_timeout_s, anchor=anchor
    )


def liveness_done(flow: Flow, outcome: Outcome, retry: Handler) -> None:
    session = flow.session
    verifier = session.verifier
    assert verifier is not None
    session.verifier = None
    if outcome.accepted and verifier.embedding is not None:
        begin(flow, verifier.embedding)
        verifier.wipe()
        return
    verifier.wipe()
    flow.show_problem(
        Problem(
            N_("We could not check that you are present"),
            verifier.failure_text() if outcome.reason != NO_FACE else N_("We did not see a face."),
            ((N_("Try again"), Action.RETRY_CAPTURE), RESTART),
            {Action.RETRY_CAPTURE: retry},
        )
    )


def observe(flow: Flow, observation: FaceObservation, now: float, done: Handler, retry: Handler) -> None:
    """A camera frame: to the challenge, then to the capture; ``done`` once complete."""
    session = flow.session
    if session.verifier is not None:
        outcome = session.verifier.feed(observation, now)
        if outcome is not None:
            liveness_done(flow, outcome, retry)
    elif session.capture is not None:
        if observation.liveness is not None:
            return  # a frame of the challenge, analysed before the capture began
        session.capture.feed(observation, now)
        if session.capture.done:
            done(flow)


def tick(flow: Flow, now: float, retry: Handler) -> None:
    session = flow.session
    if session.verifier is not None:
        outcome = session.verifier.expire(now)
        if outcome is not None:
            liveness_done(flow, outcome, retry)
    elif session.capture is not None and session.capture.expired(now):
        session.capture.wipe()
        flow.show_problem(
            Problem(
                N_("We could not take enough clear pictures"),
                N_("Stand about an arm's length from the screen, look at the camera, and make sure your face is well lit."),
                ((N_("Try again"), Action.RETRY_CAPTURE), RESTART),
                {Action.RETRY_CAPTURE: retry},
            )
        )


def leave(flow: Flow) -> None:
    """The person left the step: the pictures taken so far are forgotten."""
    session = flow.session
    if session.capture is not None:
        session.capture.wipe()
        session.capture = None
    if session.verifier is not None:
        session.verifier.wipe()
        session.verifier = None
