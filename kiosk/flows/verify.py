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
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from kiosk.flows.faces import FaceObservation, FaceRules, Templates, guidance_for
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
    score: float | None  # the decided fused score (lower: more alike); None if nothing was compared
    reason: str  # one of the constants above, recorded in the audit log
    counts: bool  # a failed attempt for the lockout (a real comparison was made)
    liveness: dict[str, Any] | None = None  # the liveness challenge's evidence, if one ran
    threshold: float | None = None  # what the score was held against, when one was decided
    # An accepted attempt's pictures by model id (one row each), for the check that the
    # account is the nearest of everyone enrolled; never in the audit log, wiped after.
    probes: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)

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


def stack_probes(pictures: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Pictures' embeddings by model id, as one (pictures, dim) matrix per model that every
    picture has."""
    if not pictures:
        return {}
    models = set(pictures[0]).intersection(*pictures[1:])
    return {m: np.stack([np.asarray(p[m], dtype=np.float32).reshape(-1) for p in pictures]) for m in sorted(models)}


class FaceVerifier:
    """Decides a reset on ``frames`` clear pictures of one face: the mean of their fused
    scores against the person's templates, at the security level's per-attempt
    threshold (FaceRules.attempt_threshold). One lucky picture cannot pass on its own,
    and a picture of another face than the attempt's first starts its pictures again.
    At the deadline, pictures compared but fewer than ``frames`` are refused (counted).

    ``templates`` None when the email has no usable face (unknown email, or no template of
    a configured model): every attempt then fails after the same number of pictures and
    with the same answer, so the screen never tells whether the email exists.
    """

    def __init__(self, templates: Templates | None, rules: FaceRules, frames: int, started_at: float, timeout_s: float) -> None:
        self.templates = templates
        self.rules = rules
        self.frames = max(1, frames)
        self.deadline = started_at + timeout_s
        self.prompt: Text | None = None
        self.guidance: Text | None = N_("Look at the camera")
        self.status: Status | None = None
        self.failure = ""
        self.embedding: np.ndarray | None = None
        self.compared = 0  # clear pictures compared in this attempt (all faces)
        self._scores: list[float] = []  # of the current face
        self._probes: list[dict[str, np.ndarray]] = []  # its embeddings, by model id
        self._first: np.ndarray | None = None  # the current face's primary embedding
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
        primary = np.asarray(observation.embedding, dtype=np.float32)
        if self._first is not None and not self.rules.same_face(primary, self._first[None]):
            self._scores.clear()  # another face: its pictures make their own attempt
            self._probes.clear()
            self._first = None
        if self._first is None:
            self._first = primary
        probe = self.rules.probe(observation.embedding, observation.embeddings)
        score = self.rules.score(probe, self.templates)
        self._scores.append(score)
        self._probes.append(probe)
        self._best = min(self._best, score)
        self.compared += 1
        self.guidance = N_("Checking...")
        if len(self._scores) < self.frames:
            return None
        return self._decide()

    def _decide(self) -> Outcome:
        mean = float(np.mean(self._scores))
        threshold = self.rules.attempt_threshold(self.templates, len(self._scores))
        score = mean if math.isfinite(mean) else None
        if mean <= threshold:
            return Outcome(True, score, MATCH, counts=False, threshold=threshold, probes=stack_probes(self._probes))
        return Outcome(False, score, NO_MATCH, counts=True, threshold=threshold)

    def expire(self, now: float) -> Outcome | None:
        if now < self.deadline:
            return None
        if self.compared:
            return Outcome(False, self.best, TIMEOUT, counts=True)
        return Outcome(False, None, NO_CLEAR_PICTURE if self.saw_face else NO_FACE, counts=False)

    def wipe(self) -> None:
        self.templates = None
        self._first = None
        self._probes.clear()
