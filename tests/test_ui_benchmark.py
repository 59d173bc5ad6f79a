"""benchmarks/ui.py runs end to end and prints the promised keys (not a timing check)."""

from __future__ import annotations

import pytest

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ui_benchmark_json_keys():
    result = subprocess.run(
        [sys.executable, "benchmarks/ui.py", "--json", "--seconds", "2", "--taps", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    for key in ("preview_fps", "frame_time_p95_ms", "tap_to_response_p95_ms", "press_feedback_p95_ms", "analyses_per_s"):
        assert isinstance(report[key], float) and report[key] > 0, key
    assert report["taps_seen"] == 4 and report["camera_frame"] == "640x480"
