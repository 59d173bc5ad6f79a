"""Pulls that cannot hurt: whatever shape a record in /users has, written through the real
SDK into the local server, the other kiosk keeps applying the good records, its cursor never
passes the server's time, and its gallery and enrollment keep working."""

from __future__ import annotations

import time
import uuid
from typing import Any

import firebase_admin
import pytest
from firebase_admin import db
from hypothesis import HealthCheck, given, settings, strategies as st

from sync_support import DATABASE_URL, Kiosk, admin_app, fleet, server, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")

KEY_CHARS = st.characters(codec="utf-8", exclude_characters=".$#[]/", exclude_categories=("Cc", "Cs"))
keys = st.text(KEY_CHARS, min_size=1, max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.just(2**52), st.just(-1), st.just(""),
)
values = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)), max_leaves=12)
FIELDS = ["deleted", "updatedAt", "createdAt", "origin", "writer", "changeId", "base", "revision", "email",
          "passwordHash", "model", "templates", "faces", "signedAt", "sig"]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Any]:
    """(how, value): a genuine record with one field changed, dropped or added, or junk."""
    how = draw(st.sampled_from(["replace", "drop", "add", "whole", "template"]))
    if how == "replace":
        return how, (draw(st.sampled_from(FIELDS)), draw(values))
    if how == "drop":
        return how, draw(st.sampled_from(FIELDS))
    if how == "add":
        return how, (draw(keys), draw(values))
    if how == "template":
        return how, draw(values)
    return how, draw(values)


def mutate(good: dict[str, Any], mutation: tuple[str, Any]) -> Any:
    how, arg = mutation
    record = dict(good)
    record["updatedAt"] = {".sv": "timestamp"}
    if how == "replace":
        record[arg[0]] = arg[1]
    elif how == "drop":
        record.pop(arg, None)
    elif how == "add":
        record[arg[0]] = arg[1]
    elif how == "template":
        record["templates"] = {**good["templates"], next(iter(good["templates"])): arg}
    else:
        return arg
    return record


@pytest.mark.slow
def test_malformed_records_never_stall_sync(fleet, server) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    seed_uid = a.enroll("template@example.org", seed=1)
    for kiosk in (a, b):
        kiosk.engine.request_catch_up()
        kiosk.engine.run_pass()
    genuine = server.get_data(f"/users/{seed_uid}")
    app = admin_app(fleet.admin)
    counter = iter(range(10**6))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.one_of(st.just("uuid"), keys), mutations()), min_size=1, max_size=4))
    def check(bad: list[tuple[str, tuple[str, Any]]]) -> None:
        for key, mutation in bad:
            user_key = str(uuid.uuid4()) if key == "uuid" else key
            value = mutate(genuine, mutation)
            try:
                db.reference(f"/users/{user_key}", app).set(value)
            except (ValueError, TypeError, firebase_admin.exceptions.FirebaseError):
                continue  # refused by the SDK or the server: never reaches a kiosk
        good = a.enroll(f"good{next(counter)}@example.org", seed=next(counter) + 10)
        a.engine.run_pass()
        b.engine.request_catch_up()
        b.engine.run_pass()  # never raises
        assert good in b.table()
        state = b.store.sync_state(DATABASE_URL)
        assert state.last_seen_ms <= int(time.time() * 1000) + 60_000

    try:
        check()
    finally:
        firebase_admin.delete_app(app)
    assert b.engine.status().state == "online"
    b.enroll("after@example.org", seed=999)  # the gallery loads, enrollment works
    b.engine.run_pass()
    assert b.engine.status().quarantined > 0  # the bad ones were seen, and kept aside
