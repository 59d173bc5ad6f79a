"""Typing the new password a second time."""

from __future__ import annotations

import pygame

from kiosk.flows.machine import Step
from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen


class ConfirmScreen(EntryScreen):
    name = "confirm"
    masked = True
    placeholder = N_("The same password again")
    title = N_("Type the password again")

    @property
    def submit_label(self):  # type: ignore[override]
        return N_("Save") if self.flow.step == Step.RESET_CONFIRM else N_("Next")

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
        else:
            self.draw_check(self.flow.confirm_feedback(), box)
