"""Failure tests: running sync engines (their own threads) against a server that goes down,
drops connections and loses answers, and two kiosks changing the same users at once.

Each test ends with every kiosk holding the same table, the cloud holding exactly those
users and emails (nothing lost), and no user, index entry or change twice (nothing
duplicated).
"""

from __future__ import annotations

import logging
import random
import threading
import time

import pytest
import requests

from kiosk.store import Store
from kiosk.store.errors import EmailTakenError, UnknownUserError
from kiosk.sync.status import OFFLINE, ONLINE
from rtdb_server import RtdbServer
from store_support import MODEL, unit_vectors
from sync_support import (  # noqa: F401 - fixtures
    PASSWORD,
    Kiosk,
    assert_cloud_matches,
    cloud_index,
    cloud_users,
    converge,
    fleet,
    server,
    thread_errors,
    wait_until,
)


@pytest.fixture(autouse=True)
def no_engine_errors(caplog: pytest.LogCaptureFixture, thread_errors):
    """A failed pass is fine (it is retried); an unexpected exception in the engine is not.
    The SDK's listener threads end with ConnectionError while the server is down."""
    thread_errors.allowed = (requests.exceptions.ConnectionError,)
    caplog.set_level(logging.INFO, logger="kiosk.sync")
    yield
    errors = [r for r in caplog.records if r.name.startswith("kiosk.sync") and r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def start(*kiosks: Kiosk) -> None:
    for kiosk in kiosks:
        kiosk.engine.start()
    assert converge(list(kiosks), timeout_s=20)


def assert_no_duplicates(server: RtdbServer, expected_users: int) -> None:
    users = cloud_users(server)
    assert len(users) == expected_users
    live = [v["email"].lower() for v in users.values() if not v["deleted"]]
    assert len(live) == len(set(live))
    assert sorted(cloud_index(server).values()) == sorted(uid for uid, v in users.items() if not v["deleted"])


@pytest.mark.slow
def test_server_down_during_100_enrollments_then_back(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    start(a, b)
    server.stop()
    ids = [a.enroll(f"person{i}@example.org", seed=i) for i in range(100)]
    assert wait_until(lambda: a.engine.status().state == OFFLINE, 10)
    assert wait_until(lambda: a.engine.status().pending_changes == 100, 10)
    status = a.engine.status()
    assert status.offline_since is not None and "100 pending" in status.line()
    time.sleep(4)  # past the SDK's one reconnect attempt: its listener threads are dead now
    server.start()
    assert converge([a, b], timeout_s=60)
    assert a.engine.status().state == ONLINE and a.engine.status().pending_changes == 0
    assert sorted(uid for uid, row in b.table().items() if not row[3]) == sorted(ids)
    assert_cloud_matches(server, a)
    assert_no_duplicates(server, 100)
    user, _ = b.store.face_templates("person99@example.org", MODEL)
    assert user.id == ids[99]


@pytest.mark.parametrize("down_s", [5.0, pytest.param(30.0, marks=pytest.mark.slow)])
def test_server_stopped_mid_stream(fleet, server: RtdbServer, down_s: float) -> None:
    """Longer than the SDK's 3 s reconnect: its listener threads die silently. The engines
    must open new streams; a periodic catch-up is kept out of the way (10 minutes) so that
    only the re-subscription can deliver the changes made after the outage."""
    a = fleet("a", catchup_interval_s=600.0)
    b = fleet("b", catchup_interval_s=600.0)
    start(a, b)
    shared = a.enroll("shared@example.org", seed=1)
    assert wait_until(lambda: shared in b.table(), 10)  # through the live stream
    first_a, first_b = a.engine._registration, b.engine._registration
    server.stop()
    during_a = [a.enroll(f"a{i}@example.org", seed=10 + i) for i in range(5)]
    during_b = [b.enroll(f"b{i}@example.org", seed=20 + i) for i in range(5)]
    b.store.change_password(shared, "changed while offline")
    time.sleep(down_s)
    assert not first_a._thread.is_alive() and not first_b._thread.is_alive()
    server.start()
    assert converge([a, b], timeout_s=60)
    assert a.store.sign_in_password("shared@example.org", "changed while offline").id == shared
    assert {uid for uid, row in a.table().items() if not row[3]} == {shared, *during_a, *during_b}
    # New streams deliver at once: a change now reaches the other kiosk within seconds.
    assert wait_until(lambda: a.engine.status().listening and b.engine.status().listening, 10)
    after = a.enroll("after@example.org", seed=99)
    assert wait_until(lambda: after in b.table(), 5)
    assert_cloud_matches(server, a)
    assert_no_duplicates(server, 12)


@pytest.mark.slow
def test_connections_dropped_mid_response(fleet, server: RtdbServer) -> None:
    """Answers lost before their first byte (the SDK re-sends the request), answers cut in
    the middle of the body (the SDK raises), and live streams cut in the middle of an event."""
    a, b = fleet("a"), fleet("b")
    start(a, b)
    ids = []
    drops = [
        lambda: server.drop_next_response("PUT", None, fraction=None),
        lambda: server.drop_next_response("GET", None, fraction=None),
        lambda: server.drop_next_response("PUT", None, fraction=0.5),
        lambda: server.drop_next_response("GET", "/users.json", fraction=0.5),
        lambda: server.drop_next_response("DELETE", None, fraction=None),
        lambda: server.drop_all_connections(partial_event=True),
    ]
    for i in range(24):
        drops[i % len(drops)]()
        kiosk = (a, b)[i % 2]
        ids.append(kiosk.enroll(f"drop{i}@example.org", seed=200 + i))
        if i % 4 == 3:
            (a, b)[(i - 3) % 2].store.delete_user(f"drop{i - 3}@example.org")
        if i % 6 == 5:
            (a, b)[(i - 1) % 2].store.change_password(ids[i - 1], f"new password {i}")
        time.sleep(0.15)
    assert converge([a, b], timeout_s=60)
    assert set(a.table()) == set(ids)
    assert_cloud_matches(server, a)
    assert_no_duplicates(server, 24)
    dropped = [r for r in server.requests() if r.method == "PUT" and r.path.startswith("/users/")]
    assert len(dropped) >= 24


def _worker(kiosk: Kiosk, rng: random.Random, emails: list[str], ops: int, log: list, errors: list) -> None:
    """A kiosk's "UI" thread: enrolls, changes passwords and deletes with its own Store."""
    try:
        with Store.open(kiosk.settings) as store:
            for n in range(ops):
                live = [(user.id, user.email) for user in store.list_users()]
                choice = rng.random()
                try:
                    if choice < 0.5 or not live:
                        email = rng.choice(emails)
                        seed = rng.randrange(1_000_000)
                        user = store.enroll(email, PASSWORD, list(unit_vectors(2, seed=seed)), MODEL)
                        log.append(("enroll", kiosk.name, user.id, email))
                    elif choice < 0.8:
                        uid, email = rng.choice(live)
                        password = f"{kiosk.name} password {n}"
                        store.change_password(uid, password)
                        log.append(("password", kiosk.name, uid, password))
                    else:
                        uid, email = rng.choice(live)
                        store.delete_user(email)
                        log.append(("delete", kiosk.name, uid, email))
                except (EmailTakenError, UnknownUserError):
                    pass  # sync changed the table under this "UI": a real UI says so too
                kiosk.engine.kick()
                time.sleep(rng.uniform(0, 0.03))
    except BaseException as err:  # noqa: BLE001 - reported by the test
        errors.append(err)


def test_two_kiosks_enroll_change_and_delete_concurrently_and_converge(fleet, server: RtdbServer) -> None:
    a, b = fleet("a"), fleet("b")
    # First both offline (engines not started): the same emails enrolled on both kiosks.
    offline_pairs = {}
    for i in range(4):
        email = f"both{i}@example.org"
        offline_pairs[email] = (a.enroll(email, seed=300 + i), b.enroll(email.upper(), seed=400 + i))
    start(a, b)
    for email, (uid_a, uid_b) in offline_pairs.items():
        final = a.store.get_user(email).id
        assert final in (uid_a, uid_b)  # exactly one won...
        loser, loser_kiosk = (uid_b, b) if final == uid_a else (uid_a, a)
        assert a.table()[loser][3] is True  # ...the other is resolved everywhere...
        assert loser_kiosk.store.sync_notice(email) is not None  # ...and its person is told
    # Then both online, changing the same pool of users at the same time.
    emails = [f"pool{i}@example.org" for i in range(12)] + list(offline_pairs)
    log: list = []
    errors: list = []
    workers = [
        threading.Thread(target=_worker, args=(k, random.Random(seed), emails, 60, log, errors))
        for k, seed in ((a, 1), (b, 2))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not errors, errors
    assert converge([a, b], timeout_s=60)
    table = a.table()
    enrolled = {entry[2] for entry in log if entry[0] == "enroll"} | {u for pair in offline_pairs.values() for u in pair}
    assert set(table) == enrolled  # nothing lost: every enrollment is a user or a tombstone
    assert_cloud_matches(server, a)
    assert_no_duplicates(server, len(enrolled))
    deleted = {entry[2] for entry in log if entry[0] == "delete"}
    for uid, (email, _, password_hash, is_deleted, origin, _) in table.items():
        if is_deleted and uid not in deleted and uid not in {u for pair in offline_pairs.values() for u in pair}:
            # Not deleted by anyone: it lost its email to the other kiosk, and was told so.
            enrolled_at = next(entry for entry in log if entry[0] == "enroll" and entry[2] == uid)
            kiosk = a if enrolled_at[1] == "a" else b
            entries = kiosk.store.audit.entries(user_id=uid)
            assert any(e.action == "sync" and e.result == "conflict" for e in entries), uid
        if not is_deleted:
            # The password is the enrollment's or one of the changes made to this user.
            candidates = [PASSWORD] + [entry[3] for entry in log if entry[0] == "password" and entry[2] == uid]
            assert any(b.store.passwords.verify(password_hash, p).ok for p in candidates)
