"""Drives the real kiosk UI without a person: posts touch events, steps it, saves screens.

Used by the UI tests and by the daemon's demo (``facekiosk run --demo``), which steps the
service's own loop through it. Text that leaves its widget or the screen is collected in
``Driver.problems`` on every frame.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import pygame

from kiosk.flows.scripts import Mark
from kiosk.flows.steps import Action
from kiosk.ui.screens.base import EntryScreen

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow
    from kiosk.flows.steps import StepSpec
    from kiosk.ui.app import KioskApp
    from kiosk.ui.keyboard import Key, Keyboard
    from kiosk.ui.screens import Screen
    from kiosk.ui.text import TextRecord
    from kiosk.ui.widgets import Pressable

# The button that stands for an action, on the screens the scripts go through.
BUTTON_OF = {
    Action.SIGNUP: "sign up",
    Action.SIGNIN: "sign in",
    Action.RESET: "forgot password",
    Action.AGREE: "agree",
    Action.DECLINE: "decline",
    Action.BACK: "back",
    Action.START_OVER: "start over",
    Action.RETRY: "try again",
}


def text_problems(records: Iterable[TextRecord], screen: pygame.Rect) -> list[str]:
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
    """Posts touch and mouse events to a KioskApp, steps it, and saves its screens.

    It is also an :class:`~kiosk.flows.scripts.Actor`: the scripted journeys of
    kiosk.flows.scripts run through the real screens with :meth:`run`."""

    def __init__(self, app: KioskApp, folder: Path | None = None, synthetic_mouse: bool = True, step: Callable[..., object] | None = None) -> None:
        """``step``: what runs one frame (default ``app.step``; the demo passes the
        service's loop step, which also beats the watchdog and updates STATUS)."""
        self.app = app
        self._step = step or app.step
        self.folder = folder
        self.synthetic_mouse = synthetic_mouse  # also post SDL's mouse copy of each touch
        self.problems: list[str] = []
        self.shots: list[Path] = []
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)

    @property
    def flow(self) -> Flow:
        return self.app.flow

    @property
    def screen(self) -> Screen:
        screen = self.app.screen
        if screen is None:
            raise AssertionError("the kiosk shows no screen yet: step it first")
        return screen

    @property
    def keyboard(self) -> Keyboard:
        """The keyboard of the screen shown (an email, password or PIN screen)."""
        screen = self.screen
        if not isinstance(screen, EntryScreen):
            raise AssertionError(f"{screen.name} has no keyboard")
        return screen.keyboard

    def step(self, frames: int = 1, paced: bool = False) -> None:
        for _ in range(frames):
            self._step(paced=paced)
            self.problems.extend(text_problems(self.app.painter.records, self.app.layout.screen))

    # -- input ------------------------------------------------------------------------------

    def _finger(self, kind: int, pos: tuple[int, int], finger: int = 0) -> None:
        width, height = self.app.surface.get_size()
        pygame.event.post(pygame.event.Event(kind, touch_id=1, finger_id=finger, x=(pos[0] + 0.5) / width, y=(pos[1] + 0.5) / height, dx=0.0, dy=0.0, pressure=1.0))

    def touch_down(self, pos: tuple[int, int], finger: int = 0) -> None:
        self._finger(pygame.FINGERDOWN, pos, finger)
        if self.synthetic_mouse:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=True))

    def touch_up(self, pos: tuple[int, int], finger: int = 0) -> None:
        self._finger(pygame.FINGERUP, pos, finger)
        if self.synthetic_mouse:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=True))

    def tap(self, pos: tuple[int, int]) -> None:
        self.touch_down(pos)
        self.step()
        self.touch_up(pos)
        self.step()

    def click(self, pos: tuple[int, int]) -> None:
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=False))
        self.step()
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=False))
        self.step()

    def button(self, name: str) -> Pressable:
        """A button of the screen, or of the "Need more time?" dialog or help while shown."""
        widgets: list[Pressable] = list(self.app.dialog.buttons) if self.app.dialog.showing() else []
        if self.app.help.showing():
            widgets.append(self.app.help.close)
        widgets += self.screen.widgets
        for widget in widgets:
            if getattr(widget, "name", None) == name:
                return widget
        names = [getattr(w, "name", "?") for w in widgets]
        raise AssertionError(f"no button {name!r} on {self.screen.name} (has {names})")

    def press(self, name: str | Action) -> None:
        """Tap the button called ``name`` (or the one standing for an Action)."""
        if isinstance(name, Action):
            name = BUTTON_OF[name]
        self.tap(self.button(name).rect.center)

    def key(self, code: str) -> Key:
        return self.keyboard.key(code)

    def type(self, text: str) -> None:
        from kiosk.ui import keyboard as kb

        for char in text:
            board = self.keyboard
            if char.isalpha() and char.isupper() != board.upper and char.lower() in "abcdefghijklmnopqrstuvwxyz":
                self.tap(board.key(kb.SHIFT).rect.center)
            codes = {board.label_of(key.code) for key in board.keys}
            if char not in codes and char != " ":
                layer = kb.LETTERS if board.symbols else kb.SYMBOLS
                self.tap(board.key(layer).rect.center)
            self.tap(self.keyboard.key(kb.SPACE if char == " " else char).rect.center)
            board = self.keyboard
            if board.symbols:
                self.tap(board.key(kb.LETTERS).rect.center)

    def submit(self) -> None:
        from kiosk.ui import keyboard as kb

        self.tap(self.keyboard.key(kb.SUBMIT).rect.center)

    # -- waiting and screenshots --------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate} (step {self.flow.step}, busy {self.flow.busy})")
            self.step(paced=False)
            time.sleep(0.01)

    def face_seen(self) -> bool:
        return self.app.fresh_observation() is not None

    def run(self, script: Iterator[Mark | None], on_mark: Callable[[Mark], None] | None = None, timeout: float = 60.0) -> None:
        """Play a scripted journey to its end, stepping the kiosk while it waits;
        ``on_mark`` is told where the journey is (show a face, take a screenshot)."""
        deadline = time.monotonic() + timeout
        for mark in script:
            if mark is not None:
                if on_mark is not None:
                    on_mark(mark)
                continue
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out in a scripted journey (step {self.flow.step}, busy {self.flow.busy})")
            self.step(paced=False)
            time.sleep(0.01)

    def wait_step(self, step: StepSpec, timeout: float = 30.0) -> None:
        self.wait_for(lambda: self.flow.step == step and not self.flow.busy, timeout, what=f"step {step}")
        self.step()

    def shot(self, label: str = "") -> Path | None:
        if self.folder is None:
            return None
        self.step()
        name = f"{len(self.shots) + 1:02d}-{self.flow.step.name}{'-' + label if label else ''}.png"
        path = self.app.save_screenshot(self.folder / name)
        self.shots.append(path)
        return path

    def texts(self) -> list[str]:
        return [record.text for record in self.app.painter.records]
