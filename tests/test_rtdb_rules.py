"""The security rules language of tests/rtdb_server.py: grants, denials, cascading and
validation, first on the evaluator itself, then through HTTP with the real firebase-admin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import firebase_admin
from firebase_admin import db, exceptions

from rtdb_server import (RuleContext, RuleError, RuleSnapshot, RtdbServer, RulesEngine,
                         check_rules, compile_rule, normalize, rule_holds, tokenize)

NOW = 1_700_000_000_000


def ctx(auth: Any = None, data: Any = None, new: Any = None, root: Any = None,
        variables: dict[str, str] | None = None) -> RuleContext:
    old_root = root if root is not None else {"here": data} if data is not None else None
    new_root = {"here": new} if new is not None else None
    return RuleContext(auth, NOW, RuleSnapshot(old_root, ()), RuleSnapshot(old_root, ("here",)),
                       RuleSnapshot(new_root, ("here",)), variables or {})


def holds(expression: str, **kwargs: Any) -> bool:
    return rule_holds(expression, ctx(**kwargs))


def value(expression: str, **kwargs: Any) -> Any:
    return compile_rule(expression)(ctx(**kwargs))


# ---------------------------------------------------------------------------------------------
# Expressions


def test_literals_operators_and_precedence() -> None:
    assert value("1 + 2 * 3") == 7
    assert value("(1 + 2) * 3") == 9
    assert value("10 / 4") == 2.5 and value("10 % 4") == 2 and value("-3 + 1") == -2
    assert value("'ab' + \"cd\"") == "abcd"
    assert value("'it\\'s'") == "it's"
    assert holds("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 'a' < 'b'")
    assert holds("!(1 == 2) && 1 != 2 && 1 === 1 && 1 !== 2")
    assert holds("false || true && true")  # && binds tighter than ||
    assert not holds("true && false || false")
    assert value("1 == 1 ? 'yes' : 'no'") == "yes"
    assert holds("null == null && 1 == 1.0")


def test_equality_is_strict_and_type_errors_deny() -> None:
    assert not holds("1 == '1'")
    assert not holds("true == 1")
    assert holds("1 != '1'")
    # An error anywhere makes the rule false (never true, never a crash).
    assert not holds("1 < 'a'")
    assert not holds("!(1 < 'a')")
    assert not holds("'a' + 1 == 'a1'")
    assert not holds("1 && true")
    assert not holds("auth.uid == 'k1'")  # auth is null
    assert not holds("newData.val().length > 0", new=5)
    assert not holds("'abc'")  # not a boolean
    assert not holds("1 / 0 == 1")


def test_short_circuit_skips_the_error() -> None:
    assert holds("auth == null || auth.uid == 'x'")
    assert not holds("auth != null && auth.uid == 'x'")
    assert holds("auth != null && auth.uid == 'x'", auth={"uid": "x"})
    assert value("auth.missing", auth={"uid": "x"}) is None


def test_snapshot_methods() -> None:
    record = {"email": "a@b.c", "n": 3, "ok": True, "sub": {"x": "y"}}
    assert holds("newData.child('email').isString() && newData.child('n').isNumber() "
                 "&& newData.child('ok').isBoolean() && !newData.child('email').isNumber()", new=record)
    assert holds("newData.hasChildren(['email', 'n']) && !newData.hasChildren(['email', 'zz'])", new=record)
    assert holds("newData.hasChildren() && !newData.child('n').hasChildren()", new=record)
    assert holds("newData.hasChild('sub/x') && newData.child('sub/x').val() == 'y'", new=record)
    assert holds("newData.child('sub').child('x').parent().parent().child('n').val() == 3", new=record)
    assert holds("!newData.child('nothing').exists() && newData.child('nothing').val() == null", new=record)
    assert holds("!data.exists() && newData.exists()", new=record)
    assert holds("root.child('other').val() == 7 && data.parent().child('other').val() == 7",
                 root={"here": 1, "other": 7}, data=1)
    assert not holds("root.parent().exists()")  # the root has no parent: an error
    assert not holds("newData.child('').exists()", new=record)  # child() needs a path


def test_strings() -> None:
    assert value("'héllo'.length") == 5
    assert value("'😀'.length") == 2  # UTF-16 code units, as JavaScript counts
    assert holds("'$argon2id$v=19'.beginsWith('$argon2') && 'abc'.endsWith('bc') && 'abc'.contains('b')")
    assert holds("'ABC'.toLowerCase() == 'abc' && 'abc'.toUpperCase() == 'ABC'")
    assert holds("'2024-01-31'.matches(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/)")
    assert not holds("'2024-1-31'.matches(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/)")
    assert holds("'xaby'.matches(/ab/)")  # a search: anchors are explicit
    assert holds("'ABC'.matches(/^abc$/i)")
    assert holds("'a/b'.matches(/^a\\/b$/)")
    assert value("10 / 2 / 5") == 1  # "/" after an operand divides; a regex needs an operand slot
    assert not holds("'abc'.matches('abc')")  # a string is not a regular expression
    assert not holds("'abc'.nothing()")


def test_wildcard_variables() -> None:
    assert holds("$uid == 'u1' && newData.child('owner').val() == $uid",
                 new={"owner": "u1"}, variables={"$uid": "u1"})
    assert not holds("$other == 'x'")  # not bound here: an error, so false


def test_parse_errors_are_reported_not_evaluated() -> None:
    for bad in ("1 +", "(1", "a.b", "data.child('x'", "'open", "1 ? 2", "/abc", "1 $ 2", "data..val()",
                "import os"):
        with pytest.raises(RuleError):
            compile_rule(bad)
        assert rule_holds(bad, ctx()) is False
    assert [t.kind for t in tokenize("a.matches(/x\\/y/i) / 2")] == [
        "name", "op", "name", "op", "regex", "op", "op", "num", "end"]


def test_a_rules_file_with_a_bad_expression_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="unknown name"):
        check_rules({"rules": {"a": {".write": "sneaky == 1"}}})
    with pytest.raises(RuleError, match="two \\$wildcards"):
        check_rules({"rules": {"$a": {}, "$b": {}}})
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": {".read": "auth.uid ==="}}))
    with pytest.raises(RuleError):
        RtdbServer(rules_path=path)


# ---------------------------------------------------------------------------------------------
# Which rules apply: cascading grants, validation on the whole result

RULES: dict[str, Any] = {"rules": {
    ".read": False,
    "open": {".read": True, ".write": "auth != null", "closed": {".read": False, ".write": False}},
    "posts": {
        ".read": "auth != null",
        "$post": {
            ".write": "auth != null && (!data.exists() || data.child('by').val() == auth.uid)",
            ".validate": "newData.hasChildren(['by', 'text'])",
            "by": {".validate": "newData.val() == auth.uid"},
            "text": {".validate": "newData.isString() && newData.val().length <= 10"},
            "stamp": {".validate": "newData.val() == now"},
            "$other": {".validate": False},
        },
    },
    "names": {
        "$name": {
            ".write": "auth != null",
            ".validate": "newData.isString() "
                         "&& newData.parent().parent().child('posts').child(newData.val()).child('by').val() == auth.uid",
        },
    },
    "pins": {  # root is the data before the request: a post made in the same update is not there
        "$pin": {".write": "auth != null", ".validate": "root.child('posts').child(newData.val()).exists()"},
    },
}}


def engine(uid: str | None) -> RulesEngine:
    return RulesEngine(RULES, {"uid": uid} if uid else None, NOW)


def write(root: Any, path: str, new: Any, uid: str | None = "ann") -> bool:
    segments = [s for s in path.split("/") if s]
    from rtdb_server import with_child
    new_root = with_child(root, segments, normalize(new, ""))
    return engine(uid).can_write([segments], root, new_root)


def test_read_grants_cascade_and_cannot_be_revoked_deeper() -> None:
    root = {"open": {"closed": {"x": 1}}, "posts": {"p1": {"by": "ann", "text": "hi"}}}
    assert engine(None).can_read(["open", "closed", "x"], root)  # granted above "closed"
    assert not engine("ann").can_read([], root)
    assert not engine("ann").can_read(["elsewhere"], root)
    assert engine("ann").can_read(["posts"], root) and engine("ann").can_read(["posts", "p1", "text"], root)
    assert not engine(None).can_read(["posts"], root)


def test_write_grants_cascade_and_rules_below_the_path_are_not_consulted() -> None:
    assert write(None, "/open/closed/x", 1)  # .write false deeper does not take back the grant
    assert not write(None, "/open/x", 1, uid=None)
    assert not write(None, "/elsewhere", 1)
    # A write above the level that grants it is denied (grants never flow upwards).
    assert not write(None, "/posts", {"p1": {"by": "ann", "text": "hi"}})


def test_data_and_new_data_in_write_rules() -> None:
    root = {"posts": {"p1": {"by": "ann", "text": "hi"}}}
    assert write(root, "/posts/p1", {"by": "ann", "text": "edited"})
    assert not write(root, "/posts/p1", {"by": "bob", "text": "mine"}, uid="bob")  # not bob's
    assert write(root, "/posts/p2", {"by": "bob", "text": "new"}, uid="bob")


def test_validate_runs_at_every_written_node_and_does_not_cascade() -> None:
    assert write(None, "/posts/p1", {"by": "ann", "text": "ok"})
    assert not write(None, "/posts/p1", {"by": "ann", "text": "far too long"})  # text's rule
    assert not write(None, "/posts/p1", {"by": "bob", "text": "ok"})  # by's rule
    assert not write(None, "/posts/p1", {"by": "ann"})  # the record's rule
    assert not write(None, "/posts/p1", {"by": "ann", "text": "ok", "extra": 1})  # $other false
    assert write(None, "/posts/p1", {"by": "ann", "text": "ok", "stamp": NOW})
    assert not write(None, "/posts/p1", {"by": "ann", "text": "ok", "stamp": NOW + 1})
    assert write(None, "/open/anything", {"deep": {"er": 1}})  # no .validate there: anything


def test_validate_of_ancestors_sees_the_merged_result() -> None:
    root = {"posts": {"p1": {"by": "ann", "text": "hi"}}}
    assert write(root, "/posts/p1/text", "edited")  # the record still has by and text
    assert not write(root, "/posts/p1/text", "far too long!")
    assert not write({"posts": {"p9": {"by": "ann"}}}, "/posts/p9/extra", 1)  # $other below
    assert write(root, "/posts/p1/text", None) is False  # the record would lack text
    assert write(root, "/posts/p1", None)  # deleting is never validated


def test_multi_path_updates_are_judged_as_a_whole() -> None:
    from rtdb_server import with_child

    def update(root: Any, changes: dict[str, Any], uid: str = "ann") -> bool:
        new_root = root
        paths = []
        for key, change in changes.items():
            segments = [s for s in key.split("/") if s]
            new_root = with_child(new_root, segments, normalize(change, ""))
            paths.append(segments)
        return engine(uid).can_write(paths, root, new_root)

    # The name may point at a post only if that post, in the result, is the writer's: a post
    # written in the same update counts.
    assert update(None, {"posts/p1": {"by": "ann", "text": "x"}, "names/first": "p1"})
    assert not update(None, {"names/first": "p1"})
    assert not update(None, {"posts/p1": {"by": "ann", "text": "x"}, "names/first": "p1", "elsewhere": 1})
    assert not update(None, {"posts/p1": {"by": "ann", "text": "x"}, "posts/p2": {"by": "ann"}})
    assert not update(None, {"posts/p1": {"by": "ann", "text": "x"}, "pins/a": "p1"})
    assert update({"posts": {"p1": {"by": "ann", "text": "x"}}}, {"pins/a": "p1"})


# ---------------------------------------------------------------------------------------------
# Through HTTP and the SDK: auth_variable_override is auth, the owner token bypasses


@pytest.fixture
def rules_server(tmp_path: Path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES))
    with RtdbServer(rules_path=path, clock=lambda: NOW / 1000) as server:
        yield server


def _app(server: RtdbServer, name: str, **options: Any) -> firebase_admin.App:
    return firebase_admin.initialize_app(None, {"databaseURL": server.url(), **options}, name=name)


def test_rules_through_the_sdk(rules_server: RtdbServer) -> None:
    admin = _app(rules_server, "rules-admin")
    ann = _app(rules_server, "rules-ann", databaseAuthVariableOverride={"uid": "ann"})
    nobody = _app(rules_server, "rules-nobody", databaseAuthVariableOverride=None)
    try:
        db.reference("/posts/p1", ann).set({"by": "ann", "text": "hi", "stamp": {".sv": "timestamp"}})
        assert rules_server.get_data("/posts/p1") == {"by": "ann", "text": "hi", "stamp": NOW}
        with pytest.raises(exceptions.UnauthenticatedError, match="Permission denied"):
            db.reference("/posts/p1/text", ann).set("much too long")
        with pytest.raises(exceptions.UnauthenticatedError):
            db.reference("/posts", nobody).get()
        assert db.reference("/posts", ann).order_by_key().get() == {"p1": {"by": "ann", "text": "hi", "stamp": NOW}}
        with pytest.raises(exceptions.UnauthenticatedError):  # a multi-path update is refused whole
            db.reference("/", ann).update({"names/n1": "p1", "posts/p2": {"by": "bob", "text": "x"}})
        assert rules_server.get_data("/names") is None and rules_server.get_data("/posts/p2") is None
        db.reference("/", ann).update({"names/n1": "p1", "posts/p2": {"by": "ann", "text": "x"}})
        assert rules_server.get_data("/names") == {"n1": "p1"}
        db.reference("/anything", admin).set({"no": "rules"})  # the owner token bypasses them
        assert rules_server.get_data("/anything") == {"no": "rules"}
    finally:
        for app in (admin, ann, nobody):
            firebase_admin.delete_app(app)


def test_rules_can_be_replaced_over_rest_and_bad_ones_are_refused(rules_server: RtdbServer) -> None:
    import requests

    url = f"http://{rules_server.emulator_host}/.settings/rules.json?ns=test-db"
    owner = {"Authorization": "Bearer owner"}
    bad = requests.put(url, data=json.dumps({"rules": {".read": "auth.uid =="}}), headers=owner, timeout=5)
    assert bad.status_code == 400 and "Invalid rules" in bad.json()["error"]
    good = requests.put(url, data=json.dumps({"rules": {".read": "auth != null"}}), headers=owner, timeout=5)
    assert good.status_code == 200
    as_ann = requests.get(f"http://{rules_server.emulator_host}/posts.json", timeout=5,
                          params={"ns": "test-db", "auth_variable_override": '{"uid":"ann"}'}, headers=owner)
    assert as_ann.status_code == 200
    assert requests.get(f"http://{rules_server.emulator_host}/posts.json?ns=test-db", timeout=5).status_code == 401


def test_a_failed_condition_shows_the_data_only_to_a_reader(rules_server: RtdbServer) -> None:
    import requests

    rules_server.set_data({"p1": {"by": "ann", "text": "secret"}}, "/posts")
    base = f"http://{rules_server.emulator_host}/posts/p1.json"
    stranger = requests.put(base, params={"ns": "test-db"}, data='{"by":"x","text":"y"}',
                            headers={"if-match": "wrong"}, timeout=5)
    assert stranger.status_code == 401 and "secret" not in stranger.text
    reader = requests.put(base, params={"ns": "test-db", "auth_variable_override": '{"uid":"bob"}'},
                          data='{"by":"bob","text":"y"}', headers={"if-match": "wrong", "Authorization": "Bearer owner"},
                          timeout=5)
    assert reader.status_code == 412 and reader.json() == {"by": "ann", "text": "secret"}


# ---------------------------------------------------------------------------------------------
# The project's database.rules.json on /emailIndex (the record shapes: tests/test_fleet_rules.py)

PROJECT_RULES = json.loads((Path(__file__).resolve().parent.parent / "database.rules.json").read_text())
LIVE, GONE, FRESH, OTHERS = ("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
                              "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004")


def index_write(entry: Any, new: Any, uid: str = "k2") -> bool:
    from rtdb_server import with_child

    users = {LIVE: {"deleted": False, "writer": "k1"}, GONE: {"deleted": True, "writer": "k1"},
             OTHERS: {"deleted": False, "writer": "k1"}}
    old = {"users": users, "emailIndex": {"ann@x,org": entry} if entry is not None else {}}
    new_root = with_child(old, ["emailIndex", "ann@x,org"], new)
    return RulesEngine(PROJECT_RULES, {"uid": uid}, NOW).can_write([["emailIndex", "ann@x,org"]], old, new_root)


def test_project_rules_on_the_email_index() -> None:
    assert index_write(None, FRESH)  # a free email, for a user not written yet
    assert index_write(GONE, FRESH)  # the entry of a deleted user is taken over
    assert not index_write(LIVE, FRESH)  # a live user's entry is never taken
    assert not index_write(FRESH, LIVE)  # a claim in flight (no record yet) holds
    assert not index_write(None, OTHERS)  # naming a live user another kiosk wrote
    assert index_write(None, OTHERS, uid="k1")  # ... which that kiosk may (a lost answer's retry)
    assert index_write(GONE, None) and not index_write(LIVE, None)  # freed only once deleted
    assert not index_write(None, "not-a-uid")
    assert not RulesEngine(PROJECT_RULES, None, NOW).can_read(["emailIndex"], None)
