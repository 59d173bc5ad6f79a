"""A frame source that survives its camera going away: it closes and reopens it.

An unplugged V4L2 camera, a removed image folder or video file: reads fail (raise, or
give nothing for a while), or the device node or path vanishes. :class:`ReopeningSource`
then closes the source and opens a new one from its factory, again and again, with an
exponential backoff (0.5 s doubling to 10 s, with jitter so a fleet does not retry in
step). Meanwhile ``read`` raises :class:`CameraError` saying why, which the grabber turns
into the "camera unavailable" screen; the first frame after a reopen clears it, so the
kiosk recovers without a restart.

``read`` never blocks for longer than one read of the wrapped source: the grabber thread
calling it must notice a stop request quickly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kiosk.backoff import Backoff
from kiosk.camera.sources import CameraError, FrameSource, open_source
from kiosk.vision.image_io import ImageLimits
from kiosk.config.camera import CameraSettings

# Consecutive empty reads after which an open source counts as gone.
EMPTY_READS_TO_FAIL = 10
# How often the source's device node or path is looked for while it is open.
PRESENCE_EVERY_S = 1.0
# Reopen attempts: 0.5 s doubling to 10 s, each delay scaled by a random factor in [0.8, 1.2].
REOPEN_INITIAL_S = 0.5
REOPEN_MAX_S = 10.0
REOPEN_JITTER = 0.2

__all__ = ["ReopeningSource", "presence_check", "reopening_source"]


def presence_check(settings: CameraSettings, resolve: Callable[[str], Path] = Path) -> Callable[[], bool]:
    """Whether the configured source's device node, folder or file exists now."""
    if settings.source == "v4l2":
        node = Path(f"/dev/video{settings.device}") if settings.device.isdigit() else Path(settings.device)
        return node.exists
    path = resolve(settings.path) if settings.path else None
    if path is None:
        return lambda: False
    return path.is_dir if settings.source == "images" else path.is_file


class ReopeningSource:
    """Wraps ``open_source`` (a factory of FrameSources) and reopens it when it fails.

    ``on_lost(reason)`` and ``on_recovered(seconds_down)`` are called from the reading
    thread when the source stops and when it gives a frame again.
    """

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        present: Callable[[], bool] | None = None,
        backoff: Backoff | None = None,
        empty_reads_to_fail: int = EMPTY_READS_TO_FAIL,
        fps: float = 30.0,
        presence_every_s: float = PRESENCE_EVERY_S,
        on_lost: Callable[[str], None] = lambda reason: None,
        on_recovered: Callable[[float], None] = lambda seconds: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open = open_source
        self._present = present
        self._presence_every = presence_every_s
        self.backoff = backoff or Backoff(REOPEN_INITIAL_S, REOPEN_MAX_S, jitter=REOPEN_JITTER)
        self._empty_to_fail = empty_reads_to_fail
        self._on_lost = on_lost
        self._on_recovered = on_recovered
        self._clock = clock
        self._lock = threading.Lock()  # close() may come from another thread than read()
        self._source: FrameSource | None = None
        self._closed = False
        self._empty = 0
        self._next_open = 0.0  # monotonic time of the next open attempt
        self._next_presence = 0.0
        self._lost_at: float | None = None
        self.reason: str | None = None  # why there are no frames now
        self.reopens = 0  # successful opens after a loss
        self.fps = float(fps)

    @property
    def available(self) -> bool:
        return self._source is not None and self._lost_at is None

    def _try_open(self, now: float) -> None:
        try:
            source = self._open()
        except CameraError as err:
            self._lose(str(err), now)
            return
        except Exception as err:  # noqa: BLE001 - any failure to open is retried the same way
            self._lose(f"cannot open the camera: {type(err).__name__}: {err}", now)
            return
        with self._lock:
            if self._closed:
                source.close()
                return
            self._source = source
        self.fps = float(getattr(source, "fps", self.fps) or self.fps)
        self._empty = 0
        self._next_presence = now + self._presence_every

    def _lose(self, reason: str, now: float) -> None:
        """Close the source (if open) and schedule the next open attempt."""
        with self._lock:
            source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception:  # noqa: BLE001 - it is gone either way
                pass
        self.reason = reason
        self._next_open = now + self.backoff.delay()
        if self._lost_at is None:
            self._lost_at = now
            self._on_lost(reason)

    def read(self) -> np.ndarray | None:
        now = self._clock()
        if self._closed:
            return None
        if self._source is None:
            if now < self._next_open:
                raise CameraError(self.reason or "the camera is not open")
            self._try_open(now)
            if self._source is None:
                raise CameraError(self.reason or "the camera is not open")
        if self._present is not None and now >= self._next_presence:
            self._next_presence = now + self._presence_every
            if not self._present():
                self._lose("the camera (or its folder or file) disappeared", now)
                raise CameraError(self.reason)
        source = self._source
        try:
            frame = source.read() if source is not None else None
        except Exception as err:  # noqa: BLE001 - a failing device: reopen it
            self._lose(str(err) or type(err).__name__, self._clock())
            raise CameraError(self.reason) from None
        if frame is None:
            self._empty += 1
            if self._empty >= self._empty_to_fail:
                self._lose("the camera gives no pictures", self._clock())
            return None
        self._empty = 0
        if self._lost_at is not None:
            down = self._clock() - self._lost_at
            self._lost_at = None
            self.reason = None
            self.reopens += 1
            self.backoff.reset()
            self._on_recovered(down)
        return frame

    def close(self) -> None:
        with self._lock:
            self._closed = True
            source, self._source = self._source, None
        if source is not None:
            source.close()


def reopening_source(
    settings: CameraSettings,
    resolve: Callable[[str], Path] = Path,
    on_lost: Callable[[str], None] = lambda reason: None,
    on_recovered: Callable[[float], None] = lambda seconds: None,
    limits: ImageLimits = ImageLimits(),
    **options: Any,
) -> ReopeningSource:
    """The configured camera, reopened whenever it fails. Nothing is opened yet: the
    first ``read`` opens it (so a camera missing at start-up is retried the same way).
    ``limits``: an image folder's file limits (the ``images`` section).
    ``options``: more ReopeningSource arguments (backoff, presence_every_s, ...)."""
    return ReopeningSource(
        lambda: open_source(settings, resolve, limits),
        present=presence_check(settings, resolve),
        fps=settings.fps,
        on_lost=on_lost,
        on_recovered=on_recovered,
        **options,
    )
