"""The benchmark scripts run end to end with tiny settings and print the promised JSON keys.

These check that the scripts work, not the figures: timing targets are read from the
scripts' --json output, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PORTRAITS = REPO.parent / "shared" / "data" / "portraits"
LFW = REPO.parent / "shared" / "data" / "lfw-view1"


def run_script(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, *args, "--json"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.slow
def test_latency_json_keys():
    report = run_script("benchmarks/latency.py", "--runs", "2", "--warmup", "1", "--threads", "1",
                        "--startup-runs", "1", "--skip-vggface")
    for key in ("detect_p50_ms", "embed_p50_ms", "end_to_end_p50_ms", "end_to_end_p95_ms",
                "end_to_end_no_flip_p50_ms", "peak_rss_mb", "start_to_first_embedding_s"):
        assert isinstance(report[key], float) and report[key] > 0, key
    assert report["tensorflow_imported"] is False
    assert "tensorflow" not in report["heavy_modules_imported"]
    stages = report["per_threads"]["1"]
    assert {"detect", "align", "embed", "match", "end_to_end_flip_tta", "end_to_end_no_flip"} <= stages.keys()
    # The frame holds one kiosk-sized face.
    assert report["frame"]["faces"] == 1 and 140 <= report["frame"]["face_width_px"] <= 210
    assert set(report["targets"]) == {"end_to_end_p50_ms", "peak_rss_mb", "start_to_first_embedding_s"}
    assert "vggface" not in report


@pytest.mark.skipif(not (PORTRAITS / "pairs_all_derived.csv").is_file(), reason="../shared/data/portraits is absent")
def test_portraits_json_keys():
    report = run_script("benchmarks/portraits.py", "--root", str(PORTRAITS), "--limit", "6")
    assert report["images"] == 6 and report["limit"] == 6
    assert report["pairs_scored"] + report["pairs_skipped"] == 15  # all pairs of 6 images
    assert set(report["levels"]) == {"high", "medium", "low"}
    for level in report["levels"].values():
        assert {"threshold", "accuracy", "tar", "far"} <= level.keys()
    for key in ("auc", "eer", "no_face", "multi_face_images", "timings_ms", "per_image"):
        assert key in report, key
    assert report["oracle"]["label"].startswith("oracle (tuned on the reported pairs")
    assert len(report["per_image"]) == 6


@pytest.mark.slow
@pytest.mark.skipif(not (LFW / "pairsDevTest.txt").is_file(), reason="../shared/data/lfw-view1 is absent")
def test_pitch_json_keys():
    report = run_script("benchmarks/pitch.py", "--root", str(LFW), "--limit", "2", "--angles", "0,30", "--cache", "")
    assert report["pairs"] == {"matched": 2, "mismatched": 2}
    assert [row["angle_deg"] for row in report["per_angle"]] == [0.0, 30.0]
    for row in report["per_angle"]:
        assert set(row["passes_limit"]) == {"25", "30", "35"}
        for condition in ("probe", "both"):
            assert {"genuine", "impostor", "through_gate"} <= row[condition].keys()
            assert {"far", "comparisons", "through_gate_25"} <= row["all_pairs_impostors"][condition].keys()
    # The turned faces read as turned: the gate's median reading grows with the angle.
    assert report["per_angle"][1]["gate_reading_deg"]["median"] > report["per_angle"][0]["gate_reading_deg"]["median"]
    assert set(report["by_gate_reading"]["probe"]) == {"0-25", "25-30", "30-35", "35-45"}


def test_store_benchmark_times_the_fused_decisions():
    """The fleet-wide decisions of benchmarks/store.py run on a small gallery of both
    default models (the 100,000-person figures come from the full run)."""
    sys.path.insert(0, str(REPO))
    from benchmarks.store import fused_decisions

    report = fused_decisions(users=300, per_user=3, runs=2, seed=0)
    assert report["people"] == 300 and report["models"] == ["dlib_resnet_v1", "sface_2021dec"]
    assert report["find_duplicate_p50_ms"] > 0 and report["nearer_other_p50_ms"] > 0
