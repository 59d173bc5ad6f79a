"""Passive cues and the attack generator.

The separation test reads bona fide clips from ../shared/data/liveness (never copied into
the repository) and makes synthetic print attacks from their first frames; it skips when
the data is absent. The generator's own tests use scikit-image's public-domain portrait.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.camera.sources import read_video_file
from kiosk.config.liveness import PassiveSettings
from kiosk.liveness.attacks import plane_homography, print_attack, screen_replay
from kiosk.liveness.landmarks import Landmarker, LandmarkTracker
from kiosk.liveness.passive import PassiveCollector, flicker_score, spectral_peakiness

LIVENESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "liveness"
MODELS = Path(__file__).resolve().parents[1] / "models"
# Short bona fide clips of different sources, read up to SECONDS each.
CLIPS = (
    "bona_fide/liveportrait_driving/d0.mp4",
    "bona_fide/liveportrait_driving/d11.mp4",
    "bona_fide/liveportrait_driving/d19.mp4",
    "bona_fide/pyfeat/single_face.mp4",
    "bona_fide/talking_head_hdtf/videoretalking_3.mp4",
    "bona_fide/talking_head_hdtf/videoretalking_5.mp4",
)
SECONDS = 4.0


@pytest.fixture(scope="module")
def landmarker() -> Landmarker:
    return Landmarker.from_manifests(MODELS / "face_mesh.json", MODELS / "iris_landmark.json")


def passive(frames: list[np.ndarray], fps: float, landmarker: Landmarker, pipeline, settings: PassiveSettings):
    tracker = LandmarkTracker(landmarker, pipeline.detector.detect)
    collector = PassiveCollector(settings)
    for index, frame in enumerate(frames):
        landmarks = tracker(frame)
        collector.add(index / fps, frame, None if landmarks is None else landmarks.points)
    return collector.evaluate()


def auc(negatives: list[float], positives: list[float]) -> float:
    """P(a positive scores above a negative), ties half."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.mark.slow
def test_passive_cues_separate_synthetic_prints_from_bona_fide_clips(landmarker, pipeline):
    paths = [LIVENESS / c for c in CLIPS]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"{LIVENESS} is absent (research data in ../shared/data, not in the repository)")
    settings = PassiveSettings()
    bona_fide, prints, bordered = [], [], []
    for index, path in enumerate(paths):
        frames, fps = read_video_file(path, SECONDS)
        bona_fide.append(passive(frames, fps, landmarker, pipeline, settings))
        box = pipeline.detector.detect(frames[0])[0].box
        for border, out in ((False, prints), (True, bordered)):
            rng = np.random.default_rng([7, index, border])
            attack = list(print_attack(frames[0], box, int(SECONDS * fps), fps, rng, border=border))
            out.append(passive(attack, fps, landmarker, pipeline, settings))

    def cue(results, name):
        return [next(c.score for c in r.cues if c.name == name) for r in results]

    # The fused verdict: no bona fide clip flagged; most prints on a sheet flagged.
    assert not any(r.flagged for r in bona_fide), [r.to_dict() for r in bona_fide]
    assert sum(r.flagged for r in bordered) >= len(bordered) - 1
    # Planarity ranks every kind of print as flatter than the live faces.
    live = [s for s in cue(bona_fide, "planarity") if s is not None]
    flat = [s for s in cue(prints + bordered, "planarity") if s is not None]
    assert len(live) >= 4 and len(flat) >= 8
    assert auc([-s for s in live], [-s for s in flat]) >= 0.8
    # Some plain prints (filling the view, no border) are flagged by planarity alone.
    assert any(r.flagged for r in prints)


def test_the_moire_cue_sees_a_screen_pattern_and_not_a_plain_face(astronaut):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[60:156, 180:276].astype(np.float32)
    rng = np.random.default_rng(0)
    screen = next(screen_replay([astronaut], 25.0, 1, rng, moire_strength=0.08))
    refilmed = cv2.cvtColor(screen, cv2.COLOR_RGB2GRAY)[60:156, 180:276].astype(np.float32)
    threshold = PassiveSettings().moire_max
    assert spectral_peakiness(grey) < threshold < spectral_peakiness(refilmed)


def test_flicker_finds_a_periodic_brightness_and_not_noise():
    t = np.arange(0, 4, 1 / 30)
    rng = np.random.default_rng(1)
    steady = [(ti, 120 + rng.normal(0, 0.5)) for ti in t]
    flickering = [(ti, 120 + 3 * np.sin(2 * np.pi * 7.0 * ti) + rng.normal(0, 0.5)) for ti in t]
    quiet, _ = flicker_score(steady)
    loud, detail = flicker_score(flickering)
    assert loud > 20 * quiet and abs(detail["peak_hz"] - 7.0) < 0.5
    assert flicker_score(steady[:10]) == (None, {"frames": 10})


def test_attacks_are_reproducible_and_look_like_their_kind(astronaut, pipeline):
    box = pipeline.detector.detect(astronaut)[0].box
    first = list(print_attack(astronaut, box, 10, 25.0, np.random.default_rng(3)))
    again = list(print_attack(astronaut, box, 10, 25.0, np.random.default_rng(3)))
    assert len(first) == 10 and all(a.shape == astronaut.shape and a.dtype == np.uint8 for a in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[9])  # the hand moves
    # With a border, the white sheet is in the picture and the face is still found.
    sheet = next(print_attack(astronaut, box, 1, 25.0, np.random.default_rng(3), border=True))
    assert (sheet.min(axis=2) > 200).mean() > 0.02
    assert pipeline.detector.detect(sheet)
    # A screen replay with a bezel frames the picture in dark pixels.
    screen = next(screen_replay([astronaut], 25.0, 1, np.random.default_rng(4), bezel=True))
    assert (screen.max(axis=2) < 30).mean() > 0.02


def test_plane_homography_is_identity_for_a_sheet_facing_the_camera():
    matrix = plane_homography((640, 480), 0.0, 0.0, 0.0, 1.0, np.zeros(2))
    assert np.allclose(matrix / matrix[2, 2], np.eye(3), atol=1e-9)
    turned = plane_homography((640, 480), 20.0, 0.0, 0.0, 1.0, np.zeros(2))
    corners = cv2.perspectiveTransform(np.array([[[0, 0], [640, 0], [640, 480], [0, 480]]], np.float64), turned)[0]
    # Turning about the vertical axis makes one vertical edge shorter than the other.
    assert abs((corners[2, 1] - corners[1, 1]) - (corners[3, 1] - corners[0, 1])) > 10
