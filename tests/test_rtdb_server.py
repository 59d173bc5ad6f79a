"""The real firebase-admin SDK against tests/rtdb_server.py.

These tests pin both sides: that the server answers the way production does for what the
product uses, and what the SDK itself does on the wire and on failures (the sync engine has
to be built around the latter: see the listener and lost-response tests).

Contract files in tests/rtdb_contract/ are recorded with RTDB_RECORD_CONTRACT=1 and compared
on every other run, so an SDK upgrade that changes the wire format fails here.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import firebase_admin
import pytest
import requests
from firebase_admin import db, exceptions

from rtdb_server import RecordedRequest, RtdbServer

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "database.rules.json"
CONTRACT_DIR = Path(__file__).resolve().parent / "rtdb_contract"
EMULATOR_ENV = "FIREBASE_DATABASE_EMULATOR_HOST"
SSE_RECONNECT_S = 3.0  # firebase_admin._sseclient.SSEClient default retry (3000 ms)


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers


class ThreadErrors:
    """Collects exceptions that kill background threads (the SDK's listener threads)."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, BaseException]] = []
        self.allowed: list[type[BaseException]] = []

    def hook(self, args: threading.ExceptHookArgs) -> None:
        self.errors.append((args.thread.name if args.thread else "?", args.exc_value))

    def unexpected(self) -> list[tuple[str, BaseException]]:
        return [(name, exc) for name, exc in self.errors
                if not isinstance(exc, tuple(self.allowed))]


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch):
    collected = ThreadErrors()
    monkeypatch.setattr(threading, "excepthook", collected.hook)
    yield collected
    assert not collected.unexpected(), collected.unexpected()


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    """The product rules plus indexes for the test-only paths used by query tests."""
    rules = json.loads(RULES.read_text())
    rules["rules"]["scores"] = {".indexOn": ".value"}
    rules["rules"]["things"] = {".indexOn": ["a/b"]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    return path


@pytest.fixture
def server(rules_file: Path):
    with RtdbServer(rules_path=rules_file, keepalive_s=0.3) as srv:
        yield srv


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch):
    """Apps reach the server the way production code will: through the emulator variable.

    With it set, an https databaseURL only names the namespace ("test-db"), and the SDK uses
    EmulatorAdminCredentials (token "owner"), so no credentials are needed.
    """
    apps: list[firebase_admin.App] = []

    def make(srv: RtdbServer, **options: Any) -> firebase_admin.App:
        monkeypatch.setenv(EMULATOR_ENV, srv.emulator_host)
        opts = {"databaseURL": "https://test-db.firebaseio.com", **options}
        app = firebase_admin.initialize_app(options=opts, name=f"rtdb-{uuid.uuid4().hex}")
        apps.append(app)
        return app

    yield make
    for app in apps:
        firebase_admin.delete_app(app)


@pytest.fixture
def app(server: RtdbServer, make_app):
    return make_app(server)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Events:
    """Listener callback that records (type, path, data) triples."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, event: db.Event) -> None:
        with self.lock:
            self.items.append((event.event_type, event.path, event.data))

    def wait(self, count: int, timeout_s: float = 5.0) -> list[tuple[str, str, Any]]:
        assert wait_until(lambda: len(self.items) >= count, timeout_s), self.items
        return list(self.items)


def close_listener(registration: db.ListenerRegistration, errors: ThreadErrors) -> None:
    # Observed with urllib3 2.8: closing while the thread blocks in a read kills the thread
    # with AttributeError ('NoneType' object has no attribute 'read') instead of ending it.
    errors.allowed.append(AttributeError)
    registration.close()


# ---------------------------------------------------------------------------------------------
# Writes and reads


def test_set_get_child_and_missing(app: firebase_admin.App) -> None:
    users = db.reference("/users", app)
    users.child("u1").set({"email": "a@x.com", "deleted": False, "model": "m1"})
    assert users.get() == {"u1": {"email": "a@x.com", "deleted": False, "model": "m1"}}
    assert users.child("u1/email").get() == "a@x.com"
    assert users.child("nobody").get() is None
    users.child("u1/model").set(2.0)
    assert users.child("u1/model").get() == 2  # numbers are doubles: 2.0 reads back as 2


def test_update_multi_path_and_nested(app: firebase_admin.App) -> None:
    root = db.reference("/", app)
    root.child("users/u1").set({"email": "a@x.com", "templates": {"t1": "x"}})
    root.update({"users/u1/email": "b@x.com", "users/u2": {"email": "c@x.com"},
                 "emailIndex/b@x,com": "u1", "users/u1/templates/t1": None})
    assert root.get() == {"users": {"u1": {"email": "b@x.com"}, "u2": {"email": "c@x.com"}},
                          "emailIndex": {"b@x,com": "u1"}}


def test_update_with_overlapping_paths_is_refused(app: firebase_admin.App) -> None:
    with pytest.raises(exceptions.InvalidArgumentError, match="ancestor"):
        db.reference("/", app).update({"users/u1": {"a": 1}, "users/u1/b": 2})


def test_push_ids_are_chronological(app: firebase_admin.App) -> None:
    items = db.reference("/items", app)
    keys = [items.push({"i": i}).key for i in range(5)]
    assert all(len(k) == 20 and k.startswith("-") for k in keys)
    assert keys == sorted(keys)
    assert [items.child(k).get() for k in keys] == [{"i": i} for i in range(5)]
    assert items.push().get() == ""  # push() without a value stores an empty string


def test_delete_prunes_empty_parents(app: firebase_admin.App) -> None:
    root = db.reference("/", app)
    root.child("emailIndex/a@x,com").set("u1")
    root.child("emailIndex/a@x,com").delete()
    assert root.get() is None
    assert root.child("emailIndex").get(shallow=True) is None


def test_shallow(app: firebase_admin.App) -> None:
    users = db.reference("/users", app)
    users.set({"u1": {"email": "a"}, "u2": {"email": "b"}, "count": 2})
    # Objects are truncated to true, primitives keep their values.
    assert users.get(shallow=True) == {"u1": True, "u2": True, "count": 2}
    assert users.child("count").get(shallow=True) == 2


def test_null_and_empty_objects_are_not_stored(app: firebase_admin.App) -> None:
    ref = db.reference("/users/u1", app)
    ref.set({"email": "a", "templates": {}, "model": None, "x": {"y": None}})
    assert ref.get() == {"email": "a"}
    ref.set({"templates": {}})
    assert ref.get() is None
    assert db.reference("/", app).get() is None


def test_arrays_round_trip_while_dense(app: firebase_admin.App, server: RtdbServer) -> None:
    ref = db.reference("/users/u1/templates", app)
    ref.set([[0.1, 0.2], [0.3, 0.4], [0.5]])
    assert ref.get() == [[0.1, 0.2], [0.3, 0.4], [0.5]]
    ref.child("1").delete()
    assert ref.get() == [[0.1, 0.2], None, [0.5]]  # still more than half full: an array
    ref.set({"0": "a", "5": "b"})
    assert ref.get() == {"0": "a", "5": "b"}  # sparse: an object with string keys
    ref.set({"0": "a", "2": "c"})
    assert ref.get() == ["a", None, "c"]
    assert server.get_data("/users/u1/templates") == ["a", None, "c"]


@pytest.mark.parametrize("key", ["a.b", "a$b", "a#b", "a[b", "a]b", "a/b", "a\x01b", "a\x7fb", ""])
def test_forbidden_keys_are_refused(app: firebase_admin.App, key: str) -> None:
    ref = db.reference("/users/u1", app)
    with pytest.raises(exceptions.InvalidArgumentError) as info:
        ref.set({"ok": 1, "nested": {key: 1}})
    assert re.fullmatch(r"Invalid data; couldn't parse key beginning at \d+:\d+\. Key value "
                        r"can't be empty or contain \$ # \[ \] / or \.", str(info.value))
    assert ref.get() is None


def test_forbidden_key_in_update_path_is_refused(app: firebase_admin.App) -> None:
    with pytest.raises(exceptions.InvalidArgumentError, match="couldn't parse key"):
        db.reference("/", app).update({"emailIndex/a@x.com": "u1"})


def test_forbidden_path_is_refused_on_the_wire(server: RtdbServer) -> None:
    # The SDK refuses ". $ # [ ] ?" in paths itself; percent-encoded, they reach the server.
    response = requests.get(f"http://{server.emulator_host}/a%5Bb.json?ns=test-db",
                            headers={"Authorization": "Bearer owner"}, timeout=5)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid path: Invalid token in path"}


def test_method_override_header(server: RtdbServer) -> None:
    base = f"http://{server.emulator_host}"
    auth = {"Authorization": "Bearer owner"}
    requests.put(f"{base}/u.json?ns=test-db", json={"a": 1, "b": 2}, headers=auth, timeout=5)
    response = requests.post(f"{base}/u.json?ns=test-db", json={"b": 3}, timeout=5,
                             headers={**auth, "X-HTTP-Method-Override": "PATCH"})
    assert response.json() == {"b": 3}
    response = requests.post(f"{base}/u/a.json?ns=test-db&print=silent", timeout=5,
                             headers={**auth, "X-HTTP-Method-Override": "DELETE"})
    assert response.status_code == 204
    assert server.get_data("/u") == {"b": 3}


# ---------------------------------------------------------------------------------------------
# Server values


def test_server_timestamp_and_increment(server: RtdbServer, make_app) -> None:
    server.clock = lambda: 1_700_000_000.123
    app = make_app(server)
    user = db.reference("/users/u1", app)
    user.set({"email": "a", "updatedAt": {".sv": "timestamp"}, "n": {".sv": {"increment": 2}}})
    assert user.get() == {"email": "a", "updatedAt": 1_700_000_000_123, "n": 2}
    user.update({"n": {".sv": {"increment": 3}}, "updatedAt": {".sv": "timestamp"}})
    assert user.child("n").get() == 5
    db.reference("/", app).update({"users/u1/n": {".sv": {"increment": -0.5}}})
    assert user.child("n").get() == 4.5
    user.child("email").set({".sv": {"increment": 1}})  # not a number: replaced by the delta
    assert user.child("email").get() == 1


def test_unknown_server_value_is_refused(app: firebase_admin.App) -> None:
    with pytest.raises(exceptions.InvalidArgumentError, match="server value"):
        db.reference("/x", app).set({".sv": "nonsense"})


# ---------------------------------------------------------------------------------------------
# Queries


USERS = {
    "u1": {"email": "d@x.com", "updatedAt": 30},
    "u2": {"email": "a@x.com", "updatedAt": 10},
    "u3": {"email": "c@x.com", "updatedAt": 20},
    "u4": {"email": "b@x.com"},                      # no updatedAt: sorts as null, first
    "u5": {"email": "e@x.com", "updatedAt": "soon"},  # a string sorts after every number
}


def test_order_by_child_ranges_and_limits(app: firebase_admin.App) -> None:
    users = db.reference("/users", app)
    users.set(USERS)
    by_time = users.order_by_child("updatedAt")
    assert list(by_time.get()) == ["u4", "u2", "u3", "u1", "u5"]
    assert list(by_time.start_at(15).get()) == ["u3", "u1", "u5"]
    assert list(users.order_by_child("updatedAt").start_at(15).end_at(30).get()) == ["u3", "u1"]
    assert list(users.order_by_child("updatedAt").limit_to_first(2).get()) == ["u4", "u2"]
    assert list(users.order_by_child("updatedAt").limit_to_last(2).get()) == ["u1", "u5"]
    assert list(users.order_by_child("updatedAt").start_at(11).limit_to_first(1).get()) == ["u3"]
    assert users.order_by_child("email").equal_to("c@x.com").get() == {"u3": USERS["u3"]}
    assert users.order_by_child("email").equal_to("zz").get() == {}


def test_order_by_nested_child(app: firebase_admin.App) -> None:
    things = db.reference("/things", app)
    things.set({"t1": {"a": {"b": 3}}, "t2": {"a": {"b": 1}}, "t3": {"a": 5}})
    assert list(things.order_by_child("a/b").get()) == ["t3", "t2", "t1"]
    assert list(things.order_by_child("a/b").start_at(2).get()) == ["t1"]


def test_order_by_value_follows_firebase_type_order(app: firebase_admin.App) -> None:
    scores = db.reference("/scores", app)
    scores.set({"f": False, "t": True, "n1": 1, "n2": 2.5, "s1": "a", "s2": "b", "o": {"x": 1}})
    assert list(scores.order_by_value().get()) == ["f", "t", "n1", "n2", "s1", "s2", "o"]
    # The server filters by type order: true < numbers < strings.
    assert set(scores.order_by_value().start_at(True).end_at("a").get()) == {"t", "n1", "n2", "s1"}
    assert set(scores.order_by_value().limit_to_first(2).get()) == {"f", "t"}
    assert set(scores.order_by_value().limit_to_last(1).get()) == {"o"}
    assert set(scores.order_by_value().start_at(2).end_at(2.5).get()) == {"n2"}


def test_order_by_key_puts_integer_keys_first(app: firebase_admin.App) -> None:
    ref = db.reference("/anything", app)  # $key queries need no index
    ref.set({"2": "two", "10": "ten", "1a": "str"})
    # Firebase order is 2, 10, "1a" (lexicographic would be "10", "1a", "2").
    assert set(ref.order_by_key().limit_to_first(2).get()) == {"2", "10"}
    assert set(ref.order_by_key().start_at("3").get()) == {"10", "1a"}
    assert set(ref.order_by_key().end_at("b").start_at("1a").get()) == {"1a"}


def test_unindexed_child_query_fails_like_production(app: firebase_admin.App) -> None:
    users = db.reference("/users", app)
    users.set(USERS)
    with pytest.raises(exceptions.InvalidArgumentError) as info:
        users.order_by_child("model").equal_to("m1").get()
    assert str(info.value) == ('Index not defined, add ".indexOn": "model", for path "/users", '
                               'to the rules')
    with pytest.raises(exceptions.InvalidArgumentError) as info:
        users.order_by_value().get()
    assert str(info.value) == ('Index not defined, add ".indexOn": ".value", for path "/users", '
                               'to the rules')
    assert list(users.order_by_key().limit_to_first(1).get()) == ["u1"]


def test_plus_in_a_query_value_is_read_as_a_space(app: firebase_admin.App) -> None:
    # The SDK puts filter values into the query string unescaped and the server form-decodes
    # it, so "+" arrives as " ": production behaves so (firebase-admin-python issue #189).
    # Looking users up by an email with "+" via order_by_child("email") finds nothing.
    users = db.reference("/users", app)
    users.set({"u1": {"email": "a+b@x.com"}, "u2": {"email": "a b@x.com"}})
    assert list(users.order_by_child("email").equal_to("a+b@x.com").get()) == ["u2"]


# ---------------------------------------------------------------------------------------------
# Rules: clients other than the admin get what database.rules.json grants them (the rules
# language itself: tests/test_rtdb_rules.py)


def test_non_admin_access_follows_the_rules(server: RtdbServer, make_app) -> None:
    admin = make_app(server)
    db.reference("/users/u1", admin).set({"email": "a"})
    db.reference("/elsewhere", admin).set({"x": 1})
    user_app = make_app(server, databaseAuthVariableOverride={"uid": "u1"})
    assert db.reference("/users/u1", user_app).get() == {"email": "a"}  # read: auth != null
    with pytest.raises(exceptions.UnauthenticatedError, match="^Permission denied$"):
        db.reference("/elsewhere", user_app).get()  # not in the rules: denied
    with pytest.raises(exceptions.UnauthenticatedError, match="^Permission denied$"):
        db.reference("/users/u1", user_app).set({"email": "b"})  # not a user record
    nobody = make_app(server, databaseAuthVariableOverride=None)  # auth == null
    with pytest.raises(exceptions.UnauthenticatedError, match="^Permission denied$"):
        db.reference("/users/u1", nobody).get()
    anonymous = requests.get(f"http://{server.emulator_host}/users.json?ns=test-db", timeout=5)
    assert anonymous.status_code == 401
    assert db.reference("/users/u1", admin).get() == {"email": "a"}


def test_repo_rules_deny_by_default_and_index_users() -> None:
    rules = json.loads(RULES.read_text())["rules"]
    assert rules[".read"] is False and rules[".write"] is False
    # updatedAt: the catch-up; email: the duplicate-email lookup; deleted: the tombstone purge.
    assert set(rules["users"][".indexOn"]) == {"updatedAt", "email", "deleted"}
    assert set(rules["attempts"][".indexOn"]) == {"updatedAt"}  # the attempts ledgers' catch-up
    # Nothing is granted to everyone, and nobody but the administrator (who bypasses the
    # rules) may write revocations, certificates, sealed keys or the key statement.
    assert "true" not in json.dumps(rules).replace("== true", "")
    assert set(rules["revocations"]) == {".read"} and set(rules["fleet"]) == {".read"}
    kiosk = rules["kiosks"]["$kiosk"]
    assert "cert" not in kiosk and "templateKeys" not in kiosk and kiosk["$other"] == {".validate": False}


# ---------------------------------------------------------------------------------------------
# ETags, conditional writes, transactions


def test_etag_get_and_get_if_changed(app: firebase_admin.App) -> None:
    ref = db.reference("/users/u1", app)
    assert ref.get(etag=True) == (None, "null_etag")
    ref.set({"email": "a"})
    value, etag = ref.get(etag=True)
    assert value == {"email": "a"} and etag not in ("", "null_etag")
    assert ref.get_if_changed(etag) == (False, None, None)  # 304
    ref.child("email").set("b")
    changed, value, new_etag = ref.get_if_changed(etag)
    assert (changed, value) == (True, {"email": "b"}) and new_etag != etag


def test_set_if_unchanged_success_and_conflict(app: firebase_admin.App) -> None:
    ref = db.reference("/users/u1", app)
    ref.set({"email": "a"})
    _, etag = ref.get(etag=True)
    ok, value, etag2 = ref.set_if_unchanged(etag, {"email": "b"})
    assert ok and value == {"email": "b"} and etag2 == ref.get(etag=True)[1]
    ok, value, etag3 = ref.set_if_unchanged(etag, {"email": "stale"})  # 412
    assert (ok, value, etag3) == (False, {"email": "b"}, etag2)
    assert ref.get() == {"email": "b"}
    ok, _, _ = db.reference("/users/new", app).set_if_unchanged("null_etag", {"email": "n"})
    assert ok


def test_transaction_retries_after_a_conflicting_write(app: firebase_admin.App,
                                                       server: RtdbServer) -> None:
    ref = db.reference("/counter", app)
    ref.set(1)
    seen: list[Any] = []

    def bump(current: Any) -> Any:
        seen.append(current)
        if len(seen) == 1:
            server.set_data(10, "/counter")  # another writer sneaks in
        return current + 1

    assert ref.transaction(bump) == 11
    assert seen == [1, 10]
    assert ref.get() == 11
    conditional = [r for r in server.requests() if "if-match" in r.headers]
    assert len(conditional) == 2  # the first got 412, the retry succeeded


def test_transaction_under_contention_from_two_threads(server: RtdbServer, make_app) -> None:
    apps = [make_app(server), make_app(server)]
    db.reference("/counter", apps[0]).set(0)
    both_read = threading.Barrier(2, timeout=5)
    calls = [0, 0]
    per_thread = 5

    def worker(index: int) -> None:
        ref = db.reference("/counter", apps[index])

        def add_one(current: Any) -> Any:
            calls[index] += 1
            if calls[index] == 1:
                both_read.wait()  # both threads hold the same snapshot: one must lose
            return (current or 0) + 1

        for _ in range(per_thread):
            ref.transaction(add_one)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    server.clear_requests()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert db.reference("/counter", apps[0]).get() == 2 * per_thread
    assert sum(calls) > 2 * per_thread  # at least one update function ran again
    conditional = [r for r in server.requests() if "if-match" in r.headers]
    assert len(conditional) == sum(calls)


def test_transaction_on_empty_location(app: firebase_admin.App) -> None:
    ref = db.reference("/users/u9", app)
    assert ref.transaction(lambda current: {"email": "x"} if current is None else current) == \
        {"email": "x"}


# ---------------------------------------------------------------------------------------------
# Streaming


def test_listen_initial_put_then_relative_put_and_patch(app: firebase_admin.App,
                                                        server: RtdbServer,
                                                        thread_errors: ThreadErrors) -> None:
    root = db.reference("/", app)
    root.child("users/u1").set({"email": "a"})
    events = Events()
    registration = db.reference("/users", app).listen(events)
    try:
        events.wait(1)
        root.child("users/u1/email").set("b")                       # under: put at /u1/email
        db.reference("/users", app).update({"u1/model": "m", "u2": {"email": "c"}})  # patch
        root.update({"users/u3": {"email": "d"}, "emailIndex/d": "u3"})  # above: patch /u3
        root.child("emailIndex/x").set("u1")                        # elsewhere: nothing
        root.child("users").set({"u1": 1})                          # same path: put at /
        root.child("users/u1").delete()                             # delete: put null
        root.set({"users": {"u5": 5}})                              # above, changed: put /
        got = events.wait(7)
    finally:
        close_listener(registration, thread_errors)
    assert got == [
        ("put", "/", {"u1": {"email": "a"}}),
        ("put", "/u1/email", "b"),
        ("patch", "/", {"u1/model": "m", "u2": {"email": "c"}}),
        ("patch", "/", {"u3": {"email": "d"}}),
        ("put", "/", {"u1": 1}),
        ("put", "/u1", None),
        ("put", "/", {"u5": 5}),
    ]


def test_listen_sees_server_values_resolved(server: RtdbServer, make_app,
                                            thread_errors: ThreadErrors) -> None:
    server.clock = lambda: 2_000.0
    app = make_app(server)
    events = Events()
    registration = db.reference("/users/u1", app).listen(events)
    try:
        events.wait(1)
        db.reference("/users/u1", app).update({"updatedAt": {".sv": "timestamp"}})
        got = events.wait(2)
    finally:
        close_listener(registration, thread_errors)
    assert got == [("put", "/", None), ("patch", "/", {"updatedAt": 2_000_000})]


def test_raw_stream_wire_format_and_keep_alive(server: RtdbServer) -> None:
    server.set_data({"a": 1}, "/x")
    url = f"http://{server.emulator_host}/x.json?ns=test-db"
    headers = {"Accept": "text/event-stream", "Authorization": "Bearer owner"}
    with requests.get(url, headers=headers, stream=True, timeout=5) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        lines = response.iter_lines(decode_unicode=True)
        first = [next(lines), next(lines)]
        assert first == ["event: put", 'data: {"path":"/","data":{"a":1}}']
        received = [line for line in (next(lines) for _ in range(3)) if line]
        assert received == ["event: keep-alive", "data: null"]


def test_cancel_is_invisible_to_the_callback_and_the_sdk_reconnects(
        server: RtdbServer, make_app, thread_errors: ThreadErrors) -> None:
    server.sse_retry_ms = 200  # shortens the SDK's 3 s reconnect delay for this test
    app = make_app(server)
    server.set_data(1, "/x")
    events = Events()
    registration = db.reference("/x", app).listen(events)
    try:
        events.wait(1)
        server.send_cancel()  # data null: the SDK drops it; then the stream ends
        assert wait_until(lambda: len(events.items) >= 2)
        server.set_data(2, "/x")
        got = events.wait(3)
    finally:
        close_listener(registration, thread_errors)
    assert got == [("put", "/", 1), ("put", "/", 1), ("put", "/", 2)]


def test_auth_revoked_reconnects_at_once(server: RtdbServer, app: firebase_admin.App,
                                         thread_errors: ThreadErrors) -> None:
    server.set_data(1, "/x")
    events = Events()
    registration = db.reference("/x", app).listen(events)
    try:
        events.wait(1)
        started = time.monotonic()
        server.send_auth_revoked()
        events.wait(2)
        reconnect_s = time.monotonic() - started
    finally:
        close_listener(registration, thread_errors)
    assert events.items == [("put", "/", 1), ("put", "/", 1)]
    assert reconnect_s < 1.0  # no 3 s back-off for auth_revoked


def test_restart_within_the_reconnect_delay_keeps_the_listener(
        server: RtdbServer, app: firebase_admin.App, thread_errors: ThreadErrors) -> None:
    port = server.port
    db.reference("/x", app).set(1)
    events = Events()
    registration = db.reference("/x", app).listen(events)
    try:
        events.wait(1)
        server.restart(down_for_s=1.0)
        assert server.port == port
        db.reference("/x", app).set(2)  # REST calls work at once after the restart
        events.wait(2, timeout_s=SSE_RECONNECT_S + 3)  # re-put after the SDK's 3 s delay
        db.reference("/x", app).set(3)
        got = events.wait(3)
    finally:
        close_listener(registration, thread_errors)
    assert got == [("put", "/", 1), ("put", "/", 2), ("put", "/", 3)]


def test_listener_thread_dies_silently_when_server_stays_down(
        server: RtdbServer, app: firebase_admin.App, thread_errors: ThreadErrors) -> None:
    """Records an SDK fact the sync engine must supervise: after the stream breaks, the SDK
    waits 3 s, tries to reconnect once, and if that fails the listener thread ends with a
    requests.ConnectionError. Nothing tells the callback; later writes are never delivered,
    even once the server is back. Detect it with registration._thread.is_alive()."""
    thread_errors.allowed.append(requests.exceptions.ConnectionError)
    db.reference("/x", app).set(1)
    events = Events()
    registration = db.reference("/x", app).listen(events)
    events.wait(1)
    server.stop()
    assert wait_until(lambda: not registration._thread.is_alive(), SSE_RECONNECT_S + 3)
    assert [type(e) for _, e in thread_errors.errors] == [requests.exceptions.ConnectionError]
    server.start()
    db.reference("/x", app).set(2)
    time.sleep(0.5)
    assert events.items == [("put", "/", 1)]
    registration.close()  # safe on a dead listener


def test_dropped_connections_mid_event_recover(server: RtdbServer, make_app,
                                               thread_errors: ThreadErrors) -> None:
    server.sse_retry_ms = 200
    app = make_app(server)
    db.reference("/x", app).set(1)
    events = Events()
    registration = db.reference("/x", app).listen(events)
    try:
        events.wait(1)
        server.drop_all_connections(partial_event=True)  # half an event, then a dead socket
        events.wait(2)
        db.reference("/x", app).set(2)  # pooled REST connections were dropped too
        got = events.wait(3)
    finally:
        close_listener(registration, thread_errors)
    assert got == [("put", "/", 1), ("put", "/", 1), ("put", "/", 2)]


# ---------------------------------------------------------------------------------------------
# Failures on plain requests


def test_response_cut_mid_body(app: firebase_admin.App, server: RtdbServer) -> None:
    ref = db.reference("/users", app)
    ref.set(USERS)
    server.drop_next_response("GET", "/users.json", fraction=0.5)
    with pytest.raises(exceptions.UnknownError) as info:
        ref.get()
    assert isinstance(info.value.cause, requests.exceptions.ChunkedEncodingError)
    assert ref.get() == USERS  # no retry happened for the cut body; the next call works


def test_lost_write_response_is_resent_by_the_sdk(app: firebase_admin.App,
                                                  server: RtdbServer) -> None:
    """The SDK mounts urllib3 Retry(read=1) for every method: a write whose answer is lost is
    sent again. PUT is idempotent; a push() then stores two children."""
    items = db.reference("/items", app)
    server.drop_next_response("POST", "/items.json", fraction=None)
    key = items.push({"a": 1}).key
    assert [r.method for r in server.requests()] == ["POST", "POST"]
    stored = items.get()
    assert len(stored) == 2 and key in stored


def test_lost_conditional_write_answer_looks_like_a_conflict(app: firebase_admin.App,
                                                             server: RtdbServer) -> None:
    """A set_if_unchanged whose answer is lost is applied, then its automatic resend gets
    412: the SDK reports a conflict for a write that succeeded, so a transaction runs its
    update function again and applies it twice."""
    ref = db.reference("/counter", app)
    ref.set(0)
    server.drop_next_response("PUT", "/counter.json", fraction=None)
    assert ref.transaction(lambda n: n + 1) == 2
    assert ref.get() == 2


def test_server_down_is_unavailable_and_data_survives_restart(app: firebase_admin.App,
                                                              server: RtdbServer) -> None:
    db.reference("/x", app).set({"kept": True})
    server.stop()
    with pytest.raises(exceptions.UnavailableError):
        db.reference("/x", app).get()
    server.start()
    assert db.reference("/x", app).get() == {"kept": True}


def test_namespaces_are_separate(server: RtdbServer, make_app) -> None:
    a = make_app(server)
    b = make_app(server, databaseURL="https://other-db.firebaseio.com")
    db.reference("/x", a).set(1)
    assert db.reference("/x", b).get() is None
    assert server.get_data("/x", namespace="other-db") is None


def test_http_database_url_without_the_env_var(server: RtdbServer, monkeypatch) -> None:
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    app = firebase_admin.initialize_app(options={"databaseURL": server.url("test-db")},
                                        name=f"rtdb-{uuid.uuid4().hex}")
    try:
        db.reference("/x", app).set(1)
        assert server.get_data("/x") == 1
    finally:
        firebase_admin.delete_app(app)


# ---------------------------------------------------------------------------------------------
# Wire contract

# Left out of the comparison on purpose:
# - headers host (carries the port), content-length (follows from the body),
#   accept-encoding and connection (set by requests/urllib3, not by the SDK's protocol);
# - version numbers inside user-agent and x-goog-api-client (replaced by <version>);
# - push ids in paths (replaced by <push-id>) and ETag values in if-match / if-none-match
#   (replaced by <etag>: they come from this server, not from the SDK).
# Everything else - method, path, the raw query string and its decoded parameters in order,
# header names and values, JSON body - must match the recording.
VOLATILE_HEADERS = {"host", "content-length", "accept-encoding", "connection"}
_VERSION = re.compile(r"\d+(\.\d+)+")
_PUSH_ID = re.compile(r"-[0-9A-Za-z_-]{19}")


def normalize_request(request: RecordedRequest) -> dict[str, Any]:
    headers = {}
    for name, value in sorted(request.headers.items()):
        if name in VOLATILE_HEADERS:
            continue
        if name in ("user-agent", "x-goog-api-client"):
            value = _VERSION.sub("<version>", value)
        if name in ("if-match", "if-none-match"):
            value = "<etag>"
        headers[name] = value
    try:
        body: Any = json.loads(request.body) if request.body else None
    except ValueError:
        body = request.body
    return {"method": request.method, "path": _PUSH_ID.sub("<push-id>", request.path),
            "raw_query": request.raw_query, "query": [list(pair) for pair in request.query],
            "headers": headers, "body": body}


def _contract_calls() -> dict[str, Callable[[db.Reference], Any]]:
    def listen(ref: db.Reference) -> None:
        registration = ref.listen(lambda event: None)
        time.sleep(0.3)
        try:
            registration.close()
        except Exception:  # noqa: BLE001 - only the request matters here
            pass

    def transaction(ref: db.Reference) -> None:
        ref.transaction(lambda current: (current or 0) + 1)

    return {
        "set": lambda ref: ref.set({"email": "a@x.com", "updatedAt": {".sv": "timestamp"}}),
        "get": lambda ref: ref.get(),
        "get_etag": lambda ref: ref.get(etag=True),
        "get_shallow": lambda ref: ref.get(shallow=True),
        "get_if_changed": lambda ref: ref.get_if_changed("some-etag"),
        "set_if_unchanged": lambda ref: ref.set_if_unchanged("some-etag", {"email": "b"}),
        "update_multi_path": lambda ref: ref.update({"u1/email": "c", "u2": None}),
        "push": lambda ref: ref.push({"email": "d"}),
        "delete": lambda ref: ref.delete(),
        "transaction": transaction,
        "query_child_range": lambda ref: ref.order_by_child("updatedAt").start_at(1)
        .end_at(2).limit_to_first(3).get(),
        # "+" and a space show how (un)escaped filter values go out.
        "query_child_equal": lambda ref: ref.order_by_child("email").equal_to("a+b c@x.com")
        .get(),
        "query_key_last": lambda ref: ref.order_by_key().limit_to_last(2).get(),
        "query_value": lambda ref: ref.order_by_value().start_at("a").get(),
        "listen": listen,
    }


@pytest.mark.parametrize("call", sorted(_contract_calls()))
def test_wire_contract(call: str, server: RtdbServer, make_app, thread_errors) -> None:
    thread_errors.allowed.append(AttributeError)  # listener close, see close_listener
    server.rules["rules"]["users"][".indexOn"] = [".value", "updatedAt", "email"]
    app = make_app(server)
    ref = db.reference("/users", app)
    server.clear_requests()
    _contract_calls()[call](ref)
    recorded = [normalize_request(r) for r in server.requests()]
    path = CONTRACT_DIR / f"{call}.json"
    if os.environ.get("RTDB_RECORD_CONTRACT") == "1":
        CONTRACT_DIR.mkdir(exist_ok=True)
        payload = {"recorded_with": f"firebase-admin {firebase_admin.__version__}",
                   "requests": recorded}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return
    assert path.exists(), f"{path} is missing: run once with RTDB_RECORD_CONTRACT=1"
    expected = json.loads(path.read_text())
    assert recorded == expected["requests"], (
        f"firebase-admin {firebase_admin.__version__} sends something else for {call!r} than "
        f"{expected['recorded_with']} did; review the difference, then re-record.")
