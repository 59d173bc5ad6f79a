"""Runs the face pipeline on a worker thread, so the screen never waits for it.

The UI offers the newest camera frame whenever the worker is idle; frames offered while
it is busy are not queued (the next idle moment takes whatever is newest then). Results
carry the generation they were asked in: after ``reset`` (a new person, another screen)
results of earlier frames are dropped, so an old face is never drawn or counted.

By default a frame goes through the face pipeline (``analyze``). A frame may come with
its own analysis instead (the liveness challenge's, which needs every frame's capture
time): ``offer(..., analyze_frame=...)``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from kiosk.errors import ImageError
from kiosk.flows.faces import FaceObservation, observation_from

if TYPE_CHECKING:
    from kiosk.vision.pipeline import FaceResult

FrameAnalysis = Callable[[np.ndarray, float, int], FaceObservation]  # image, capture time, seq

log = logging.getLogger("kiosk.ui.face_worker")


class FaceWorker:
    def __init__(self, analyze: Callable[[np.ndarray], FaceResult | None], clock: Callable[[], float] = time.perf_counter) -> None:
        """``analyze``: FacePipeline.analyze (raises ImageError when there is no face)."""
        self._analyze = analyze
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: tuple[int, int, np.ndarray, float, FrameAnalysis | None] | None = None
        self._busy = False
        self._busy_since: float | None = None
        self._generation = 0
        self._results: collections.deque[FaceObservation] = collections.deque(maxlen=8)
        self._stopping = False
        self.analysed = 0
        self.errors = 0
        self.last_ms = 0.0
        self._thread = threading.Thread(target=self._run, name="face-worker", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy or self._pending is not None

    @property
    def busy_since(self) -> float | None:
        """``time.monotonic()`` when the analysis under way started; None while idle."""
        return self._busy_since

    def offer(self, frame_seq: int, image: np.ndarray, at: float | None = None, analyze_frame: FrameAnalysis | None = None) -> bool:
        """Analyse this frame (read at monotonic time ``at``) if the worker is idle;
        False if it is busy (frame skipped)."""
        with self._cond:
            if self._busy or self._pending is not None or self._stopping:
                return False
            when = time.monotonic() if at is None else at
            self._pending = (self._generation, frame_seq, image, when, analyze_frame)
            self._cond.notify()
            return True

    def reset(self) -> None:
        """Forget pending work and drop results of frames offered before now."""
        with self._cond:
            self._generation += 1
            self._pending = None
            self._results.clear()

    def take(self) -> list[FaceObservation]:
        """Results of the current generation, oldest first."""
        with self._cond:
            results = list(self._results)
            self._results.clear()
        return results

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                generation, seq, image, at, analyze_frame = self._pending  # type: ignore[misc]
                self._pending = None
                self._busy = True
                self._busy_since = time.monotonic()
            start = self._clock()
            observation = self._observe(image, seq, at, analyze_frame)
            elapsed = (self._clock() - start) * 1e3
            observation = dataclasses.replace(observation, analysis_ms=elapsed)
            with self._cond:
                self._busy = False
                self._busy_since = None
                self.analysed += 1
                self.last_ms = elapsed
                if generation == self._generation:
                    self._results.append(observation)

    def _observe(self, image: np.ndarray, seq: int, at: float, analyze_frame: FrameAnalysis | None) -> FaceObservation:
        try:
            if analyze_frame is not None:
                return analyze_frame(image, at, seq)
            return observation_from(self._analyze(image), seq, image.shape)
        except ImageError:
            pass
        except Exception:  # noqa: BLE001 - one bad frame must not stop the kiosk
            log.exception("face analysis failed")
            self.errors += 1
        return observation_from(None, seq, image.shape)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop after the analysis under way; False if it was still running after ``timeout``."""
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()
