"""Queued emails reach a real SMTP server (aiosmtpd in this process) through smtplib;
a relay that is down, refuses or hangs delays them, never the store's jobs or the UI."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kiosk.config import Settings
from kiosk.errors import ConfigError
from kiosk.mail import messages
from kiosk.mail.smtp import load_password
from kiosk.mail.worker import MailWorker
from kiosk.store import Store
from kiosk.store import mail as queue
from kiosk.store.emails import normalize_email
from mail_support import SilentListener, SmtpServer, free_port
from store_support import FakeClock, make_settings

ANN = normalize_email("ann@example.org")


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


def mail_settings(tmp_path: Path, **mail: object) -> Settings:
    return make_settings(tmp_path, mail=mail)


def test_a_notice_is_delivered_with_what_happened_where_and_when(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = mail_settings(tmp_path, **smtp.mail_settings())
    clock = FakeClock(1_767_225_600.0)  # 2026-01-01 00:00 UTC
    with Store.open(settings, clock=clock) as store:
        messages.queue_reset_notice(store, settings.mail, "ann@example.org")
        worker = MailWorker(settings.mail, lambda: store)
        assert worker.send_due(store) == 1
        assert queue.counts(store).sent == 1
        # Sent: the address and the text are erased from the queue.
        row = store.conn.execute("SELECT recipient, body FROM mail_queue").fetchone()
        assert row == ("", "")
    [mail] = smtp.received
    assert mail.recipients == ["ann@example.org"] and mail.sender == "kiosk@example.org"
    assert mail.subject == "Your password was reset"
    assert "reset by face at Kiosk at the front desk on 2026-01-01 00:00 UTC" in mail.body
    assert "If this was not you" in mail.body and "Forgot password" in mail.body


def test_down_then_up_is_retried_with_backoff_and_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()  # nothing listens yet: the relay is down
    settings = mail_settings(tmp_path, host="127.0.0.1", port=port, tls="none", sender="k@example.org",
                             retry_initial_s=10.0, retry_max_s=40.0)
    clock = FakeClock()
    with Store.open(settings, clock=clock) as store:
        messages.queue_lock_notice(store, settings.mail, "ann@example.org", 15)
        worker = MailWorker(settings.mail, lambda: store)
        delays = []
        for _ in range(4):
            assert worker.send_due(store) == 0
            delays.append(queue.next_due_in(store))
            clock.advance(delays[-1] or 0)
        assert 8.0 <= delays[0] <= 10.0 and 16.0 <= delays[1] <= 20.0 and 32 <= delays[2] <= 40 and 32 <= delays[3] <= 40
        assert "cannot reach the relay" in (queue.counts(store).last_error or "")
    # The kiosk restarts; the relay comes back on the same port.
    server = SmtpServer.__new__(SmtpServer)
    from aiosmtpd.controller import Controller
    from mail_support import Handler

    server.handler = Handler()
    server.port = port
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=port)
    server.controller.start()
    try:
        with Store.open(settings, clock=clock) as store:
            assert MailWorker(settings.mail, lambda: store).send_due(store) == 1
        assert server.received[0].subject == "Your account was locked"
    finally:
        server.stop()


def test_a_refused_recipient_is_dropped_and_a_temporary_refusal_retried(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = mail_settings(tmp_path, **smtp.mail_settings())
    clock = FakeClock()
    with Store.open(settings, clock=clock) as store:
        worker = MailWorker(settings.mail, lambda: store)
        smtp.handler.reply = "550 5.1.1 no such mailbox"
        messages.queue_reset_notice(store, settings.mail, "nobody@example.org")
        worker.send_due(store)
        assert queue.counts(store).dropped == 1
        smtp.handler.reply = "451 4.3.0 try again later"
        messages.queue_reset_notice(store, settings.mail, "ann@example.org")
        worker.send_due(store)
        assert queue.counts(store).pending == 1
        smtp.handler.reply = None
        clock.advance(10)
        assert worker.send_due(store) == 1
    assert [r.recipients for r in smtp.received] == [["ann@example.org"]]


def test_a_hanging_relay_never_blocks_the_store(tmp_path: Path) -> None:
    """The worker waits on a relay that never answers (timeout_s 2): meanwhile another
    connection queues and reads at full speed, and the worker stops when asked."""
    silent = SilentListener()
    settings = mail_settings(tmp_path, host="127.0.0.1", port=silent.port, tls="none", sender="k@example.org", timeout_s=2.0, poll_s=0.05)
    try:
        with Store.open(settings) as store:
            messages.queue_reset_notice(store, settings.mail, "ann@example.org")
        worker = MailWorker(settings.mail, lambda: Store.open(settings))
        worker.start()
        time.sleep(0.3)  # the worker is now inside smtplib, waiting for the greeting
        with Store.open(settings) as store:
            start = time.perf_counter()
            for _ in range(20):
                messages.queue_lock_notice(store, settings.mail, "bob@example.org", 15)
            took = time.perf_counter() - start
        assert took < 1.0, took
        assert worker.stop(timeout_s=5.0)
        error = worker.last_error or ""
        assert worker.failed >= 1 and ("Timeout" in error or "timed out" in error), error
    finally:
        silent.close()


def test_worker_thread_delivers_by_itself(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = mail_settings(tmp_path, **smtp.mail_settings())
    worker = MailWorker(settings.mail, lambda: Store.open(settings))
    worker.start()
    try:
        with Store.open(settings) as store:
            messages.queue_confirmation(store, settings.mail, ANN)
        [mail] = smtp.wait_for(1)
        assert mail.code() is not None and mail.code() in mail.subject
    finally:
        assert worker.stop()
    assert threading.active_count() < 50


def test_codes_are_single_use_short_lived_and_limited(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = mail_settings(tmp_path, **smtp.mail_settings(code_max_tries=3, code_lifetime_s=600))
    clock = FakeClock()
    with Store.open(settings, clock=clock) as store:
        code = queue.issue_code(store, ANN, queue.CONFIRM, 600)
        stored = store.conn.execute("SELECT code_hash, email_hash FROM email_codes").fetchone()
        assert code not in stored[0] and "ann" not in stored[1]  # neither the code nor the address in clear
        assert queue.check_code(store, ANN, queue.RESET, code, 3) == queue.WRONG  # another purpose
        assert queue.check_code(store, ANN, queue.CONFIRM, code, 3) == queue.OK
        assert queue.check_code(store, ANN, queue.CONFIRM, code, 3) == queue.WRONG  # used up
        code = queue.issue_code(store, ANN, queue.CONFIRM, 600)
        clock.advance(601)
        assert queue.check_code(store, ANN, queue.CONFIRM, code, 3) == queue.EXPIRED
        code = queue.issue_code(store, ANN, queue.CONFIRM, 600)
        wrong = f"{(int(code) + 1) % 1000000:06d}"
        assert [queue.check_code(store, ANN, queue.CONFIRM, wrong, 3) for _ in range(3)] == [queue.WRONG, queue.WRONG, queue.TOO_MANY]
        assert queue.check_code(store, ANN, queue.CONFIRM, code, 3) == queue.TOO_MANY  # even the right one, now


def test_mail_settings_are_validated_and_the_password_is_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mail: .*sender"):
        make_settings(tmp_path, mail={"host": "smtp.example.org"})
    with pytest.raises(ConfigError, match="in clear"):
        make_settings(tmp_path, mail={"host": "smtp.example.org", "sender": "k@example.org", "tls": "none", "user": "k"})
    with pytest.raises(ConfigError, match="mail.colour: unknown key"):
        make_settings(tmp_path, mail={"colour": 1})
    secret = tmp_path / "smtp-password"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)
    settings = make_settings(tmp_path, mail={"host": "h", "sender": "k@example.org", "user": "k", "password_file": "smtp-password"})
    with pytest.raises(ConfigError, match="chmod 600"):
        load_password(settings.mail, settings.resolve, {})
    secret.chmod(0o600)
    assert load_password(settings.mail, settings.resolve, {}) == "hunter2"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smtp-password").write_text("from-credential")
    assert load_password(settings.mail, settings.resolve, {"CREDENTIALS_DIRECTORY": str(creds)}) == "from-credential"
    (creds / "smtp-password").write_text("none")
    assert load_password(settings.mail, settings.resolve, {"CREDENTIALS_DIRECTORY": str(creds)}) == "hunter2"
