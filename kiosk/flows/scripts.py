"""Journeys played by a script instead of a person: the demo, the daemon's test hooks and
the UI tests drive sign-ups and password resets through these, so there is one of each.

A script is a generator. It acts through an :class:`Actor` (the flow's own methods, or
touches on the real screen), and yields while it waits for the kiosk: ``None`` means
"step the kiosk once and come back"; a :class:`Mark` tells the caller where the journey
is (for example, to put a face in front of the camera once the face check is on screen,
or to save a screenshot).
"""

from __future__ import annotations

from enum import Enum
from typing import Iterator, Protocol

from kiosk.flows.journeys import reset, signup
from kiosk.flows.machine import Flow
from kiosk.flows.steps import Action


class Mark(str, Enum):
    EMAIL_TYPED = "email typed"
    PASSWORD_TYPED = "password typed"
    FACE_CHECK = "face check"  # the face check is on screen: show a face now
    FACE_SEEN = "face seen"  # the kiosk has analysed a face on this screen
    VERDICT = "verdict"  # the reset's decision is on screen (or the journey ended)
    CONSENT = "consent"  # sign-up's consent screen, before agreeing
    CAPTURING = "capturing"  # sign-up's face step is on screen: show a face now
    SAVED = "saved"  # sign-up ended (account saved, or refused)


class Actor(Protocol):
    """Someone at the kiosk: presses buttons, types into the field, presses submit."""

    def press(self, action: Action) -> None: ...

    def type(self, text: str) -> None: ...

    def submit(self) -> None: ...

    def face_seen(self) -> bool:
        """A face result of the current screen has arrived."""


class FlowActor:
    """Acts through the flow's methods (the calls the screens make), with no screen."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def press(self, action: Action) -> None:
        self.flow.act(action)

    def type(self, text: str) -> None:
        self.flow.set_text(self.flow.text + text)

    def submit(self) -> None:
        self.flow.submit()

    def face_seen(self) -> bool:
        return True


def _settled(flow: Flow) -> bool:
    return flow.busy is None


def reset_attempt(flow: Flow, actor: Actor, email: str, stay: bool = False) -> Iterator[Mark | None]:
    """Forgot password for ``email``, up to the verdict: the new-password screen, the
    refusal, a lock, a problem, or the start screen (the kiosk wiped the session).
    ``stay``: keep the idle timeout away, as a person standing there would."""
    actor.press(Action.RESET)
    actor.type(email)
    yield Mark.EMAIL_TYPED
    actor.submit()
    while flow.step is reset.EMAIL or not _settled(flow):
        refused = flow.step is reset.EMAIL and _settled(flow) and flow.session.message is not None
        if flow.step is flow.home or refused:  # wiped, or the email was not accepted
            yield Mark.VERDICT
            return
        yield None
    if flow.step is reset.FACE:
        yield Mark.FACE_CHECK
        while flow.step is reset.FACE and not actor.face_seen():
            if stay:
                flow.activity()
            yield None
        if flow.step is reset.FACE:
            yield Mark.FACE_SEEN
    while flow.step is reset.FACE or not _settled(flow):
        if stay:
            flow.activity()
        yield None
    yield Mark.VERDICT


def sign_up(flow: Flow, actor: Actor, email: str, password: str) -> Iterator[Mark | None]:
    """Sign up with ``email`` and ``password`` and the camera's face, until the account is
    saved or refused (or the session is wiped)."""
    actor.press(Action.SIGNUP)
    actor.type(email)
    yield Mark.EMAIL_TYPED
    actor.submit()
    for _ in range(2):  # the password, then its confirmation
        actor.type(password)
        yield Mark.PASSWORD_TYPED
        actor.submit()
    yield Mark.CONSENT
    actor.press(Action.AGREE)
    yield Mark.CAPTURING
    while (flow.step is signup.FACE or not _settled(flow)) and flow.step is not flow.home:
        yield None
    yield Mark.SAVED
