"""benchmarks/liveness.py runs end to end on a two-clip folder and prints the promised
JSON keys (the figures themselves come from the full run, not from this test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def _benchmark_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("liveness_benchmark", REPO / "benchmarks" / "liveness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("liveness_benchmark", module)
    spec.loader.exec_module(sys.modules["liveness_benchmark"] if sys.modules["liveness_benchmark"] is module else module)
    return sys.modules["liveness_benchmark"]


def _turn_left_segment(bench, fps: float = 30.0):
    """A recorded turn: out to 30 degrees in 0.3 s, held until 1.5 s, back in 0.3 s."""
    dt = np.arange(0.0, 1.8 + 1e-9, 1 / fps)
    yaw = np.interp(dt, [0.0, 0.3, 1.5, 1.8], [0.0, 30.0, 30.0, 0.0])
    pitch = 0.1 * yaw
    return bench.Segment(dt, yaw, pitch, np.ones_like(dt), "synthetic")


def _run_segment_person(bench, settings, seed: int = 3):
    import random

    from kiosk.liveness.challenge import Challenge
    from kiosk.liveness.simulate import Track, euclidean, run_challenge

    segment = _turn_left_segment(bench)
    t = np.arange(0.0, 3.0, 1 / 30.0)
    neutral = Track(t=t, face=np.ones(len(t), bool), yaw=np.zeros(len(t)), pitch=np.zeros(len(t)), openness=np.full(len(t), 0.3))
    me = np.eye(8, dtype=np.float32)[0]
    rng = random.Random(seed)
    person = bench.SegmentPerson({"turn_left": [segment], "blink": []}, neutral, rng, me, settings.identity_every_s)
    seen = []

    class Recorder:
        def observe(self, t, status):
            obs = person.observe(t, status)
            seen.append((t, status.phase, obs.yaw, obs.pitch))
            return obs

    result = run_challenge(Challenge(["turn_left"], settings, euclidean, 0.5, rng), Recorder(), 30.0, max_s=10.0)
    return result, seen, segment


def test_the_simulated_person_turns_back_once_the_answer_is_accepted_not_faster_than_recorded():
    from kiosk.config.liveness import LivenessSettings

    bench = _benchmark_module()
    settings = LivenessSettings()
    result, seen, segment = _run_segment_person(bench, settings)
    assert result.passed, result.to_dict()
    first_prompt = next(i for i, item in enumerate(seen) if item[1] == "prompt")
    # The first frame the person sees the settle screen again (status lags a frame).
    accepted = next(t for t, phase, _, _ in seen[first_prompt:] if phase == "settle")
    out_of_answer = [(t, yaw) for t, _, yaw, _ in seen if t >= accepted]
    # Still on the recorded way out (or its hold) for at least the shortest reaction time...
    low, high = bench.REACTION_S
    early = [yaw for t, yaw in out_of_answer if t < accepted + low - 1e-9]
    assert early and all(b >= a for a, b in zip(early, early[1:])) and early[-1] > settings.turn_complete_deg
    # ...then back within 3 degrees no sooner than the recorded return (0.3 s) allows,
    # and long before the recording's own return at 1.5 s after its start.
    back = next(t for t, yaw in out_of_answer if yaw <= 3.0)
    assert accepted + low + 0.3 - 2 / 30 <= back <= accepted + high + 0.3 + 2 / 30
    shown = result.evidence[0].shown_at_s
    assert back < shown + bench.REACTION_S[0] + 1.5
    # The cross axis comes back with it (scaled with the turn, no jump).
    pitches = [pitch for t, _, _, pitch in seen if t >= accepted]
    assert max(abs(a - b) for a, b in zip(pitches, pitches[1:])) < 1.0


def test_the_simulated_person_plays_the_recorded_answer_unchanged_until_it_is_accepted():
    from kiosk.config.liveness import LivenessSettings

    bench = _benchmark_module()
    # The completion angle is beyond the recorded turn: the answer is never accepted, so
    # the person must play the whole recording, hold and return included.
    settings = LivenessSettings(turn_complete_deg=40.0)
    result, seen, segment = _run_segment_person(bench, settings)
    assert not result.passed and result.reason == "timeout"
    (evidence,) = result.evidence
    start = next(t for t, _, yaw, _ in seen if yaw > 0.0) - 1 / 30
    for t, _, yaw, _ in seen:
        if start <= t <= start + segment.duration:
            assert yaw == pytest.approx(float(np.interp(t - start, segment.dt, segment.yaw)), abs=30.0 / 9)
