"""Verification metrics shared by the accuracy benchmarks.

Distances: smaller means more alike. A pair is accepted when distance <= threshold.
"""

from __future__ import annotations

import numpy as np

FAR_TARGETS = ("1e-2", "1e-3", "1e-4")


def accuracy(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy; midpoint between neighbouring distances."""
    order = np.sort(np.unique(distances))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    accepted = distances[None, :] <= candidates[:, None]
    scores = (accepted == same[None, :]).mean(1)
    return float(candidates[int(np.argmax(scores))])


def threshold_at_far(impostor: np.ndarray, far: float) -> float:
    """The largest threshold whose false accept rate on these impostor distances is <= far."""
    impostor = np.sort(impostor)
    allowed = int(np.floor(far * len(impostor)))  # false accepts allowed
    if allowed >= len(impostor):
        return float(impostor[-1])
    if allowed == 0:
        return float(impostor[0] - 1e-6)
    return float((impostor[allowed - 1] + impostor[allowed]) / 2)


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC: the chance a random genuine pair is closer than a random impostor."""
    genuine, impostor = distances[same], distances[~same]
    ranks = np.argsort(np.argsort(np.concatenate([genuine, impostor]), kind="stable"), kind="stable") + 1
    # Mann-Whitney U of the impostors' ranks (larger distances rank higher).
    u = ranks[len(genuine):].sum() - len(impostor) * (len(impostor) + 1) / 2
    return float(u / (len(genuine) * len(impostor)))


def eer(distances: np.ndarray, same: np.ndarray) -> float:
    """Equal error rate: where the false accept and false reject rates cross."""
    thresholds = np.sort(distances)
    genuine, impostor = np.sort(distances[same]), np.sort(distances[~same])
    far = np.searchsorted(impostor, thresholds, side="right") / len(impostor)
    frr = 1 - np.searchsorted(genuine, thresholds, side="right") / len(genuine)
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2)


def tar_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """(true accept rate, false accept rate) at a threshold."""
    return float(np.mean(genuine <= threshold)), float(np.mean(impostor <= threshold))


def all_pairs_distances(embeddings: np.ndarray, labels: list[str], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Distances of every genuine and every impostor pair among a set of embeddings.

    A pairs file has too few impostor pairs to measure FAR 1e-4; every cross-identity
    pair of its images gives hundreds of thousands.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        dist = 1 - x @ x.T
    else:
        sq = (x**2).sum(1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0))
    labels_arr = np.asarray(labels)
    upper = np.triu_indices(len(x), k=1)
    same = labels_arr[upper[0]] == labels_arr[upper[1]]
    values = dist[upper]
    return values[same], values[~same]
