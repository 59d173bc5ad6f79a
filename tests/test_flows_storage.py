"""A full disk under the real store, through the journeys: the person is told that the
change cannot be saved right now (not "something went wrong"), the journal gets one
storage_problem event, nothing is half-saved, and sign-up works again once there is room.
The disk is the forgetting filesystem of tests/fusefs.py (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusefs import fuse_available, mounted
from kiosk.flows import FaceRules, Step
from test_flows import PASSWORD, Kiosk
from ui_support import PERSON_A, observe_person, synthetic_face

pytestmark = pytest.mark.skipif(bool(fuse_available()), reason=fuse_available() or "")


@pytest.fixture(scope="module")
def rules(pipeline, settings):
    return FaceRules.from_pipeline(pipeline, settings)


@pytest.fixture(scope="module")
def faces_a(pipeline):
    return observe_person(pipeline, PERSON_A)


def test_a_full_disk_is_told_as_such_and_sign_up_resumes_with_room(tmp_path: Path, rules, faces_a) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    with mounted(seed, tmp_path / "mnt") as mount:
        kiosk = Kiosk(tmp_path / "mnt", rules)
        try:
            flow = kiosk.flow
            kiosk.sign_up("ann@example.org", faces_a)
            assert flow.step == Step.SIGNUP_DONE
            flow.act("finish")
            mount.fault("enospc")
            for i in range(40):  # the WAL has some room left: one of these needs new space
                kiosk.sign_up(f"stranger{i}@example.org", [synthetic_face(100 + i)] * 5, password=PASSWORD)
                if flow.step == Step.PROBLEM:
                    break
                flow.act("finish")
            assert flow.step == Step.PROBLEM, "the full disk was never hit"
            assert flow.session.problem.title.msgid == "This kiosk cannot save changes right now"
            storage = [e for e in kiosk.events if e.name.value == "storage_problem"]
            assert [e.reason for e in storage] == ["full"]
            refused = f"stranger{i}@example.org"
            flow.act("start_over")
            mount.fault(None)
            kiosk.sign_up(refused, [synthetic_face(100 + i)] * 5)
            assert flow.step == Step.SIGNUP_DONE  # room again: the same sign-up goes through
            assert len(kiosk.store.get_user(refused).templates) == 5
        finally:
            kiosk.jobs.close()
