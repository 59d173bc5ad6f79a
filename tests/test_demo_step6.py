"""Demo step 6 (a photo held up with the liveness challenge on) counts only the refusal it
is meant to show: a prompt on the screen, left unanswered. Under emulation the demo once
printed ``prompt "None" unanswered ... (not_steady)`` and still passed."""

from kiosk.daemon.demo import judge_unanswered_prompt


def evidence(reason: str, shown: list[str], outcome: str | None = None) -> dict:
    """The shape of LivenessResult.to_audit(), which the flow's outcome carries."""
    challenge = {
        "passed": not reason, "reason": reason, "prompts": ["turn_left", "blink_twice"],
        "evidence": [{"prompt": p, "outcome": outcome or reason} for p in shown],
    }
    return {"passed": not reason, "reason": reason, "challenge": challenge, "passive": None}


MESSAGE = "Please follow each instruction as soon as it appears."


def test_unanswered_prompt_passes():
    ok, detail = judge_unanswered_prompt(True, ["turn_left"], evidence("too_late", ["turn_left"]), MESSAGE, 3.0)
    assert ok, detail
    assert "turn_left" in detail and "too_late" in detail


def test_refusal_before_any_prompt_fails():
    """What the emulated Pi showed: the face never settled in time, no prompt appeared."""
    ok, detail = judge_unanswered_prompt(True, [""], evidence("not_steady", []), MESSAGE, 4.0)
    assert not ok and "no prompt was shown" in detail


def test_other_liveness_refusal_after_a_prompt_fails():
    ok, detail = judge_unanswered_prompt(True, ["turn_left"], evidence("face_lost", ["turn_left"]), MESSAGE, 1.0)
    assert not ok and "face_lost" in detail


def test_prompt_recorded_but_never_on_screen_fails():
    ok, _ = judge_unanswered_prompt(True, [], evidence("too_late", ["turn_left"]), MESSAGE, 1.0)
    assert not ok


def test_not_refused_or_passed_fails():
    assert not judge_unanswered_prompt(False, ["turn_left"], evidence("too_late", ["turn_left"]), MESSAGE, 1.0)[0]
    passed = dict(evidence("", ["turn_left"], outcome="ok"), passed=True)
    assert not judge_unanswered_prompt(True, ["turn_left"], passed, MESSAGE, 1.0)[0]
    assert not judge_unanswered_prompt(True, ["turn_left"], None, MESSAGE, 1.0)[0]
