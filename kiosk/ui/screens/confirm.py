"""Typing the new password a second time."""

from __future__ import annotations

import pygame

from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen


class ConfirmScreen(EntryScreen):
    name = "confirm"
    masked = True
    placeholder = N_("The same password again")

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
        else:
            self.draw_check(self.flow.confirm_feedback(), box)
