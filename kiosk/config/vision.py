"""Config sections of the face pipeline: models, detector, quality gates, verification."""

from typing import Any, Literal

from pydantic import Field, model_validator

from kiosk.config.base import Section

# Security levels name operating points by the false accept rate of a whole attempt
# (a reset's decision), which the fusion manifest's thresholds target.
SECURITY_LEVEL_FAR = {"high": "1e-5", "medium": "1e-4", "low": "1e-3"}
# Levels of the "is it still the same face" checks (enrollment capture, liveness): one
# comparison of the primary model, at its own calibrated thresholds.
SAME_FACE_LEVEL_FAR = {"high": "1e-4", "medium": "1e-3", "low": "1e-2"}


class ModelSettings(Section):
    dir: str = "models"  # relative paths resolve against the config file's folder
    # Manifests of the embedding models, the primary first; faces are matched on the
    # fused score of all of them (``fusion``).
    embedders: list[str] = Field(
        default_factory=lambda: ["sface_2021dec_fp16.json", "dlib_resnet_v1_fp32.json"], min_length=1, max_length=4
    )
    fusion: str = "fusion.json"

    @model_validator(mode="before")
    @classmethod
    def _single_embedder(cls, data: Any) -> Any:
        """A config file written for one model (``embedder: X``) means ``embedders: [X]``."""
        if isinstance(data, dict) and "embedder" in data:
            data = dict(data)
            single = data.pop("embedder")
            if "embedders" in data:
                raise ValueError("give models.embedders only (models.embedder is its older, one-model form)")
            data["embedders"] = [single]
        return data

    @property
    def embedder(self) -> str:
        """The primary embedding model's manifest."""
        return self.embedders[0]
    pnet: str = "mtcnn_pnet.json"
    rnet: str = "mtcnn_rnet.json"
    onet: str = "mtcnn_onet.json"
    yunet: str = "yunet_2023mar_fp32.json"  # the detector when detector.kind is yunet
    num_threads: int = Field(2, ge=1, le=64)
    flip_tta: bool = False
    verify_hashes: bool = True


class DetectorSettings(Section):
    # mtcnn: the three-stage cascade (models.pnet/rnet/onet); yunet: one YuNet pass
    # (models.yunet), which kiosk/vision/yunet.py describes.
    kind: Literal["mtcnn", "yunet"] = "mtcnn"
    min_face_px: int = Field(40, ge=12)
    scale_factor: float = Field(0.709, gt=0.1, lt=1.0)
    score_thresholds: list[float] = Field(default_factory=lambda: [0.6, 0.7, 0.7], min_length=3, max_length=3)
    nms_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.7, 0.7], min_length=3, max_length=3)
    max_side_px: int = Field(640, ge=64)  # larger frames are downscaled before detection
    # YuNet only: face score (sqrt of class x objectness) needed, and the overlap (IoU)
    # above which a weaker box is dropped.
    yunet_score_threshold: float = Field(0.6, gt=0.0, lt=1.0)
    yunet_nms_threshold: float = Field(0.3, gt=0.0, le=1.0)


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
    # A reset's false accept rate per attempt: high 1e-5, medium 1e-4, low 1e-3.
    security_level: Literal["high", "medium", "low"] = "medium"
    # The duplicate check at enrollment refuses at most this share of genuinely new people,
    # whatever the gallery's size: its per-comparison threshold shrinks as the gallery grows.
    duplicate_false_refusals: float = Field(0.01, gt=0.0, lt=0.5)
    # "Still the same face" checks (enrollment capture): one comparison of the primary
    # model at its own per-comparison FAR, high 1e-4, medium 1e-3, low 1e-2.
    same_face_security_level: Literal["high", "medium", "low"] = "medium"
    # How a probe is scored against a user's several templates.
    template_fusion: Literal["min", "mean"] = "mean"
    # An accepted reset also needs the account to be the one, of everyone enrolled, that
    # the face is most like: a face near many people opens at most one account.
    nearest_only: bool = True

    @model_validator(mode="before")
    @classmethod
    def _replaced(cls, data: Any) -> Any:
        if isinstance(data, dict) and "duplicate_security_level" in data:
            raise ValueError("duplicate_security_level was replaced by duplicate_false_refusals (default 0.01): "
                             "the duplicate check's threshold now follows the gallery's size")
        return data
