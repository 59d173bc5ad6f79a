"""The face check of a password reset with the liveness challenge in front of it.

:class:`LivenessVerifier` is a :class:`~kiosk.flows.verify.Verifier`: the reset flow
treats it like the plain comparison. The difference is where frames go. The challenge
needs every camera frame with its time (landmarks, head pose, eye openness), not the
face pipeline's findings on some of them, so the verifier hands the face worker its own
per-frame analysis (:meth:`LivenessVerifier.analyze_frame`, run on the worker thread).
Its observations carry the challenge's status, which the flow then feeds back in on the
UI thread like any other observation.

The decision: a failed or timed-out challenge is a failed attempt (it counts for the
lockout) as soon as a face was seen, except a first missed prompt (``too_late``: nothing
moved after the prompt), after which the verifier may start one new challenge in the
same session (``restart``) before anything counts; a passed one is compared, on the frame the
challenge chose from inside itself, against the person's templates. The outcome carries
the challenge's evidence (prompts, onsets, peaks, passive scores) for the audit log.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Protocol

import numpy as np

from kiosk.flows.faces import Embeddings, FaceObservation, FaceRules, Templates
from kiosk.flows.verify import MATCH, NO_CLEAR_PICTURE, NO_FACE, NO_MATCH, TIMEOUT, Outcome, stack_probes
from kiosk.i18n import N_, Text
from kiosk.liveness.challenge import PROMPT, Status

LIVENESS_FAILED = "liveness failed"

PROMPT_TEXT = {
    "turn_left": N_("Turn your head to your left"),
    "turn_right": N_("Turn your head to your right"),
    "look_up": N_("Look up"),
    "blink_twice": N_("Blink twice"),
}
HOLD = N_("Hold still and look at the camera")
# Before the first prompt: what is coming, so nobody is surprised by it.
INTRO = N_("You will be asked to turn your head or blink. Each request comes with a sound.")

# What a person is told after a failed challenge, by failure code. Passive findings get
# the plain "could not verify": telling an attacker which cue caught them helps them.
FAILURE_TEXT = {
    "too_early": N_("We saw a movement before the instruction. You can try again: wait for the sound, then move."),
    "too_late": N_("We did not see the movement in time. You can try again: move as soon as you hear the sound."),
    "timeout": N_("We did not see the movement in time. You can try again: move as soon as you hear the sound."),
    "wrong_direction": N_("Please move the way the arrow shows."),
    "wrong_move": N_("Please move the way the arrow shows."),
    "not_steady": N_("Please hold still between the instructions."),
    "face_lost": N_("Please keep your face in the picture."),
    "face_changed": N_("Only one person in the picture, please."),
    "other_face": N_("Only one person in the picture, please."),
    "unclear": N_("We could not get a clear picture of your face."),
    # The decision's picture failed only the pitch gate (a seated person before a camera
    # mounted higher, most often): say which way to move.
    "unclear_looks_down": N_("We could not get a clear picture of your face. Lift your chin and look at the camera, then try again."),
    "unclear_looks_up": N_("We could not get a clear picture of your face. Lower your chin a little, then try again."),
}
NOT_VERIFIED = N_("We could not verify you.")
RETRY = N_("Let's try once more. Move as soon as you hear the sound.")
# The failure after which a challenge may be run once more before it counts: the person
# did not move at all after a prompt (missed it, or did not understand it).
MISSED_PROMPT = "too_late"


class LiveCheck(Protocol):
    """What the verifier needs of a liveness check (kiosk.liveness.session.LivenessSession)."""

    @property
    def result(self) -> Any: ...

    def feed(self, image_rgb: np.ndarray, t: float) -> Status: ...

    def abort(self, reason: str, t: float) -> Status: ...

    def tracked_box(self) -> np.ndarray | None: ...


class LivenessVerifier:
    """Runs one challenge and then compares the face it vouched for.

    ``templates`` None (unknown email, or a face of another model): the challenge runs
    the same, and the comparison then fails, so the screens never tell whether the email
    has an account. ``compare`` False (liveness at enrollment): a passed challenge is
    accepted without a comparison, and :attr:`embedding` holds the face it saw.
    """

    def __init__(
        self,
        check: LiveCheck,
        templates: Templates | None,
        rules: FaceRules,
        started_at: float,
        timeout_s: float,
        compare: bool = True,
        restart: Callable[[], LiveCheck] | None = None,
    ) -> None:
        """``restart``: makes a new check for the one retry a first missed prompt gets
        (None: no retry, the first failure decides)."""
        self.check = check
        self.restart = restart
        self.retried = False
        self.first_evidence: dict[str, Any] | None = None  # the missed challenge's, when retried
        self.templates = templates
        self.rules = rules
        self.compare = compare
        self.timeout_s = timeout_s
        self.deadline = started_at + timeout_s
        self.prompt: Text | None = None
        self.guidance: Text | None = HOLD
        self.status: Status | None = None
        self.saw_face = False
        self.embedding: np.ndarray | None = None  # the primary model's, of the verification frame
        self.embeddings: Embeddings | None = None  # every model's, of the same frame
        self.evidence: dict[str, Any] | None = None
        self.failure: str = ""  # the challenge's failure code, when it failed
        self._lock = threading.Lock()  # analyze_frame runs on the face worker's thread
        self._decided = False

    # -- the face worker's side -------------------------------------------------------

    def analyze_frame(self, image_rgb: np.ndarray, at: float, seq: int) -> FaceObservation:
        """One camera frame through the challenge (on the worker thread)."""
        height, width = image_rgb.shape[:2]
        with self._lock:
            status = self.check.feed(image_rgb, at)
            box = self.check.tracked_box()
        if box is None:
            return FaceObservation(seq, (width, height), liveness=status)
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        return FaceObservation(seq, (width, height), box=(x1, y1, x2, y2), faces=1, liveness=status)

    # -- the flow's side (UI thread) --------------------------------------------------

    @property
    def compared(self) -> int:
        """For the flow's "left before the decision" rule: a challenge under way with a
        face in it is an attempt, like a comparison already made."""
        return 0 if self._decided or not self.saw_face else 1

    @property
    def best(self) -> float | None:
        """The flow's "left before the decision" rule records the best distance so far:
        none is known before the challenge ends."""
        return None

    def frame_analyzer(self) -> Callable[[np.ndarray, float, int], FaceObservation]:
        return self.analyze_frame

    def feed(self, observation: FaceObservation, now: float) -> Outcome | None:
        if self._decided:
            return None
        status = observation.liveness
        if status is None or (status.done and self.check.result is None):
            return self.expire(now)  # not of this check (the plain pipeline's, an old one's)
        if observation.has_face and not self.saw_face:
            # Whoever arrives late still gets the whole time for the challenge, whose own
            # clock starts now too: being cut off mid-answer would count as a failure.
            self.deadline = max(self.deadline, now + self.timeout_s)
        self.saw_face |= observation.has_face
        self.status = status
        if status.done:
            return self._decide(now)
        if now >= self.deadline:
            return self.expire(now)
        if status.phase == PROMPT and status.prompt is not None:
            self.prompt = PROMPT_TEXT[status.prompt]
            self.guidance = None
        else:
            self.prompt = None
            if not observation.has_face:
                self.guidance = N_("Look at the camera")
            else:
                self.guidance = (RETRY if self.retried else INTRO) if status.index == 0 else HOLD
        return None

    def answer_left(self) -> float | None:
        """The share (1 to 0) of the time to answer the prompt on screen that is left
        (``complete_within_s`` from its appearance); None between prompts."""
        status = self.status
        settings = getattr(self.check, "settings", None)
        window = getattr(settings, "complete_within_s", None)
        if status is None or status.phase != PROMPT or status.prompt is None or not window:
            return None
        return max(0.0, 1.0 - status.prompt_elapsed_s / float(window))

    def expire(self, now: float) -> Outcome | None:
        if self._decided or now < self.deadline:
            return None
        # The worker may be inside a frame (a detection, the passive cues): rather than
        # stall the screen waiting for it, try again on the next tick.
        if not self._lock.acquire(blocking=False):
            return None
        try:
            self.check.abort("timeout", now)
        finally:
            self._lock.release()
        return self._decide()

    def failure_text(self) -> Text:
        return FAILURE_TEXT.get(self.failure, NOT_VERIFIED)

    def _retry(self, now: float) -> bool:
        """A first missed prompt: a new challenge (new random prompts) in place of the old
        one, with the whole time again. False if it cannot be given (then it counts)."""
        result = self.check.result
        if self.restart is None or self.retried or result is None or result.passed or result.reason != MISSED_PROMPT:
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.first_evidence = result.to_audit()
            self.check = self.restart()
        finally:
            self._lock.release()
        self.retried = True
        self.status = None
        self.prompt = None
        self.guidance = RETRY
        self.deadline = now + self.timeout_s
        return True

    def _decide(self, now: float | None = None) -> Outcome | None:
        if now is not None and self._retry(now):
            return None
        self._decided = True
        self.prompt = None
        result = self.check.result
        self.evidence = result.to_audit() if result is not None else None
        if self.evidence is not None and self.first_evidence is not None:
            self.evidence = {**self.evidence, "retry_of": self.first_evidence}
        if result is None or not result.passed:
            self.failure = "" if result is None else result.reason
            if not self.saw_face:
                return Outcome(False, None, NO_FACE, counts=False)
            reason = TIMEOUT if self.failure == "timeout" else LIVENESS_FAILED
            return Outcome(False, None, reason, counts=True, liveness=self.evidence)
        face = result.verification.face
        if face.findings:
            # The same quality gates as the plain comparison: a live face, but not a
            # picture clear enough to decide on (the person is asked to try again).
            first = str(getattr(face.findings[0], "code", face.findings[0]))  # simulated checks give the codes
            self.failure = f"unclear_{first}" if f"unclear_{first}" in FAILURE_TEXT else "unclear"
            return Outcome(False, None, NO_CLEAR_PICTURE, counts=False, liveness=self.evidence)
        embedding = np.asarray(face.embedding, dtype=np.float32)
        self.embedding = embedding
        self.embeddings = self.rules.probe(embedding, face.embeddings)
        if not self.compare:
            return Outcome(True, None, MATCH, counts=False, liveness=self.evidence)
        # One picture decides: the per-picture threshold for the level's per-attempt rate.
        score = self.rules.score(self.embeddings, self.templates)
        threshold = self.rules.comparison_threshold(self.templates)
        best = score if math.isfinite(score) else None
        if score <= threshold:
            return Outcome(True, best, MATCH, counts=False, liveness=self.evidence, threshold=threshold,
                           probes=stack_probes([self.embeddings]))
        return Outcome(False, best, NO_MATCH, counts=True, liveness=self.evidence, threshold=threshold)

    def wipe(self) -> None:
        self.templates = None
        self.embedding = None
        self.embeddings = None
