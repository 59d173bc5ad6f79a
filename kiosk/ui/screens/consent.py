"""Consent before the face pictures: what is stored, what for, and for how long."""

from __future__ import annotations

import pygame

from kiosk.flows.steps import Action
from kiosk.i18n import N_, Message
from kiosk.ui import theme
from kiosk.ui.screens.base import Screen
from kiosk.ui.widgets import Pressable

WHAT = N_("What we store")
STORED = (
    N_("your email address"),
    N_("your password, only as a secure hash that cannot be read back"),
    N_("numbers calculated from your face, encrypted"),
)
WHY = N_("What for, and for how long")
PURPOSE = N_(
    "Only to sign you in, and to let you set a new password with your face. "
    "Kept until you ask staff to delete your account."
)


class ConsentScreen(Screen):
    name = "consent"

    def _areas(self) -> tuple[pygame.Rect, pygame.Rect]:
        content = self.layout.content()
        height = self.layout.px(64)
        buttons = pygame.Rect(content.left, content.bottom - height, content.width, height)
        text = pygame.Rect(content.left + self.layout.px(8), content.top, content.width - self.layout.px(16), buttons.top - content.top - self.layout.px(10))
        return text, buttons

    def build(self) -> list[Pressable]:
        _, buttons = self._areas()
        return list(
            self.buttons_row(
                [
                    (N_("No, thanks"), lambda: self.flow.act(Action.DECLINE), "secondary", "decline"),
                    (N_("I agree: take my picture"), lambda: self.flow.act(Action.AGREE), "primary", "agree"),
                ],
                buttons,
            )
        )

    def draw_content(self) -> None:
        text, _ = self._areas()
        items: list[tuple[Message, theme.Role, theme.Color]] = [(WHAT, theme.TITLE, theme.TEXT)]
        items += [(N_("• {item}", item=item), theme.BODY, theme.TEXT) for item in STORED]
        items += [(WHY, theme.TITLE, theme.TEXT), (PURPOSE, theme.BODY, theme.TEXT), (self.flow.consent_text(), theme.BODY, theme.TEXT)]
        self.ctx.painter.paragraphs(items, text, self.layout.px(8), owner="consent")
