"""Config sections of the face pipeline: models, detector, quality gates, verification."""

from typing import Literal

from pydantic import Field

from kiosk.config.base import Section

# Security levels name operating points by the false accept rate they target.
SECURITY_LEVEL_FAR = {"high": "1e-4", "medium": "1e-3", "low": "1e-2"}


class ModelSettings(Section):
    dir: str = "models"  # relative paths resolve against the config file's folder
    embedder: str = "dlib_resnet_v1_fp32.json"
    pnet: str = "mtcnn_pnet.json"
    rnet: str = "mtcnn_rnet.json"
    onet: str = "mtcnn_onet.json"
    num_threads: int = Field(2, ge=1, le=64)
    flip_tta: bool = True
    verify_hashes: bool = True


class DetectorSettings(Section):
    min_face_px: int = Field(40, ge=12)
    scale_factor: float = Field(0.709, gt=0.1, lt=1.0)
    score_thresholds: list[float] = Field(default_factory=lambda: [0.6, 0.7, 0.7], min_length=3, max_length=3)
    nms_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.7, 0.7], min_length=3, max_length=3)
    max_side_px: int = Field(640, ge=64)  # larger frames are downscaled before detection


class QualitySettings(Section):
    min_face_px: int = Field(80, ge=12)  # inter-ocular * ~2.5 ≈ face width
    max_face_fraction: float = Field(0.8, gt=0.0, le=1.0)
    min_sharpness: float = Field(30.0, ge=0.0)  # variance of the Laplacian on the chip
    min_brightness: float = Field(50.0, ge=0.0, le=255.0)
    max_brightness: float = Field(210.0, ge=0.0, le=255.0)
    max_yaw_deg: float = Field(25.0, gt=0.0, le=90.0)
    max_pitch_deg: float = Field(25.0, gt=0.0, le=90.0)
    max_roll_deg: float = Field(20.0, gt=0.0, le=90.0)


class VerificationSettings(Section):
    security_level: Literal["high", "medium", "low"] = "medium"
    # Operating point for the 1:N duplicate check at enrollment.
    duplicate_security_level: Literal["high", "medium", "low"] = "medium"
    # How a probe is scored against a user's several templates.
    template_fusion: Literal["min", "mean"] = "mean"
