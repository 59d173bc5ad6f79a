"""A face photo as a camera above or below it would see it: a 3-D pitch of the face.

A flat perspective warp (a homography) only squashes a face: the nose stays where it was
between eyes and mouth, so the pose estimate, which reads pitch from where the nose tip
falls, hardly moves, and the embedding models see no more than a squashed frontal face.
A camera higher than the face sees more: the nose tip, nearer the camera than the eyes,
drops towards the mouth, the forehead grows and the chin shrinks.

This warp uses the depth the face mesh (MediaPipe's 468 points with z, the same LiteRT
model the liveness check runs) gives each point: the mesh is turned about a horizontal
axis through the face's centre and projected orthographically; each triangle of the mesh
(and of a ring of points around it, turned as if at the face's edge, and the fixed frame
corners) is warped affinely onto its turned place, the farthest first, so the nose covers
what it hides. What no triangle covers (the underside of the nose that only a camera
below would see) is stretched from its neighbours: the method's limit, which grows with
the angle. It is the "face profiling" of 3DDFA (Zhu et al., CVPR 2016) with a sparse
mesh, good for the 20-40 degrees a seated person meets, not for profile views.

``degrees > 0``: the camera is above the face (a seated person before a kiosk mounted for
standing people): the face seems to look down. ``degrees < 0``: the camera is below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from kiosk.liveness.landmarks import FaceMesh, roi_from_box

# Points around the face: on a ring this many times the mesh's extent from its centre,
# turned with the face's outline depth (hair, ears, neck follow the head), then the frame.
RING_SCALE = 1.35
RING_POINTS = 24


@dataclass(frozen=True)
class PitchedFace:
    image: np.ndarray  # RGB uint8, same size as the input
    mesh: np.ndarray  # (468, 3) points of the unturned face (x, y image px, z px; smaller z: nearer)


def face_mesh_points(image_rgb: np.ndarray, mesh: FaceMesh, box: np.ndarray, eyes: np.ndarray | None) -> np.ndarray | None:
    """The 468 mesh points of the face in ``box``, refined once from the first pass."""
    from kiosk.liveness.landmarks import roi_from_points

    found = mesh(image_rgb, roi_from_box(np.asarray(box, dtype=np.float64), eyes))
    if not found.found:
        return None
    again = mesh(image_rgb, roi_from_points(found.points))
    return (again if again.found else found).points


def pitch_image(image_rgb: np.ndarray, points: np.ndarray, degrees: float) -> np.ndarray:
    """``image_rgb`` with the face whose mesh is ``points`` turned ``degrees`` about the
    horizontal axis (positive: seen from above)."""
    height, width = image_rgb.shape[:2]
    pts = np.asarray(points, dtype=np.float64)
    extent = pts[:, :2].max(0) - pts[:, :2].min(0)
    edge_z = float(np.percentile(pts[:, 2], 90))  # the outline's depth (larger z: farther)
    # The turn's axis lies at the outline's depth: the outline (and the ring of hair, ears
    # and neck around it) only shortens, what stands out of it (nose, lips) moves.
    centre = np.array([pts[:, 0].mean(), pts[:, 1].mean(), edge_z])
    angles = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
    ring = np.stack([
        centre[0] + RING_SCALE * extent[0] / 2 * np.cos(angles),
        centre[1] + RING_SCALE * extent[1] / 2 * np.sin(angles),
        np.full(RING_POINTS, edge_z),
    ], axis=1)
    frame_xy = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1],
                         [width / 2, 0], [width / 2, height - 1], [0, height / 2], [width - 1, height / 2]], dtype=np.float64)
    moving = np.vstack([pts, ring])
    theta = math.radians(degrees)
    dy, dz = moving[:, 1] - centre[1], moving[:, 2] - centre[2]
    turned = moving.copy()
    # Turning the head forward (chin down) by theta is what a camera theta above sees:
    # a nearer point (dz < 0) drops in the picture, the face shortens by cos(theta).
    turned[:, 1] = centre[1] + dy * math.cos(theta) - dz * math.sin(theta)
    turned[:, 2] = centre[2] + dy * math.sin(theta) + dz * math.cos(theta)
    source = np.vstack([moving[:, :2], frame_xy])
    target = np.vstack([turned[:, :2], frame_xy])
    depth = np.concatenate([turned[:, 2], np.full(len(frame_xy), np.inf)])
    triangles = Delaunay(source).simplices
    # Farthest first: the frame's triangles, then the face from its outline to the nose.
    order = np.argsort([-np.mean(np.minimum(depth[t], 1e9)) for t in triangles], kind="stable")
    far = [i for i in order if np.isinf(depth[triangles[i]]).any()]
    near = [i for i in order if not np.isinf(depth[triangles[i]]).any()]
    out = image_rgb.copy()
    for index in far + near:
        _warp_triangle(image_rgb, out, source[triangles[index]], target[triangles[index]])
    return out


def _warp_triangle(src: np.ndarray, dst: np.ndarray, tri_src: np.ndarray, tri_dst: np.ndarray) -> None:
    x, y, w, h = cv2.boundingRect(np.round(tri_dst).astype(np.int32))
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    matrix = cv2.getAffineTransform(tri_src.astype(np.float32), (tri_dst - [x0, y0]).astype(np.float32))
    patch = cv2.warpAffine(src, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillConvexPoly(mask, np.round(tri_dst - [x0, y0]).astype(np.int32), 1, lineType=cv2.LINE_8)
    region = dst[y0:y1, x0:x1]
    region[mask.astype(bool)] = patch[mask.astype(bool)]


def pitch_face(image_rgb: np.ndarray, mesh: FaceMesh, box: np.ndarray, landmarks: np.ndarray, degrees: float) -> PitchedFace | None:
    """The face of a detector's ``box`` and five ``landmarks`` turned ``degrees``; None
    when the mesh does not find it."""
    points = face_mesh_points(image_rgb, mesh, box, np.asarray(landmarks, dtype=np.float64)[:2])
    if points is None:
        return None
    return PitchedFace(pitch_image(image_rgb, points, degrees), points)
