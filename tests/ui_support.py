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
# The admin PIN of the test kiosks, and its hash made with cheap argon2 (the parameters
# travel in the hash): the store checks it like any other.
ADMIN_PIN = "246813"
ADMIN_PIN_HASH = __import__("argon2").PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(ADMIN_PIN)


def store_settings(tmp_path: Path, **sections: dict[str, Any]):
    """Settings with the store in tmp_path, tiny argon2, and ``sections`` merged in.

    The liveness challenge is off unless a test turns it on: the cameras of these tests
    are still pictures, which cannot answer its prompts (tests/test_ui_liveness.py)."""
    sections.setdefault("liveness", {"required_for_reset": False})
    # The journeys keep the shipped password strength rule (the store tests drop it).
    sections["passwords"] = {"min_strength": 3, **sections.get("passwords", {})}
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


# -- driving the real UI headless ---------------------------------------------------------------

import pygame  # noqa: E402

from kiosk.ui.driver import Driver, text_problems  # noqa: E402,F401 - re-exported for the tests

REPO = Path(__file__).resolve().parents[1]
# Screenshots of the UI tests land here (git-ignored), one folder per test.
SCREENS_DIR = REPO / "artifacts" / "screens"


def make_app(
    tmp_path: Path,
    pipeline: FacePipeline,
    size: tuple[int, int] = (800, 480),
    frames_dir: Path | None = None,
    store=None,
    clock=None,
    sync_status=None,
    camera_loop: bool = True,
    events=None,
    **ui_values: Any,
):
    """A KioskApp built by the kiosk's own wiring (kiosk.assembly.build_kiosk) on the
    dummy video driver, its store in tmp_path, its camera a folder of pictures.

    ``store``: Settings from :func:`store_settings` (made here if None); ``ui_values``
    override the ui section (admin PIN 246813 unless given)."""
    from kiosk.assembly import Overrides, build_kiosk
    from kiosk.camera import ImageFolderSource

    settings = store if store is not None else store_settings(tmp_path)
    ui = settings.ui.model_copy(update={"fullscreen": False, "width": size[0], "height": size[1], "admin_pin_hash": ADMIN_PIN_HASH, **ui_values})
    settings = settings.model_copy(update={"ui": ui})
    pygame.display.init()
    surface = pygame.display.set_mode(size)
    overrides: dict[str, Any] = {"surface": surface, "pipeline": pipeline, "sync": False, "sync_status": sync_status}
    if frames_dir is not None:
        overrides["open_camera"] = lambda: ImageFolderSource(frames_dir, fps=30, loop=camera_loop)
    else:
        overrides["camera"] = False
    if clock is not None:
        overrides["clock"] = clock
    if events is not None:
        overrides["events"] = events
    kiosk = build_kiosk(settings, Overrides(**overrides))
    kiosk.close_store()  # the tests read the store through their own connections
    return kiosk.app


def enroll_directly(settings, pipeline: FacePipeline, email: str, password: str, person: Person) -> None:
    """Put a person in the store without the UI (for journeys that start later)."""
    from kiosk.store import Store

    samples = [pipeline.analyze(frame).embedding for frame in person_frames(person)[:5]]
    with Store.open(settings) as store:
        store.enroll(email, password, samples, pipeline.embedder.manifest.model_id)
