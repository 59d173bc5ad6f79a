"""benchmarks/fleet.py runs end to end at a small scale: a kiosk's stream events do not grow
with the fleet on /ring, and do on all of /kiosks (the design before issue 14). The figures
themselves come from a full run (README: Measured)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(design: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "benchmarks/fleet.py", "--kiosks", "3,9", "--duration-s", "6", "--changes-per-min", "30",
         "--heartbeat-s", "1", "--keepalive-s", "1", "--catchup-interval-s", "30", "--design", design, "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)["results"]


@pytest.mark.slow
def test_fleet_benchmark_per_kiosk_events_are_flat_on_the_ring_only() -> None:
    small, large = run("new")
    for row in (small, large):
        assert row["propagation_samples"] > 0 and row["propagation_p95_s"] is not None
        assert row["catchup_queries_per_change_per_kiosk"] <= 1.0
    assert large["events_per_kiosk_per_min"] <= small["events_per_kiosk_per_min"] * 1.5 + 2
    old_small, old_large = run("old")
    assert old_large["events_per_kiosk_per_min"] > old_small["events_per_kiosk_per_min"] * 2  # every heartbeat rings everyone
