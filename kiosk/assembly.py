"""One place that wires a kiosk: camera, face pipeline, store, sync, flow, face worker, UI.

The service (``facekiosk run``), the demo, the benchmarks and the tests all build their
kiosk with :func:`build_kiosk`; what they do differently is said in :class:`Overrides`.
A reload (SIGHUP) is one :meth:`Kiosk.apply` on the objects that own the settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

from kiosk import __version__
from kiosk.camera.grabber import FrameGrabber
from kiosk.camera.resilient import ReopeningSource, reopening_source
from kiosk.camera.sources import FrameSource
from kiosk.config import Settings
from kiosk.errors import ConfigError
from kiosk.flows.events import EventSink, ignore_events
from kiosk.flows.faces import FaceRules
from kiosk.flows.jobs import Jobs, ThreadJobs
from kiosk.flows.liveness import LiveCheck
from kiosk.flows.machine import Flow, FlowConfig
from kiosk.flows.status import KioskInfo, SyncStatusProvider, sync_not_configured
from kiosk.i18n import load_catalog
from kiosk.store import Store

if TYPE_CHECKING:
    import pygame

    from kiosk.config.liveness import LivenessSettings
    from kiosk.liveness.landmarks import Landmarker
    from kiosk.mail.worker import MailWorker
    from kiosk.sync import SyncEngine
    from kiosk.ui.app import KioskApp
    from kiosk.vision.pipeline import FacePipeline

# Sections whose changes a reload cannot apply to a running kiosk.
RESTART_SECTIONS = ("models", "detector", "store", "passwords", "lockout", "audit", "camera", "sync", "liveness", "mail")
RESTART_UI_KEYS = ("fullscreen", "width", "height", "font")


@dataclass(frozen=True)
class Overrides:
    """What a caller provides instead of what the settings say.

    ``open_camera``: a factory of frame sources (default: the camera section), reopened on
    failure; ``camera`` False: no camera at all. ``surface``: a pygame surface to draw on
    (default: open the display). ``pipeline``: loaded models to share (default: load the
    settings' models). ``open_store``: the jobs thread's store (default:
    ``Store.open(settings)``). ``sync``: run the sync engine (default:
    ``sync.enabled``); ``sync_status``: what the admin screen shows without one.
    ``events``: receives the journeys' decisions. ``on_camera_lost(reason)`` /
    ``on_camera_recovered(seconds)``: called from the camera thread. ``sync_beat``:
    called by the sync thread between requests (the watchdog). ``clock``: monotonic
    seconds for the flow and the UI."""

    open_camera: Callable[[], FrameSource] | None = None
    camera: bool = True
    surface: "pygame.Surface | None" = None
    pipeline: "FacePipeline | None" = None
    open_store: Callable[[], Store] | None = None
    sync: bool | None = None
    sync_status: SyncStatusProvider | None = None
    sync_beat: Callable[[], None] | None = None
    environ: Mapping[str, str] | None = None
    events: EventSink = ignore_events
    on_camera_lost: Callable[[str], None] = lambda reason: None
    on_camera_recovered: Callable[[float], None] = lambda seconds: None
    clock: Callable[[], float] = time.monotonic
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("facekiosk"))


@dataclass
class Kiosk:
    """A wired kiosk. ``store`` is its own read connection (user count, email hashes);
    the jobs thread has another. ``started_with``: the settings restart-only sections
    run with until a restart."""

    settings: Settings
    started_with: Settings
    pipeline: "FacePipeline"
    store: Store
    sync: "SyncEngine | None"
    source: ReopeningSource | None
    grabber: FrameGrabber | None
    jobs: Jobs
    flow: Flow
    app: "KioskApp"
    mail: "MailWorker | None" = None  # sends the store's queued emails (mail section)
    liveness: LivenessChecks | None = None  # the flow's challenge factory, when one is configured

    def apply(self, new: Settings) -> list[str]:
        """A reloaded configuration: quality gates, thresholds (security levels),
        timeouts, language, frame rate, mirror. Everything that can fail is checked
        first, so an unusable file (KioskError) changes nothing. Returns the changed
        settings that take effect only at a restart ("camera", "ui.width", ...)."""
        rules = FaceRules.from_pipeline(self.pipeline, new)
        catalog = load_catalog(new.ui.language)
        flow_config = FlowConfig.from_settings(new)
        self.pipeline.quality = new.quality  # read once per analysis by the face worker
        self.flow.apply(flow_config, rules, new.ui.language)
        self.app.apply(new.ui, catalog)
        self.settings = new
        return restart_needed(self.started_with, new)

    def close(self, timeout: float | None = None) -> bool:
        """Stop the UI's threads (finishing a write under way), sync and the read store
        within ``timeout`` seconds; False if a thread was still running then."""
        started = time.monotonic()
        finished = self.app.close(timeout=timeout)
        if self.sync is not None:
            left = None if timeout is None else max(0.1, timeout - (time.monotonic() - started))
            self.sync.stop(timeout_s=15.0 if left is None else left)
        if self.mail is not None:
            self.mail.stop(timeout_s=2.0)
        return finished

    def close_store(self) -> None:
        """The read connection, on the caller's thread (SQLite connections are per thread)."""
        self.store.close()


def restart_needed(running: Settings, new: Settings) -> list[str]:
    changed = [name for name in RESTART_SECTIONS if getattr(running, name) != getattr(new, name)]
    return changed + [f"ui.{key}" for key in RESTART_UI_KEYS if getattr(running.ui, key) != getattr(new.ui, key)]


def check_camera_settings(settings: Settings) -> None:
    camera = settings.camera
    if camera.source in ("video", "images") and not camera.path:
        kind = "a video file" if camera.source == "video" else "an image folder"
        raise ConfigError(f"camera.path must name {kind} for camera.source {camera.source}")


@dataclass
class LivenessChecks:
    """A factory of liveness checks: the landmark models are loaded once; each call starts
    a new challenge with ``settings`` and a fresh random schedule."""

    settings: "LivenessSettings"
    landmarker: "Landmarker"
    pipeline: "FacePipeline"
    rng: random.Random

    def __call__(self) -> LiveCheck:
        from kiosk.liveness.session import LivenessSession

        return LivenessSession(self.settings, self.landmarker, self.pipeline, self.rng)


def liveness_checks(settings: Settings, pipeline: "FacePipeline") -> LivenessChecks:
    """The kiosk's liveness checks (the landmark models load here)."""
    from kiosk.liveness.session import LivenessModels

    models = LivenessModels.from_settings(settings)
    return LivenessChecks(settings.liveness, models.landmarker, pipeline, random.SystemRandom())


def build_kiosk(settings: Settings, overrides: Overrides = Overrides()) -> Kiosk:
    """Load, open and wire everything, in order: the face models, the store (with its
    template key), the sync engine, the camera (not yet read), the flow and the UI.
    Raises KioskError (one line) when the kiosk cannot be built; what was opened by
    then is closed again."""
    from kiosk.ui.app import KioskApp, open_display, use_surface
    from kiosk.ui.face_worker import FaceWorker
    from kiosk.vision.pipeline import FacePipeline

    environ = dict(os.environ if overrides.environ is None else overrides.environ)
    check_camera_settings(settings)
    with contextlib.ExitStack() as undo:
        pipeline = overrides.pipeline or FacePipeline.from_settings(settings)
        rules = FaceRules.from_pipeline(pipeline, settings)
        store = Store.open(settings, environ=environ, require_key=True)
        undo.callback(store.close)
        sync = None
        sync_status: SyncStatusProvider = overrides.sync_status or sync_not_configured
        if settings.sync.enabled if overrides.sync is None else overrides.sync:
            from kiosk.sync import SyncEngine

            sync = SyncEngine.from_settings(settings, settings.sync, environ=environ, beat=overrides.sync_beat,
                                            logger=overrides.logger.getChild("sync"))
            sync.start()
            undo.callback(sync.stop)
            sync_status = sync.status
        mail = None
        if settings.mail.enabled:
            from kiosk.mail.worker import MailWorker

            mail = MailWorker.from_settings(settings, lambda: Store.open(settings, environ=environ), environ,
                                            logger=overrides.logger.getChild("mail"))
            mail.start()
            undo.callback(mail.stop)
        source = None
        if overrides.camera:
            if overrides.open_camera is not None:
                source = ReopeningSource(overrides.open_camera, on_lost=overrides.on_camera_lost,
                                         on_recovered=overrides.on_camera_recovered)
            else:
                source = reopening_source(settings.camera, settings.resolve, on_lost=overrides.on_camera_lost,
                                          on_recovered=overrides.on_camera_recovered, limits=settings.images.limits())
        open_store = overrides.open_store or (lambda: Store.open(settings, environ=environ))
        jobs = ThreadJobs(open_store)
        undo.callback(jobs.close)
        config = FlowConfig.from_settings(settings)
        grabber = FrameGrabber(source).start() if source is not None else None
        if grabber is not None:
            undo.callback(grabber.close)
        checks = liveness_checks(settings, pipeline) if config.liveness_for_reset or config.liveness_for_enrollment else None
        flow = Flow(
            config,
            rules,
            jobs,
            clock=overrides.clock,
            sync_status=sync_status,
            info=KioskInfo(version=__version__, model_id=", ".join(model.name for model in rules.models), language=settings.ui.language),
            camera_fps=(lambda: grabber.fps) if grabber is not None else (lambda: 0.0),
            liveness=checks,
            events=overrides.events,
        )
        surface = (use_surface(overrides.surface) if overrides.surface is not None
                   else open_display(settings.ui, environ.get("SDL_VIDEODRIVER", "")))
        font = settings.resolve(settings.ui.font) if settings.ui.font else None
        app = KioskApp(flow, surface, load_catalog(settings.ui.language), grabber, FaceWorker(pipeline.analyze),
                       settings.ui.mirror_preview, settings.ui.max_fps, font, overrides.clock, ui=settings.ui)
        undo.pop_all()
    return Kiosk(settings, settings, pipeline, store, sync, source, grabber, jobs, flow, app, mail, checks)
