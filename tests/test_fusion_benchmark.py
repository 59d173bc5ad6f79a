"""The fusion benchmarks run end to end on a tiny LFW subset and print the promised keys,
and the committed fusion manifest loads and orders real faces sensibly.

The figures themselves are not asserted (a handful of pairs says nothing); the README's
tables come from the full runs (benchmarks/lfw.py, benchmarks/duplicates.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kiosk.camera.scripted import PERSON_A, PERSON_B, person_frames
from kiosk.vision.fusion import load_fusion, models_key

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw-view1"
PORTRAITS = REPO.parent / "shared" / "data" / "portraits"
MODELS = ("dlib_resnet_v1", "sface_2021dec")
SUBSETS = ("dlib_resnet_v1", "sface_2021dec", "dlib_resnet_v1+sface_2021dec")
FARS = ("1e-3", "1e-4", "1e-5")

needs_lfw = pytest.mark.skipif(not (LFW / "pairsDevTrain.txt").is_file(), reason="../shared/data/lfw-view1 is absent")


def run_script(*args: str) -> dict:
    result = subprocess.run([sys.executable, *args, "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def check_fusion_file(path: Path) -> None:
    fusion = load_fusion(path)
    assert set(fusion.models) == set(MODELS)
    assert fusion.attempt_frames == 3
    assert set(fusion.points) == set(SUBSETS)
    for key, points in fusion.points.items():
        assert set(points.comparison) == set(FARS), key
        assert set(points.attempt) == set(FARS), key
        # Stricter FAR, lower threshold; an attempt never looser than one comparison.
        assert points.comparison["1e-3"] > points.comparison["1e-4"] > points.comparison["1e-5"], key
        assert all(points.attempt[far] <= points.comparison[far] for far in FARS), key
        fars = [far for far, _ in points.tail]
        assert fars == pytest.approx([10.0**-k for k in range(1, 9)]), key
        thresholds = [t for _, t in points.tail]
        assert thresholds == sorted(thresholds, reverse=True), key
    for name in ("data", "weights", "tail", "attempt", "comparison"):
        assert name in fusion.source, name


@pytest.mark.slow
@needs_lfw
def test_lfw_fusion_benchmark_end_to_end(tmp_path: Path) -> None:
    fusion_path = tmp_path / "fusion.json"
    args = ["benchmarks/lfw.py", "--root", str(LFW), "--embedders", "sface,dlib", "--limit", "12",
            "--write-fusion", str(fusion_path)]
    if (PORTRAITS / "labels.csv").is_file():
        args += ["--portraits", str(PORTRAITS)]
    report = run_script(*args)
    assert report["models"] == list(MODELS)
    assert set(report["flip_tta"]) == set(MODELS)
    for model in MODELS:
        row = report["per_model"][model]
        for key in ("accuracy", "auc", "eer", "tar_at_far_1e-3", "tar_at_far_1e-4", "impostor_mean", "impostor_std"):
            assert isinstance(row[key], float), (model, key)
    assert {"equal", "lda", "logistic", "grid"} <= set(report["fused"])
    assert report["weights"]["chosen"] in report["fused"]
    assert 0.0 < report["oracle_ceiling"]["accuracy"] <= 1.0 and set(report["oracle_ceiling"]["weights"]) == set(MODELS)
    assert sum(report["weights"]["weights"].values()) == pytest.approx(1.0)
    assert set(report["subsets"]) == set(SUBSETS)
    for row in report["subsets"].values():
        assert set(row["comparison"]) == set(FARS) and set(row["attempt_thresholds"]) == set(FARS)
        assert len(row["tail"]) == 8 and "attempts" in row and "attempts_one_template" in row
    for key in ("worst_identity_share", "identities", "comparison_far", "images_matching_anyone"):
        assert key in report["wolves"], key
    assert set(report["wolves"]["nearest_only"]["genuine_refused_by_the_rule_extrapolated"]) == {"10000", "100000"}
    assert "tail_backtest" in report
    if "portraits" in report:
        assert set(report["portraits"]["by_models"]) == set(SUBSETS)
    check_fusion_file(fusion_path)

    dup = run_script("benchmarks/duplicates.py", "--root", str(LFW), "--fusion", str(fusion_path),
                     "--limit", "12", "--sizes", "5,20", "--trials", "2")
    assert set(dup["sizes"]) == {"5", "20"}
    for row in dup["sizes"].values():
        for key in ("gallery", "threshold", "false_refusals", "predicted_false_refusals", "searches"):
            assert key in row, key
    assert dup["extrapolated"]["gallery"] == 100_000
    for key in ("false_refusals", "threshold", "method"):
        assert key in dup["extrapolated"], key
    assert "100000" in dup["catch"]["by_gallery_size"]
    assert "catch_rate" in dup["catch"]["by_gallery_size"]["100000"]


def test_nearest_rule_extrapolation_reads_the_tail() -> None:
    """FAR(score) follows the tail in log-FAR, then its last exponential; the rule refuses
    a genuine picture when one of the other N - 1 people scores lower."""
    from benchmarks.lfw import far_below, nearest_rule_at_scale

    tail = [(0.1, -1.0), (0.01, -2.0), (0.001, -3.0)]
    got = far_below(tail, np.array([-1.0, -2.5, -3.0, -4.0, 5.0]))
    np.testing.assert_allclose(got, [0.1, 10**-2.5, 1e-3, 1e-4, 0.1])
    shares = nearest_rule_at_scale(np.array([-3.0, -4.0]), tail, [1001, 1])
    assert shares["1001"] == pytest.approx(((1 - 0.999**1000) + (1 - 0.9999**1000)) / 2)
    assert shares["1"] == 0.0


def test_committed_fusion_manifest_is_complete() -> None:
    check_fusion_file(REPO / "models" / "fusion.json")


def test_committed_fusion_orders_scripted_faces(pipeline) -> None:
    """Two pictures of person A score below A against B, through each model's own
    alignment and LiteRT embedder, fused with the committed manifest."""
    from kiosk.vision.align import align_face
    from kiosk.vision.embedder import Embedder
    from kiosk.vision.matcher import distances

    fusion = load_fusion(REPO / "models" / "fusion.json")
    models = fusion.source["models"]
    embedders = {
        name: Embedder.from_manifest(REPO / "models" / info["manifest"], 2, bool(info["flip_tta"]))
        for name, info in models.items()
    }

    def embed(frame: np.ndarray) -> dict[str, np.ndarray]:
        faces = pipeline.detector.detect(frame)
        assert faces
        out = {}
        for name, embedder in embedders.items():
            template = np.asarray(embedder.manifest.alignment_template, dtype=np.float64)
            out[name] = embedder.embed(align_face(frame, faces[0].landmarks, template, embedder.chip_size))
        return out

    a1, a2 = (embed(f) for f in person_frames(PERSON_A)[:2])
    b = embed(person_frames(PERSON_B)[0])

    def score(x: dict, y: dict) -> float:
        return fusion.score({m: float(distances(x[m], y[m][None], embedders[m].manifest.distance)[0]) for m in x})

    genuine, impostor = score(a1, a2), score(a1, b)
    assert genuine < impostor
    both = models_key(models)
    assert genuine <= fusion.comparison_threshold(models, "1e-5")
    assert impostor > fusion.comparison_threshold(models, "1e-3")
    assert both == "dlib_resnet_v1+sface_2021dec"
