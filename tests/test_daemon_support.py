"""sd_notify, the progress watchdog and structured logging, with real sockets and threads."""

import io
import logging
import socket
import time

import pytest

from kiosk.daemon.logs import configure_logging, log_event
from kiosk.flows.events import EventName
from kiosk.daemon.notify import Notifier, _send_raw, watchdog_interval_s
from kiosk.daemon.watchdog import Heartbeats, WatchdogPinger


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


@pytest.mark.parametrize("sender", [None, _send_raw], ids=["systemd-python", "raw"])
def test_notifier_sends_ready_and_status(notify_socket, sender):
    notifier = Notifier(sender)
    notifier.ready("3 users")
    assert notify_socket.recv(4096).decode() == "READY=1\nSTATUS=3 users"
    notifier.status("syncing")
    notifier.status("syncing")  # unchanged status is not resent
    notifier.watchdog()
    assert notify_socket.recv(4096).decode() == "STATUS=syncing"
    assert notify_socket.recv(4096).decode() == "WATCHDOG=1"


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval_s() == 5.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # another process's watchdog
    assert watchdog_interval_s() is None


def test_heartbeats_report_the_stale_loop():
    now = [100.0]
    beats = Heartbeats(clock=lambda: now[0])
    beats.beat("ui")
    beats.beat("worker")
    now[0] += 3
    beats.beat("ui")
    assert beats.stale(2.0) == ["worker"]
    beats.forget("worker")
    assert beats.stale(2.0) == []


def test_pinger_stops_pinging_when_a_loop_hangs():
    beats = Heartbeats()
    pings = []
    stale_reports = []
    pinger = WatchdogPinger(beats, lambda: pings.append(time.monotonic()), 0.02, 0.2, stale_reports.append)
    beats.beat("ui")
    pinger.start()
    deadline = time.monotonic() + 5
    while len(pings) < 3 and time.monotonic() < deadline:
        beats.beat("ui")
        time.sleep(0.01)
    assert len(pings) >= 3
    time.sleep(0.5)  # the "ui" loop stops beating
    count = len(pings)
    time.sleep(0.3)
    pinger.stop()
    assert len(pings) == count
    assert stale_reports == [["ui"]]


def test_logs_carry_structured_fields_on_stderr(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    stream = io.StringIO()
    logger = configure_logging(stream=stream)
    log_event(logger, EventName.RESET_REFUSED, "face did not match", email_hash="ab12", score=0.61)
    line = stream.getvalue().strip()
    assert "face did not match" in line and "event=reset_refused" in line
    assert "email_hash=ab12" in line and "score=0.61" in line


def test_journal_handler_is_used_under_systemd(monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    logger = configure_logging()
    assert type(logger.handlers[0]).__name__ == "JournalHandler"
    logger.handlers.clear()
