"""The template upgrade: a person whose templates lack one of the kiosk's models is asked,
right after a password sign-in, for a few face pictures; they may skip; the new model's
templates are added only if the pictures match the face the account already has.

The kiosk here runs two models: the real dlib model and a second one that gives the same
vectors under another id (so the real pipeline's faces of the scripted people serve for
both, and the fused score has two parts)."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.flows import FaceRules, Step
from kiosk.flows.faces import ModelRule
from kiosk.vision.fusion import Fusion
from test_flows import PASSWORD, Kiosk
from ui_support import PERSON_A, PERSON_B, WIDE_YAW, lenient_pipeline, observe_person

SECOND = ModelRule("second/fp32@0123456789abcdef", "second", "euclidean")


def with_second(faces):
    """The same faces, with the second model's embedding beside the primary's."""
    return [dataclasses.replace(f, embeddings={**f.embeddings, SECOND.model_id: f.embedding}) for f in faces]


@pytest.fixture(scope="module")
def rules(pipeline, settings):
    one = FaceRules.from_pipeline(pipeline, settings)
    primary = one.models[0]
    points = one.fusion.points[primary.name]
    stats = one.fusion.models[primary.name]  # the second model scores like the first
    fusion = Fusion(
        {primary.name: stats, SECOND.name: stats},
        {key: points for key in (primary.name, SECOND.name, "+".join(sorted((primary.name, SECOND.name))))},
        attempt_frames=1,
    )
    return dataclasses.replace(one, models=(primary, SECOND), fusion=fusion)


@pytest.fixture(scope="module")
def faces_a(pipeline):
    return with_second(observe_person(pipeline, PERSON_A))


@pytest.fixture(scope="module")
def faces_b(pipeline):
    return with_second(observe_person(lenient_pipeline(pipeline, **WIDE_YAW), PERSON_B))


@pytest.fixture
def kiosk(tmp_path, rules):
    k = Kiosk(tmp_path, rules)
    yield k
    k.jobs.close()


def enroll_primary_only(kiosk, email, faces):
    primary = kiosk.flow.rules.model_id
    kiosk.store.enroll(email, PASSWORD, [f.embedding for f in faces[:5]], primary)


def sign_in(kiosk, email):
    kiosk.flow.act("signin")
    kiosk.enter(email)
    kiosk.enter(PASSWORD)


def test_the_upgrade_is_offered_may_be_skipped_and_adds_the_new_models_templates(kiosk, faces_a):
    enroll_primary_only(kiosk, "ann@example.org", faces_a)
    flow = kiosk.flow
    sign_in(kiosk, "ann@example.org")
    assert flow.step == Step.SIGNIN_UPGRADE_OFFER
    flow.act("decline")
    assert flow.step == Step.WELCOME
    flow.act("finish")

    sign_in(kiosk, "ann@example.org")  # asked again next time
    assert flow.step == Step.SIGNIN_UPGRADE_OFFER
    flow.act("agree")
    assert flow.step == Step.SIGNIN_UPGRADE_FACE
    kiosk.show(faces_a)
    assert flow.step == Step.WELCOME, flow.session.problem
    assert flow.session.message.msgid.startswith("Thank you")
    assert kiosk.event_names()[-1] == "templates_added"
    assert SECOND.model_id in kiosk.store.get_user("ann@example.org").model_ids()
    flow.act("finish")

    sign_in(kiosk, "ann@example.org")  # nothing missing any more
    assert flow.step == Step.WELCOME


def test_another_face_cannot_be_added_with_the_password_alone(kiosk, faces_a, faces_b):
    """The attack: someone who knows Ann's password puts their own face on her account
    through the upgrade, to reset her password by face later."""
    enroll_primary_only(kiosk, "ann@example.org", faces_a)
    flow = kiosk.flow
    sign_in(kiosk, "ann@example.org")
    flow.act("agree")
    kiosk.show(faces_b)
    assert flow.step == Step.PROBLEM
    assert flow.session.problem.title.msgid == "We could not add the pictures"
    assert kiosk.event_names()[-1] == "templates_refused"
    assert kiosk.store.get_user("ann@example.org").model_ids() == {flow.rules.model_id}


def test_a_reset_uses_the_models_the_person_has_until_then(kiosk, faces_a):
    enroll_primary_only(kiosk, "ann@example.org", faces_a)
    kiosk.start_reset("ann@example.org")
    kiosk.show(faces_a)
    assert kiosk.flow.step == Step.RESET_PASSWORD
