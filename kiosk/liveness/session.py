"""One liveness check, driven frame by frame by a flow (e.g. "forgot password").

Usage (the flow owns the camera and the screen)::

    models = LivenessModels.from_settings(settings)          # once, at start-up
    session = LivenessSession(settings.liveness, models.landmarker, pipeline, random.SystemRandom())
    while True:
        frame = grabber.latest()                               # a new frame (skip repeats)
        status = session.feed(frame.image, frame.at)           # before drawing this frame
        draw(status)                                           # settle: "look at the camera";
                                                               # prompt: status.prompt's arrow/icon
        if status.done:
            break
    result = session.result        # .passed, .reason, .verification (FaceResult), .to_audit()

``feed`` takes ~10 ms (landmarks) and, about twice a second, a detection plus an
embedding; the last frame also scores the passive cues. A flow that must keep drawing
at full rate runs ``feed`` on a worker thread and draws the last status it returned.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.config import Settings
from kiosk.config.liveness import LivenessSettings
from kiosk.errors import ImageError
from kiosk.liveness.challenge import Challenge, ChallengeResult, Observation, Status, draw_prompts
from kiosk.liveness.geometry import eye_openness, head_pose
from kiosk.liveness.landmarks import Landmarker, Landmarks, LandmarkTracker
from kiosk.liveness.passive import PassiveCollector, PassiveResult
from kiosk.vision.mtcnn import Face
from kiosk.vision.pipeline import OTHER_FACE_MIN_RATIO, FacePipeline, FaceResult

log = logging.getLogger("kiosk.liveness")


@dataclass(frozen=True)
class LivenessModels:
    landmarker: Landmarker

    @classmethod
    def from_settings(cls, settings: Settings) -> "LivenessModels":
        models = settings.models
        return cls(
            Landmarker.from_manifests(
                settings.model_manifest(settings.liveness.landmark_model),
                settings.model_manifest(settings.liveness.eye_model),
                models.num_threads,
                models.verify_hashes,
            )
        )


@dataclass(frozen=True)
class Verification:
    """The frame the decision is made on: from inside the challenge, after every answer."""

    image: np.ndarray
    face: FaceResult


@dataclass(frozen=True)
class LivenessResult:
    passed: bool
    reason: str  # "" when passed; a challenge failure code; or "passive:<cue>[,<cue>]"
    challenge: ChallengeResult
    passive: PassiveResult | None  # scored when the challenge passed
    verification: Verification | None

    def to_audit(self) -> dict[str, Any]:
        """The audit log's record: prompts, onsets, scores; no images, no embeddings."""
        return {
            "passed": self.passed,
            "reason": self.reason,
            "challenge": self.challenge.to_dict(),
            "passive": None if self.passive is None else self.passive.to_dict(),
        }


@dataclass(frozen=True)
class Measurement:
    observation: Observation
    landmarks: Landmarks | None
    face: FaceResult | None  # when an embedding was computed on this frame
    landmark_ms: float = 0.0  # time spent finding the landmarks (detector included when it ran)


class FrameMeasurer:
    """Turns frames into the challenge's observations: landmarks every frame, and an
    embedding of the tracked face when asked for."""

    def __init__(self, landmarker: Landmarker, pipeline: FacePipeline) -> None:
        self.pipeline = pipeline
        self.tracker = LandmarkTracker(landmarker, pipeline.detector.detect)

    def measure(self, image_rgb: np.ndarray, t: float, identity: bool) -> Measurement:
        start = time.perf_counter()
        detections = self.tracker.detections
        landmarks = self.tracker(image_rgb)
        landmark_ms = (time.perf_counter() - start) * 1e3
        # The tracker lost the face and the detector found one again: it may be another
        # face, so it is identified on this very frame.
        identity = identity or self.tracker.detections != detections
        if landmarks is None:
            return Measurement(Observation(t=t, face=False), None, None, landmark_ms)
        pose = head_pose(landmarks.points)
        openness = eye_openness(landmarks.lids)
        embedding, others, face = None, 0, None
        if identity:
            face, others = self._identify(image_rgb, landmarks)
            embedding = None if face is None else face.embedding
        observation = Observation(
            t=t,
            face=True,
            yaw=pose.yaw,
            pitch=pose.pitch,
            openness=openness,
            embedding=embedding,
            other_faces=others,
            ref=None if face is None else Verification(image_rgb, face),
        )
        return Measurement(observation, landmarks, face, landmark_ms)

    def _identify(self, image_rgb: np.ndarray, landmarks: Landmarks) -> tuple[FaceResult | None, int]:
        """Embed the detector's face that is the tracked one; count other big faces."""
        box = landmarks.box
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        seen: list[Face] = []

        def tracked(faces: list[Face], shape: tuple[int, ...]) -> Face:
            seen.extend(faces)
            return min(faces, key=lambda face: float(np.linalg.norm(face.center - centre)))

        try:
            result = self.pipeline.analyze(image_rgb, choose=tracked)
        except ImageError:
            return None, 0
        x1, y1, x2, y2 = result.face.box
        if not (x1 <= centre[0] <= x2 and y1 <= centre[1] <= y2):
            # The detector's faces are all elsewhere: the tracked face cannot be vouched for.
            return None, len(seen)
        others = sum(1 for face in seen if face is not result.face and face.width >= OTHER_FACE_MIN_RATIO * result.face.width)
        return result, others


class LivenessSession:
    def __init__(
        self,
        settings: LivenessSettings,
        landmarker: Landmarker,
        pipeline: FacePipeline,
        rng: random.Random,
        prompts: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.measurer = FrameMeasurer(landmarker, pipeline)
        self.prompts = list(prompts) if prompts is not None else draw_prompts(rng, settings)
        self.challenge = Challenge(
            self.prompts,
            settings,
            distance=lambda a, b: pipeline.distance(a, np.asarray(b)[None]),
            max_distance=pipeline.threshold(settings.same_face_security_level),
            rng=rng,
        )
        self.passive = PassiveCollector(settings.passive)
        self._last_identity = -np.inf
        self._result: LivenessResult | None = None
        self._landmarks: Landmarks | None = None
        self._face_seen = False

    @property
    def status(self) -> Status:
        return self.challenge.status()

    @property
    def result(self) -> LivenessResult | None:
        """None until the challenge has ended."""
        return self._result

    def feed(self, image_rgb: np.ndarray, t: float) -> Status:
        """Measure one camera frame (RGB, taken at monotonic time ``t``) and advance."""
        status = self.challenge.status()
        if status.done:
            return status
        identity = status.wants_identity or t - self._last_identity >= self.settings.identity_every_s
        measurement = self.measurer.measure(image_rgb, t, identity)
        self._landmarks = measurement.landmarks
        if identity and measurement.landmarks is not None:
            self._last_identity = t
        if measurement.landmarks is None and not self._face_seen:
            # Nobody in view yet (the person is still stepping up): the challenge's clock
            # starts with the first face, so an empty picture cannot fail it; the caller's
            # own time limit ends a wait that goes on too long.
            return status
        self._face_seen = True
        if measurement.landmarks is not None:
            self.passive.add(t, image_rgb, measurement.landmarks.points)
        status = self.challenge.update(measurement.observation)
        if status.done:
            self._finish()
        return status

    def tracked_box(self) -> np.ndarray | None:
        """The tracked face's box (x1, y1, x2, y2) on the last frame fed; None if lost."""
        return None if self._landmarks is None else self._landmarks.box

    def abort(self, reason: str, t: float) -> Status:
        """End the check as failed (the person left, the flow was cancelled, ...)."""
        status = self.challenge.abort(reason, t)
        if self._result is None:
            self._finish()
        return status

    def _finish(self) -> None:
        challenge = self.challenge.result
        if not challenge.passed:
            self._result = LivenessResult(False, challenge.reason, challenge, None, None)
            return
        try:
            passive = self.passive.evaluate()
        except Exception:  # noqa: BLE001 - a bug in a cue must fail the check, not the kiosk
            log.exception("passive liveness cues failed")
            self._result = LivenessResult(False, "passive_error", challenge, None, None)
            return
        reason = "passive:" + ",".join(passive.flagged_by) if passive.flagged else ""
        self._result = LivenessResult(not passive.flagged, reason, challenge, passive, challenge.verification_ref)
