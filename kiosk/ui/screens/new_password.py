"""Choosing a new password (sign-up, forgot password), its rules checked as it is typed.
Masked, with an eye to hold for seeing what was typed."""

from __future__ import annotations

import pygame

from kiosk.flows.validation import Check
from kiosk.ui.screens.password import PasswordScreen


class NewPasswordScreen(PasswordScreen):
    name = "new_password"

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
            return
        checks = self.flow.password_feedback()
        gap = self.layout.px(12)
        width = (box.width - gap * (len(checks) - 1)) // len(checks)
        for i, check in enumerate(checks):
            self.draw_check(check, pygame.Rect(box.left + i * (width + gap), box.top, width, box.height), size=20)
