"""The three frame sources and the pacing that makes files behave like a camera."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from kiosk.config.camera import CameraSettings
from kiosk.errors import ImageError, KioskError
from kiosk.vision.image_io import ImageLimits, load_image

# The types kiosk.vision.image_io reads (checked from their header before decoding).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# Decoded frames an image folder keeps in memory (a scripted sequence is small; a big
# folder is decoded as it is read instead).
FOLDER_CACHE_FRAMES = 64
# What a video file that does not say its frame rate is played at.
DEFAULT_FILE_FPS = 25.0


class CameraError(KioskError):
    """A camera or frame source cannot be opened or read; the message says which and why."""


class FrameSource(Protocol):
    fps: float  # the rate frames come at (nominal for devices)

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class Pacer:
    """Spaces calls ``1/fps`` apart, as a camera delivers frames.

    A caller that falls more than a frame behind is not given a burst of frames to catch
    up: the schedule restarts from now.
    """

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not fps > 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self.clock = clock
        self.sleep = sleep
        self._due: float | None = None

    def wait(self) -> None:
        now = self.clock()
        if self._due is None or now - self._due > self.period:
            self._due = now
        elif self._due > now:
            self.sleep(self._due - now)
        self._due += self.period


def _to_rgb(image_bgr: np.ndarray) -> np.ndarray:
    if image_bgr.ndim == 2:
        return cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)


class ImageFolderSource:
    """The images of a folder in name order, at ``fps``, looping if asked.

    Each file goes through :func:`kiosk.vision.image_io.load_image` with ``limits`` (the
    ``images`` section): size, type and declared width x height are checked from the
    header before anything is decoded. A file that fails (a decompression bomb, a type
    the kiosk does not read, a damaged one) is skipped with one log line and not tried
    again; CameraError only when no file of the folder can be read."""

    def __init__(self, folder: str | Path, fps: float = 30.0, loop: bool = True, pacer: Pacer | None = None,
                 limits: ImageLimits = ImageLimits(), logger: logging.Logger | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise CameraError(f"image folder {self.folder} does not exist (camera.path)")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise CameraError(f"image folder {self.folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.fps = float(fps)
        self.loop = loop
        self.pacer = pacer or Pacer(fps)
        self.limits = limits
        self.logger = logger or logging.getLogger("kiosk.camera")
        self._next = 0
        self._cache: dict[int, np.ndarray] = {}
        self._skipped: dict[int, str] = {}  # index -> why

    def _load(self, index: int) -> np.ndarray | None:
        """The image's RGB frame, or None when it is skipped (logged the first time)."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        if index in self._skipped:
            return None
        try:
            frame = load_image(self.files[index], self.limits)
        except ImageError as err:
            self._skipped[index] = str(err)
            self.logger.warning("camera: image skipped: %s", err)
            return None
        frame.flags.writeable = False  # shared by every later read of this image
        if len(self.files) <= FOLDER_CACHE_FRAMES:
            self._cache[index] = frame
        return frame

    def read(self) -> np.ndarray | None:
        self.pacer.wait()
        while True:
            if len(self._skipped) == len(self.files):
                raise CameraError(f"image folder {self.folder}: none of its {len(self.files)} images can be read "
                                  f"(last: {self._skipped[max(self._skipped)]})")
            if self._next >= len(self.files):
                if not self.loop:
                    return None
                self._next = 0
            frame = self._load(self._next)
            self._next += 1
            if frame is not None:
                return frame

    def close(self) -> None:
        self._cache.clear()


class VideoFileSource:
    """A video file decoded by OpenCV, paced to its own frame rate, looping if asked."""

    def __init__(self, path: str | Path, loop: bool = True, pacer: Pacer | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CameraError(f"video file {self.path} does not exist (camera.path)")
        self._capture: cv2.VideoCapture | None = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise CameraError(f"cannot open video file {self.path}: OpenCV has no decoder for it")
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and 0.0 < fps <= 1000.0 else DEFAULT_FILE_FPS
        self.loop = loop
        self.pacer = pacer or Pacer(self.fps)

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        self.pacer.wait()
        ok, frame = self._capture.read()
        if not ok and self.loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        return _to_rgb(frame) if ok else None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def read_video_file(path: str | Path, max_seconds: float | None = None, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """A whole video file's RGB frames (up to ``max_seconds`` or ``max_frames``) and its
    frame rate, at once and unpaced: for tests and benchmarks that analyse clips."""
    capture = cv2.VideoCapture(str(path))
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    fps = fps if math.isfinite(fps) and 0.0 < fps <= 1000.0 else DEFAULT_FILE_FPS
    limit = math.inf if max_seconds is None else max_seconds * fps
    if max_frames is not None:
        limit = min(limit, max_frames)
    frames: list[np.ndarray] = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(_to_rgb(frame))
    capture.release()
    return frames, fps


def _device_arg(device: str) -> int | str:
    return int(device) if device.isdigit() else device


class V4L2Source:
    """A camera through OpenCV's V4L2 back end, asked for a size, rate and pixel format.

    The driver may choose other values; ``actual`` holds what it settled on. ``read``
    blocks until the device delivers a frame, so it is paced by the camera itself.
    """

    def __init__(self, device: str, width: int = 640, height: int = 480, fps: float = 30.0, fourcc: str = "MJPG") -> None:
        self.device = device
        capture = cv2.VideoCapture(_device_arg(device), cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise CameraError(
                f"cannot open camera {device}: is it plugged in, and may this user read it (group 'video')?"
            )
        # The pixel format goes first: some drivers reset size and rate when it changes.
        if fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*fourcc))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, fps)
        code = int(capture.get(cv2.CAP_PROP_FOURCC))
        self.actual: dict[str, int | float | str] = {
            "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fps": float(capture.get(cv2.CAP_PROP_FPS)),
            "fourcc": "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)) if code else "",
        }
        actual_fps = float(self.actual["fps"])
        self.fps = actual_fps if actual_fps > 0 else float(fps)
        self._capture: cv2.VideoCapture | None = capture

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        ok, frame = self._capture.read()
        return _to_rgb(frame) if ok else None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def open_source(settings: CameraSettings, resolve: Callable[[str], Path] = Path,
                limits: ImageLimits = ImageLimits()) -> FrameSource:
    """The source the camera section names; CameraError if it cannot be opened.
    ``limits``: what an image folder's files may be (the ``images`` section)."""
    if settings.source == "v4l2":
        return V4L2Source(settings.device, settings.width, settings.height, settings.fps, settings.fourcc)
    if not settings.path:
        raise CameraError(f"camera.path must name a {'video file' if settings.source == 'video' else 'folder'} for camera.source {settings.source}")
    if settings.source == "video":
        return VideoFileSource(resolve(settings.path), loop=settings.loop)
    return ImageFolderSource(resolve(settings.path), fps=settings.fps, loop=settings.loop, limits=limits)
