"""benchmarks/sync.py runs end to end at a small scale and prints the promised JSON keys
(the figures themselves come from a full run, never from asserts)."""

from __future__ import annotations

import pytest

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sync_benchmark_json_keys() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/sync.py", "--users", "200", "--changes", "5", "--drain", "20", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    for key in ("initial_sync_s", "initial_sync_peak_rss_mb", "propagation_p50_s", "propagation_p95_s", "outbox_drain_per_s"):
        assert isinstance(report[key], float) and report[key] > 0, key
    assert report["initial_sync_users"] == 200 and report["propagation_changes"] == 5
    assert set(report["targets"]) == {"initial_sync_s", "propagation_p95_s"}
