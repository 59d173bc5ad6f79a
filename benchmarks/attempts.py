"""Per-attempt operating points: a reset decides on the mean fused score of
``attempt_frames`` good pictures of one face against the claimed person's templates.

Used by ``benchmarks/lfw.py`` (thresholds from DevTrain, figures on DevTest, and on the
portraits with ``--portraits``); its report's ``subsets`` hold the tables:

    python benchmarks/lfw.py --root ../shared/data/lfw-view1 --embedders sface,dlib --json

Attempts are built from distinct images (the mean of three copies of one photo is one
photo): a genuine attempt is three images of a person not used as their templates; an
impostor attempt is three distinct images of one person against every other person's
templates. Each person's distance per model is the mean over their templates
(``verification.template_fusion: mean``), z-normalised by the model's DevTrain impostor
statistics, and the models' z-scores are averaged with the fusion's weights.
"""

from __future__ import annotations

import dataclasses
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.evaluation import (  # noqa: E402
    MIN_TAIL_COUNT,
    TAIL_METHOD,
    fit_tail,
    fuse_z,
    pairwise_distances,
    tail_far,
    tail_threshold,
    threshold_at_far,
)


@dataclasses.dataclass
class Gallery:
    """Every identity of a set of images enrolled with its first ``templates`` images."""

    people: list[str]
    templates: list[list[int]]  # image indices per person
    probes: list[list[int]]  # the person's other images (genuine attempt material)


def build_gallery(labels: np.ndarray, templates: int, frames: int) -> Gallery:
    """Up to ``templates`` images per person as their templates, leaving ``frames`` images
    for a genuine attempt where the person has that many; a person with fewer images is
    enrolled with up to ``templates`` of them and has no genuine attempt."""
    by_person: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_person.setdefault(str(label), []).append(i)
    people, tmpl, probes = [], [], []
    for person, idx in sorted(by_person.items()):
        k = min(templates, len(idx) - frames) if len(idx) >= frames + 1 else min(templates, len(idx))
        people.append(person)
        tmpl.append(idx[:k])
        probes.append(idx[k:] if len(idx) >= frames + 1 else [])
    return Gallery(people, tmpl, probes)


def person_distances(vectors: np.ndarray, metric: str, gallery: Gallery) -> np.ndarray:
    """(images, people): each image's mean distance to each person's templates."""
    d = pairwise_distances(vectors, vectors, metric)
    out = np.empty((len(vectors), len(gallery.people)))
    for p, idx in enumerate(gallery.templates):
        out[:, p] = d[:, idx].mean(1)
    return out


def person_scores(vectors: dict[str, np.ndarray], metrics: dict[str, str], gallery: Gallery,
                  stats: dict[str, tuple[float, float]], weights: dict[str, float], models: list[str]) -> np.ndarray:
    z = {m: (person_distances(vectors[m], metrics[m], gallery) - stats[m][0]) / stats[m][1] for m in models}
    return fuse_z(z, weights)


def attempts(labels: np.ndarray, gallery: Gallery, frames: int = 3, per_person: int = 10, attackers_per_person: int = 4,
             seed: int = 0) -> tuple[list[tuple[int, tuple[int, ...]]], list[tuple[int, tuple[int, ...]]]]:
    """Genuine attempts (person, frames images not among their templates) and attacker
    picture sets (attacker's person index, frames distinct images of the attacker)."""
    rng = np.random.default_rng(seed)

    def pick(idx: list[int], cap: int) -> list[tuple[int, ...]]:
        combos = list(combinations(idx, frames))
        if len(combos) > cap:
            combos = [combos[k] for k in sorted(rng.choice(len(combos), cap, replace=False))]
        return combos

    genuine = [(p, c) for p, probes in enumerate(gallery.probes) if len(probes) >= frames for c in pick(probes, per_person)]
    index = {person: p for p, person in enumerate(gallery.people)}
    by_person: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_person.setdefault(index[str(label)], []).append(i)
    attackers = [(p, c) for p, idx in sorted(by_person.items()) if len(idx) >= frames for c in pick(idx, attackers_per_person)]
    return genuine, attackers


def attempt_scores(scores: np.ndarray, genuine, attackers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Genuine attempt scores, impostor attempt scores (every attacker set against every
    other person), and the single-picture impostor scores of the same attacker images
    against the same people (what an attempt of one photo repeated would score)."""
    g = np.asarray([scores[list(c), p].mean() for p, c in genuine])
    own = np.asarray([p for p, _ in attackers])
    sets = np.asarray([c for _, c in attackers])
    per_picture = scores[sets]  # (attackers, frames, people)
    mean = per_picture.mean(1)
    mask = np.ones_like(mean, dtype=bool)
    mask[np.arange(len(own)), own] = False
    single = per_picture.transpose(0, 2, 1)[mask].ravel()
    return g, mean[mask], single


def attempt_thresholds(impostor: np.ndarray, fars, method: str = TAIL_METHOD) -> tuple[dict[str, dict], dict]:
    """FAR -> threshold on impostor attempt scores: measured where at least MIN_TAIL_COUNT
    attempts fall below it, else from the fitted tail (evaluation.fit_tail)."""
    fit = fit_tail(impostor)
    out = {}
    for far in fars:
        value = float(far)
        measured = threshold_at_far(impostor, value)
        extrapolated = tail_threshold(fit, value, method)
        if value * len(impostor) >= MIN_TAIL_COUNT:
            out[far] = {"threshold": measured, "how": "measured", "extrapolated": extrapolated}
        else:
            out[far] = {"threshold": extrapolated, "how": f"extrapolated ({method} tail)",
                        "measured_floor": measured}
    return out, fit


def rates(genuine: np.ndarray, impostor: np.ndarray, single: np.ndarray, threshold: float, fit_single: dict | None = None,
          fit_attempts: dict | None = None) -> dict:
    report = {
        "threshold": float(threshold),
        "frr": float(np.mean(genuine > threshold)),
        "far": float(np.mean(impostor <= threshold)),
        "false_accepts": int((impostor <= threshold).sum()),
        "impostor_attempts": int(len(impostor)),
        "genuine_attempts": int(len(genuine)),
        "far_if_frames_identical": float(np.mean(single <= threshold)),
    }
    if fit_single is not None:
        report["far_if_frames_identical_tail"] = tail_far(fit_single, threshold)
    if fit_attempts is not None:
        report["far_tail"] = tail_far(fit_attempts, threshold)
    return report
