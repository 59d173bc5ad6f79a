"""The kiosk's journeys, one module each; every step is declared in its journey's module.

The first step of the first journey is the start screen. :data:`Step` finds any step by
its name in capitals (``Step.SIGNUP_EMAIL``), for tests and tools that name steps.
"""

from __future__ import annotations

from kiosk.flows.journeys import admin, home, reset, signin, signup
from kiosk.flows.steps import Journey, StepSpec

JOURNEYS: tuple[Journey, ...] = (home.JOURNEY, signup.JOURNEY, signin.JOURNEY, reset.JOURNEY, admin.JOURNEY)


def all_steps(journeys: tuple[Journey, ...] = JOURNEYS) -> list[StepSpec]:
    return [step for journey in journeys for step in journey.steps]


class StepIndex:
    """Steps by name: ``Step.RESET_FACE`` is the step named ``reset_face``."""

    def __init__(self, journeys: tuple[Journey, ...]) -> None:
        self._by_name = {step.name: step for step in all_steps(journeys)}
        if len(self._by_name) != len(all_steps(journeys)):
            raise ValueError("two steps share a name")

    def __getattr__(self, name: str) -> StepSpec:
        try:
            return self._by_name[name.lower()]
        except KeyError:
            raise AttributeError(f"no step named {name.lower()!r}") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())


Step = StepIndex(JOURNEYS)

__all__ = ["JOURNEYS", "Step", "StepIndex", "all_steps"]
