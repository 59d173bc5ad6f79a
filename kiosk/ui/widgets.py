"""Buttons, the hold-to-reveal eye, the text field, and a few drawn icons.

A button fires when the finger that pressed it lifts inside it (with a little slop), so
a tap fires exactly once, a finger sliding off cancels, and two fingers are two presses.
"""

from __future__ import annotations

import math
from typing import Callable

import pygame

from kiosk.i18n import Message
from kiosk.ui import theme
from kiosk.ui.events import DOWN, MOVE, UP, Pointer
from kiosk.ui.text import Painter

STYLE_NAMES = ("primary", "secondary", "danger", "quiet")


def style(name: str) -> tuple[theme.Color, theme.Color | None, theme.Color]:
    """(fill, outline or None, label) of a button style, from the palette in use. Held
    down, every style is theme.PRESSED with theme.PRESSED_TEXT (a 3:1 change at least)."""
    return {
        "primary": (theme.ACCENT, None if not theme.high_contrast else theme.EDGE, theme.TEXT),
        "secondary": (theme.PANEL_LIGHT, theme.EDGE, theme.TEXT),
        "danger": (theme.ERROR, None if not theme.high_contrast else theme.EDGE, theme.TEXT),
        "quiet": (theme.PANEL, theme.EDGE, theme.MUTED),
    }[name]


def outline_width(rect: pygame.Rect) -> int:
    return max(2, rect.height // 24)


class Pressable:
    def __init__(self, rect: pygame.Rect, on_tap: Callable[[], None] | None = None, slop: int = 12) -> None:
        self.rect = rect
        self.on_tap = on_tap
        self.slop = slop
        self.pressed_by: set[str] = set()
        self.enabled = True

    @property
    def pressed(self) -> bool:
        return bool(self.pressed_by)

    def hit(self, pos: tuple[int, int]) -> bool:
        return self.rect.inflate(self.slop * 2, self.slop * 2).collidepoint(pos)

    def handle(self, pointer: Pointer) -> bool:
        """True if the event was this widget's."""
        if not self.enabled:
            return False
        if pointer.kind == DOWN and self.rect.collidepoint(pointer.pos):
            self.pressed_by.add(pointer.id)
            self.pressed_changed()
            return True
        if pointer.id not in self.pressed_by:
            return False
        if pointer.kind == MOVE:
            if not self.hit(pointer.pos):
                self.pressed_by.discard(pointer.id)  # slid off: cancelled
                self.pressed_changed()
            return True
        if pointer.kind == UP:
            self.pressed_by.discard(pointer.id)
            self.pressed_changed()
            if self.hit(pointer.pos) and self.on_tap is not None:
                self.on_tap()
            return True
        return False

    def pressed_changed(self) -> None:
        """Hook for widgets that act while held."""

    def reset(self) -> None:
        self.pressed_by.clear()


def rounded(surface: pygame.Surface, rect: pygame.Rect, color: theme.Color, radius: int, width: int = 0) -> None:
    pygame.draw.rect(surface, color, rect, width=width, border_radius=radius)


class Button(Pressable):
    def __init__(self, rect: pygame.Rect, label: Message, on_tap: Callable[[], None], style: str = "primary", name: str = "", size: theme.Role = theme.BUTTON_LABEL) -> None:
        super().__init__(rect, on_tap)
        self.label = label
        self.style = style
        self.name = name
        self.size = size

    def draw(self, painter: Painter) -> None:
        fill, edge, text = style(self.style)
        if self.pressed:
            fill, edge, text = theme.PRESSED, None, theme.PRESSED_TEXT
        radius = max(4, self.rect.height // 6)
        rounded(painter.surface, self.rect, fill, radius)
        if edge is not None:
            rounded(painter.surface, self.rect, edge, radius, width=outline_width(self.rect))
        pad = max(4, self.rect.height // 8)
        painter.text(self.label, self.rect.inflate(-2 * pad, -pad), self.size, text, align="center", valign="middle", owner=self.name or "button")


class HoldButton(Pressable):
    """Active only while held down: the eye that shows a password while pressed."""

    def draw(self, surface: pygame.Surface) -> None:
        color = theme.ACCENT if self.pressed else theme.FIELD_TEXT
        draw_eye(surface, self.rect.inflate(-self.rect.width // 4, -self.rect.height // 3), color, opened=self.pressed)


class TextField:
    """A one-line input box; masked fields show dots unless ``revealed``."""

    def __init__(self, rect: pygame.Rect, masked: bool, placeholder: Message, with_eye: bool) -> None:
        self.rect = rect
        self.masked = masked
        self.placeholder = placeholder
        self.eye = HoldButton(pygame.Rect(rect.right - rect.height - 4, rect.top, rect.height + 4, rect.height), slop=0) if with_eye else None

    @property
    def revealed(self) -> bool:
        return self.eye is not None and self.eye.pressed

    def text_box(self) -> pygame.Rect:
        pad = max(6, self.rect.height // 5)
        right = self.eye.rect.left if self.eye else self.rect.right - pad
        return pygame.Rect(self.rect.left + pad, self.rect.top + 2, right - self.rect.left - 2 * pad, self.rect.height - 4)

    def draw(self, painter: Painter, value: str, error: bool = False) -> None:
        surface = painter.surface
        rounded(surface, self.rect, theme.FIELD, max(4, self.rect.height // 6))
        rounded(surface, self.rect, theme.ERROR if error else theme.ACCENT, max(4, self.rect.height // 6), width=max(2, self.rect.height // 20))
        box = self.text_box()
        if value:
            shown = "•" * len(value) if self.masked and not self.revealed else value
            covered = painter.tail(shown, box, theme.FIELD_SIZE, theme.FIELD_TEXT, owner="field")
            caret_x = min(covered.right + 2, box.right)
        else:
            painter.text(self.placeholder, box, theme.BODY, theme.FIELD_MUTED, valign="middle", wrap=False, owner="placeholder")
            caret_x = box.left
        caret_h = int(box.height * 0.6)
        pygame.draw.line(surface, theme.ACCENT, (caret_x, box.centery - caret_h // 2), (caret_x, box.centery + caret_h // 2), max(2, box.height // 24))
        if self.eye is not None:
            self.eye.draw(surface)


# -- icons, drawn so that no font needs the symbols -------------------------------------------

def draw_eye(surface: pygame.Surface, rect: pygame.Rect, color: theme.Color, opened: bool) -> None:
    width = max(2, rect.height // 10)
    pygame.draw.ellipse(surface, color, rect, width)
    pygame.draw.circle(surface, color, rect.center, max(3, rect.height // 4))
    if not opened:
        pygame.draw.line(surface, color, rect.bottomleft, rect.topright, width)


def draw_backspace(surface: pygame.Surface, rect: pygame.Rect, color: theme.Color) -> None:
    h = rect.height
    w = min(rect.width, int(h * 1.6))
    box = pygame.Rect(0, 0, w, h)
    box.center = rect.center
    tip = box.height // 2
    points = [(box.left, box.centery), (box.left + tip, box.top), (box.right, box.top), (box.right, box.bottom), (box.left + tip, box.bottom)]
    line = max(2, h // 12)
    pygame.draw.polygon(surface, color, points, line)
    cx, cy, r = box.left + tip + (box.width - tip) // 2, box.centery, h // 5
    pygame.draw.line(surface, color, (cx - r, cy - r), (cx + r, cy + r), line)
    pygame.draw.line(surface, color, (cx - r, cy + r), (cx + r, cy - r), line)


def draw_shift(surface: pygame.Surface, rect: pygame.Rect, color: theme.Color, filled: bool, underline: bool = False) -> None:
    h = rect.height
    cx, top = rect.centerx, rect.top
    half = h // 2
    stem = h // 4
    points = [(cx, top), (cx + half, top + half), (cx + stem, top + half), (cx + stem, top + h - (h // 4 if underline else 0)),
              (cx - stem, top + h - (h // 4 if underline else 0)), (cx - stem, top + half), (cx - half, top + half)]
    pygame.draw.polygon(surface, color, points, 0 if filled else max(2, h // 12))
    if underline:
        pygame.draw.line(surface, color, (cx - half, rect.bottom), (cx + half, rect.bottom), max(2, h // 10))


def draw_arrow(surface: pygame.Surface, rect: pygame.Rect, color: theme.Color, direction: str) -> None:
    """A bold arrow filling ``rect``, pointing "left", "right" or "up"."""
    size = min(rect.width, rect.height)
    box = pygame.Rect(0, 0, size, size)
    box.center = rect.center
    head, stem = size // 2, size // 6
    # Pointing right, then turned.
    points = [(0, -stem), (size - head, -stem), (size - head, -head), (size, 0), (size - head, head), (size - head, stem), (0, stem)]
    turn: Callable[[int, int], tuple[int, int]] = {"right": lambda x, y: (x, y), "left": lambda x, y: (size - x, y), "up": lambda x, y: (y + size // 2, size - x)}[direction]
    offset_y = 0 if direction == "up" else size // 2
    placed = [(box.left + px, box.top + py + offset_y) for px, py in (turn(x, y) for x, y in points)]
    pygame.draw.polygon(surface, color, placed)


def draw_prompt_icon(surface: pygame.Surface, rect: pygame.Rect, prompt: str, color: theme.Color) -> None:
    """The picture of a liveness prompt: an arrow for a head move, an eye for blinks."""
    if prompt == "turn_left":
        draw_arrow(surface, rect, color, "left")
    elif prompt == "turn_right":
        draw_arrow(surface, rect, color, "right")
    elif prompt == "look_up":
        draw_arrow(surface, rect, color, "up")
    elif prompt == "blink_twice":
        # An open eye above a closed one (a lid's arc with lashes).
        size = min(rect.width, rect.height)
        eye = pygame.Rect(0, 0, size, size * 3 // 8)
        eye.midtop = (rect.centerx, rect.centery - size // 2 + size // 16)
        draw_eye(surface, eye, color, opened=True)
        lid = eye.move(0, size // 2)
        width = max(2, size // 16)
        pygame.draw.arc(surface, color, lid, math.pi, 2 * math.pi, width)
        for dx in (-size // 4, 0, size // 4):
            x = lid.centerx + dx
            y = lid.bottom - (size // 40 if dx else 0)
            pygame.draw.line(surface, color, (x, y - width), (x + dx // 6, y + size // 10), width)


def draw_mark(surface: pygame.Surface, center: tuple[int, int], radius: int, ok: bool, hint: bool = False) -> None:
    """A round check (ok), an open circle (still to do) or a cross (wrong)."""
    if ok:
        pygame.draw.circle(surface, theme.GOOD, center, radius)
        x, y, r = center[0], center[1], radius
        pygame.draw.lines(surface, theme.TEXT, False, [(x - r // 2, y), (x - r // 8, y + r // 2 - 1), (x + r // 2, y - r // 3)], max(2, r // 4))
    elif hint:
        pygame.draw.circle(surface, theme.MUTED, center, radius, max(2, radius // 4))
    else:
        pygame.draw.circle(surface, theme.ERROR, center, radius)
        x, y, r = center[0], center[1], radius // 2
        pygame.draw.line(surface, theme.TEXT, (x - r, y - r), (x + r, y + r), max(2, radius // 4))
        pygame.draw.line(surface, theme.TEXT, (x - r, y + r), (x + r, y - r), max(2, radius // 4))


def draw_wait(surface: pygame.Surface, center: tuple[int, int], radius: int) -> None:
    """A clock face: please wait."""
    width = max(2, radius // 6)
    pygame.draw.circle(surface, theme.WARN, center, radius, width)
    x, y = center
    pygame.draw.line(surface, theme.WARN, (x, y), (x, y - int(radius * 0.6)), width)
    pygame.draw.line(surface, theme.WARN, (x, y), (x + int(radius * 0.45), y), width)


def draw_progress(surface: pygame.Surface, rect: pygame.Rect, fraction: float, color: theme.Color | None = None) -> None:
    color = color or theme.GOOD_LIGHT
    radius = rect.height // 2
    rounded(surface, rect, theme.PANEL_LIGHT, radius)
    rounded(surface, rect, theme.EDGE, radius, width=max(1, rect.height // 8))
    filled = rect.copy()
    filled.width = int(rect.width * min(max(fraction, 0.0), 1.0))
    if filled.width > 0:
        rounded(surface, filled, color, radius)
