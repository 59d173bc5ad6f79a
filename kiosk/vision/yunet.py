"""YuNet face detection on LiteRT (Wu, Peng, Yu: "YuNet: A Tiny Millisecond-level Face
Detector", Machine Intelligence Research 2023; the OpenCV zoo's 2023mar model).

One network pass over the whole frame, anchor-free: every cell of the stride 8, 16 and 32
grids predicts a face score (class x objectness), a box and five landmarks. The model
(``converters/yunet.py``) has a fixed input size, 640x480 by default, the camera's frame:
such a frame goes in as it is; any other frame is letterboxed (downscaled to fit if
larger, placed top-left, zero padding right and bottom, as OpenCV pads). Decoding, the
score threshold and non-maximum suppression follow OpenCV's ``FaceDetectorYN``
(``modules/objdetect/src/face_detect.cpp``), written here in numpy.

The faces are :class:`kiosk.vision.mtcnn.Face` objects, largest first, with the landmarks
in the kiosk's order. YuNet's order is the person's right eye, left eye, nose tip, right
and left mouth corner: the person's right is the image's left, so it is already the
kiosk's (image-left eye, image-right eye, nose, image-left and image-right mouth corner).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.config.vision import DetectorSettings
from kiosk.errors import ModelError
from kiosk.litert import load_interpreter
from kiosk.manifest import Manifest, load_manifest, model_path
from kiosk.vision.mtcnn import Face

TASK = "yunet"
STRIDES = (8, 16, 32)
HEAD_COLUMNS = 16  # cls, obj, dx, dy, log_w, log_h, 5 x (kx, ky)
TOP_K = 5000  # candidates kept for NMS, best first (OpenCV's default)


def anchor_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column, row and stride of every row of the ``heads`` tensor, for an input of
    ``width`` x ``height`` pixels (multiples of 32): strides 8, 16, 32 in turn, each grid
    row-major."""
    cols, rows, strides = [], [], []
    for stride in STRIDES:
        grid_w, grid_h = width // stride, height // stride
        r, c = np.divmod(np.arange(grid_w * grid_h), grid_w)
        cols.append(c)
        rows.append(r)
        strides.append(np.full(grid_w * grid_h, stride))
    return (np.concatenate(cols).astype(np.float32), np.concatenate(rows).astype(np.float32),
            np.concatenate(strides).astype(np.float32))


def nms_boxes(boxes_xywh: np.ndarray, scores: np.ndarray, threshold: float, top_k: int = TOP_K) -> np.ndarray:
    """Indices kept by ``cv::dnn::NMSBoxes`` on integer boxes (x, y, w, h truncated to int,
    as FaceDetectorYN passes them), best score first: a box is dropped when its
    intersection over union with a kept one exceeds ``threshold``."""
    if len(boxes_xywh) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")[:top_k]
    rects = np.trunc(boxes_xywh).astype(np.int64)
    x1, y1 = rects[:, 0], rects[:, 1]
    x2, y2 = x1 + rects[:, 2], y1 + rects[:, 3]
    areas = rects[:, 2] * rects[:, 3]
    keep: list[int] = []
    for index in order:
        if keep:
            kept = np.asarray(keep)
            inter_w = np.maximum(0, np.minimum(x2[index], x2[kept]) - np.maximum(x1[index], x1[kept]))
            inter_h = np.maximum(0, np.minimum(y2[index], y2[kept]) - np.maximum(y1[index], y1[kept]))
            inter = inter_w * inter_h
            union = areas[index] + areas[kept] - inter
            iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
            if (iou > threshold).any():
                continue
        keep.append(int(index))
    return np.asarray(keep, dtype=np.int64)


def decode_heads(heads: np.ndarray, size: tuple[int, int], score_threshold: float, nms_threshold: float,
                 top_k: int = TOP_K, grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """FaceDetectorYN's rows (k, 15) from the raw ``heads`` (N, 16) of a ``size`` = (width,
    height) input: x, y, w, h, five landmarks (x, y), score; in input pixels, after the
    score threshold and NMS, best score first."""
    cols, rows, strides = grid if grid is not None else anchor_grid(*size)
    if heads.shape != (len(cols), HEAD_COLUMNS):
        raise ModelError(f"YuNet heads of shape {heads.shape}, expected ({len(cols)}, {HEAD_COLUMNS}) for {size[0]}x{size[1]}")
    score = np.sqrt(np.clip(heads[:, 0], 0.0, 1.0) * np.clip(heads[:, 1], 0.0, 1.0))
    chosen = np.nonzero(score >= score_threshold)[0]
    if len(chosen) == 0:
        return np.zeros((0, 15), dtype=np.float32)
    h = heads[chosen].astype(np.float32)
    c, r, s = cols[chosen], rows[chosen], strides[chosen]
    w = np.exp(h[:, 4]) * s
    ht = np.exp(h[:, 5]) * s
    out = np.empty((len(chosen), 15), dtype=np.float32)
    out[:, 0] = (c + h[:, 2]) * s - w / 2
    out[:, 1] = (r + h[:, 3]) * s - ht / 2
    out[:, 2] = w
    out[:, 3] = ht
    out[:, 4:14:2] = (h[:, 6:16:2] + c[:, None]) * s[:, None]
    out[:, 5:14:2] = (h[:, 7:16:2] + r[:, None]) * s[:, None]
    out[:, 14] = score[chosen]
    if len(out) > 1:
        out = out[nms_boxes(out[:, 0:4], out[:, 14], nms_threshold, top_k)]
    return out


def letterbox(image_rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """(input image, scale): ``image_rgb`` downscaled (never up) with INTER_AREA to fit
    ``size`` = (width, height), top-left on a zero canvas; input pixel = frame pixel * scale."""
    width, height = size
    h, w = image_rgb.shape[:2]
    if (w, h) == (width, height):
        return np.ascontiguousarray(image_rgb[..., :3]), 1.0
    scale = min(1.0, width / w, height / h)
    image = image_rgb[..., :3]
    if scale < 1.0:
        new = (max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale))))
        image = cv2.resize(image, new, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    return canvas, scale


class YunetNet:
    """The YuNet model: a manifest and its interpreter; image in, raw ``heads`` out."""

    def __init__(self, manifest: Manifest, interpreter: Any) -> None:
        if manifest.task != TASK:
            raise ModelError(f"{manifest.file} is a {manifest.task} model, expected {TASK}")
        spec = manifest.input
        if spec.width is None or spec.height is None or spec.width % 32 or spec.height % 32:
            raise ModelError(f"{manifest.file}: YuNet needs a fixed input size in multiples of 32")
        self.manifest = manifest
        self.size = (int(spec.width), int(spec.height))
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        outputs = interpreter.get_output_details()
        self.grid = anchor_grid(*self.size)
        expected = (1, len(self.grid[0]), HEAD_COLUMNS)
        if len(outputs) != 1 or tuple(outputs[0]["shape"]) != expected:
            shapes = [tuple(int(v) for v in o["shape"]) for o in outputs]
            raise ModelError(f"{manifest.file}: outputs {shapes}, expected one {expected} 'heads' tensor")
        self._output = outputs[0]["index"]
        self._mean = np.asarray(spec.mean, np.float32)
        self._scale = np.asarray(spec.scale, np.float32)
        self._bgr = spec.color_order == "BGR"

    @classmethod
    def from_manifest(cls, path: str | Path, num_threads: int = 2, check_hash: bool = False) -> "YunetNet":
        manifest = load_manifest(path, check_hash=check_hash)
        return cls(manifest, load_interpreter(model_path(path, manifest), num_threads))

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray:
        """Raw heads (N, 16) of an RGB image of exactly the model's input size."""
        width, height = self.size
        if image_rgb.shape[:2] != (height, width):
            raise ValueError(f"image is {image_rgb.shape[1]}x{image_rgb.shape[0]}, the model takes {width}x{height}")
        batch = np.asarray(image_rgb[None, ..., :3], dtype=np.float32)
        if self._bgr:
            batch = batch[..., ::-1]
        batch = np.ascontiguousarray((batch - self._mean) * self._scale)
        self._interpreter.set_tensor(self._input, batch)
        self._interpreter.invoke()
        heads: np.ndarray = self._interpreter.get_tensor(self._output)[0].copy()
        return heads


class YunetDetector:
    """Detects faces with YuNet; returns them largest first (``detect`` as MtcnnDetector's).

    Settings used: ``yunet_score_threshold``, ``yunet_nms_threshold``, and ``min_face_px``
    as MTCNN reads it: faces narrower than that many pixels of the frame downscaled to
    ``max_side_px`` are dropped (MTCNN does not look for them)."""

    def __init__(self, net: YunetNet, settings: DetectorSettings) -> None:
        self.net = net
        self.settings = settings

    def detect_rows(self, image_rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """FaceDetectorYN's rows (k, 15) in the model's input pixels, and the letterbox scale."""
        image, scale = letterbox(image_rgb, self.net.size)
        rows = decode_heads(self.net(image), self.net.size, self.settings.yunet_score_threshold,
                            self.settings.yunet_nms_threshold, TOP_K, self.net.grid)
        return rows, scale

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        rows, scale = self.detect_rows(image_rgb)
        height, width = image_rgb.shape[:2]
        # min_face_px is in pixels of the frame downscaled to max_side_px, as for MTCNN.
        min_width = self.settings.min_face_px / min(1.0, self.settings.max_side_px / max(height, width))
        faces = []
        for row in rows:
            x, y, w, h = (float(v) / scale for v in row[0:4])
            if w < min_width:
                continue
            faces.append(Face(
                box=np.array([x, y, x + w, y + h], dtype=np.float64),
                score=float(row[14]),
                landmarks=row[4:14].reshape(5, 2).astype(np.float64) / scale,
            ))
        return sorted(faces, key=lambda face: face.width * face.height, reverse=True)
