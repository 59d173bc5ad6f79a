"""The real daemon in a subprocess: ``python -m kiosk run`` with a temp config, an image
folder camera of scripted public-domain faces, a temp store and key, SDL's dummy driver,
and a NOTIFY_SOCKET this test binds (the sd_notify datagrams systemd would get).

The enrollment interrupted by SIGTERM is driven inside the daemon by its test hook
(``FACEKIOSK_TEST_HOOKS=1``, SIGUSR2: the flow's own sign-up calls, the camera's face),
so the process under test is exactly the one systemd would run.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from daemon_support import Daemon, NotifySocket, write_config
from kiosk.camera.scripted import PERSON_A, person_frames, write_folder
from kiosk.daemon.hooks import DEFAULT_EMAIL

@pytest.fixture
def workdir(tmp_path):
    write_folder(person_frames(PERSON_A), tmp_path / "frames")
    key = tmp_path / "template-key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    write_config(tmp_path)
    return tmp_path


@pytest.fixture
def notify():
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def start(workdir):
    daemons: list[Daemon] = []

    def make(notify=None, **env) -> Daemon:
        daemons.append(Daemon(workdir, notify, **env))
        return daemons[-1]

    yield make
    for daemon in daemons:
        daemon.close()


@pytest.mark.slow
def test_ready_status_watchdog_and_a_frozen_loop_stops_the_pings(start, notify):
    daemon = start(notify, WATCHDOG_USEC="1000000", FACEKIOSK_TEST_HOOKS="1")
    daemon.wait_ready()
    ready_text = next(text for _, text in notify.snapshot() if "READY=1" in text)
    assert "STATUS=ready: 0 users, sync not configured, camera ok" in ready_text
    assert "event=ready" in daemon.log() and "camera ok" in daemon.log()

    time.sleep(3.0)
    pings = notify.times("WATCHDOG=1")
    assert len(pings) >= 4, pings
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert 0.35 <= statistics.median(gaps) <= 0.75, gaps  # half of WATCHDOG_USEC, loosely

    frozen_at = time.monotonic()
    daemon.proc.send_signal(signal.SIGUSR1)
    daemon.wait_log("event=test_freeze", 5)
    daemon.wait_log("event=watchdog_stale", 5)
    time.sleep(3.0)
    # Heartbeats go stale 0.8 s after the freeze; a ping already due may still go out.
    late = notify.times("WATCHDOG=1", since=frozen_at + 1.5)
    assert late == [], f"{len(late)} pings after the loop froze"
    assert "ui" in daemon.log().split("event=watchdog_stale")[0].splitlines()[-1]

    status, took = daemon.terminate()
    assert status == 0 and took < 5.0
    assert notify.times("STOPPING=1")


@pytest.mark.slow
def test_camera_folder_removed_and_restored_recovers_without_restart(start, notify, workdir):
    daemon = start(notify)
    daemon.wait_ready()
    pid = daemon.proc.pid
    frames, hidden = workdir / "frames", workdir / "frames-away"
    frames.rename(hidden)
    daemon.wait_log("event=camera_lost", 10)
    daemon.wait_for(lambda: any("camera unavailable" in s for s in notify.statuses()), 10, "STATUS camera unavailable")
    time.sleep(2.0)  # a few failed reopen attempts
    hidden.rename(frames)
    daemon.wait_log("event=camera_recovered", 20)
    daemon.wait_for(lambda: notify.statuses()[-1].endswith("camera ok"), 10, "STATUS camera ok again")
    statuses = notify.statuses()
    assert any("camera unavailable" in s for s in statuses) and statuses[-1] == "ready: 0 users, sync not configured, camera ok"
    assert daemon.proc.pid == pid and daemon.proc.poll() is None
    status, took = daemon.terminate()
    assert status == 0 and took < 5.0


def _enrollment_state(workdir: Path) -> tuple[bool, int]:
    """(user present, outbox rows of that user) in the daemon's store."""
    from kiosk.config import load_config
    from kiosk.store import Store
    from kiosk.store.errors import UnknownUserError

    settings = load_config(workdir / "config.yml")
    with Store.open(settings) as store:
        try:
            user = store.get_user(DEFAULT_EMAIL)
        except UnknownUserError:
            return False, len(store.pending_outbox(1000))
        return True, sum(1 for entry in store.pending_outbox(1000) if entry.user_id == user.id)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["while saving", "during the face capture", "a save longer than the stop budget"])
def test_sigterm_during_an_enrollment_leaves_it_complete_or_absent(start, workdir, when):
    # Default argon2 parameters: hashing the password takes ~0.3 s, so a SIGTERM sent as
    # the save starts arrives while the job is under way. 400 passes take ~25-40 s: far
    # longer than the stop budget on any machine, so the daemon must exit without waiting
    # for that job (60 passes finished within the budget on a quiet machine).
    if when == "a save longer than the stop budget":
        write_config(workdir, passwords={"argon2_time_cost": 400})
    daemon = start(None, FACEKIOSK_TEST_HOOKS="1")
    daemon.wait_ready()
    daemon.proc.send_signal(signal.SIGUSR2)
    if when != "during the face capture":
        daemon.wait_log("event=enroll_saving", 30)
    else:
        daemon.wait_log("event=test_journey", 10)
        time.sleep(0.15)  # on the face screen, fewer than 5 samples taken
    status, took = daemon.terminate()
    log = daemon.log()
    assert status == 0 and took < 5.0, log[-2000:]
    present, outbox = _enrollment_state(workdir)
    if when == "while saving":
        before_stop = log.split("event=stopping")[0]
        assert "event=enroll_saving" in before_stop and "event=enrolled" not in before_stop, "SIGTERM came while saving"
        # The write under way is finished, with its outbox row, not abandoned.
        assert present and outbox == 1, (present, outbox, log[-2000:])
    elif when == "a save longer than the stop budget":
        assert "abandoning a thread" in log
        assert not present and outbox == 0, "the unfinished enrollment left nothing behind"
    else:
        assert "event=enroll_saving" not in log
        assert not present and outbox == 0
    assert DEFAULT_EMAIL not in log, "emails are logged only as keyed hashes"


@pytest.mark.slow
def test_sighup_reloads_the_config_and_keeps_it_when_the_new_one_is_bad(start, notify, workdir):
    daemon = start(notify, FACEKIOSK_TEST_HOOKS="1", FACEKIOSK_TEST_JOURNEY="enroll,reset-loop")
    daemon.wait_ready()
    sent = time.monotonic()
    write_config(workdir, ui={"language": "de"}, verification={"security_level": "high"})
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log("event=reload\n", 10)
    assert "security level high, language de" in daemon.log()
    reloading = notify.times("RELOADING=1", since=sent)
    daemon.wait_for(lambda: notify.times("READY=1", since=reloading[0] if reloading else sent), 5, "READY=1 after RELOADING=1")
    assert reloading, "RELOADING=1 sent before the reload"

    (workdir / "config.yml").write_text("ui: {language: [unclosed\n")
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log("event=reload_failed", 10)
    assert "YAML syntax error" in daemon.log()
    # Liveness switched on: its models were not loaded at start, so it waits for a
    # restart, and resets carry on as before meanwhile.
    write_config(workdir, camera={"fps": 10.0}, liveness={"required_for_reset": True})
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log("event=reload_restart_needed", 10)
    assert "changes to camera, liveness take effect at the next restart" in daemon.log()
    daemon.proc.send_signal(signal.SIGUSR2)
    daemon.wait_log("event=reset_accepted", 60)
    # Reloaded again with those changes still in the file: still waiting for a restart.
    write_config(workdir, camera={"fps": 10.0}, liveness={"required_for_reset": True}, ui={"language": "en"})
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: daemon.log().count("event=reload_restart_needed") == 2, 10, "a second restart warning")
    assert daemon.proc.poll() is None
    status, _ = daemon.terminate()
    assert status == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("camera: {source: images\n  path: [\n", "YAML syntax error"),
        ("camera: {sauce: images}\n", "camera.sauce: unknown key"),
        ("camera: {source: images}\n", "camera.path must name an image folder"),
    ],
    ids=["yaml", "unknown-key", "no-camera-path"],
)
def test_a_corrupted_config_exits_2_with_one_line(workdir, text, expected):
    (workdir / "config.yml").write_text(text)
    result = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(workdir / "config.yml"), "run"], cwd=REPO,
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy"}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("facekiosk: ") and expected in last, result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_template_key_exits_2(workdir):
    (workdir / "template-key").unlink()
    result = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(workdir / "config.yml"), "run"], cwd=REPO,
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy"}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("facekiosk: ") and "key" in last, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_make_demo_command_passes(tmp_path):
    """What ``make demo`` runs: the real service through enroll, sign in, reset by face and
    an impostor, headless, with screenshots."""
    screens = tmp_path / "screens"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "NOTIFY_SOCKET", "WATCHDOG_USEC")}
    result = subprocess.run([sys.executable, "-m", "kiosk", "--config", "config.yml", "run", "--demo", "--screens", str(screens)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 of 6 steps as expected" in result.stdout
    for needle in ("enrolled", "face accepted", "refused", "person B", "liveness challenge on", "shown and unanswered"):
        assert needle in result.stdout
    assert "event=reset_refused" in result.stderr and "email_hash=" in result.stderr
    assert "ann.demo@example.org" not in result.stderr, "the log carries only the email's keyed hash"
    assert len(list(screens.glob("*.png"))) >= 10


@pytest.mark.slow
def test_daemon_benchmark_reports_its_figures():
    """benchmarks/daemon.py end to end, with a very short soak (figures: see the script)."""
    import json

    result = subprocess.run([sys.executable, "benchmarks/daemon.py", "--json", "--minutes", "0.25", "--idle-seconds", "3"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout)
    for key in ("start_to_ready_s", "idle_rss_mb", "verify_rss_mb", "rss_growth_pct"):
        assert isinstance(figures[key], float), key
    assert figures["exit_status"] == 0 and figures["resets_accepted"] > 0 and figures["resets_refused"] == 0
    assert 0 < figures["start_to_ready_s"] < 60 and figures["verify_rss_mb"] > 0


def test_no_camera_at_boot_still_reports_ready_and_names_the_camera(start, notify, workdir):
    """A camera missing at boot: READY comes after camera.start_grace_s (systemd would
    restart a kiosk that never says READY every minute), with the problem on STATUS and one
    journal line naming it and the fix; sign-in by password is served meanwhile."""
    write_config(workdir, camera={"path": "no-such-folder", "start_grace_s": 1.0})
    daemon = start(notify)
    daemon.wait_ready()
    ready = next(text for _, text in notify.snapshot() if "READY=1" in text)
    assert "camera unavailable" in ready, ready
    assert "waiting for the camera's first frame" in daemon.log() and "facekiosk doctor" in daemon.log()
