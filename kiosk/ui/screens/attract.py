"""The start screen: what this kiosk does, and the three journeys. Never shows anyone's
data or the camera."""

from __future__ import annotations

import pygame

from kiosk.flows.steps import Action
from kiosk.i18n import N_
from kiosk.ui import theme
from kiosk.ui.layout import MIN_CONTROL
from kiosk.ui.prefs import LANGUAGE_NAMES
from kiosk.ui.screens.base import ButtonSpec, Screen
from kiosk.ui.widgets import Pressable


class AttractScreen(Screen):
    name = "attract"
    top_bar = False

    def _rects(self) -> tuple[pygame.Rect, pygame.Rect, pygame.Rect, pygame.Rect]:
        layout = self.layout
        m = layout.margin
        title = pygame.Rect(m * 3, layout.px(16), layout.width - 6 * m, layout.px(56))
        subtitle = pygame.Rect(m * 3, title.bottom + layout.px(4), layout.width - 6 * m, layout.px(64))
        choices = pygame.Rect(m, layout.height - m - layout.px(MIN_CONTROL), layout.width - 2 * m, layout.px(MIN_CONTROL))
        room = choices.top - layout.px(16) - subtitle.bottom - layout.px(12)
        buttons_h = min(layout.px(150), room)
        buttons = pygame.Rect(m * 3, subtitle.bottom + layout.px(12) + (room - buttons_h) // 2, layout.width - 6 * m, buttons_h)
        return title, subtitle, buttons, choices

    def build(self) -> list[Pressable]:
        _, _, area, choices = self._rects()
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
        widgets += self.choice_buttons(choices)
        return widgets

    def choice_buttons(self, area: pygame.Rect) -> list[Pressable]:
        """The visit's choices along the bottom: language, larger text, high contrast,
        help (and the staff's admin button when a PIN is set)."""
        ctx, flow = self.ctx, self.flow
        prefs = ctx.prefs()
        other = prefs.next_language()
        specs: list[ButtonSpec] = []
        if flow.admin_available:
            specs.append((N_("Admin"), lambda: flow.act(Action.ADMIN), "quiet", "admin"))
        specs += [
            (LANGUAGE_NAMES[other], lambda: ctx.change_prefs(language=other), "secondary", "language"),
            (N_("Normal text") if prefs.large_text else N_("Larger text"), lambda: ctx.change_prefs(large_text=not prefs.large_text), "secondary", "larger text"),
            (N_("Normal contrast") if prefs.high_contrast else N_("High contrast"), lambda: ctx.change_prefs(high_contrast=not prefs.high_contrast), "secondary", "high contrast"),
            (N_("Help"), ctx.show_help, "secondary", "help"),
        ]
        buttons = self.buttons_row(specs, area)
        for button in buttons:
            button.size = theme.BUTTON_LABEL
        return list(buttons)

    def draw_content(self) -> None:
        title, subtitle, _, _ = self._rects()
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
