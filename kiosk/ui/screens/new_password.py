"""Choosing a new password (sign-up, forgot password), its rules checked as it is typed.
Masked, with an eye to hold for seeing what was typed."""

from __future__ import annotations

import pygame

from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui import theme
from kiosk.ui.screens.password import PasswordScreen


class NewPasswordScreen(PasswordScreen):
    name = "new_password"

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
            return
        checks = self.flow.password_feedback()
        # The rules not met yet, the first two of them (one line holds no more at a
        # readable size); each a hint while typing (an open circle, not a red cross from
        # the first character): Next refuses an unmet rule with an error.
        unmet = [Check(False, check.text, hint=True) for check in checks if not check.ok][:2]
        shown = unmet or [Check(True, N_("Your password meets every rule"))]
        gap = self.layout.px(12)
        # Each rule gets room in proportion to its text (a long rule is not squeezed).
        font = self.ctx.painter.role_font(theme.HINT)
        lengths = [font.size(self.ctx.painter.translate(check.text))[0] + self.layout.px(30) for check in shown]
        room = box.width - gap * (len(shown) - 1)
        x = box.left
        for check, length in zip(shown, lengths):
            width = room * length // max(1, sum(lengths))
            self.draw_check(check, pygame.Rect(x, box.top, width, box.height), size=theme.HINT)
            x += width + gap
