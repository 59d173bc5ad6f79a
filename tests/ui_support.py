"""Shared pieces of the flow and UI tests: stores in tmp dirs, scripted faces, clocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kiosk.camera.scripted import PERSON_A, PERSON_B, Person, person_frames
from kiosk.config.vision import QualitySettings
from kiosk.flows.faces import FaceObservation, observation_from
from kiosk.vision.pipeline import FacePipeline
from store_support import FakeClock, make_settings

__all__ = ["FakeClock", "PERSON_A", "PERSON_B", "lenient_pipeline", "observe_person", "store_settings", "synthetic_face"]

# The man in the CC0 "camera" photo looks about 32 degrees to the side, past the default
# 25 degree yaw gate, so his pictures never reach the matcher. Tests about the matcher
# refusing him widen the gate; tests of the default gates keep it.
WIDE_YAW = {"max_yaw_deg": 40.0}


def store_settings(tmp_path: Path, **sections: dict[str, Any]):
    """Settings with the store in tmp_path, tiny argon2, and ``sections`` merged in."""
    return make_settings(tmp_path, **sections)


def lenient_pipeline(pipeline: FacePipeline, **quality: float) -> FacePipeline:
    """The same models with other quality gates (shares the interpreters: one at a time)."""
    return FacePipeline(pipeline.detector, pipeline.embedder, QualitySettings(**{**pipeline.quality.model_dump(), **quality}))


def observe_person(pipeline: FacePipeline, person: Person) -> list[FaceObservation]:
    observations = []
    for seq, frame in enumerate(person_frames(person)):
        observations.append(observation_from(pipeline.analyze(frame), seq, frame.shape))
    return observations


def synthetic_face(seed: int, dim: int = 128) -> FaceObservation:
    """A clear face with a random embedding: a stranger unlike anyone enrolled."""
    rng = np.random.default_rng(seed)
    vector = rng.standard_normal(dim).astype(np.float32)
    vector /= np.linalg.norm(vector)
    landmarks = np.array([[290, 200], [350, 200], [320, 235], [295, 270], [345, 270]], np.float32)
    return FaceObservation(seed, (640, 480), (250.0, 150.0, 390.0, 330.0), landmarks, (), vector, 1, 0.0)
