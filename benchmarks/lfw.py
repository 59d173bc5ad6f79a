"""Face verification accuracy of the kiosk's own pipeline on LFW-format data.

    python benchmarks/lfw.py --root ../shared/data/lfw-view1 --pairs pairsDevTest.txt \
        --calibrate-on pairsDevTrain.txt [--write-manifest] [--json]

Every image goes through the kiosk pipeline (MTCNN detect, align, embed). LFW labels the
face nearest the frame's centre, so that face is taken. Where no face is found, the image
is aligned with the median landmarks of the faces that were found (LFW deep-funneled
images are roughly registered), and the count is reported as ``no_face``.

Thresholds are never chosen on the reported pairs: with ``--calibrate-on`` they come from
that file's pairs (accuracy) and from all genuine/impostor pairs of its images (FAR
targets); a 10-fold file (View 2) uses the standard protocol instead (threshold from nine
folds, accuracy on the tenth).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.evaluation import (  # noqa: E402
    FAR_TARGETS,
    accuracy,
    all_pairs_distances,
    best_threshold,
    eer,
    roc_auc,
    tar_at,
    threshold_at_far,
)
from kiosk.config import config_path, load_config  # noqa: E402
from kiosk.errors import ImageError  # noqa: E402
from kiosk.manifest import load_manifest, write_manifest  # noqa: E402
from kiosk.vision.image_io import load_image  # noqa: E402
from kiosk.vision.pipeline import FacePipeline, choose_central  # noqa: E402


@dataclasses.dataclass
class PairsFile:
    pairs: list[tuple[str, str, bool]]  # (image key, image key, same person)
    folds: int  # 1 for View 1 lists

    @property
    def images(self) -> list[str]:
        return sorted({key for a, b, _ in self.pairs for key in (a, b)})


def image_key(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path) -> PairsFile:
    lines = path.read_text().splitlines()
    header = lines[0].split()
    folds = int(header[0]) if len(header) == 2 else 1
    pairs = []
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) == 3:
            pairs.append((image_key(parts[0], parts[1]), image_key(parts[0], parts[2]), True))
        elif len(parts) == 4:
            pairs.append((image_key(parts[0], parts[1]), image_key(parts[2], parts[3]), False))
    return PairsFile(pairs, folds)


def identity(key: str) -> str:
    return key.split("/")[0]


def embed_images(pipeline: FacePipeline, root: Path, keys: list[str], cache: Path | None) -> dict:
    """Plain and mirrored embeddings of every image, plus how each face was found."""
    if cache is not None and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if list(data["keys"]) == keys:
            return {name: data[name] for name in data.files}
    # Raw single-chip embeddings: the variants (flip, unit length) are formed afterwards.
    embedder = pipeline.embedder
    plain, mirrored, found, landmarks = [], [], [], []
    missing = []
    start = time.perf_counter()
    for i, key in enumerate(keys):
        image = load_image(root / "images" / key)
        faces = pipeline.detector.detect(image)
        if faces:
            points = choose_central(faces, image.shape).landmarks
            found.append(True)
        else:
            points = None
            found.append(False)
            missing.append(i)
        landmarks.append(points if points is not None else np.zeros((5, 2)))
        if (i + 1) % 500 == 0:
            print(f"  {i + 1}/{len(keys)} images, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    landmarks = np.asarray(landmarks)
    fallback = np.median(landmarks[np.asarray(found)], axis=0)
    for i, key in enumerate(keys):
        image = load_image(root / "images" / key)
        chip = pipeline.align_points(image, landmarks[i] if found[i] else fallback)
        plain.append(embedder.embed_single(chip))
        mirrored.append(embedder.embed_single(np.ascontiguousarray(chip[:, ::-1])))
    result = {
        "keys": np.asarray(keys),
        "plain": np.asarray(plain),
        "mirrored": np.asarray(mirrored),
        "found": np.asarray(found),
    }
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **result)
    return result


def variant_embeddings(data: dict, flip: bool, normalise: bool) -> np.ndarray:
    vectors = (data["plain"] + data["mirrored"]) / 2 if flip else data["plain"]
    if normalise:
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def pair_distances(pairs: PairsFile, keys: list[str], vectors: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    index = {key: i for i, key in enumerate(keys)}
    a = vectors[[index[p[0]] for p in pairs.pairs]]
    b = vectors[[index[p[1]] for p in pairs.pairs]]
    if metric == "cosine":
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        dist = 1 - (a * b).sum(1)
    else:
        dist = np.linalg.norm(a - b, axis=1)
    return dist, np.asarray([p[2] for p in pairs.pairs])


def calibrate(distances, same, keys, vectors, metric) -> dict:
    genuine, impostor = all_pairs_distances(vectors, [identity(k) for k in keys], metric)
    return {
        "accuracy_threshold": best_threshold(distances, same),
        "far_thresholds": {far: threshold_at_far(impostor, float(far)) for far in FAR_TARGETS},
        "genuine_pairs": int(len(genuine)),
        "impostor_pairs": int(len(impostor)),
    }


def ten_fold(distances: np.ndarray, same: np.ndarray, folds: int) -> tuple[float, float]:
    fold_of = np.repeat(np.arange(folds), len(distances) // folds)
    scores = []
    for fold in range(folds):
        test = fold_of == fold
        threshold = best_threshold(distances[~test], same[~test])
        scores.append(accuracy(distances[test], same[test], threshold))
    return float(np.mean(scores)), float(np.std(scores))


def evaluate(args, pipeline: FacePipeline, flip: bool, normalise: bool, test_data, calib_data) -> dict:
    metric = pipeline.metric
    test = read_pairs(args.root / args.pairs)
    vectors = variant_embeddings(test_data, flip, normalise)
    keys = list(test_data["keys"])
    distances, same = pair_distances(test, keys, vectors, metric)
    report = {
        "pairs": len(same),
        "auc": roc_auc(distances, same),
        "eer": eer(distances, same),
    }
    if test.folds > 1:
        report["accuracy"], report["accuracy_std"] = ten_fold(distances, same, test.folds)
        report["threshold"] = best_threshold(distances, same)
        return report
    calibration = None
    if calib_data is not None:
        calib = read_pairs(args.root / args.calibrate_on)
        calib_vectors = variant_embeddings(calib_data, flip, normalise)
        calib_keys = list(calib_data["keys"])
        calib_distances, calib_same = pair_distances(calib, calib_keys, calib_vectors, metric)
        calibration = calibrate(calib_distances, calib_same, calib_keys, calib_vectors, metric)
        threshold = calibration["accuracy_threshold"]
    else:
        threshold = best_threshold(distances, same)
        report["warning"] = "no --calibrate-on: the threshold was tuned on the reported pairs (optimistic)"
    report["accuracy"] = accuracy(distances, same, threshold)
    report["threshold"] = threshold
    genuine, impostor = all_pairs_distances(vectors, [identity(k) for k in keys], metric)
    if calibration is not None:
        for far, far_threshold in calibration["far_thresholds"].items():
            tar, observed = tar_at(genuine, impostor, far_threshold)
            report[f"tar_at_far_{far}"] = tar
            report[f"observed_far_at_{far}"] = observed
        report["calibration"] = calibration
    report["test_genuine_pairs"], report["test_impostor_pairs"] = int(len(genuine)), int(len(impostor))
    return report


def fusion_study(data: dict, flip: bool, normalise: bool, metric: str, threshold: float, enrolled: int = 3) -> dict:
    """min vs mean over several templates: people with more than ``enrolled`` images are
    enrolled with their first ones; their other images are genuine probes, and every image
    of everyone else is an impostor probe against them."""
    vectors = variant_embeddings(data, flip, normalise)
    people: dict[str, list[int]] = {}
    for i, key in enumerate(data["keys"]):
        people.setdefault(identity(str(key)), []).append(i)
    gallery = {name: idx[:enrolled] for name, idx in people.items() if len(idx) > enrolled}
    if not gallery:
        return {}
    scores = {"min": ([], []), "mean": ([], [])}
    for name, enrolled_idx in gallery.items():
        templates = vectors[enrolled_idx]
        for i in range(len(vectors)):
            if i in enrolled_idx:
                continue
            if metric == "cosine":
                dist = 1 - (templates / np.linalg.norm(templates, axis=1, keepdims=True)) @ (vectors[i] / np.linalg.norm(vectors[i]))
            else:
                dist = np.linalg.norm(templates - vectors[i], axis=1)
            genuine = identity(str(data["keys"][i])) == name
            for fusion, value in (("min", dist.min()), ("mean", dist.mean())):
                scores[fusion][0 if genuine else 1].append(value)
    report = {"people": len(gallery), "templates_each": enrolled}
    for fusion, (genuine, impostor) in scores.items():
        genuine, impostor = np.asarray(genuine), np.asarray(impostor)
        labels = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
        tar, far = tar_at(genuine, impostor, threshold)
        report[fusion] = {
            "auc": roc_auc(np.concatenate([genuine, impostor]), labels),
            "tar_at_far_1e-3_threshold": tar,
            "observed_far": far,
            "genuine_probes": int(len(genuine)),
            "impostor_probes": int(len(impostor)),
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="LFW folder holding images/ and the pairs files")
    parser.add_argument("--pairs", type=Path, required=True, help="pairs file to report on (relative to --root or absolute)")
    parser.add_argument("--calibrate-on", type=Path, help="pairs file to choose thresholds on")
    parser.add_argument("--config", help="kiosk config (default: $FACEKIOSK_CONFIG or ./config.yml)")
    parser.add_argument("--write-manifest", action="store_true", help="write the calibrated thresholds into the embedder's manifest")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/results"), help="embedding cache folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    settings = load_config(config_path(args.config))
    pipeline = FacePipeline.from_settings(settings)
    manifest = pipeline.embedder.manifest
    settings_key = hashlib.sha256(
        json.dumps([manifest.sha256, manifest.alignment_template, settings.detector.model_dump()]).encode()
    ).hexdigest()[:12]

    def embeddings(pairs_name: Path):
        pairs = read_pairs(args.root / pairs_name)
        cache = args.cache / f"lfw_{Path(pairs_name).stem}_{settings_key}.npz" if args.cache else None
        print(f"embedding {len(pairs.images)} images of {pairs_name}", file=sys.stderr)
        return embed_images(pipeline, args.root, pairs.images, cache)

    test_data = embeddings(args.pairs)
    calib_data = embeddings(args.calibrate_on) if args.calibrate_on else None
    flip = settings.models.flip_tta
    report = {
        "model": manifest.model_id,
        "pairs_file": str(args.pairs),
        "calibrated_on": str(args.calibrate_on) if args.calibrate_on else None,
        "flip_tta": flip,
        "no_face": int((~test_data["found"]).sum()),
        "no_face_handling": "aligned with the median landmarks of the detected faces (fixed crop)",
        "normalize_embedding": manifest.normalize_embedding,
        **evaluate(args, pipeline, flip, manifest.normalize_embedding, test_data, calib_data),
        "variants": {
            f"{'flip' if f else 'plain'}{'+l2' if n else ''}": {
                k: v for k, v in evaluate(args, pipeline, f, n, test_data, calib_data).items() if k != "calibration"
            }
            for f in (False, True)
            for n in (False, True)
        },
    }
    if calib_data is not None:
        report["calibration_no_face"] = int((~calib_data["found"]).sum())
        if "calibration" in report:
            report["template_fusion"] = fusion_study(
                test_data, flip, manifest.normalize_embedding, pipeline.metric,
                report["calibration"]["far_thresholds"]["1e-3"],
            )
    if args.write_manifest:
        if "calibration" not in report:
            print("--write-manifest needs --calibrate-on with a View 1 list", file=sys.stderr)
            return 2
        path = settings.model_manifest(settings.models.embedder)
        current = load_manifest(path)
        calibration = dict(current.calibration, verification={
            "source": f"LFW {args.calibrate_on} (pairs: accuracy threshold; all image pairs: FAR thresholds)",
            "flip_tta": flip,
            "accuracy_threshold": report["calibration"]["accuracy_threshold"],
            "genuine_pairs": report["calibration"]["genuine_pairs"],
            "impostor_pairs": report["calibration"]["impostor_pairs"],
        })
        thresholds = {far: round(t, 6) for far, t in report["calibration"]["far_thresholds"].items()}
        for variant_path in sorted(path.parent.glob(f"{current.name}_*.json")):
            variant = load_manifest(variant_path)
            if variant.name == current.name:
                write_manifest(variant_path, dataclasses.replace(variant, thresholds=thresholds, calibration=calibration))
                print(f"wrote thresholds {thresholds} into {variant_path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['model']} on {args.pairs}: accuracy {report['accuracy']:.4f}"
              + (f" ± {report['accuracy_std']:.4f}" if "accuracy_std" in report else "")
              + f", AUC {report['auc']:.5f}, EER {report['eer']:.4f}, threshold {report['threshold']:.4f}, no face {report['no_face']}")
        for far in ("1e-3", "1e-4"):
            if f"tar_at_far_{far}" in report:
                print(f"  TAR at FAR {far}: {report[f'tar_at_far_{far}']:.4f} (observed FAR {report[f'observed_far_at_{far}']:.2e})")
        for fusion in ("min", "mean"):
            if fusion in report.get("template_fusion", {}):
                f = report["template_fusion"][fusion]
                print(f"  {report['template_fusion']['templates_each']} templates, {fusion}: AUC {f['auc']:.5f}, "
                      f"TAR {f['tar_at_far_1e-3_threshold']:.4f} at FAR {f['observed_far']:.2e} (FAR 1e-3 threshold)")
        for name, variant in report["variants"].items():
            print(f"  variant {name}: accuracy {variant['accuracy']:.4f}, AUC {variant['auc']:.5f}"
                  + (f", TAR@1e-3 {variant['tar_at_far_1e-3']:.4f}" if "tar_at_far_1e-3" in variant else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
