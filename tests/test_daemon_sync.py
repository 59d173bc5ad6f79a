"""The real daemon with sync on, against the local Realtime Database server
(tests/rtdb_server.py, the real firebase-admin SDK in the daemon): the STATUS line
follows the sync state, an enrollment reaches the cloud, and the network vanishing
neither stops the watchdog pings nor the kiosk."""

from __future__ import annotations

import pytest

import signal
import time

from kiosk.camera.scripted import PERSON_A, person_frames, write_folder
from sync_support import FAST, enroll, server  # noqa: F401 - fixture
from daemon_support import Daemon, NotifySocket, write_config


@pytest.mark.slow
def test_sync_state_in_status_and_the_kiosk_survives_the_network_vanishing(tmp_path, server, monkeypatch):  # noqa: F811
    from kiosk.fleet.admin import AdminKeys
    from kiosk.fleet.identity import KioskIdentity
    from kiosk.fleet.files import write_secret
    from kiosk.sync.firebase import EMULATOR_ENV

    write_folder(person_frames(PERSON_A), tmp_path / "frames")
    admin = AdminKeys.generate()  # the fleet: its template key, the kiosk's identity, enrolled
    key = tmp_path / "template-key"
    key.write_bytes(admin.template_key)
    key.chmod(0o600)
    identity = KioskIdentity.generate("daemon-test")
    write_secret(tmp_path / "kiosk-identity.json", identity.to_bytes())
    monkeypatch.setenv(EMULATOR_ENV, server.emulator_host)
    enroll(admin, identity)
    fast = {name: FAST[name] for name in ("poll_s", "heartbeat_s", "stream_silence_s", "backoff_initial_s", "backoff_max_s", "http_timeout_s")}
    write_config(tmp_path, sync={"enabled": True, "database_url": server.url(), "kiosk_id": "daemon-test",
                                 "fleet_root_key": admin.root_public(), **fast})
    notify = NotifySocket()
    daemon = Daemon(tmp_path, notify, FACEKIOSK_TEST_HOOKS="1", WATCHDOG_USEC="2000000")
    try:
        daemon.wait_ready()
        daemon.wait_for(lambda: "sync online" in (notify.statuses() or [""])[-1], 20, "STATUS sync online")

        daemon.proc.send_signal(signal.SIGUSR2)  # enroll the camera's face
        daemon.wait_log("event=enrolled", 30)
        daemon.wait_for(lambda: len(server.get_data("/users") or {}) == 1, 20, "the user in the cloud")
        daemon.wait_for(lambda: notify.statuses()[-1].startswith("ready: 1 user, sync online, 0 pending"), 10, "STATUS 1 user")

        server.stop()
        daemon.wait_for(lambda: "sync offline" in notify.statuses()[-1], 30, "STATUS sync offline")
        offline_at = time.monotonic()
        time.sleep(4.0)
        assert len(notify.times("WATCHDOG=1", since=offline_at)) >= 3, "the watchdog keeps pinging while offline"
        assert daemon.proc.poll() is None

        server.start()
        daemon.wait_for(lambda: "sync online" in notify.statuses()[-1], 30, "STATUS sync online again")
        status, took = daemon.terminate()
        assert status == 0 and took < 5.0
    finally:
        daemon.close()
        notify.close()
