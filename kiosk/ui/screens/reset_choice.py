"""Forgot password with email configured: check the face here, or email a code to the
address (the alternative to the biometric EN 301 549 5.3 asks for)."""

from __future__ import annotations

from kiosk.flows.steps import Action
from kiosk.i18n import N_
from kiosk.ui.screens.base import ButtonSpec, MessageScreen


class ResetChoiceScreen(MessageScreen):
    name = "reset_choice"
    mark = None

    def actions(self) -> list[ButtonSpec]:
        return [
            (N_("Email me a code"), lambda: self.flow.act(Action.EMAIL_CODE), "secondary", "email me a code"),
            (N_("Use my face"), lambda: self.flow.act(Action.AGREE), "primary", "use my face"),
        ]
