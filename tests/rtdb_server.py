"""A local stand-in for the Firebase Realtime Database REST + streaming protocol.

The Firebase emulator needs Java 21 and a download, neither of which exists here, so the
sync tests run the real ``firebase-admin`` SDK against this server instead. Point the SDK at
it with ``FIREBASE_DATABASE_EMULATOR_HOST=127.0.0.1:<port>`` (or a databaseURL of
``http://127.0.0.1:<port>?ns=<db>``); it then sends ``Authorization: Bearer owner`` and
``ns=<db>`` on every request.

What is served, and the production behaviour it copies:
- ``<path>.json`` with GET, PUT, PATCH (multi-path keys), POST (chronological push ids),
  DELETE, and POST + ``X-HTTP-Method-Override``; ``print=silent`` answers 204.
- GET ``shallow=true`` and queries (orderBy $key/$value/$priority/child path, startAt,
  endAt, equalTo, limitToFirst, limitToLast) with Firebase's type ordering. The server only
  filters; the SDK sorts. Child and $value queries need ``.indexOn`` in the rules file, else
  400 "Index not defined ...", exactly as production answers.
- The query string is form-decoded, so a ``+`` in a filter value becomes a space: production
  does the same, and the SDK does not escape it (firebase-admin-python issue #189).
- ETags (``X-Firebase-ETag: true``, ``if-match`` -> 412 with the current value and ETag,
  ``if-none-match`` -> 304); the ETag of a null value is ``null_etag`` as in production.
- Server values ``{".sv": "timestamp"}`` and ``{".sv": {"increment": n}}``; nulls and empty
  objects are never stored; arrays are stored as integer-keyed objects and read back as arrays
  while dense; keys with ``. $ # [ ] /`` or control characters are refused with 400.
- Security rules (see "Rules" below): requests that are not the admin get 401 "Permission
  denied" unless the rules file allows them. The admin is ``Bearer owner`` without
  ``auth_variable_override``; with that parameter (what firebase-admin sends for its
  ``databaseAuthVariableOverride`` option, JSON ``{"uid": ...}`` or ``null``) the rules run
  with it as ``auth``; no owner token at all is ``auth == null``.
- ``Accept: text/event-stream``: an initial ``put`` at "/", then ``put``/``patch`` events
  relative to the listened path, and ``keep-alive`` events every ``keepalive_s`` seconds.

Test hooks: ``send_cancel``, ``send_auth_revoked``, ``stop``/``start``/``restart`` on the same
port (data is kept in memory), ``drop_all_connections``, ``drop_next_response`` (close the
socket after writing part of a body), the request log (``requests``), and direct data access.

Best guesses, not checked against production: a query that matches nothing answers ``{}``;
shallow reads keep primitive children's values; every write at or under a listened path is
reported even if it changes nothing, writes above it only when its value changed; a patch that
reaches into a listened path from above arrives as a ``patch`` at "/" with slash-joined keys;
``cancel`` is followed by the end of the stream; ``+`` in the URL path also decodes to a space.
Not supported: priorities (``.priority`` writes get 400; ``$priority`` orders as if none were
set), query parameters on streams, ``format=export``.

Rules: the subset of the Realtime Database rules language this project's database.rules.json
needs, parsed by a tokenizer and a recursive-descent parser into closures (never ``eval``):

- ``.read``/``.write`` cascade: a grant at any level from the root down to the requested path
  allows, and a deeper rule cannot take it back; rules below the path are not consulted. A
  read (GET, query, stream) needs ``.read`` at the path; a write needs ``.write`` at each
  written path. ``.validate`` does not cascade: it runs at every non-null node of the new data
  at and below each written path and at the written paths' ancestors (production does
  evaluate an ancestor's, on the merged result: davideast/pyric issue 201 recaptured it),
  and all must hold. ``data``/``newData`` are rooted at each rule's own location.
  Deleting (null) is never validated. A write (a PATCH's multi-path update as one) is judged
  on the data the whole request would leave: ``newData`` is that, ``data``/``root`` before.
- ``$wildcard`` levels bind ``$name`` to the key; a literal key at the same level wins.
- Variables ``auth`` (null or the override object: ``auth.uid``, ``auth.x``), ``now`` (server
  ms), ``root``, ``data``, ``newData``, ``$vars``; literals: numbers, 'strings', "strings",
  true, false, null, ``[list]`` (for hasChildren), ``/regex/i``.
- Snapshot methods ``child(path)``, ``parent()``, ``val()``, ``exists()``, ``hasChild(path)``,
  ``hasChildren([names])``/``hasChildren()``, ``isString()``, ``isNumber()``,
  ``isBoolean()``, ``getPriority()`` (null); string ``.length`` (UTF-16 units),
  ``matches(/re/)`` (a search: anchor with ^ $), ``beginsWith``, ``endsWith``, ``contains``,
  ``toLowerCase``, ``toUpperCase``.
- Operators ``! - * / % + < <= > >= == != === !== && || ?:`` and parentheses; ``==`` is
  strict (no coercion), ``+`` adds numbers or joins two strings, ``<`` compares two numbers
  or two strings; ``&&``/``||`` short-circuit and take booleans only.
- A rule that errs (null.length, a string compared with a number, auth.uid when auth is
  null, a method on the wrong type) is false, as in production; a rule that yields anything
  but true is false. A rules file whose expressions do not parse is refused on load and on
  ``PUT /.settings/rules.json`` (400), as deploying refuses it.
Not in the subset: ``query.*`` rules, ``auth.token`` claims beyond plain properties,
``replace()``/``split``, priorities, and production's limits on rule size and evaluation cost.

Stdlib only. One re-entrant lock guards the data tree and the listener list; every write
updates the tree and queues its events while holding it, so listeners see writes in order.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import math
import queue
import random
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, unquote_plus, urlsplit

ADMIN_TOKEN = "owner"
NULL_ETAG = "null_etag"
DEFAULT_KEEPALIVE_S = 3.0
DEFAULT_NAMESPACE = "default"
PUSH_CHARS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
MAX_KEY_BYTES = 768

_FORBIDDEN_KEY_CHARS = frozenset(".$#[]/") | frozenset(chr(c) for c in range(32)) | {"\x7f"}
_FORBIDDEN_PATH_CHARS = frozenset(".$#[]") | frozenset(chr(c) for c in range(32)) | {"\x7f"}
_ARRAY_INDEX = re.compile(r"(0|[1-9][0-9]*)\Z")
# Firebase's "integer key" test for ordering (firebase-js-sdk util.ts tryParseInt).
_INT_KEY = re.compile(r"-?0*[0-9]{1,10}\Z")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_QUERY_PARAMS = ("startAt", "endAt", "equalTo", "limitToFirst", "limitToLast")
_KEY_ERROR = "Key value can't be empty or contain $ # [ ] / or ."

# Stored values are JSON scalars (str, int, float, bool) or non-empty dicts of them; None is
# "no data". Stored dicts are never mutated: a write copies the dicts along its path, so an old
# root stays a valid snapshot for computing events.
Stored = Any


class RtdbError(Exception):
    """An error answered as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    """One request as it arrived, for contract tests."""

    method: str
    path: str
    raw_query: str  # as sent: shows what the client escaped and what it did not
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: str


# ---------------------------------------------------------------------------------------------
# Values, keys and ordering


def key_order(key: str) -> tuple:
    """Firebase's child-key ordering: 32-bit integer keys numerically first, then strings."""
    if _INT_KEY.match(key):
        number = int(key)
        if _INT32_MIN <= number <= _INT32_MAX:
            return (0, number, len(key), b"")
    # JavaScript compares strings by UTF-16 code units; so does production.
    return (1, 0, 0, key.encode("utf-16-be"))


def value_rank(value: Any) -> tuple:
    """Firebase's value ordering: null < false < true < numbers < strings < objects."""
    if value is None:
        return (0, 0)
    if value is False:
        return (1, 0)
    if value is True:
        return (2, 0)
    if isinstance(value, (int, float)):
        return (3, value)
    if isinstance(value, str):
        return (4, value.encode("utf-16-be"))
    return (5, 0)


def child_at(node: Stored, segments: Iterable[str]) -> Stored:
    for segment in segments:
        if not isinstance(node, dict):
            return None
        node = node.get(segment)
    return node


def with_child(node: Stored, segments: list[str], value: Stored) -> Stored:
    """Returns a copy of ``node`` with ``value`` at ``segments``, pruning emptied parents."""
    if not segments:
        return value
    children = dict(node) if isinstance(node, dict) else {}
    child = with_child(children.get(segments[0]), segments[1:], value)
    if child is None:
        children.pop(segments[0], None)
    else:
        children[segments[0]] = child
    return children or None


def to_wire(node: Stored) -> Any:
    """Stored form -> JSON answer: children in key order, dense integer-keyed objects as arrays.

    The array rule is Firebase's: all keys are array indexes and the largest is below twice
    the number of children (firebase-js-sdk ChildrenNode.val).
    """
    if not isinstance(node, dict):
        return node
    keys = sorted(node, key=key_order)
    if all(_ARRAY_INDEX.match(k) for k in keys) and max(int(k) for k in keys) < 2 * len(keys):
        array: list[Any] = [None] * (max(int(k) for k in keys) + 1)
        for k in keys:
            array[int(k)] = to_wire(node[k])
        return array
    return {k: to_wire(node[k]) for k in keys}


def etag_of(node: Stored) -> str:
    if node is None:
        return NULL_ETAG
    canonical = json.dumps(to_wire(node), sort_keys=True, separators=(",", ":"))
    return base64.b64encode(hashlib.sha1(canonical.encode()).digest()).decode()


def _key_position(raw_body: str, key: str) -> str:
    """Line:column of ``key`` in the request body, like production's "beginning at 1:2"."""
    for encoded in (json.dumps(key), json.dumps(key, ensure_ascii=False)):
        index = raw_body.find(encoded)
        if index >= 0:
            line = raw_body.count("\n", 0, index) + 1
            column = index - (raw_body.rfind("\n", 0, index) + 1) + 1
            return f"{line}:{column}"
    return "1:1"


def check_key(key: Any, raw_body: str) -> None:
    if not isinstance(key, str):
        raise RtdbError(400, "Invalid data; keys must be strings.")
    if key in (".priority", ".value"):
        raise RtdbError(400, "Invalid data; priorities are not supported by this test server.")
    if (not key or any(ch in _FORBIDDEN_KEY_CHARS for ch in key)
            or len(key.encode()) > MAX_KEY_BYTES):
        raise RtdbError(400, f"Invalid data; couldn't parse key beginning at "
                             f"{_key_position(raw_body, key)}. {_KEY_ERROR}")


def normalize(value: Any, raw_body: str) -> Stored:
    """Request JSON -> stored form: validates keys, arrays to objects, drops nulls and {}."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RtdbError(400, "Invalid data; couldn't parse JSON object, array, or value.")
        # Production keeps numbers as doubles and answers 1.0 as 1.
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, list):
        value = {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            check_key(k, raw_body)
            child = normalize(v, raw_body)
            if child is not None:
                out[k] = child
        return out or None
    raise RtdbError(400, "Invalid data; couldn't parse JSON object, array, or value.")


def resolve_server_values(value: Any, existing: Stored, now_ms: int) -> Any:
    """Replaces ``{".sv": ...}`` placeholders, resolving increments against ``existing``."""
    if isinstance(value, dict):
        if ".sv" in value:
            if len(value) != 1:
                raise RtdbError(400, "Invalid data; a server value must be the only key.")
            return _server_value(value[".sv"], existing, now_ms)
        base = existing if isinstance(existing, dict) else {}
        return {k: resolve_server_values(v, base.get(k), now_ms) for k, v in value.items()}
    if isinstance(value, list):
        base = existing if isinstance(existing, dict) else {}
        return [resolve_server_values(v, base.get(str(i)), now_ms) for i, v in enumerate(value)]
    return value


def _server_value(spec: Any, existing: Stored, now_ms: int) -> Any:
    if spec == "timestamp":
        return now_ms
    if isinstance(spec, dict) and set(spec) == {"increment"}:
        delta = spec["increment"]
        if isinstance(delta, bool) or not isinstance(delta, (int, float)):
            raise RtdbError(400, "Invalid data; increment must be a number.")
        if isinstance(existing, (int, float)) and not isinstance(existing, bool):
            return existing + delta
        return delta
    raise RtdbError(400, "Invalid data; unrecognized server value.")


class PushIdGenerator:
    """Firebase push ids: 8 chars of millisecond time, 12 random chars, strictly increasing."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._last_ms = -1
        self._last_rand = [0] * 12

    def next(self, now_ms: int) -> str:
        if now_ms == self._last_ms:
            i = 11
            while i >= 0 and self._last_rand[i] == 63:
                self._last_rand[i] = 0
                i -= 1
            if i >= 0:
                self._last_rand[i] += 1
        else:
            self._last_ms = now_ms
            self._last_rand = [self._rng.randrange(64) for _ in range(12)]
        time_chars = []
        t = now_ms
        for _ in range(8):
            time_chars.append(PUSH_CHARS[t % 64])
            t //= 64
        return "".join(reversed(time_chars)) + "".join(PUSH_CHARS[r] for r in self._last_rand)


# ---------------------------------------------------------------------------------------------
# Paths, rules and queries


def split_path(raw_path: str) -> list[str]:
    """URL path of a ``.json`` resource -> decoded segments; 400 for forbidden characters."""
    if not raw_path.endswith(".json"):
        raise RtdbError(404, "Not found: REST paths must end in .json")
    # Segments are split before decoding, so "%2F" cannot smuggle in a separator. Like the
    # query string, the path is form-decoded ('+' -> ' '), which is what production does.
    segments = [unquote_plus(s) for s in raw_path[: -len(".json")].split("/") if s]
    for segment in segments:
        if "/" in segment or any(ch in _FORBIDDEN_PATH_CHARS for ch in segment):
            raise RtdbError(400, "Invalid path: Invalid token in path")
    return segments


def path_string(segments: list[str]) -> str:
    return "/" + "/".join(segments)


def rules_node(rules: dict, segments: list[str]) -> dict | None:
    """The rules object that applies at ``segments`` ($wildcards match any key)."""
    node: Any = rules.get("rules", {})
    for segment in segments:
        node, _ = _rule_child(node, segment)
        if node is None:
            return None
    return node if isinstance(node, dict) else None


def indexed_on(rules: dict, segments: list[str]) -> set[str]:
    node = rules_node(rules, segments)
    if not node:
        return set()
    index = node.get(".indexOn", [])
    return {index} if isinstance(index, str) else set(index)


# ---------------------------------------------------------------------------------------------
# Security rules: expressions (a tokenizer and a recursive-descent parser, never eval)


class RuleError(Exception):
    """An expression that cannot be parsed, or fails while evaluated (which denies, as in
    production: an error in a rule counts as false)."""


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>===|!==|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]])
""", re.X)
_REGEX_LITERAL = re.compile(r"/((?:[^/\\\n]|\\.)+)/([a-z]*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', "/": "/"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, str, name, op, regex, end
    text: str
    pos: int


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def tokenize(source: str) -> list[_Tok]:
    """Tokens of a rule expression. A ``/`` where an operand is expected starts a regular
    expression literal (``/^[a-z]+$/i``); elsewhere it divides, as in JavaScript."""
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        operand_expected = not tokens or (tokens[-1].kind == "op" and tokens[-1].text not in (")", "]"))
        if source[pos] == "/" and operand_expected:
            match = _REGEX_LITERAL.match(source, pos)
            if match is None:
                raise RuleError(f"unterminated regular expression at {pos}")
            tokens.append(_Tok("regex", match.group(0), pos))
            pos = match.end()
            continue
        match = _TOKEN.match(source, pos)
        if match is None:
            raise RuleError(f"unexpected character {source[pos]!r} at {pos}")
        kind = match.lastgroup or "space"
        if kind != "space":
            tokens.append(_Tok(kind, match.group(0), pos))
        pos = match.end()
    tokens.append(_Tok("end", "", pos))
    return tokens


@dataclass
class RuleContext:
    """What an expression can see: ``auth`` (None or a dict), ``now`` (ms), the old ``root``,
    ``data`` and ``newData`` (None for reads), and the ``$wildcard`` values of the path."""

    auth: Any
    now: int
    root: "RuleSnapshot"
    data: "RuleSnapshot"
    new_data: "RuleSnapshot | None"
    variables: dict[str, str]


class RuleSnapshot:
    """``root``/``data``/``newData``: a location in one version of the tree."""

    __slots__ = ("tree", "segments")

    def __init__(self, tree: Stored, segments: tuple[str, ...]) -> None:
        self.tree = tree
        self.segments = segments

    def value(self) -> Stored:
        return child_at(self.tree, self.segments)

    def call(self, name: str, args: list[Any]) -> Any:
        method = _SNAPSHOT_METHODS.get(name)
        if method is None:
            raise RuleError(f"snapshots have no method {name}()")
        return method(self, *args)

    def child(self, path: Any) -> "RuleSnapshot":
        if not isinstance(path, str) or not path:
            raise RuleError("child() needs a non-empty string path")
        return RuleSnapshot(self.tree, self.segments + tuple(s for s in path.split("/") if s))

    def parent(self) -> "RuleSnapshot":
        if not self.segments:
            raise RuleError("parent() of the root")
        return RuleSnapshot(self.tree, self.segments[:-1])

    def val(self) -> Any:
        return to_wire(self.value())

    def exists(self) -> bool:
        return self.value() is not None

    def has_child(self, path: Any) -> bool:
        return self.child(path).exists()

    def has_children(self, names: Any = None) -> bool:
        node = self.value()
        if names is None:
            return isinstance(node, dict)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RuleError("hasChildren() takes a list of strings")
        return all(self.child(n).exists() for n in names)

    def is_string(self) -> bool:
        return isinstance(self.value(), str)

    def is_number(self) -> bool:
        node = self.value()
        return isinstance(node, (int, float)) and not isinstance(node, bool)

    def is_boolean(self) -> bool:
        return isinstance(self.value(), bool)


_SNAPSHOT_METHODS: dict[str, Callable[..., Any]] = {
    "child": RuleSnapshot.child, "parent": RuleSnapshot.parent, "val": RuleSnapshot.val,
    "exists": RuleSnapshot.exists, "hasChild": RuleSnapshot.has_child,
    "hasChildren": RuleSnapshot.has_children, "isString": RuleSnapshot.is_string,
    "isNumber": RuleSnapshot.is_number, "isBoolean": RuleSnapshot.is_boolean,
    "getPriority": lambda snapshot: None,
}


def _js_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # JavaScript counts UTF-16 code units


def _string_method(text: str, name: str, args: list[Any]) -> Any:
    def one_string() -> str:
        if len(args) != 1 or not isinstance(args[0], str):
            raise RuleError(f"{name}() takes one string")
        return args[0]

    if name == "matches":
        if len(args) != 1 or not isinstance(args[0], re.Pattern):
            raise RuleError("matches() takes a regular expression literal")
        return args[0].search(text) is not None
    if name == "beginsWith":
        return text.startswith(one_string())
    if name == "endsWith":
        return text.endswith(one_string())
    if name == "contains":
        return one_string() in text
    if name == "toLowerCase" and not args:
        return text.lower()
    if name == "toUpperCase" and not args:
        return text.upper()
    raise RuleError(f"strings have no method {name}()")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """``==``: strict, as in the rules language (no type coercion; 1 == 1.0)."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise RuleError(f"{op} compares two numbers or two strings")
    if isinstance(a, str):
        a, b = a.encode("utf-16-be"), b.encode("utf-16-be")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_is_number(a) and _is_number(b)):
        raise RuleError(f"{op} needs two numbers (or, for +, two strings)")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise RuleError("division by zero")
    return a / b if op == "/" else math.fmod(a, b)


def _truthy(value: Any) -> bool:
    if not isinstance(value, bool):
        raise RuleError("&&, || and ! take booleans")
    return value


Compiled = Callable[[RuleContext], Any]


class _Parser:
    """Recursive descent over the rules grammar, building closures ctx -> value."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    def parse(self) -> Compiled:
        expr = self.ternary()
        if self.peek().kind != "end":
            self.fail(f"unexpected {self.peek().text!r}")
        return expr

    # -- helpers
    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def accept(self, *ops: str) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.text in ops:
            self.i += 1
            return token.text
        return None

    def expect(self, op: str) -> None:
        if self.accept(op) is None:
            self.fail(f"expected {op!r}")

    def fail(self, message: str) -> None:
        raise RuleError(f"{message} at {self.peek().pos} in {self.source!r}")

    # -- grammar, lowest precedence first
    def ternary(self) -> Compiled:
        condition = self.logical_or()
        if self.accept("?") is None:
            return condition
        yes = self.ternary()
        self.expect(":")
        no = self.ternary()
        return lambda ctx: yes(ctx) if _truthy(condition(ctx)) else no(ctx)

    def logical_or(self) -> Compiled:
        left = self.logical_and()
        while self.accept("||"):
            right = self.logical_and()
            left = (lambda a, b: lambda ctx: _truthy(a(ctx)) or _truthy(b(ctx)))(left, right)
        return left

    def logical_and(self) -> Compiled:
        left = self.equality()
        while self.accept("&&"):
            right = self.equality()
            left = (lambda a, b: lambda ctx: _truthy(a(ctx)) and _truthy(b(ctx)))(left, right)
        return left

    def equality(self) -> Compiled:
        left = self.relational()
        while (op := self.accept("==", "!=", "===", "!==")) is not None:
            right = self.relational()
            negate = op.startswith("!")
            left = (lambda a, b, n: lambda ctx: _same(a(ctx), b(ctx)) != n)(left, right, negate)
        return left

    def relational(self) -> Compiled:
        left = self.additive()
        while (op := self.accept("<", "<=", ">", ">=")) is not None:
            right = self.additive()
            left = (lambda a, b, o: lambda ctx: _compare(o, a(ctx), b(ctx)))(left, right, op)
        return left

    def additive(self) -> Compiled:
        left = self.multiplicative()
        while (op := self.accept("+", "-")) is not None:
            right = self.multiplicative()
            left = (lambda a, b, o: lambda ctx: _arith(o, a(ctx), b(ctx)))(left, right, op)
        return left

    def multiplicative(self) -> Compiled:
        left = self.unary()
        while (op := self.accept("*", "/", "%")) is not None:
            right = self.unary()
            left = (lambda a, b, o: lambda ctx: _arith(o, a(ctx), b(ctx)))(left, right, op)
        return left

    def unary(self) -> Compiled:
        if self.accept("!"):
            operand = self.unary()
            return lambda ctx: not _truthy(operand(ctx))
        if self.accept("-"):
            operand = self.unary()
            return lambda ctx: _arith("-", 0, operand(ctx))
        return self.postfix()

    def postfix(self) -> Compiled:
        expr = self.primary()
        while True:
            if self.accept("."):
                name = self.take()
                if name.kind != "name":
                    self.fail("expected a name after '.'")
                if self.accept("("):
                    args = self.arguments(")")
                    expr = (lambda obj, n, a: lambda ctx: _call(obj(ctx), n, [f(ctx) for f in a]))(
                        expr, name.text, args)
                else:
                    expr = (lambda obj, n: lambda ctx: _property(obj(ctx), n))(expr, name.text)
            elif self.accept("["):
                index = self.ternary()
                self.expect("]")
                expr = (lambda obj, k: lambda ctx: _property(obj(ctx), k(ctx)))(expr, index)
            else:
                return expr

    def arguments(self, close: str) -> list[Compiled]:
        args: list[Compiled] = []
        if self.accept(close):
            return args
        while True:
            args.append(self.ternary())
            if self.accept(close):
                return args
            self.expect(",")

    def primary(self) -> Compiled:
        token = self.take()
        if token.kind == "num":
            number = float(token.text)
            value: Any = int(number) if number.is_integer() and "." not in token.text else number
            return lambda ctx: value
        if token.kind == "str":
            text = _unescape(token.text[1:-1])
            return lambda ctx: text
        if token.kind == "regex":
            match = _REGEX_LITERAL.fullmatch(token.text)
            assert match is not None
            flags = re.IGNORECASE if "i" in match.group(2) else 0
            try:
                pattern = re.compile(match.group(1), flags)
            except re.error as err:
                raise RuleError(f"bad regular expression {token.text}: {err}") from None
            return lambda ctx: pattern
        if token.kind == "op" and token.text == "(":
            inner = self.ternary()
            self.expect(")")
            return inner
        if token.kind == "op" and token.text == "[":
            items = self.arguments("]")
            return lambda ctx: [f(ctx) for f in items]
        if token.kind == "name":
            return self.name(token)
        self.i -= 1
        self.fail(f"unexpected {token.text or 'end'!r}")
        raise AssertionError  # unreachable

    def name(self, token: _Tok) -> Compiled:
        name = token.text
        constants = {"true": True, "false": False, "null": None}
        if name in constants:
            constant = constants[name]
            return lambda ctx: constant
        if name.startswith("$"):
            def variable(ctx: RuleContext) -> Any:
                if name not in ctx.variables:
                    raise RuleError(f"unknown variable {name}")
                return ctx.variables[name]
            return variable
        if name == "newData":
            def new_data(ctx: RuleContext) -> Any:
                if ctx.new_data is None:
                    raise RuleError("newData is only defined for writes")
                return ctx.new_data
            return new_data
        getters: dict[str, Compiled] = {
            "auth": lambda ctx: ctx.auth, "now": lambda ctx: ctx.now,
            "root": lambda ctx: ctx.root, "data": lambda ctx: ctx.data,
        }
        if name not in getters:
            raise RuleError(f"unknown name {name!r} in {self.source!r}")
        return getters[name]


def _property(obj: Any, name: Any) -> Any:
    if isinstance(obj, str) and name == "length":
        return _js_length(obj)
    if isinstance(obj, dict) and isinstance(name, str):
        return obj.get(name)  # auth.uid, auth.token.x: a missing key is null
    raise RuleError(f"no property {name!r} on {type(obj).__name__}")


def _call(obj: Any, name: str, args: list[Any]) -> Any:
    if isinstance(obj, RuleSnapshot):
        try:
            return obj.call(name, args)
        except TypeError:
            raise RuleError(f"wrong arguments to {name}()") from None
    if isinstance(obj, str):
        return _string_method(obj, name, args)
    raise RuleError(f"cannot call {name}() on {type(obj).__name__}")


_COMPILED: dict[str, Compiled] = {}


def compile_rule(source: str) -> Compiled:
    """A rule expression as a function of a RuleContext (cached; RuleError if malformed)."""
    compiled = _COMPILED.get(source)
    if compiled is None:
        compiled = _COMPILED[source] = _Parser(source).parse()
    return compiled


def rule_holds(rule: Any, ctx: RuleContext) -> bool:
    """A ``.read``/``.write``/``.validate`` value: true/false, or an expression that must
    evaluate to exactly true (anything else, an error included, is false)."""
    if isinstance(rule, bool):
        return rule
    if not isinstance(rule, str):
        return False
    try:
        return compile_rule(rule)(ctx) is True
    except RuleError:
        return False
    except (TypeError, ValueError, OverflowError, RecursionError):
        return False


# ---------------------------------------------------------------------------------------------
# Security rules: which rules apply where, and what a request may do


def _rule_child(node: Any, segment: str) -> tuple[Any, str | None]:
    """The rules below ``node`` for key ``segment`` and the $variable it binds (if any): a
    literal key wins over the level's $wildcard."""
    if not isinstance(node, dict):
        return None, None
    if segment in node and not segment.startswith("$"):
        return node[segment], None
    wildcard = next((k for k in node if k.startswith("$")), None)
    if wildcard is None:
        return None, None
    return node[wildcard], wildcard


def check_rules(rules: dict) -> None:
    """RuleError if any expression of a rules file does not parse (as deploying refuses it)."""
    def walk(node: Any, where: str) -> None:
        if not isinstance(node, dict):
            raise RuleError(f"rules at {where or '/'} are not an object")
        wildcards = [k for k in node if k.startswith("$")]
        if len(wildcards) > 1:
            raise RuleError(f"two $wildcards at {where or '/'}: {wildcards}")
        for key, value in node.items():
            if key in (".read", ".write", ".validate"):
                if isinstance(value, str):
                    compile_rule(value)
                elif not isinstance(value, bool):
                    raise RuleError(f"{where}/{key} is neither a boolean nor an expression")
            elif key == ".indexOn":
                continue
            elif key.startswith("."):
                raise RuleError(f"unknown rule {key} at {where or '/'}")
            else:
                walk(value, f"{where}/{key}")

    walk(rules.get("rules", {}), "")


@dataclass
class RulesEngine:
    """Evaluates a rules file for one request on behalf of ``auth`` (None: unauthenticated)."""

    rules: dict
    auth: Any
    now_ms: int

    def _context(self, old_root: Stored, new_root: Stored | None, segments: tuple[str, ...],
                 variables: dict[str, str], write: bool) -> RuleContext:
        return RuleContext(self.auth, self.now_ms, RuleSnapshot(old_root, ()),
                           RuleSnapshot(old_root, segments),
                           RuleSnapshot(new_root, segments) if write else None, dict(variables))

    def _granted(self, kind: str, segments: list[str], old_root: Stored,
                 new_root: Stored | None) -> bool:
        """``.read``/``.write`` cascade: true at any level from the root down grants."""
        node: Any = self.rules.get("rules", {})
        variables: dict[str, str] = {}
        for depth in range(len(segments) + 1):
            if not isinstance(node, dict):
                return False
            if kind in node and rule_holds(node[kind], self._context(
                    old_root, new_root, tuple(segments[:depth]), variables, kind == ".write")):
                return True
            if depth == len(segments):
                return False
            node, variable = _rule_child(node, segments[depth])
            if variable is not None:
                variables[variable] = segments[depth]
        return False

    def can_read(self, segments: list[str], root: Stored) -> bool:
        return self._granted(".read", segments, root, None)

    def can_write(self, paths: list[list[str]], old_root: Stored, new_root: Stored) -> bool:
        """Every written path needs ``.write`` (evaluated on the whole request's result) and
        every ``.validate`` on the new data must hold: at each written node and below it,
        and at its ancestors. Null (deleted) nodes are not validated."""
        if not all(self._granted(".write", path, old_root, new_root) for path in paths):
            return False
        done: set[tuple[str, ...]] = set()
        for path in paths:
            node: Any = self.rules.get("rules", {})
            variables: dict[str, str] = {}
            for depth in range(len(path)):
                here = tuple(path[:depth])
                if here not in done:
                    done.add(here)
                    if not self._valid_here(node, here, old_root, new_root, variables):
                        return False
                node, variable = _rule_child(node, path[depth])
                if node is None:
                    break
                if variable is not None:
                    variables[variable] = path[depth]
            else:
                if not self._valid_tree(node, tuple(path), old_root, new_root, variables, done):
                    return False
        return True

    def _valid_here(self, node: Any, segments: tuple[str, ...], old_root: Stored,
                    new_root: Stored, variables: dict[str, str]) -> bool:
        if not isinstance(node, dict) or ".validate" not in node:
            return True
        if child_at(new_root, segments) is None:
            return True
        return rule_holds(node[".validate"], self._context(old_root, new_root, segments,
                                                           variables, True))

    def _valid_tree(self, node: Any, segments: tuple[str, ...], old_root: Stored,
                    new_root: Stored, variables: dict[str, str],
                    done: set[tuple[str, ...]]) -> bool:
        if not isinstance(node, dict):
            return True
        if segments not in done:
            done.add(segments)
            if not self._valid_here(node, segments, old_root, new_root, variables):
                return False
        value = child_at(new_root, segments)
        if not isinstance(value, dict):
            return True
        for key in value:
            child, variable = _rule_child(node, key)
            if child is None:
                continue
            inner = {**variables, variable: key} if variable is not None else variables
            if not self._valid_tree(child, segments + (key,), old_root, new_root, inner, done):
                return False
        return True


def rules_allow(rules: dict, segments: list[str], kind: str, root: Stored = None,
                auth: Any = None, now_ms: int = 0) -> bool:
    """Whether ``auth`` may read (``.read``) or write (``.write``, without validation: see
    RulesEngine.can_write) at ``segments``, with ``root`` as the data."""
    engine = RulesEngine(rules, auth, now_ms)
    if kind == ".read":
        return engine.can_read(segments, root)
    return engine._granted(".write", segments, root, root)


@dataclass
class QuerySpec:
    order_by: str
    start_at: Any = None
    end_at: Any = None
    has_start: bool = False
    has_end: bool = False
    limit_first: int | None = None
    limit_last: int | None = None


def _json_param(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        raise RtdbError(400, "Constraint index field must be a JSON primitive") from None
    if isinstance(value, (dict, list)):
        raise RtdbError(400, "Constraint index field must be a JSON primitive")
    return value


def _limit_param(name: str, raw: str) -> int:
    try:
        limit = int(raw)
    except ValueError:
        raise RtdbError(400, f"{name} must be a positive integer") from None
    if limit < 0:
        raise RtdbError(400, f"{name} must be a positive integer")
    return limit


def parse_query(params: dict[str, str]) -> QuerySpec | None:
    if "orderBy" not in params:
        if any(p in params for p in _QUERY_PARAMS):
            raise RtdbError(400, "orderBy must be defined when other query parameters are defined")
        return None
    try:
        order_by = json.loads(params["orderBy"])
    except ValueError:
        order_by = None
    if not isinstance(order_by, str) or not order_by:
        raise RtdbError(400, "orderBy must be a valid JSON encoded path")
    if order_by not in ("$key", "$value", "$priority"):
        order_by = "/".join(s for s in order_by.split("/") if s)
    spec = QuerySpec(order_by=order_by)
    if "equalTo" in params:
        if "startAt" in params or "endAt" in params:
            raise RtdbError(400, "equalTo cannot be combined with startAt or endAt")
        spec.start_at = spec.end_at = _json_param(params["equalTo"])
        spec.has_start = spec.has_end = True
    if "startAt" in params:
        spec.start_at, spec.has_start = _json_param(params["startAt"]), True
    if "endAt" in params:
        spec.end_at, spec.has_end = _json_param(params["endAt"]), True
    if "limitToFirst" in params and "limitToLast" in params:
        raise RtdbError(400, "Can't combine limitToFirst and limitToLast")
    if "limitToFirst" in params:
        spec.limit_first = _limit_param("limitToFirst", params["limitToFirst"])
    if "limitToLast" in params:
        spec.limit_last = _limit_param("limitToLast", params["limitToLast"])
    if order_by == "$key":
        for bound, present in ((spec.start_at, spec.has_start), (spec.end_at, spec.has_end)):
            if present and not isinstance(bound, str):
                raise RtdbError(400, "When ordering by key, startAt, endAt and equalTo "
                                     "must be strings")
    return spec


def run_query(node: Stored, spec: QuerySpec) -> Any:
    """Filters the children of ``node`` and returns the wire answer.

    Like production, the answer is an unordered object, and a query that matches nothing
    answers ``{}`` rather than null.
    """
    if node is None:
        return {}
    if not isinstance(node, dict):
        return to_wire(node)
    if spec.order_by == "$key":
        def position(k: str, v: Stored) -> tuple:
            return key_order(k)

        def bound(b: Any) -> tuple:
            return key_order(b)
    else:
        segments = spec.order_by.split("/")

        def index_value(v: Stored) -> Any:
            if spec.order_by == "$priority":
                return None  # priorities are not stored by this server
            if spec.order_by == "$value":
                return v
            return child_at(v, segments)

        def position(k: str, v: Stored) -> tuple:
            return value_rank(index_value(v))

        def bound(b: Any) -> tuple:
            return value_rank(b)

    ordered = sorted(node.items(), key=lambda kv: (position(*kv), key_order(kv[0])))
    if spec.has_start:
        low = bound(spec.start_at)
        ordered = [kv for kv in ordered if position(*kv) >= low]
    if spec.has_end:
        high = bound(spec.end_at)
        ordered = [kv for kv in ordered if position(*kv) <= high]
    if spec.limit_first is not None:
        ordered = ordered[: spec.limit_first]
    if spec.limit_last is not None:
        ordered = ordered[len(ordered) - spec.limit_last:] if spec.limit_last else []
    return to_wire(dict(ordered)) if ordered else {}


# ---------------------------------------------------------------------------------------------
# Streaming

_CLOSE = "close"        # end the stream cleanly (terminating chunk)
_DROP = "drop"          # close the socket abruptly
_DROP_PARTIAL = "drop-partial"  # write half an event, then close abruptly


def sse_event(event_type: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) and event_type == "auth_revoked" else \
        json.dumps(data, separators=(",", ":"))
    return f"event: {event_type}\ndata: {payload}\n\n".encode()


@dataclass
class _Listener:
    namespace: str
    segments: list[str]
    events: "queue.Queue[bytes | str]" = field(default_factory=queue.Queue)


def _relative(segments: list[str], base: list[str]) -> str:
    return path_string(segments[len(base):])


def _is_prefix(prefix: list[str], segments: list[str]) -> bool:
    return segments[: len(prefix)] == prefix


def events_for(listener: _Listener, old_root: Stored, new_root: Stored,
               writes: list[tuple[list[str], Stored]], base: list[str], patch: bool) -> list[bytes]:
    """SSE events one write produces for one listener.

    ``writes`` are (absolute path, stored value) pairs; ``base`` is the request path and
    ``patch`` tells a PATCH from a PUT/POST/DELETE. Writes at or under the listened path are
    always reported (as production reports every write it applies there); a write above it is
    reported as a ``put`` of the listened location only when that location changed.
    """
    where = listener.segments
    if _is_prefix(where, base):
        rel = _relative(base, where)
        if patch:
            data = {"/".join(segs[len(base):]): to_wire(child_at(new_root, segs))
                    for segs, _ in writes}
            return [sse_event("patch", {"path": rel, "data": data})]
        return [sse_event("put", {"path": rel, "data": to_wire(child_at(new_root, base))})]
    if not _is_prefix(base, where):
        return []
    old_here, new_here = child_at(old_root, where), child_at(new_root, where)
    if not patch or any(_is_prefix(segs, where) for segs, _ in writes):
        if old_here == new_here:
            return []
        return [sse_event("put", {"path": "/", "data": to_wire(new_here)})]
    inside = [segs for segs, _ in writes if _is_prefix(where, segs)]
    if not inside:
        return []
    data = {"/".join(segs[len(where):]): to_wire(child_at(new_root, segs)) for segs in inside}
    return [sse_event("patch", {"path": "/", "data": data})]


# ---------------------------------------------------------------------------------------------
# The server


@dataclass
class _DropRule:
    method: str | None
    path: str | None
    fraction: float | None


class RtdbServer:
    """In-memory Realtime Database served over HTTP on 127.0.0.1.

    ``rules_path`` is a database.rules.json (its ``.indexOn`` entries gate queries and its
    literal ``.read``/``.write`` gate non-admin requests). ``port=0`` picks a free port on the
    first start; restart() reuses it. ``clock`` returns seconds (server timestamps, push ids).
    ``sse_retry_ms``, when set, adds a ``retry:`` field to each stream's first event: the
    SDK's SSE client honours it for its reconnect delay (production never sends one).
    """

    def __init__(self, rules_path: str | Path | None = None, port: int = 0,
                 host: str = "127.0.0.1", keepalive_s: float = DEFAULT_KEEPALIVE_S,
                 clock: Callable[[], float] = time.time, sse_retry_ms: int | None = None,
                 record_requests: bool = True, enforce_rules: bool = True) -> None:
        self.host = host
        self.port = port
        self.keepalive_s = keepalive_s
        self.clock = clock
        self.sse_retry_ms = sse_retry_ms
        self.record_requests = record_requests
        self.rules: dict = {"rules": {".read": False, ".write": False}}
        if rules_path is not None:
            self.rules = json.loads(Path(rules_path).read_text())
            check_rules(self.rules)
        # False: every request with the owner token is the admin, auth_variable_override or
        # not (the server as it was before it evaluated rules; benchmarks compare the two).
        self.enforce_rules = enforce_rules
        self._lock = threading.RLock()
        self._roots: dict[str, Stored] = {}
        self._listeners: list[_Listener] = []
        self._connections: set[socket.socket] = set()
        self._drop_rules: list[_DropRule] = []
        self._refusals: dict[str, tuple[int, str]] = {}
        self._requests: list[RecordedRequest] = []
        self._push_ids = PushIdGenerator()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def emulator_host(self) -> str:
        """Value for FIREBASE_DATABASE_EMULATOR_HOST."""
        return f"{self.host}:{self.port}"

    def url(self, namespace: str = "test-db") -> str:
        return f"http://{self.host}:{self.port}?ns={namespace}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> "RtdbServer":
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self.port), _make_handler(self))
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"rtdb-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening and closes every connection; the data stays for a restart()."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        self.drop_all_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def restart(self, down_for_s: float = 0.0) -> None:
        self.stop()
        if down_for_s:
            time.sleep(down_for_s)
        self.start()

    def __enter__(self) -> "RtdbServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test hooks ----------------------------------------------------------------------

    def get_data(self, path: str = "/", namespace: str = "test-db") -> Any:
        with self._lock:
            return to_wire(child_at(self._roots.get(namespace), _segments(path)))

    def set_data(self, value: Any, path: str = "/", namespace: str = "test-db") -> None:
        """Writes like an admin PUT (listeners are notified)."""
        self.handle("PUT", path.rstrip("/") + ".json", [("ns", namespace)],
                    {"authorization": f"Bearer {ADMIN_TOKEN}"}, json.dumps(value).encode())

    def requests(self, clear: bool = False) -> list[RecordedRequest]:
        with self._lock:
            recorded = list(self._requests)
            if clear:
                self._requests.clear()
        return recorded

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def wait_for_listeners(self, count: int, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.listener_count() >= count:
                return True
            time.sleep(0.01)
        return False

    def send_cancel(self, close: bool = True) -> None:
        """Sends ``event: cancel`` (data null) to every stream, then ends them if ``close``."""
        self._broadcast(sse_event("cancel", None), close)

    def send_auth_revoked(self, close: bool = True) -> None:
        """Sends ``event: auth_revoked`` ("credential is no longer valid") to every stream."""
        self._broadcast(sse_event("auth_revoked", "credential is no longer valid"), close)

    def drop_all_connections(self, partial_event: bool = False) -> None:
        """Closes every open connection abruptly. With ``partial_event`` each stream first
        gets half of an event, as when a connection dies mid-message."""
        with self._lock:
            for listener in self._listeners:
                listener.events.put(_DROP_PARTIAL if partial_event else _DROP)
            connections = list(self._connections)
        if partial_event:
            time.sleep(0.1)  # let the stream threads write their half event first
        for conn in connections:
            _abort(conn)

    def drop_next_response(self, method: str | None = "GET", path: str | None = None,
                           fraction: float | None = 0.5) -> None:
        """The next matching request is processed, then its answer is cut: it gets the
        headers and ``fraction`` of the body before the socket closes, or nothing at all when
        ``fraction`` is None. ``path`` matches the URL path (e.g. "/users.json")."""
        with self._lock:
            self._drop_rules.append(_DropRule(method, path, fraction))

    def refuse_writes(self, path: str, status: int = 400, message: str = "Invalid data; refused by a test") -> None:
        """Every write at or under ``path`` (e.g. "/users/u1") is refused with ``status``, as
        production refuses a write its rules' validation or its limits reject, until
        ``allow_writes``. Multi-path writes touching it are refused whole."""
        with self._lock:
            self._refusals[path.strip("/")] = (status, message)

    def allow_writes(self, path: str) -> None:
        with self._lock:
            self._refusals.pop(path.strip("/"), None)

    def _refused(self, segments: list[str], body: bytes, method: str) -> tuple[int, str] | None:
        with self._lock:
            refusals = dict(self._refusals)
        if not refusals:
            return None
        targets = [segments]
        if method == "PATCH":
            try:
                keys = list(json.loads(body or b"{}"))
            except (ValueError, TypeError):
                keys = []
            targets = [segments + [k for k in str(key).split("/") if k] for key in keys] or [segments]
        for target in targets:
            for path, refusal in refusals.items():
                prefix = [p for p in path.split("/") if p]
                if _is_prefix(prefix, target) or _is_prefix(target, prefix):
                    return refusal
        return None

    def _broadcast(self, event: bytes, close: bool) -> None:
        with self._lock:
            for listener in self._listeners:
                listener.events.put(event)
                if close:
                    listener.events.put(_CLOSE)

    def _take_drop_rule(self, method: str, path: str) -> _DropRule | None:
        with self._lock:
            for rule in self._drop_rules:
                if rule.method in (None, method) and rule.path in (None, path):
                    self._drop_rules.remove(rule)
                    return rule
        return None

    # -- request handling (transport independent) -----------------------------------------

    def handle(self, method: str, raw_path: str, query: list[tuple[str, str]],
               headers: dict[str, str], body: bytes) -> Response:
        try:
            return self._handle(method, raw_path, query, headers, body)
        except RtdbError as error:
            return _json_response(error.status, {"error": error.message})

    def _handle(self, method: str, raw_path: str, query: list[tuple[str, str]],
                headers: dict[str, str], body: bytes) -> Response:
        headers = {k.lower(): v for k, v in headers.items()}
        params = dict(query)
        if method == "POST" and "x-http-method-override" in headers:
            method = headers["x-http-method-override"].upper()
        if raw_path.rstrip("/").endswith("/.settings/rules.json"):
            return self._handle_rules(method, headers, params, body)
        segments = split_path(raw_path)
        namespace = params.get("ns", DEFAULT_NAMESPACE)
        engine = self._rules_for(headers, params)
        silent = params.get("print") == "silent"
        if method == "GET":
            if engine is not None and not engine.can_read(segments, self._roots.get(namespace)):
                raise RtdbError(401, "Permission denied")
            return self._get(namespace, segments, params, headers, silent)
        if method in ("PUT", "PATCH", "POST", "DELETE"):
            refusal = self._refused(segments, body, method)
            if refusal is not None:
                raise RtdbError(*refusal)
            return self._write(method, namespace, segments, params, headers, body, silent, engine)
        raise RtdbError(405, f"Method {method} not supported")

    def _rules_for(self, headers: dict[str, str], params: dict[str, str]) -> RulesEngine | None:
        """None for the admin (rules bypassed), else the rules on behalf of the request's auth."""
        admin, auth = _principal(headers, params)
        if admin or (not self.enforce_rules and _has_owner_token(headers, params)):
            return None
        return RulesEngine(self.rules, auth, int(self.clock() * 1000))

    def _handle_rules(self, method: str, headers: dict[str, str], params: dict[str, str],
                      body: bytes) -> Response:
        if not _is_admin(headers, params):
            raise RtdbError(401, "Permission denied")
        if method == "GET":
            return _json_response(200, self.rules)
        if method == "PUT":
            try:
                rules = json.loads(body)
                check_rules(rules)
            except ValueError:
                raise RtdbError(400, "Invalid rules: not JSON") from None
            except RuleError as err:
                raise RtdbError(400, f"Invalid rules: {err}") from None
            with self._lock:
                self.rules = rules
            return _json_response(200, {"status": "ok"})
        raise RtdbError(405, f"Method {method} not supported on rules")

    def _get(self, namespace: str, segments: list[str], params: dict[str, str],
             headers: dict[str, str], silent: bool) -> Response:
        spec = parse_query(params)
        shallow = params.get("shallow") == "true"
        if shallow and spec is not None:
            raise RtdbError(400, "Mixing 'shallow' and querying parameters is not supported")
        if spec is not None and spec.order_by not in ("$key", "$priority"):
            needed = ".value" if spec.order_by == "$value" else spec.order_by
            if needed not in indexed_on(self.rules, segments):
                raise RtdbError(400, f'Index not defined, add ".indexOn": "{needed}", for path '
                                     f'"{path_string(segments)}", to the rules')
        with self._lock:
            node = child_at(self._roots.get(namespace), segments)
        # Hashing a big node (all /users) is costly: only when the request asks for an ETag.
        etag = etag_of(node) if _etag_wanted(headers) else ""
        if spec is not None:
            answer = run_query(node, spec)
        elif shallow and isinstance(node, dict):
            answer = {k: (True if isinstance(v, dict) else v)
                      for k, v in sorted(node.items(), key=lambda kv: key_order(kv[0]))}
        else:
            answer = to_wire(node)
        extra = _etag_headers(headers, etag)
        if "if-none-match" in headers and headers["if-none-match"] == etag:
            return Response(304, b"", extra)
        if silent:
            return Response(204, b"", extra)
        return _json_response(200, answer, extra, pretty=params.get("print") == "pretty")

    def _write(self, method: str, namespace: str, segments: list[str], params: dict[str, str],
               headers: dict[str, str], body: bytes, silent: bool,
               engine: RulesEngine | None = None) -> Response:
        raw_body = body.decode("utf-8", errors="replace")
        if method == "DELETE":
            value: Any = None
        else:
            if not raw_body.strip():
                raise RtdbError(400, "No data supplied.")
            try:
                value = json.loads(raw_body)
            except ValueError:
                raise RtdbError(400, "Invalid data; couldn't parse JSON object, array, or "
                                     "value.") from None
        now_ms = int(self.clock() * 1000)
        with self._lock:
            old_root = self._roots.get(namespace)
            current = child_at(old_root, segments)
            if "if-match" in headers and headers["if-match"] != etag_of(current):
                if engine is not None and not engine.can_read(segments, old_root):
                    raise RtdbError(401, "Permission denied")  # the 412 would show the data
                return _json_response(412, to_wire(current), {"ETag": etag_of(current)})
            answer: Any
            if method == "PATCH":
                if not isinstance(value, dict):
                    raise RtdbError(400, "Invalid data; PATCH data must be an object.")
                writes = self._patch_writes(value, segments, old_root, now_ms, raw_body)
                # Production answers a PATCH with the data it was sent (nulls included).
                answer = {k: to_wire(stored) for k, (_, stored) in zip(value, writes)}
            else:
                if method == "POST":
                    segments = segments + [self._push_ids.next(now_ms)]
                resolved = resolve_server_values(value, child_at(old_root, segments), now_ms)
                stored = normalize(resolved, raw_body)
                writes = [(segments, stored)]
                answer = {"name": segments[-1]} if method == "POST" else to_wire(stored)
            new_root = old_root
            for write_path, stored in writes:
                new_root = with_child(new_root, write_path, stored)
            # The request is judged as a whole on its result (a multi-path update included).
            if engine is not None:
                engine.now_ms = now_ms  # ``now`` is the time server timestamps resolved to
            if engine is not None and not engine.can_write([w[0] for w in writes], old_root,
                                                           new_root):
                raise RtdbError(401, "Permission denied")
            if new_root is None:
                self._roots.pop(namespace, None)
            else:
                self._roots[namespace] = new_root
            for listener in self._listeners:
                if listener.namespace == namespace:
                    for event in events_for(listener, old_root, new_root, writes, segments,
                                            method == "PATCH"):
                        listener.events.put(event)
            new_etag = etag_of(child_at(new_root, segments))
        extra = _etag_headers(headers, new_etag)
        if silent:
            return Response(204, b"", extra)
        return _json_response(200, answer, extra)

    @staticmethod
    def _patch_writes(value: dict, base: list[str], old_root: Stored, now_ms: int,
                      raw_body: str) -> list[tuple[list[str], Stored]]:
        writes: list[tuple[list[str], Stored]] = []
        for key, child_value in value.items():
            if not isinstance(key, str):
                raise RtdbError(400, "Invalid data; keys must be strings.")
            rel = [s for s in key.split("/") if s]
            if not rel:
                raise RtdbError(400, f"Invalid data; couldn't parse key beginning at "
                                     f"{_key_position(raw_body, key)}. {_KEY_ERROR}")
            for segment in rel:
                check_key(segment, raw_body)
            target = base + rel
            resolved = resolve_server_values(child_value, child_at(old_root, target), now_ms)
            writes.append((target, normalize(resolved, raw_body)))
        paths = sorted((w[0] for w in writes), key=len)
        for i, shorter in enumerate(paths):
            for longer in paths[i + 1:]:
                if _is_prefix(shorter, longer):
                    raise RtdbError(400, f"Invalid data; path {path_string(shorter)} is an "
                                         f"ancestor of {path_string(longer)} in the same update")
        return writes

    # -- streaming ---------------------------------------------------------------------

    def _open_stream(self, namespace: str, segments: list[str]) -> _Listener:
        listener = _Listener(namespace, segments)
        with self._lock:
            data: dict[str, Any] = {"path": "/", "data": to_wire(
                child_at(self._roots.get(namespace), segments))}
            first = sse_event("put", data)
            if self.sse_retry_ms is not None:
                first = f"retry: {self.sse_retry_ms}\n".encode() + first
            listener.events.put(first)
            self._listeners.append(listener)
        return listener

    def _close_stream(self, listener: _Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _record(self, request: RecordedRequest) -> None:
        if self.record_requests:
            with self._lock:
                self._requests.append(request)


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _has_owner_token(headers: dict[str, str], params: dict[str, str]) -> bool:
    token = params.get("access_token") or params.get("auth")
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[len("bearer "):].strip()
    return token == ADMIN_TOKEN


def _principal(headers: dict[str, str], params: dict[str, str]) -> tuple[bool, Any]:
    """(admin, auth) of a request. The owner token alone is the admin, who bypasses the
    rules; with ``auth_variable_override`` (the Admin SDK's ``databaseAuthVariableOverride``,
    JSON: an object such as ``{"uid": "k1"}``, or ``null``) the rules run with that as
    ``auth``. Without the owner token the request is unauthenticated (``auth`` null)."""
    if not _has_owner_token(headers, params):
        return False, None
    if "auth_variable_override" not in params:
        return True, None
    try:
        auth = json.loads(params["auth_variable_override"])
    except ValueError:
        raise RtdbError(400, "Invalid auth_variable_override: not JSON") from None
    if auth is not None and not isinstance(auth, dict):
        raise RtdbError(400, "Invalid auth_variable_override: must be an object or null")
    return False, auth


def _is_admin(headers: dict[str, str], params: dict[str, str]) -> bool:
    return _principal(headers, params)[0]


def _etag_wanted(headers: dict[str, str]) -> bool:
    return (headers.get("x-firebase-etag", "").lower() == "true"
            or "if-match" in headers or "if-none-match" in headers)


def _etag_headers(headers: dict[str, str], etag: str) -> dict[str, str]:
    return {"ETag": etag} if _etag_wanted(headers) else {}


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None,
                   pretty: bool = False) -> Response:
    text = json.dumps(payload, indent=2 if pretty else None,
                      separators=None if pretty else (",", ":"), ensure_ascii=False)
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return Response(status, text.encode(), out)


def _abort(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self) -> tuple[socket.socket, Any]:
        # http.server writes headers and body separately; with Nagle's algorithm the body
        # waits for the client's delayed ACK (~40 ms a request) - production has no such cost.
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are expected here; the tests look at the SDK's side


def _make_handler(server: RtdbServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "rtdb-test-server"

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qsl(parts.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record(RecordedRequest(method, parts.path, parts.query, query, headers,
                                           body.decode("utf-8", errors="replace")))
            if method == "GET" and "text/event-stream" in headers.get("accept", ""):
                self._stream(parts.path, query, headers)
                return
            response = server.handle(method, parts.path, query, headers, body)
            drop = server._take_drop_rule(method, parts.path)
            if drop is not None and drop.fraction is None:
                # The request was applied but its answer is lost before any byte of it.
                self.close_connection = True
                _abort(self.connection)
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if drop is not None:
                self.wfile.write(response.body[: int(len(response.body) * drop.fraction)])
                self.wfile.flush()
                self.close_connection = True
                _abort(self.connection)
                return
            self.wfile.write(response.body)

        def _stream(self, raw_path: str, query: list[tuple[str, str]],
                    headers: dict[str, str]) -> None:
            params = dict(query)
            try:
                segments = split_path(raw_path)
                engine = server._rules_for(headers, params)
                namespace = params.get("ns", DEFAULT_NAMESPACE)
                if engine is not None and not engine.can_read(segments,
                                                              server._roots.get(namespace)):
                    raise RtdbError(401, "Permission denied")
            except RtdbError as error:
                response = _json_response(error.status, {"error": error.message})
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
                return
            listener = server._open_stream(params.get("ns", DEFAULT_NAMESPACE), segments)
            self.close_connection = True
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self._pump(listener)
            except OSError:
                pass
            finally:
                server._close_stream(listener)

        def _pump(self, listener: _Listener) -> None:
            last_write = time.monotonic()
            while True:
                try:
                    item = listener.events.get(timeout=0.1)
                except queue.Empty:
                    if self._peer_closed():
                        return
                    if time.monotonic() - last_write < server.keepalive_s:
                        continue
                    item = sse_event("keep-alive", None)
                if item == _CLOSE:
                    self._chunk(b"")
                    return
                if item == _DROP:
                    _abort(self.connection)
                    return
                if item == _DROP_PARTIAL:
                    self._chunk(b'event: put\ndata: {"path":"/","da')
                    _abort(self.connection)
                    return
                assert isinstance(item, bytes)
                self._chunk(item)
                last_write = time.monotonic()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _peer_closed(self) -> bool:
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

    return Handler
