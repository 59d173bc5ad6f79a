"""Typing the code sent by email: shared by sign-up (right after it) and sign-in (an
account whose email is not confirmed yet gets a new code, at any kiosk)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from kiosk.flows import accounts
from kiosk.flows.events import EventName
from kiosk.flows.jobs import Done
from kiosk.flows.session import START_OVER, Problem
from kiosk.flows.steps import Action, Field, JobKind, StepSpec
from kiosk.i18n import N_
from kiosk.store import mail as mail_store

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow

CODE_DIGITS = mail_store.CODE_DIGITS

EXPIRED = Problem(
    N_("This code no longer works"),
    N_("Sign in with your password to get a new code by email."),
    ((N_("Sign in"), Action.SIGNIN), (START_OVER, Action.START_OVER)),
)


def submitter(next_step: Callable[[], StepSpec]) -> Callable[[Flow], None]:
    """The submit handler of a code step; ``next_step`` once the code is right."""

    def submit(flow: Flow) -> None:
        session = flow.session
        typed = session.fields[Field.CODE]
        if len(typed) != CODE_DIGITS or not typed.isdigit():
            flow.say(N_("The code has 6 digits"))
            return
        session.fields[Field.CODE] = ""
        assert session.email is not None

        def checked(flow: Flow, done: Done) -> None:
            result = done.value
            if not isinstance(result, accounts.CodeChecked):
                flow.store_failed(done.error)
                return
            if result.outcome == mail_store.OK:
                flow.go(next_step())
                flow.emit(EventName.EMAIL_CONFIRMED, "email address confirmed with its code")
                return
            flow.emit(EventName.EMAIL_CONFIRM_REFUSED, "email code refused", reason=result.outcome)
            if result.outcome == mail_store.WRONG:
                flow.say(N_("That code is not right. Check the email and type it again."))
            elif result.outcome == mail_store.WAIT:
                # Too many wrong codes for the account lately, at any kiosks: the pause screen.
                flow.locked(accounts.Locked("email", max(1.0, result.wait_s)))
            else:
                flow.show_problem(EXPIRED)

        flow.run_job(JobKind.CONFIRM_EMAIL, accounts.confirm_email(session.email, typed), N_("Checking..."), checked)

    return submit
