"""Drawing text that fits its box, and recording where every piece of text went.

Each ``Painter.text`` call wraps the message to its box, shrinking the type (down to
``theme.MIN_SHRINK`` of its size) until it fits. Every call appends a :class:`TextRecord`
with the box it had to stay in and the rectangle the text really covers: the tests check
after each frame that no text left its box or the screen, at 800x480 and 1280x800, in
every language. Text that cannot fit even at the smallest size is still drawn (so the
problem is visible) and recorded as not fitting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygame

from kiosk.i18n import Catalog, Message
from kiosk.ui import theme

ELLIPSIS = "…"
# Rendered text surfaces kept for reuse (the same labels are drawn every frame).
SURFACE_CACHE = 1024


@dataclass(frozen=True)
class TextRecord:
    text: str
    rect: pygame.Rect  # what the text covers on screen
    box: pygame.Rect  # the widget box it must stay inside
    fits: bool  # False: even the smallest allowed size overflowed the box
    owner: str  # the screen (and widget) that drew it


class Painter:
    def __init__(self, surface: pygame.Surface, catalog: Catalog, scale: float, font_path: str | Path | None = None) -> None:
        self.surface = surface
        self.catalog = catalog
        self.scale = scale
        self.font_path = str(font_path) if font_path else None
        self.records: list[TextRecord] = []
        self.owner = ""
        self._fonts: dict[int, pygame.font.Font] = {}
        self._fits: dict[tuple[str, int, int, float, bool, int | None], tuple[int, list[str], bool]] = {}
        self._surfaces: dict[tuple[str, int, theme.Color], pygame.Surface] = {}

    # -- fonts --------------------------------------------------------------------------------

    def font(self, size_px: int) -> pygame.font.Font:
        font = self._fonts.get(size_px)
        if font is None:
            font = self._fonts[size_px] = pygame.font.Font(self.font_path, size_px)
        return font

    def size_px(self, design_size: float) -> int:
        return max(8, round(design_size * self.scale))

    def translate(self, message: Message) -> str:
        return self.catalog(message)

    def _render(self, text: str, size_px: int, color: theme.Color) -> pygame.Surface:
        key = (text, size_px, color)
        surface = self._surfaces.get(key)
        if surface is None:
            if len(self._surfaces) >= SURFACE_CACHE:
                self._surfaces.clear()
            surface = self._surfaces[key] = self.font(size_px).render(text, True, color)
        return surface

    def forget(self) -> None:
        """Drop cached layouts and renderings (they hold the texts they were made for)."""
        self._fits.clear()
        self._surfaces.clear()

    # -- fitting ------------------------------------------------------------------------------

    def _wrap(self, text: str, font: pygame.font.Font, width: int) -> list[str]:
        lines: list[str] = []
        for paragraph in text.split("\n"):
            current = ""
            for word in paragraph.split(" "):
                candidate = f"{current} {word}" if current else word
                if font.size(candidate)[0] <= width:
                    current = candidate
                    continue
                if current:
                    lines.append(current)
                # A word wider than the box (a long email address) breaks anywhere.
                while font.size(word)[0] > width and len(word) > 1:
                    cut = len(word) - 1
                    while cut > 1 and font.size(word[:cut])[0] > width:
                        cut -= 1
                    lines.append(word[:cut])
                    word = word[cut:]
                current = word
            lines.append(current)
        return lines

    def fit(self, text: str, box: pygame.Rect, design_size: float, wrap: bool = True, max_lines: int | None = None) -> tuple[int, list[str], bool]:
        """(size in px, lines, fits) for ``text`` in ``box``, largest size that fits."""
        key = (text, box.width, box.height, design_size, wrap, max_lines)
        cached = self._fits.get(key)
        if cached is not None:
            return cached
        size = self.size_px(design_size)
        smallest = max(8, round(size * theme.MIN_SHRINK))
        result = None
        while size >= smallest:
            font = self.font(size)
            lines = self._wrap(text, font, box.width) if wrap else [text]
            height = len(lines) * font.get_linesize()
            widest = max((font.size(line)[0] for line in lines), default=0)
            if widest <= box.width and height <= box.height and (max_lines is None or len(lines) <= max_lines):
                result = (size, lines, True)
                break
            size -= max(1, size // 16)
        if result is None:
            font = self.font(smallest)
            result = (smallest, self._wrap(text, font, box.width) if wrap else [text], False)
        if len(self._fits) > 4096:
            self._fits.clear()
        self._fits[key] = result
        return result

    # -- drawing ------------------------------------------------------------------------------

    def text(
        self,
        message: Message,
        box: pygame.Rect,
        design_size: float = theme.BODY,
        color: theme.Color = theme.TEXT,
        align: str = "left",
        valign: str = "top",
        wrap: bool = True,
        max_lines: int | None = None,
        owner: str = "",
    ) -> pygame.Rect:
        """Draw ``message`` (translated) fitted into ``box``; returns the area covered."""
        text = self.translate(message)
        size, lines, fits = self.fit(text, box, design_size, wrap, max_lines)
        font = self.font(size)
        line_height = font.get_linesize()
        total = len(lines) * line_height
        if valign == "middle":
            y = box.top + (box.height - total) // 2
        elif valign == "bottom":
            y = box.bottom - total
        else:
            y = box.top
        covered: pygame.Rect | None = None
        for line in lines:
            surface = self._render(line, size, color)
            rect = surface.get_rect()
            if align == "center":
                rect.midtop = (box.centerx, y)
            elif align == "right":
                rect.topright = (box.right, y)
            else:
                rect.topleft = (box.left, y)
            self.surface.blit(surface, rect)
            covered = rect.copy() if covered is None else covered.union(rect)
            y += line_height
        covered = covered or pygame.Rect(box.left, box.top, 0, 0)
        self.records.append(TextRecord(text, covered, box.copy(), fits, f"{self.owner}/{owner}" if owner else self.owner))
        return covered

    def paragraphs(
        self,
        items: list[tuple[Message, float, theme.Color]],
        box: pygame.Rect,
        gap: int,
        owner: str = "",
    ) -> pygame.Rect:
        """Several pieces of text one under the other, all shrunk by the same factor until
        together they fit ``box``. ``items``: (message, design size, colour)."""
        texts = [self.translate(message) for message, _, _ in items]
        factor, smallest = 1.0, theme.MIN_SHRINK
        while True:
            sizes = [max(8, round(self.size_px(size) * factor)) for _, size, _ in items]
            wrapped = [self._wrap(text, self.font(px), box.width) for text, px in zip(texts, sizes)]
            height = sum(len(lines) * self.font(px).get_linesize() for lines, px in zip(wrapped, sizes)) + gap * (len(items) - 1)
            widest = max(self.font(px).size(line)[0] for lines, px in zip(wrapped, sizes) for line in lines)
            fits = height <= box.height and widest <= box.width
            if fits or factor <= smallest:
                break
            factor = max(smallest, factor - 0.05)
        y = box.top
        covered = pygame.Rect(box.left, box.top, 0, 0)
        for (text, lines, px, (_, _, color)) in zip(texts, wrapped, sizes, items):
            start = y
            part: pygame.Rect | None = None
            for line in lines:
                surface = self._render(line, px, color)
                rect = surface.get_rect(topleft=(box.left, y))
                self.surface.blit(surface, rect)
                part = rect.copy() if part is None else part.union(rect)
                y += self.font(px).get_linesize()
            part = part or pygame.Rect(box.left, start, 0, 0)
            covered = covered.union(part)
            self.records.append(TextRecord(text, part, box.copy(), fits, f"{self.owner}/{owner}" if owner else self.owner))
            y += gap
        return covered

    def tail(self, text: str, box: pygame.Rect, design_size: float, color: theme.Color, owner: str = "") -> pygame.Rect:
        """One line, showing the end of ``text`` when it is wider than ``box`` (typed input)."""
        size = self.size_px(design_size)
        font = self.font(size)
        shown = text
        if font.size(shown)[0] > box.width:
            lo, hi = 1, len(text)  # the fewest leading characters to drop so the rest fits
            while lo < hi:
                mid = (lo + hi) // 2
                if font.size(ELLIPSIS + text[mid:])[0] <= box.width:
                    hi = mid
                else:
                    lo = mid + 1
            shown = ELLIPSIS + text[lo:]
        surface = font.render(shown, True, color)  # typed input is never cached
        rect = surface.get_rect(midleft=(box.left, box.centery))
        self.surface.blit(surface, rect)
        self.records.append(TextRecord(shown, rect, box.copy(), rect.width <= box.width, f"{self.owner}/{owner}" if owner else self.owner))
        return rect
