"""The kiosk's face pipeline: image in, chosen face + embedding + quality findings out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kiosk.config import Settings
from kiosk.config.vision import SECURITY_LEVEL_FAR, QualitySettings
from kiosk.errors import ImageError, ModelError
from kiosk.vision.align import align_face
from kiosk.vision.embedder import Embedder
from kiosk.vision.matcher import distances, fuse
from kiosk.vision.mtcnn import Face, MtcnnDetector, Net
from kiosk.vision.quality import Finding, assess

# A second face counts as "another person in the picture" when it is at least this big
# relative to the chosen one; smaller faces are passers-by far behind.
OTHER_FACE_MIN_RATIO = 0.5


@dataclass
class FaceResult:
    face: Face
    chip: np.ndarray  # aligned RGB chip fed to the embedder
    embedding: np.ndarray
    findings: list[Finding]
    faces_found: int
    timings_ms: dict[str, float] = field(default_factory=dict)


# Which of the faces found to use, given the image's shape.
ChooseFace = Callable[[list[Face], tuple[int, ...]], Face]


def choose_largest(faces: list[Face], image_shape: tuple[int, ...]) -> Face:
    return faces[0]


def choose_central(faces: list[Face], image_shape: tuple[int, ...]) -> Face:
    """The face nearest the image centre (LFW labels that one)."""
    centre = np.array([image_shape[1] / 2, image_shape[0] / 2])
    return min(faces, key=lambda face: float(np.linalg.norm(face.center - centre)))


class FacePipeline:
    def __init__(self, detector: MtcnnDetector, embedder: Embedder, quality: QualitySettings) -> None:
        template = embedder.manifest.alignment_template
        if len(template) != 5:
            raise ModelError(f"{embedder.manifest.file}: the manifest has no 5-point alignment template")
        self.detector = detector
        self.embedder = embedder
        self.quality = quality
        self.template = np.asarray(template, dtype=np.float64)

    @classmethod
    def from_settings(cls, settings: Settings) -> "FacePipeline":
        models = settings.models
        pnet, rnet, onet = (
            Net.from_manifest(settings.model_manifest(name), models.num_threads, models.verify_hashes)
            for name in (models.pnet, models.rnet, models.onet)
        )
        detector = MtcnnDetector(pnet, rnet, onet, settings=settings.detector)
        embedder = Embedder.from_manifest(
            settings.model_manifest(models.embedder), models.num_threads, models.flip_tta, models.verify_hashes
        )
        return cls(detector, embedder, settings.quality)

    @property
    def metric(self) -> str:
        return self.embedder.manifest.distance

    def threshold(self, security_level: str) -> float:
        far = SECURITY_LEVEL_FAR[security_level]
        thresholds = self.embedder.manifest.thresholds
        if far not in thresholds:
            raise ModelError(
                f"{self.embedder.manifest.file} has no calibrated threshold for FAR {far}: "
                "run benchmarks/lfw.py --calibrate-on ... --write-manifest"
            )
        return float(thresholds[far])

    def align_points(self, image_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The embedder's chip for a face with these five landmarks."""
        return align_face(image_rgb, landmarks, self.template, self.embedder.chip_size)

    def analyze(self, image_rgb: np.ndarray, choose: ChooseFace = choose_largest) -> FaceResult:
        """Detect, choose one face, align, assess and embed it. No face: ImageError."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        faces = self.detector.detect(image_rgb)
        timings["detect"] = (time.perf_counter() - start) * 1e3
        if not faces:
            raise ImageError("no face found")
        face = choose(faces, image_rgb.shape)
        others = sum(1 for other in faces if other is not face and other.width >= OTHER_FACE_MIN_RATIO * face.width)

        start = time.perf_counter()
        chip = self.align_points(image_rgb, face.landmarks)
        timings["align"] = (time.perf_counter() - start) * 1e3

        start = time.perf_counter()
        findings = assess(image_rgb.shape[1], face.box, face.landmarks, chip, others, self.quality)
        timings["quality"] = (time.perf_counter() - start) * 1e3

        start = time.perf_counter()
        embedding = self.embedder.embed(chip)
        timings["embed"] = (time.perf_counter() - start) * 1e3
        return FaceResult(face, chip, embedding, findings, len(faces), timings)

    def distance(self, probe: np.ndarray, templates: np.ndarray, fusion: str = "min") -> float:
        return fuse(distances(probe, templates, self.metric), fusion)
