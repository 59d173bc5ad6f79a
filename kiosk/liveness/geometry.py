"""What the mesh says about the eyes and the head: eye aspect ratio, yaw, pitch, roll.

Point indices are the MediaPipe face mesh's. "Left" and "right" are as seen in the image
(the person's right eye is on the image's left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Six lid/corner points per eye in the order of Soukupova and Cech's eye aspect ratio
# ("Real-Time Eye Blink Detection using Facial Landmarks", CVWW 2016):
# p1 outer/inner corner, p2 p3 upper lid, p4 the other corner, p5 p6 lower lid.
EYE_LEFT = (33, 160, 158, 133, 153, 144)
EYE_RIGHT = (362, 385, 387, 263, 373, 380)


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    """Lid opening over eye width: ~0.25-0.35 open, below ~0.15 closed (person dependent)."""
    p = np.asarray(points, dtype=np.float64)[list(eye), :2]
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    horizontal = np.linalg.norm(p[0] - p[3])
    return float(vertical / (2.0 * horizontal)) if horizontal > 1e-6 else 0.0


def mean_eye_aspect_ratio(points: np.ndarray) -> float:
    """The mesh's own eye aspect ratio (both eyes). The 2019 mesh hardly closes its lids
    on a blink: use :func:`eye_openness` on the eye model's lids for blinks."""
    return (eye_aspect_ratio(points, EYE_LEFT) + eye_aspect_ratio(points, EYE_RIGHT)) / 2.0


# Upper/lower lid point pairs of the eye model's contour (upper 11, 12, 13 face lower 3,
# 4, 5), and its two corners.
LID_PAIRS = ((11, 3), (12, 4), (13, 5))
LID_CORNERS = (0, 8)


def eye_openness(lids: np.ndarray) -> float:
    """Mean lid gap over eye width, both eyes, from the eye model's (2, 16, 2) lid
    contours: an eye aspect ratio on denser, blink-aware lids (~0.3 open, < 0.15 shut)."""
    lids = np.asarray(lids, dtype=np.float64)
    values = []
    for eye in lids:
        width = np.linalg.norm(eye[LID_CORNERS[0]] - eye[LID_CORNERS[1]])
        if width < 1e-6:
            continue
        gap = np.mean([np.linalg.norm(eye[a] - eye[b]) for a, b in LID_PAIRS])
        values.append(gap / width)
    return float(np.mean(values)) if values else 0.0


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees. yaw > 0: the face turns towards the image's right (the
    person's left); pitch > 0: the face looks up; roll > 0: clockwise in the image."""

    yaw: float
    pitch: float
    roll: float


def head_pose(points: np.ndarray) -> Pose:
    """Head pose from the mesh's own 3-D points (x, y pixels, z depth): the eye-corner axis
    and the forehead-chin axis span the face plane; its normal gives yaw and pitch.

    A PnP fit of a generic six-point face (cv2.solvePnP) was tried first: on the head-turn
    clips it flipped to mirror solutions (roll near 180 degrees) beyond ~30 degrees of yaw,
    where this stays smooth. Angles are only compared with the same person's neutral pose,
    so the constant offset of the forehead-chin axis (pitch reads about -5 to -12 degrees
    for a level head) does not matter.
    """
    p = np.asarray(points, dtype=np.float64)
    across = p[263] - p[33]
    down = p[152] - p[10]
    across /= np.linalg.norm(across) + 1e-12
    down -= across * float(down @ across)
    down /= np.linalg.norm(down) + 1e-12
    normal = np.cross(across, down)  # points away from the camera for a frontal face (z > 0)
    yaw = math.degrees(math.atan2(normal[0], normal[2]))
    pitch = math.degrees(math.atan2(normal[1], math.hypot(normal[0], normal[2])))
    roll = math.degrees(math.atan2(across[1], across[0]))
    return Pose(-yaw, pitch, roll)
