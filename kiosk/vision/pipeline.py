"""The kiosk's face pipeline: image in, chosen face + embeddings + quality findings out.

Several embedding models may run on each face (``models.embedders``): each gets its own
chip, aligned onto its own template from the same five landmarks. The first one is the
primary model: its chip is the one the quality gates judge, and its distance is what the
"same face still there" checks (capture, liveness) use. Faces are matched on the fused
score of all of them (kiosk.flows.faces.FaceRules, kiosk.vision.fusion)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kiosk.config import Settings
from kiosk.config.vision import SAME_FACE_LEVEL_FAR, QualitySettings
from kiosk.errors import ImageError, ModelError
from kiosk.vision.align import align_face
from kiosk.vision.embedder import Embedder
from kiosk.vision.matcher import distances, fuse
from kiosk.vision.mtcnn import Face, MtcnnDetector, Net
from kiosk.vision.yunet import YunetDetector, YunetNet
from kiosk.vision.quality import Finding, assess

# A second face counts as "another person in the picture" when it is at least this big
# relative to the chosen one; smaller faces are passers-by far behind.
OTHER_FACE_MIN_RATIO = 0.5


# Embeddings of one face by model id (kiosk.manifest.Manifest.model_id).
Embeddings = dict[str, np.ndarray]


@dataclass
class FaceResult:
    face: Face
    chip: np.ndarray  # the primary model's aligned RGB chip
    embedding: np.ndarray  # the primary model's embedding
    findings: list[Finding]
    faces_found: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    embeddings: Embeddings = field(default_factory=dict)  # every model's, primary included


class Detector(Protocol):
    """What the pipeline needs of a face detector (MtcnnDetector, YunetDetector)."""

    def detect(self, image_rgb: np.ndarray) -> list[Face]: ...


# Which of the faces found to use, given the image's shape.
ChooseFace = Callable[[list[Face], tuple[int, ...]], Face]


def choose_largest(faces: list[Face], image_shape: tuple[int, ...]) -> Face:
    return faces[0]


def choose_central(faces: list[Face], image_shape: tuple[int, ...]) -> Face:
    """The face nearest the image centre (LFW labels that one)."""
    centre = np.array([image_shape[1] / 2, image_shape[0] / 2])
    return min(faces, key=lambda face: float(np.linalg.norm(face.center - centre)))


class FacePipeline:
    def __init__(self, detector: Detector, embedder: Embedder | Sequence[Embedder], quality: QualitySettings) -> None:
        """``embedder``: one embedding model, or several (the first is the primary)."""
        embedders = (embedder,) if isinstance(embedder, Embedder) else tuple(embedder)
        if not embedders:
            raise ModelError("no embedding model configured (models.embedders is empty)")
        names = [e.manifest.name for e in embedders]
        if len(set(names)) != len(names):
            raise ModelError(f"models.embedders names the same model twice: {', '.join(names)}")
        for each in embedders:
            if len(each.manifest.alignment_template) != 5:
                raise ModelError(f"{each.manifest.file}: the manifest has no 5-point alignment template")
        self.detector = detector
        self.embedders = embedders
        self.quality = quality
        self.templates = tuple(np.asarray(e.manifest.alignment_template, dtype=np.float64) for e in embedders)

    @property
    def embedder(self) -> Embedder:
        """The primary embedding model."""
        return self.embedders[0]

    @property
    def template(self) -> np.ndarray:
        """The primary model's alignment template."""
        return self.templates[0]

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(e.manifest.model_id for e in self.embedders)

    @classmethod
    def from_settings(cls, settings: Settings) -> "FacePipeline":
        models = settings.models
        detector: Detector
        if settings.detector.kind == "yunet":
            net = YunetNet.from_manifest(settings.model_manifest(models.yunet), models.num_threads, models.verify_hashes)
            detector = YunetDetector(net, settings.detector)
        else:
            pnet, rnet, onet = (
                Net.from_manifest(settings.model_manifest(name), models.num_threads, models.verify_hashes)
                for name in (models.pnet, models.rnet, models.onet)
            )
            # The pyramid's levels are cut by as many threads as LiteRT gets (at most 4).
            detector = MtcnnDetector(pnet, rnet, onet, settings=settings.detector,
                                     resize_workers=min(models.num_threads, 4))
        embedders = [
            Embedder.from_manifest(settings.model_manifest(name), models.num_threads, models.flip_tta, models.verify_hashes)
            for name in models.embedders
        ]
        return cls(detector, embedders, settings.quality)

    @property
    def metric(self) -> str:
        return self.embedder.manifest.distance

    def threshold(self, security_level: str) -> float:
        """The primary model's own distance threshold for one comparison at a level of
        :data:`SAME_FACE_LEVEL_FAR`: for "is it still the same face" checks."""
        far = SAME_FACE_LEVEL_FAR[security_level]
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
        embeddings: Embeddings = {}
        for index, embedder in enumerate(self.embedders):
            name = embedder.manifest.name
            model_chip = chip if index == 0 else align_face(image_rgb, face.landmarks, self.templates[index], embedder.chip_size)
            embeddings[embedder.manifest.model_id] = embedder.embed(model_chip)
            now = time.perf_counter()
            timings[f"embed:{name}"] = (now - start) * 1e3
            start = now
        timings["embed"] = sum(v for k, v in timings.items() if k.startswith("embed:"))
        return FaceResult(face, chip, embeddings[self.embedder.manifest.model_id], findings, len(faces), timings, embeddings)

    def distance(self, probe: np.ndarray, templates: np.ndarray, fusion: str = "min") -> float:
        return fuse(distances(probe, templates, self.metric), fusion)
