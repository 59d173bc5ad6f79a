"""All live templates of one model as a matrix, for 1:N search, and the duplicate check.

``load_gallery`` is what the 1:N matcher loads at start-up: a
:class:`kiosk.vision.matcher.Gallery` of one float32 matrix with a parallel array of user
ids (rows of one user share one ``str`` object). Templates of
other models are never in it. ``find_duplicate`` is the store's own small search for the
"face already registered" check at enrollment; the threshold (a Euclidean distance) comes
from the caller, i.e. the model's calibration, in the model's metric.
"""

from __future__ import annotations

import sqlite3
from typing import Callable, Mapping, Protocol

import numpy as np

from kiosk.errors import StoreError
from kiosk.store.db import read_snapshot
from kiosk.store.templates import TemplateCodec
from kiosk.vision.matcher import Gallery, Match


def load_gallery(conn: sqlite3.Connection, codec: TemplateCodec, model_id: str, metric: str = "euclidean") -> Gallery:
    """Every template of ``model_id`` (tombstones have none: deletion erases them)."""
    with read_snapshot(conn):  # count and rows from one snapshot
        dims = [row[0] for row in conn.execute("SELECT DISTINCT dim FROM templates WHERE model_id = ?", (model_id,))]
        if not dims:
            return Gallery(np.zeros((0, 0), dtype=np.float32), np.empty(0, dtype=object), metric, model_id)
        if len(dims) != 1:
            raise StoreError(f"face templates of model {model_id} have different lengths {sorted(dims)}")
        count = conn.execute("SELECT COUNT(*) FROM templates WHERE model_id = ?", (model_id,)).fetchone()[0]
        # A plain table scan beats the index when (as usual) nearly every row matches.
        rows = conn.execute("SELECT CAST(user_id AS BLOB), blob FROM templates NOT INDEXED WHERE model_id = ?", (model_id,))
        matrix, owners = codec.decode_into(rows, model_id, count, dims[0])
    shared: dict[bytes, str] = {}
    user_ids = np.empty(count, dtype=object)
    for i, owner in enumerate(owners):
        text = shared.get(owner)
        if text is None:
            text = shared[owner] = owner.decode("utf-8")
        user_ids[i] = text
    gallery = Gallery(matrix, user_ids, metric, model_id)
    gallery.matrix.flags.writeable = False
    return gallery


class GalleryCache:
    """The galleries of one connection, kept between searches while no template changed.

    A search of everyone enrolled runs at every sign-up (duplicates) and every accepted
    reset (nearest account only); decrypting every template each time costs about a
    second per 20,000 people. A cached gallery is reused while both hold:

    * ``PRAGMA data_version`` is unchanged: no other connection (the sync engine, an admin
      command) committed anything since;
    * this connection's own count of template writes is unchanged: TEMP triggers (they
      belong to this connection and need no schema change) count inserts, updates and
      deletes of ``templates``.

    Inside a transaction nothing is cached (uncommitted rows may still roll back).
    The memory is the gallery's own: 512 bytes per 128-value template.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._entries: dict[tuple[str, str], tuple[tuple[int, int], Gallery]] = {}
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS template_writes (n INTEGER NOT NULL)")
        if conn.execute("SELECT COUNT(*) FROM temp.template_writes").fetchone()[0] == 0:
            conn.execute("INSERT INTO temp.template_writes VALUES (0)")
        for event in ("INSERT", "UPDATE", "DELETE"):
            conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS template_writes_{event.lower()} AFTER {event} "
                         "ON main.templates BEGIN UPDATE template_writes SET n = n + 1; END")

    def _token(self) -> tuple[int, int]:
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        writes = self.conn.execute("SELECT n FROM temp.template_writes").fetchone()[0]
        return int(version), int(writes)

    def get(self, codec: TemplateCodec, model_id: str, metric: str = "euclidean") -> Gallery:
        if self.conn.in_transaction:
            return load_gallery(self.conn, codec, model_id, metric)
        token = self._token()
        cached = self._entries.get((model_id, metric))
        if cached is not None and cached[0] == token:
            return cached[1]
        gallery = load_gallery(self.conn, codec, model_id, metric)
        if self._token() == token:  # nothing changed while it loaded
            self._entries[(model_id, metric)] = (token, gallery)
        return gallery

    def clear(self) -> None:
        self._entries.clear()


class DuplicateSearch(Protocol):
    """The kiosk's duplicate-face search at enrollment (kiosk.flows.faces.FaceRules):
    given the store's galleries (model id, metric -> Gallery) and the new person's
    templates by model id, the likely existing account (score in ``distance``) or None."""

    def __call__(self, gallery: Callable[[str, str], Gallery], templates: Mapping[str, np.ndarray]) -> Match | None: ...


def find_duplicate(gallery: Gallery, probes: np.ndarray, threshold: float) -> Match | None:
    """The nearest enrolled face if it is closer than ``threshold``, else None."""
    if len(gallery) and gallery.dim != np.atleast_2d(probes).shape[1]:
        raise StoreError(
            f"new face templates have {np.atleast_2d(probes).shape[1]} values but model {gallery.model_id} makes {gallery.matrix.shape[1]}"
        )
    match = gallery.nearest(probes)
    return match if match is not None and match.distance < threshold else None
