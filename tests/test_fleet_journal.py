"""Nothing the service logs holds an email in clear (issue 14 item 2): the real daemon with
sync on (the real firebase-admin against tests/rtdb_server.py) runs the sign-up and reset
journeys of a person whose email is distinctive, another kiosk of the fleet then deletes
that person (the daemon applies the tombstone), and everything the daemon wrote to its
journal (stdout/stderr: the service events of kiosk/daemon/logs.py, the flow events, sync's
lines) is searched for the address and for anything shaped like an email."""

from __future__ import annotations

import re
import signal

import pytest

from kiosk.camera.scripted import PERSON_A, person_frames, write_folder
from sync_support import FAST, Kiosk, enroll, server, wait_until  # noqa: F401 - fixture
from daemon_support import Daemon, NotifySocket, write_config

EMAIL = "bob.private@example.org"
EMAIL_LIKE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:[.,][A-Za-z0-9-]+)+")


def deleted_at_the_daemon(folder) -> bool:
    import sqlite3

    conn = sqlite3.connect(f"file:{folder / 'state' / 'facekiosk.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT deleted_at FROM users").fetchall()
    finally:
        conn.close()
    return bool(rows) and all(row[0] is not None for row in rows)


@pytest.mark.slow
def test_the_journal_of_a_full_journey_holds_no_email(tmp_path, server, monkeypatch):  # noqa: F811
    from kiosk.fleet.admin import AdminKeys
    from kiosk.fleet.files import write_secret
    from kiosk.fleet.identity import KioskIdentity
    from kiosk.sync.firebase import EMULATOR_ENV

    write_folder(person_frames(PERSON_A), tmp_path / "frames")
    admin = AdminKeys.generate()
    key = tmp_path / "template-key"
    key.write_bytes(admin.template_key)
    key.chmod(0o600)
    identity = KioskIdentity.generate("journal-test")
    write_secret(tmp_path / "kiosk-identity.json", identity.to_bytes())
    monkeypatch.setenv(EMULATOR_ENV, server.emulator_host)
    enroll(admin, identity)
    fast = {name: FAST[name] for name in ("poll_s", "heartbeat_s", "stream_silence_s", "backoff_initial_s", "backoff_max_s", "http_timeout_s")}
    write_config(tmp_path, sync={"enabled": True, "database_url": server.url(), "kiosk_id": "journal-test",
                                 "fleet_root_key": admin.root_public(), "ring_jitter_s": 0.0, **fast})
    other = Kiosk(tmp_path / "fleet", "other", admin)
    notify = NotifySocket()
    daemon = Daemon(tmp_path, notify, FACEKIOSK_TEST_HOOKS="1", WATCHDOG_USEC="2000000",
                    FACEKIOSK_TEST_JOURNEY="enroll", FACEKIOSK_TEST_EMAIL=EMAIL)
    try:
        daemon.wait_ready()
        daemon.wait_for(lambda: "sync online" in (notify.statuses() or [""])[-1], 20, "STATUS sync online")
        daemon.proc.send_signal(signal.SIGUSR2)  # the sign-up journey
        daemon.wait_log("event=enrolled", 60)
        daemon.wait_for(lambda: len(server.get_data("/users") or {}) == 1, 20, "the user in the cloud")
        other.engine.request_catch_up()
        other.engine.run_pass()
        assert other.store.find_user(EMAIL) is not None
        other.store.delete_user(EMAIL)  # at another kiosk: the daemon applies the tombstone
        other.engine.run_pass()
        daemon.wait_for(lambda: deleted_at_the_daemon(tmp_path), 30, "the tombstone applied by the daemon")
        status, _ = daemon.terminate()
        assert status == 0
    finally:
        daemon.close()
        notify.close()
        other.close()
    journal = daemon.log()
    assert "event=enrolled" in journal and "email_hash=" in journal  # the journey is in it, hashed
    assert "bob.private" not in journal.lower() and "bob,private" not in journal.lower()
    assert EMAIL_LIKE.findall(journal) == []
