"""The UI loop: input, camera, face worker, flow, drawing (kiosk.assembly wires it up).

One ``step()`` is one frame: pointer events go to the current screen (a screen change
mid-batch sends the rest to the new screen, whose widgets hold no press from the old
one, so a tap never "falls through" to a button under the finger on the next screen);
the newest camera frame is offered to the face worker when it is idle; finished face
results and store jobs reach the flow; the screen is drawn and shown. Nothing slow runs
on this thread: face analysis is on the worker, argon2 and SQLite on the jobs thread,
camera reads on the grabber thread.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pygame

from kiosk.camera.grabber import FrameGrabber
from kiosk.flows.faces import FaceObservation
from kiosk.config.ui import UiSettings
from kiosk.errors import KioskError
from kiosk.flows.machine import Flow
from kiosk.flows.steps import StepSpec
from kiosk.i18n import Catalog, Message, load_catalog
from kiosk.flows.liveness import INTRO, RETRY
from kiosk.ui.events import to_pointer
from kiosk.ui import theme
from kiosk.ui.dialog import HelpDialog, TimeoutDialog
from kiosk.ui.face_worker import FaceWorker
from kiosk.ui.layout import Layout
from kiosk.ui.preview import STALE_S
from kiosk.ui.prefs import LARGE_TEXT_SCALE, Preferences
from kiosk.ui.screens import Context, Screen, screen_class
from kiosk.ui.screens.base import EntryScreen
from kiosk.ui.sound import Sounds
from kiosk.ui.speech import Speaker, speakable
from kiosk.ui.text import Painter


# Speech after a tone starts when the tone is over (kiosk.ui.sound: 110 + 160 ms and gaps).
TONE_S = 0.4
# ui.speech: screens says face guidance that has stayed this long, at most this often.
GUIDANCE_HOLD_S = 1.2
GUIDANCE_GAP_S = 4.0


class DisplayError(KioskError):
    """The screen cannot be opened (SDL video driver, permissions)."""


def open_display(ui: UiSettings, video_driver: str = "") -> pygame.Surface:
    """The kiosk window: fullscreen (or not) at the configured or the display's size,
    with the mouse cursor hidden. DisplayError (one line, with the fix) if it cannot open."""
    try:
        return _open_display(ui)
    except pygame.error as err:
        raise DisplayError(
            f"cannot open the display{f' (SDL_VIDEODRIVER={video_driver})' if video_driver else ''}: {err}; "
            "on a console-only kiosk set SDL_VIDEODRIVER=kmsdrm and add the user to the video and render groups"
        ) from None


def use_surface(surface: pygame.Surface) -> pygame.Surface:
    """A surface the caller opened (tests, benchmarks): fonts ready, cursor hidden."""
    pygame.font.init()
    pygame.mouse.set_visible(False)
    return surface


def _open_display(ui: UiSettings) -> pygame.Surface:
    pygame.display.init()
    pygame.font.init()
    if ui.width and ui.height:
        size = (ui.width, ui.height)
    else:
        sizes = pygame.display.get_desktop_sizes()
        size = sizes[0] if sizes and sizes[0][0] > 0 else (800, 480)
    surface = pygame.display.set_mode(size, pygame.FULLSCREEN if ui.fullscreen else 0)
    pygame.display.set_caption("FaceKiosk")
    pygame.mouse.set_visible(False)
    return surface


class KioskApp:
    def __init__(
        self,
        flow: Flow,
        surface: pygame.Surface,
        catalog: Catalog,
        grabber: FrameGrabber | None = None,
        worker: FaceWorker | None = None,
        mirror_preview: bool = True,
        max_fps: int = 30,
        font: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        ui: UiSettings | None = None,
    ) -> None:
        """``ui``: the ui settings for sound, high contrast, larger text and the help
        text (defaults when None)."""
        self.flow = flow
        self.surface = surface
        self.grabber = grabber
        self.worker = worker
        self.max_fps = max_fps
        self.clock = clock
        self.layout = Layout(*surface.get_size())
        self.painter = Painter(surface, catalog, self.layout.scale, font)
        self.ctx = Context(
            layout=self.layout,
            painter=self.painter,
            flow=flow,
            mirror_preview=mirror_preview,
            frame=self._frame_image,
            observation=self.fresh_observation,
            camera_error=lambda: grabber.error if grabber is not None else None,
            clock=clock,
        )
        self.ui = ui or UiSettings()
        self.sounds = Sounds(self.ui.sound, self.ui.sound_volume)
        self.speaker = Speaker(self.ui.speech, self.ui.speech_rate_wpm, self.ui.sound_volume)
        self._said_guidance: tuple[Message | None, float] = (None, 0.0)  # face guidance on screen, since when
        self._spoke_guidance: Message | None = None
        self._spoke_guidance_at = -1e9
        self._catalogs: dict[str, Catalog] = {catalog.language: catalog}
        self.defaults = Preferences(catalog.language, self.ui.large_text, self.ui.high_contrast)
        self.prefs = self.defaults
        self.ctx.prefs = lambda: self.prefs
        self.ctx.change_prefs = self.change_prefs
        self.ctx.show_help = lambda: self.help.show()
        self.dialog = TimeoutDialog(self.ctx)
        self.help = HelpDialog(self.ctx, {str(k): v for k, v in self.ui.help_text.items()})
        self.screen: Screen | None = None
        self._apply_prefs(enter=False)
        self._warned = False
        self._prompted: tuple[str, int] | None = None
        self._screens: dict[type[Screen], Screen] = {}
        self._shown: tuple[StepSpec, int, int] | None = None
        self._observation: FaceObservation | None = None
        self._observation_at = 0.0
        self._offered_seq = -1
        self._drawn_seq = -1
        self.running = True
        self.frames = 0
        self.camera_frames_drawn = 0
        self.pointer_events: collections.Counter[str] = collections.Counter()  # handled, by kind
        self.flip_times: collections.deque[float] = collections.deque(maxlen=4096)
        self.work_ms: collections.deque[float] = collections.deque(maxlen=4096)
        self._pacer = pygame.time.Clock()
        self.sync_screen()

    # -- what the screens see ---------------------------------------------------------------

    def _frame_image(self) -> np.ndarray | None:
        if self.grabber is None or not self.flow.step.camera or self.grabber.error:
            return None  # a stopped camera shows "unavailable", not its last picture
        frame = self.grabber.latest()
        return frame.image if frame is not None else None

    def fresh_observation(self) -> FaceObservation | None:
        """The newest face result of this screen, unless older than the preview shows."""
        if self._observation is None or self.clock() - self._observation_at > STALE_S:
            return None
        return self._observation

    # -- the loop ---------------------------------------------------------------------------

    def sync_screen(self) -> None:
        """Enter the screen afresh whenever the flow went to a step (Flow.visits), even
        the same one again: a second problem screen in a row has its own buttons."""
        current = (self.flow.step, self.flow.session.id, self.flow.visits)
        if current == self._shown:
            return
        person_changed = self._shown is None or current[1] != self._shown[1]
        if self.worker is not None and (person_changed or not current[0].camera or self._shown is None or current[0] is not self._shown[0]):
            self.worker.reset()  # no face result of another screen or person carries over
            self._observation = None
        if person_changed:
            self.painter.forget()  # cached renderings of the last person's text
            self.help.hide()
            if self.prefs != self.defaults:
                self.prefs = self.defaults  # the next person finds the kiosk as configured
                self._apply_prefs(enter=False)
        kind = screen_class(self.flow.step)
        screen = self._screens.get(kind)
        if screen is None:
            screen = self._screens[kind] = kind(self.ctx)
        screen.enter()
        self.screen = screen
        self._shown = current
        self.speak(screen.spoken(), "screen")

    def handle_events(self) -> None:
        now = self.clock()
        size = self.surface.get_size()
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self.running = False
                continue
            if event.type in (pygame.TEXTINPUT, pygame.KEYDOWN):
                self.key_event(event)
                continue
            pointer = to_pointer(event, size)
            if pointer is None:
                continue
            self.pointer_events[pointer.kind] += 1
            if self.help.showing():
                self.flow.activity()
                self.help.pointer(pointer)
                continue
            if self.dialog.showing():
                self.dialog.pointer(pointer)  # nothing under the dialog is touched
                self.sync_screen()
                continue
            self.flow.activity()
            assert self.screen is not None
            self.screen.pointer(pointer, now)
            self.sync_screen()

    def key_event(self, event: pygame.event.Event) -> None:
        """A hardware keyboard (USB, or a barcode/keyboard wedge) types into the field on
        screen: text, Backspace, Enter submits. Any key answers the timeout warning."""
        if self.dialog.showing():
            self.flow.more_time()
            return
        screen = self.screen
        if not isinstance(screen, EntryScreen) or self.help.showing():
            self.flow.activity()
            return
        if event.type == pygame.TEXTINPUT:
            text = "".join(ch for ch in event.text if ch.isprintable())
            if screen.keyboard.kind == "pin":
                text = "".join(ch for ch in text if ch.isdigit())
            if text:
                self.flow.insert(text)
        elif event.key == pygame.K_BACKSPACE:
            self.flow.backspace()
        elif event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            self.flow.submit()
        self.flow.activity()
        self.sync_screen()

    # -- preferences ----------------------------------------------------------------------

    def change_prefs(self, language: str | None = None, large_text: bool | None = None, high_contrast: bool | None = None) -> None:
        """A person's choice on the start screen, for their visit."""
        prefs = self.prefs
        self.prefs = Preferences(
            language if language is not None else prefs.language,
            large_text if large_text is not None else prefs.large_text,
            high_contrast if high_contrast is not None else prefs.high_contrast,
        )
        self._apply_prefs()

    def _catalog(self, language: str) -> Catalog:
        catalog = self._catalogs.get(language)
        if catalog is None:
            catalog = self._catalogs[language] = load_catalog(language)
        return catalog

    def _apply_prefs(self, enter: bool = True) -> None:
        self.painter.catalog = self._catalog(self.prefs.language)
        self.flow.choose_language(self.prefs.language)  # the emails of a sign-up follow it
        self.painter.text_scale = LARGE_TEXT_SCALE if self.prefs.large_text else 1.0
        theme.use(self.prefs.high_contrast)
        self.painter.forget()
        if enter and self.screen is not None:
            self.screen.enter()  # the keyboard follows the language

    def feed_camera(self) -> None:
        if self.worker is None:
            return
        for observation in self.worker.take():
            self.observe(observation)
        if self.grabber is not None and self.flow.wants_camera:
            frame = self.grabber.latest()
            if frame is None or frame.seq == self._offered_seq:
                return
            if self.worker.offer(frame.seq, frame.image, frame.at, self.flow.frame_analyzer()):
                self._offered_seq = frame.seq

    def observe(self, observation: FaceObservation) -> None:
        """A face result: shown on the preview while fresh, and given to the flow."""
        self._observation = observation
        self._observation_at = self.clock()
        self.flow.observe(observation)
        self.sync_screen()

    def cue(self) -> None:
        """Sounds and speech for what appeared this frame: the timeout warning, a new
        prompt (its tone, then its words), the challenge's introduction; with
        ``ui.speech: screens`` face guidance that has stayed a moment."""
        warned = self.flow.idle_warning_left() is not None
        if warned and not self._warned:
            self.sounds.play("warning")
            self.speak([TimeoutDialog.TITLE], "prompt", after_s=TONE_S)
        self._warned = warned
        prompt, progress = self.flow.liveness_prompt(), self.flow.liveness_progress()
        current = (prompt, progress[0]) if prompt is not None and progress is not None else None
        if current is not None and current != self._prompted:
            self.sounds.play("prompt")
            self.speak([self.flow.face_guidance()], "prompt", after_s=TONE_S)
        self._prompted = current
        self._guidance_cue(progress is not None)
        self.speaker.update()

    def _guidance_cue(self, challenge: bool) -> None:
        """The challenge's introduction (and its retry) at once; other face guidance, with
        ``ui.speech: screens``, once it has stayed GUIDANCE_HOLD_S, at most every
        GUIDANCE_GAP_S, and only when it says something new."""
        guidance = self.flow.face_guidance() if self.flow.step.camera else None
        now = self.clock()
        if guidance != self._said_guidance[0]:
            self._said_guidance = (guidance, now)
            if challenge and guidance in (INTRO, RETRY):
                self.speak([guidance], "prompt")
                self._spoke_guidance, self._spoke_guidance_at = guidance, now
            return
        if (guidance is None or challenge or guidance == self._spoke_guidance
                or now - self._said_guidance[1] < GUIDANCE_HOLD_S or now - self._spoke_guidance_at < GUIDANCE_GAP_S):
            return
        self.speak([guidance], "screen")
        self._spoke_guidance, self._spoke_guidance_at = guidance, now

    def speak(self, messages: list[Message | None], kind: Literal["prompt", "screen"], after_s: float = 0.0) -> None:
        """Say these messages, translated into the visit's language, as one line."""
        if not self.speaker.wants(kind):
            return
        catalog = self.painter.catalog
        parts = [catalog(message).rstrip() for message in messages if message is not None and speakable(message)]
        if parts:
            # Each part ends as a sentence, so the voice pauses between them.
            text = " ".join(part if part.endswith((".", "?", "!", ":")) else part + "." for part in parts)
            self.speaker.say(text, catalog.language, kind, after_s)

    def render(self) -> None:
        self.painter.records.clear()
        assert self.screen is not None
        self.screen.draw()
        if self.dialog.showing():
            self.dialog.draw()
        elif self.help.showing():
            self.help.draw()
        if self.grabber is not None and self.flow.step.camera:
            frame = self.grabber.latest()
            if frame is not None and frame.seq != self._drawn_seq:
                self._drawn_seq = frame.seq
                self.camera_frames_drawn += 1

    def step(self, paced: bool = True) -> bool:
        """One frame; False once the window was closed."""
        start = time.perf_counter()
        self.handle_events()
        assert self.screen is not None
        self.screen.update(self.clock())
        self.feed_camera()
        self.flow.tick()
        self.sync_screen()
        self.cue()
        self.render()
        pygame.display.flip()
        done = time.perf_counter()
        self.work_ms.append((done - start) * 1e3)
        self.flip_times.append(done)
        self.frames += 1
        if paced:
            self._pacer.tick(self.max_fps)
        return self.running

    def run(self) -> None:
        while self.step():
            pass

    def apply(self, ui: UiSettings, catalog: Catalog) -> None:
        """A reloaded configuration: language (from the next frame), frame rate, mirror."""
        self.max_fps = ui.max_fps
        self.ctx.mirror_preview = ui.mirror_preview
        self.ui = ui
        self.sounds.apply(ui.sound, ui.sound_volume)
        self.speaker.apply(ui.speech, ui.speech_rate_wpm, ui.sound_volume)
        self.set_catalog(catalog)

    def set_catalog(self, catalog: Catalog) -> None:
        """Switch the configured language (and high contrast, larger text of ``self.ui``);
        takes effect on the next frame, and is where every visit starts from."""
        self._catalogs[catalog.language] = catalog
        self.defaults = Preferences(catalog.language, self.ui.large_text, self.ui.high_contrast)
        self.prefs = self.defaults
        self.help.texts = {str(k): v for k, v in self.ui.help_text.items()}
        self._apply_prefs()

    def save_screenshot(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.surface, str(path))
        return path

    def close(self, timeout: float | None = None) -> bool:
        """Stop the worker, the camera and the jobs (finishing a write under way).

        ``timeout``: seconds for all of it (the daemon must exit soon after SIGTERM); the
        jobs thread, which may be writing, gets whatever the others left. Returns False
        if a thread was still running when the time ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left(default: float) -> float:
            return default if deadline is None else max(0.05, deadline - time.monotonic())

        finished = True
        self.speaker.close()
        if self.worker is not None:
            finished = self.worker.close(min(left(10.0), 10.0 if deadline is None else 1.0)) and finished
        if self.grabber is not None:
            self.grabber.close()
        return self.flow.jobs.close(left(10.0)) and finished
