"""MTCNN face detection on LiteRT (Zhang, Zhang, Li, Qiao: "Joint Face Detection and
Alignment using Multi-task Cascaded Convolutional Networks", IEEE SPL 2016).

Three cascaded nets, each described by its manifest:
- P-Net, fully convolutional, slides a 12x12 window (stride 2) over an image pyramid and
  proposes boxes;
- R-Net rescores and refines the proposals on 24x24 crops;
- O-Net does the same on 48x48 crops and adds five landmarks.
Non-maximum suppression (NMS) merges overlapping boxes after each stage.

Nets trained on transposed images (manifest layout "NWHC", as the original Caffe models
were) get transposed inputs; their outputs are turned back into image coordinates here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from kiosk.config.vision import DetectorSettings
from kiosk.errors import ModelError
from kiosk.litert import load_interpreter
from kiosk.manifest import Manifest, load_manifest, model_path

PNET_CELL = 12
PNET_STRIDE = 2


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # x1, y1, x2, y2 in image pixels
    score: float
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left mouth, right mouth

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])


class Net:
    """One MTCNN stage: a manifest and its interpreter, fed (n, h, w, 3) RGB float batches."""

    def __init__(self, manifest: Manifest, path: Path, num_threads: int) -> None:
        self.manifest = manifest
        self._path = path
        self._threads = num_threads
        self._interpreters: dict[tuple[int, ...], Any] = {}
        self._normalise_mean = np.asarray(manifest.input.mean, np.float32)
        self._normalise_scale = np.asarray(manifest.input.scale, np.float32)
        self.transposed = manifest.input.layout == "NWHC"
        self.outputs = manifest.outputs
        # Each distinct input shape keeps its own allocated interpreter: a kiosk's camera
        # gives one frame size, so the pyramid's shapes repeat frame after frame.
        self._interpreter_for((1, *self._default_hw(), 3))

    @classmethod
    def from_manifest(cls, path: str | Path, num_threads: int, check_hash: bool = False) -> "Net":
        manifest = load_manifest(path, check_hash=check_hash)
        return cls(manifest, model_path(path, manifest), num_threads)

    def _default_hw(self) -> tuple[int, int]:
        spec = self.manifest.input
        return (spec.height or PNET_CELL, spec.width or PNET_CELL)

    def _interpreter_for(self, shape: tuple[int, ...]) -> Any:
        interpreter = self._interpreters.get(shape)
        if interpreter is None:
            interpreter = load_interpreter(self._path, self._threads)
            detail = interpreter.get_input_details()[0]
            if tuple(detail["shape"]) != shape:
                interpreter.resize_tensor_input(detail["index"], list(shape), strict=False)
                interpreter.allocate_tensors()
            if len(self._interpreters) > 32:
                self._interpreters.clear()
            self._interpreters[shape] = interpreter
        return interpreter

    def __call__(self, batch_rgb: np.ndarray) -> dict[str, np.ndarray]:
        """Run on RGB uint8/float images (n, h, w, 3); outputs keyed by manifest names,
        with spatial maps in (n, h', w', c) image orientation."""
        batch = (np.asarray(batch_rgb, np.float32) - self._normalise_mean) * self._normalise_scale
        if self.manifest.input.color_order == "BGR":
            batch = batch[..., ::-1]
        if self.transposed:
            batch = batch.transpose(0, 2, 1, 3)
        batch = np.ascontiguousarray(batch)
        interpreter = self._interpreter_for(batch.shape)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], batch)
        interpreter.invoke()
        results = {}
        for name, detail in zip(self.outputs, interpreter.get_output_details()):
            value = interpreter.get_tensor(detail["index"])
            if self.transposed and value.ndim == 4:
                value = value.transpose(0, 2, 1, 3)
            results[name] = value
        return results


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first.

    ``mode="min"`` divides the overlap by the smaller box (used after O-Net, so a box
    nested in a bigger one is dropped).
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter_w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        inter_h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = inter_w * inter_h
        if mode == "min":
            overlap = inter / np.minimum(areas[best], areas[rest])
        else:
            overlap = inter / (areas[best] + areas[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply the nets' box regression: offsets are fractions of the box width/height."""
    width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    scale = np.hstack([width, height, width, height])
    regressed: np.ndarray = boxes + offsets * scale
    return regressed


def squared(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (the nets take square crops)."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + width / 2 - side / 2
    out[:, 1] = boxes[:, 1] + height / 2 - side / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def crop_patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop each box (zero-padded where it leaves the image) and resize to size x size."""
    height, width = image.shape[:2]
    patches = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for i, box in enumerate(np.round(boxes).astype(np.int64)):
        x1, y1, x2, y2 = box
        w, h = x2 - x1 + 1, y2 - y1 + 1
        if w < 2 or h < 2:
            continue
        canvas = np.zeros((h, w, 3), dtype=image.dtype)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, width - 1), min(y2, height - 1)
        if sx2 < sx1 or sy2 < sy1:
            continue
        canvas[sy1 - y1 : sy2 - y1 + 1, sx1 - x1 : sx2 - x1 + 1] = image[sy1 : sy2 + 1, sx1 : sx2 + 1]
        patches[i] = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA if w > size else cv2.INTER_LINEAR)
    return patches


def pyramid_scales(height: int, width: int, min_face_px: int, factor: float) -> list[float]:
    """Scales at which a face of ``min_face_px`` and up fills P-Net's 12-pixel window."""
    scale = PNET_CELL / min_face_px
    side = min(height, width) * scale
    scales = []
    while side >= PNET_CELL:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


class MtcnnDetector:
    """Detects faces; returns them largest first.

    ``resize_workers``: threads that cut the image pyramid's levels (default 1: in the
    calling thread). OpenCV's area resize reads the whole frame for every level, about
    0.85 ms per level at 640x480 whatever the level's size, on one core; with 2 workers
    the levels are cut two at a time while P-Net runs on the finished ones, with the same
    pixels (benchmarks/latency.py reports the detect stage)."""

    def __init__(self, pnet: Net, rnet: Net, onet: Net, settings: DetectorSettings, resize_workers: int = 1) -> None:
        for net, task in ((pnet, "mtcnn-pnet"), (rnet, "mtcnn-rnet"), (onet, "mtcnn-onet")):
            if net.manifest.task != task:
                raise ModelError(f"{net.manifest.file} is a {net.manifest.task} model, expected {task}")
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        self.settings = settings
        self._pool = ThreadPoolExecutor(resize_workers, thread_name_prefix="mtcnn-pyramid") if resize_workers > 1 else None

    def _pyramid(self, image: np.ndarray) -> Iterator[tuple[float, np.ndarray]]:
        """(scale, level) per pyramid level, largest first; with workers, every level is
        handed to them at once and each is yielded as soon as it is cut."""
        height, width = image.shape[:2]
        sizes = [
            (scale, (max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale)))))
            for scale in pyramid_scales(height, width, self.settings.min_face_px, self.settings.scale_factor)
        ]
        if self._pool is None:
            for scale, size in sizes:
                yield scale, cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            return
        cuts = [(scale, self._pool.submit(cv2.resize, image, size, interpolation=cv2.INTER_AREA)) for scale, size in sizes]
        for scale, cut in cuts:
            yield scale, cut.result()

    def _stage_pnet(self, image: np.ndarray) -> np.ndarray:
        threshold = self.settings.score_thresholds[0]
        candidates = []
        for scale, level in self._pyramid(image):
            out = self.pnet(level[None])
            prob = out["face_prob"][0, :, :, -1]
            offsets = out["bbox_reg"][0]
            ys, xs = np.nonzero(prob > threshold)
            if len(ys) == 0:
                continue
            boxes = np.stack(
                [
                    np.round((PNET_STRIDE * xs + 1) / scale),
                    np.round((PNET_STRIDE * ys + 1) / scale),
                    np.round((PNET_STRIDE * xs + PNET_CELL) / scale),
                    np.round((PNET_STRIDE * ys + PNET_CELL) / scale),
                ],
                axis=1,
            )
            scores = prob[ys, xs]
            keep = nms(boxes, scores, 0.5)
            candidates.append(np.hstack([boxes[keep], scores[keep, None], offsets[ys, xs][keep]]))
        if not candidates:
            return np.zeros((0, 5))
        merged = np.vstack(candidates)
        keep = nms(merged[:, :4], merged[:, 4], self.settings.nms_thresholds[0])
        merged = merged[keep]
        boxes = squared(regress(merged[:, :4], merged[:, 5:9]))
        return np.hstack([boxes, merged[:, 4:5]])

    def _refine(
        self, net: Net, image: np.ndarray, boxes: np.ndarray, size: int, stage: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        patches = crop_patches(image, boxes[:, :4], size)
        out = net(patches)
        scores = out["face_prob"].reshape(len(boxes), -1)[:, -1]
        keep = scores > self.settings.score_thresholds[stage]
        offsets = out["bbox_reg"].reshape(len(boxes), 4)[keep]
        landmarks = out["landmarks"].reshape(len(boxes), 10)[keep] if "landmarks" in out else None
        return boxes[keep, :4], scores[keep], offsets, landmarks

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        image = np.ascontiguousarray(image_rgb[..., :3])
        height, width = image.shape[:2]
        shrink = min(1.0, self.settings.max_side_px / max(height, width))
        if shrink < 1.0:
            image = cv2.resize(image, (round(width * shrink), round(height * shrink)), interpolation=cv2.INTER_AREA)

        boxes = self._stage_pnet(image)
        if len(boxes) == 0:
            return []
        boxes, scores, offsets, _ = self._refine(self.rnet, image, boxes, 24, 1)
        keep = nms(boxes, scores, self.settings.nms_thresholds[1])
        boxes = squared(regress(boxes[keep], offsets[keep]))
        if len(boxes) == 0:
            return []
        boxes, scores, offsets, marks = self._refine(self.onet, image, boxes, 48, 2)
        if len(boxes) == 0:
            return []
        if marks is None:
            raise ModelError(f"{self.onet.manifest.file}: the O-Net has no landmarks output")
        # Landmarks come as five x's then five y's, as fractions of the O-Net input box.
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.stack([boxes[:, 0:1] - 1 + marks[:, :5] * w, boxes[:, 1:2] - 1 + marks[:, 5:] * h], axis=-1)
        boxes = regress(boxes, offsets)
        keep = nms(boxes, scores, self.settings.nms_thresholds[2], mode="min")
        faces = [
            Face(box=boxes[i] / shrink, score=float(scores[i]), landmarks=points[i] / shrink)
            for i in keep
        ]
        return sorted(faces, key=lambda face: face.width * face.height, reverse=True)
