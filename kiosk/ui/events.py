"""Touch and mouse input as one kind of pointer event, with SDL's duplicates removed.

SDL turns every touch into FINGER events *and* a synthetic mouse event (marked
``touch=True`` by pygame). Handling both would type every tapped key twice, so this is
the one place that drops the synthetic mouse events; everything else sees only
:class:`Pointer` events. Each finger keeps its own id, so two fingers pressing two keys
are two separate presses.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

DOWN = "down"
UP = "up"
MOVE = "move"
MOUSE_ID = "mouse"


@dataclass(frozen=True)
class Pointer:
    kind: str  # DOWN, UP or MOVE
    pos: tuple[int, int]  # screen pixels
    id: str  # MOUSE_ID or "finger:<touch>:<finger>"


def _finger_pos(event: pygame.event.Event, size: tuple[int, int]) -> tuple[int, int]:
    # FINGER coordinates are normalised to 0..1 over the window.
    width, height = size
    x = min(max(float(event.x), 0.0), 1.0)
    y = min(max(float(event.y), 0.0), 1.0)
    return min(int(x * width), width - 1), min(int(y * height), height - 1)


def to_pointer(event: pygame.event.Event, size: tuple[int, int]) -> Pointer | None:
    """The pointer event for a pygame event, or None (not pointer input, or a duplicate)."""
    kind = event.type
    if kind in (pygame.FINGERDOWN, pygame.FINGERUP, pygame.FINGERMOTION):
        ident = f"finger:{getattr(event, 'touch_id', 0)}:{getattr(event, 'finger_id', 0)}"
        what = {pygame.FINGERDOWN: DOWN, pygame.FINGERUP: UP, pygame.FINGERMOTION: MOVE}[kind]
        return Pointer(what, _finger_pos(event, size), ident)
    if kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP, pygame.MOUSEMOTION):
        if getattr(event, "touch", False):
            return None  # SDL's copy of a touch we already get as a FINGER event
        if kind == pygame.MOUSEMOTION:
            buttons = getattr(event, "buttons", (0, 0, 0))
            return Pointer(MOVE, tuple(event.pos), MOUSE_ID) if buttons and buttons[0] else None
        if getattr(event, "button", 1) != 1:
            return None  # wheel and right button: not a tap
        return Pointer(DOWN if kind == pygame.MOUSEBUTTONDOWN else UP, tuple(event.pos), MOUSE_ID)
    return None
