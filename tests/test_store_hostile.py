"""Hostile input through the whole store: stored and read back exactly, or refused.

Emails and passwords with unicode, 10,000 characters, NUL bytes and SQL metacharacters
go through enrollment, lookup and sign-in of a real SQLite database. Each one is either
accepted and read back exactly (the email as normalised; the password verifies and a
different one does not), or refused with a ValidationError. Never another exception.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from kiosk.errors import ValidationError
from kiosk.store import Store
from kiosk.store.emails import normalize_email
from kiosk.store.errors import AuthenticationError, EmailTakenError
from store_support import MODEL, make_settings, query, query_one, unit_vectors

SQL = ["'", '"', ";", "--", "/*", "*/", "%", "_", "\\", "`", "' OR '1'='1", "'); DROP TABLE users;--", "\0"]

texts = st.one_of(
    st.text(max_size=300),
    # Exactly 10,000 characters (Hypothesis cannot draw that many one by one).
    st.text(min_size=1, max_size=40).map(lambda s: (s * (10_000 // len(s) + 1))[:10_000]),
    st.lists(st.sampled_from(SQL + ["a", "é", "𝔘", "\u202e", " "]), max_size=30).map("".join),
    st.builds(lambda a, b: a + "\0" + b, st.text(max_size=20), st.text(max_size=20)),
)

emails = st.one_of(
    texts,
    st.emails(),
    st.builds(lambda local: local + "@example.org", texts),
    st.builds(lambda local: local[:60] + "@example.org", st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1)),
)

_counter = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    tmp: Path = tmp_path_factory.mktemp("hostile")
    # Short passwords allowed so that more generated ones are accepted and checked.
    opened = Store.open(make_settings(tmp, passwords={"min_length": 1, "max_length": 4096}))
    yield opened
    opened.close()


TEMPLATE = unit_vectors(1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=emails)
@example(raw="h@example.org")
@example(raw="H@EXAMPLE.ORG")  # the same key spelt otherwise: the first spelling stays
def test_hostile_emails(store: Store, raw: str) -> None:
    try:
        expected = normalize_email(raw)
    except ValidationError:
        event("email refused")
        with pytest.raises(ValidationError):
            store.enroll(raw, "a fine password", TEMPLATE, MODEL)
        return
    event("email accepted")
    try:
        user = store.enroll(raw, "a fine password", TEMPLATE, MODEL)
    except EmailTakenError:
        # Generated before by an earlier example, maybe spelt in another case (the key
        # ignores case): the address keeps the first spelling, under the same key.
        user = store.get_user(raw)
        first = normalize_email(user.email)
        assert first.key == expected.key
        expected = first
    assert user.email == expected.address
    assert store.get_user(raw).id == user.id
    assert store.get_user(expected.address).email == expected.address
    assert query(store, "SELECT email, email_key FROM users WHERE id = ?", (user.id,)) == [(expected.address, expected.key)]
    assert query_one(store, "PRAGMA quick_check") == "ok"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(password=texts)
def test_hostile_passwords(store: Store, password: str) -> None:
    email = f"pw{next(_counter)}@example.org"
    try:
        user = store.enroll(email, password, TEMPLATE, MODEL)
    except ValidationError as err:
        event("password refused")
        assert str(err) and "\n" not in str(err)
        return
    event("password accepted")
    assert "\0" not in password
    assert store.sign_in_password(email, password).id == user.id
    with pytest.raises(AuthenticationError):
        store.sign_in_password(email, password + "x")
    store.change_password(user.id, "replacement password")
    assert store.sign_in_password(email, "replacement password").id == user.id


def test_ten_thousand_character_inputs_are_refused_cleanly(store: Store) -> None:
    with pytest.raises(ValidationError, match="too long"):
        store.enroll("a" * 10_000 + "@example.org", "a fine password", TEMPLATE, MODEL)
    with pytest.raises(ValidationError, match="too long"):
        store.enroll("long@example.org", "p" * 10_000, TEMPLATE, MODEL)
    with pytest.raises(ValidationError, match="NUL"):
        store.enroll("nul@example.org", "pass\0word", TEMPLATE, MODEL)


@pytest.mark.parametrize("bad", [np.array([np.nan] * 4), np.zeros((2, 2)), np.array(["a", "b"]), np.zeros(0), np.zeros(5000)])
def test_bad_templates_are_refused(store: Store, bad: np.ndarray) -> None:
    with pytest.raises(ValidationError):
        store.enroll(f"tpl{next(_counter)}@example.org", "a fine password", [bad], MODEL)
