"""A step failed: what happened and what to do next."""

from __future__ import annotations

from kiosk.i18n import Message
from kiosk.ui.screens.base import MessageScreen


class ProblemScreen(MessageScreen):
    name = "problem"
    mark = "bad"

    def heading(self) -> Message | None:
        problem = self.flow.session.problem
        return problem.title if problem else None

    def headline(self) -> Message | None:
        problem = self.flow.session.problem
        return problem.body if problem else None

    def actions(self):
        problem = self.flow.session.problem
        if problem is None:
            return []
        # Start over is already in the top bar.
        return [
            (label, (lambda name=name: self.flow.act(name)), "primary" if i == 0 else "secondary", name)
            for i, (label, name) in enumerate(problem.actions)
            if name != "start_over"
        ]
