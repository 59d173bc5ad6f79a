"""Admin: the PIN, then the kiosk's state (sync, users, camera, model, version)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from kiosk.flows import accounts
from kiosk.flows.jobs import Done
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.i18n import N_

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow


def submit_pin(flow: Flow) -> None:
    typed = flow.session.fields[Field.PIN].encode()
    flow.session.fields[Field.PIN] = ""
    pin = flow.config.admin_pin
    if pin and hmac.compare_digest(typed, pin.encode()):
        flow.admin_failures = 0
        flow.go(PANEL)
        flow.run_job(JobKind.COUNT_USERS, accounts.admin_facts(), N_("One moment..."), counted)
        return
    flow.admin_failures += 1
    if flow.admin_failures >= flow.config.admin_max_tries:
        flow.admin_failures = 0
        flow.admin_blocked_until = flow.clock() + flow.config.admin_cooldown_s
        flow.wipe()
        return
    flow.say(N_("Wrong PIN"))


def counted(flow: Flow, done: Done) -> None:
    if isinstance(done.value, accounts.AdminFacts):
        flow.session.user_count = done.value.users
        flow.session.held_for_review = done.value.held_for_review


PIN = StepSpec(
    "admin_pin", screen="admin_pin", title=N_("Admin: enter the PIN"), back=Back.START, field=Field.PIN,
    submit_label=N_("OK"), on_submit=submit_pin,
)
PANEL = StepSpec("admin", screen="admin", title=N_("Admin"), back=Back.NONE, submit_label=N_("Close"))

JOURNEY = Journey("admin", (PIN, PANEL), start=Action.ADMIN, entry=PIN, available=lambda flow: flow.admin_available)
