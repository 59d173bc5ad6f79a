"""Quality gates: is this face good enough to enroll or verify, and if not, what to say.

Each failed gate is a :class:`Finding` with a stable ``code`` that the UI turns into
guidance ("move closer", "hold still", "more light", "look at the camera").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.config.vision import QualitySettings

# Finding codes and the guidance each one maps to (the UI translates these).
GUIDANCE = {
    "too_small": "Move closer",
    "too_large": "Move back a little",
    "blurry": "Hold still",
    "too_dark": "More light, please",
    "too_bright": "Too bright: avoid direct light",
    "pose": "Look straight at the camera",
    "looks_down": "Lift your chin and look at the camera",
    "looks_up": "Lower your chin a little",
    "multiple_faces": "One person at a time, please",
}


@dataclass(frozen=True)
class Finding:
    code: str
    value: float
    limit: float

    @property
    def guidance(self) -> str:
        return GUIDANCE[self.code]


@dataclass(frozen=True)
class Pose:
    yaw_deg: float
    pitch_deg: float
    roll_deg: float


# Nose-below-eyes depth as a share of the eye-to-mouth height on a frontal face; measured
# as the median over frontal LFW faces (see benchmarks/lfw.py --pose-stats).
FRONTAL_NOSE_RATIO = 0.5


def estimate_pose(landmarks: np.ndarray) -> Pose:
    """Rough head pose from five landmarks (eyes, nose, mouth corners).

    Roll is the tilt of the eye line. Yaw and pitch come from where the nose tip sits
    between the eyes and between eyes and mouth; the arcsine maps that offset to an angle
    under a simple model of the face as a sphere. Good to ~10 degrees: enough for "look at
    the camera", not for measurement.
    """
    left_eye, right_eye, nose, left_mouth, right_mouth = np.asarray(landmarks, dtype=np.float64)
    eye_vec = right_eye - left_eye
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    # Undo roll so yaw and pitch are measured along the face's own axes.
    cos_r, sin_r = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rot = np.array([[cos_r, -sin_r], [sin_r, cos_r]])
    eyes_mid = (left_eye + right_eye) / 2
    mouth_mid = (left_mouth + right_mouth) / 2
    nose_rel = rot @ (nose - eyes_mid)
    mouth_rel = rot @ (mouth_mid - eyes_mid)
    half_iod = max(float(np.linalg.norm(eye_vec)) / 2, 1e-6)
    yaw = math.degrees(math.asin(float(np.clip(nose_rel[0] / (2 * half_iod), -1, 1))))
    height = max(mouth_rel[1], 1e-6)
    pitch = math.degrees(math.asin(float(np.clip((nose_rel[1] / height - FRONTAL_NOSE_RATIO) * 2, -1, 1))))
    return Pose(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)


def sharpness(chip_rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the chip at a fixed size, so the number is comparable."""
    gray = cv2.cvtColor(cv2.resize(chip_rgb, (112, 112), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def brightness(chip_rgb: np.ndarray) -> float:
    return float(cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY).mean())


def assess(
    frame_width: int,
    box: np.ndarray,
    landmarks: np.ndarray,
    chip_rgb: np.ndarray,
    other_faces: int,
    settings: QualitySettings,
) -> list[Finding]:
    """Every gate the face fails, most actionable first (an empty list: good to go)."""
    findings = []
    if other_faces:
        findings.append(Finding("multiple_faces", float(other_faces + 1), 1.0))
    width = float(box[2] - box[0])
    if width < settings.min_face_px:
        findings.append(Finding("too_small", width, float(settings.min_face_px)))
    elif width > settings.max_face_fraction * frame_width:
        findings.append(Finding("too_large", width / frame_width, settings.max_face_fraction))
    pose = estimate_pose(landmarks)
    for code, angle, limit in (
        ("pose", pose.yaw_deg, settings.max_yaw_deg),
        # Pitch says which way: a camera above the face (a seated person before a kiosk
        # mounted for standing people) sees it looking down, and lifting the chin
        # towards the camera is what helps; "look straight" does not say that.
        ("looks_down" if pose.pitch_deg > 0 else "looks_up", pose.pitch_deg, settings.max_pitch_deg),
        ("pose", pose.roll_deg, settings.max_roll_deg),
    ):
        if abs(angle) > limit:
            findings.append(Finding(code, abs(angle), limit))
            break
    level = brightness(chip_rgb)
    if level < settings.min_brightness:
        findings.append(Finding("too_dark", level, settings.min_brightness))
    elif level > settings.max_brightness:
        findings.append(Finding("too_bright", level, settings.max_brightness))
    sharp = sharpness(chip_rgb)
    if sharp < settings.min_sharpness:
        findings.append(Finding("blurry", sharp, settings.min_sharpness))
    return findings
