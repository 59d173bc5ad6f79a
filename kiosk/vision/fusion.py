"""One score from several face models, and the operating points that go with it.

Each model's distance is z-normalised by its own impostor statistics, ``(d - mean) /
std`` (so "how unusual is this distance for two different people"), and the models a
comparison has are combined as a weighted mean of those z-scores. Lower is more alike,
as with a distance. Everything here comes from a fusion manifest (``models/fusion.json``)
written by ``benchmarks/lfw.py --write-fusion`` from LFW View 1 DevTrain:

* per model: its impostor mean and standard deviation, and its weight;
* per set of models present (``"dlib_resnet_v1+sface_2021dec"``, or one model alone, for
  a person who has templates of only one): thresholds by false accept rate, for one
  comparison and for one attempt (the mean score of ``attempt_frames`` good pictures of
  one tracked face), and the impostor score tail (FAR -> threshold, measured, then
  extrapolated below what the data can measure) for the duplicate check, whose
  per-comparison false accept rate must shrink as the gallery grows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from kiosk.errors import ModelError
from kiosk.manifest import Manifest

FUSION_VERSION = 1


def models_key(models: Iterable[str]) -> str:
    """The key of a set of models: their names, sorted, joined by "+"."""
    return "+".join(sorted(set(models)))


@dataclass(frozen=True)
class ModelStats:
    """One model's impostor distance statistics (DevTrain) and its weight in the fusion."""

    impostor_mean: float
    impostor_std: float
    weight: float = 1.0

    def z(self, distance: float) -> float:
        return (distance - self.impostor_mean) / self.impostor_std


@dataclass(frozen=True)
class OperatingPoints:
    """Thresholds on the fused score for one set of models.

    ``comparison``: FAR ("1e-3") -> threshold for one picture against a person's
    templates. ``attempt``: FAR -> threshold for the mean of ``attempt_frames`` pictures.
    ``tail``: (FAR, threshold) pairs, FAR decreasing, for any FAR (duplicate check)."""

    comparison: dict[str, float]
    attempt: dict[str, float] = field(default_factory=dict)
    tail: tuple[tuple[float, float], ...] = ()

    def threshold_at(self, far: float) -> float:
        """The threshold for a per-comparison FAR, interpolated in log-FAR along the tail
        (clamped at its ends)."""
        if not self.tail:
            raise ModelError("the fusion manifest has no impostor tail for this set of models")
        points = sorted(self.tail, key=lambda p: -p[0])
        if far >= points[0][0]:
            return points[0][1]
        for (far_hi, thr_hi), (far_lo, thr_lo) in zip(points, points[1:]):
            if far_lo <= far <= far_hi:
                t = (math.log10(far) - math.log10(far_hi)) / (math.log10(far_lo) - math.log10(far_hi))
                return thr_hi + t * (thr_lo - thr_hi)
        return points[-1][1]


@dataclass(frozen=True)
class Fusion:
    """How distances of several models become one score, and its thresholds."""

    models: dict[str, ModelStats]
    points: dict[str, OperatingPoints]
    attempt_frames: int = 3
    source: dict[str, Any] = field(default_factory=dict)

    def score(self, distances: Mapping[str, float]) -> float:
        """The fused score of one comparison from each model's distance (models without
        a distance, or not in this fusion, are left out); inf when none is usable."""
        used = [(self.models[name], d) for name, d in distances.items() if name in self.models and math.isfinite(d)]
        if not used:
            return math.inf
        total = sum(stats.weight for stats, _ in used)
        return sum(stats.weight * stats.z(d) for stats, d in used) / total

    def operating_points(self, models: Iterable[str]) -> OperatingPoints:
        key = models_key(name for name in models if name in self.models)
        try:
            return self.points[key]
        except KeyError:
            raise ModelError(f"the fusion manifest has no thresholds for the models {key or '(none)'}") from None

    def comparison_threshold(self, models: Iterable[str], far: str) -> float:
        return _lookup(self.operating_points(models).comparison, far)

    def attempt_threshold(self, models: Iterable[str], far: str) -> float:
        return _lookup(self.operating_points(models).attempt, far)

    def to_json(self) -> str:
        data = {
            "fusion_version": FUSION_VERSION,
            "attempt_frames": self.attempt_frames,
            "models": {name: vars(stats) for name, stats in self.models.items()},
            "points": {
                key: {"comparison": p.comparison, "attempt": p.attempt, "tail": [list(t) for t in p.tail]}
                for key, p in self.points.items()
            },
            "source": self.source,
        }
        return json.dumps(data, indent=2) + "\n"


def _lookup(table: Mapping[str, float], far: str) -> float:
    if far not in table:
        raise ModelError(f"the fusion manifest has no threshold for FAR {far}")
    return float(table[far])


def load_fusion(path: Path) -> Fusion:
    """Read a fusion manifest; ModelError (one line, naming the file) if it is unusable."""
    try:
        data = json.loads(Path(path).read_text())
        if data.get("fusion_version") != FUSION_VERSION:
            raise ValueError(f"fusion_version {data.get('fusion_version')!r}, expected {FUSION_VERSION}")
        models = {
            name: ModelStats(float(m["impostor_mean"]), float(m["impostor_std"]), float(m.get("weight", 1.0)))
            for name, m in data["models"].items()
        }
        if not models or any(stats.impostor_std <= 0 or stats.weight < 0 for stats in models.values()):
            raise ValueError("every model needs a positive impostor_std and a weight >= 0")
        points = {
            key: OperatingPoints(
                {str(k): float(v) for k, v in p["comparison"].items()},
                {str(k): float(v) for k, v in p.get("attempt", {}).items()},
                tuple((float(a), float(b)) for a, b in p.get("tail", [])),
            )
            for key, p in data["points"].items()
        }
        frames = int(data.get("attempt_frames", 3))
        if frames < 1:
            raise ValueError("attempt_frames must be at least 1")
        return Fusion(models, points, frames, dict(data.get("source", {})))
    except FileNotFoundError:
        raise ModelError(f"{path}: fusion manifest not found (make models, or benchmarks/lfw.py --write-fusion)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ModelError(f"{path}: not a usable fusion manifest: {err}") from None


def single_model(manifest: Manifest) -> Fusion:
    """A "fusion" of one model without fusion statistics: the score is the model's own
    distance (mean 0, std 1) and its thresholds are the manifest's, so a per-attempt FAR
    uses the per-comparison threshold at that FAR (the mean of several pictures of an
    impostor passes it less often than one picture does). No duplicate-check tail."""
    thresholds = {far: float(t) for far, t in manifest.thresholds.items()}
    # The duplicate check's tail is the calibrated points only: below the smallest FAR
    # calibrated it stays at that threshold (no extrapolation without statistics).
    tail = tuple(sorted(((float(far), t) for far, t in thresholds.items()), reverse=True))
    points = OperatingPoints(thresholds, dict(thresholds), tail)
    return Fusion({manifest.name: ModelStats(0.0, 1.0, 1.0)}, {models_key([manifest.name]): points}, 1,
                  {"method": f"{manifest.name} alone, thresholds from its manifest"})


def fusion_for(manifests: list[Manifest], path: Path, flip_tta: bool | None = None) -> Fusion:
    """The fusion of the configured models: the manifest at ``path``, which must know
    every model when there are several; one model it does not know uses its own
    manifest's thresholds (:func:`single_model`). ModelError (one line) otherwise, and
    when the fusion was calibrated with another mirror-averaging setting than
    ``flip_tta`` (its statistics and thresholds would not hold)."""
    names = [m.name for m in manifests]
    if Path(path).is_file():
        fusion = load_fusion(path)
        if all(name in fusion.models for name in names) and models_key(names) in fusion.points:
            calibrated = {name: info.get("flip_tta") for name, info in fusion.source.get("models", {}).items()
                          if isinstance(info, dict)}
            wrong = [name for name in names if flip_tta is not None and calibrated.get(name) not in (None, flip_tta)]
            if wrong:
                raise ModelError(f"{path} was calibrated with flip_tta {calibrated[wrong[0]]} for {', '.join(wrong)}, "
                                 f"but models.flip_tta is {flip_tta}: set it back or run benchmarks/lfw.py --write-fusion")
            return fusion
        if len(manifests) > 1:
            missing = [name for name in names if name not in fusion.models]
            raise ModelError(f"{path}: the fusion manifest has no statistics for {', '.join(missing) or models_key(names)}; "
                             "run benchmarks/lfw.py --embedders ... --write-fusion")
    elif len(manifests) > 1:
        raise ModelError(f"{path}: fusion manifest not found; several models need one (make models)")
    return single_model(manifests[0])
