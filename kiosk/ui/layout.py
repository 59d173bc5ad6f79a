"""Screen geometry: everything is designed at 800x480 and scaled to the real screen.

The scale is the smaller of width/800 and height/480, so a key that is 60 design pixels
tall is at least 60 screen pixels on any screen of 800x480 or more. Areas that span the
screen (bars, keyboard) use the real width; the keyboard sits at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

DESIGN_WIDTH = 800
DESIGN_HEIGHT = 480
KEY_HEIGHT = 60  # design pixels: 9 mm on a 7" 800x480 panel
KEY_GAP = 4
KEYBOARD_ROWS = 5
MARGIN = 8
TOP_BAR = 64
# Every control is at least this tall and wide (design px: 9 mm on a 7" 800x480 panel).
MIN_CONTROL = 60


@dataclass(frozen=True)
class Layout:
    width: int
    height: int

    @property
    def scale(self) -> float:
        return min(self.width / DESIGN_WIDTH, self.height / DESIGN_HEIGHT)

    def px(self, design: float) -> int:
        return max(1, round(design * self.scale))

    @property
    def screen(self) -> pygame.Rect:
        return pygame.Rect(0, 0, self.width, self.height)

    @property
    def margin(self) -> int:
        return self.px(MARGIN)

    def top_bar(self) -> pygame.Rect:
        return pygame.Rect(0, 0, self.width, self.px(TOP_BAR))

    def back_button(self) -> pygame.Rect:
        """60 design px tall (not the 44 of a phone): the top edge is the hardest place
        to reach from a wheelchair, so its targets are the larger."""
        return pygame.Rect(self.margin, self.px(2), self.px(128), self.px(MIN_CONTROL))

    def start_over_button(self) -> pygame.Rect:
        width = self.px(176)
        return pygame.Rect(self.width - self.margin - width, self.px(2), width, self.px(MIN_CONTROL))

    def title_area(self, with_back: bool = True) -> pygame.Rect:
        left = self.back_button().right + self.margin if with_back else self.margin
        right = self.start_over_button().left - self.margin
        return pygame.Rect(left, self.px(2), right - left, self.px(MIN_CONTROL))

    def content(self) -> pygame.Rect:
        """Below the top bar, to the bottom margin."""
        top = self.top_bar().bottom + self.margin
        return pygame.Rect(self.margin, top, self.width - 2 * self.margin, self.height - top - self.margin)

    def keyboard(self) -> pygame.Rect:
        height = KEYBOARD_ROWS * self.px(KEY_HEIGHT) + (KEYBOARD_ROWS - 1) * self.px(KEY_GAP)
        return pygame.Rect(self.px(4), self.height - height - self.px(4), self.width - 2 * self.px(4), height)

    def field(self) -> pygame.Rect:
        return pygame.Rect(self.margin, self.px(TOP_BAR + 2), self.width - 2 * self.margin, self.px(48))

    def feedback(self) -> pygame.Rect:
        """Between the field and the keyboard."""
        top = self.field().bottom + self.px(4)
        return pygame.Rect(self.margin, top, self.width - 2 * self.margin, self.keyboard().top - self.px(2) - top)
