"""Sign in: email, password, welcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.flows import accounts
from kiosk.flows.accounts import Locked, RegisteredElsewhere, SignedIn, WrongPassword
from kiosk.flows.events import EventName
from kiosk.flows.jobs import Done
from kiosk.flows.session import START_OVER, Problem
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.i18n import N_, NP_

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow

# Shown once to the person whose sign-up here lost to the same email's sign-up at another
# kiosk while both were offline (kiosk.sync resolves it; the store keeps the notice).
REGISTERED_ELSEWHERE = Problem(
    N_("This email was registered at another kiosk"),
    N_("Someone signed up with this email at another kiosk first, so your sign-up here was not kept. "
       "Sign in with the password chosen there, choose \"Forgot password\", or sign up with another email."),
    ((N_("Forgot password"), Action.RESET), (START_OVER, Action.START_OVER)),
)


def submit_email(flow: Flow) -> None:
    if flow.take_email() is not None:
        flow.go(PASSWORD)


def submit_password(flow: Flow) -> None:
    session = flow.session
    if not session.fields[Field.PASSWORD]:
        flow.say(N_("Type your password"))
        return
    assert session.email is not None
    flow.run_job(JobKind.SIGN_IN, accounts.sign_in(session.email, session.fields[Field.PASSWORD]), N_("Checking..."), checked)


def checked(flow: Flow, done: Done) -> None:
    session = flow.session
    session.fields[Field.PASSWORD] = ""
    result = done.value
    if isinstance(result, SignedIn):
        session.user_id = result.user_id
        session.signed_in_email = result.email
        flow.go(WELCOME)
        flow.emit(EventName.SIGNED_IN, "signed in with a password")
    elif isinstance(result, WrongPassword):
        session.attempts_left = result.attempts_left
        if result.attempts_left <= 3:
            flow.say(
                NP_(
                    "Wrong email or password. {n} try left before a pause.",
                    "Wrong email or password. {n} tries left before a pause.",
                    result.attempts_left,
                )
            )
        else:
            flow.say(N_("Wrong email or password."))
        flow.emit(EventName.SIGN_IN_REFUSED, "wrong password")
    elif isinstance(result, Locked):
        flow.locked(result)
    elif isinstance(result, RegisteredElsewhere):
        flow.show_problem(REGISTERED_ELSEWHERE)
    else:
        flow.store_failed(done.error)


EMAIL = StepSpec(
    "signin_email", screen="email", title=N_("Sign in: your email address"), back=Back.START, field=Field.EMAIL,
    submit_label=N_("Next"), on_submit=submit_email,
)
PASSWORD = StepSpec(
    "signin_password", screen="password", title=N_("Sign in: your password"), back=EMAIL, field=Field.PASSWORD,
    submit_label=N_("Sign in"), on_submit=submit_password,
)
WELCOME = StepSpec(
    "welcome", screen="result", title=N_("Welcome"), back=Back.NONE, submit_label=N_("Sign out"),
    message=lambda flow: (
        N_("You are signed in as {email}.", email=flow.session.signed_in_email or ""),
        N_("Sign out when you are done."),
    ),
)

JOURNEY = Journey("sign in", (EMAIL, PASSWORD, WELCOME), start=Action.SIGNIN, entry=EMAIL)
