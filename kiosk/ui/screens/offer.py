"""A choice the person may decline: the step's headline and explanation, its main button
(the step's submit label) and "Not now"."""

from __future__ import annotations

from kiosk.flows.steps import Action
from kiosk.i18n import N_
from kiosk.ui.screens.base import ButtonSpec, MessageScreen


class OfferScreen(MessageScreen):
    name = "offer"
    mark = None

    def actions(self) -> list[ButtonSpec]:
        return [
            (N_("Not now"), lambda: self.flow.act(Action.DECLINE), "secondary", "not now"),
            (self.flow.step.submit_label or N_("Yes"), lambda: self.flow.act(Action.AGREE), "primary", "agree"),
        ]
