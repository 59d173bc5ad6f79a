"""The start screen: what this kiosk does, and the three journeys. Never shows anyone's
data or the camera."""

from __future__ import annotations

import pygame

from kiosk.flows.steps import Action
from kiosk.i18n import N_
from kiosk.ui import theme
from kiosk.ui.screens.base import ButtonSpec, Screen
from kiosk.ui.widgets import Button, Pressable


class AttractScreen(Screen):
    name = "attract"
    top_bar = False

    def _rects(self) -> tuple[pygame.Rect, pygame.Rect, pygame.Rect]:
        layout = self.layout
        m = layout.margin
        title = pygame.Rect(m * 3, layout.px(28), layout.width - 6 * m, layout.px(64))
        subtitle = pygame.Rect(m * 3, title.bottom + layout.px(4), layout.width - 6 * m, layout.px(60))
        buttons_h = layout.px(150)
        buttons = pygame.Rect(m * 3, subtitle.bottom + (layout.height - subtitle.bottom - buttons_h - layout.px(60)) // 2, layout.width - 6 * m, buttons_h)
        return title, subtitle, buttons

    def build(self) -> list[Pressable]:
        _, _, area = self._rects()
        flow = self.flow
        specs: list[ButtonSpec] = [
            (N_("Sign up"), lambda: flow.act(Action.SIGNUP), "primary", "sign up"),
            (N_("Sign in"), lambda: flow.act(Action.SIGNIN), "secondary", "sign in"),
            (N_("Forgot password"), lambda: flow.act(Action.RESET), "secondary", "forgot password"),
        ]
        widgets: list[Pressable] = []
        for button in self.buttons_row(specs, area):
            button.size = theme.TITLE
            widgets.append(button)
        if flow.admin_available:
            layout = self.layout
            rect = pygame.Rect(layout.margin, layout.height - layout.margin - layout.px(44), layout.px(110), layout.px(44))
            widgets.append(Button(rect, N_("Admin"), lambda: flow.act(Action.ADMIN), "quiet", name="admin"))
        return widgets

    def draw_content(self) -> None:
        title, subtitle, _ = self._rects()
        painter = self.ctx.painter
        painter.text(N_("Welcome"), title, theme.HUGE, align="center", valign="middle", owner="title")
        painter.text(
            N_("Create an account, sign in, or set a new password with your face."),
            subtitle,
            theme.BODY,
            theme.MUTED,
            align="center",
            owner="subtitle",
        )
