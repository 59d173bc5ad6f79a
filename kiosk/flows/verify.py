"""Face verification for a password reset: live pictures against a person's templates.

The reset flow talks to a :class:`Verifier`: it feeds every analysed frame and asks for
an :class:`Outcome`. :class:`FaceVerifier` is the plain comparison; the liveness
challenge (kiosk.flows.liveness.LivenessVerifier) is the other one: it sets ``prompt``
for the screen and brings its own per-frame analysis (``analyze_frame``) for the face
worker to run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from kiosk.flows.faces import FaceObservation, FaceRules, guidance_for
from kiosk.i18n import N_, Text
from kiosk.liveness.challenge import Status

MATCH = "match"
NO_MATCH = "no match"
TIMEOUT = "timeout"
NO_CLEAR_PICTURE = "no clear picture"
NO_FACE = "no face"


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    score: float | None  # the best (smallest) distance seen; None if nothing was compared
    reason: str  # one of the constants above, recorded in the audit log
    counts: bool  # a failed attempt for the lockout (a real comparison was made)
    liveness: dict[str, Any] | None = None  # the liveness challenge's evidence, if one ran

    def audit_reason(self) -> str:
        """The audit log's reason: the outcome, then the challenge's evidence as JSON."""
        if self.liveness is None:
            return self.reason
        return f"{self.reason}; liveness={json.dumps(self.liveness, separators=(',', ':'), sort_keys=True)}"


FrameAnalyzer = Callable[[np.ndarray, float, int], FaceObservation]


class Verifier(Protocol):
    """What the journeys use of a face check (plain comparison or liveness challenge)."""

    deadline: float
    prompt: Text | None  # an instruction for the screen besides the quality guidance
    guidance: Text | None
    status: Status | None  # the liveness challenge's last status; None without one
    failure: str  # the challenge's failure code when it failed; "" otherwise
    embedding: np.ndarray | None  # the face a passed liveness check vouched for

    @property
    def compared(self) -> int:
        """Comparisons (or a challenge with a face in it) made so far: an attempt that
        counts if the person leaves before the decision."""

    @property
    def best(self) -> float | None:
        """The best (smallest) distance so far, if any comparison was made."""

    def frame_analyzer(self) -> FrameAnalyzer | None:
        """What the face worker runs on each camera frame (image, capture time, frame
        number) while this verifier decides; None: the face pipeline's usual analysis."""

    def failure_text(self) -> Text:
        """What to tell the person after a failure that was not the face's."""

    def feed(self, observation: FaceObservation, now: float) -> Outcome | None: ...

    def expire(self, now: float) -> Outcome | None: ...

    def wipe(self) -> None: ...


class FaceVerifier:
    """Accepts on the first clear picture that matches; refuses after ``refuse_after``
    clear pictures that do not, or at the deadline.

    ``templates`` is None when the email has no usable face (unknown email, or a face
    enrolled with another model): every comparison then fails, after the same number of
    pictures and with the same answer, so the screen never tells whether the email exists.
    """

    def __init__(self, templates: np.ndarray | None, rules: FaceRules, refuse_after: int, started_at: float, timeout_s: float) -> None:
        self.templates = templates
        self.rules = rules
        self.refuse_after = refuse_after
        self.deadline = started_at + timeout_s
        self.prompt: Text | None = None
        self.guidance: Text | None = N_("Look at the camera")
        self.status: Status | None = None
        self.failure = ""
        self.embedding: np.ndarray | None = None
        self.compared = 0
        self._best = math.inf
        self.saw_face = False

    @property
    def best(self) -> float | None:
        return self._best if math.isfinite(self._best) else None

    def frame_analyzer(self) -> FrameAnalyzer | None:
        return None

    def failure_text(self) -> Text:
        return N_("We could not verify you.")

    def feed(self, observation: FaceObservation, now: float) -> Outcome | None:
        if now >= self.deadline:
            return self.expire(now)
        self.saw_face |= observation.has_face
        self.guidance = guidance_for(observation)
        if not observation.good:
            return None
        assert observation.embedding is not None
        score = self.rules.score(observation.embedding, self.templates)
        self._best = min(self._best, score)
        if score <= self.rules.verify_threshold:
            return Outcome(True, score, MATCH, counts=False)
        self.compared += 1
        self.guidance = N_("Checking...")
        if self.compared >= self.refuse_after:
            return Outcome(False, self.best, NO_MATCH, counts=True)
        return None

    def expire(self, now: float) -> Outcome | None:
        if now < self.deadline:
            return None
        if self.compared:
            return Outcome(False, self.best, TIMEOUT, counts=True)
        return Outcome(False, None, NO_CLEAR_PICTURE if self.saw_face else NO_FACE, counts=False)

    def wipe(self) -> None:
        self.templates = None
