"""The live camera picture with the face box, the landmarks and a framing guide."""

from __future__ import annotations

import cv2
import numpy as np
import pygame

from kiosk.flows.faces import FaceObservation
from kiosk.ui import theme

# A face result older than this is not drawn (the person has moved on).
STALE_S = 1.0


def fitted(frame_size: tuple[int, int], box: pygame.Rect) -> pygame.Rect:
    """The largest rectangle of the frame's aspect ratio centred in ``box``."""
    width, height = frame_size
    scale = min(box.width / width, box.height / height)
    rect = pygame.Rect(0, 0, max(1, int(width * scale)), max(1, int(height * scale)))
    rect.center = box.center
    return rect


def frame_surface(image: np.ndarray, size: tuple[int, int], mirror: bool) -> pygame.Surface:
    """The RGB frame scaled to ``size`` (and mirrored) as a surface.

    Scaling and mirroring run in OpenCV, which releases the GIL, so the face worker keeps
    running meanwhile.
    """
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if size[0] < image.shape[1] else cv2.INTER_NEAREST)
    if mirror:
        image = cv2.flip(image, 1)
    image = np.ascontiguousarray(image)
    return pygame.image.frombuffer(image.data, (image.shape[1], image.shape[0]), "RGB")


def draw_preview(
    surface: pygame.Surface,
    box: pygame.Rect,
    image: np.ndarray | None,
    observation: FaceObservation | None,
    mirror: bool,
) -> pygame.Rect | None:
    """Draw the camera picture into ``box``; returns where it went (None: no picture)."""
    pygame.draw.rect(surface, (0, 0, 0), box)
    if image is None:
        return None
    height, width = image.shape[:2]
    area = fitted((width, height), box)
    surface.blit(frame_surface(image, area.size, mirror), area)
    guide = pygame.Rect(0, 0, int(area.width * 0.36), int(area.height * 0.62))
    guide.center = area.center
    pygame.draw.ellipse(surface, theme.MUTED, guide, max(1, area.width // 220))
    if observation is not None and observation.box is not None:
        sx = area.width / observation.frame_size[0]
        sy = area.height / observation.frame_size[1]

        def to_screen(x: float, y: float) -> tuple[int, int]:
            if mirror:
                x = observation.frame_size[0] - x
            return int(area.left + x * sx), int(area.top + y * sy)

        x1, y1, x2, y2 = observation.box
        a, b = to_screen(x1, y1), to_screen(x2, y2)
        rect = pygame.Rect(min(a[0], b[0]), min(a[1], b[1]), abs(b[0] - a[0]), abs(b[1] - a[1])).clip(area)
        color = theme.GOOD if observation.good else theme.WARN
        pygame.draw.rect(surface, color, rect, max(2, area.width // 160), border_radius=max(2, area.width // 80))
        if observation.landmarks is not None:
            for x, y in observation.landmarks:
                point = to_screen(float(x), float(y))
                if area.collidepoint(point):
                    pygame.draw.circle(surface, color, point, max(2, area.width // 150))
    return area
