"""The duplicate-face check at sign-up against gallery size: how many genuinely new people
it refuses, and how many people enrolling again with other pictures it catches.

    python benchmarks/duplicates.py --root ../shared/data/lfw-view1 --fusion models/fusion.json \
        [--embedders sface,dlib] [--sizes 100,1000,3000] [--json]

The threshold for a gallery of N people is the fusion manifest's impostor tail at
per-comparison FAR ``--refusals / N`` (0.01 / N), read with the runtime's own
``OperatingPoints.threshold_at``, so that a newcomer's chance of matching somebody stays
about ``--refusals`` whatever N is. Thresholds come from DevTrain (the manifest); the
newcomers are the DevTest identities (one picture each, never in the gallery), the gallery
N other identities drawn at random from DevTrain and DevTest (each enrolled with up to
``--templates`` images, distance = mean over them), through the kiosk's pipeline
(MTCNN, each model's own alignment, LiteRT).

100,000 people are more than the data holds. The false refusal there is extrapolated: an
exponential tail is fitted to the lowest 0.1% of the DevTest newcomer-vs-gallery impostor
scores (independent of the DevTrain fit that set the threshold; the method of
benchmarks/evaluation.fit_tail), its FAR p at the 100,000 threshold gives
1 - (1 - p)^100000 (independent comparisons, no wolves); the same formula is printed
beside each measured size to show how well it holds.

Catch rate: a DevTest person with at least two images is enrolled with all but their last
image (up to ``--templates``) and signs up again with the last one; caught when that
picture's score against their own record is at or below the threshold for N.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.attempts import build_gallery, person_scores  # noqa: E402
from benchmarks.evaluation import fit_tail, tail_far  # noqa: E402
from benchmarks.lfw import (  # noqa: E402
    PairsFile,
    Split,
    detect_images,
    detector_key,
    embed_with,
    person,
    limit_pairs,
    load_embedders,
    load_split,
    read_pairs,
    set_vectors,
)
from kiosk.config import config_path, load_config  # noqa: E402
from kiosk.vision.fusion import load_fusion  # noqa: E402
from kiosk.vision.pipeline import FacePipeline  # noqa: E402


def refusal_study(scores: np.ndarray, newcomers: np.ndarray, newcomer_person: np.ndarray, sizes: list[int],
                  threshold_for, trials: int, seed: int = 0) -> dict:
    """False refusals of newcomers (rows ``newcomers`` of scores, each of the person
    ``newcomer_person``, left out of its own gallery) for galleries of each size."""
    rng = np.random.default_rng(seed)
    people = scores.shape[1]
    out = {}
    for n in sizes:
        n_eff = min(n, people - 1)
        threshold = threshold_for(n_eff)
        refused, total = 0, 0
        runs = 1 if n_eff >= people - 1 else trials
        for _ in range(runs):
            for row, own in zip(newcomers, newcomer_person):
                others = np.delete(np.arange(people), own)
                gallery = others if n_eff >= len(others) else rng.choice(others, n_eff, replace=False)
                refused += bool((scores[row, gallery] <= threshold).any())
                total += 1
        out[str(n)] = {"gallery": n_eff, "threshold": float(threshold), "per_comparison_far": 0.01 / n_eff,
                       "false_refusals": refused / total, "searches": total, "trials": runs}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="LFW View 1 folder")
    parser.add_argument("--train", type=Path, default=Path("pairsDevTrain.txt"))
    parser.add_argument("--test", type=Path, default=Path("pairsDevTest.txt"), help="newcomers come from these identities")
    parser.add_argument("--config", help="kiosk config (default: $FACEKIOSK_CONFIG or ./config.yml)")
    parser.add_argument("--fusion", type=Path, default=Path("models/fusion.json"))
    parser.add_argument("--embedders", help="comma list (default: every model of the fusion manifest)")
    parser.add_argument("--sizes", default="100,1000,5000", help="gallery sizes (capped at the identities available)")
    parser.add_argument("--extrapolate-to", type=int, default=100_000)
    parser.add_argument("--refusals", type=float, default=0.01, help="target false refusals per search")
    parser.add_argument("--templates", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10, help="random galleries per size")
    parser.add_argument("--limit", type=int, help="first N matched + N mismatched pairs of each file (smoke tests)")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    settings = load_config(config_path(args.config))
    fusion = load_fusion(args.fusion)
    names = args.embedders.split(",") if args.embedders else [
        fusion.source.get("models", {}).get(m, {}).get("manifest", m) for m in sorted(fusion.models)]
    detector = FacePipeline.from_settings(settings).detector
    embedders, _ = load_embedders(settings, names)
    models = sorted(embedders)
    flips = {m: bool(fusion.source.get("models", {}).get(m, {}).get("flip_tta", settings.models.flip_tta)) for m in models}
    det_key = detector_key(settings)

    def split_of(name: Path) -> Split:
        if args.limit:
            pairs: PairsFile = limit_pairs(read_pairs(args.root / name), args.limit)
            detections = detect_images(detector, args.root, pairs.images, None)
            raw = {m: embed_with(e, args.root, detections, None) for m, e in embedders.items()}
            return Split(str(name), pairs.images, np.asarray([person(k) for k in pairs.images]), {},
                         {m: e.manifest.distance for m, e in embedders.items()},
                         int((~detections["found"].astype(bool)).sum()), raw)
        return load_split(args.root, name, detector, embedders, args.cache, det_key)

    train, test = split_of(args.train), split_of(args.test)
    for split in (train, test):
        set_vectors(split, embedders, flips)
    stats = {m: (fusion.models[m].impostor_mean, fusion.models[m].impostor_std) for m in models}
    weights = {m: fusion.models[m].weight for m in models}
    points = fusion.operating_points(models)

    labels = np.concatenate([train.labels, test.labels])
    vectors = {m: np.concatenate([train.vectors[m], test.vectors[m]]) for m in models}
    gallery = build_gallery(labels, args.templates, 0)
    scores = person_scores(vectors, train.metrics, gallery, stats, weights, models)
    index = {p: k for k, p in enumerate(gallery.people)}
    test_people = sorted(set(test.labels))
    first_image = {}
    for i, label in enumerate(labels):
        if i >= len(train.labels):
            first_image.setdefault(str(label), i)
    newcomers = np.asarray([first_image[p] for p in test_people])
    newcomer_person = np.asarray([index[p] for p in test_people])

    def threshold_for(n: int) -> float:
        return points.threshold_at(args.refusals / n)

    sizes = [int(s) for s in args.sizes.split(",")]
    report: dict = {
        "models": models,
        "fusion": str(args.fusion),
        "identities": len(gallery.people),
        "newcomers": len(newcomers),
        "templates_per_person": args.templates,
        "target_false_refusals": args.refusals,
        "sizes": refusal_study(scores, newcomers, newcomer_person, sizes, threshold_for, args.trials),
    }

    # Impostor tail of newcomer-vs-gallery scores on DevTest newcomers (not used for the threshold).
    mask = np.ones((len(newcomers), len(gallery.people)), dtype=bool)
    mask[np.arange(len(newcomers)), newcomer_person] = False
    impostor = scores[newcomers][mask]
    fit = fit_tail(impostor)

    def predicted(n: int) -> float:
        t = threshold_for(n)
        measured = float(np.mean(impostor <= t))
        p = tail_far(fit, t) if measured * len(impostor) < 10 else measured
        return float(1 - (1 - p) ** n)

    for n, row in report["sizes"].items():
        t = row["threshold"]
        row["test_per_comparison_far"] = float(np.mean(impostor <= t))
        row["predicted_false_refusals"] = predicted(row["gallery"])
    big = args.extrapolate_to
    t_big = threshold_for(big)
    report["extrapolated"] = {
        "gallery": big,
        "threshold": float(t_big),
        "per_comparison_far_target": args.refusals / big,
        "test_tail_far": tail_far(fit, t_big),
        "false_refusals": float(1 - (1 - tail_far(fit, t_big)) ** big),
        "method": "threshold = fusion tail (DevTrain) at FAR 0.01/N; FAR there from an exponential tail fitted to the "
                  "lowest 0.1% of DevTest newcomer-vs-gallery impostor scores; false refusals = 1 - (1 - FAR)^N",
        "test_tail_fit": fit,
        "test_impostor_comparisons": int(len(impostor)),
    }

    # Catch rate: enrolled with all but the last image, signing up again with the last.
    returning, own = [], []
    by_person: dict[str, list[int]] = {}
    for i in range(len(train.labels), len(labels)):
        by_person.setdefault(str(labels[i]), []).append(i)
    catch_gallery_labels = labels.copy()
    for name, idx in by_person.items():
        if len(idx) >= 2:
            returning.append(idx[-1])
            catch_gallery_labels[idx[-1]] = "\x00returning"  # keep the last image out of the record
            own.append(name)
    catch_gallery = build_gallery(catch_gallery_labels, args.templates, 0)
    catch_scores = person_scores(vectors, train.metrics, catch_gallery, stats, weights, models)
    catch_index = {p: k for k, p in enumerate(catch_gallery.people)}
    genuine = np.asarray([catch_scores[i, catch_index[p]] for i, p in zip(returning, own)])
    catch = {}
    for n in [*[row["gallery"] for row in report["sizes"].values()], big]:
        t = threshold_for(n)
        catch[str(n)] = {"threshold": float(t), "catch_rate": float(np.mean(genuine <= t)) if len(genuine) else None}
    report["catch"] = {"returning_people": len(genuine), "by_gallery_size": catch}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for n, row in report["sizes"].items():
            print(f"N={row['gallery']}: false refusals {row['false_refusals']:.4f} (predicted {row['predicted_false_refusals']:.4f}), "
                  f"catch {catch[str(row['gallery'])]['catch_rate']}")
        e = report["extrapolated"]
        print(f"N={big} (extrapolated): false refusals {e['false_refusals']:.4f}, catch {catch[str(big)]['catch_rate']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
