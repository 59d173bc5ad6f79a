"""Dense face landmarks on LiteRT: the 468-point MediaPipe face mesh plus its eye model.

The mesh model takes an upright, centred crop of one face. The crop (a rotated square,
``Roi``) comes from a detector's face box and eyes for the first frame, then from the
previous frame's mesh, as MediaPipe's own tracker does: the detector runs again only
when the mesh says the face is gone.

The mesh's own lid points hardly move when the eyes close, so the lids come from the
eye model (MediaPipe Iris) run on a crop of each eye that the mesh places.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from kiosk.errors import ModelError
from kiosk.litert import load_interpreter
from kiosk.manifest import Manifest, load_manifest, model_path

NUM_LANDMARKS = 468
# The crop is this many times the face box (MediaPipe's face_detection_to_roi and
# face_landmark_landmarks_to_roi both use 1.5).
ROI_SCALE = 1.5
FACE_FLAG_THRESHOLD = 0.5
# Eye corners (outer) as seen in the image: index 33 is on the image's left, 263 on its right.
EYE_OUTER_LEFT, EYE_OUTER_RIGHT = 33, 263


@dataclass(frozen=True)
class Roi:
    """A square crop of side ``size`` centred on (cx, cy), rotated by ``angle`` radians
    (the angle of the line between the eyes, so the crop shows the face upright)."""

    cx: float
    cy: float
    size: float
    angle: float = 0.0

    def matrix(self, out_size: int) -> np.ndarray:
        """2x3 affine from image pixels to crop pixels."""
        scale = out_size / self.size
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        rotation = np.array([[cos, sin], [-sin, cos]]) * scale
        shift = np.array([out_size / 2, out_size / 2]) - rotation @ np.array([self.cx, self.cy])
        return np.hstack([rotation, shift[:, None]])


def roi_from_box(box: np.ndarray, eyes: np.ndarray | None = None, scale: float = ROI_SCALE) -> Roi:
    """A crop around a detector's face box (x1, y1, x2, y2); ``eyes`` (2, 2) left, right
    (as seen in the image) give its rotation."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    angle = 0.0
    if eyes is not None:
        (lx, ly), (rx, ry) = np.asarray(eyes, dtype=np.float64)[:2]
        angle = math.atan2(ry - ly, rx - lx)
    return Roi((x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * scale, angle)


def roi_from_points(points: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """The crop for the next frame from this frame's mesh: its rotated bounding box."""
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    left, right = xy[EYE_OUTER_LEFT], xy[EYE_OUTER_RIGHT]
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    cos, sin = math.cos(angle), math.sin(angle)
    upright = xy @ np.array([[cos, -sin], [sin, cos]])  # rotate by -angle
    low, high = upright.min(0), upright.max(0)
    centre_upright = (low + high) / 2
    centre = centre_upright @ np.array([[cos, sin], [-sin, cos]])
    side = float(max(high - low)) * scale
    return Roi(float(centre[0]), float(centre[1]), side, angle)


@dataclass(frozen=True)
class Mesh:
    points: np.ndarray  # (468, 3): x, y in image pixels; z relative depth in pixels (smaller: nearer)
    score: float  # face presence probability from the model's face flag
    roi: Roi  # the crop it was computed on

    @property
    def found(self) -> bool:
        return self.score > FACE_FLAG_THRESHOLD

    @property
    def box(self) -> np.ndarray:
        xy = self.points[:, :2]
        return np.concatenate([xy.min(0), xy.max(0)])


class FaceMesh:
    """Runs the mesh model on one face crop of a frame."""

    def __init__(self, manifest: Manifest, interpreter: Any) -> None:
        if manifest.task != "landmarks":
            raise ModelError(f"{manifest.file} is a {manifest.task} model, not a landmarks model")
        spec = manifest.input
        if not spec.height or spec.height != spec.width:
            raise ModelError(f"{manifest.file}: the landmark model needs a square input size in its manifest")
        self.manifest = manifest
        self.size = int(spec.height)
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        self._mean = np.asarray(spec.mean, np.float32)
        self._scale = np.asarray(spec.scale, np.float32)
        # Outputs are told apart by size, not by order (converters may reorder them).
        self._points_index = self._flag_index = None
        for detail in interpreter.get_output_details():
            count = int(np.prod(detail["shape"]))
            if count == NUM_LANDMARKS * 3:
                self._points_index = detail["index"]
            elif count == 1:
                self._flag_index = detail["index"]
        if self._points_index is None or self._flag_index is None:
            raise ModelError(f"{manifest.file}: expected a 1404-value landmark output and a 1-value face flag")

    @classmethod
    def from_manifest(cls, path: str | Path, num_threads: int = 2, check_hash: bool = False) -> "FaceMesh":
        manifest = load_manifest(path, check_hash=check_hash)
        return cls(manifest, load_interpreter(model_path(path, manifest), num_threads))

    def crop(self, image_rgb: np.ndarray, roi: Roi) -> np.ndarray:
        return cv2.warpAffine(
            image_rgb, roi.matrix(self.size), (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )

    def __call__(self, image_rgb: np.ndarray, roi: Roi) -> Mesh:
        """The mesh of the face in ``roi``; check ``.found`` before trusting the points."""
        crop = self.crop(np.ascontiguousarray(image_rgb[..., :3]), roi)
        tensor = (crop.astype(np.float32) - self._mean) * self._scale
        self._interpreter.set_tensor(self._input, tensor[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._points_index).reshape(NUM_LANDMARKS, 3).astype(np.float64)
        logit = float(self._interpreter.get_tensor(self._flag_index).reshape(-1)[0])
        score = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
        matrix = roi.matrix(self.size)
        inverse = cv2.invertAffineTransform(matrix)
        points = np.empty_like(raw)
        points[:, :2] = raw[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        points[:, 2] = raw[:, 2] * roi.size / self.size
        return Mesh(points, score, roi)


# Eye crops for the eye model: corners of each eye as seen in the image, left to right;
# the crop side is 2.3x the corner distance (MediaPipe's iris_landmark_landmarks_to_roi).
EYE_CORNERS = ((33, 133), (362, 263))
EYE_ROI_SCALE = 2.3
LID_POINTS = 16  # eye contour points 0-8 lower lid, 9-15 upper lid


class EyeMesh:
    """The eye model: lid contour of one eye from a crop the face mesh places."""

    def __init__(self, manifest: Manifest, interpreter: Any) -> None:
        if manifest.task != "eye-landmarks":
            raise ModelError(f"{manifest.file} is a {manifest.task} model, not an eye-landmarks model")
        self.manifest = manifest
        self.size = int(manifest.input.height or 0)
        if self.size <= 0:
            raise ModelError(f"{manifest.file}: the eye model needs an input size in its manifest")
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        self._mean = np.asarray(manifest.input.mean, np.float32)
        self._scale = np.asarray(manifest.input.scale, np.float32)
        self._contour_index = None
        for detail in interpreter.get_output_details():
            if int(np.prod(detail["shape"])) == 71 * 3:
                self._contour_index = detail["index"]
        if self._contour_index is None:
            raise ModelError(f"{manifest.file}: expected a 213-value eye contour output")

    @classmethod
    def from_manifest(cls, path: str | Path, num_threads: int = 2, check_hash: bool = False) -> "EyeMesh":
        manifest = load_manifest(path, check_hash=check_hash)
        return cls(manifest, load_interpreter(model_path(path, manifest), num_threads))

    def lids(self, image_rgb: np.ndarray, left_corner: np.ndarray, right_corner: np.ndarray, mirror: bool) -> np.ndarray:
        """(16, 2) lid contour in image pixels; ``mirror`` for the eye on the image's right
        (the model was trained on the other one)."""
        left_corner = np.asarray(left_corner, dtype=np.float64)[:2]
        right_corner = np.asarray(right_corner, dtype=np.float64)[:2]
        centre = (left_corner + right_corner) / 2
        delta = right_corner - left_corner
        roi = Roi(float(centre[0]), float(centre[1]), EYE_ROI_SCALE * float(np.hypot(*delta)) + 1e-6, math.atan2(delta[1], delta[0]))
        matrix = roi.matrix(self.size)
        crop = cv2.warpAffine(image_rgb, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if mirror:
            crop = crop[:, ::-1]
        tensor = (crop.astype(np.float32) - self._mean) * self._scale
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(tensor[None]))
        self._interpreter.invoke()
        contour = self._interpreter.get_tensor(self._contour_index).reshape(71, 3)[:LID_POINTS, :2].astype(np.float64)
        if mirror:
            contour[:, 0] = self.size - contour[:, 0]
        inverse = cv2.invertAffineTransform(matrix)
        lids: np.ndarray = contour @ inverse[:, :2].T + inverse[:, 2]
        return lids


@dataclass(frozen=True)
class Landmarks:
    mesh: Mesh
    # (2, 16, 2) lid contours in image pixels, the image's left eye first; each eye's
    # points 0-8 run along the lower lid from its image-left corner, 9-15 the upper lid.
    # For the eye on the image's right the order is mirrored back into the image: point
    # 0 is then its image-right (outer) corner.
    lids: np.ndarray

    @property
    def points(self) -> np.ndarray:
        return self.mesh.points

    @property
    def score(self) -> float:
        return self.mesh.score

    @property
    def found(self) -> bool:
        return self.mesh.found

    @property
    def box(self) -> np.ndarray:
        return self.mesh.box


class Landmarker:
    """Face mesh plus lids: everything the liveness checks read from one face."""

    def __init__(self, mesh: FaceMesh, eyes: EyeMesh) -> None:
        self.mesh = mesh
        self.eyes = eyes

    @classmethod
    def from_manifests(cls, mesh_path: str | Path, eye_path: str | Path, num_threads: int = 2, check_hash: bool = False) -> "Landmarker":
        return cls(
            FaceMesh.from_manifest(mesh_path, num_threads, check_hash),
            EyeMesh.from_manifest(eye_path, num_threads, check_hash),
        )

    def __call__(self, image_rgb: np.ndarray, roi: Roi) -> Landmarks:
        image_rgb = np.ascontiguousarray(image_rgb[..., :3])
        mesh = self.mesh(image_rgb, roi)
        if not mesh.found:
            return Landmarks(mesh, np.zeros((2, LID_POINTS, 2)))
        lids = np.stack(
            [
                self.eyes.lids(image_rgb, mesh.points[a], mesh.points[b], mirror=index == 1)
                for index, (a, b) in enumerate(EYE_CORNERS)
            ]
        )
        return Landmarks(mesh, lids)


class DetectedFace(Protocol):
    """What the tracker reads from a detector's face (``kiosk.vision.mtcnn.Face`` has it)."""

    @property
    def box(self) -> np.ndarray: ...

    @property
    def landmarks(self) -> np.ndarray: ...


class LandmarkTracker:
    """Follows one face from frame to frame: the detector finds it, the mesh tracks it.

    ``detect`` is any callable returning faces largest first with ``box`` and
    ``landmarks`` (the first two landmarks being the eyes), e.g. ``MtcnnDetector.detect``.
    """

    def __init__(self, mesh: Landmarker, detect: Callable[[np.ndarray], Sequence[DetectedFace]]) -> None:
        self.mesh = mesh
        self.detect = detect
        self._roi: Roi | None = None
        self.detections = 0  # how often the detector had to run

    def reset(self) -> None:
        self._roi = None

    def __call__(self, image_rgb: np.ndarray) -> Landmarks | None:
        if self._roi is not None:
            result = self.mesh(image_rgb, self._roi)
            if result.found:
                self._roi = roi_from_points(result.points)
                return result
            self._roi = None
        self.detections += 1
        faces = self.detect(image_rgb)
        if not faces:
            return None
        face = faces[0]
        first = self.mesh.mesh(image_rgb, roi_from_box(face.box, face.landmarks[:2]))
        if not first.found:
            return None
        # A second pass on the mesh's own crop: detector boxes are framed differently
        # from the crops the mesh was trained on.
        result = self.mesh(image_rgb, roi_from_points(first.points))
        if not result.found:
            return None
        self._roi = roi_from_points(result.points)
        return result
