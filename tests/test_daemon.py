"""The real daemon in a subprocess: ``python -m kiosk run`` with a temp config, an image
folder camera of scripted public-domain faces, a temp store and key, SDL's dummy driver,
and a NOTIFY_SOCKET this test binds (the sd_notify datagrams systemd would get).

The enrollment interrupted by SIGTERM is driven inside the daemon by its test hook
(``FACEKIOSK_TEST_HOOKS=1``, SIGUSR2: the flow's own sign-up calls, the camera's face),
so the process under test is exactly the one systemd would run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from kiosk.camera.scripted import PERSON_A, person_frames, write_folder
from kiosk.daemon.hooks import DEFAULT_EMAIL

START_TIMEOUT_S = 60.0


class NotifySocket:
    """A bound AF_UNIX datagram socket collecting (monotonic time, message) pairs."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fk-notify-", dir="/tmp"))  # sun_path is short
        self.path = self.dir / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def snapshot(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.messages)

    def times(self, prefix: str, since: float = 0.0) -> list[float]:
        return [at for at, text in self.snapshot() if at >= since and any(line.startswith(prefix) for line in text.splitlines())]

    def statuses(self) -> list[str]:
        return [line[len("STATUS="):] for _, text in self.snapshot() for line in text.splitlines() if line.startswith("STATUS=")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Daemon:
    def __init__(self, workdir: Path, notify: NotifySocket | None = None, **env: str) -> None:
        self.workdir = workdir
        self.notify = notify
        self.log_path = workdir / "daemon.log"
        environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
        environ.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYTHONUNBUFFERED="1", **env)
        if notify is not None:
            environ["NOTIFY_SOCKET"] = str(notify.path)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "--config", str(workdir / "config.yml"), "run"],
            cwd=REPO, env=environ, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited ({self.proc.returncode}) while waiting for {what}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")
            time.sleep(0.02)

    def wait_log(self, text: str, timeout: float = 20.0) -> None:
        self.wait_for(lambda: text in self.log(), timeout, repr(text))

    def wait_ready(self) -> None:
        if self.notify is not None:
            self.wait_for(lambda: self.notify.times("READY=1"), START_TIMEOUT_S, "READY=1")
        else:
            self.wait_log("event=ready", START_TIMEOUT_S)

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; returns the exit status and the seconds it took."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no exit {timeout} s after SIGTERM:\n{self.log()[-3000:]}") from None
        return status, time.monotonic() - start

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def write_config(workdir: Path, **sections) -> Path:
    data = {
        "models": {"dir": str(REPO / "models")},
        "store": {"path": "state/facekiosk.db", "key_file": "template-key"},
        "camera": {"source": "images", "path": "frames", "fps": 15.0},
        "ui": {"fullscreen": False, "width": 800, "height": 480, "enroll_sample_interval_s": 0.1},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return path


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


@pytest.mark.parametrize("when", ["while saving", "during the face capture", "a save longer than the stop budget"])
def test_sigterm_during_an_enrollment_leaves_it_complete_or_absent(start, workdir, when):
    # Default argon2 parameters: hashing the password takes ~0.3 s, so a SIGTERM sent as
    # the save starts arrives while the job is under way. 60 passes take ~6 s: longer
    # than the stop budget, so the daemon must exit without waiting for that job.
    if when == "a save longer than the stop budget":
        write_config(workdir, passwords={"argon2_time_cost": 60})
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


def test_sighup_reloads_the_config_and_keeps_it_when_the_new_one_is_bad(start, notify, workdir):
    daemon = start(notify)
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
    write_config(workdir, camera={"fps": 10.0})
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log("event=reload_restart_needed", 10)
    assert "changes to camera take effect at the next restart" in daemon.log()
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


def test_make_demo_command_passes(tmp_path):
    """What ``make demo`` runs: the real service through enroll, sign in, reset by face and
    an impostor, headless, with screenshots."""
    screens = tmp_path / "screens"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "NOTIFY_SOCKET", "WATCHDOG_USEC")}
    result = subprocess.run([sys.executable, "-m", "kiosk", "--config", "config.yml", "run", "--demo", "--screens", str(screens)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 of 5 steps as expected" in result.stdout
    for needle in ("enrolled", "face accepted", "refused", "person B"):
        assert needle in result.stdout
    assert "event=reset_refused" in result.stderr and "email_hash=" in result.stderr
    assert "ann.demo@example.org" not in result.stderr, "the log carries only the email's keyed hash"
    assert len(list(screens.glob("*.png"))) >= 10
