"""Admin: the PIN, then the kiosk's state (sync, users, camera, model, version).

The PIN is checked by the store (kiosk.store.admin_pin), off the UI thread: against its
argon2id hash, with the tries counted in the database (a restart does not reset them),
a growing wait after wrong ones, and every failure in the audit log.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from kiosk.flows import accounts
from kiosk.flows.jobs import Done
from kiosk.flows.steps import Action, Back, Field, JobKind, Journey, StepSpec
from kiosk.i18n import N_, NP_
from kiosk.store.admin_pin import PinCheck

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow


def submit_pin(flow: Flow) -> None:
    typed = flow.session.fields[Field.PIN]
    flow.session.fields[Field.PIN] = ""
    flow.run_job(JobKind.ADMIN_PIN, accounts.check_admin_pin(typed, flow.config.admin_pin_hash), N_("Checking..."), checked)


def checked(flow: Flow, done: Done) -> None:
    result = done.value
    if not isinstance(result, PinCheck):
        flow.store_failed(done.error)
        return
    if result.ok:
        flow.go(PANEL)
        flow.run_job(JobKind.COUNT_USERS, accounts.admin_facts(), N_("One moment..."), counted)
        return
    if result.wait_s > 0:
        seconds = math.ceil(result.wait_s)
        if seconds >= 60:
            minutes = math.ceil(seconds / 60)
            flow.say(NP_("Too many wrong PINs. Try again in {n} minute.", "Too many wrong PINs. Try again in {n} minutes.", minutes))
        else:
            flow.say(NP_("Too many wrong PINs. Try again in {n} second.", "Too many wrong PINs. Try again in {n} seconds.", seconds))
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
