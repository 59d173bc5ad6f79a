"""benchmarks/liveness.py runs end to end on a two-clip folder and prints the promised
JSON keys (the figures themselves come from the full run, not from this test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIVENESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "liveness"
KEYS = ("attack_pass_rate", "synthetic_attack_pass_rate", "bona_fide_passive_reject_rate", "landmark_p50_ms", "challenge_median_s")


@pytest.mark.slow
def test_liveness_benchmark_json_keys(tmp_path):
    bona_fide = LIVENESS / "bona_fide" / "pyfeat" / "single_face.mp4"
    attack = LIVENESS / "attack" / "replay_repos" / "lestari15_fake.mp4"
    if not (bona_fide.is_file() and attack.is_file()):
        pytest.skip(f"{LIVENESS} is absent (research data in ../shared/data, not in the repository)")
    # Links, not copies: the clips stay in ../shared.
    (tmp_path / "bona_fide").mkdir()
    (tmp_path / "attack").mkdir()
    (tmp_path / "bona_fide" / bona_fide.name).symlink_to(bona_fide)
    (tmp_path / "attack" / attack.name).symlink_to(attack)
    (tmp_path / "attack" / "notes.txt").write_text("not a video: ignored")
    result = subprocess.run(
        [sys.executable, "benchmarks/liveness.py", "--root", str(tmp_path), "--schedules", "5", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    for key in KEYS:
        assert key in report and key in report["targets"], key
    assert report["bona_fide_clips"] == 1 and report["attack_clips"] == 1 and report["synthetic_attacks"] == 3
    assert report["landmark_p50_ms"] > 0
    assert 0.0 <= report["attack_pass_rate"] <= 1.0 and 0.0 <= report["synthetic_attack_pass_rate"] <= 1.0
    assert {clip["group"] for clip in report["clips"]} == {"bona_fide", "attack", "synthetic:print", "synthetic:print_border", "synthetic:screen"}
    assert all(clip["attempts"] == 5 for clip in report["clips"] if clip["group"] != "bona_fide")
