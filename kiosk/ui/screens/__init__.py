"""One module per screen; a step names its screen (``StepSpec.screen``), found here."""

from __future__ import annotations

from kiosk.flows.steps import StepSpec
from kiosk.ui.screens.admin import AdminScreen
from kiosk.ui.screens.admin_pin import AdminPinScreen
from kiosk.ui.screens.attract import AttractScreen
from kiosk.ui.screens.base import Context, Screen
from kiosk.ui.screens.confirm import ConfirmScreen
from kiosk.ui.screens.consent import ConsentScreen
from kiosk.ui.screens.email import EmailScreen
from kiosk.ui.screens.email_code import EmailCodeScreen
from kiosk.ui.screens.enroll_face import EnrollFaceScreen
from kiosk.ui.screens.locked import LockedScreen
from kiosk.ui.screens.new_password import NewPasswordScreen
from kiosk.ui.screens.offer import OfferScreen
from kiosk.ui.screens.password import PasswordScreen
from kiosk.ui.screens.problem import ProblemScreen
from kiosk.ui.screens.refused import RefusedScreen
from kiosk.ui.screens.reset_choice import ResetChoiceScreen
from kiosk.ui.screens.result import ResultScreen
from kiosk.ui.screens.verify_face import VerifyFaceScreen

SCREENS: dict[str, type[Screen]] = {
    screen.name: screen
    for screen in (
        AdminScreen, AdminPinScreen, AttractScreen, ConfirmScreen, ConsentScreen, EmailScreen, EmailCodeScreen, EnrollFaceScreen,
        LockedScreen, NewPasswordScreen, OfferScreen, PasswordScreen, ProblemScreen, RefusedScreen, ResetChoiceScreen, ResultScreen, VerifyFaceScreen,
    )
}


def screen_class(step: StepSpec) -> type[Screen]:
    """The screen that draws ``step``; KeyError naming the step if there is none."""
    try:
        return SCREENS[step.screen]
    except KeyError:
        raise KeyError(f"step {step.name} names screen {step.screen!r}, which does not exist") from None


__all__ = ["Context", "SCREENS", "Screen", "screen_class"]
