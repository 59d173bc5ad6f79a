"""``facekiosk run --demo`` (and ``make demo``): the real kiosk service, driven by a script.

Needs no camera, no display and no network. The service is the one ``facekiosk run``
starts (models, store, camera through the reopening source, UI, watchdog, STATUS), with:

* a scripted camera that shows the public-domain faces scikit-image ships and can be
  switched between them: person A (NASA's portrait of Eileen Collins), person B (the man
  in the CC0 "camera" photo) and an empty room;
* a throw-away state folder: a fresh template key (mode 0600) and a local SQLite store;
* sync off; a 800x480 window, on SDL's dummy driver unless $DISPLAY or $WAYLAND_DISPLAY
  is set (then a real window opens and the demo lingers on each screen);
* the liveness challenge loaded but switched off for the face comparisons (their camera
  shows photos, which cannot answer its prompts), then on for a last step: person A's
  photo held up for a reset, which the challenge refuses;
* the quality gate ``quality.max_yaw_deg`` widened to 40 degrees: person B looks about 32
  degrees aside, past the default 25, and with the default gate the kiosk would refuse
  him for his pose before ever comparing his face. The demo is about the comparison.

The journeys are driven through the screens (touch events on the real buttons and the
on-screen keyboard), stepping the service's own loop iteration. Each step prints its
result and time; every screen is saved as a PNG. Exit status 0 only if every step had the
expected outcome.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from kiosk.camera.sources import Pacer
from kiosk.config import Settings, parse_config
from kiosk.flows.journeys import reset, signin, signup
from kiosk.flows.scripts import Mark, reset_attempt, sign_up
from kiosk.flows.steps import Action

if TYPE_CHECKING:
    from kiosk.daemon.service import KioskService

EMAIL = "ann.demo@example.org"
PASSWORD = "Demo password 1!"
NEW_PASSWORD = "Brand new pass 2!"
DEMO_MAX_YAW_DEG = 40.0
DEMO_SIZE = (800, 480)
STEP_TIMEOUT_S = 60.0
# Step 6 waits this long at most for the held photo to settle before the first prompt: on
# a slow or emulated machine the first identity embedding alone can take seconds, and the
# default 4 s would end the challenge as "not_steady" before any prompt was shown.
DEMO_SETTLE_TIMEOUT_S = 30.0
# The refusal step 6 must end in: a prompt was shown and no answer started in time.
UNANSWERED = "too_late"
# What one camera frame's analysis (detection, alignment, every embedding) may take for the
# shipped timeouts to hold; the demo measures it and, on a slower machine (an emulator, a
# small board), multiplies its waits and the flow's capture, check, idle and result
# timeouts by measured / this, up to MAX_TIME_SCALE. The liveness challenge's answer
# windows are never widened: step 6 checks that a photo cannot answer within them.
FRAME_BUDGET_S = 0.15
MAX_TIME_SCALE = 200.0


def time_scale(analysis_s: float) -> float:
    """How much more time a machine that analyses one frame in ``analysis_s`` seconds gets
    (1.0: none)."""
    return min(MAX_TIME_SCALE, max(1.0, analysis_s / FRAME_BUDGET_S))


def scaled_settings(settings: Settings, scale: float) -> Settings:
    """``settings`` with the flow's timeouts multiplied by ``scale``."""
    if scale <= 1.0:
        return settings
    data = settings.model_dump()
    for key in ("idle_timeout_s", "result_timeout_s", "capture_timeout_s", "verify_timeout_s"):
        data["ui"][key] = getattr(settings.ui, key) * scale
    data["liveness"]["settle_timeout_s"] = settings.liveness.settle_timeout_s * scale
    return parse_config(data, base_dir=Path(settings.base_dir), origin="demo config (slow machine)")


def measure_analysis_s(service: "KioskService", frame: np.ndarray, runs: int = 2) -> float:
    """The fastest of ``runs`` analyses of one demo frame by the running kiosk's pipeline."""
    import cv2

    assert service.kiosk is not None
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    best = float("inf")
    for _ in range(runs):
        start = time.monotonic()
        service.kiosk.pipeline.analyze(rgb)
        best = min(best, time.monotonic() - start)
    return best


class SwitchableCamera:
    """A frame source showing one of a few scripted scenes, switchable at any time."""

    def __init__(self, scenes: dict[str, list[np.ndarray]], current: str, fps: float = 30.0) -> None:
        for frames in scenes.values():
            for frame in frames:
                frame.flags.writeable = False
        self.scenes = scenes
        self.current = current
        self.fps = fps
        self._pacer = Pacer(fps)
        self._index = 0

    def show(self, name: str) -> None:
        if name not in self.scenes:
            raise KeyError(name)
        self.current = name  # one attribute: read by the camera thread on its next frame

    def read(self) -> np.ndarray:
        self._pacer.wait()
        frames = self.scenes[self.current]
        self._index += 1
        return frames[self._index % len(frames)]

    def close(self) -> None:
        pass


def demo_camera() -> SwitchableCamera:
    from kiosk.camera.scripted import PERSON_A, PERSON_B, blank_frames, person_frames

    frames_a = person_frames(PERSON_A)
    scenes = {"A": frames_a, "A-photo": frames_a[:1], "B": person_frames(PERSON_B), "empty": blank_frames(3)}
    return SwitchableCamera(scenes, "empty")


def demo_settings(settings: Settings, state_dir: Path) -> Settings:
    """The config file's settings with the demo's store, key, window and yaw gate."""
    key = state_dir / "template-key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(os.urandom(32))
    data = settings.model_dump()
    data["models"]["dir"] = str(settings.resolve(settings.models.dir))
    data["store"] = {"path": str(state_dir / "facekiosk.db"), "encrypt_templates": True, "key_file": str(key)}
    data["sync"] = {"enabled": False}
    data["quality"]["max_yaw_deg"] = max(DEMO_MAX_YAW_DEG, settings.quality.max_yaw_deg)
    # The challenge's models load at start; the journeys switch it off and on (Journeys).
    data["liveness"]["required_for_reset"] = True
    data["liveness"]["required_for_enrollment"] = False
    data["liveness"]["settle_timeout_s"] = max(DEMO_SETTLE_TIMEOUT_S, settings.liveness.settle_timeout_s)
    data["ui"].update(fullscreen=False, width=DEMO_SIZE[0], height=DEMO_SIZE[1], admin_pin_hash="")
    if settings.ui.font:
        data["ui"]["font"] = str(settings.resolve(settings.ui.font))
    return parse_config(data, base_dir=state_dir, origin="demo config")


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    seconds: float


class DemoStopped(Exception):
    """The service was asked to stop (Ctrl-C, SIGTERM) while the demo ran."""


def _print(text: str) -> None:
    print(text, flush=True)


def run_demo(settings: Settings, screens: Path, log_level: str = "INFO") -> int:
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not has_display:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

    from kiosk.daemon.logs import configure_logging
    from kiosk.daemon.service import KioskService

    state_dir = Path(tempfile.mkdtemp(prefix="facekiosk-demo-"))
    try:
        config = demo_settings(settings, state_dir)
        camera = demo_camera()
        _print("== FaceKiosk demo: the real kiosk service, a scripted camera, a throw-away store")
        _print(f"   state: {state_dir} (template key 0600, SQLite store); screenshots: {screens}")
        _print(f"   display: {'a real window' if os.environ.get('SDL_VIDEODRIVER') != 'dummy' else 'none (SDL dummy driver)'}")
        _print(f"   note: quality.max_yaw_deg widened {settings.quality.max_yaw_deg:g} -> {config.quality.max_yaw_deg:g} degrees: "
               "person B looks ~32 degrees aside; the default gate would refuse his pose before comparing faces")
        _print("   note: liveness challenge off for steps 1-5 (the scripted camera shows photos, which cannot answer "
               "its prompts), on for step 6")
        _print(f"   note: liveness.settle_timeout_s widened {settings.liveness.settle_timeout_s:g} -> "
               f"{config.liveness.settle_timeout_s:g} s, so a slow machine gets time to show step 6's prompt")
        service = KioskService(config, None, logger=configure_logging(log_level), open_camera=lambda: camera)
        service.install_signal_handlers()
        started = time.monotonic()
        try:
            service.start()
            if not service.ready:
                raise DemoStopped()
            _print(f"== service ready after {time.monotonic() - started:.2f} s: {service.status_text()}")
            analysis_s = measure_analysis_s(service, camera.scenes["A"][0])
            scale = time_scale(analysis_s)
            if scale > 1.0:
                assert service.kiosk is not None
                scaled = scaled_settings(service.kiosk.settings, scale)
                service.kiosk.apply(scaled)
                if service.kiosk.liveness is not None:  # a restart-only section: the factory takes it here
                    service.kiosk.liveness.settings = scaled.liveness
                _print(f"   note: one frame's analysis took {analysis_s:.2f} s (budget {FRAME_BUDGET_S:g} s): a slow machine, "
                       f"so the demo's waits and the capture, check, idle and result timeouts are {scale:.1f} times "
                       "longer (the liveness answer windows are not)")
            results = Journeys(service, camera, screens, linger_s=1.0 if has_display else 0.0,
                               step_timeout_s=STEP_TIMEOUT_S * scale).run_all()
        except DemoStopped:
            _print("== demo stopped")
            return 130
        finally:
            service.stop()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    failed = [result for result in results if not result.ok]
    _print(f"== {len(results) - len(failed)} of {len(results)} steps as expected; screenshots in {screens}")
    return 1 if failed else 0


class Journeys:
    def __init__(self, service: "KioskService", camera: SwitchableCamera, screens: Path, linger_s: float = 0.0,
                 step_timeout_s: float = STEP_TIMEOUT_S) -> None:
        from kiosk.ui.driver import Driver

        assert service.kiosk is not None
        self.service = service
        self.kiosk = service.kiosk
        self.camera = camera
        self.linger_s = linger_s
        self.step_timeout_s = step_timeout_s
        self.ui = Driver(self.kiosk.app, screens, step=self._step)
        self.flow = self.kiosk.flow
        self.results: list[StepResult] = []
        self.flow.require_liveness(False)
        # While not None: every challenge prompt that was on screen after a loop iteration.
        self.prompts_seen: list[str] | None = None
        self._in_step = False

    def _step(self, paced: bool = False) -> None:
        if not self.service.step(paced=paced) and self.service.requests.stop:
            raise DemoStopped()
        if self.prompts_seen is not None and not self._in_step:
            prompt = self.flow.liveness_prompt()
            if prompt and (not self.prompts_seen or self.prompts_seen[-1] != prompt):
                self.prompts_seen.append(prompt)
                self._in_step = True
                try:
                    self.ui.shot(f"prompt-{prompt}")
                finally:
                    self._in_step = False

    def shot(self, label: str = "") -> None:
        self.ui.shot(label)
        end = time.monotonic() + self.linger_s
        while time.monotonic() < end:
            self.ui.step(paced=True)

    def run_all(self) -> list[StepResult]:
        steps: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
            ("enroll person A (email, password, consent, face)", self.enroll),
            ("sign in with the password", lambda: self.sign_in(PASSWORD)),
            ("reset the password by face (person A)", self.reset_accepted),
            ("sign in with the new password", lambda: self.sign_in(NEW_PASSWORD)),
            ("impostor (person B) tries to reset A's password", self.impostor_refused),
            ("A's photo held up for a reset, liveness challenge on", self.photo_refused_by_liveness),
        ]
        for number, (name, run) in enumerate(steps, 1):
            start = time.monotonic()
            try:
                ok, detail = run()
            except DemoStopped:
                raise
            except AssertionError as err:  # the driver timed out waiting for a screen
                ok, detail = False, str(err)
            seconds = time.monotonic() - start
            self.results.append(StepResult(name, ok, detail, seconds))
            _print(f"[{'ok' if ok else 'FAIL'}] {number}. {name}: {detail} ({seconds:.1f} s)")
            self.go_home()
        if self.ui.problems:
            _print(f"   warning: {len(self.ui.problems)} text overflow(s), first: {self.ui.problems[0]}")
        return self.results

    def go_home(self) -> None:
        self.camera.show("empty")
        if self.flow.step is not self.flow.home:
            self.flow.act(Action.START_OVER)
        self.ui.step(2)

    # -- the journeys -----------------------------------------------------------------------

    def enroll(self) -> tuple[bool, str]:
        ui, flow = self.ui, self.flow
        self.shot("start")
        started: dict[str, float] = {}

        def at(mark: Mark) -> None:
            if mark in (Mark.EMAIL_TYPED, Mark.CONSENT):
                self.shot()
            elif mark is Mark.CAPTURING:
                self.camera.show("A")
                started["capture"] = time.monotonic()
                ui.wait_for(lambda: flow.capture_progress()[0] >= 2 or flow.step is not signup.FACE, self.step_timeout_s, "two face samples")
                self.shot("capturing")
                ui.wait_for(lambda: flow.step is not signup.FACE or flow.busy is not None, self.step_timeout_s, "the face capture")
                started["captured"] = time.monotonic()

        ui.run(sign_up(flow, ui, EMAIL, PASSWORD), at, self.step_timeout_s)
        ui.step()
        self.shot()
        if flow.step is not signup.DONE:
            return False, f"ended on {flow.step.name}"
        user, pending = self._stored()
        if user is None:
            return False, "the kiosk said done, but the store has no such user"
        captured = started.get("captured", 0.0) - started.get("capture", 0.0)
        return True, (f"enrolled: {len(user.templates)} encrypted face template(s), {pending} outbox row(s) "
                      f"(face capture {captured:.1f} s)")

    def _stored(self) -> tuple[Any, int]:
        from kiosk.store import Store

        with Store.open(self.kiosk.settings) as store:
            user = store.get_user(EMAIL)
            return user, sum(1 for entry in store.pending_outbox(1000) if entry.user_id == user.id)

    def sign_in(self, password: str) -> tuple[bool, str]:
        ui, flow = self.ui, self.flow
        ui.press(Action.SIGNIN)
        ui.type(EMAIL)
        ui.submit()
        ui.type(password)
        self.shot()
        asked = time.monotonic()
        ui.submit()
        ui.wait_for(lambda: flow.busy is None and (flow.step is not signin.PASSWORD or flow.session.message is not None),
                    self.step_timeout_s, "the password check")
        took = time.monotonic() - asked
        self.shot()
        if flow.step is not signin.WELCOME:
            return False, f"not signed in (screen {flow.step.name})"
        return True, f"welcome screen (password check {took:.2f} s, argon2id)"

    def _reset_until_verdict(self, scene: str, label: Callable[[], str] = lambda: "checking") -> float:
        """A reset for A's email through the screens (kiosk.flows.scripts.reset_attempt),
        with ``scene`` in front of the camera from the face check on."""
        shown: dict[str, float] = {}

        def at(mark: Mark) -> None:
            if mark is Mark.EMAIL_TYPED:
                self.shot()
            elif mark is Mark.FACE_CHECK:
                self.camera.show(scene)
                shown["at"] = time.monotonic()
            elif mark is Mark.FACE_SEEN:
                self.shot(label())

        self.ui.run(reset_attempt(self.flow, self.ui, EMAIL), at, self.step_timeout_s)
        took = time.monotonic() - shown.get("at", time.monotonic())
        self.ui.step()
        self.shot()
        return took

    def _score(self) -> str:
        outcome = self.flow.session.outcome
        if outcome is None or outcome.score is None:
            return "no comparison made"
        threshold = outcome.threshold if outcome.threshold is not None else self.flow.rules.verify_threshold
        return f"score {outcome.score:.3f} vs threshold {threshold:.3f}"

    def reset_accepted(self) -> tuple[bool, str]:
        ui, flow = self.ui, self.flow
        took = self._reset_until_verdict("A")
        if flow.step is not reset.PASSWORD:
            return False, f"face not accepted (screen {flow.step.name}; {self._score()})"
        score = self._score()
        self.camera.show("empty")
        ui.type(NEW_PASSWORD)
        ui.submit()
        ui.type(NEW_PASSWORD)
        self.shot()
        ui.submit()
        ui.wait_step(reset.DONE, self.step_timeout_s)
        self.shot()
        return True, f"face accepted in {took:.1f} s ({score}), new password set"

    def impostor_refused(self) -> tuple[bool, str]:
        flow = self.flow
        took = self._reset_until_verdict("B")
        message = flow.session.message.msgid if flow.session.message is not None else ""
        outcome = flow.session.outcome
        compared = outcome is not None and outcome.score is not None and outcome.threshold is not None and outcome.score > outcome.threshold
        if flow.step is reset.REFUSED and message == "We could not verify you." and compared:
            return True, f"refused in {took:.1f} s: \"{message}\" ({self._score()})"
        return False, f"expected a refusal after a comparison; got screen {flow.step.name}, \"{message}\" ({self._score()})"

    def photo_refused_by_liveness(self) -> tuple[bool, str]:
        flow = self.flow
        self.prompts_seen = []
        flow.require_liveness(True)
        try:
            took = self._reset_until_verdict("A-photo")
        finally:
            flow.require_liveness(False)
            prompts, self.prompts_seen = self.prompts_seen, None
        outcome = flow.session.outcome
        message = flow.session.message.msgid if flow.session.message is not None else ""
        evidence = outcome.liveness if outcome is not None else None
        return judge_unanswered_prompt(flow.step is reset.REFUSED, prompts or [], evidence, message, took)


def judge_unanswered_prompt(refused: bool, prompts_on_screen: list[str], evidence: dict[str, Any] | None,
                            message: str, took: float) -> tuple[bool, str]:
    """Step 6 passes only if the screen showed a prompt, the challenge recorded that prompt
    as shown, and the refusal is the unanswered-prompt one (``too_late``). Any other
    liveness refusal (``not_steady`` on a slow machine, ``face_lost``...) is a failure: it
    does not show that a photo cannot answer a prompt."""
    challenge = (evidence or {}).get("challenge") or {}
    shown = list(challenge.get("evidence", []))
    prompt = next((p for p in prompts_on_screen if p), "")
    if not refused or evidence is None:
        return False, f"expected a liveness refusal; got \"{message}\" (refused={refused}, evidence={evidence is not None})"
    if evidence.get("passed"):
        return False, "the liveness challenge passed for a photo"
    if not prompt or not shown:
        return False, (f"no prompt was shown before the refusal ({challenge.get('reason')}): the challenge ended before "
                       "it asked anything")
    if challenge.get("reason") != UNANSWERED or shown[-1].get("outcome") != UNANSWERED:
        return False, f"prompt \"{prompt}\" shown, but refused for {challenge.get('reason')!r}, not the unanswered prompt"
    return True, (f"prompt \"{prompt}\" shown and unanswered, refused in {took:.1f} s ({UNANSWERED}: "
                  f"no answer started within the window): \"{message}\"")
