"""Passive cues: what the frames of a challenge show about the thing in front of the camera.

Each cue is measured on its own and gives a score, or None when the frames do not allow
a judgement (the cue then does not vote). The fused verdict flags an attack when any
enabled cue crosses its threshold.

- ``planarity``: a photo or screen moves as one flat sheet, so the face moves exactly as
  its immediate surroundings (the rest of the photo) do. Features are tracked on the
  face and on a ring around it between frames half a second apart; a homography is fitted
  to the ring and the face's motion that it does not explain is compared with the face's
  whole motion. A live head turning in front of a fixed camera has a ratio near 1; a
  held photo near 0. (The landmarks' own planarity, the mesh's points fitted by one
  homography across a head turn, was measured first and does not separate: the mesh
  model regresses a 3-D face even from a tilted photo.)
- ``moire``: a re-filmed screen (and a halftone print) adds periodic texture: isolated
  peaks in the face's spatial spectrum above its smooth fall-off. Frequencies on the axes
  (block compression) are ignored.
- ``frame_edge``: straight edges framing the face (a paper sheet's or a phone's border)
  that keep their place relative to the face while it moves.
- ``flicker``: a periodic component in the face's brightness over time (a display's
  refresh or backlight beating against the camera's frame rate). Measured and recorded,
  but it does not vote by default: on the development clips slow lighting changes and
  head motion dominate it (see benchmarks/liveness.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from kiosk.config.liveness import PassiveSettings
from kiosk.liveness.geometry import head_pose

# The face is scaled so the eyes' outer corners are this many pixels apart before
# tracking and edge detection: the cues then see the same detail at any distance.
NORMALISED_IOD_PX = 60.0
PAIR_SPACING_S = 0.5
MIN_FACE_MOTION_PX = 2.0  # at the normalised scale: pairs with less motion say nothing
MIN_PAIRS = 3
KEEP_EVERY_S = 0.1  # grey frames kept for the temporal cues
MOIRE_EVERY_S = 0.5
MAX_FRAMES = 200


# A cue as measured: its name, (score or None, detail), threshold, and whether a score
# crosses the threshold.
_Measured = tuple[str, tuple[float | None, dict[str, Any]], float, Callable[[float], bool]]


@dataclass(frozen=True)
class CueScore:
    name: str
    score: float | None  # None: not measurable on these frames
    threshold: float
    flagged: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": None if self.score is None else round(float(self.score), 4),
            "threshold": self.threshold,
            "flagged": self.flagged,
            **self.detail,
        }


@dataclass(frozen=True)
class PassiveResult:
    cues: tuple[CueScore, ...]

    @property
    def flagged(self) -> bool:
        return any(cue.flagged for cue in self.cues)

    @property
    def flagged_by(self) -> list[str]:
        return [cue.name for cue in self.cues if cue.flagged]

    def to_dict(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "cues": {cue.name: cue.to_dict() for cue in self.cues}}


@dataclass
class _Kept:
    t: float
    grey: np.ndarray  # normalised-scale grey frame
    scale: float
    points: np.ndarray  # (468, 2) at the normalised scale
    yaw: float
    pitch: float


def _iod(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[33, :2] - points[263, :2]))


class PassiveCollector:
    """Collects what the cues need, frame by frame, and scores them at the end."""

    def __init__(self, settings: PassiveSettings) -> None:
        self.settings = settings
        self._kept: list[_Kept] = []
        self._moire: list[np.ndarray] = []
        self._moire_t = -math.inf
        self._brightness: list[tuple[float, float]] = []

    def add(self, t: float, image_rgb: np.ndarray, mesh_points: np.ndarray | None) -> None:
        """One frame and its face mesh points (468 x 3, or None when no face was found)."""
        if mesh_points is None or not np.all(np.isfinite(mesh_points)):
            return
        points = np.asarray(mesh_points, dtype=np.float64)[:, :2]
        x1, y1 = np.maximum(points.min(0), 0).astype(int)
        x2, y2 = points.max(0).astype(int)
        if x2 - x1 < 8 or y2 - y1 < 8:
            return
        face = image_rgb[y1:y2, x1:x2]
        if face.size == 0:
            return
        self._brightness.append((t, float(face.mean())))
        if t - self._moire_t >= MOIRE_EVERY_S and len(self._moire) < 16:
            crop = _moire_crop(image_rgb, points)
            if crop is not None:
                self._moire.append(crop)
                self._moire_t = t
        if not self._kept or t - self._kept[-1].t >= KEEP_EVERY_S:
            # One scale for the whole session (from the first face), so frames compare.
            scale = self._kept[0].scale if self._kept else min(1.0, NORMALISED_IOD_PX / max(_iod(points), 1.0))
            grey = cv2.cvtColor(np.ascontiguousarray(image_rgb[..., :3]), cv2.COLOR_RGB2GRAY)
            if scale < 1.0:
                grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            pose = head_pose(mesh_points)
            self._kept.append(_Kept(t, grey, scale, points * scale, pose.yaw, pose.pitch))
            if len(self._kept) > MAX_FRAMES:
                del self._kept[0]

    def evaluate(self) -> PassiveResult:
        """Every cue is measured (for the audit record); only the configured ones vote."""
        s = self.settings
        voting = set(s.cues) if s.enabled else set()
        planarity = planarity_score(self._kept)
        turn = pose_range(self._kept)
        planarity = (planarity[0] if turn >= s.planarity_min_yaw_deg else None, {**planarity[1], "pose_range_deg": round(turn, 1)})
        measured: tuple[_Measured, ...] = (
            ("planarity", planarity, s.planarity_min_ratio, lambda v: v < s.planarity_min_ratio),
            ("moire", moire_score(self._moire), s.moire_max, lambda v: v > s.moire_max),
            ("frame_edge", frame_edge_score(self._kept), s.frame_edge_max, lambda v: v > s.frame_edge_max),
            ("flicker", flicker_score(self._brightness), s.flicker_max, lambda v: v > s.flicker_max),
        )
        cues = []
        for name, (value, detail), threshold, crosses in measured:
            flagged = name in voting and value is not None and bool(crosses(value))
            cues.append(CueScore(name, value, threshold, flagged, {**detail, "votes": name in voting}))
        return PassiveResult(tuple(cues))


# -- planarity ----------------------------------------------------------------------


def _track(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lucas-Kanade tracks from a to b, kept only where tracking back returns home."""
    params = dict(winSize=(21, 21), maxLevel=3)
    # nextPts None: OpenCV allocates it (its stubs make it required, hence the ignores).
    new, status, _ = cv2.calcOpticalFlowPyrLK(a, b, points, None, **params)  # type: ignore[call-overload]
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(b, a, new, None, **params)  # type: ignore[call-overload]
    good = (status.ravel() == 1) & (status_back.ravel() == 1) & (np.linalg.norm((back - points).reshape(-1, 2), axis=1) < 0.5)
    return points.reshape(-1, 2)[good], new.reshape(-1, 2)[good]


def _face_and_surround_masks(shape: tuple[int, int], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face (the mesh's hull) and everything else in the frame, a margin apart."""
    face = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(points.astype(np.int32)), 255)
    margin = max(3, int(0.08 * np.ptp(points[:, 0])))
    surround = np.full(shape, 255, np.uint8)
    surround[cv2.dilate(face, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0] = 0
    return face, surround


def pose_range(kept: list[_Kept]) -> float:
    """The larger of the yaw and pitch ranges over the kept frames, degrees."""
    if not kept:
        return 0.0
    yaws = [k.yaw for k in kept]
    pitches = [k.pitch for k in kept]
    return float(max(max(yaws) - min(yaws), max(pitches) - min(pitches)))


def planarity_score(kept: list[_Kept]) -> tuple[float | None, dict[str, Any]]:
    """Share of the face's motion that the motion of its surroundings does not explain
    (summed over frame pairs half a second apart with enough face motion)."""
    unexplained = total = 0.0
    pairs = 0
    for i, first in enumerate(kept):
        second = next((k for k in kept[i + 1 :] if k.t - first.t >= PAIR_SPACING_S), None)
        if second is None:
            break
        if first.grey.shape != second.grey.shape:
            continue
        face_mask, ring_mask = _face_and_surround_masks(first.grey.shape, first.points)
        face_pts = cv2.goodFeaturesToTrack(first.grey, 150, 0.01, 4, mask=face_mask)
        ring_pts = cv2.goodFeaturesToTrack(first.grey, 300, 0.01, 4, mask=ring_mask)
        if face_pts is None or ring_pts is None or len(face_pts) < 10 or len(ring_pts) < 10:
            continue
        face_a, face_b = _track(first.grey, second.grey, face_pts)
        ring_a, ring_b = _track(first.grey, second.grey, ring_pts)
        if len(face_a) < 8 or len(ring_a) < 8:
            continue
        homography, inliers = cv2.findHomography(ring_a, ring_b, cv2.RANSAC, 1.0)
        if homography is None or int(inliers.sum()) < 8:
            continue
        predicted = cv2.perspectiveTransform(face_a[None].astype(np.float64), homography)[0]
        motion = float(np.median(np.linalg.norm(face_b - face_a, axis=1)))
        if motion < MIN_FACE_MOTION_PX:
            continue
        unexplained += float(np.median(np.linalg.norm(predicted - face_b, axis=1)))
        total += motion
        pairs += 1
    if pairs < MIN_PAIRS:
        return None, {"pairs": pairs}
    return unexplained / total, {"pairs": pairs, "face_motion_px": round(total / pairs, 2)}


# -- moire --------------------------------------------------------------------------

MOIRE_SIDE = 96  # analysed square, native pixels (no resampling: it would wash moire out)


def _moire_crop(image_rgb: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """A native-resolution grey square of cheek and nose, below the eyes."""
    centre = (points[168] + points[1]) / 2  # between the eyes and the nose tip
    half = int(min(MOIRE_SIDE, max(24.0, 0.9 * _iod(points)))) // 2
    cx, cy = int(centre[0]), int(centre[1])
    height, width = image_rgb.shape[:2]
    if cx - half < 0 or cy - half < 0 or cx + half > width or cy + half > height:
        return None
    crop = image_rgb[cy - half : cy + half, cx - half : cx + half]
    return cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float32)


def spectral_peakiness(grey: np.ndarray) -> float:
    """How far the strongest isolated peak of the spectrum stands above the spectrum's
    radial median at its frequency (natural log units), over 0.08-0.5 cycles/pixel,
    axes excluded."""
    n = grey.shape[0]
    window = np.outer(np.hanning(n), np.hanning(n))
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2)
    log_power = np.log(spectrum + 1e-6)
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    radius = np.hypot(xx, yy)
    ring = np.round(radius).astype(int)
    excess = np.full_like(log_power, -np.inf)
    for r in range(int(0.08 * n), n // 2):
        sel = ring == r
        if sel.sum() < 8:
            continue
        excess[sel] = log_power[sel] - np.median(log_power[sel])
    excess[(np.abs(xx) <= 1) | (np.abs(yy) <= 1)] = -np.inf
    return float(np.max(excess))


def moire_score(crops: list[np.ndarray]) -> tuple[float | None, dict[str, Any]]:
    if len(crops) < 2:
        return None, {"frames": len(crops)}
    values = [spectral_peakiness(c) for c in crops]
    score = float(np.median(values))
    return score, {"frames": len(crops)}


# -- frame edges --------------------------------------------------------------------

EDGE_SAMPLES = 8


def _framing_lines(kept: _Kept) -> dict[str, float]:
    """Long straight edges beside, above and below the face: side -> offset from the face
    centre in face widths."""
    points = kept.points
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    edges = cv2.Canny(cv2.GaussianBlur(kept.grey, (3, 3), 0), 40, 120)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=int(0.6 * h), minLineLength=int(0.9 * h), maxLineGap=4)
    found: dict[str, float] = {}
    if lines is None:
        return found
    for x_a, y_a, x_b, y_b in lines.reshape(-1, 4):
        dx, dy = x_b - x_a, y_b - y_a
        mx, my = (x_a + x_b) / 2, (y_a + y_b) / 2
        vertical = abs(dx) < 0.35 * abs(dy)
        horizontal = abs(dy) < 0.35 * abs(dx)
        if vertical and abs(my - cy) < 0.8 * h:
            offset = (mx - cx) / w
            side = "left" if offset < 0 else "right"
            if 0.55 < abs(offset) < 2.5:
                found[side] = offset if side not in found or abs(offset) < abs(found[side]) else found[side]
        elif horizontal and abs(mx - cx) < 0.8 * w:
            offset = (my - cy) / w
            side = "top" if offset < 0 else "bottom"
            if 0.55 < abs(offset) < 2.5:
                found[side] = offset if side not in found or abs(offset) < abs(found[side]) else found[side]
    return found


def frame_edge_score(kept: list[_Kept]) -> tuple[float | None, dict[str, Any]]:
    """Share of sampled frames where straight edges frame the face on at least two sides
    at the same offsets (in face widths) as in the other frames; needs the face to move
    in the picture, or a static background edge would look the same."""
    if len(kept) < 4:
        return None, {"frames": len(kept)}
    picks = [kept[int(i)] for i in np.linspace(0, len(kept) - 1, min(EDGE_SAMPLES, len(kept)))]
    centres = np.array([k.points.mean(0) / k.scale for k in picks])
    widths = np.array([np.ptp(k.points[:, 0]) / k.scale for k in picks])
    travel = float(np.max(np.linalg.norm(centres - centres[0], axis=1)) / np.median(widths))
    found = [_framing_lines(k) for k in picks]
    framed = 0
    for item in found:
        steady_sides = 0
        for side, offset in item.items():
            others = [f[side] for f in found if side in f]
            if len(others) >= len(found) // 2 and abs(np.median(others) - offset) < 0.08:
                steady_sides += 1
        framed += steady_sides >= 2
    detail = {"frames": len(picks), "face_travel": round(travel, 3)}
    if travel < 0.05:
        return None, detail  # the face did not move: rigid-with-face cannot be told apart
    return framed / len(picks), detail


# -- flicker ------------------------------------------------------------------------


def flicker_score(series: list[tuple[float, float]]) -> tuple[float | None, dict[str, Any]]:
    """Strongest spectral peak of the face's relative brightness over its median power,
    between 0.5 Hz and the Nyquist frequency, after removing a linear trend."""
    if len(series) < 32:
        return None, {"frames": len(series)}
    t = np.array([s[0] for s in series])
    v = np.array([s[1] for s in series])
    duration = t[-1] - t[0]
    if duration < 2.0:
        return None, {"frames": len(series)}
    fps = (len(t) - 1) / duration
    grid = np.linspace(t[0], t[-1], len(t))
    v = np.interp(grid, t, v)
    v = v / max(float(np.mean(v)), 1e-6) - 1.0
    v = v - np.polyval(np.polyfit(grid - grid[0], v, 1), grid - grid[0])
    power = np.abs(np.fft.rfft(v * np.hanning(len(v)))) ** 2
    freqs = np.fft.rfftfreq(len(v), 1.0 / fps)
    band = freqs >= 0.5
    if band.sum() < 8:
        return None, {"frames": len(series)}
    peak = int(np.argmax(power[band]))
    score = float(power[band][peak] / max(float(np.median(power[band])), 1e-12))
    return score, {"frames": len(series), "peak_hz": round(float(freqs[band][peak]), 2)}
