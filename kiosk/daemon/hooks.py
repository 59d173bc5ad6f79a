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

A journey is a generator: the service advances it once per loop iteration, so the loop
keeps drawing, beating and answering signals while the journey waits for the flow.
"""

from __future__ import annotations

from typing import Iterator, Mapping

from kiosk.flows.machine import Flow, Step

HOOKS_ENV = "FACEKIOSK_TEST_HOOKS"
JOURNEY_ENV = "FACEKIOSK_TEST_JOURNEY"
EMAIL_ENV = "FACEKIOSK_TEST_EMAIL"
PASSWORD_ENV = "FACEKIOSK_TEST_PASSWORD"
DEFAULT_EMAIL = "hook@example.org"
DEFAULT_PASSWORD = "Hook password 1!"

ENROLL_ENDS = (Step.SIGNUP_DONE, Step.PROBLEM)
RESET_ENDS = (Step.RESET_PASSWORD, Step.RESET_REFUSED, Step.LOCKED, Step.PROBLEM)


def hooks_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(HOOKS_ENV) == "1"


def enroll(flow: Flow, email: str, password: str) -> Iterator[None]:
    flow.act("start_over")
    flow.act("signup")
    flow.set_text(email)
    flow.submit()
    for _ in range(2):  # the password, then its confirmation
        flow.set_text(password)
        flow.submit()
    flow.act("agree")
    while flow.step not in ENROLL_ENDS and flow.step != Step.ATTRACT:  # ATTRACT: wiped (timeout)
        yield


def reset_loop(flow: Flow, email: str, password: str) -> Iterator[None]:
    while True:
        flow.act("start_over")
        flow.act("reset")
        flow.set_text(email)
        flow.submit()
        yield
        while (flow.step not in RESET_ENDS and flow.step != Step.ATTRACT) or flow.busy:
            flow.activity()  # a person standing there: no idle timeout
            yield


JOURNEYS = {"enroll": enroll, "reset-loop": reset_loop}


def journeys_from_env(flow: Flow, environ: Mapping[str, str]) -> Iterator[None]:
    """The journeys ``$FACEKIOSK_TEST_JOURNEY`` names, chained. ValueError for an unknown name."""
    names = [name.strip() for name in environ.get(JOURNEY_ENV, "enroll").split(",") if name.strip()]
    unknown = [name for name in names if name not in JOURNEYS]
    if unknown:
        raise ValueError(f"{JOURNEY_ENV}: unknown journey(s) {', '.join(unknown)} (known: {', '.join(JOURNEYS)})")
    email = environ.get(EMAIL_ENV, DEFAULT_EMAIL)
    password = environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)

    def chained() -> Iterator[None]:
        for name in names:
            yield from JOURNEYS[name](flow, email, password)

    return chained()
