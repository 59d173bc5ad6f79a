"""Reads a frame source on its own thread and keeps only the newest frame.

The screen asks for the newest frame when it draws; it never waits for the camera, and
a slow reader never builds up a backlog of old frames.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from kiosk.camera.sources import FrameSource

# Consecutive empty reads after which the source counts as failed.
FAIL_AFTER_EMPTY_READS = 3
FPS_WINDOW_S = 2.0


@dataclass(frozen=True)
class Frame:
    seq: int  # increases by one per frame read
    image: np.ndarray  # RGB uint8, never written to
    at: float  # monotonic time it was read


class FrameGrabber:
    def __init__(self, source: FrameSource, clock: Callable[[], float] = time.monotonic, retry_s: float = 0.2) -> None:
        self.source = source
        self.clock = clock
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._arrivals: collections.deque[float] = collections.deque()
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)

    def start(self) -> "FrameGrabber":
        self._thread.start()
        return self

    def _run(self) -> None:
        empty = 0
        seq = 0
        while not self._stop.is_set():
            try:
                image = self.source.read()
            except Exception as err:  # noqa: BLE001 - reported on screen, retried
                image = None
                empty = FAIL_AFTER_EMPTY_READS
                with self._lock:
                    self._error = str(err) or type(err).__name__
            if image is None:
                empty += 1
                if empty >= FAIL_AFTER_EMPTY_READS:
                    with self._lock:
                        self._error = self._error or "the camera gives no pictures"
                self._stop.wait(self.retry_s)
                continue
            empty = 0
            seq += 1
            now = self.clock()
            with self._lock:
                self._latest = Frame(seq, image, now)
                self._error = None
                self._arrivals.append(now)
                while self._arrivals and now - self._arrivals[0] > FPS_WINDOW_S:
                    self._arrivals.popleft()

    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest

    @property
    def error(self) -> str | None:
        """Why the source gives no frames now, or None while it works."""
        with self._lock:
            return self._error

    @property
    def fps(self) -> float:
        """Frames per second over the last couple of seconds (0.0 when none came)."""
        with self._lock:
            times = list(self._arrivals)
        if len(times) < 2 or self.clock() - times[-1] > FPS_WINDOW_S:
            return 0.0
        return (len(times) - 1) / max(times[-1] - times[0], 1e-6)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self.source.close()
