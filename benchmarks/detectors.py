"""Face detectors side by side: MTCNN and YuNet on the same frames and images.

    python benchmarks/detectors.py [--detectors mtcnn,mtcnn-serial,yunet,yunet=PATH.json] [--config FILE]
        [--lfw-root ../shared/data/lfw-view1] [--portraits ../shared/data/portraits]
        [--lfw-limit N] [--rounds 5] [--runs 40] [--threads 2,1] [--end-to-end]
        [--no-agreement | --no-latency] [--json]

For each detector (``mtcnn``: the configured P/R/O-Nets; ``mtcnn-serial``: the same with
the pyramid's levels cut one after the other in the calling thread, as before they were cut
on ``models.num_threads`` worker threads; ``yunet``: ``models.yunet``; ``yunet=FILE``:
another YuNet manifest, e.g. another input size):

- latency of ``detect`` on the 640x480 kiosk frame of ``benchmarks/latency.py`` (one face
  about 170 px wide), per LiteRT thread count: ``--rounds`` rounds of ``--runs`` calls,
  the detectors interleaved call by call so load from elsewhere hits them alike; the
  best round (lowest p50) is reported, with the load average;
- landmark agreement with MTCNN on every image of LFW View 1 (DevTrain + DevTest, 4,992
  images) and the portraits: the face nearest the image centre (LFW labels that one) or
  the largest (portraits), each of its five points' distance to MTCNN's, divided by
  MTCNN's inter-ocular distance, averaged over the five points (normalised mean error,
  NME), per image; images where either detector found nothing are counted as misses
  and left out of the NME; ``far`` counts images where the two chose different faces
  (NME > 0.5);
- with ``--end-to-end``: frame to decision (``FacePipeline.analyze`` then a 1:N match
  over 1,000 random templates, as benchmarks/latency.py) with the configured embedders,
  flip TTA off and on, per detector, 2 threads.

LFW accuracy per detector comes from benchmarks/lfw.py with a config whose
``detector.kind`` is ``yunet`` (README, "Detectors"); it is not repeated here.
Detections are cached in ``--cache`` keyed by the detector's settings and model hashes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.latency import GALLERY_SIZE, frame_to_decision, kiosk_frame, random_gallery, stats, with_models  # noqa: E402
from kiosk.config import Settings, config_path, load_config  # noqa: E402
from kiosk.manifest import load_manifest  # noqa: E402
from kiosk.vision.image_io import load_image  # noqa: E402
from kiosk.vision.mtcnn import MtcnnDetector  # noqa: E402
from kiosk.vision.pipeline import Detector, FacePipeline, choose_central, choose_largest  # noqa: E402

LFW_PAIRS = ("pairsDevTrain.txt", "pairsDevTest.txt")


def detector_settings(settings: Settings, spec: str, threads: int) -> Settings:
    """Settings whose pipeline uses the detector ``spec`` with ``threads`` LiteRT threads."""
    kind, _, manifest = spec.partition("=")
    if kind not in ("mtcnn", "mtcnn-serial", "yunet"):
        raise SystemExit(f"unknown detector {spec!r}: mtcnn, mtcnn-serial, yunet or yunet=MANIFEST.json")
    kind = "mtcnn" if kind == "mtcnn-serial" else kind
    models = {"num_threads": threads}
    if manifest:
        models["yunet"] = str(Path(manifest).resolve())
    detector = settings.detector.model_copy(update={"kind": kind})
    updated = with_models(settings, **models)
    return updated.model_copy(update={"detector": detector})


def build_detector(settings: Settings, spec: str, threads: int) -> Detector:
    detector = FacePipeline.from_settings(detector_settings(settings, spec, threads)).detector
    if spec == "mtcnn-serial" and isinstance(detector, MtcnnDetector):
        return MtcnnDetector(detector.pnet, detector.rnet, detector.onet, detector.settings, resize_workers=1)
    return detector


def detector_hash(settings: Settings, spec: str) -> str:
    s = detector_settings(settings, spec, 1)
    files = [s.models.pnet, s.models.rnet, s.models.onet] if s.detector.kind == "mtcnn" else [s.models.yunet]
    digests = [load_manifest(s.model_manifest(f)).sha256 for f in files]
    payload = json.dumps([s.detector.model_dump(), digests], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- images


def lfw_images(root: Path, limit: int | None) -> list[Path]:
    keys: set[str] = set()
    for name in LFW_PAIRS:
        for line in (root / name).read_text().splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) == 3:
                keys |= {f"{parts[0]}/{parts[0]}_{int(parts[1]):04d}.jpg", f"{parts[0]}/{parts[0]}_{int(parts[2]):04d}.jpg"}
            elif len(parts) == 4:
                keys |= {f"{parts[0]}/{parts[0]}_{int(parts[1]):04d}.jpg", f"{parts[2]}/{parts[2]}_{int(parts[3]):04d}.jpg"}
    paths = [root / "images" / key for key in sorted(keys)]
    return paths[:limit] if limit else paths


def portrait_images(root: Path) -> list[Path]:
    with (root / "labels.csv").open(newline="") as handle:
        return [root / row["file"] for row in csv.DictReader(handle)]


def detect_all(detector: Detector, paths: list[Path], central: bool, cache: Path | None) -> dict[str, np.ndarray]:
    """Landmarks (n, 5, 2) of the chosen face per image (NaN where none), faces found, ms."""
    names = np.asarray([str(p) for p in paths])
    if cache is not None and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if list(data["names"]) == list(names):
            return {k: data[k] for k in data.files}
    points = np.full((len(paths), 5, 2), np.nan)
    found = np.zeros(len(paths), dtype=np.int64)
    for i, path in enumerate(paths):
        image = load_image(path)
        faces = detector.detect(image)
        found[i] = len(faces)
        if faces:
            face = (choose_central if central else choose_largest)(faces, image.shape)
            points[i] = face.landmarks
    result = {"names": names, "landmarks": points, "found": found}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **result)
    return result


def agreement(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, Any]:
    """NME of ``other``'s landmarks against ``reference``'s (MTCNN's), per image."""
    ref, pts = reference["landmarks"], other["landmarks"]
    both = ~np.isnan(ref[:, 0, 0]) & ~np.isnan(pts[:, 0, 0])
    iod = np.linalg.norm(ref[both, 0] - ref[both, 1], axis=1)
    errors = np.linalg.norm(pts[both] - ref[both], axis=2) / iod[:, None]  # (n, 5)
    nme = errors.mean(axis=1)
    close = nme <= 0.5
    out: dict[str, Any] = {
        "images": int(len(ref)),
        "misses": int(np.isnan(pts[:, 0, 0]).sum()),
        "reference_misses": int(np.isnan(ref[:, 0, 0]).sum()),
        "compared": int(both.sum()),
        "far": int((~close).sum()),
    }
    if close.any():
        nme_close = nme[close]
        out.update({
            "nme_mean": round(float(nme_close.mean()), 4),
            "nme_median": round(float(np.median(nme_close)), 4),
            "nme_p95": round(float(np.percentile(nme_close, 95)), 4),
            "share_nme_over_0.1": round(float((nme_close > 0.1).mean()), 4),
            "per_point_mean": [round(float(v), 4) for v in errors[close].mean(axis=0)],
            "mean_offset_in_iod": [[round(float(v), 4) for v in row]
                                   for row in ((pts[both][close] - ref[both][close]) / iod[close, None, None]).mean(axis=0)],
        })
    return out


# --------------------------------------------------------------------------- latency


def latency(settings: Settings, specs: list[str], threads: int, rounds: int, runs: int, frame: np.ndarray) -> dict[str, Any]:
    detectors = {spec: build_detector(settings, spec, threads) for spec in specs}
    for detector in detectors.values():
        for _ in range(3):
            detector.detect(frame)
    best: dict[str, dict[str, Any]] = {}
    per_round: dict[str, list[float]] = {spec: [] for spec in specs}
    for _ in range(rounds):
        times: dict[str, list[float]] = {spec: [] for spec in specs}
        load = os.getloadavg()[0]
        for _ in range(runs):
            for spec, detector in detectors.items():
                start = time.perf_counter()
                detector.detect(frame)
                times[spec].append((time.perf_counter() - start) * 1e3)
        for spec in specs:
            s = {**stats(times[spec]), "load_average": round(load, 2)}
            per_round[spec].append(s["p50_ms"])
            if spec not in best or s["p50_ms"] < best[spec]["p50_ms"]:
                best[spec] = s
    return {spec: {"best_round": best[spec], "round_p50s": per_round[spec]} for spec in specs}


def end_to_end(settings: Settings, specs: list[str], rounds: int, runs: int, frame: np.ndarray) -> dict[str, Any]:
    """Frame to decision per detector, flip TTA off and on, 2 threads, best round."""
    pipelines = {}
    for spec in specs:
        base = detector_settings(settings, spec, 2)
        for flip in (False, True):
            pipelines[(spec, flip)] = FacePipeline.from_settings(with_models(base, flip_tta=flip))
    first = next(iter(pipelines.values()))
    gallery = random_gallery(GALLERY_SIZE, first.embedder.manifest.embedding_size, first.metric)
    threshold = 0.5  # the decision's value does not change its cost
    for pipeline in pipelines.values():
        for _ in range(3):
            frame_to_decision(pipeline, gallery, threshold, frame)
    best: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        times: dict[str, dict[str, list[float]]] = {}
        load = os.getloadavg()[0]
        for _ in range(runs):
            for (spec, flip), pipeline in pipelines.items():
                key = f"{spec} {'flip' if flip else 'no_flip'}"
                for stage, ms in frame_to_decision(pipeline, gallery, threshold, frame).items():
                    times.setdefault(key, {}).setdefault(stage, []).append(ms)
        for key, stages in times.items():
            s = {stage: stats(values)["p50_ms"] for stage, values in stages.items()}
            s["end_to_end_p95"] = stats(stages["end_to_end"])["p95_ms"]
            s["load_average"] = round(load, 2)
            if key not in best or s["end_to_end"] < best[key]["end_to_end"]:
                best[key] = s
    return {"embedders": [e.manifest.name for e in first.embedders], "best_round_p50_ms": best}


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", default="mtcnn,yunet", help="comma list: mtcnn, mtcnn-serial, yunet, yunet=MANIFEST.json")
    parser.add_argument("--config", help="kiosk config (default: $FACEKIOSK_CONFIG or ./config.yml)")
    parser.add_argument("--lfw-root", type=Path, default=REPO.parent / "shared" / "data" / "lfw-view1")
    parser.add_argument("--portraits", type=Path, default=REPO.parent / "shared" / "data" / "portraits")
    parser.add_argument("--lfw-limit", type=int, help="only the first N LFW images (smoke tests)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--no-agreement", action="store_true", help="latency only")
    parser.add_argument("--no-latency", action="store_true", help="landmark agreement only")
    parser.add_argument("--end-to-end", action="store_true", help="also frame to decision with the configured embedders")
    parser.add_argument("--cache", default=str(REPO / "benchmarks" / "results"), help="detections cache folder ('' = none)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    settings = load_config(config_path(args.config))
    specs = [s.strip() for s in args.detectors.split(",") if s.strip()]
    if "mtcnn" not in specs:
        specs.insert(0, "mtcnn")  # the reference of the landmark agreement
    frame = kiosk_frame()
    cache = Path(args.cache) if args.cache else None
    report: dict[str, Any] = {"detectors": specs, "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    for spec in specs:
        s = detector_settings(settings, spec, 1)
        report.setdefault("settings", {})[spec] = {
            "detector": s.detector.model_dump(),
            "model": s.models.yunet if s.detector.kind == "yunet" else [s.models.pnet, s.models.rnet, s.models.onet],
        }

    if not args.no_agreement:
        sets = {"lfw_view1": (lfw_images(args.lfw_root, args.lfw_limit), True),
                "portraits": (portrait_images(args.portraits), False)}
        report["agreement_with_mtcnn"] = {}
        for set_name, (paths, central) in sets.items():
            detections = {}
            for spec in specs:
                key = detector_hash(settings, spec)
                file = cache / f"detectors_{set_name}_{len(paths)}_{key}.npz" if cache else None
                start = time.perf_counter()
                detections[spec] = detect_all(build_detector(settings, spec, 2), paths, central, file)
                print(f"{set_name} {spec}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
            report["agreement_with_mtcnn"][set_name] = {spec: agreement(detections["mtcnn"], detections[spec]) for spec in specs}

    report["latency"] = {}
    for threads in ([] if args.no_latency else [int(t) for t in args.threads.split(",")]):
        report["latency"][f"{threads}_threads"] = latency(settings, specs, threads, args.rounds, args.runs, frame)
    if args.end_to_end:
        report["end_to_end"] = end_to_end(settings, specs, args.rounds, max(10, args.runs // 2), frame)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for threads, by_spec in report["latency"].items():
            for spec, r in by_spec.items():
                b = r["best_round"]
                print(f"{threads} {spec}: detect p50 {b['p50_ms']} ms, p95 {b['p95_ms']} ms (load {b['load_average']})")
        for set_name, by_spec in report.get("agreement_with_mtcnn", {}).items():
            for spec, a in by_spec.items():
                print(f"{set_name} {spec}: misses {a['misses']}/{a['images']}, NME mean {a.get('nme_mean')} "
                      f"median {a.get('nme_median')}, far {a['far']}")
        for key, e in report.get("end_to_end", {}).get("best_round_p50_ms", {}).items():
            print(f"end to end {key}: p50 {e['end_to_end']} ms (detect {e['detect']}, embed {e['embed']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
