"""Choosing a new password, shared by sign-up and forgot password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.flows.steps import Field, StepSpec
from kiosk.flows.validation import password_ok
from kiosk.i18n import N_

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow


def submit_new_password(flow: Flow, confirm_step: StepSpec) -> None:
    """A new password: checked against the rules, then typed again on ``confirm_step``."""
    session = flow.session
    if not password_ok(session.fields[Field.PASSWORD], session.email, flow.config.passwords):
        failing = [check for check in flow.password_feedback() if not check.ok]
        flow.say(failing[0].text if failing else N_("This password cannot be used"))
        return
    flow.go(confirm_step)


def confirmed(flow: Flow) -> bool:
    """The second typing matches the first; if not, it is cleared and the person told."""
    fields = flow.session.fields
    if fields[Field.CONFIRM] == fields[Field.PASSWORD]:
        return True
    fields[Field.CONFIRM] = ""
    flow.say(N_("The passwords are not the same. Type it again."))
    return False
