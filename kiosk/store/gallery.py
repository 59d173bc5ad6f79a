"""All live templates of one model as a matrix, for 1:N search, and the duplicate check.

``load_gallery`` is what the 1:N matcher loads at start-up: one float32 matrix with a
parallel array of user ids (rows of one user share one ``str`` object). Templates of
other models are never in it. ``find_duplicate`` is the store's own small search for the
"face already registered" check at enrollment; the threshold (a Euclidean distance) comes
from the caller, i.e. the model's calibration.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from kiosk.errors import StoreError
from kiosk.store.templates import TemplateCodec


@dataclass(frozen=True)
class Gallery:
    model_id: str
    matrix: np.ndarray  # (n, dim) float32, read-only
    user_ids: np.ndarray  # (n,) object array of user id strings
    sq_norms: np.ndarray  # (n,) float32, squared row norms for distance search

    def __len__(self) -> int:
        return int(self.matrix.shape[0])


@dataclass(frozen=True)
class Match:
    user_id: str
    distance: float  # Euclidean
    index: int  # row in the gallery


def load_gallery(conn: sqlite3.Connection, codec: TemplateCodec, model_id: str) -> Gallery:
    """Every template of ``model_id`` (tombstones have none: deletion erases them)."""
    own_snapshot = not conn.in_transaction
    if own_snapshot:
        conn.execute("BEGIN")  # count and rows from one snapshot
    try:
        dims = [row[0] for row in conn.execute("SELECT DISTINCT dim FROM templates WHERE model_id = ?", (model_id,))]
        if not dims:
            empty = np.zeros((0, 0), dtype=np.float32)
            return Gallery(model_id, empty, np.empty(0, dtype=object), np.zeros(0, dtype=np.float32))
        if len(dims) != 1:
            raise StoreError(f"face templates of model {model_id} have different lengths {sorted(dims)}")
        count = conn.execute("SELECT COUNT(*) FROM templates WHERE model_id = ?", (model_id,)).fetchone()[0]
        # A plain table scan beats the index when (as usual) nearly every row matches.
        rows = conn.execute("SELECT CAST(user_id AS BLOB), blob FROM templates NOT INDEXED WHERE model_id = ?", (model_id,))
        matrix, owners = codec.decode_into(rows, model_id, count, dims[0])
    finally:
        if own_snapshot:
            conn.execute("COMMIT")
    shared: dict[bytes, str] = {}
    user_ids = np.empty(count, dtype=object)
    for i, owner in enumerate(owners):
        text = shared.get(owner)
        if text is None:
            text = shared[owner] = owner.decode("utf-8")
        user_ids[i] = text
    matrix.flags.writeable = False
    return Gallery(model_id, matrix, user_ids, np.einsum("ij,ij->i", matrix, matrix))


def squared_distances(gallery: Gallery, probes: np.ndarray) -> np.ndarray:
    """(n_probes, n) squared Euclidean distances, via dot products."""
    probes = np.atleast_2d(np.asarray(probes, dtype=np.float32))
    d = gallery.sq_norms[None, :] - 2.0 * (probes @ gallery.matrix.T) + np.einsum("ij,ij->i", probes, probes)[:, None]
    return np.maximum(d, 0.0, out=d)


def nearest(gallery: Gallery, probes: np.ndarray) -> Match | None:
    """The gallery row closest to any of the probes, or None for an empty gallery."""
    if len(gallery) == 0:
        return None
    distances = squared_distances(gallery, probes)
    flat = int(np.argmin(distances))
    row = flat % distances.shape[1]
    return Match(str(gallery.user_ids[row]), float(np.sqrt(distances.flat[flat])), row)


def find_duplicate(gallery: Gallery, probes: np.ndarray, threshold: float) -> Match | None:
    """The nearest enrolled face if it is closer than ``threshold``, else None."""
    if len(gallery) and gallery.matrix.shape[1] != np.atleast_2d(probes).shape[1]:
        raise StoreError(
            f"new face templates have {np.atleast_2d(probes).shape[1]} values but model {gallery.model_id} makes {gallery.matrix.shape[1]}"
        )
    match = nearest(gallery, probes)
    return match if match is not None and match.distance < threshold else None
