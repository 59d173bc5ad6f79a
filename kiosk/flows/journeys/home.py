"""The steps every journey shares: the start screen, a problem, a lockout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.flows.steps import Action, Back, Journey, StepSpec
from kiosk.i18n import N_

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow


def problem_action(flow: Flow, action: Action) -> None:
    """A problem screen's button: the journey's own (retry...), or another journey."""
    problem = flow.session.problem
    handler = problem.handlers.get(action) if problem is not None else None
    if handler is not None:
        handler(flow)
    elif action is Action.FINISH:
        flow.wipe()
    elif problem is not None and action in {name for _, name in problem.actions}:
        flow.restart(action)


# The start screen's buttons enter the journeys (Flow.start): each journey declares its own.
ATTRACT = StepSpec("attract", screen="attract", title=N_("Welcome"), back=Back.NONE)
PROBLEM = StepSpec("problem", screen="problem", title=N_("Something went wrong"), back=Back.NONE, on_action=problem_action)
LOCKED = StepSpec(
    "locked", screen="locked", title=N_("Please wait"), back=Back.NONE, result=True, submit_label=N_("OK"),
    message=lambda flow: (flow.lock_text(), N_("This pause protects accounts against guessing.")),
)

JOURNEY = Journey("home", (ATTRACT, PROBLEM, LOCKED))
