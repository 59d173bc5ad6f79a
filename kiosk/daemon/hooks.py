"""Test hooks of the daemon, active only with ``FACEKIOSK_TEST_HOOKS=1``.

The subprocess tests and ``benchmarks/daemon.py`` use them to make the real daemon do
things a person would, with no touch screen:

* ``SIGUSR1`` freezes the UI loop (it sleeps in the loop, as a hung loop would), so the
  watchdog pings stop.
* ``SIGUSR2`` starts the journeys named in ``$FACEKIOSK_TEST_JOURNEY`` (comma separated,
  default ``enroll``), one after the other, through the flow's own methods (the calls
  the screens make), for ``$FACEKIOSK_TEST_EMAIL`` / ``$FACEKIOSK_TEST_PASSWORD``:

  - ``enroll``: sign up with the camera's face; ends when the account is saved (or refused).
  - ``reset-loop``: forgot password with the camera's face, over and over; each verdict
    (accepted or refused) starts the next attempt. Never ends.

A journey is a generator (kiosk.flows.scripts): the service advances it once per loop
iteration, so the loop keeps drawing, beating and answering signals while it waits.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

from kiosk.flows.machine import Flow
from kiosk.flows.scripts import FlowActor, Mark, reset_attempt, sign_up
from kiosk.flows.steps import Action

HOOKS_ENV = "FACEKIOSK_TEST_HOOKS"
JOURNEY_ENV = "FACEKIOSK_TEST_JOURNEY"
EMAIL_ENV = "FACEKIOSK_TEST_EMAIL"
PASSWORD_ENV = "FACEKIOSK_TEST_PASSWORD"
DEFAULT_EMAIL = "hook@example.org"
DEFAULT_PASSWORD = "Hook password 1!"


def hooks_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(HOOKS_ENV) == "1"


def enroll(flow: Flow, email: str, password: str) -> Iterator[Mark | None]:
    flow.act(Action.START_OVER)
    yield from sign_up(flow, FlowActor(flow), email, password)


def reset_loop(flow: Flow, email: str, password: str) -> Iterator[Mark | None]:
    while True:
        flow.act(Action.START_OVER)
        yield from reset_attempt(flow, FlowActor(flow), email, stay=True)
        yield None


JOURNEYS: dict[str, Callable[[Flow, str, str], Iterator[Mark | None]]] = {"enroll": enroll, "reset-loop": reset_loop}


def journeys_from_env(flow: Flow, environ: Mapping[str, str]) -> Iterator[Mark | None]:
    """The journeys ``$FACEKIOSK_TEST_JOURNEY`` names, chained. ValueError for an unknown name."""
    names = [name.strip() for name in environ.get(JOURNEY_ENV, "enroll").split(",") if name.strip()]
    unknown = [name for name in names if name not in JOURNEYS]
    if unknown:
        raise ValueError(f"{JOURNEY_ENV}: unknown journey(s) {', '.join(unknown)} (known: {', '.join(JOURNEYS)})")
    email = environ.get(EMAIL_ENV, DEFAULT_EMAIL)
    password = environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)

    def chained() -> Iterator[Mark | None]:
        for name in names:
            yield from JOURNEYS[name](flow, email, password)

    return chained()
