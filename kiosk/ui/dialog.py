"""The "Need more time?" dialog, over any screen shortly before the idle timeout.

While it shows, touches go to it alone: "More time" starts the timeout again, "Start
over" wipes now, and a touch anywhere else counts as "More time" (someone is there).
The seconds left count down in it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pygame

from kiosk.flows.steps import Action
from kiosk.i18n import N_, NP_
from kiosk.ui import theme
from kiosk.ui.events import DOWN, Pointer
from kiosk.ui.widgets import Button, rounded

if TYPE_CHECKING:
    from kiosk.ui.screens.base import Context


class TimeoutDialog:
    TITLE = N_("Need more time?")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.buttons: list[Button] = []
        self.build()

    def rects(self) -> tuple[pygame.Rect, pygame.Rect, pygame.Rect]:
        layout = self.ctx.layout
        box = pygame.Rect(0, 0, min(layout.width - 2 * layout.margin, layout.px(620)), min(layout.height - 2 * layout.margin, layout.px(300)))
        box.center = layout.screen.center
        pad = layout.px(20)
        buttons = pygame.Rect(box.left + pad, box.bottom - pad - layout.px(64), box.width - 2 * pad, layout.px(64))
        text = pygame.Rect(box.left + pad, box.top + pad, box.width - 2 * pad, buttons.top - box.top - 2 * pad)
        return box, text, buttons

    def build(self) -> None:
        flow = self.ctx.flow
        _, _, area = self.rects()
        gap = self.ctx.layout.px(16)
        width = (area.width - gap) // 2
        self.buttons = [
            Button(pygame.Rect(area.left, area.top, width, area.height), N_("Start over"), lambda: flow.act(Action.START_OVER), "secondary", name="timeout start over"),
            Button(pygame.Rect(area.right - width, area.top, width, area.height), N_("More time"), flow.more_time, "primary", name="more time"),
        ]

    @property
    def held(self) -> bool:
        return any(button.pressed for button in self.buttons)

    def showing(self) -> bool:
        return self.held or self.ctx.flow.idle_warning_left() is not None

    def pointer(self, pointer: Pointer) -> None:
        for button in self.buttons:
            if button.handle(pointer):
                return
        if pointer.kind == DOWN:
            self.ctx.flow.more_time()  # a touch anywhere: someone is there

    def reset(self) -> None:
        for button in self.buttons:
            button.reset()

    def draw(self) -> None:
        painter, layout = self.ctx.painter, self.ctx.layout
        left = self.ctx.flow.idle_warning_left() or 0.0
        shade = pygame.Surface(layout.screen.size, pygame.SRCALPHA)
        shade.fill(theme.OVERLAY)
        painter.surface.blit(shade, (0, 0))
        box, text, _ = self.rects()
        radius = layout.px(12)
        rounded(painter.surface, box, theme.PANEL_LIGHT, radius)
        rounded(painter.surface, box, theme.EDGE, radius, width=max(2, layout.px(3)))
        seconds = math.ceil(left)
        painter.paragraphs(
            [
                (self.TITLE, theme.HUGE, theme.TEXT),
                (NP_("This screen will be cleared in {n} second.", "This screen will be cleared in {n} seconds.", seconds), theme.BODY, theme.TEXT),
            ],
            text,
            layout.px(12),
            owner="dialog",
        )
        for button in self.buttons:
            button.draw(painter)


HELP_DEFAULT = N_("Please ask a member of staff for help. You can also start over at any time with the Start over button.")


class HelpDialog:
    """The start screen's Help: how to get staff help (``ui.help_text``), and Close."""

    def __init__(self, ctx: Context, texts: dict[str, str]) -> None:
        self.ctx = ctx
        self.texts = texts
        self.visible = False
        self.close = Button(pygame.Rect(0, 0, 0, 0), N_("Close"), self.hide, "primary", name="close help")
        self.build()

    def rects(self) -> tuple[pygame.Rect, pygame.Rect]:
        layout = self.ctx.layout
        box = pygame.Rect(0, 0, min(layout.width - 2 * layout.margin, layout.px(680)), min(layout.height - 2 * layout.margin, layout.px(380)))
        box.center = layout.screen.center
        pad = layout.px(20)
        self.close.rect = pygame.Rect(box.right - pad - layout.px(200), box.bottom - pad - layout.px(64), layout.px(200), layout.px(64))
        return box, pygame.Rect(box.left + pad, box.top + pad, box.width - 2 * pad, self.close.rect.top - box.top - 2 * pad)

    def build(self) -> None:
        self.rects()

    def show(self) -> None:
        self.visible = True

    def hide(self) -> None:
        self.visible = False
        self.close.reset()

    def showing(self) -> bool:
        return self.visible or self.close.pressed

    def pointer(self, pointer: Pointer) -> None:
        self.close.handle(pointer)

    def draw(self) -> None:
        painter, layout = self.ctx.painter, self.ctx.layout
        shade = pygame.Surface(layout.screen.size, pygame.SRCALPHA)
        shade.fill(theme.OVERLAY)
        painter.surface.blit(shade, (0, 0))
        box, text = self.rects()
        radius = layout.px(12)
        rounded(painter.surface, box, theme.PANEL_LIGHT, radius)
        rounded(painter.surface, box, theme.EDGE, radius, width=max(2, layout.px(3)))
        custom = self.texts.get(painter.catalog.language, "")
        painter.paragraphs(
            [(N_("Help"), theme.HUGE, theme.TEXT), (custom or HELP_DEFAULT, theme.BODY, theme.TEXT)],
            text,
            layout.px(12),
            owner="help dialog",
        )
        self.close.draw(painter)
