"""One module per screen; ``screen_for`` maps each step of the flow to its screen."""

from __future__ import annotations

from kiosk.flows.machine import Step
from kiosk.ui.screens.admin import AdminScreen
from kiosk.ui.screens.admin_pin import AdminPinScreen
from kiosk.ui.screens.attract import AttractScreen
from kiosk.ui.screens.base import Context, Screen
from kiosk.ui.screens.confirm import ConfirmScreen
from kiosk.ui.screens.consent import ConsentScreen
from kiosk.ui.screens.email import EmailScreen
from kiosk.ui.screens.enroll_face import EnrollFaceScreen
from kiosk.ui.screens.locked import LockedScreen
from kiosk.ui.screens.password import PasswordScreen
from kiosk.ui.screens.problem import ProblemScreen
from kiosk.ui.screens.refused import RefusedScreen
from kiosk.ui.screens.result import ResultScreen
from kiosk.ui.screens.verify_face import VerifyFaceScreen

SCREEN_OF: dict[Step, type[Screen]] = {
    Step.ATTRACT: AttractScreen,
    Step.SIGNUP_EMAIL: EmailScreen,
    Step.SIGNIN_EMAIL: EmailScreen,
    Step.RESET_EMAIL: EmailScreen,
    Step.SIGNUP_PASSWORD: PasswordScreen,
    Step.SIGNIN_PASSWORD: PasswordScreen,
    Step.RESET_PASSWORD: PasswordScreen,
    Step.SIGNUP_CONFIRM: ConfirmScreen,
    Step.RESET_CONFIRM: ConfirmScreen,
    Step.SIGNUP_CONSENT: ConsentScreen,
    Step.SIGNUP_FACE: EnrollFaceScreen,
    Step.RESET_FACE: VerifyFaceScreen,
    Step.RESET_REFUSED: RefusedScreen,
    Step.SIGNUP_DONE: ResultScreen,
    Step.RESET_DONE: ResultScreen,
    Step.WELCOME: ResultScreen,
    Step.LOCKED: LockedScreen,
    Step.PROBLEM: ProblemScreen,
    Step.ADMIN_PIN: AdminPinScreen,
    Step.ADMIN: AdminScreen,
}


def screen_for(step: Step, ctx: Context) -> Screen:
    return SCREEN_OF[step](ctx)


__all__ = ["Context", "SCREEN_OF", "Screen", "screen_for"]
