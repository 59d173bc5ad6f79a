"""A first missed prompt gets one new challenge before it counts; nothing else does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.flows.faces import FaceObservation
from kiosk.flows.liveness import MISSED_PROMPT, RETRY, LivenessVerifier
from kiosk.liveness.challenge import Status


@dataclass
class Result:
    reason: str
    passed: bool = False

    def to_audit(self) -> dict:
        return {"passed": self.passed, "reason": self.reason}


class FailingCheck:
    """A check that fails with ``reason`` on its first frame."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.result: Result | None = None

    def feed(self, image_rgb: np.ndarray, t: float) -> Status:
        self.result = Result(self.reason)
        return Status("failed", None, 0, 2, 0.0, reason=self.reason)

    def abort(self, reason: str, t: float) -> Status:
        self.result = Result(reason)
        return Status("failed", None, 0, 2, 0.0, reason=reason)

    def tracked_box(self) -> np.ndarray | None:
        return np.array([10.0, 10.0, 50.0, 50.0])


def run(verifier: LivenessVerifier, now: float):
    observation = verifier.analyze_frame(np.zeros((60, 60, 3), np.uint8), now, 1)
    assert isinstance(observation, FaceObservation)
    return verifier.feed(observation, now)


def test_a_first_missed_prompt_gets_one_new_challenge_then_counts():
    made: list[FailingCheck] = []

    def restart() -> FailingCheck:
        made.append(FailingCheck(MISSED_PROMPT))
        return made[-1]

    verifier = LivenessVerifier(FailingCheck(MISSED_PROMPT), None, None, 0.0, 15.0, restart=restart)  # type: ignore[arg-type]
    assert run(verifier, 1.0) is None  # not decided: a new challenge instead
    assert verifier.retried and len(made) == 1 and verifier.guidance is RETRY and verifier.deadline == 16.0
    outcome = run(verifier, 2.0)
    assert outcome is not None and outcome.counts and not outcome.accepted
    assert outcome.liveness["retry_of"] == {"passed": False, "reason": MISSED_PROMPT}
    assert len(made) == 1  # one retry only


def test_other_failures_and_no_restart_count_at_once():
    for reason, restart in (("too_early", lambda: FailingCheck("too_early")), (MISSED_PROMPT, None)):
        verifier = LivenessVerifier(FailingCheck(reason), None, None, 0.0, 15.0, restart=restart)  # type: ignore[arg-type]
        outcome = run(verifier, 1.0)
        assert outcome is not None and outcome.counts, reason
        assert not verifier.retried
