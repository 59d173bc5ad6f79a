"""Distances between embeddings, 1:1 verification and 1:N search."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("euclidean", "cosine")


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def distances(probe: np.ndarray, templates: np.ndarray, metric: str) -> np.ndarray:
    """Distance from one probe (d,) to each row of templates (n, d)."""
    probe = np.asarray(probe, dtype=np.float32)
    templates = np.asarray(templates, dtype=np.float32).reshape(-1, probe.shape[-1])
    if metric == "euclidean":
        return np.linalg.norm(templates - probe, axis=1)
    if metric == "cosine":
        return 1.0 - _unit(templates) @ _unit(probe)
    raise ValueError(f"unknown distance metric {metric!r}")


def fuse(dists: np.ndarray, fusion: str) -> float:
    """One score for a person from the distances to their several templates."""
    if len(dists) == 0:
        return float("inf")
    if fusion == "min":
        return float(np.min(dists))
    if fusion == "mean":
        return float(np.mean(dists))
    raise ValueError(f"unknown template fusion {fusion!r}")


@dataclass(frozen=True)
class Match:
    index: int  # row of the owner in the gallery's owner list
    distance: float


class Gallery:
    """All templates of all people as one matrix, for 1:N search.

    ``owners[i]`` names the person template row i belongs to. Squared Euclidean distances
    come from one matrix product: |q - t|^2 = |q|^2 + |t|^2 - 2 q.t.
    """

    def __init__(self, templates: np.ndarray, owners: list[str], metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown distance metric {metric!r}")
        templates = np.asarray(templates, dtype=np.float32)
        if len(templates) != len(owners):
            raise ValueError("one owner per template row is needed")
        self.metric = metric
        self.owners = list(owners)
        self._matrix = _unit(templates) if metric == "cosine" else templates
        self._sq_norms = (self._matrix**2).sum(1)

    def __len__(self) -> int:
        return len(self.owners)

    def all_distances(self, probe: np.ndarray) -> np.ndarray:
        probe = np.asarray(probe, dtype=np.float32)
        if self.metric == "cosine":
            return 1.0 - self._matrix @ _unit(probe)
        squared = self._sq_norms + float(probe @ probe) - 2.0 * (self._matrix @ probe)
        return np.sqrt(np.maximum(squared, 0.0))

    def nearest(self, probe: np.ndarray) -> Match | None:
        if not self.owners:
            return None
        dists = self.all_distances(probe)
        best = int(np.argmin(dists))
        return Match(index=best, distance=float(dists[best]))
