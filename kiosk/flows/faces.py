"""What the flows know about a face: one analysed camera frame, the matching rules, and the
guidance line shown to the person in front of the camera."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from kiosk.i18n import N_, Text
from kiosk.liveness.challenge import Status

if TYPE_CHECKING:
    from kiosk.config import Settings
    from kiosk.vision.pipeline import FacePipeline, FaceResult

# One line per quality finding code (kiosk.vision.quality.GUIDANCE), said to the person.
GUIDANCE = {
    "too_small": N_("Move closer"),
    "too_large": N_("Move back a little"),
    "blurry": N_("Hold still"),
    "too_dark": N_("More light, please"),
    "too_bright": N_("Too bright: avoid direct light"),
    "pose": N_("Look straight at the camera"),
    "multiple_faces": N_("One person at a time, please"),
}
NO_FACE = N_("Look at the camera")
UNKNOWN_PROBLEM = N_("Look straight at the camera")


@dataclass(frozen=True)
class FaceObservation:
    """The face worker's findings on one camera frame (no face: ``box`` is None)."""

    frame_seq: int
    frame_size: tuple[int, int]  # width, height of the analysed frame
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in frame pixels
    landmarks: np.ndarray | None = None  # (5, 2): eyes, nose, mouth corners
    findings: tuple[str, ...] = ()  # quality finding codes, most actionable first
    embedding: np.ndarray | None = None
    faces: int = 0
    yaw_deg: float | None = None
    analysis_ms: float = 0.0
    liveness: Status | None = None  # the challenge's state after this frame, during one

    @property
    def has_face(self) -> bool:
        return self.box is not None

    @property
    def good(self) -> bool:
        """A face clear enough to enroll or compare."""
        return self.box is not None and not self.findings and self.embedding is not None


def guidance_for(observation: FaceObservation) -> Text | None:
    """What to tell the person about this frame; None when the face is good."""
    if not observation.has_face:
        return NO_FACE
    if observation.findings:
        return GUIDANCE.get(observation.findings[0], UNKNOWN_PROBLEM)
    return None


@dataclass(frozen=True)
class FaceRules:
    """How faces are compared, from the pipeline's calibration and the config."""

    model_id: str  # templates are stored and looked up under this
    verify_threshold: float  # distance at or below which a face matches (1:1)
    duplicate_threshold: float  # Euclidean distance for the store's 1:N duplicate check
    fusion: str  # "mean" or "min" over a person's templates
    distance: Callable[[np.ndarray, np.ndarray, str], float]

    def score(self, probe: np.ndarray, templates: np.ndarray | None) -> float:
        if templates is None or len(templates) == 0:
            return math.inf
        return float(self.distance(probe, templates, self.fusion))

    def matches(self, probe: np.ndarray, templates: np.ndarray | None) -> bool:
        return self.score(probe, templates) <= self.verify_threshold

    @classmethod
    def from_pipeline(cls, pipeline: FacePipeline, settings: Settings) -> "FaceRules":
        """``pipeline``: a kiosk.vision.pipeline.FacePipeline; ``settings``: the Settings."""
        verification = settings.verification
        duplicate = pipeline.threshold(verification.duplicate_security_level)
        return cls(
            model_id=pipeline.embedder.manifest.model_id,
            verify_threshold=pipeline.threshold(verification.security_level),
            duplicate_threshold=euclidean_threshold(duplicate, pipeline.metric),
            fusion=verification.template_fusion,
            distance=pipeline.distance,
        )


def euclidean_threshold(threshold: float, metric: str) -> float:
    """The store's duplicate search is Euclidean; a cosine threshold is converted.

    For unit-length embeddings |a - b|^2 = 2 * (1 - cos), so a cosine distance t is the
    Euclidean distance sqrt(2 t). (Every embedding model the kiosk ships with a cosine
    metric normalises its embeddings.)
    """
    if metric == "euclidean":
        return float(threshold)
    if metric == "cosine":
        return math.sqrt(2.0 * float(threshold))
    raise ValueError(f"unknown distance metric {metric!r}")


def observation_from(result: FaceResult | None, frame_seq: int, frame_shape: tuple[int, ...], analysis_ms: float = 0.0) -> FaceObservation:
    """A FaceObservation from a pipeline FaceResult (``result`` None: no face found)."""
    height, width = frame_shape[:2]
    if result is None:
        return FaceObservation(frame_seq, (width, height), analysis_ms=analysis_ms)
    from kiosk.vision.quality import estimate_pose

    face = result.face
    x1, y1, x2, y2 = (float(v) for v in np.asarray(face.box, dtype=np.float64)[:4])
    landmarks = np.asarray(face.landmarks, dtype=np.float32).reshape(5, 2)
    return FaceObservation(
        frame_seq=frame_seq,
        frame_size=(width, height),
        box=(x1, y1, x2, y2),
        landmarks=landmarks,
        findings=tuple(finding.code for finding in result.findings),
        embedding=np.asarray(result.embedding, dtype=np.float32),
        faces=int(result.faces_found),
        yaw_deg=float(estimate_pose(landmarks).yaw_deg),
        analysis_ms=analysis_ms,
    )
