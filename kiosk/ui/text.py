"""Drawing text that fits its box, and recording where every piece of text went.

Text is sized by role (:class:`kiosk.ui.theme.Role`): the font size whose measured
capitals are the role's cap height, scaled with the screen (and by ``text_scale``, the
larger-text mode). Each ``Painter.text`` call wraps the message to its box (at spaces;
a word wider than the box, such as an email address, breaks after ``@`` or before a
``.`` first, and only then anywhere), shrinking the type down to the role's smallest cap
height until it fits. Every call appends a :class:`TextRecord` with the box it had to
stay in, the rectangle the text really covers and the cap height it was drawn at: the
tests check after each frame that no text left its box or the screen and none is
smaller than its role allows, at 800x480 and 1280x800, in every language. Text that
cannot fit even at the smallest size is still drawn (so the problem is visible) and
recorded as not fitting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pygame

from kiosk.i18n import Catalog, Message
from kiosk.ui import fonts, theme
from kiosk.ui.theme import Role

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
    role: str = ""  # the text role (theme.Role.name)
    cap: float = 0.0  # the capitals' height as drawn, screen px
    min_cap: float = 0.0  # the smallest the role allows on this screen, screen px


class Painter:
    def __init__(self, surface: pygame.Surface, catalog: Catalog, scale: float, font_path: str | Path | None = None) -> None:
        self.surface = surface
        self.catalog = catalog
        self.scale = scale
        self.text_scale = 1.0  # the larger-text mode makes text this much bigger where it fits
        self.regular_path, self.bold_path = fonts.resolve(font_path)
        self.records: list[TextRecord] = []
        self.owner = ""
        self._fonts: dict[tuple[int, bool], pygame.font.Font] = {}
        self._caps: dict[tuple[int, bool], int] = {}
        self._fits: dict[tuple[str, int, int, Role, float, bool, int | None], tuple[int, list[str], bool]] = {}
        self._surfaces: dict[tuple[str, int, bool, theme.Color], pygame.Surface] = {}

    # -- fonts --------------------------------------------------------------------------------

    def font(self, size_px: int, bold: bool = False) -> pygame.font.Font:
        font = self._fonts.get((size_px, bold))
        if font is None:
            font = self._fonts[(size_px, bold)] = pygame.font.Font(self.bold_path if bold else self.regular_path, size_px)
            if bold and self.bold_path == self.regular_path:
                font.bold = True  # no bold file: pygame's synthetic bold
        return font

    def cap_height(self, size_px: int, bold: bool = False) -> int:
        """The measured height of a capital H at ``size_px`` (pixels above the baseline)."""
        cap = self._caps.get((size_px, bold))
        if cap is None:
            metrics = self.font(size_px, bold).metrics("H")[0]
            cap = self._caps[(size_px, bold)] = metrics[3] if metrics is not None else round(size_px * 0.7)
        return cap

    def _px_for_cap(self, cap: float, bold: bool) -> int:
        """The smallest font size whose capitals are at least ``cap`` screen px tall."""
        size = max(6, round(cap / 0.72))
        while size > 6 and self.cap_height(size - 1, bold) >= cap:
            size -= 1
        while self.cap_height(size, bold) < cap and size < 1000:
            size += 1
        return size

    def min_cap_px(self, role: Role) -> float:
        return role.min_cap * self.scale

    def size_px(self, role: Role) -> int:
        """The font size of ``role`` on this screen, before any shrinking to fit."""
        return max(self.min_px(role), self._px_for_cap(role.cap * self.scale * self.text_scale, role.bold))

    def min_px(self, role: Role) -> int:
        return self._px_for_cap(self.min_cap_px(role), role.bold)

    def role_font(self, role: Role) -> pygame.font.Font:
        return self.font(self.size_px(role), role.bold)

    def translate(self, message: Message) -> str:
        return self.catalog(message)

    def _render(self, text: str, size_px: int, bold: bool, color: theme.Color) -> pygame.Surface:
        key = (text, size_px, bold, color)
        surface = self._surfaces.get(key)
        if surface is None:
            if len(self._surfaces) >= SURFACE_CACHE:
                self._surfaces.clear()
            surface = self._surfaces[key] = self.font(size_px, bold).render(text, True, color)
        return surface

    def _record(self, text: str, rect: pygame.Rect, box: pygame.Rect, fits: bool, owner: str, role: Role, size_px: int) -> None:
        self.records.append(
            TextRecord(
                text, rect, box.copy(), fits, f"{self.owner}/{owner}" if owner else self.owner,
                role.name, float(self.cap_height(size_px, role.bold)), self.min_cap_px(role),
            )
        )

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
                # A word wider than the box (a long email address) breaks after "@" or
                # before ".", and only where neither helps, anywhere.
                while font.size(word)[0] > width and len(word) > 1:
                    cut = _break_at(word, lambda part: font.size(part)[0] <= width)
                    lines.append(word[:cut])
                    word = word[cut:]
                current = word
            lines.append(current)
        return lines

    def fit(self, text: str, box: pygame.Rect, role: Role, wrap: bool = True, max_lines: int | None = None) -> tuple[int, list[str], bool]:
        """(size in px, lines, fits) for ``text`` in ``box``, largest size that fits."""
        key = (text, box.width, box.height, role, self.text_scale, wrap, max_lines)
        cached = self._fits.get(key)
        if cached is not None:
            return cached
        size = self.size_px(role)
        smallest = self.min_px(role)
        result = None
        while size >= smallest:
            font = self.font(size, role.bold)
            lines = self._wrap(text, font, box.width) if wrap else [text]
            height = len(lines) * font.get_linesize()
            widest = max((font.size(line)[0] for line in lines), default=0)
            if widest <= box.width and height <= box.height and (max_lines is None or len(lines) <= max_lines):
                result = (size, lines, True)
                break
            size -= max(1, size // 24) if size > smallest else 1
            if size < smallest:
                break
        if result is None:
            font = self.font(smallest, role.bold)
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
        role: Role = theme.BODY,
        color: theme.Color | None = None,
        align: str = "left",
        valign: str = "top",
        wrap: bool = True,
        max_lines: int | None = None,
        owner: str = "",
    ) -> pygame.Rect:
        """Draw ``message`` (translated) fitted into ``box``; returns the area covered."""
        text = self.translate(message)
        color = color or theme.TEXT
        size, lines, fits = self.fit(text, box, role, wrap, max_lines)
        font = self.font(size, role.bold)
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
            surface = self._render(line, size, role.bold, color)
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
        self._record(text, covered, box, fits, owner, role, size)
        return covered

    def paragraphs(
        self,
        items: list[tuple[Message, Role, theme.Color]],
        box: pygame.Rect,
        gap: int,
        owner: str = "",
    ) -> pygame.Rect:
        """Several pieces of text one under the other, all shrunk by the same factor (each
        no smaller than its role allows) until together they fit ``box``.
        ``items``: (message, role, colour)."""
        texts = [self.translate(message) for message, _, _ in items]
        factor = 1.0
        while True:
            sizes = [max(self.min_px(role), round(self.size_px(role) * factor)) for _, role, _ in items]
            fonts_ = [self.font(px, role.bold) for px, (_, role, _) in zip(sizes, items)]
            wrapped = [self._wrap(text, font, box.width) for text, font in zip(texts, fonts_)]
            height = sum(len(lines) * font.get_linesize() for lines, font in zip(wrapped, fonts_)) + gap * (len(items) - 1)
            widest = max(font.size(line)[0] for lines, font in zip(wrapped, fonts_) for line in lines)
            fits = height <= box.height and widest <= box.width
            smallest = all(px == self.min_px(role) for px, (_, role, _) in zip(sizes, items))
            if fits or smallest:
                break
            factor -= 0.04
        y = box.top
        covered = pygame.Rect(box.left, box.top, 0, 0)
        for (text, lines, px, (_, role, color)) in zip(texts, wrapped, sizes, items):
            start = y
            part: pygame.Rect | None = None
            for line in lines:
                surface = self._render(line, px, role.bold, color)
                rect = surface.get_rect(topleft=(box.left, y))
                self.surface.blit(surface, rect)
                part = rect.copy() if part is None else part.union(rect)
                y += self.font(px, role.bold).get_linesize()
            part = part or pygame.Rect(box.left, start, 0, 0)
            covered = covered.union(part)
            self._record(text, part, box, fits, owner, role, px)
            y += gap
        return covered

    def tail(self, text: str, box: pygame.Rect, role: Role, color: theme.Color, owner: str = "") -> pygame.Rect:
        """One line, showing the end of ``text`` when it is wider than ``box`` (typed input)."""
        size = self.size_px(role)
        while size > self.min_px(role) and self.font(size, role.bold).get_height() > box.height:
            size -= 1
        font = self.font(size, role.bold)
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
        self._record(shown, rect, box, rect.width <= box.width, owner, role, size)
        return rect


def _break_at(word: str, fits: Callable[[str], bool]) -> int:
    """Where to cut ``word`` (longer than a line): after the last "@" or before the last
    "." that leaves a first part that fits, else as many characters as fit."""
    for i in range(len(word) - 1, 0, -1):
        if (word[i - 1] == "@" or word[i] == ".") and fits(word[:i]):
            return i
    cut = len(word) - 1
    while cut > 1 and not fits(word[:cut]):
        cut -= 1
    return cut
