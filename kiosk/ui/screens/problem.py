"""A step failed: what happened and what to do next."""

from __future__ import annotations

from typing import Callable

from kiosk.flows.steps import Action
from kiosk.i18n import Message
from kiosk.ui.screens.base import ButtonSpec, MessageScreen


class ProblemScreen(MessageScreen):
    name = "problem"
    mark = "bad"

    def heading(self) -> Message | None:
        problem = self.flow.session.problem
        return problem.title if problem else self.flow.step.title

    def headline(self) -> Message | None:
        problem = self.flow.session.problem
        return problem.body if problem else None

    def actions(self) -> list[ButtonSpec]:
        problem = self.flow.session.problem
        if problem is None:
            return []
        # Start over is already in the top bar.
        buttons = [(label, action) for label, action in problem.actions if action is not Action.START_OVER]
        return [(label, self._press(action), "primary" if i == 0 else "secondary", action.value) for i, (label, action) in enumerate(buttons)]

    def _press(self, action: Action) -> Callable[[], None]:
        return lambda: self.flow.act(action)
