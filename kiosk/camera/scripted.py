"""Scripted camera pictures made from the public-domain faces that scikit-image ships.

Person A is NASA's portrait of Eileen Collins (``skimage.data.astronaut``, public
domain); person B is the man in the CC0 "camera" photo (``skimage.data.camera``). Each
frame places the face near the middle of a 640x480 picture, with small shifts, scale and
tilt changes from frame to frame, as a person standing in front of a kiosk makes.
Tests, benchmarks and the demo write these to a folder or a video file and read them
back through the ordinary camera sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

FRAME_SIZE = (640, 480)  # width, height


@dataclass(frozen=True)
class Variant:
    dx: float = 0.0  # shift of the face from the frame centre, in frame pixels
    dy: float = 0.0
    zoom: float = 1.0  # relative to the person's base scale
    angle_deg: float = 0.0  # in-plane tilt


# Small movements of someone standing still in front of the kiosk.
STANDING_STILL = (
    Variant(0, 0, 1.0, 0),
    Variant(14, -6, 1.04, 2),
    Variant(-12, 5, 0.96, -2),
    Variant(6, 12, 1.08, 1),
    Variant(-8, -10, 1.0, 3),
    Variant(10, 4, 0.94, -3),
)


@dataclass(frozen=True)
class Person:
    name: str
    face_center: tuple[float, float]  # in the source image
    scale: float  # makes the face about 140 px wide in a 640x480 frame

    def image(self) -> np.ndarray:
        import skimage.data

        if self.name == "astronaut":
            astronaut: np.ndarray = skimage.data.astronaut()
            return astronaut
        return np.repeat(skimage.data.camera()[..., None], 3, axis=2)


PERSON_A = Person("astronaut", (222.0, 115.0), 1.6)
PERSON_B = Person("camera", (226.0, 156.0), 2.6)


def render(image: np.ndarray, center: tuple[float, float], scale: float, variant: Variant, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """``image`` scaled and turned about the face ``center``, placed in a frame of ``size``."""
    width, height = size
    matrix = cv2.getRotationMatrix2D(center, variant.angle_deg, scale * variant.zoom)
    matrix[0, 2] += width / 2 + variant.dx - center[0]
    matrix[1, 2] += height / 2 + variant.dy - center[1]
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def person_frames(person: Person, variants: Sequence[Variant] = STANDING_STILL, size: tuple[int, int] = FRAME_SIZE) -> list[np.ndarray]:
    image = person.image()
    return [render(image, person.face_center, person.scale, v, size) for v in variants]


def blank_frames(count: int = 3, size: tuple[int, int] = FRAME_SIZE) -> list[np.ndarray]:
    """An empty room: grey frames with a little noise, no face."""
    rng = np.random.default_rng(0)
    width, height = size
    return [np.clip(rng.normal(110, 6, (height, width, 3)), 0, 255).astype(np.uint8) for _ in range(count)]


def write_folder(frames: Sequence[np.ndarray], folder: str | Path) -> Path:
    """The frames as 000.png, 001.png, ... in ``folder`` (made if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        if not cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {folder / f'{i:03d}.png'}")
    return folder


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float = 30.0) -> Path:
    """The frames as a Motion-JPEG AVI (decodable by every OpenCV build)."""
    path = Path(path)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write video {path}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
