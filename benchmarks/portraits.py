"""Face verification of the kiosk pipeline on full, unaligned photos (../shared/data/portraits).

    python benchmarks/portraits.py [--root ../shared/data/portraits]
                                   [--pairs pairs_all_derived.csv] [--config FILE] [--json]

Each photo goes through ``FacePipeline.analyze`` as a kiosk frame would: the detector
downscales it to ``detector.max_side_px``, the largest face is taken, aligned and embedded
(flip TTA as configured). Pairs are scored with the thresholds already calibrated in the
embedder's manifest (on LFW DevTrain) for the security levels high/medium/low (FAR 1e-4,
1e-3, 1e-2): nothing is tuned on these pairs. Pairs with an image where no face was found
are skipped and listed. An "oracle" accuracy, tuned on the reported pairs, is given for
reference only.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.evaluation import accuracy, best_threshold, eer, roc_auc, tar_at  # noqa: E402
from kiosk.config import config_path, load_config  # noqa: E402
# Pairs are single comparisons at the model's own thresholds: the per-comparison levels
# (security_level now names per-attempt FARs, which the fusion manifest serves).
from kiosk.config.vision import SAME_FACE_LEVEL_FAR as COMPARISON_LEVEL_FAR  # noqa: E402
from kiosk.errors import ImageError  # noqa: E402
from kiosk.vision.image_io import load_image  # noqa: E402
from kiosk.vision.matcher import distances  # noqa: E402
from kiosk.vision.pipeline import FacePipeline, choose_largest  # noqa: E402

DEFAULT_ROOT = REPO.parent / "shared" / "data" / "portraits"
ORACLE_LABEL = "oracle (tuned on the reported pairs, for reference only)"
TIMED_STAGES = ("decode", "detect", "align", "quality", "embed", "total")


@dataclass
class ImageResult:
    file: str
    width: int
    height: int
    faces_found: int = 0
    face_width_px: float | None = None  # in the original photo's pixels
    findings: list[str] = field(default_factory=list)  # quality gate codes that fired
    error: str | None = None  # no face, unreadable
    timings_ms: dict[str, float] = field(default_factory=dict)


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    with path.open(newline="") as handle:
        return [(row["image1"], row["image2"], row["same"].strip() == "1") for row in csv.DictReader(handle)]


def pair_images(pairs: list[tuple[str, str, bool]]) -> list[str]:
    seen: dict[str, None] = {}
    for a, b, _ in pairs:
        seen.setdefault(a)
        seen.setdefault(b)
    return list(seen)


def analyze_image(pipeline: FacePipeline, root: Path, name: str) -> tuple[ImageResult, np.ndarray | None]:
    start = time.perf_counter()
    try:
        image = load_image(root / name)
    except ImageError as err:
        return ImageResult(name, 0, 0, error=str(err)), None
    decoded = time.perf_counter()
    result = ImageResult(name, int(image.shape[1]), int(image.shape[0]))
    try:
        face = pipeline.analyze(image, choose=choose_largest)
    except ImageError as err:
        result.error = str(err)
        result.timings_ms = {"decode": (decoded - start) * 1e3, "total": (time.perf_counter() - start) * 1e3}
        return result, None
    result.faces_found = face.faces_found
    result.face_width_px = round(face.face.width, 1)
    result.findings = [finding.code for finding in face.findings]
    result.timings_ms = {"decode": (decoded - start) * 1e3, **face.timings_ms, "total": (time.perf_counter() - start) * 1e3}
    result.timings_ms = {key: round(value, 2) for key, value in result.timings_ms.items()}
    return result, face.embedding


def timing_summary(images: list[ImageResult]) -> dict[str, dict[str, float]]:
    summary = {}
    for stage in TIMED_STAGES:
        values = [r.timings_ms[stage] for r in images if stage in r.timings_ms]
        if values:
            summary[stage] = {
                "p50_ms": round(float(np.percentile(values, 50)), 2),
                "p95_ms": round(float(np.percentile(values, 95)), 2),
                "max_ms": round(float(np.max(values)), 2),
            }
    return summary


def evaluate(pipeline: FacePipeline, pairs, embeddings: dict[str, np.ndarray]) -> dict:
    scored = [(a, b, same) for a, b, same in pairs if a in embeddings and b in embeddings]
    skipped = [{"image1": a, "image2": b, "same": same} for a, b, same in pairs if a not in embeddings or b not in embeddings]
    dist = np.asarray([distances(embeddings[a], embeddings[b][None], pipeline.metric)[0] for a, b, _ in scored])
    same = np.asarray([s for _, _, s in scored], dtype=bool)
    genuine, impostor = dist[same], dist[~same]
    report: dict = {
        "pairs_scored": int(len(scored)),
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
        "pairs_skipped": len(skipped),
        "skipped_pairs": skipped,
    }
    if not len(genuine) or not len(impostor):
        report["warning"] = "need both genuine and impostor pairs for the metrics"
        return report
    manifest = pipeline.embedder.manifest
    levels = {}
    for level, far in COMPARISON_LEVEL_FAR.items():
        if far not in manifest.thresholds:
            levels[level] = {"far_target": float(far), "error": f"no calibrated threshold for FAR {far} in the manifest"}
            continue
        threshold = float(manifest.thresholds[far])
        tar, observed_far = tar_at(genuine, impostor, threshold)
        levels[level] = {
            "far_target": float(far),
            "threshold": threshold,
            "accuracy": accuracy(dist, same, threshold),
            "tar": tar,
            "far": observed_far,
            "false_accepts": int((impostor <= threshold).sum()),
            "false_rejects": int((genuine > threshold).sum()),
            "errors": [
                {"image1": a, "image2": b, "same": bool(s), "distance": round(float(d), 4)}
                for (a, b, s), d in zip(scored, dist)
                if (d <= threshold) != s
            ],
        }
    oracle_threshold = best_threshold(dist, same)
    report.update({
        "levels": levels,
        "auc": roc_auc(dist, same),
        "eer": eer(dist, same),
        # With n impostor pairs the smallest non-zero FAR measurable is 1/n.
        "far_resolution": 1.0 / len(impostor),
        "genuine_distance": {"median": float(np.median(genuine)), "max": float(genuine.max())},
        "impostor_distance": {"median": float(np.median(impostor)), "min": float(impostor.min())},
        "oracle": {
            "label": ORACLE_LABEL,
            "accuracy": accuracy(dist, same, oracle_threshold),
            "threshold": oracle_threshold,
        },
    })
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"portraits folder (default {DEFAULT_ROOT})")
    parser.add_argument("--pairs", type=Path, default=Path("pairs_all_derived.csv"), help="pairs CSV, relative to --root or absolute")
    parser.add_argument("--config", type=Path, help="kiosk config (default: $FACEKIOSK_CONFIG or ./config.yml)")
    parser.add_argument("--limit", type=int, help="only the first N images and the pairs among them (smoke tests)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def print_text(report: dict) -> None:
    print(f"{report['model']} on {report['pairs_file']} ({report['images']} images, flip_tta {report['flip_tta']}), "
          f"thresholds from: {report['thresholds_from']}")
    print(f"no face: {report['no_face']} {report['no_face_images']} -> {report['no_face_handling']}; "
          f"multi-face images: {report['multi_face_images']}")
    print(f"pairs scored {report['pairs_scored']} ({report['genuine_pairs']} genuine, {report['impostor_pairs']} impostor), "
          f"skipped {report['pairs_skipped']}")
    for level, r in report.get("levels", {}).items():
        if "error" in r:
            print(f"  {level}: {r['error']}")
            continue
        print(f"  {level:<6} (FAR target {r['far_target']:.0e}, threshold {r['threshold']:.4f}): accuracy {r['accuracy']:.4f}, "
              f"TAR {r['tar']:.4f}, FAR {r['far']:.4f} ({r['false_accepts']} false accepts, {r['false_rejects']} false rejects)")
    if "auc" in report:
        print(f"  AUC {report['auc']:.5f}, EER {report['eer']:.4f}")
        print(f"  {report['oracle']['label']}: accuracy {report['oracle']['accuracy']:.4f} at {report['oracle']['threshold']:.4f}")
    for stage, s in report["timings_ms"].items():
        print(f"  {stage:<8} p50 {s['p50_ms']:8.1f} ms  p95 {s['p95_ms']:8.1f} ms  max {s['max_ms']:8.1f} ms")


def main() -> int:
    args = build_parser().parse_args()
    pairs_path = args.pairs if args.pairs.is_absolute() else args.root / args.pairs
    if not pairs_path.is_file():
        print(f"pairs file not found: {pairs_path}", file=sys.stderr)
        return 2
    settings = load_config(config_path(str(args.config) if args.config else None))
    pipeline = FacePipeline.from_settings(settings)
    manifest = pipeline.embedder.manifest

    pairs = read_pairs(pairs_path)
    names = pair_images(pairs)
    if args.limit:
        names = names[: args.limit]
        kept = set(names)
        pairs = [p for p in pairs if p[0] in kept and p[1] in kept]

    results, embeddings = [], {}
    for i, name in enumerate(names):
        result, embedding = analyze_image(pipeline, args.root, name)
        results.append(result)
        if embedding is not None:
            embeddings[name] = embedding
        print(f"  {i + 1}/{len(names)} {name}: {result.error or f'{result.faces_found} face(s)'}", file=sys.stderr)

    calibration = manifest.calibration.get("verification", {})
    no_face = [r.file for r in results if r.error]
    report = {
        "model": manifest.model_id,
        "pairs_file": str(pairs_path),
        "limit": args.limit,
        "images": len(names),
        "flip_tta": settings.models.flip_tta,
        "face_choice": "largest face",
        "detector_max_side_px": settings.detector.max_side_px,
        "thresholds_from": calibration.get("source", "manifest thresholds (source not recorded)"),
        "calibration_flip_tta": calibration.get("flip_tta"),
        "no_face": len(no_face),
        "no_face_images": no_face,
        "no_face_handling": "pairs with such an image are skipped (listed in skipped_pairs)",
        "multi_face_images": sum(1 for r in results if r.faces_found > 1),
        "multi_face_note": "images where the detector found more than one face of any size; the largest was used. "
        "The kiosk's multiple_faces gate (another face at least half as wide) is in quality_findings",
        "multi_face_list": {r.file: r.faces_found for r in results if r.faces_found > 1},
        "quality_findings": {
            code: sorted(r.file for r in results if code in r.findings)
            for code in sorted({c for r in results for c in r.findings})
        },
        **evaluate(pipeline, pairs, embeddings),
        "timings_ms": timing_summary([r for r in results if not r.error]),
        "per_image": [asdict(r) for r in results],
    }
    if calibration.get("flip_tta") is not None and calibration["flip_tta"] != settings.models.flip_tta:
        report["warning_calibration"] = "the thresholds were calibrated with a different flip_tta setting"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
