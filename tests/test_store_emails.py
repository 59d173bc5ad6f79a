"""Email normalisation and validation (kiosk/store/emails.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from kiosk.errors import ValidationError
from kiosk.store.emails import normalize_email


@pytest.mark.parametrize(
    "raw, address, key",
    [
        ("ann@example.org", "ann@example.org", "ann@example.org"),
        ("  Ann.Lee@Example.ORG \n", "Ann.Lee@example.org", "ann.lee@example.org"),
        ("o'brien+kiosk@mail.example.co.uk", "o'brien+kiosk@mail.example.co.uk", "o'brien+kiosk@mail.example.co.uk"),
        ("jürgen@Bücher.DE", "jürgen@bücher.de", "jürgen@xn--bcher-kva.de"),
        ("x@xn--bcher-kva.de", "x@bücher.de", "x@xn--bcher-kva.de"),
        ("x@ＥＸＡＭＰＬＥ.com", "x@example.com", "x@example.com"),  # full-width letters
        ("DÉJÀ@example.org", "DÉJÀ@example.org", "déjà@example.org"),
    ],
)
def test_normalises(raw: str, address: str, key: str) -> None:
    email = normalize_email(raw)
    assert (email.address, email.key) == (address, key)


def test_local_part_case_is_kept_but_not_compared() -> None:
    assert normalize_email("Ann@example.org").key == normalize_email("aNN@EXAMPLE.org").key
    assert normalize_email("Ann@example.org").address == "Ann@example.org"


def test_decomposed_and_composed_unicode_are_one_address() -> None:
    composed = "jos\u00e9@example.org"
    decomposed = "jose\u0301@example.org"
    assert normalize_email(composed) == normalize_email(decomposed)


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("", "enter an address"),
        ("   ", "enter an address"),
        ("ann.example.org", "needs an @"),
        ("a@b@example.org", "only one @"),
        ("@example.org", "before @ is empty"),
        ("ann@", "after @ is empty"),
        ("ann@localhost", "needs a dot"),
        ("ann@example.org.", "cannot end with a dot"),
        ("ann@1.2.3.4", "cannot end with a number"),
        ("ann@[127.0.0.1]", "IP address"),
        ('"ann"@example.org', "quoted"),
        ("an n@example.org", "a space"),
        ("ann\0@example.org", "U+0000"),
        ("ann\u200b@example.org", "U+200B"),  # zero-width space
        (".ann@example.org", "dots"),
        ("an..n@example.org", "dots"),
        ("ann@exa_mple.org", "not valid"),
        ("ann@-example.org", "not valid"),
        ("ann@exam\u00a0ple.org", "whitespace"),
        ("a" * 65 + "@example.org", "too long"),
        ("a@" + "b" * 250 + ".org", "too long"),
        ("x" * 10_000, "too long"),
        ("'; DROP TABLE users; --@example.org", "';'"),
    ],
)
def test_refuses_with_a_clear_reason(raw: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        normalize_email(raw)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_sql_metacharacters_that_are_legal_stay_as_typed() -> None:
    raw = "o'neil--%_*={}|`@example.org"
    assert normalize_email(raw).address == raw


hostile = st.one_of(
    st.text(),
    st.text(min_size=1000, max_size=10_000),
    st.emails().map(str),
    st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=80),
        st.text(min_size=0, max_size=80),
    ),
    st.builds(lambda s: s + "@example.org", st.sampled_from(["'", '"', ";", "--", "%", "_", "\\", "\0", "/*", "`"]) ),
)


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_any_input_is_normalised_or_refused_never_a_crash(raw: str) -> None:
    try:
        email = normalize_email(raw)
    except ValidationError as err:
        assert str(err) and "\n" not in str(err)
        return
    # Accepted: normalising again changes nothing, and the key is the address's key.
    again = normalize_email(email.address)
    assert again == email
    assert len(email.address.encode("utf-8")) <= 254 + 200  # Unicode domain may be longer than ASCII
    assert "\0" not in email.address and email.address == email.address.strip()


@given(st.emails())
def test_valid_generated_addresses_are_accepted(raw: str) -> None:
    email = normalize_email(raw)
    assert email.key == normalize_email(raw.upper()).key
