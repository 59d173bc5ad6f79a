"""The sync engine against the local RTDB server with the real SDK, one pass at a time.

``run_pass`` runs a whole pass on the test thread, so these tests decide the order in which
kiosks talk to the cloud (who pushes first, who pulls when) and need no sleeping.
"""

from __future__ import annotations

import numpy as np
import pytest
from firebase_admin import exceptions

from kiosk.flows import FaceRules, Flow, FlowConfig, InlineJobs, Step
from kiosk.flows.journeys.signin import REGISTERED_ELSEWHERE
from kiosk.store import audit as audit_mod
from kiosk.store.errors import UnknownUserError
from kiosk.store.replica import EMAIL_TAKEN_MESSAGE
from kiosk.sync import layout
from kiosk.sync.status import OFFLINE, ONLINE
from rtdb_server import RtdbServer
from store_support import MODEL, unit_vectors
from sync_support import (  # noqa: F401 - fixtures
    PASSWORD,
    Kiosk,
    assert_cloud_matches,
    cloud_index,
    cloud_users,
    fleet,
    passes,
    server,
    thread_errors,
)


pytestmark = pytest.mark.usefixtures("thread_errors")  # no background thread may crash



def test_enrollment_reaches_the_other_kiosk_usable_for_verification(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    uid = a.enroll("Ann@Example.org", seed=1)
    passes(a, b)
    user, matrix = b.store.face_templates("ann@example.org", MODEL)
    assert user.id == uid and user.email == "Ann@example.org"
    # The same templates (their order is not kept: it does not matter for matching).
    np.testing.assert_array_equal(np.unique(matrix, axis=0), np.unique(unit_vectors(3, seed=1), axis=0))
    assert b.store.sign_in_password("ANN@example.org", PASSWORD).id == uid
    assert a.table() == b.table()
    assert_cloud_matches(server, a)
    assert a.store.pending_count() == 0 and b.store.pending_count() == 0
    # The cloud holds only sealed templates: no raw float bytes of the embedding.
    raw = unit_vectors(3, seed=1)[0].astype("<f4").tobytes()
    for text in cloud_users(server)[uid]["templates"].values():
        import base64

        assert raw[:64] not in base64.b64decode(text)


def test_password_change_and_deletion_propagate(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    uid = a.enroll("bob@example.org", seed=2)
    passes(a, b)
    b.store.change_password(uid, "a brand new secret")
    passes(b, a)
    assert a.store.sign_in_password("bob@example.org", "a brand new secret").id == uid
    a.store.reenroll(uid, list(unit_vectors(2, seed=42)), MODEL)  # new face templates
    passes(a, b)
    _, matrix = b.store.face_templates("bob@example.org", MODEL)
    np.testing.assert_array_equal(np.unique(matrix, axis=0), np.unique(unit_vectors(2, seed=42), axis=0))
    assert a.table() == b.table()
    a.store.delete_user("bob@example.org")
    passes(a, b)
    with pytest.raises(UnknownUserError):
        b.store.get_user("bob@example.org")
    assert a.table() == b.table() and a.table()[uid][3] is True
    record = cloud_users(server)[uid]
    assert record["deleted"] is True and not {"email", "passwordHash", "templates"} & set(record)
    assert cloud_index(server) == {}  # the email left the cloud with the user
    # The email is free again, for anyone.
    uid2 = b.enroll("bob@example.org", seed=3)
    passes(b, a)
    assert a.store.get_user("bob@example.org").id == uid2
    assert_cloud_matches(server, a)


def test_same_email_enrolled_offline_on_two_kiosks_exactly_one_wins(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    winner = a.enroll("carol@example.org", seed=4)
    loser = b.enroll("Carol@example.org", seed=5)
    a.engine.run_pass()  # a claims the email first
    b.engine.run_pass()  # b's claim fails: its enrollment is withdrawn
    passes(a, b)
    assert a.table() == b.table()
    assert b.store.get_user("carol@example.org").id == winner
    assert b.table()[loser][3] is True  # resolved into a tombstone, not left dangling
    assert cloud_index(server) == {layout.encode_email_key("carol@example.org"): winner}
    assert cloud_users(server)[loser]["deleted"] is True
    notice = b.store.sync_notice("CAROL@example.org")
    assert notice is not None and notice.message == EMAIL_TAKEN_MESSAGE and notice.other_kiosk == "a"
    assert b.store.dismiss_sync_notice("carol@example.org") and b.store.sync_notice("carol@example.org") is None
    assert a.store.sync_notice("carol@example.org") is None
    entries = b.store.audit.entries(user_id=loser)
    assert any(e.action == audit_mod.SYNC and e.result == audit_mod.CONFLICT for e in entries)
    assert_cloud_matches(server, a)


def test_loser_that_pulls_before_pushing_is_resolved_the_same_way(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    passes(b)  # b's initial load happens while it has nothing to push
    winner = a.enroll("dan@example.org", seed=6)
    passes(a)
    loser = b.enroll("dan@example.org", seed=7)
    # b pulls a's user while its own enrollment is still pending (no push yet).
    b.engine._catch_up(b.engine._store, b.engine._remote)
    assert b.store.get_user("dan@example.org").id == winner
    assert b.store.sync_notice("dan@example.org") is not None
    passes(b, a)
    assert a.table() == b.table() and a.table()[loser][3] is True
    assert b.store.sync_notice("dan@example.org") is not None
    assert_cloud_matches(server, a)


def test_concurrent_password_changes_last_writer_wins_and_the_loser_logs_it(fleet, server: RtdbServer, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="kiosk.sync")
    a, b = fleet("a"), fleet("b")
    uid = a.enroll("eve@example.org", seed=8)
    passes(a, b)
    a.store.change_password(uid, "password from a")
    b.store.change_password(uid, "password from b")
    a.engine.run_pass()  # a's change reaches the cloud first...
    b.engine.run_pass()  # ...b's is written later: it wins
    passes(a, b)
    assert a.table() == b.table()
    assert a.store.sign_in_password("eve@example.org", "password from b").id == uid
    lost = [e for e in a.store.audit.entries(user_id=uid) if e.action == audit_mod.PASSWORD_CHANGE and e.result == audit_mod.CONFLICT]
    assert len(lost) == 1 and "kiosk b" in lost[0].reason
    assert not [e for e in b.store.audit.entries(user_id=uid) if e.result == audit_mod.CONFLICT]
    a_log = [r.getMessage() for r in caplog.records if r.name == "kiosk.sync.a" and r.levelno == logging.WARNING]
    assert any("overwritten by a later one from kiosk b" in m for m in a_log)
    b_log = [r.getMessage() for r in caplog.records if r.name == "kiosk.sync.b"]
    assert any("replaced a concurrent change from kiosk a" in m for m in b_log)


def test_sequential_password_changes_are_not_reported_as_conflicts(fleet) -> None:
    a, b = fleet("a"), fleet("b")
    uid = a.enroll("fay@example.org", seed=9)
    passes(a, b)
    a.store.change_password(uid, "first change")
    passes(a, b)
    b.store.change_password(uid, "second change")
    passes(b, a)
    assert a.store.sign_in_password("fay@example.org", "second change").id == uid
    for kiosk in (a, b):
        assert not [e for e in kiosk.store.audit.entries(user_id=uid) if e.result == audit_mod.CONFLICT]


@pytest.mark.parametrize("deleter_first", [True, False])
def test_deletion_wins_over_a_concurrent_password_change(fleet, server: RtdbServer, deleter_first: bool) -> None:
    a, b = fleet("a"), fleet("b")
    uid = a.enroll("gus@example.org", seed=10)
    passes(a, b)
    a.store.delete_user("gus@example.org")
    b.store.change_password(uid, "changed meanwhile")
    order = (a, b) if deleter_first else (b, a)
    passes(*order, rounds=3)
    assert a.table() == b.table() and a.table()[uid][3] is True
    assert cloud_users(server)[uid]["deleted"] is True and cloud_index(server) == {}
    assert b.store.pending_count() == 0


def test_enroll_then_delete_before_any_sync(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    uid = a.enroll("hal@example.org", seed=11)
    a.store.delete_user("hal@example.org")
    passes(a, b)
    assert a.table() == b.table() and b.table()[uid][3] is True
    assert cloud_index(server) == {}


def test_lost_answers_to_writes_do_not_duplicate(fleet, server: RtdbServer) -> None:
    """The SDK re-sends a request whose answer is lost; the engine recognises its own write."""
    a, b = fleet("a"), fleet("b")
    uid = a.enroll("ida@example.org", seed=12)
    key = layout.encode_email_key("ida@example.org")
    server.drop_next_response("PUT", f"/emailIndex/{key}.json", fraction=None)
    server.drop_next_response("PUT", f"/users/{uid}.json", fraction=None)
    a.engine.run_pass()
    puts = [r for r in server.requests() if r.method == "PUT" and r.path == f"/users/{uid}.json"]
    assert len(puts) == 2  # sent, answer lost, re-sent by the SDK: 412, recognised as ours
    passes(a, b)
    assert a.store.pending_count() == 0
    assert len(cloud_users(server)) == 1 and a.table() == b.table()
    assert_cloud_matches(server, a)


def test_answer_cut_mid_body_fails_the_pass_and_the_next_one_recovers(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    ids = [a.enroll(f"user{i}@example.org", seed=20 + i) for i in range(3)]
    passes(a)
    server.drop_next_response("GET", "/users.json", fraction=0.5)
    with pytest.raises(exceptions.UnknownError):
        b.engine.run_pass()
    assert b.engine.status().state == OFFLINE
    passes(b)
    assert b.engine.status().state == ONLINE
    assert sorted(b.table()) == sorted(ids) and a.table() == b.table()


def test_initial_load_and_catch_up_page_through_many_users_with_equal_timestamps(fleet, server: RtdbServer) -> None:
    """120 users written in one request share one server timestamp: the catch-up's pages
    by updatedAt cannot advance by timestamp and must finish with an equal_to query."""
    a = fleet("a")
    for i in range(120):
        a.enroll(f"bulk{i}@example.org", seed=100 + i)
    passes(a)
    users = cloud_users(server)
    stamp = max(v["updatedAt"] for v in users.values())
    server.set_data({uid: {**v, "updatedAt": stamp} for uid, v in users.items()}, "/users")
    b = fleet("b", page_size=50)
    b.engine.run_pass()  # initial load in pages by key, then a catch-up of 120 tied rows
    assert b.table() == a.table()
    get_queries = [r.raw_query for r in server.requests() if r.method == "GET" and r.path == "/users.json"]
    assert any("equalTo" in q for q in get_queries)


def test_a_second_pass_without_changes_writes_nothing(fleet, server: RtdbServer) -> None:
    a = fleet("a", heartbeat_s=3600.0, stream_silence_s=7200.0)
    from sync_support import wait_until

    a.enroll("jo@example.org", seed=13)
    passes(a)
    assert wait_until(lambda: a.engine._registration is not None, 5)
    passes(a)  # the heartbeat that proves a new stream
    server.clear_requests()
    a.engine.run_pass()
    assert [r.method for r in server.requests() if r.method != "GET"] == []


def test_status_reports_offline_since_and_pending(fleet, server: RtdbServer, thread_errors) -> None:
    import requests

    thread_errors.allowed = (requests.exceptions.ConnectionError,)  # the SDK's listener, server down
    a = fleet("a")
    passes(a)
    assert a.engine.status().state == ONLINE and a.engine.status().pending_changes == 0
    server.stop()
    a.enroll("kim@example.org", seed=14)
    with pytest.raises(exceptions.FirebaseError):
        a.engine.run_pass()
    status = a.engine.status()
    assert status.state == OFFLINE and status.pending_changes == 1 and status.offline_since is not None
    assert status.line().startswith("sync offline since ") and ", 1 pending" in status.line()
    since = status.offline_since
    with pytest.raises(exceptions.FirebaseError):
        a.engine.run_pass()
    assert a.engine.status().offline_since == since  # the outage began at the first failure
    server.start()
    passes(a)
    status = a.engine.status()
    assert status.state == ONLINE and status.pending_changes == 0 and status.offline_since is None
    assert status.line() == "sync online, 0 pending"


def test_records_sealed_with_another_key_are_skipped_not_fatal(fleet, server: RtdbServer, tmp_path) -> None:
    import os

    from kiosk.fleet.admin import AdminKeys

    a, b = fleet("a"), fleet("b")
    good = a.enroll("lee@example.org", seed=15)
    passes(a)
    # Certified by the fleet's root, but handed a template key of its own.
    stray = AdminKeys(fleet.admin.root, {"k1": os.urandom(32)}, "k1")
    stranger = Kiosk(tmp_path, "stranger", stray)
    try:
        stranger.engine.run_pass()
        stranger.enroll("mo@example.org", seed=16)
        stranger.engine.run_pass()
    finally:
        stranger.close()
    passes(b)
    assert set(b.table()) == {good}
    assert b.engine.status().state == ONLINE
    assert b.engine.status().quarantined == 1  # kept aside for review, not applied


def test_sync_refuses_a_store_without_template_encryption(fleet, tmp_path) -> None:
    from kiosk.sync import SyncEngine
    from kiosk.sync.errors import SyncError
    from store_support import make_settings
    from sync_support import sync_settings

    (tmp_path / "plain").mkdir()
    settings = make_settings(tmp_path / "plain", store={"encrypt_templates": False})
    with pytest.raises(SyncError, match="encrypt_templates"):
        SyncEngine.from_settings(settings, sync_settings("plain"))


class SteppedClock:
    """A monotonic clock the test moves forward (events still stamp it when they arrive)."""

    def __init__(self) -> None:
        import time

        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def test_a_silent_stream_is_replaced_and_the_old_listener_ends_cleanly(fleet, server: RtdbServer) -> None:
    """No event for stream_silence_s (not even this kiosk's own heartbeat) means the stream is
    dead without an error (streams have no read timeout): it is closed and opened again.
    Silence is simulated by moving the engine's clock, not by a mute server."""
    from sync_support import wait_until

    a = fleet("a")
    clock = SteppedClock()
    a.engine = a.make_engine(monotonic=clock)
    a.engine.run_pass()
    assert wait_until(lambda: a.engine._registration is not None, 5)
    first = a.engine._registration
    clock.now += a.sync.heartbeat_s
    a.engine.run_pass()  # its heartbeat comes back through the stream, stamped with the new time
    assert wait_until(lambda: a.engine._last_event == clock.now, 5)
    assert a.engine.status().listening
    clock.now += a.sync.stream_silence_s + 1
    a.engine.run_pass()
    assert not first._thread.is_alive()  # ended by end_listener, without a traceback
    assert wait_until(lambda: a.engine._registration not in (None, first), 5)
    b = fleet("b")
    uid = b.enroll("new@example.org", seed=30)
    b.engine.run_pass()
    # The new stream delivers b's ring: a catch-up is due without asking for one.
    assert wait_until(lambda: a.engine._catchup_due, 5)
    a.engine.run_pass()
    assert uid in a.table()


def test_only_rings_and_reconnections_ask_for_a_catch_up(fleet) -> None:
    from sync_support import wait_until

    a, b = fleet("a"), fleet("b")
    passes(a, b)
    assert wait_until(lambda: a.engine._registration is not None, 5)
    passes(a)
    with a.engine._lock:
        a.engine._catchup_due = False
        before = a.engine._last_event
    b.engine._remote.heartbeat()
    assert wait_until(lambda: a.engine._last_event != before, 5)  # liveness...
    assert not a.engine._catchup_due  # ...but no query for another kiosk's heartbeat
    b.engine._remote.ring()
    assert wait_until(lambda: a.engine._catchup_due, 5)


def test_the_losing_kiosks_user_is_told_once_at_their_next_sign_in(fleet, server: RtdbServer, pipeline, settings) -> None:
    a, b = fleet("a"), fleet("b")
    a.enroll("erin@example.org", seed=6)
    b.enroll("erin@example.org", seed=7)
    a.engine.run_pass()
    b.engine.run_pass()
    passes(a, b)

    jobs = InlineJobs(lambda: b.store)
    config = FlowConfig(passwords=b.store.settings.passwords, enroll_samples=5, enroll_sample_interval_s=0.3,
                        verify_good_frames=2, verify_timeout_s=10.0, capture_timeout_s=20.0, admin_pin_hash="")
    flow = Flow(config, FaceRules.from_pipeline(pipeline, settings), jobs)

    def sign_in(password: str) -> None:
        flow.act("signin")
        for text in ("Erin@example.org", password):
            for char in text:
                flow.insert(char)
            flow.submit()
            flow.tick()

    sign_in("whatever they typed")
    assert flow.step == Step.PROBLEM and flow.session.problem == REGISTERED_ELSEWHERE
    flow.act("start_over")
    sign_in("whatever they typed")  # told once: now an ordinary wrong password
    assert flow.step == Step.SIGNIN_PASSWORD and b.store.sync_notice("erin@example.org") is None
