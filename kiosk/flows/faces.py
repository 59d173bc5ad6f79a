"""What the flows know about a face: one analysed camera frame, the matching rules, and the
guidance line shown to the person in front of the camera."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

import numpy as np

from kiosk.i18n import N_, Text
from kiosk.liveness.challenge import Status
from kiosk.vision.fusion import Fusion
from kiosk.errors import ModelError
from kiosk.vision.matcher import Gallery, Match, distances, fuse

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
    "looks_down": N_("Lift your chin and look at the camera"),
    "looks_up": N_("Lower your chin a little"),
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
    embeddings: dict[str, np.ndarray] | None = None  # every model's, by model id (primary included)

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


# Embeddings of one face, and a person's templates, by model id (Manifest.model_id).
Embeddings = dict[str, np.ndarray]
Templates = dict[str, np.ndarray]


@dataclass(frozen=True)
class ModelRule:
    """One embedding model the kiosk runs: its store tag, its family name (the fusion
    manifest's key) and its distance."""

    model_id: str
    name: str
    metric: str


@dataclass(frozen=True)
class FaceRules:
    """How faces are compared: every configured model's distance to a person's templates,
    fused into one score (kiosk.vision.fusion), against thresholds for the security level.

    ``far``: the per-attempt false accept rate of the security level ("1e-4").
    ``attempt_frames``: the pictures of one face a reset decides on; with fewer, the
    stricter per-comparison threshold applies. ``same_face_threshold``: the primary
    model's own distance for "still the same face" (enrollment capture).
    ``duplicate_false_refusals``: the share of genuinely new people the duplicate check
    may refuse whatever the gallery's size (its threshold shrinks as the gallery grows).
    ``nearest_only``: an accepted attempt must also be nearest to its account of everyone
    enrolled (:meth:`nearer_other`)."""

    models: tuple[ModelRule, ...]
    fusion: Fusion
    far: str
    template_fusion: str  # "mean" or "min" over a person's templates
    same_face_threshold: float
    attempt_frames: int = 3
    duplicate_false_refusals: float = 0.01
    nearest_only: bool = True

    @property
    def model_id(self) -> str:
        """The primary model's id (its templates are required of every new enrollment)."""
        return self.models[0].model_id

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(model.model_id for model in self.models)

    def probe(self, embedding: np.ndarray | None, embeddings: Embeddings | None = None) -> Embeddings:
        """A face's embeddings by model id; an embedding alone is the primary model's."""
        if embeddings:
            return embeddings
        return {} if embedding is None else {self.model_id: np.asarray(embedding, dtype=np.float32)}

    def _names(self, templates: Templates | None) -> list[str]:
        if not templates:
            return []
        return [m.name for m in self.models if m.model_id in templates and len(templates[m.model_id])]

    def distances(self, probe: Embeddings, templates: Templates | None) -> dict[str, float]:
        """Each model's distance from the probe to the person's templates, by model name."""
        result: dict[str, float] = {}
        for model in self.models:
            rows = templates.get(model.model_id) if templates else None
            if rows is None or len(rows) == 0 or model.model_id not in probe:
                continue
            result[model.name] = fuse(distances(probe[model.model_id], rows, model.metric), self.template_fusion)
        return result

    def score(self, probe: Embeddings, templates: Templates | None) -> float:
        """The fused score (lower: more alike); inf when no model can compare."""
        return self.fusion.score(self.distances(probe, templates))

    def comparison_threshold(self, templates: Templates | None = None) -> float:
        """The threshold for one picture, at the level's per-attempt FAR, for the models
        the person has templates of (default: all configured)."""
        names = self._names(templates) if templates is not None else [m.name for m in self.models]
        return self.fusion.comparison_threshold(names, self.far) if names else -math.inf

    def attempt_threshold(self, templates: Templates | None, frames: int) -> float:
        """The threshold for the mean score of ``frames`` pictures of one face."""
        names = self._names(templates) if templates is not None else [m.name for m in self.models]
        if not names:
            return -math.inf
        if frames >= self.attempt_frames:
            return self.fusion.attempt_threshold(names, self.far)
        return self.fusion.comparison_threshold(names, self.far)

    @property
    def verify_threshold(self) -> float:
        """The per-comparison threshold with every configured model (for reports)."""
        return self.comparison_threshold()

    def same_face(self, probe: np.ndarray, rows: np.ndarray) -> bool:
        """The primary model says ``probe`` is the face of ``rows`` (one comparison)."""
        primary = self.models[0]
        return fuse(distances(probe, rows, primary.metric), self.template_fusion) <= self.same_face_threshold

    def duplicate_threshold(self, names: Iterable[str], gallery_people: int) -> float:
        """The fused-score threshold of the duplicate check for a gallery of this many
        people: the per-comparison FAR is ``duplicate_false_refusals / people``."""
        far = self.duplicate_false_refusals / max(1, gallery_people)
        return self.fusion.operating_points(names).threshold_at(far)

    def people_scores(self, gallery: Callable[[str, str], Gallery],
                      probes: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Every enrolled person's fused score against ``probes`` (by model id, one row per
        picture): (user ids, fused scores, which models each person had, model names).

        Each model: the probe pictures against every enrolled template, averaged over the
        pictures, then over each person's templates (``template_fusion``), z-normalised;
        the models a person has are fused with the fusion's weights."""
        names: list[str] = []
        people: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for model in self.models:
            rows = probes.get(model.model_id)
            stats = self.fusion.models.get(model.name)
            if rows is None or stats is None:
                continue
            enrolled = gallery(model.model_id, model.metric)
            if not len(enrolled):
                continue
            per_template = np.atleast_2d(enrolled.all_distances(rows)).mean(axis=0)
            owners, inverse = enrolled.people
            if self.template_fusion == "min":
                per_person = np.full(len(owners), np.inf)
                np.minimum.at(per_person, inverse, per_template)
            else:
                per_person = np.bincount(inverse, per_template) / np.bincount(inverse)
            names.append(model.name)
            people.append(owners)
            scores.append((per_person - stats.impostor_mean) / stats.impostor_std)
        if not names:
            return np.empty(0, dtype=str), np.empty(0), np.zeros((0, 0), dtype=bool), []
        # Usually every person has every model: then each model's people (sorted, cached
        # with its gallery) are the same list, and the merge of 100,000 ids (~0.2 s) is not
        # needed.
        same_people = all(len(other) == len(people[0]) and np.array_equal(other, people[0]) for other in people[1:])
        everyone = people[0] if same_people else np.unique(np.concatenate(people))
        weighted = np.zeros(len(everyone))
        weights = np.zeros(len(everyone))
        present = np.zeros((len(names), len(everyone)), dtype=bool)
        for i, name in enumerate(names):
            where = np.arange(len(everyone)) if same_people else np.searchsorted(everyone, people[i])
            weight = self.fusion.models[name].weight
            weighted[where] += weight * scores[i]
            weights[where] += weight
            present[i, where] = True
        return everyone, weighted / np.maximum(weights, 1e-12), present, names

    def find_duplicate(self, gallery: Callable[[str, str], Gallery], templates: Mapping[str, np.ndarray]) -> Match | None:
        """The enrolled person most like the new one, if their fused score is under the
        duplicate threshold for this gallery's size (kiosk.store.gallery.DuplicateSearch);
        scores as :meth:`people_scores`, each set of models with its own threshold."""
        everyone, fused, present, names = self.people_scores(gallery, templates)
        if not names:
            return None
        thresholds = np.full(len(everyone), -np.inf)
        # Each person's set of models as a bit pattern, one threshold per distinct set.
        patterns = (present.T.astype(np.int64) << np.arange(len(names))).sum(axis=1)
        for pattern in np.unique(patterns):
            subset = [name for bit, name in enumerate(names) if pattern >> bit & 1]
            try:
                limit = self.duplicate_threshold(subset, len(everyone))
            except ModelError:
                continue  # no tail for this set of models: not searched
            thresholds[patterns == pattern] = limit
        hits = np.flatnonzero(fused <= thresholds)
        if not len(hits):
            return None
        best = hits[np.argmin(fused[hits])]
        return Match(owner=str(everyone[best]), distance=float(fused[best]), index=-1)

    def nearer_other(self, gallery: Callable[[str, str], Gallery], probes: Mapping[str, np.ndarray],
                     user_id: str) -> Match | None:
        """Another enrolled person whom ``probes`` (an accepted attempt's pictures) are more
        like than ``user_id``, the person they were accepted for; None when ``user_id``
        is the nearest (ties go to ``user_id``) or is not in the gallery.

        The rule "a face opens only the account it is nearest to" keeps a face that
        happens to lie close to many people (a wolf) from opening more than one of them:
        measured on LFW it cut the worst probe person's share of accounts it could open
        from 0.16% to 0.10% at the default level, refusing no genuine attempt (README)."""
        everyone, fused, _, names = self.people_scores(gallery, probes)
        if not names:
            return None
        own = np.flatnonzero(everyone == user_id)
        if not len(own):
            return None
        claimed = fused[own[0]]
        others = np.flatnonzero((fused < claimed) & (everyone != user_id))
        if not len(others):
            return None
        best = others[np.argmin(fused[others])]
        return Match(owner=str(everyone[best]), distance=float(fused[best]), index=-1)

    @classmethod
    def from_pipeline(cls, pipeline: FacePipeline, settings: Settings, fusion: Fusion | None = None) -> "FaceRules":
        """The rules of ``pipeline``'s models with the settings' security level; the
        fusion manifest is read from ``models.fusion`` unless given. ModelError (one
        line) when a threshold the level needs is missing."""
        from kiosk.config.vision import SECURITY_LEVEL_FAR
        from kiosk.vision.fusion import fusion_for

        verification = settings.verification
        models = tuple(ModelRule(e.manifest.model_id, e.manifest.name, e.manifest.distance) for e in pipeline.embedders)
        if fusion is None:
            fusion = fusion_for([e.manifest for e in pipeline.embedders], settings.model_manifest(settings.models.fusion),
                                settings.models.flip_tta)
        rules = cls(
            models=models,
            fusion=fusion,
            far=SECURITY_LEVEL_FAR[verification.security_level],
            template_fusion=verification.template_fusion,
            same_face_threshold=pipeline.threshold(verification.same_face_security_level),
            attempt_frames=fusion.attempt_frames,
            duplicate_false_refusals=verification.duplicate_false_refusals,
            nearest_only=verification.nearest_only,
        )
        rules.comparison_threshold()  # the level's thresholds exist (else ModelError now)
        rules.attempt_threshold(None, rules.attempt_frames)
        return rules


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
        embeddings={model: np.asarray(vector, dtype=np.float32) for model, vector in result.embeddings.items()} or None,
        faces=int(result.faces_found),
        yaw_deg=float(estimate_pose(landmarks).yaw_deg),
        analysis_ms=analysis_ms,
    )
