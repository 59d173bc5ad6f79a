"""Typing the password to sign in. Masked, with an eye to hold for seeing what was typed."""

from __future__ import annotations

import pygame

from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen


class PasswordScreen(EntryScreen):
    name = "password"
    masked = True
    placeholder = N_("Password")

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
        else:
            self.draw_check(Check(False, N_("Hold the eye to see what you typed"), hint=True), box)
