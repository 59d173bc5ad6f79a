"""The active challenge: random timed prompts a live person answers and a replay cannot.

The challenge is a pure state machine over per-frame measurements (``Observation``): it
never touches images or models, so it runs the same on a camera, on a recorded clip's
landmark track and on synthetic tracks in tests.

Timeline of one challenge::

    settle -> prompt 1 -> settle -> prompt 2 [-> settle -> prompt 3] -> settle -> passed

- *settle*: one face, held still near its first pose for a random pause
  (``gap_min_s``..``gap_max_s``), so the moment a prompt appears cannot be predicted;
  before the first prompt for ``settle_s`` more. The pose and eye openness held here are
  the baseline the next answer is measured from. The first settle also needs the first
  embedding (the identity anchor); the last one (``settle_s``, no pause) needs an
  embedding too and supplies the frame used for verification, so that frame comes from
  inside the challenge, after every answer.
- *prompt*: the answer's onset (the first frame moved past the onset angle, or the first
  closed-eye frame) must fall between ``onset_min_s`` and ``onset_max_s`` after the
  prompt appeared, and the answer must be complete within ``complete_within_s``: a head
  answer on the first frame at the completion angle (no hold there is asked for; the way
  back belongs to the next settle), a blink answer when the eyes open after the second
  blink. Moving the other way, or on the other axis, first fails it.

Throughout, every embedding must stay within ``max_distance`` of the anchor, the face
may not vanish for longer than ``max_face_absence_s``, and no second face may appear.
Any failure ends the challenge; the caller counts it as a failed attempt.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from kiosk.config.liveness import PROMPTS, LivenessSettings

SETTLE, PROMPT, PASSED, FAILED = "settle", "prompt", "passed", "failed"

# Head prompts: the pose axis and the sign of the answer. Yaw > 0 is the face turning to
# the image's right, which is the person's left on an unmirrored camera.
HEAD_PROMPTS = {"turn_left": ("yaw", 1.0), "turn_right": ("yaw", -1.0), "look_up": ("pitch", 1.0)}
BLINK_PROMPT = "blink_twice"
BLINKS_NEEDED = 2

# Failure codes and what they mean (the UI words them for people).
REASONS = {
    "too_early": "the answer started before the prompt could have been seen",
    "too_late": "no answer started in time",
    "timeout": "the answer was not completed in time",
    "wrong_direction": "the head moved the other way",
    "wrong_move": "the head moved on the wrong axis",
    "not_steady": "the face did not hold still before a prompt",
    "face_lost": "the face left the picture",
    "face_changed": "a different face appeared",
    "other_face": "a second face appeared",
}


@dataclass(frozen=True)
class Observation:
    """What one frame shows, measured by the caller."""

    t: float  # seconds, monotonic
    face: bool = True  # a face is tracked in this frame
    yaw: float = 0.0  # degrees, see kiosk.liveness.geometry.Pose
    pitch: float = 0.0
    openness: float = 0.0  # eye openness, kiosk.liveness.geometry.eye_openness
    embedding: np.ndarray | None = None  # when the caller computed one on this frame
    other_faces: int = 0  # further faces of comparable size, when the detector ran
    ref: Any = None  # the caller's handle on this frame, handed back for verification


@dataclass(frozen=True)
class PromptEvidence:
    prompt: str
    shown_at_s: float  # since the challenge started
    onset_s: float | None  # since the prompt appeared
    completed_s: float | None
    # Head prompts: the largest movement the right way, degrees. Blinks: the lowest
    # openness as a fraction of the settled one.
    peak: float
    blinks: int
    baseline: tuple[float, float, float]  # yaw, pitch, openness held before the prompt
    outcome: str  # "ok" or a failure code

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "shown_at_s": round(self.shown_at_s, 3),
            "onset_s": None if self.onset_s is None else round(self.onset_s, 3),
            "completed_s": None if self.completed_s is None else round(self.completed_s, 3),
            "peak": round(self.peak, 3),
            "blinks": self.blinks,
            "baseline": [round(v, 3) for v in self.baseline],
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class ChallengeResult:
    passed: bool
    reason: str  # "" when passed, else a REASONS code
    prompts: tuple[str, ...]  # the whole schedule drawn
    evidence: tuple[PromptEvidence, ...]  # the prompts shown, in order
    duration_s: float
    identity_checks: int
    max_identity_distance: float
    identity_threshold: float
    verification_ref: Any = None  # ref of the frame to verify (passed challenges only)

    def to_dict(self) -> dict[str, Any]:
        """The audit log's record of the challenge (no images, no embeddings)."""
        return {
            "passed": self.passed,
            "reason": self.reason,
            "prompts": list(self.prompts),
            "evidence": [item.to_dict() for item in self.evidence],
            "duration_s": round(self.duration_s, 3),
            "identity": {
                "checks": self.identity_checks,
                "max_distance": round(self.max_identity_distance, 4),
                "threshold": round(self.identity_threshold, 4),
            },
        }


@dataclass(frozen=True)
class Status:
    phase: str  # settle, prompt, passed, failed
    prompt: str | None  # the prompt to show now (phase "prompt")
    index: int  # which prompt (0-based) is shown or comes next
    total: int
    prompt_elapsed_s: float  # since the current prompt appeared
    reason: str = ""
    # The challenge needs an embedding from the next frames (no anchor yet, or the
    # closing settle has none): the caller should compute one now.
    wants_identity: bool = False

    @property
    def done(self) -> bool:
        return self.phase in (PASSED, FAILED)


def draw_prompts(rng: random.Random, settings: LivenessSettings) -> list[str]:
    """A random schedule: between prompt_count_min and _max distinct prompts."""
    allowed = [p for p in PROMPTS if p in settings.prompts]
    count = rng.randint(settings.prompt_count_min, settings.prompt_count_max)
    return rng.sample(allowed, count)


@dataclass
class _PromptState:
    shown_at: float
    baseline: tuple[float, float, float]
    onset: float | None = None
    peak: float = 0.0
    closures: int = 0
    eyes_closed: bool = False
    min_ratio: float = 1.0


class Challenge:
    """Feed it one ``Observation`` per frame with :meth:`update`; show what the returned
    ``Status`` says; stop when ``status.done`` and read :attr:`result`."""

    def __init__(
        self,
        prompts: Sequence[str],
        settings: LivenessSettings,
        distance: Callable[[np.ndarray, np.ndarray], float],
        max_distance: float,
        rng: random.Random,
    ) -> None:
        unknown = [p for p in prompts if p not in PROMPTS]
        if unknown or not prompts:
            raise ValueError(f"prompts must be a non-empty list from {PROMPTS}, got {list(prompts)}")
        self.prompts = tuple(prompts)
        self.settings = settings
        self.distance = distance
        self.max_distance = float(max_distance)
        self.rng = rng
        self._phase = SETTLE
        self._index = 0
        self._reason = ""
        self._start: float | None = None
        self._now = 0.0
        self._last_face: float | None = None
        self._settle_since = 0.0
        self._window: list[Observation] = []
        self._gap = self._draw_gap()
        self._home: tuple[float, float] | None = None
        self._anchor: np.ndarray | None = None
        self._checks = 0
        self._max_distance_seen = 0.0
        self._prompt: _PromptState | None = None
        self._evidence: list[PromptEvidence] = []
        self._verification: Any = None

    # -- public -----------------------------------------------------------------------

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def done(self) -> bool:
        return self._phase in (PASSED, FAILED)

    def status(self) -> Status:
        prompt = self.prompts[self._index] if self._phase == PROMPT else None
        elapsed = self._now - self._prompt.shown_at if self._phase == PROMPT and self._prompt else 0.0
        return Status(
            phase=self._phase,
            prompt=prompt,
            index=min(self._index, len(self.prompts) - 1),
            total=len(self.prompts),
            prompt_elapsed_s=elapsed,
            reason=self._reason,
            wants_identity=self._wants_identity(),
        )

    @property
    def result(self) -> ChallengeResult:
        return ChallengeResult(
            passed=self._phase == PASSED,
            reason=self._reason,
            prompts=self.prompts,
            evidence=tuple(self._evidence),
            duration_s=(self._now - self._start) if self._start is not None else 0.0,
            identity_checks=self._checks,
            max_identity_distance=self._max_distance_seen,
            identity_threshold=self.max_distance,
            verification_ref=self._verification if self._phase == PASSED else None,
        )

    def abort(self, reason: str, t: float | None = None) -> Status:
        """End the challenge as failed from outside (e.g. the person walked away)."""
        if t is not None:
            self._now = t
        if not self.done:
            self._fail(reason)
        return self.status()

    def update(self, obs: Observation) -> Status:
        if self.done:
            return self.status()
        if self._start is None:
            self._start = self._settle_since = obs.t
            self._last_face = obs.t
        self._now = obs.t
        if not self._global_checks(obs):
            return self.status()
        if not obs.face:
            return self.status()
        if self._phase == SETTLE:
            self._settle(obs)
        elif self._phase == PROMPT:
            self._answer(obs)
        return self.status()

    # -- internals --------------------------------------------------------------------

    def _draw_gap(self) -> float:
        return self.rng.uniform(self.settings.gap_min_s, self.settings.gap_max_s)

    def _hold_needed(self) -> float:
        """How long the face must hold still now: settle_s before the first prompt and
        after the last one; the random gap before every prompt."""
        first = self._index == 0
        last = self._index >= len(self.prompts)
        return (self.settings.settle_s if first or last else 0.0) + (0.0 if last else self._gap)

    def _wants_identity(self) -> bool:
        if self.done:
            return False
        if self._anchor is None:
            return True
        closing = self._phase == SETTLE and self._index >= len(self.prompts)
        return closing and not any(o.embedding is not None for o in self._window)

    def _fail(self, reason: str) -> None:
        if self._phase == PROMPT and self._prompt is not None:
            self._record(reason, completed=None)
        self._phase = FAILED
        self._reason = reason

    def _global_checks(self, obs: Observation) -> bool:
        s = self.settings
        if not obs.face:
            if self._last_face is not None and obs.t - self._last_face > s.max_face_absence_s:
                self._fail("face_lost")
                return False
            return True
        self._last_face = obs.t
        if obs.other_faces > 0:
            self._fail("other_face")
            return False
        if obs.embedding is not None:
            if self._anchor is None:
                self._anchor = np.asarray(obs.embedding, dtype=np.float32)
            else:
                distance = float(self.distance(self._anchor, obs.embedding))
                self._checks += 1
                self._max_distance_seen = max(self._max_distance_seen, distance)
                if distance > self.max_distance:
                    self._fail("face_changed")
                    return False
        return True

    def _settle(self, obs: Observation) -> None:
        s = self.settings
        if obs.t - self._settle_since > s.settle_timeout_s:
            self._fail("not_steady")
            return
        if self._home is not None and (
            abs(obs.yaw - self._home[0]) > s.neutral_band_deg or abs(obs.pitch - self._home[1]) > s.neutral_band_deg
        ):
            self._window = []
            return
        self._window.append(obs)
        yaws = [o.yaw for o in self._window]
        pitches = [o.pitch for o in self._window]
        if max(yaws) - min(yaws) > s.steady_band_deg or max(pitches) - min(pitches) > s.steady_band_deg:
            # Keep the longest steady tail ending at this frame.
            tail: list[Observation] = []
            for item in reversed(self._window):
                candidate = [item, *tail]
                ys = [o.yaw for o in candidate]
                ps = [o.pitch for o in candidate]
                if max(ys) - min(ys) > s.steady_band_deg or max(ps) - min(ps) > s.steady_band_deg:
                    break
                tail = candidate
            self._window = tail
        if obs.t - self._window[0].t < self._hold_needed() or self._anchor is None:
            return
        baseline = (
            statistics.median(o.yaw for o in self._window),
            statistics.median(o.pitch for o in self._window),
            statistics.median(o.openness for o in self._window),
        )
        if self._index >= len(self.prompts):
            candidates = [o for o in self._window if o.embedding is not None]
            if not candidates:
                return
            best = min(candidates, key=lambda o: abs(o.yaw - baseline[0]) + abs(o.pitch - baseline[1]))
            self._verification = best.ref
            self._phase = PASSED
            return
        if self._home is None:
            self._home = (baseline[0], baseline[1])
        self._phase = PROMPT
        self._prompt = _PromptState(shown_at=obs.t, baseline=baseline)

    def _record(self, outcome: str, completed: float | None) -> None:
        state = self._prompt
        assert state is not None and self._start is not None
        prompt = self.prompts[self._index]
        self._evidence.append(
            PromptEvidence(
                prompt=prompt,
                shown_at_s=state.shown_at - self._start,
                onset_s=state.onset,
                completed_s=completed,
                peak=state.min_ratio if prompt == BLINK_PROMPT else state.peak,
                blinks=state.closures,
                baseline=state.baseline,
                outcome=outcome,
            )
        )

    def _onset(self, elapsed: float) -> bool:
        """Record the answer's onset; False (and failed) when it is outside the window."""
        s = self.settings
        if elapsed < s.onset_min_s:
            self._fail("too_early")
            return False
        if elapsed > s.onset_max_s:
            self._fail("too_late")
            return False
        assert self._prompt is not None
        self._prompt.onset = elapsed
        return True

    def _answer(self, obs: Observation) -> None:
        s = self.settings
        state = self._prompt
        assert state is not None
        elapsed = obs.t - state.shown_at
        prompt = self.prompts[self._index]
        yaw_delta = obs.yaw - state.baseline[0]
        pitch_delta = obs.pitch - state.baseline[1]
        complete = False
        if prompt == BLINK_PROMPT:
            if abs(yaw_delta) >= s.wrong_move_deg or abs(pitch_delta) >= s.wrong_move_deg:
                self._fail("wrong_move")
                return
            ratio = obs.openness / state.baseline[2] if state.baseline[2] > 1e-6 else 1.0
            state.min_ratio = min(state.min_ratio, ratio)
            if not state.eyes_closed and ratio < s.blink_closed_ratio:
                state.eyes_closed = True
                state.closures += 1
                if state.closures == 1 and not self._onset(elapsed):
                    return
            elif state.eyes_closed and ratio > s.blink_open_ratio:
                state.eyes_closed = False
                complete = state.closures >= BLINKS_NEEDED
        else:
            axis, sign = HEAD_PROMPTS[prompt]
            along = sign * (yaw_delta if axis == "yaw" else pitch_delta)
            across = pitch_delta if axis == "yaw" else yaw_delta
            onset_deg = s.turn_onset_deg if axis == "yaw" else s.look_up_onset_deg
            complete_deg = s.turn_complete_deg if axis == "yaw" else s.look_up_complete_deg
            state.peak = max(state.peak, along)
            if along <= -s.wrong_move_deg:
                self._fail("wrong_direction")
                return
            # Real turns tip the head a little too; the answer is wrong only when the other
            # axis moved past wrong_move_deg and further than the asked one.
            if abs(across) >= s.wrong_move_deg and abs(across) > along and along < complete_deg:
                self._fail("wrong_move")
                return
            if state.onset is None and along >= onset_deg and not self._onset(elapsed):
                return
            complete = state.onset is not None and along >= complete_deg
        if complete and elapsed <= s.complete_within_s:
            self._record("ok", completed=elapsed)
            self._index += 1
            self._prompt = None
            self._phase = SETTLE
            self._settle_since = obs.t
            self._window = []
            self._gap = self._draw_gap()
            return
        if state.onset is None and elapsed > s.onset_max_s:
            self._fail("too_late")
        elif elapsed > s.complete_within_s:
            self._fail("timeout")
