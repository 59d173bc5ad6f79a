"""Synthetic presentation attacks made from bona fide frames, for tests and benchmarks.

- ``print_attack``: a still photo held up to the camera: warped by a slowly varying
  homography (a hand tilting and moving it), with hand tremor, blur, lighting drift,
  printing's lost contrast and sensor noise. With ``border=True`` the photo is a sheet
  of paper with a white margin held in front of a background, so its edge shows.
- ``screen_replay``: a video replayed on a screen and re-filmed: display gamma and colour
  shift, a moire pattern (the screen's pixel grid beating against the camera's), a faint
  rolling refresh band, the phone held by hand, optionally its dark bezel.

Every random choice comes from the ``numpy.random.Generator`` passed in, so an attack is
reproducible from its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np


@dataclass(frozen=True)
class Motion:
    """Slowly varying hand motion of a held photo or phone (per frame)."""

    tilt_x_deg: np.ndarray  # rotation about the vertical axis (looks like a head turn)
    tilt_y_deg: np.ndarray  # about the horizontal axis
    roll_deg: np.ndarray
    scale: np.ndarray
    shift: np.ndarray  # (n, 2) pixels


def _smooth_walk(rng: np.random.Generator, n: int, fps: float, amplitude: float, period_s: float) -> np.ndarray:
    """A smooth random signal: a sum of a few sinusoids with random phases around a period."""
    t = np.arange(n) / fps
    signal = np.zeros(n)
    for k in range(3):
        period = period_s * rng.uniform(0.6, 1.6) / (k + 1)
        signal += rng.uniform(0.3, 1.0) / (k + 1) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    peak = np.max(np.abs(signal)) or 1.0
    return amplitude * signal / peak


def hand_motion(rng: np.random.Generator, n: int, fps: float, tilt_deg: float = 25.0, tremor_px: float = 1.0) -> Motion:
    tremor = rng.normal(0.0, tremor_px, size=(n, 2))
    return Motion(
        tilt_x_deg=_smooth_walk(rng, n, fps, tilt_deg, 3.0),
        tilt_y_deg=_smooth_walk(rng, n, fps, tilt_deg * 0.5, 3.5),
        roll_deg=_smooth_walk(rng, n, fps, 4.0, 4.0),
        scale=1.0 + _smooth_walk(rng, n, fps, 0.06, 5.0),
        shift=np.stack([_smooth_walk(rng, n, fps, 12.0, 4.0), _smooth_walk(rng, n, fps, 8.0, 4.5)], axis=1) + tremor,
    )


def plane_homography(size: tuple[int, int], tilt_x_deg: float, tilt_y_deg: float, roll_deg: float, scale: float, shift: np.ndarray, focal: float | None = None) -> np.ndarray:
    """The image of a flat sheet of ``size`` (w, h) rotated in 3-D about its centre and
    seen by a pinhole camera (focal ``focal``, default the width), as a 3x3 homography."""
    width, height = size
    focal = focal or float(width)
    ax, ay, az = (math.radians(v) for v in (tilt_y_deg, tilt_x_deg, roll_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    rotation = rz @ ry @ rx
    distance = focal / scale
    camera = np.array([[focal, 0, width / 2 + shift[0]], [0, focal, height / 2 + shift[1]], [0, 0, 1]])
    # Plane points (u, v, 1) centred on the sheet -> 3-D -> image.
    to_centre = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]])
    plane = np.column_stack([rotation[:, 0], rotation[:, 1], rotation @ np.zeros(3) + np.array([0, 0, distance])])
    homography: np.ndarray = camera @ plane @ to_centre
    return homography


def _lighting(rng: np.random.Generator, n: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    gain = 1.0 + _smooth_walk(rng, n, fps, 0.12, 4.0)
    gradient = _smooth_walk(rng, n, fps, 0.15, 5.0)
    return gain, gradient


def _finish(image: np.ndarray, rng: np.random.Generator, gain: float, gradient: float, blur_sigma: float, noise: float) -> np.ndarray:
    height, width = image.shape[:2]
    out: np.ndarray = image.astype(np.float32)
    if blur_sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), blur_sigma)
    ramp = 1.0 + gradient * (np.linspace(-1, 1, width, dtype=np.float32)[None, :, None])
    out = out * gain * ramp + rng.normal(0.0, noise, size=out.shape).astype(np.float32)
    finished: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return finished


def print_attack(
    still_rgb: np.ndarray,
    face_box: np.ndarray,
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    border: bool = False,
    background: np.ndarray | None = None,
    tilt_deg: float = 25.0,
) -> Iterator[np.ndarray]:
    """Frames of a printed photo of ``still_rgb`` held up to the camera.

    Without a border the photo fills the view (held close). With one, the printed face
    (a crop of up to 2 face widths) sits on a white sheet that covers about 60 % of the
    frame's height, in front of ``background`` (default: a blurred, darkened copy of the
    still, standing in for a room).
    """
    height, width = still_rgb.shape[:2]
    # Printing: lower contrast and saturation, warmer paper white.
    photo = still_rgb.astype(np.float32)
    grey = photo.mean(axis=2, keepdims=True)
    photo = 0.8 * photo + 0.2 * grey
    photo = 20 + 0.85 * photo * np.array([1.0, 0.98, 0.93], np.float32)
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    motion = hand_motion(rng, n_frames, fps, tilt_deg=tilt_deg)
    gain, gradient = _lighting(rng, n_frames, fps)
    if border:
        # The printed picture: about 2 face widths around the face, within the still.
        x1, y1, x2, y2 = face_box[:4]
        half = 1.0 * max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(max(0, cx - half)), int(max(0, cy - half))
        right, bottom = int(min(width, cx + half)), int(min(height, cy + half))
        face = photo[top:bottom, left:right]
        margin = int(round(0.12 * max(face.shape[:2])))
        sheet = np.full((face.shape[0] + 2 * margin, face.shape[1] + 2 * margin, 3), (246, 244, 236), np.uint8)
        sheet[margin : margin + face.shape[0], margin : margin + face.shape[1]] = face
        target = 0.6 * height / sheet.shape[0]
        sheet = cv2.resize(sheet, None, fx=target, fy=target, interpolation=cv2.INTER_AREA)
        backdrop = background if background is not None else (cv2.GaussianBlur(still_rgb, (0, 0), 12) * 0.6).astype(np.uint8)
        source, source_size = sheet, (sheet.shape[1], sheet.shape[0])
        # Place the sheet's centre at the frame's centre.
        place = np.array([[1, 0, (width - source_size[0]) / 2], [0, 1, (height - source_size[1]) / 2], [0, 0, 1]])
    else:
        # The photo is bigger than the view: pad it (mirrored, as if printed that way) so
        # no warp ever reaches its edge; everything in view then lies on the one sheet.
        pad_x, pad_y = width // 2, height // 2
        source = cv2.copyMakeBorder(photo, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REFLECT_101)
        source_size = (source.shape[1], source.shape[0])
        place = np.array([[1, 0, -pad_x], [0, 1, -pad_y], [0, 0, 1]], dtype=np.float64)
    for i in range(n_frames):
        homography = plane_homography(
            (width, height),
            motion.tilt_x_deg[i],
            motion.tilt_y_deg[i],
            motion.roll_deg[i],
            (motion.scale[i] * (1.0 if border else 1.25)),
            motion.shift[i],
        )
        # The sheet is placed in frame coordinates, then the frame-sized plane is moved.
        matrix = homography @ place
        if border:
            frame = backdrop.copy()
            warped = cv2.warpPerspective(source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            mask = cv2.warpPerspective(np.full(source.shape[:2], 255, np.uint8), matrix, (width, height), flags=cv2.INTER_LINEAR)
            alpha = (mask.astype(np.float32) / 255.0)[..., None]
            frame = (warped * alpha + frame * (1 - alpha)).astype(np.uint8)
        else:
            frame = cv2.warpPerspective(source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        blur = 0.6 + 0.8 * abs(math.sin(i / fps * 1.3 + 0.5)) + abs(motion.tilt_x_deg[i] - motion.tilt_x_deg[max(i - 1, 0)]) * 0.3
        yield _finish(frame, rng, float(gain[i]), float(gradient[i]), blur, 2.0)


def moire_pattern(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative moire field: two beating gratings at random angles and periods."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.zeros((height, width), np.float32)
    for _ in range(2):
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(3.0, 9.0)
        phase = rng.uniform(0, 2 * math.pi)
        field += np.cos(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period + phase).astype(np.float32)
    return field / 2.0


def screen_replay(
    frames: Iterable[np.ndarray],
    fps: float,
    n_frames: int,
    rng: np.random.Generator,
    bezel: bool = False,
    moire_strength: float = 0.08,
) -> Iterator[np.ndarray]:
    """A bona fide clip replayed on a screen and filmed: gamma shift, cooler colour,
    moire, rolling refresh band, hand motion; with ``bezel`` the screen shows as a
    smaller dark-framed rectangle in front of a dim background."""
    gamma = rng.uniform(0.7, 1.4)
    tint = np.array([rng.uniform(0.9, 0.97), rng.uniform(0.97, 1.0), 1.0], np.float32)
    motion = hand_motion(rng, n_frames, fps, tilt_deg=6.0, tremor_px=0.7)
    band_period = rng.uniform(0.6, 1.5)  # seconds for the refresh band to roll through
    pattern = None
    for i, frame in enumerate(frames):
        if i >= n_frames:
            break
        height, width = frame.shape[:2]
        if pattern is None:
            pattern = moire_pattern(height, width, rng)
        shown = 255.0 * (frame.astype(np.float32) / 255.0) ** gamma * tint
        # The moire drifts slowly as the phone moves against the camera.
        dx, dy = motion.shift[i] * 0.5
        drifted = cv2.warpAffine(pattern, np.array([[1, 0, dx], [0, 1, dy]], np.float32), (width, height), borderMode=cv2.BORDER_WRAP)
        shown *= 1.0 + moire_strength * drifted[..., None]
        band_y = ((i / fps) / band_period % 1.0) * height
        rows = np.arange(height, dtype=np.float32)
        shown *= (1.0 + 0.04 * np.exp(-(((rows - band_y) / (0.08 * height)) ** 2)))[:, None, None]
        shown = np.clip(shown, 0, 255).astype(np.uint8)
        if bezel:
            canvas = np.full_like(shown, 40)
            inner = cv2.resize(shown, None, fx=0.62, fy=0.62, interpolation=cv2.INTER_AREA)
            pad = int(0.04 * width)
            screen = cv2.copyMakeBorder(inner, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(12, 12, 14))
            y0 = (height - screen.shape[0]) // 2
            x0 = (width - screen.shape[1]) // 2
            canvas[y0 : y0 + screen.shape[0], x0 : x0 + screen.shape[1]] = screen
            shown = canvas
        homography = plane_homography((width, height), motion.tilt_x_deg[i], motion.tilt_y_deg[i], motion.roll_deg[i], 1.0 if bezel else 1.1, motion.shift[i])
        if bezel:
            warped = cv2.warpPerspective(shown, homography, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(40, 40, 40))
        else:
            # A screen larger than the view (held close): padded so its edge never shows.
            pad_x, pad_y = width // 4, height // 4
            padded = cv2.copyMakeBorder(shown, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REFLECT_101)
            offset = np.array([[1, 0, -pad_x], [0, 1, -pad_y], [0, 0, 1]], dtype=np.float64)
            warped = cv2.warpPerspective(padded, homography @ offset, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        yield _finish(warped, rng, 1.0, 0.0, 0.7, 2.0)
