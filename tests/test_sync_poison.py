"""A change the server keeps refusing must not block the outbox (issue 14 item 4).

It is set aside after sync.max_push_tries refusals, with the server's reason, shown by
`facekiosk doctor` and `facekiosk fleet status`; the changes behind it go on. An outage, or
a server that refuses everything, never sets a change aside. Real firebase-admin against
tests/rtdb_server.py, which refuses the writes of one record as production refuses a write
its rules' validation or limits reject.
"""

from __future__ import annotations

import pytest
from firebase_admin import exceptions

from kiosk.store import poison
from rtdb_server import RtdbServer
from sync_support import (  # noqa: F401 - fixtures
    Kiosk,
    fleet,
    server,
    thread_errors,
)

pytestmark = pytest.mark.usefixtures("thread_errors")


def tries(kiosk: Kiosk, count: int) -> int:
    """Run ``count`` passes; how many failed."""
    failed = 0
    for _ in range(count):
        try:
            kiosk.engine.run_pass()
        except exceptions.FirebaseError:
            failed += 1
    return failed


def test_a_refused_change_is_set_aside_and_the_next_one_goes_on(fleet, server: RtdbServer) -> None:
    a, b = fleet("a", max_push_tries=3), fleet("b")
    a.engine.run_pass()
    b.engine.run_pass()
    bad = a.enroll("bad@example.org", seed=1)
    good = a.enroll("good@example.org", seed=2)
    server.refuse_writes(f"/users/{bad}", 400, "Invalid data; the record's shape is refused")
    assert tries(a, 2) == 2  # refused twice: still waiting, nothing behind it sent
    assert good not in (server.get_data("/users") or {})
    tries(a, 2)  # the third refusal sets it aside; the pass goes on with the next change
    users = server.get_data("/users") or {}
    assert good in users and bad not in users
    assert a.engine.status().pending_changes == 0
    b.engine.request_catch_up()
    b.engine.run_pass()
    assert good in b.table() and bad not in b.table()

    (entry,) = poison.entries(a.store)
    assert entry.user_id == bad and entry.tries == 3
    assert "the record's shape is refused" in entry.reason and "@" not in entry.reason
    assert poison.count(a.store) == 1
    assert server.get_data("/kiosks/a/setAside") == 1  # for `facekiosk fleet status`


def test_an_outage_or_a_server_refusing_everything_sets_nothing_aside(fleet, server: RtdbServer, thread_errors) -> None:
    import requests

    thread_errors.allowed = (requests.exceptions.ConnectionError,)  # the SDK's listener, server down
    a = fleet("a", max_push_tries=2)
    a.engine.run_pass()
    uid = a.enroll("jo@example.org", seed=3)
    server.stop()
    assert tries(a, 4) == 4
    server.start()
    server.refuse_writes("/", 401, "Permission denied")  # rules or credentials: not this change's fault
    assert tries(a, 4) == 4
    assert poison.count(a.store) == 0 and a.engine.status().pending_changes == 1
    server.allow_writes("/")
    tries(a, 1)
    assert uid in (server.get_data("/users") or {}) and a.engine.status().pending_changes == 0


def test_doctor_and_fleet_status_show_set_aside_changes(fleet, server: RtdbServer) -> None:
    from kiosk.commands.doctor import check_fleet
    from kiosk.fleet.admin import fleet_status
    from kiosk.fleet.certs import root_public_key

    a = fleet("a", max_push_tries=1)
    a.engine.run_pass()
    bad = a.enroll("bad@example.org", seed=4)
    server.refuse_writes(f"/users/{bad}")
    tries(a, 2)
    settings = a.settings.model_copy(update={"sync": a.sync})
    check = check_fleet(settings)
    assert check.ok is False and "1 change(s) set aside" in check.detail and "fleet set-aside" in check.fix
    from sync_support import admin_app

    app = admin_app(fleet.admin)
    try:
        (row,) = [r for r in fleet_status(app, root_public_key(fleet.admin.root_public())) if r.kiosk_id == "a"]
    finally:
        import firebase_admin

        firebase_admin.delete_app(app)
    assert row.set_aside == 1
