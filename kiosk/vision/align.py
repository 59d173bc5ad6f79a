"""Face alignment: a similarity transform from five landmarks onto a model's template.

The landmarks are left eye, right eye, nose tip, left and right mouth corner, in the
image's pixel coordinates (left/right as seen in the image).
"""

from __future__ import annotations

import cv2
import numpy as np


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, shift) mapping src onto dst.

    Umeyama's closed form (IEEE PAMI 1991) with the reflection case excluded.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (singular * sign).sum() / variance
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    moved: np.ndarray = points @ matrix[:, :2].T + matrix[:, 2]
    return moved


def align_face(
    image: np.ndarray, landmarks: np.ndarray, template: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Warp ``image`` so that ``landmarks`` land on ``template``; returns an (h, w, 3) chip.

    ``size`` is (width, height). When the chip is much smaller than the face, the image is
    first shrunk with area averaging, as a warp alone would alias (dlib does the same with
    an image pyramid).
    """
    matrix = similarity_transform(landmarks, template)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        # Only the part of the image the chip shows is shrunk (a 640x480 frame whole took
        # 2.6 ms, the face's part 0.2): the chip's corners mapped back, plus a margin for
        # the filters' taps.
        image, landmarks = _crop_to_chip(image, np.asarray(landmarks, dtype=np.float64), matrix, size, scale)
        shrink = 2.0 * scale  # leave a 2x downscale to the bilinear warp
        height, width = image.shape[:2]
        new_size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        image = cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)
        factor = np.array([new_size[0] / width, new_size[1] / height])
        matrix = similarity_transform(np.asarray(landmarks, dtype=np.float64) * factor, template)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _crop_to_chip(image: np.ndarray, landmarks: np.ndarray, matrix: np.ndarray, size: tuple[int, int],
                  scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` that ``matrix`` maps into a chip of ``size``, and the landmarks
    in its coordinates."""
    inverse = cv2.invertAffineTransform(matrix)
    width, height = size
    corners = np.array([[0.0, 0.0], [width, 0.0], [0.0, height], [width, height]])
    source = corners @ inverse[:, :2].T + inverse[:, 2]
    margin = 4.0 / max(scale, 1e-6)
    rows, cols = image.shape[:2]
    x0 = int(np.clip(np.floor(source[:, 0].min() - margin), 0, cols))
    y0 = int(np.clip(np.floor(source[:, 1].min() - margin), 0, rows))
    x1 = int(np.clip(np.ceil(source[:, 0].max() + margin), 0, cols))
    y1 = int(np.clip(np.ceil(source[:, 1].max() + margin), 0, rows))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, landmarks
    return image[y0:y1, x0:x1], landmarks - np.array([x0, y0], dtype=np.float64)
