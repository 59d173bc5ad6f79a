"""Templates of several embedding models per person, through sync: two and three kiosks with
the real firebase-admin against tests/rtdb_server.py. A two-model enrollment arrives with
both models' templates, a template upgrade (a second model added) propagates, a model a
kiosk does not run is kept (a fleet moves to a new model kiosk by kiosk) while one it runs
is held to its length, and the one-model record shape still applies."""

from __future__ import annotations

import base64
import uuid

import firebase_admin
import pytest

from kiosk.fleet.records import sign_record
from kiosk.sync.layout import encode_model_key
from store_support import MODEL, OTHER_MODEL, query, unit_vectors
from sync_support import PASSWORD, Kiosk, admin_app, fleet, passes, server, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")



def models_of(kiosk: Kiosk, user_id: str) -> dict[str, int]:
    """model id -> template count of a user at a kiosk."""
    out: dict[str, int] = {}
    for template in query(kiosk.store, "SELECT model_id FROM templates WHERE user_id = ?", (user_id,)):
        out[template[0]] = out.get(template[0], 0) + 1
    return out


def test_two_model_enrollment_and_upgrade_reach_the_other_kiosk(fleet, server) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")  # b runs MODEL only (model_dims {MODEL: 128})
    two = a.store.enroll("two@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL,
                         more_templates={OTHER_MODEL: list(unit_vectors(2, dim=64, seed=2))}).id
    one = a.enroll("one@example.org", seed=3)
    passes(a, b)
    record = server.get_data(f"/users/{two}")
    assert "model" not in record and set(record["faces"]) == {encode_model_key(MODEL), encode_model_key(OTHER_MODEL)}
    assert "faces" not in server.get_data(f"/users/{one}")  # one model: the shape older kiosks read
    assert models_of(b, two) == {MODEL: 3, OTHER_MODEL: 2}  # the model b does not run is kept
    assert b.table()[two] == a.table()[two]
    assert two in set(b.store.gallery(MODEL).owners)  # the model b runs is searchable there
    # Both models' templates open at b (sealed to user and model under the fleet key).
    assert {m: t.shape for m, t in b.store.user_templates(two, [MODEL, OTHER_MODEL]).items()} == {MODEL: (3, 128), OTHER_MODEL: (2, 64)}

    # The template upgrade at a: a second model's templates for the one-model user.
    a.store.add_templates(one, list(unit_vectors(2, dim=64, seed=4)), OTHER_MODEL)
    passes(a, b)
    assert models_of(b, one) == {MODEL: 3, OTHER_MODEL: 2}
    assert b.table()[one] == a.table()[one]

    # b changes the password of the two-model user: its push carries the model it does not run.
    b.store.change_password(two, "a brand new password")
    passes(b, a)
    assert models_of(a, two) == {MODEL: 3, OTHER_MODEL: 2}
    assert a.table()[two] == b.table()[two]
    assert a.store.sign_in_password("two@example.org", "a brand new password").id == two
    assert b.engine.status().quarantined == 0 and a.engine.status().quarantined == 0


def test_a_model_the_kiosk_runs_is_held_to_its_length(fleet, server) -> None:  # noqa: F811
    a = fleet("a")
    c = fleet("c")
    c.engine = c.make_engine(model_dims={MODEL: 128, OTHER_MODEL: 128})  # c runs OTHER_MODEL at 128 values
    user = a.store.enroll("two@example.org", PASSWORD, list(unit_vectors(3, seed=1)), MODEL,
                          more_templates={OTHER_MODEL: list(unit_vectors(2, dim=64, seed=2))}).id
    fine = a.enroll("fine@example.org", seed=5)
    passes(a, c)
    assert user not in c.table() and fine in c.table()
    assert c.engine.status().quarantined == 1


def test_the_one_model_record_shape_still_applies(fleet, server) -> None:  # noqa: F811
    """A record as the previous release wrote it (model + templates), signed by a kiosk."""
    a, b = fleet("a"), fleet("b")
    source = a.enroll("old@example.org", seed=7)
    a.engine.run_pass()
    written = server.get_data(f"/users/{source}")
    assert set(written) >= {"model", "templates"}
    new = str(uuid.uuid4())
    # The same shape for another user, its templates sealed for that user.
    record = {k: v for k, v in written.items() if k not in ("updatedAt", "sig", "signedAt", "writer")}
    templates = {}
    for vector in unit_vectors(2, seed=8):
        templates[str(uuid.uuid4())] = base64.b64encode(a.store.codec.encode(new, MODEL, vector)).decode()
    record.update(changeId="a:900", email="older@example.org", templates=templates, model=MODEL)
    record.pop("base", None)
    app = admin_app(fleet.admin)
    try:
        firebase_admin.db.reference(f"/users/{new}", app).set(
            {**sign_record(a.identity, new, record, int(written["signedAt"]) + 1), "updatedAt": {".sv": "timestamp"}})
    finally:
        firebase_admin.delete_app(app)
    passes(b)
    assert models_of(b, new) == {MODEL: 2} and models_of(b, source) == {MODEL: 3}
    assert b.store.sign_in_password("older@example.org", PASSWORD).id == new
