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


# -- driving the real UI headless ---------------------------------------------------------------

import time as _time  # noqa: E402

import pygame  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Screenshots of the UI tests land here (git-ignored), one folder per test.
SCREENS_DIR = REPO / "artifacts" / "screens"


def text_problems(records, screen: "pygame.Rect") -> list[str]:
    """Every recorded text that overflowed its widget box or left the screen."""
    problems = []
    for record in records:
        if not record.fits:
            problems.append(f"{record.owner}: {record.text!r} does not fit its box {tuple(record.box)} even at the smallest size")
        elif record.rect.width and not record.box.contains(record.rect):
            problems.append(f"{record.owner}: {record.text!r} at {tuple(record.rect)} leaves its box {tuple(record.box)}")
        if record.rect.width and not screen.contains(record.rect):
            problems.append(f"{record.owner}: {record.text!r} at {tuple(record.rect)} leaves the screen")
    return problems


class Driver:
    """Posts touch and mouse events to a KioskApp, steps it, and saves its screens."""

    def __init__(self, app, folder: Path | None = None, synthetic_mouse: bool = True) -> None:
        self.app = app
        self.folder = folder
        self.synthetic_mouse = synthetic_mouse  # also post SDL's mouse copy of each touch
        self.problems: list[str] = []
        self.shots: list[Path] = []
        if folder is not None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)

    @property
    def flow(self):
        return self.app.flow

    @property
    def screen(self):
        return self.app.screen

    def step(self, frames: int = 1, paced: bool = False) -> None:
        for _ in range(frames):
            self.app.step(paced=paced)
            self.problems.extend(text_problems(self.app.painter.records, self.app.layout.screen))

    # -- input ------------------------------------------------------------------------------

    def _finger(self, kind: int, pos: tuple[int, int], finger: int = 0) -> None:
        width, height = self.app.surface.get_size()
        pygame.event.post(pygame.event.Event(kind, touch_id=1, finger_id=finger, x=(pos[0] + 0.5) / width, y=(pos[1] + 0.5) / height, dx=0.0, dy=0.0, pressure=1.0))

    def touch_down(self, pos, finger: int = 0) -> None:
        self._finger(pygame.FINGERDOWN, pos, finger)
        if self.synthetic_mouse:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=True))

    def touch_up(self, pos, finger: int = 0) -> None:
        self._finger(pygame.FINGERUP, pos, finger)
        if self.synthetic_mouse:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=True))

    def tap(self, pos) -> None:
        self.touch_down(pos)
        self.step()
        self.touch_up(pos)
        self.step()

    def click(self, pos) -> None:
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=False))
        self.step()
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=False))
        self.step()

    def button(self, name: str):
        for widget in self.screen.widgets:
            if getattr(widget, "name", None) == name:
                return widget
        names = [getattr(w, "name", "?") for w in self.screen.widgets]
        raise AssertionError(f"no button {name!r} on {self.screen.name} (has {names})")

    def press(self, name: str) -> None:
        self.tap(self.button(name).rect.center)

    def key(self, code: str):
        return self.screen.keyboard.key(code)

    def type(self, text: str) -> None:
        from kiosk.ui import keyboard as kb

        for char in text:
            board = self.screen.keyboard
            if char.isalpha() and char.isupper() != board.upper and char.lower() in "abcdefghijklmnopqrstuvwxyz":
                self.tap(board.key(kb.SHIFT).rect.center)
            codes = {board.label_of(key.code) for key in board.keys}
            if char not in codes and char != " ":
                layer = kb.LETTERS if board.symbols else kb.SYMBOLS
                self.tap(board.key(layer).rect.center)
            self.tap(self.screen.keyboard.key(kb.SPACE if char == " " else char).rect.center)
            board = self.screen.keyboard
            if board.symbols:
                self.tap(board.key(kb.LETTERS).rect.center)

    def submit(self) -> None:
        from kiosk.ui import keyboard as kb

        self.tap(self.screen.keyboard.key(kb.SUBMIT).rect.center)

    # -- waiting and screenshots --------------------------------------------------------------

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "") -> None:
        deadline = _time.monotonic() + timeout
        while not predicate():
            if _time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate} (step {self.flow.step}, busy {self.flow.busy})")
            self.step(paced=False)
            _time.sleep(0.01)

    def wait_step(self, step, timeout: float = 30.0) -> None:
        self.wait_for(lambda: self.flow.step == step and not self.flow.busy, timeout, what=f"step {step}")
        self.step()

    def shot(self, label: str = "") -> Path | None:
        if self.folder is None:
            return None
        self.step()
        name = f"{len(self.shots) + 1:02d}-{self.flow.step.value}{'-' + label if label else ''}.png"
        path = self.app.save_screenshot(self.folder / name)
        self.shots.append(path)
        return path

    def texts(self) -> list[str]:
        return [record.text for record in self.app.painter.records]


def make_app(
    tmp_path: Path,
    pipeline: FacePipeline,
    size: tuple[int, int] = (800, 480),
    frames_dir: Path | None = None,
    store=None,
    clock=None,
    sync_status=None,
    camera_loop: bool = True,
    **ui_values: Any,
):
    """A KioskApp on the dummy video driver, its store in tmp_path, camera from a folder.

    ``store``: Settings from :func:`store_settings` (made here if None)."""
    from kiosk.camera import ImageFolderSource
    from kiosk.config.ui import UiSettings
    from kiosk.store import Store
    from kiosk.ui.app import create_app

    settings = store if store is not None else store_settings(tmp_path)
    ui = UiSettings(**{"fullscreen": False, "width": size[0], "height": size[1], "admin_pin": "2468", **ui_values})
    pygame.display.init()
    surface = pygame.display.set_mode(size)
    source = ImageFolderSource(frames_dir, fps=30, loop=camera_loop) if frames_dir is not None else None
    kwargs = {"clock": clock} if clock is not None else {}
    return create_app(settings, ui, pipeline, lambda: Store.open(settings), source=source, surface=surface, sync_status=sync_status, **kwargs)


def enroll_directly(settings, pipeline: FacePipeline, email: str, password: str, person: Person) -> None:
    """Put a person in the store without the UI (for journeys that start later)."""
    from kiosk.store import Store

    samples = [pipeline.analyze(frame).embedding for frame in person_frames(person)[:5]]
    with Store.open(settings) as store:
        store.enroll(email, password, samples, pipeline.embedder.manifest.model_id)
