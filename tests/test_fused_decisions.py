"""The kiosk's fleet-wide face decisions (FaceRules.people_scores, find_duplicate,
nearer_other) on galleries where people have different sets of models, against a plain
per-person reference and against hand-placed scores."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from kiosk.flows.faces import FaceRules, ModelRule
from kiosk.vision.fusion import Fusion, ModelStats, OperatingPoints
from kiosk.vision.matcher import Gallery

A, B = ModelRule("a/1", "a", "euclidean"), ModelRule("b/1", "b", "euclidean")


def flat_tail(threshold: float) -> OperatingPoints:
    """The same threshold at every FAR: the duplicate threshold then does not depend on
    the gallery's size, so a test can place scores on either side of it."""
    return OperatingPoints({"1e-4": threshold}, {"1e-4": threshold}, ((1.0, threshold), (1e-12, threshold)))


def rules(thresholds: dict[str, float], weights: tuple[float, float] = (0.25, 0.75)) -> FaceRules:
    fusion = Fusion(
        {"a": ModelStats(1.0, 0.5, weights[0]), "b": ModelStats(2.0, 0.25, weights[1])},
        {key: flat_tail(t) for key, t in thresholds.items()},
    )
    return FaceRules(models=(A, B), fusion=fusion, far="1e-4", template_fusion="mean", same_face_threshold=0.0)


def reference(rules: FaceRules, galleries: dict[str, Gallery], probes: dict[str, np.ndarray]) -> dict[str, float]:
    """Each person's fused score, person by person: the mean over probes and templates of
    each model's distance, z-normalised, weighted over the models the person has."""
    per_person: dict[str, list[tuple[float, float]]] = {}
    for model in rules.models:
        gallery, stats = galleries[model.model_id], rules.fusion.models[model.name]
        for owner in sorted(set(gallery.owners)):
            rows = gallery.matrix[gallery.owners == owner]
            mean = np.mean([np.linalg.norm(row - probe) for row in rows for probe in probes[model.model_id]])
            per_person.setdefault(owner, []).append((stats.weight, (mean - stats.impostor_mean) / stats.impostor_std))
    return {owner: sum(w * z for w, z in parts) / sum(w for w, _ in parts) for owner, parts in per_person.items()}


@pytest.mark.parametrize("shared", [True, False], ids=["every person has both models", "mixed model sets"])
def test_people_scores_agree_with_a_person_by_person_reference(shared: bool) -> None:
    rng = np.random.default_rng(7 if shared else 8)
    people = np.array([f"user-{i:03d}" for i in rng.permutation(60)], dtype=object)
    sets = (people, people) if shared else (people[:45], people[20:])
    galleries = {}
    for model, members in zip((A, B), sets):
        counts = rng.integers(1, 4, len(members))
        owners = np.repeat(members, counts)
        galleries[model.model_id] = Gallery(rng.standard_normal((len(owners), 4)).astype(np.float32), owners, model.metric)
    probes = {m.model_id: rng.standard_normal((3, 4)).astype(np.float32) for m in (A, B)}
    r = rules({"a": -1.0, "b": -1.0, "a+b": -1.0})
    everyone, fused, present, names = r.people_scores(lambda model_id, metric: galleries[model_id], probes)
    want = reference(r, galleries, probes)
    assert list(everyone) == sorted(want) and names == ["a", "b"]
    np.testing.assert_allclose(fused, [want[p] for p in everyone], rtol=1e-5)
    for row, members in zip(present, sets):
        assert set(everyone[row]) == set(members)


def hand_placed() -> tuple[Callable[[str, str], Gallery], dict[str, np.ndarray]]:
    """p1 has both models, p2 only a, p3 only b. With the probe at the origin and one
    template each, the scores are placed by hand (z = (d - 1) / 0.5 for a, (d - 2) / 0.25
    for b): p1 fused -0.7 (both -0.7), p2 -0.9 (a), p3 -0.5 (b)."""
    a = Gallery(np.array([[0.65, 0.0], [0.55, 0.0]], np.float32), ["p1", "p2"], "euclidean")
    b = Gallery(np.array([[1.825, 0.0], [1.875, 0.0]], np.float32), ["p1", "p3"], "euclidean")
    galleries = {A.model_id: a, B.model_id: b}
    probes = {A.model_id: np.zeros((1, 2), np.float32), B.model_id: np.zeros((1, 2), np.float32)}
    return (lambda model_id, metric: galleries[model_id]), probes


def test_duplicate_search_takes_each_model_set_at_its_own_threshold() -> None:
    """Thresholds: a+b -0.75, a -0.85, b -0.4 (scores in :func:`hand_placed`)."""
    lookup, probes = hand_placed()
    r = rules({"a": -0.85, "b": -0.4, "a+b": -0.75})
    everyone, fused, present, _ = r.people_scores(lookup, probes)
    np.testing.assert_allclose(fused, [-0.7, -0.9, -0.5], atol=1e-5)
    found = r.find_duplicate(lookup, probes)
    assert found is not None and found.owner == "p2"  # under a's threshold, and the lowest hit
    # p1 (-0.7) is above the fused threshold (-0.75) even though it is below b's.
    strict = rules({"a": -0.95, "b": -0.6, "a+b": -0.75})
    assert strict.find_duplicate(lookup, probes) is None
    only_b = rules({"a": -0.95, "b": -0.4, "a+b": -0.75})
    found = only_b.find_duplicate(lookup, probes)
    assert found is not None and found.owner == "p3"
    # A model set the fusion has no thresholds for is not searched.
    no_a = rules({"b": -0.4, "a+b": -0.75})
    found = no_a.find_duplicate(lookup, probes)
    assert found is not None and found.owner == "p3"


def test_nearest_account_names_the_nearer_other_person() -> None:
    lookup, probes = hand_placed()
    r = rules({"a": -0.85, "b": -0.4, "a+b": -0.75})
    other = r.nearer_other(lookup, probes, "p1")  # p1 -0.7; p2 scores -0.9
    assert other is not None and other.owner == "p2"
    assert r.nearer_other(lookup, probes, "p2") is None  # the nearest of everyone
    assert r.nearer_other(lookup, probes, "nobody") is None  # not enrolled here
