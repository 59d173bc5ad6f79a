"""Typing the email address, for every journey; it is checked as it is typed."""

from __future__ import annotations

import pygame

from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen


class EmailScreen(EntryScreen):
    name = "email"
    keyboard_kind = "email"
    placeholder = N_("name@example.org")

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
        else:
            self.draw_check(self.flow.email_feedback(), box)
