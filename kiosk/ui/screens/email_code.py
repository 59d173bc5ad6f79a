"""Typing the 6-digit code sent by email, on a number pad; under the field, where it went.
Without the email a person can leave (Start over) and sign in later for a new code."""

from __future__ import annotations

import pygame

from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen


class EmailCodeScreen(EntryScreen):
    name = "email_code"
    keyboard_kind = "pin"
    placeholder = N_("6-digit code")

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=session.message_is_error)
            return
        address = session.email.address if session.email else ""
        self.draw_check(Check(False, N_("We sent a code to {email}.", email=address),
                              hint=True), box)
