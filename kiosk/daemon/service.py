"""The kiosk service: camera, face pipeline, store, sync and UI in one loop, under systemd.

Start-up, in order: the face models, the store (with its template key), the sync engine
(when ``sync.enabled``), the camera (through a :class:`ReopeningSource`), the UI. The loop
runs from then on, and ``READY=1`` goes to systemd once the camera has given its first
frame, with a ``STATUS=`` line (users, sync state, camera) that is kept up to date.

Watchdog: every loop iteration beats the ``ui`` heartbeat, and beats ``face-worker``,
``store-jobs`` and ``sync`` for those threads as long as each is idle or has been busy for
less than its limit. The pinger thread sends ``WATCHDOG=1`` only while every heartbeat is
fresh, so a hung loop or a stuck worker stops the pings and systemd restarts the service.

Signals only set flags (:class:`Requests`); the loop acts on them:

* SIGTERM / SIGINT: leave the loop, ``STOPPING=1``, let the jobs thread finish the write
  under way (SQLite rolls back one that cannot finish in time), close the camera, stop
  sync; all within :data:`STOP_BUDGET_S`, then exit 0.
* SIGHUP: reload the config file: quality gates, thresholds (security levels), timeouts,
  language. A bad file is logged and the running config kept. Changes to models, store,
  passwords, camera, sync or the display size are logged as needing a restart.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from kiosk import __version__
from kiosk.camera.resilient import ReopeningSource, reopening_source
from kiosk.camera.sources import FrameSource
from kiosk.config import Settings, load_config
from kiosk.daemon.hooks import hooks_enabled, journeys_from_env
from kiosk.daemon.logs import log_event
from kiosk.daemon.notify import Notifier, watchdog_interval_s
from kiosk.daemon.watchdog import Heartbeats, WatchdogPinger
from kiosk.errors import ConfigError, KioskError
from kiosk.flows.machine import Flow, Step

# SIGTERM to exit, at most (the issue asks for 5 s; the unit's TimeoutStopSec is 10 s).
STOP_BUDGET_S = 4.0
# STATUS= is re-sent this often when it changed; users are counted this often (and after
# every enrollment) on the service's own read connection.
STATUS_EVERY_S = 2.0
USER_COUNT_EVERY_S = 30.0
# A thread busy for longer than this on one piece of work counts as stuck: its heartbeat
# stops. A face analysis takes ~0.1-0.3 s; a store job (argon2, a write, a 1:N duplicate
# search over a large gallery) a few seconds at most.
WORKER_BUSY_LIMIT_S = 10.0
JOBS_BUSY_LIMIT_S = 30.0
# Heartbeats older than this fraction of WatchdogSec stop the pings.
HEARTBEAT_AGE_OF_WATCHDOG = 0.8
# Sections whose changes a reload cannot apply to a running kiosk.
RESTART_SECTIONS = ("models", "detector", "store", "passwords", "lockout", "audit", "camera", "sync", "liveness")
RESTART_UI_KEYS = ("fullscreen", "width", "height", "font")
WAITING_LOG_EVERY_S = 10.0


class DisplayError(KioskError):
    """The screen cannot be opened (SDL video driver, permissions)."""


@dataclasses.dataclass
class Requests:
    """What signal handlers ask of the loop. Handlers only set these flags."""

    stop: bool = False
    reload: bool = False
    freeze: bool = False  # test hook: hang the UI loop
    journey: bool = False  # test hook: start the scripted journeys


def check_camera_settings(settings: Settings) -> None:
    camera = settings.camera
    if camera.source in ("video", "images") and not camera.path:
        kind = "a video file" if camera.source == "video" else "an image folder"
        raise ConfigError(f"camera.path must name {kind} for camera.source {camera.source}")


def count_users(store) -> int:
    return int(store.conn.execute("SELECT COUNT(*) FROM users WHERE deleted_at IS NULL").fetchone()[0])


class OutcomeLog:
    """Logs what the flow decided, from the changes of its step and pending job: an
    enrollment saved or refused, a sign-in, a reset accepted or refused, a lockout.

    Emails appear only as the store's keyed hash (``email_hash``)."""

    def __init__(self, logger: logging.Logger, email_hash: Callable[[str], str | None]) -> None:
        self.log = logger
        self.email_hash = email_hash
        self._last: tuple[Step, str | None, int] | None = None

    def update(self, flow: Flow) -> str | None:
        """Log the outcome this frame brought, if any; returns its event name."""
        session = flow.session
        current = (flow.step, session.pending, session.id)
        last, self._last = self._last, current
        if last is None or current == last:
            return None
        step, pending = flow.step, session.pending
        last_step, last_pending, last_id = last
        if last_id != session.id:
            return None  # a new person (start over, timeout): nothing decided
        hashed = self.email_hash(session.email.key) if session.email is not None else None
        outcome = session.outcome
        score = round(outcome.score, 4) if outcome is not None and outcome.score is not None and math.isfinite(outcome.score) else None
        event: str | None = None
        fields: dict[str, Any] = {"email_hash": hashed}
        if pending == "enroll" and last_pending != "enroll":
            event, message = "enroll_saving", "saving an enrollment"
        elif step == Step.SIGNUP_DONE and last_step != step:
            event, message = "enrolled", "enrolled a new user"
        elif step == Step.PROBLEM and last_pending == "enroll":
            event, message = "enroll_refused", "enrollment refused"
            fields["reason"] = session.problem.title.msgid if session.problem is not None else ""
        elif step == Step.WELCOME and last_step != step:
            event, message = "signed_in", "signed in with a password"
        elif step == Step.SIGNIN_PASSWORD and last_pending == "sign_in" and pending is None:
            event, message = "sign_in_refused", "wrong password"
        elif step == Step.RESET_PASSWORD and last_step == Step.RESET_FACE:
            event, message = "reset_accepted", "face accepted for a password reset"
            fields.update(score=score, reason=outcome.reason if outcome else None, liveness=liveness_field(outcome))
        elif step == Step.RESET_REFUSED and last_step != step:
            event, message = "reset_refused", "face refused for a password reset"
            fields.update(score=score, reason=outcome.reason if outcome else None, liveness=liveness_field(outcome))
        elif step == Step.RESET_DONE and last_step != step:
            event, message = "password_reset", "password set after a face check"
        elif step == Step.LOCKED and last_step != step:
            event, message = "locked", "locked out after failed attempts"
            fields["reason"] = session.lock_scope
        if event is not None:
            log_event(self.log, event, message, logging.WARNING if event == "locked" else logging.INFO, **fields)
        return event


def liveness_field(outcome) -> str | None:
    """The journal's short word on the challenge: "passed", its failure code, or None
    when no challenge ran (the full evidence is in the audit log)."""
    if outcome is None or outcome.liveness is None:
        return None
    return "passed" if outcome.liveness.get("passed") else str(outcome.liveness.get("reason") or "failed")


class KioskService:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        *,
        logger: logging.Logger | None = None,
        notifier: Notifier | None = None,
        open_camera: Callable[[], FrameSource] | None = None,
        surface=None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``config_path``: the file SIGHUP reloads (None: reloading is not possible).
        ``open_camera``: a factory of frame sources (default: the camera section's);
        ``surface``: a pygame surface to draw on (default: open the display)."""
        self.settings = settings
        self.started_with = settings  # what restart-only sections run with until a restart
        self.config_path = config_path
        self.log = logger or logging.getLogger("facekiosk")
        self.notifier = notifier or Notifier()
        self.environ = os.environ if environ is None else environ
        self.test_hooks = hooks_enabled(self.environ)
        self.clock = clock
        self._open_camera = open_camera
        self._surface = surface
        self.requests = Requests()
        self.heartbeats = Heartbeats(clock)
        self.pipeline = None
        self.app = None
        self.source: ReopeningSource | None = None
        self.sync = None
        self._store = None  # the service's own connection: user count, email hashes
        self._pinger: WatchdogPinger | None = None
        self._outcomes: OutcomeLog | None = None
        self._journey: Iterator[None] | None = None
        self._sync_beat_at = clock()
        self._status_at = -1e9
        self._count_at = -1e9
        self._stopped = False
        self.ready = False
        self.user_count = 0
        self.started_at = clock()
        self.ready_after_s: float | None = None
        self.reloads = 0

    # -- signals ----------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP reloads; with test hooks SIGUSR1 freezes the loop
        and SIGUSR2 starts the scripted journeys. (Main thread only.)"""
        requests = self.requests

        def stop(signum, frame) -> None:
            requests.stop = True

        def reload(signum, frame) -> None:
            requests.reload = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        if self.test_hooks:
            def freeze(signum, frame) -> None:
                requests.freeze = True

            def journey(signum, frame) -> None:
                requests.journey = True

            signal.signal(signal.SIGUSR1, freeze)
            signal.signal(signal.SIGUSR2, journey)

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        """Load, open and wire everything, then step the loop until the camera's first
        frame and send READY=1. Raises KioskError (one line) when the kiosk cannot start;
        returns early (not ready) when asked to stop meanwhile."""
        settings = self.settings
        log_event(self.log, "start", f"facekiosk {__version__} starting (config {self.config_path or 'built in'})")
        check_camera_settings(settings)

        from kiosk.store import Store
        from kiosk.vision.pipeline import FacePipeline

        self.pipeline = FacePipeline.from_settings(settings)
        if self.requests.stop:
            return
        self._store = Store.open(settings, environ=self.environ, require_key=True)
        self.user_count = count_users(self._store)
        self._count_at = self.clock()
        self._outcomes = OutcomeLog(self.log, self._store.audit.email_hash)
        sync_status = None
        if settings.sync.enabled:
            sync_status = self._start_sync()
        self.source = self._make_source()
        self.app = self._create_app(sync_status)
        self._start_watchdog()
        self._wait_for_first_frame()
        if self.requests.stop:
            return
        self.ready = True
        self.ready_after_s = self.clock() - self.started_at
        status = self.status_text()
        self.notifier.ready(status)
        self.notifier.status(status)  # remembered, so an unchanged line is not re-sent
        self._status_at = self.clock()
        log_event(self.log, "ready", f"ready after {self.ready_after_s:.2f} s: {status}",
                  user_count=self.user_count, sync_state=self._sync_state())

    def _start_sync(self):
        from kiosk.sync import SyncEngine

        def beat() -> None:
            self._sync_beat_at = self.clock()

        settings = self.settings
        self.sync = SyncEngine.from_settings(settings, settings.sync, environ=dict(self.environ), beat=beat,
                                             logger=logging.getLogger(f"{self.log.name}.sync"))
        self.sync.start()
        return self.sync.status

    def _make_source(self) -> ReopeningSource:
        def lost(reason: str) -> None:
            log_event(self.log, "camera_lost", f"camera unavailable: {reason}", logging.WARNING, reason=reason)

        def recovered(seconds: float) -> None:
            log_event(self.log, "camera_recovered", f"camera back after {seconds:.1f} s")

        if self._open_camera is not None:
            return ReopeningSource(self._open_camera, on_lost=lost, on_recovered=recovered)
        return reopening_source(self.settings.camera, self.settings.resolve, on_lost=lost, on_recovered=recovered)

    def _create_app(self, sync_status):
        import pygame

        from kiosk.store import Store
        from kiosk.ui.app import create_app

        settings, environ = self.settings, dict(self.environ)
        try:
            return create_app(settings, settings.ui, self.pipeline, lambda: Store.open(settings, environ=environ),
                              source=self.source, surface=self._surface, sync_status=sync_status)
        except pygame.error as err:
            driver = self.environ.get("SDL_VIDEODRIVER", "")
            raise DisplayError(
                f"cannot open the display{f' (SDL_VIDEODRIVER={driver})' if driver else ''}: {err}; "
                "on a console-only kiosk set SDL_VIDEODRIVER=kmsdrm and add the user to the video and render groups"
            ) from None

    def _start_watchdog(self) -> None:
        interval = watchdog_interval_s()
        if interval is None:
            return
        self._beat()
        max_age = HEARTBEAT_AGE_OF_WATCHDOG * 2 * interval

        def stale(names: list[str]) -> None:
            log_event(self.log, "watchdog_stale", f"not pinging the watchdog: no progress in {', '.join(names)}",
                      logging.ERROR, reason=",".join(names))

        self._pinger = WatchdogPinger(self.heartbeats, self.notifier.watchdog, interval, max_age, stale)
        self._pinger.start()

    def _wait_for_first_frame(self) -> None:
        grabber = self.app.grabber
        logged = self.clock()
        while grabber.latest() is None and not self.requests.stop:
            self.step()
            if self.clock() - logged >= WAITING_LOG_EVERY_S:
                logged = self.clock()
                log_event(self.log, "waiting_camera", f"waiting for the camera's first frame: {grabber.error or 'no frame yet'}",
                          logging.WARNING, reason=grabber.error)

    # -- the loop ---------------------------------------------------------------------------

    def step(self, paced: bool = True) -> bool:
        """One iteration: the UI frame, heartbeats, outcomes, STATUS, and what signals asked.
        False once the service should stop."""
        requests = self.requests
        if requests.freeze:
            self._frozen()
            return False
        if requests.reload and self.ready:
            requests.reload = False
            self.reload()
        if requests.journey:
            requests.journey = False
            self._start_journey()
        running = self.app.step(paced=paced)
        self._beat()
        if self._outcomes is not None and self._outcomes.update(self.app.flow) == "enrolled":
            self._count_at = -1e9
        if self._journey is not None:
            try:
                next(self._journey)
            except StopIteration:
                self._journey = None
                log_event(self.log, "test_journey", "test journey finished")
        self._update_status()
        if not running:
            requests.stop = True
        return not requests.stop

    def run(self) -> None:
        """The loop, until a stop is asked (or the window closed)."""
        while not self.requests.stop and self.step():
            pass

    def _beat(self) -> None:
        now = self.clock()
        beats = self.heartbeats
        beats.beat("ui")
        worker = self.app.worker if self.app is not None else None
        since = worker.busy_since if worker is not None else None
        if since is None or now - since < WORKER_BUSY_LIMIT_S:
            beats.beat("face-worker")
        since = getattr(self.app.flow.jobs, "busy_since", None) if self.app is not None else None
        if since is None or now - since < JOBS_BUSY_LIMIT_S:
            beats.beat("store-jobs")
        if self.sync is not None and now - self._sync_beat_at < self._sync_limit_s():
            beats.beat("sync")

    def _sync_limit_s(self) -> float:
        # A pass may wait on one request for http_timeout_s; the engine beats between them.
        return max(60.0, 3 * self.settings.sync.http_timeout_s)

    def _frozen(self) -> None:
        log_event(self.log, "test_freeze", "test hook: the UI loop is frozen", logging.WARNING)
        while not self.requests.stop:
            time.sleep(0.05)

    def _start_journey(self) -> None:
        if not self.test_hooks:
            return
        try:
            self._journey = journeys_from_env(self.app.flow, self.environ)
        except ValueError as err:
            log_event(self.log, "test_journey", str(err), logging.ERROR)
            return
        log_event(self.log, "test_journey", "test journey started")

    # -- STATUS -----------------------------------------------------------------------------

    def _sync_status(self):
        return self.sync.status() if self.sync is not None else None

    def _sync_state(self) -> str:
        status = self._sync_status()
        return status.state if status is not None else "not configured"

    def _sync_line(self) -> str:
        status = self._sync_status()
        if status is None:
            return "sync not configured"
        return status.line() if hasattr(status, "line") else f"sync {status.state}"

    def camera_error(self) -> str | None:
        grabber = self.app.grabber if self.app is not None else None
        if grabber is None:
            return "no camera"
        if grabber.error:
            return grabber.error
        return None if grabber.latest() is not None else "no frame yet"

    def status_text(self) -> str:
        users = f"{self.user_count} user{'' if self.user_count == 1 else 's'}"
        error = self.camera_error()
        camera = "camera ok" if error is None else f"camera unavailable ({error})"
        state = "ready" if self.ready else "starting"
        return f"{state}: {users}, {self._sync_line()}, {camera}"

    def _update_status(self) -> None:
        now = self.clock()
        if self._store is not None and now - self._count_at >= USER_COUNT_EVERY_S:
            self._count_at = now
            self.user_count = count_users(self._store)
        if now - self._status_at >= STATUS_EVERY_S:
            self._status_at = now
            self.notifier.status(self.status_text())

    # -- reload -----------------------------------------------------------------------------

    def reload(self) -> bool:
        """Apply the config file again (SIGHUP). False, with the old config kept, when the
        new one is unusable."""
        from kiosk.flows.faces import FaceRules
        from kiosk.flows.machine import FlowConfig
        from kiosk.i18n import load_catalog

        self.notifier.reloading()
        try:
            if self.config_path is None:
                raise ConfigError("this kiosk was started without a config file: nothing to reload")
            new = load_config(self.config_path)
            # Everything that can fail first, so a bad file changes nothing.
            rules = FaceRules.from_pipeline(self.pipeline, new)
            catalog = load_catalog(new.ui.language)
            # The store (jobs thread) keeps the password rules and audit settings it was
            # opened with; the screens must say what it will accept. The liveness
            # challenge, its models loaded at start, changes at a restart too.
            running = self.app.flow.config
            flow_config = dataclasses.replace(FlowConfig.from_settings(new.ui, new), passwords=running.passwords,
                                              store_images=running.store_images, image_retention_days=running.image_retention_days,
                                              liveness_for_reset=running.liveness_for_reset,
                                              liveness_for_enrollment=running.liveness_for_enrollment)
        except KioskError as err:
            log_event(self.log, "reload_failed", f"configuration not reloaded, the running one is kept: {err}", logging.ERROR)
            self.notifier.ready(self.status_text())
            return False
        old = self.started_with  # a change still waiting for a restart is named again
        app, flow = self.app, self.app.flow
        self.pipeline.quality = new.quality  # read once per analysis by the face worker
        flow.rules = rules
        flow.config = flow_config
        flow.info = dataclasses.replace(flow.info, language=new.ui.language)
        app.set_catalog(catalog)
        app.max_fps = new.ui.max_fps
        app.ctx.mirror_preview = new.ui.mirror_preview
        self.settings = new
        self.reloads += 1
        restart = [name for name in RESTART_SECTIONS if getattr(old, name) != getattr(new, name)]
        restart += [f"ui.{key}" for key in RESTART_UI_KEYS if getattr(old.ui, key) != getattr(new.ui, key)]
        log_event(self.log, "reload", f"configuration reloaded (security level {new.verification.security_level}, "
                  f"language {new.ui.language})")
        if restart:
            log_event(self.log, "reload_restart_needed", f"changes to {', '.join(restart)} take effect at the next restart",
                      logging.WARNING, reason=",".join(restart))
        self.notifier.ready(self.status_text())
        return True

    # -- stop -------------------------------------------------------------------------------

    def stop(self, budget_s: float = STOP_BUDGET_S) -> bool:
        """Stop everything within ``budget_s``. True when every thread finished; False when
        one was abandoned (the caller should then exit at once: a write it was making is
        rolled back by SQLite, never half-applied)."""
        if self._stopped:
            return True
        self._stopped = True
        started = time.monotonic()
        quiet = self.app is None  # start-up failed: its error is the message
        if not quiet:
            self.notifier.stopping()
            log_event(self.log, "stopping", "stopping: finishing the write under way, closing the camera")
        if self._pinger is not None:
            self._pinger.stop()
        result = {"finished": True}

        def teardown() -> None:
            finished = True
            if self.app is not None:
                finished = self.app.close(timeout=max(0.5, budget_s - 1.0))
            if self.sync is not None:
                self.sync.stop(timeout_s=max(0.1, budget_s - (time.monotonic() - started) - 0.2))
            result["finished"] = finished

        worker = threading.Thread(target=teardown, name="shutdown", daemon=True)
        worker.start()
        worker.join(max(0.1, budget_s - (time.monotonic() - started)))
        finished = result["finished"] and not worker.is_alive()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self.app is not None or self._surface is not None:
            import pygame

            pygame.display.quit()
        if not quiet:
            took = time.monotonic() - started
            if finished:
                log_event(self.log, "stopped", f"stopped in {took:.2f} s")
            else:
                log_event(self.log, "stopped", f"stopped in {took:.2f} s, abandoning a thread that did not finish "
                          "(an unfinished write is rolled back)", logging.WARNING)
        return finished
