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


# --- Several models: z-normalised fusion, weights, impostor tail -------------------------

def pairwise_distances(x: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """(len(x), len(y)) distances, as kiosk.vision.matcher.distances computes them."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        y = y / np.linalg.norm(y, axis=1, keepdims=True)
        return 1.0 - x @ y.T
    sq = (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2 * x @ y.T
    return np.sqrt(np.maximum(sq, 0.0))


def fuse_z(z: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Weighted mean of the models' z-scores (kiosk.vision.fusion.Fusion.score)."""
    total = sum(weights[name] for name in z)
    return sum(weights[name] * z[name] for name in z) / total


def _normalised(w: np.ndarray, names: list[str]) -> dict[str, float]:
    w = np.clip(w, 0.0, None)
    if w.sum() <= 0:
        w = np.ones_like(w)
    return {name: float(v) for name, v in zip(names, w / w.sum())}


def lda_weights(genuine: np.ndarray, impostor: np.ndarray, names: list[str]) -> dict[str, float]:
    """Fisher's discriminant on the z-score vectors (rows: comparisons, columns: models):
    w ~ S^-1 (mean_impostor - mean_genuine), so that a lower weighted sum means genuine."""
    covariance = (np.cov(genuine, rowvar=False) + np.cov(impostor, rowvar=False)) / 2
    w = np.linalg.solve(np.atleast_2d(covariance), impostor.mean(0) - genuine.mean(0))
    return _normalised(np.atleast_1d(w), names)


def logistic_weights(genuine: np.ndarray, impostor: np.ndarray, names: list[str], iterations: int = 50) -> dict[str, float]:
    """Logistic regression P(genuine) = sigmoid(b - w.z), fitted by Newton's method with
    the two classes weighted equally (impostor comparisons outnumber genuine ones)."""
    x = np.vstack([genuine, impostor])
    x = np.hstack([np.ones((len(x), 1)), -x])
    y = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    sample = np.concatenate([np.full(len(genuine), 0.5 / len(genuine)), np.full(len(impostor), 0.5 / len(impostor))])
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -50, 50)))
        gradient = x.T @ (sample * (y - p))
        hessian = (x * (sample * p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return _normalised(beta[1:], names)


TAIL_FARS = tuple(10.0 ** -k for k in range(1, 9))  # 1e-1 .. 1e-8
# The extrapolation: an exponential tail fitted to the lowest 0.1% of impostor scores.
# Chosen on DevTrain by fitting on a 10% subsample and extrapolating to FARs the whole
# set measures: generalised Pareto fits there find a bounded tail (xi < 0) and put the
# 1e-6 threshold too high (too many false accepts); the exponential on the lowest 0.1%
# lands at or just beyond the measured one (benchmarks/lfw.py reports the backtest).
TAIL_FRACTION = 0.001
TAIL_METHOD = "exponential"
MIN_TAIL_COUNT = 10  # a FAR is "measured" when at least this many impostor scores fall below


def fit_tail(impostor: np.ndarray, fraction: float = TAIL_FRACTION) -> dict:
    """Peaks over threshold on the lowest ``fraction`` of impostor scores: with u their
    upper end and x = u - score, P(score <= u - x) = fraction * S(x). Two fits of S: the
    exponential, exp(-x / scale) with scale = the mean excess, and the generalised
    Pareto, (1 + xi x / sigma)^(-1/xi), by maximum likelihood (scipy.stats.genpareto)."""
    from scipy.stats import genpareto

    scores = np.sort(np.asarray(impostor, dtype=np.float64))
    k = min(max(int(len(scores) * fraction), 20), len(scores) - 1)
    u = float(scores[k])
    excess = u - scores[:k]
    xi, _, sigma = genpareto.fit(excess, floc=0.0)
    return {"u": u, "fraction": k / len(scores), "xi": float(xi), "sigma": float(sigma),
            "exp_scale": float(excess.mean()), "n": int(len(scores)), "exceedances": int(k)}


def tail_threshold(fit: dict, far: float, method: str = TAIL_METHOD) -> float:
    """The score whose impostor FAR is ``far`` under the fitted tail (far < fit fraction)."""
    ratio = fit["fraction"] / far
    if method == "exponential" or abs(fit["xi"]) < 1e-9:
        x = fit["exp_scale"] * np.log(ratio) if method == "exponential" else fit["sigma"] * np.log(ratio)
    else:
        x = fit["sigma"] / fit["xi"] * (ratio ** fit["xi"] - 1)
    return float(fit["u"] - x)


def tail_far(fit: dict, threshold: float, method: str = TAIL_METHOD) -> float:
    """FAR at a threshold below the fit's u under the fitted tail."""
    x = fit["u"] - threshold
    if x <= 0:
        return fit["fraction"]
    if method == "exponential":
        return float(fit["fraction"] * np.exp(-x / fit["exp_scale"]))
    if abs(fit["xi"]) < 1e-9:
        return float(fit["fraction"] * np.exp(-x / fit["sigma"]))
    base = 1 + fit["xi"] * x / fit["sigma"]
    return float(fit["fraction"] * base ** (-1 / fit["xi"])) if base > 0 else 0.0


def impostor_tail(impostor: np.ndarray, fars=TAIL_FARS, method: str = TAIL_METHOD, fraction: float = TAIL_FRACTION) -> tuple[list[dict], dict]:
    """FAR -> threshold from 1e-1 down: measured while at least MIN_TAIL_COUNT impostor
    scores fall below it, extrapolated with the fitted tail beyond (never above the last
    measured threshold, so the table stays monotone)."""
    fit = fit_tail(impostor, fraction)
    rows = []
    last = np.inf
    for far in fars:
        if far * len(impostor) >= MIN_TAIL_COUNT:
            threshold, how = threshold_at_far(impostor, far), "measured"
        else:
            threshold, how = tail_threshold(fit, far, method), f"extrapolated ({method})"
        threshold = min(threshold, last)
        last = threshold
        rows.append({"far": far, "threshold": float(threshold), "how": how})
    return rows, fit


def tail_backtest(train_impostor: np.ndarray, test_impostor: np.ndarray, subsample: float = 0.1, seed: int = 0) -> dict:
    """How far the extrapolation can be trusted: fit the tail on ``subsample`` of the
    DevTrain impostor scores, extrapolate to FARs the full DevTrain set measures, and
    compare; and count DevTest impostor scores below the full fit's extrapolated
    thresholds (expected: FAR x DevTest pairs)."""
    rng = np.random.default_rng(seed)
    part = train_impostor[rng.random(len(train_impostor)) < subsample]
    small = fit_tail(part)
    full = fit_tail(train_impostor)
    out: dict = {"subsample_pairs": int(len(part)), "train_pairs": int(len(train_impostor)),
                 "test_pairs": int(len(test_impostor)), "subsample": {}, "test": {}}
    for far in (1e-5, 1e-6):
        measured = threshold_at_far(train_impostor, far)
        out["subsample"][f"{far:.0e}"] = {
            "measured_on_all_train": measured,
            "gpd_from_subsample": tail_threshold(small, far, "gpd"),
            "exponential_from_subsample": tail_threshold(small, far, "exponential"),
            "train_count_below_measured": int((train_impostor <= measured).sum()),
        }
    for far in (1e-5, 1e-6, 1e-7):
        for method in ("gpd", "exponential"):
            t = tail_threshold(full, far, method)
            out["test"][f"{far:.0e} {method}"] = {
                "threshold": t, "test_false_accepts": int((test_impostor <= t).sum()),
                "expected": far * len(test_impostor)}
    return out
