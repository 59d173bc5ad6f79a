"""TLS to the SMTP relay: a real aiosmtpd relay in this process speaking STARTTLS or
implicit TLS with certificates made here, the kiosk's mail worker with the standard
smtplib as the kiosk wires it (MailWorker.from_settings).

Attacks this answers (issue 15): a relay, or someone between the kiosk and it, that
presents a certificate for another host or from a CA the kiosk does not trust; one that
strips STARTTLS from its EHLO so the kiosk would carry on in plain text, with the relay
password and the codes readable on the wire.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from kiosk.commands.doctor import check_mail
from kiosk.config import Settings
from kiosk.errors import ConfigError
from kiosk.mail import messages
from kiosk.mail.worker import MailWorker
from kiosk.store import Store
from kiosk.store import mail as queue
from mail_support import RELAY_PASSWORD, RELAY_USER, ServerCert, SilentListener, SmtpServer, TestCa
from store_support import FakeClock, make_settings

ANN = "ann@example.org"


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> TestCa:
    return TestCa(tmp_path_factory.mktemp("pki"), "relay")


@pytest.fixture(scope="module")
def good_cert(ca: TestCa) -> ServerCert:
    return ca.issue("localhost")


@pytest.fixture
def relays():
    started: list[SmtpServer] = []

    def start(**kwargs) -> SmtpServer:
        server = SmtpServer(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def settings_for(tmp_path: Path, relay: SmtpServer, tls: str, password: str = RELAY_PASSWORD, **mail: object) -> Settings:
    """The kiosk's settings for ``relay``, by name (localhost, as its certificate says),
    with the relay password as the password file (mode 0600)."""
    extra: dict[str, object] = {"host": "localhost", "tls": tls, **mail}
    if mail.get("user"):
        secret = tmp_path / "smtp-password"
        secret.write_text(password + "\n")
        secret.chmod(0o600)
        extra["password_file"] = "smtp-password"
    return make_settings(tmp_path, mail=relay.mail_settings(**extra))


def worker_for(settings: Settings, store: Store) -> MailWorker:
    return MailWorker.from_settings(settings, lambda: store, environ={})


def mail_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("kiosk.mail") and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_the_relay_is_verified_against_ca_file_and_mail_arrives_encrypted(tmp_path: Path, relays, ca: TestCa,
                                                                          good_cert: ServerCert, tls: str) -> None:
    relay = relays(tls=tls, cert=good_cert, logins=True)
    settings = settings_for(tmp_path, relay, tls, ca_file=str(ca.ca_file), user=RELAY_USER)
    with Store.open(settings, clock=FakeClock()) as store:
        messages.queue_reset_notice(store, settings.mail, ANN)
        assert worker_for(settings, store).send_due(store) == 1
        assert queue.counts(store).sent == 1
    [mail] = relay.received
    assert mail.recipients == [ANN] and mail.encrypted
    # The login went over the encrypted connection, once, and was the right one.
    assert [(login.user, login.encrypted) for login in relay.logins] == [(RELAY_USER, True)]


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_a_private_relay_is_not_trusted_by_the_system_store(tmp_path: Path, relays, good_cert: ServerCert,
                                                           tls: str, caplog: pytest.LogCaptureFixture) -> None:
    """Without mail.ca_file the system's CAs decide, and they never signed the test CA."""
    relay = relays(tls=tls, cert=good_cert)
    settings = settings_for(tmp_path, relay, tls)
    with Store.open(settings, clock=FakeClock()) as store:
        messages.queue_reset_notice(store, settings.mail, ANN)
        assert worker_for(settings, store).send_due(store) == 0
        assert queue.counts(store).pending == 1
    assert relay.received == []
    [line] = mail_warnings(caplog)
    assert "certificate the kiosk does not trust" in line and "mail.ca_file" in line, line


@pytest.mark.parametrize("tls", ["starttls", "tls"])
@pytest.mark.parametrize("case", ["another host name", "an untrusted CA"])
def test_a_relay_with_a_wrong_certificate_is_refused_and_the_email_stays_queued(
        tmp_path: Path, relays, ca: TestCa, tls: str, case: str, caplog: pytest.LogCaptureFixture) -> None:
    if case == "another host name":
        cert = ca.issue("smtp.example.org")  # trusted CA, but not the host the kiosk asked for
    else:
        cert = TestCa(tmp_path / "pki", "attacker").issue("localhost")  # right name, wrong CA
    relay = relays(tls=tls, cert=cert, logins=True, auth_require_tls=False)
    settings = settings_for(tmp_path, relay, tls, ca_file=str(ca.ca_file), user=RELAY_USER, retry_initial_s=5.0,
                            retry_max_s=5.0)
    clock = FakeClock()
    with Store.open(settings, clock=clock) as store:
        messages.queue_confirmation(store, settings.mail, _email(ANN))
        worker = worker_for(settings, store)
        for _ in range(3):  # three tries, each after its backoff
            assert worker.send_due(store) == 0
            clock.advance(queue.next_due_in(store) or 0.0)
        counts = queue.counts(store)
        assert counts.pending == 1 and counts.sent == 0 and counts.dropped == 0
        assert "certificate" in (counts.last_error or "")
        assert store.conn.execute("SELECT attempts FROM mail_queue").fetchone() == (3,)
    # Nothing reached the impostor: no email, no login.
    assert relay.received == [] and relay.logins == []
    # One line for three refusals (the same error is not repeated at every retry).
    [line] = mail_warnings(caplog)
    assert "certificate the kiosk does not trust" in line, line
    assert ("mismatch" if case == "another host name" else "issuer") in line, line


def test_a_relay_that_strips_starttls_gets_nothing_in_plain_text(tmp_path: Path, relays, ca: TestCa,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """tls: starttls, and the relay (or someone between) offers no STARTTLS but takes AUTH
    and mail in clear: the kiosk does not carry on without TLS."""
    relay = relays(tls="none", logins=True, auth_require_tls=False)
    for user in (RELAY_USER, ""):
        settings = settings_for(tmp_path, relay, "starttls", ca_file=str(ca.ca_file), user=user)
        with Store.open(settings, clock=FakeClock()) as store:
            messages.queue_reset_notice(store, settings.mail, ANN)
            assert worker_for(settings, store).send_due(store) == 0
            counts = queue.counts(store)
            assert counts.pending >= 1 and counts.sent == 0
            assert "STARTTLS" in (counts.last_error or "")
    assert relay.received == [] and relay.logins == []
    assert any("does not offer STARTTLS" in line for line in mail_warnings(caplog))
    # doctor's mail line does not send the login in clear either.
    line = check_mail(settings_for(tmp_path, relay, "starttls", ca_file=str(ca.ca_file), user=RELAY_USER))
    assert line.ok is False and "STARTTLS" in line.detail, line
    assert relay.logins == []


def test_the_password_never_goes_over_a_plain_connection(tmp_path: Path, relays, ca: TestCa, good_cert: ServerCert) -> None:
    """A relay that wants STARTTLS before AUTH (as aiosmtpd does by default) sees the login
    only after the upgrade; a config that would log in without TLS does not load."""
    relay = relays(tls="starttls", cert=good_cert, logins=True, require_starttls=True)
    settings = settings_for(tmp_path, relay, "starttls", ca_file=str(ca.ca_file), user=RELAY_USER)
    with Store.open(settings, clock=FakeClock()) as store:
        messages.queue_reset_notice(store, settings.mail, ANN)
        assert worker_for(settings, store).send_due(store) == 1
    assert [login.encrypted for login in relay.logins] == [True] and relay.received[0].encrypted
    with pytest.raises(ConfigError, match="in clear"):
        make_settings(tmp_path, mail=relay.mail_settings(tls="none", user=RELAY_USER))
    # doctor checks the login the same way, encrypted.
    assert check_mail(settings).ok is True
    assert [login.encrypted for login in relay.logins] == [True, True]


def test_ca_file_must_be_a_readable_pem(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mail={"host": "localhost", "sender": "k@example.org", "ca_file": "missing.pem"})
    with pytest.raises(ConfigError, match="mail.ca_file.*missing.pem"):
        MailWorker.from_settings(settings, lambda: Store.open(settings), environ={})
    (tmp_path / "junk.pem").write_text("not a certificate")
    settings = make_settings(tmp_path, mail={"host": "localhost", "sender": "k@example.org", "ca_file": "junk.pem"})
    with pytest.raises(ConfigError, match="mail.ca_file.*junk.pem"):
        MailWorker.from_settings(settings, lambda: Store.open(settings), environ={})


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_a_refusing_relay_never_holds_up_the_kiosk(tmp_path: Path, relays, tls: str, caplog: pytest.LogCaptureFixture) -> None:
    """The worker thread retries an impostor relay every 0.2-0.4 s while the kiosk's own
    store work goes at full speed; one line in the log however many tries; it stops when
    asked."""
    cert = TestCa(tmp_path / "pki", "attacker").issue("localhost")
    relay = relays(tls=tls, cert=cert)
    settings = settings_for(tmp_path, relay, tls, ca_file=str(TestCa(tmp_path / "pki", "relay").ca_file),
                            retry_initial_s=0.2, retry_max_s=0.4, poll_s=0.05)
    with Store.open(settings) as store:
        messages.queue_reset_notice(store, settings.mail, ANN)
    worker = MailWorker.from_settings(settings, lambda: Store.open(settings), environ={})
    worker.start()
    try:
        with Store.open(settings) as store:
            start = time.perf_counter()
            for _ in range(20):
                messages.queue_lock_notice(store, settings.mail, "bob@example.org", 15)
            took = time.perf_counter() - start
        deadline = time.monotonic() + 10.0
        while worker.failed < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert worker.stop(timeout_s=5.0)
    assert took < 1.0, took
    assert worker.failed >= 5 and worker.sent == 0 and relay.received == []
    assert len(mail_warnings(caplog)) == 1, mail_warnings(caplog)


def test_a_relay_that_hangs_in_the_tls_handshake_times_out(tmp_path: Path) -> None:
    silent = SilentListener()
    try:
        settings = make_settings(tmp_path, mail={"host": "localhost", "port": silent.port, "tls": "tls",
                                                 "sender": "k@example.org", "timeout_s": 1.0})
        with Store.open(settings, clock=FakeClock()) as store:
            messages.queue_reset_notice(store, settings.mail, ANN)
            worker = worker_for(settings, store)
            start = time.perf_counter()
            assert worker.send_due(store) == 0
            assert time.perf_counter() - start < 3.0
            assert queue.counts(store).pending == 1
        assert "timed out" in (worker.last_error or ""), worker.last_error
    finally:
        silent.close()


def _email(address: str):
    from kiosk.store.emails import normalize_email

    return normalize_email(address)
