"""Running the real daemon in a subprocess for the tests: a bound NOTIFY_SOCKET (what
systemd would receive), the process with its log, and the test config it reads."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from conftest import REPO

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
        # The cameras here show still pictures, which cannot answer the challenge's prompts.
        "liveness": {"required_for_reset": False},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return path
