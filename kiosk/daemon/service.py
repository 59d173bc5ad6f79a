"""The kiosk service: camera, face pipeline, store, sync and UI in one loop, under systemd.

Start-up builds the kiosk (kiosk.assembly.build_kiosk: the face models, the store with its
template key, the sync engine when ``sync.enabled``, the camera through a reopening
source, the flow and the UI). The loop runs from then on, and ``READY=1`` goes to systemd once the camera has given its first
frame, with a ``STATUS=`` line (users, sync state, camera) that is kept up to date.

Watchdog: every loop iteration beats the ``ui`` heartbeat, and beats ``face-worker``,
``store-jobs`` and ``sync`` for those threads as long as each is idle or has been busy for
less than its limit. The pinger thread sends ``WATCHDOG=1`` only while every heartbeat is
fresh, so a hung loop or a stuck worker stops the pings and systemd restarts the service.

The journeys report what they decide as events (kiosk.flows.events); :meth:`journal`
writes them with the email as its keyed hash only.

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
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from kiosk import __version__
from kiosk.assembly import Kiosk, Overrides, build_kiosk
from kiosk.camera.sources import FrameSource
from kiosk.config import Settings, load_config
from kiosk.daemon.hooks import hooks_enabled, journeys_from_env
from kiosk.daemon.logs import ServiceEvent, log_event
from kiosk.daemon.notify import Notifier, watchdog_interval_s
from kiosk.daemon.watchdog import Heartbeats, WatchdogPinger
from kiosk.errors import ConfigError, KioskError
from kiosk.flows.events import EventName, FlowEvent

if TYPE_CHECKING:
    from kiosk.ui.app import KioskApp

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
WAITING_LOG_EVERY_S = 10.0
# Journey events that mean a change was saved (a full or failing disk is then over).
SAVED_EVENTS = (EventName.ENROLLED, EventName.PASSWORD_RESET, EventName.TEMPLATES_ADDED)


@dataclasses.dataclass
class Requests:
    """What signal handlers ask of the loop. Handlers only set these flags."""

    stop: bool = False
    reload: bool = False
    freeze: bool = False  # test hook: hang the UI loop
    journey: bool = False  # test hook: start the scripted journeys


class KioskService:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        *,
        logger: logging.Logger | None = None,
        notifier: Notifier | None = None,
        open_camera: Callable[[], FrameSource] | None = None,
        surface: object = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``config_path``: the file SIGHUP reloads (None: reloading is not possible).
        ``open_camera``: a factory of frame sources (default: the camera section's);
        ``surface``: a pygame surface to draw on (default: open the display)."""
        self.settings = settings
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
        self.kiosk: Kiosk | None = None  # everything the kiosk runs, once started
        self._pinger: WatchdogPinger | None = None
        self._journey: Iterator[object] | None = None
        self._sync_beat_at = clock()
        self._status_at = -1e9
        self._count_at = -1e9
        self._stopped = False
        self.ready = False
        self.user_count = 0
        self.started_at = clock()
        self.ready_after_s: float | None = None
        self.reloads = 0
        self.storage: str | None = None  # "full" or "failing" since a change could not be saved

    @property
    def app(self) -> KioskApp | None:
        """The UI (None until started)."""
        return self.kiosk.app if self.kiosk is not None else None

    # -- signals ----------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP reloads; with test hooks SIGUSR1 freezes the loop
        and SIGUSR2 starts the scripted journeys. (Main thread only.)"""
        requests = self.requests

        def stop(signum: int, frame: FrameType | None) -> None:
            requests.stop = True

        def reload(signum: int, frame: FrameType | None) -> None:
            requests.reload = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        if self.test_hooks:
            def freeze(signum: int, frame: FrameType | None) -> None:
                requests.freeze = True

            def journey(signum: int, frame: FrameType | None) -> None:
                requests.journey = True

            signal.signal(signal.SIGUSR1, freeze)
            signal.signal(signal.SIGUSR2, journey)

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        """Build the kiosk, then step the loop until the camera's first frame and send
        READY=1. Raises KioskError (one line) when the kiosk cannot start; returns early
        (not ready) when asked to stop meanwhile."""
        log_event(self.log, ServiceEvent.START, f"facekiosk {__version__} starting (config {self.config_path or 'built in'})")

        def lost(reason: str) -> None:
            log_event(self.log, ServiceEvent.CAMERA_LOST, f"camera unavailable: {reason}", logging.WARNING, reason=reason)

        def recovered(seconds: float) -> None:
            log_event(self.log, ServiceEvent.CAMERA_RECOVERED, f"camera back after {seconds:.1f} s")

        def sync_beat() -> None:
            self._sync_beat_at = self.clock()

        self.kiosk = build_kiosk(self.settings, Overrides(
            open_camera=self._open_camera, surface=self._surface, environ=self.environ,  # type: ignore[arg-type]
            events=self.journal, on_camera_lost=lost, on_camera_recovered=recovered, sync_beat=sync_beat,
            clock=self.clock, logger=self.log,
        ))
        self.user_count = self.kiosk.store.count_users()
        self._count_at = self.clock()
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
        log_event(self.log, ServiceEvent.READY, f"ready after {self.ready_after_s:.2f} s: {status}",
                  user_count=self.user_count, sync_state=self._sync_state())

    def journal(self, event: FlowEvent) -> None:
        """A journey's decision, to the journal: the email only as the store's keyed hash."""
        assert self.kiosk is not None
        email_hash = self.kiosk.store.audit.email_hash(event.email.key) if event.email is not None else None
        log_event(self.log, event.name, event.message, event.level, email_hash=email_hash, score=event.score,
                  reason=event.reason, liveness=event.liveness)
        if event.name is EventName.ENROLLED:
            self._count_at = -1e9  # count again now
        if event.name is EventName.STORAGE_PROBLEM:
            self.storage = event.reason  # on the STATUS line until a change is saved again
        elif event.name in SAVED_EVENTS:
            self.storage = None

    def _start_watchdog(self) -> None:
        interval = watchdog_interval_s()
        if interval is None:
            return
        self._beat()
        max_age = HEARTBEAT_AGE_OF_WATCHDOG * 2 * interval

        def stale(names: list[str]) -> None:
            log_event(self.log, ServiceEvent.WATCHDOG_STALE, f"not pinging the watchdog: no progress in {', '.join(names)}",
                      logging.ERROR, reason=",".join(names))

        self._pinger = WatchdogPinger(self.heartbeats, self.notifier.watchdog, interval, max_age, stale)
        self._pinger.start()

    def _wait_for_first_frame(self) -> None:
        """Step the loop until the camera's first frame, or for ``camera.start_grace_s``: a
        kiosk without a camera still serves sign-in and says so on its face screens, so it
        reports READY (STATUS names the camera problem) instead of being restarted by
        systemd over and over; the camera is reopened in the background all along."""
        assert self.kiosk is not None and self.kiosk.grabber is not None
        grabber = self.kiosk.grabber
        started = logged = self.clock()
        grace = self.settings.camera.start_grace_s
        while grabber.latest() is None and not self.requests.stop:
            self.step()
            now = self.clock()
            if now - logged >= WAITING_LOG_EVERY_S or now - started >= grace:
                logged = now
                log_event(self.log, ServiceEvent.WAITING_CAMERA,
                          f"waiting for the camera's first frame: {grabber.error or 'no frame yet'}; check the camera "
                          "section of the config and the cable (facekiosk doctor)", logging.WARNING, reason=grabber.error)
            if now - started >= grace:
                return

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
        assert self.kiosk is not None
        running = self.kiosk.app.step(paced=paced)
        self._beat()
        if self._journey is not None:
            try:
                next(self._journey)
            except StopIteration:
                self._journey = None
                log_event(self.log, ServiceEvent.TEST_JOURNEY, "test journey finished")
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
        kiosk = self.kiosk
        if kiosk is None:
            return
        worker = kiosk.app.worker
        since = worker.busy_since if worker is not None else None
        if since is None or now - since < WORKER_BUSY_LIMIT_S:
            beats.beat("face-worker")
        since = kiosk.jobs.busy_since
        if since is None or now - since < JOBS_BUSY_LIMIT_S:
            beats.beat("store-jobs")
        if kiosk.sync is not None and now - self._sync_beat_at < self._sync_limit_s():
            beats.beat("sync")

    def _sync_limit_s(self) -> float:
        # A pass may wait on one request for http_timeout_s; the engine beats between them.
        return max(60.0, 3 * self.settings.sync.http_timeout_s)

    def _frozen(self) -> None:
        log_event(self.log, ServiceEvent.TEST_FREEZE, "test hook: the UI loop is frozen", logging.WARNING)
        while not self.requests.stop:
            time.sleep(0.05)

    def _start_journey(self) -> None:
        if not self.test_hooks or self.kiosk is None:
            return
        try:
            self._journey = journeys_from_env(self.kiosk.flow, self.environ)
        except ValueError as err:
            log_event(self.log, ServiceEvent.TEST_JOURNEY, str(err), logging.ERROR)
            return
        log_event(self.log, ServiceEvent.TEST_JOURNEY, "test journey started")

    # -- STATUS -----------------------------------------------------------------------------

    def _sync_state(self) -> str:
        sync = self.kiosk.sync if self.kiosk is not None else None
        return sync.status().state if sync is not None else "not configured"

    def _sync_line(self) -> str:
        sync = self.kiosk.sync if self.kiosk is not None else None
        return sync.status().line() if sync is not None else "sync not configured"

    def camera_error(self) -> str | None:
        grabber = self.kiosk.grabber if self.kiosk is not None else None
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
        storage = f", storage {self.storage}: changes are not saved" if self.storage else ""
        return f"{state}: {users}, {self._sync_line()}, {camera}{storage}"

    def _update_status(self) -> None:
        now = self.clock()
        if self.kiosk is not None and now - self._count_at >= USER_COUNT_EVERY_S:
            self._count_at = now
            self.user_count = self.kiosk.store.count_users()
        if now - self._status_at >= STATUS_EVERY_S:
            self._status_at = now
            self.notifier.status(self.status_text())

    # -- reload -----------------------------------------------------------------------------

    def reload(self) -> bool:
        """Apply the config file again (SIGHUP). False, with the old config kept, when the
        new one is unusable."""
        self.notifier.reloading()
        assert self.kiosk is not None
        try:
            if self.config_path is None:
                raise ConfigError("this kiosk was started without a config file: nothing to reload")
            new = load_config(self.config_path)
            restart = self.kiosk.apply(new)
        except KioskError as err:
            log_event(self.log, ServiceEvent.RELOAD_FAILED, f"configuration not reloaded, the running one is kept: {err}",
                      logging.ERROR)
            self.notifier.ready(self.status_text())
            return False
        self.settings = new
        self.reloads += 1
        log_event(self.log, ServiceEvent.RELOAD, f"configuration reloaded (security level {new.verification.security_level}, "
                  f"language {new.ui.language})")
        if restart:  # a change still waiting for a restart is named again at every reload
            log_event(self.log, ServiceEvent.RELOAD_RESTART_NEEDED,
                      f"changes to {', '.join(restart)} take effect at the next restart", logging.WARNING, reason=",".join(restart))
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
        kiosk = self.kiosk
        if kiosk is not None:  # else start-up failed: its error is the message
            self.notifier.stopping()
            log_event(self.log, ServiceEvent.STOPPING, "stopping: finishing the write under way, closing the camera")
        if self._pinger is not None:
            self._pinger.stop()
        result = {"finished": True}

        def teardown() -> None:
            if kiosk is not None:
                result["finished"] = kiosk.close(timeout=max(0.5, budget_s - 1.0))

        worker = threading.Thread(target=teardown, name="shutdown", daemon=True)
        worker.start()
        worker.join(max(0.1, budget_s - (time.monotonic() - started)))
        finished = result["finished"] and not worker.is_alive()
        if kiosk is not None:
            kiosk.close_store()
        if kiosk is not None or self._surface is not None:
            import pygame

            pygame.display.quit()
        if kiosk is not None:
            took = time.monotonic() - started
            if finished:
                log_event(self.log, ServiceEvent.STOPPED, f"stopped in {took:.2f} s")
            else:
                log_event(self.log, ServiceEvent.STOPPED, f"stopped in {took:.2f} s, abandoning a thread that did not finish "
                          "(an unfinished write is rolled back)", logging.WARNING)
        return finished
