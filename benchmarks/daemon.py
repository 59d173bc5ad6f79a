"""The kiosk daemon over time: start to READY, memory and CPU idle and while verifying.

    python benchmarks/daemon.py [--json] [--minutes N] [--idle-seconds S]

Runs the real daemon (``python -m kiosk run``) as systemd would: a NOTIFY_SOCKET bound
here, WATCHDOG_USEC=10 s (the unit's WatchdogSec), SDL's dummy video driver, a camera
reading an image folder of the public-domain astronaut portrait at 30 fps, a fresh store
and template key in a temp folder, the default argon2 parameters. Phases:

1. **Start.** ``start_to_ready_s``: from spawning the process (interpreter start and
   imports included) to the READY=1 datagram; ``service_ready_s``: the daemon's own
   figure, from its start-up log line to READY.
2. **Idle** for ``--idle-seconds``: the start screen, camera running, nobody there.
   ``idle_rss_mb`` (median VmRSS), ``idle_cpu_pct`` (user+system time over wall time, in
   % of one core).
3. **Verifying** for ``--minutes`` (the soak). Through the daemon's test hook
   (FACEKIOSK_TEST_HOOKS=1, SIGUSR2) it enrolls the person in front of the camera and
   then runs "forgot password" with that face over and over: the face worker analyses
   frames continuously, every verdict goes through the store (audit row) and the loop
   starts the next reset. ``verify_rss_mb`` and ``verify_cpu_pct`` as above;
   ``rss_growth_pct``: the median VmRSS of the soak's last 30 s against that of the 30 s
   after a warm-up (the first 30 s, or a fifth of a short soak), the leak indicator
   (target <= 5%). ``resets_per_min``: verdicts reached; ``watchdog_max_gap_s``: the
   longest time between two WATCHDOG=1 pings during the soak (5 s expected).
4. **Stop.** SIGTERM; ``stop_s`` and ``exit_status`` (0 expected, within 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from daemon_support import NotifySocket  # noqa: E402 - the tests' sd_notify receiver

WATCHDOG_USEC = 10_000_000
SAMPLE_EVERY_S = 1.0
WINDOW_S = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def sample(pid: int, seconds: float, proc: subprocess.Popen) -> tuple[list[tuple[float, float]], float]:
    """(time, RSS MB) every second for ``seconds``; and the CPU use in % of one core."""
    samples = []
    start, cpu0 = time.monotonic(), cpu_seconds(pid)
    end = start + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {proc.returncode}")
        samples.append((time.monotonic() - start, rss_mb(pid)))
        time.sleep(min(SAMPLE_EVERY_S, max(0.0, end - time.monotonic())))
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - start) * 100
    return samples, cpu


def growth_pct(samples: list[tuple[float, float]], duration: float) -> tuple[float, float, float]:
    warmup = min(WINDOW_S, duration / 5)
    window = min(WINDOW_S, duration / 5)
    first = [rss for at, rss in samples if warmup <= at < warmup + window]
    last = [rss for at, rss in samples if at >= duration - window]
    base, final = statistics.median(first), statistics.median(last)
    return (final - base) / base * 100, base, final


def write_setup(workdir: Path) -> Path:
    import yaml

    from kiosk.camera.scripted import PERSON_A, person_frames, write_folder

    write_folder(person_frames(PERSON_A), workdir / "frames")
    key = workdir / "template-key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    config = {
        "models": {"dir": str(REPO / "models")},
        "store": {"path": "state/facekiosk.db", "key_file": "template-key"},
        "camera": {"source": "images", "path": "frames", "fps": 30.0},
        "ui": {"fullscreen": False, "width": 800, "height": 480},
        # The camera shows a still picture: it cannot answer the liveness prompts, and
        # every reset would end in a refusal and soon a lockout. The soak measures the
        # face comparison path.
        "liveness": {"required_for_reset": False},
    }
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {what} (exit {proc.poll()}):\n{log.read_text()[-2000:]}")
        time.sleep(0.01)


def run(minutes: float, idle_seconds: float) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="fk-bench-", dir="/tmp"))
    notify = NotifySocket()
    log_path = workdir / "daemon.log"
    config = write_setup(workdir)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "JOURNAL_STREAM", "WATCHDOG_PID")}
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYTHONUNBUFFERED="1", NOTIFY_SOCKET=str(notify.path),
               WATCHDOG_USEC=str(WATCHDOG_USEC), FACEKIOSK_TEST_HOOKS="1", FACEKIOSK_TEST_JOURNEY="enroll,reset-loop")
    log = open(log_path, "w")
    spawned = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(config), "run"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: bool(notify.times("READY=1")), 120, "READY=1", proc, log_path)
        start_to_ready = notify.times("READY=1")[0] - spawned
        text = log_path.read_text()
        service_ready = float(text.split("ready after ")[1].split(" s")[0])

        idle, idle_cpu = sample(proc.pid, idle_seconds, proc)

        proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: "event=enrolled" in log_path.read_text(), 120, "enrollment", proc, log_path)
        soak_started = time.monotonic()
        duration = minutes * 60
        soak, soak_cpu = sample(proc.pid, duration, proc)
        growth, base, final = growth_pct(soak, duration)
        pings = [at for at in notify.times("WATCHDOG=1") if at >= soak_started]
        gaps = [b - a for a, b in zip([soak_started] + pings, pings + [time.monotonic()])]
        peak = peak_rss_mb(proc.pid)

        stop_started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(30)
        stop_s = time.monotonic() - stop_started
        text = log_path.read_text()
        accepted, refused = text.count("event=reset_accepted"), text.count("event=reset_refused")
        return {
            "start_to_ready_s": round(start_to_ready, 3),
            "service_ready_s": service_ready,
            "idle_seconds": idle_seconds,
            "idle_rss_mb": round(statistics.median(rss for _, rss in idle), 1),
            "idle_cpu_pct": round(idle_cpu, 1),
            "soak_minutes": minutes,
            "verify_rss_mb": round(statistics.median(rss for _, rss in soak), 1),
            "verify_cpu_pct": round(soak_cpu, 1),
            "rss_growth_pct": round(growth, 2),
            "rss_soak_start_mb": round(base, 1),
            "rss_soak_end_mb": round(final, 1),
            "peak_rss_mb": round(peak, 1),
            "resets_accepted": accepted,
            "resets_refused": refused,
            "resets_per_min": round((accepted + refused) / minutes, 1),
            "watchdog_max_gap_s": round(max(gaps), 2),
            "stop_s": round(stop_s, 2),
            "exit_status": status,
        }
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        notify.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the verifying soak (default 10)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="length of the idle phase (default 30)")
    args = parser.parse_args()
    result = run(args.minutes, args.idle_seconds)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")
    return 0 if result["exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
