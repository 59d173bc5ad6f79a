"""Every declared step of every journey is complete: a screen that exists, a Back rule, a
title translated in every shipped language; and the journal's events are the README's."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest

from kiosk.daemon.logs import ServiceEvent
from kiosk.flows.events import EventName
from kiosk.flows.journeys import JOURNEYS, Step, all_steps
from kiosk.flows.steps import Back, StepSpec
from kiosk.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, Text
from kiosk.ui.screens import SCREENS
from kiosk.ui.screens.base import EntryScreen, FaceScreen

REPO = Path(__file__).resolve().parents[1]
STEPS = all_steps()


class _Missing(gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return ""


def translated(language: str, msgid: str) -> str:
    """The compiled catalog's translation of ``msgid``; "" when it has none."""
    translations = gettext.translation(DOMAIN, LOCALE_DIR, [language])
    translations.add_fallback(_Missing())
    return translations.gettext(msgid).strip()


@pytest.mark.parametrize("step", STEPS, ids=[step.name for step in STEPS])
def test_step_is_complete(step: StepSpec):
    assert step.screen in SCREENS, f"{step.name}: no screen {step.screen!r}"
    screen = SCREENS[step.screen]
    assert isinstance(step.back, (Back, StepSpec)), f"{step.name}: no Back rule"
    if isinstance(step.back, StepSpec):
        assert step.back in STEPS, f"{step.name}: Back goes to an undeclared step"
    assert isinstance(step.title, Text) and step.title.msgid, f"{step.name}: no title"
    assert (step.field is not None) == issubclass(screen, EntryScreen), f"{step.name}: field and screen disagree"
    assert step.camera == issubclass(screen, FaceScreen), f"{step.name}: camera and screen disagree"
    for text in (step.title, step.submit_label):
        if text is None:
            continue
        for language in LANGUAGES:
            assert translated(language, text.msgid), f"{step.name}: {text.msgid!r} has no {language} translation"


def test_step_names_are_unique_and_findable():
    assert len({step.name for step in STEPS}) == len(STEPS)
    assert Step.RESET_FACE.name == "reset_face"
    with pytest.raises(AttributeError):
        Step.NO_SUCH_STEP  # noqa: B018


def test_journeys_enter_at_one_of_their_own_steps():
    for journey in JOURNEYS[1:]:
        assert journey.start is not None and journey.entry in journey.steps, journey.name


def readme_events() -> set[str]:
    text = (REPO / "README.md").read_text()
    match = re.search(r"^Events: (.*?)\.(?: |$)", text, re.MULTILINE | re.DOTALL)
    assert match, "the README's list of journal events (a paragraph starting 'Events:')"
    return set(re.findall(r"`([a-z_]+)`", match.group(1)))


def test_readme_lists_every_event_the_code_can_emit_and_no_other():
    code = {event.value for event in EventName} | {event.value for event in ServiceEvent}
    listed = readme_events()
    assert code - listed == set(), "events the README does not list"
    assert listed - code == set(), "events the README lists that the code cannot emit"


def test_every_service_event_is_logged_somewhere():
    """The journeys' events are emitted in tests (test_flows); the service's own are each
    logged by some line of kiosk/daemon."""
    used: set[str] = set()
    for path in (REPO / "kiosk" / "daemon").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ServiceEvent":
                used.add(node.attr)
    assert {event.name for event in ServiceEvent} - used == set()
