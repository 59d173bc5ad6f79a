"""Problem screens: each shows its own buttons, and each button does what its text says.

The stale-button bug: the UI re-entered a screen only when the step or the person
changed, so a second problem screen in a row ("Your account was not saved", then "This
email is already registered") kept the first one's buttons: "Try again" retried the
save in a loop instead of offering Sign in / Forgot password.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from kiosk.errors import StoreError, ValidationError
from kiosk.flows import Step
from kiosk.flows.jobs import Done
from kiosk.flows.journeys import signin, signup
from kiosk.flows.steps import Action, JobKind
from kiosk.store.emails import normalize_email
from kiosk.store.errors import DuplicateFaceError, EmailTakenError
from ui_support import Driver, make_app

ERRORS = {
    "not-saved": StoreError("disk full"),
    "email-taken": EmailTakenError("x"),
    "duplicate-face": DuplicateFaceError("x", "id", 0.1),
    "not-accepted": ValidationError("x"),
}


def button_names(driver: Driver) -> list[str]:
    return sorted(getattr(widget, "name", "?") for widget in driver.screen.widgets)


def expected_names(driver: Driver) -> list[str]:
    problem = driver.flow.session.problem
    assert problem is not None
    own = [action.value for _, action in problem.actions if action is not Action.START_OVER]
    return sorted(own + ["start over"])


def fail_save(driver: Driver, error: BaseException) -> None:
    flow = driver.flow
    signup.saved(flow, Done((flow.session.id, JobKind.ENROLL), error=error))
    driver.step()


@pytest.mark.parametrize("first", list(ERRORS))
@pytest.mark.parametrize("second", list(ERRORS))
def test_a_second_problem_in_a_row_shows_its_own_buttons(tmp_path, pipeline, first, second):
    app = make_app(tmp_path, pipeline)
    driver = Driver(app)
    try:
        driver.step()
        fail_save(driver, ERRORS[first])
        assert driver.flow.step is Step.PROBLEM
        assert button_names(driver) == expected_names(driver)
        fail_save(driver, ERRORS[second])
        assert button_names(driver) == expected_names(driver), f"{first} then {second}"
    finally:
        app.close()


def test_after_not_saved_then_email_taken_sign_in_leads_to_sign_in(tmp_path, pipeline):
    app = make_app(tmp_path, pipeline)
    driver = Driver(app)
    try:
        driver.step()
        fail_save(driver, ERRORS["not-saved"])
        fail_save(driver, ERRORS["email-taken"])
        names = button_names(driver)
        assert "retry_save" not in names, names
        driver.press("signin")
        assert driver.flow.step is signin.EMAIL
    finally:
        app.close()


def test_every_problem_button_does_what_it_says(tmp_path, pipeline):
    """Each problem's buttons lead where their labels say (Sign in to sign in, Forgot
    password to the reset, Try again retries, Start over to the start screen)."""
    app = make_app(tmp_path, pipeline)
    driver = Driver(app)
    from kiosk.flows.journeys import reset

    where = {Action.SIGNIN: signin.EMAIL, Action.RESET: reset.EMAIL, Action.SIGNUP: signup.EMAIL}
    try:
        driver.step()
        for name, error in ERRORS.items():
            fail_save(driver, error)
            problem = driver.flow.session.problem
            assert problem is not None
            for _, action in problem.actions:
                fail_save(driver, error)
                if action is Action.START_OVER:
                    driver.press("start over")
                    assert driver.flow.step is Step.ATTRACT, name
                elif action in where:
                    driver.press(action.value)
                    assert driver.flow.step is where[action], (name, action)
                elif action is Action.RETRY_SAVE:
                    session = driver.flow.session
                    session.email = normalize_email("ann@example.org")
                    session.capture = SimpleNamespace(sample_sets=[{driver.flow.rules.model_id: np.ones(128, np.float32)}], wipe=lambda: None)  # type: ignore[assignment]
                    driver.press(action.value)
                    assert session.pending is JobKind.ENROLL, name  # the save runs again
                    driver.wait_for(lambda: driver.flow.session.pending is None, what="the retried save")
                else:
                    raise AssertionError(f"{name}: untested button {action}")
            driver.flow.wipe()
            driver.step()
    finally:
        app.close()
