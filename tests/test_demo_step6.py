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


def test_a_slow_machine_gets_more_time_not_wider_answer_windows(tmp_path):
    """Under emulation one frame took seconds and the capture timed out (0 of 6): the demo
    now scales its waits and the flow's timeouts by how slow a frame's analysis is, never
    the liveness challenge's answer windows (step 6 is about missing them)."""
    from kiosk.config import parse_config
    from kiosk.daemon.demo import MAX_TIME_SCALE, scaled_settings, time_scale

    assert time_scale(0.04) == 1.0  # this machine's usual frame: nothing changes
    assert time_scale(3.0) == 20.0
    assert time_scale(1e6) == MAX_TIME_SCALE
    settings = parse_config({}, base_dir=tmp_path)
    assert scaled_settings(settings, 1.0) is settings
    slow = scaled_settings(settings, 20.0)
    for key in ("capture_timeout_s", "verify_timeout_s", "idle_timeout_s", "result_timeout_s"):
        assert getattr(slow.ui, key) == 20.0 * getattr(settings.ui, key)
    assert slow.liveness.settle_timeout_s == 20.0 * settings.liveness.settle_timeout_s
    windows = ("onset_min_s", "onset_max_s", "complete_within_s")
    assert [getattr(slow.liveness, k) for k in windows] == [getattr(settings.liveness, k) for k in windows]
    assert slow.ui.idle_warning_s == settings.ui.idle_warning_s


def test_the_liveness_factory_takes_new_settings_for_the_next_challenge(pipeline, settings):
    """The demo widens the challenge's settle time on a slow machine; liveness is a
    restart-only section, so the kiosk's factory holds settings the demo can replace."""
    from kiosk.assembly import liveness_checks
    from kiosk.daemon.demo import scaled_settings

    checks = liveness_checks(settings, pipeline)
    assert checks().settings.settle_timeout_s == settings.liveness.settle_timeout_s
    checks.settings = scaled_settings(settings, 50.0).liveness
    assert checks().settings.settle_timeout_s == 50.0 * settings.liveness.settle_timeout_s
