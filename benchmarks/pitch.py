"""What the pitch gate (quality.max_pitch_deg) buys: face scores of faces seen from above.

    python benchmarks/pitch.py --root ../shared/data/lfw-view1 [--pairs pairsDevTest.txt]
                               [--limit N] [--angles 0,15,20,25,30,35,40] [--config FILE] [--json]

A seated person (eye height about 1.2 m) before a camera mounted for standing people
(about 1.6 m) at half a metre is seen about 31 degrees from above. No data set here holds
such faces, so they are made: every image of the pairs goes through the kiosk's pipeline
(MTCNN, the face nearest the centre), the face mesh places 468 points with depth on it,
and ``benchmarks/pitch_warp.py`` turns the face by each angle in 3-D (positive: seen
from above) and warps the photo to match. Each warped photo then goes through the whole
pipeline again: detection, the five-landmark pose estimate the gate reads, alignment and
every embedding model; pairs are scored with the fused score and the per-comparison
threshold of the configured security level (FaceRules, as a reset compares one picture).

Two conditions per angle: ``probe`` (enrolled standing, frontal; the reset's picture
turned) and ``both`` (enrolled and verified seated: both pictures turned the same).
Reported per angle: faces found, the gate's pitch reading (median, p10, p90), the share
of pictures each limit (25/30/35) lets through, the genuine scores and the false refusal
rate (FRR) and false accept rate (FAR) of the pictures that got through and of all.
Pooled over every angle, the same figures per band of the gate's reading (0-25, 25-30,
30-35, 35-45 degrees): what the pictures a wider gate would let in do to recognition.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lfw import person, read_pairs  # noqa: E402
from benchmarks.pitch_warp import face_mesh_points, pitch_image  # noqa: E402
from kiosk.config import config_path, load_config  # noqa: E402
from kiosk.errors import ImageError  # noqa: E402
from kiosk.flows.faces import FaceRules  # noqa: E402
from kiosk.liveness.landmarks import FaceMesh  # noqa: E402
from kiosk.vision.image_io import load_image  # noqa: E402
from kiosk.vision.pipeline import FacePipeline, choose_central  # noqa: E402
from kiosk.vision.quality import estimate_pose  # noqa: E402

LIMITS = (25.0, 30.0, 35.0)
POSE_CODES = ("pose", "looks_down", "looks_up")  # yaw, roll and pitch: left to the limits studied here
BANDS = ((0.0, 25.0), (25.0, 30.0), (30.0, 35.0), (35.0, 45.0))


@dataclass
class View:
    """One image at one angle after the whole pipeline (no face: ``pitch`` None)."""

    pitch: float | None = None  # the gate's reading, degrees
    other_findings: list[str] = field(default_factory=list)  # gates other than the pose's that failed
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


def analyse(pipeline: FacePipeline, image: np.ndarray) -> View:
    try:
        result = pipeline.analyze(image, choose_central)
    except ImageError:
        return View()
    pitch = estimate_pose(result.face.landmarks).pitch_deg
    return View(pitch, [f.code for f in result.findings if f.code not in POSE_CODES], dict(result.embeddings))


def views_of(pipeline: FacePipeline, mesh: FaceMesh, image: np.ndarray, angles: list[float]) -> dict[float, View]:
    """The image turned by each angle (the unwarped one at 0), through the pipeline."""
    try:
        base = pipeline.analyze(image, choose_central)
    except ImageError:
        return {angle: View() for angle in angles}
    points = face_mesh_points(image, mesh, base.face.box, np.asarray(base.face.landmarks)[:2])
    out: dict[float, View] = {}
    for angle in angles:
        if angle == 0:
            out[angle] = analyse(pipeline, image)
        elif points is None:
            out[angle] = View()
        else:
            out[angle] = analyse(pipeline, pitch_image(image, points, angle))
    return out


def rates(scores: list[float | None], threshold: float, genuine: bool) -> dict[str, float | int | None]:
    """FRR (genuine) or FAR (impostor) of a list of scores; None stands for no face,
    which is a refusal (counted in FRR, never an accept)."""
    n = len(scores)
    if not n:
        return {"n": 0}
    found = [s for s in scores if s is not None]
    accepted = sum(1 for s in found if s <= threshold)
    out: dict[str, float | int | None] = {"n": n, "no_face": n - len(found)}
    if genuine:
        out["frr"] = round(1 - accepted / n, 4)
        out["score_mean"] = round(float(np.mean(found)), 3) if found else None
        out["score_p10"] = round(float(np.percentile(found, 90)), 3) if found else None  # the worst tenth
    else:
        out["far"] = round(accepted / n, 5)
        out["accepted"] = accepted
        out["score_min"] = round(float(np.min(found)), 3) if found else None
    return out


def all_pairs_far(views: dict[str, dict[float, View]], images: list[str], angle: float, rules: FaceRules,
                  threshold: float) -> dict[str, object]:
    """Every picture of one person against every picture of another, the probe turned by
    ``angle``: with the gallery frontal (``probe``) and turned too (``both``). Far more
    impostor comparisons than the pairs file has, for FARs near the 1e-3..1e-4 the
    per-comparison thresholds are set at."""
    found = [k for k in images if views[k][angle].pitch is not None and views[k][0.0].pitch is not None]
    owners = np.array([person(k) for k in found])
    models = [m for m in rules.models if all(m.model_id in views[k][angle].embeddings for k in found)]
    out: dict[str, object] = {}
    for condition in ("probe", "both"):
        fused = np.zeros((len(found), len(found)))
        weights = 0.0
        for model in models:
            stats = rules.fusion.models[model.name]
            probes = np.stack([views[k][angle].embeddings[model.model_id] for k in found]).astype(np.float64)
            gallery_angle = angle if condition == "both" else 0.0
            gallery = np.stack([views[k][gallery_angle].embeddings[model.model_id] for k in found]).astype(np.float64)
            if model.metric == "cosine":
                probes /= np.linalg.norm(probes, axis=1, keepdims=True)
                gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
                dist = 1.0 - probes @ gallery.T
            else:
                dist = np.sqrt(np.maximum(0.0, (probes**2).sum(1)[:, None] + (gallery**2).sum(1)[None] - 2 * probes @ gallery.T))
            fused += stats.weight * (dist - stats.impostor_mean) / stats.impostor_std
            weights += stats.weight
        fused /= max(weights, 1e-12)
        different = owners[:, None] != owners[None, :]
        scores = fused[different]
        accepted = int((scores <= threshold).sum())
        figures: dict[str, object] = {"comparisons": int(different.sum()), "accepted": accepted,
                                      "far": float(f"{accepted / max(1, len(scores)):.3g}"),
                                      "score_p0.1": round(float(np.percentile(scores, 0.1)), 3) if len(scores) else None}
        # Only the pictures a gate at each limit lets through (probe, and the gallery too
        # when it is turned): what the kiosk would compare.
        for limit in LIMITS:
            passes = np.array([abs(views[k][angle].pitch or 0.0) <= limit and not views[k][angle].other_findings for k in found])
            gallery_passes = passes if condition == "both" else np.ones(len(found), dtype=bool)
            kept = different & passes[:, None] & gallery_passes[None, :]
            hits = int((fused[kept] <= threshold).sum())
            figures[f"through_gate_{limit:g}"] = {"comparisons": int(kept.sum()), "accepted": hits,
                                                   "far": float(f"{hits / max(1, int(kept.sum())):.3g}")}
        out[condition] = figures
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="LFW folder holding images/ and the pairs files")
    parser.add_argument("--pairs", type=Path, default=Path("pairsDevTest.txt"))
    parser.add_argument("--limit", type=int, help="only the first N matched and N mismatched pairs")
    parser.add_argument("--angles", default="0,15,20,25,30,35,40", help="degrees, comma list (positive: camera above)")
    parser.add_argument("--config", help="kiosk config (default: $FACEKIOSK_CONFIG or ./config.yml)")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/results"), help="folder for the analysed views ('' = none)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pairs_path = args.pairs if args.pairs.is_absolute() else args.root / args.pairs
    if not pairs_path.is_file():
        print(f"pairs file not found: {pairs_path}", file=sys.stderr)
        return 2
    try:
        angles = sorted({float(a) for a in args.angles.split(",")} | {0.0})
    except ValueError:
        print(f"--angles: a comma list of degrees, not {args.angles!r}", file=sys.stderr)
        return 2
    settings = load_config(config_path(args.config))
    pipeline = FacePipeline.from_settings(settings)
    rules = FaceRules.from_pipeline(pipeline, settings)
    threshold = rules.comparison_threshold()
    mesh = FaceMesh.from_manifest(settings.model_manifest(settings.liveness.landmark_model), settings.models.num_threads)

    pairs = read_pairs(pairs_path).pairs
    if args.limit:
        pairs = [p for p in pairs if p[2]][: args.limit] + [p for p in pairs if not p[2]][: args.limit]
    images = sorted({key for a, b, _ in pairs for key in (a, b)})
    started = time.perf_counter()
    # Views are kept per image, so a larger --limit reuses what a smaller one analysed.
    key_text = json.dumps([str(pairs_path), angles, settings.models.model_dump(), settings.detector.model_dump(),
                           (REPO / "benchmarks" / "pitch_warp.py").read_text()], sort_keys=True, default=str)
    cache = None if str(args.cache) in ("", ".") else Path(args.cache) / f"pitch_{hashlib.sha256(key_text.encode()).hexdigest()[:12]}.pkl"
    views: dict[str, dict[float, View]] = {}
    if cache is not None and cache.is_file():
        views = pickle.loads(cache.read_bytes())
    for i, key in enumerate(images):
        if key not in views:
            views[key] = views_of(pipeline, mesh, load_image(args.root / "images" / key), angles)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(images)} images, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(views))

    def score(gallery: View, probe: View) -> float | None:
        if gallery.pitch is None or probe.pitch is None:
            return None
        return rules.score(probe.embeddings, {m: v[None] for m, v in gallery.embeddings.items()})

    per_angle = []
    pooled: dict[str, list[tuple[float, float | None, bool]]] = {"probe": [], "both": []}
    for angle in angles:
        readings = [views[k][angle].pitch for k in images]
        seen = [p for p in readings if p is not None]
        row: dict[str, object] = {
            "angle_deg": angle,
            "faces_found": round(len(seen) / len(images), 4),
            "gate_reading_deg": {q: round(float(np.percentile(seen, p)), 1) for q, p in (("p10", 10), ("median", 50), ("p90", 90))} if seen else None,
            "passes_limit": {f"{limit:g}": round(sum(1 for p in seen if abs(p) <= limit) / len(images), 4) for limit in LIMITS},
        }
        for condition in ("probe", "both"):
            genuine: list[float | None] = []
            impostor: list[float | None] = []
            gated: dict[float, tuple[list[float | None], list[float | None]]] = {limit: ([], []) for limit in LIMITS}
            for a, b, same in pairs:
                gallery = views[a][angle if condition == "both" else 0.0]
                probe = views[b][angle]
                value = score(gallery, probe)
                (genuine if same else impostor).append(value)
                if probe.pitch is not None and gallery.pitch is not None:
                    pooled[condition].append((abs(probe.pitch), value, same))
                for limit in LIMITS:
                    if probe.pitch is not None and abs(probe.pitch) <= limit and not probe.other_findings:
                        gated[limit][0 if same else 1].append(value)
            row[condition] = {
                "genuine": rates(genuine, threshold, True),
                "impostor": rates(impostor, threshold, False),
                "through_gate": {f"{limit:g}": {"genuine": rates(g, threshold, True), "impostor": rates(m, threshold, False)}
                                 for limit, (g, m) in gated.items()},
            }
        row["all_pairs_impostors"] = all_pairs_far(views, images, angle, rules, threshold)
        per_angle.append(row)

    bands = {}
    for condition, rows in pooled.items():
        bands[condition] = {
            f"{low:g}-{high:g}": {
                "genuine": rates([v for p, v, same in rows if low <= p < high and same], threshold, True),
                "impostor": rates([v for p, v, same in rows if low <= p < high and not same], threshold, False),
            }
            for low, high in BANDS
        }
    report = {
        "pairs_file": str(pairs_path),
        "pairs": {"matched": sum(1 for p in pairs if p[2]), "mismatched": sum(1 for p in pairs if not p[2])},
        "images": len(images),
        "security_level": settings.verification.security_level,
        "threshold": round(float(threshold), 4),
        "models": list(rules.model_ids),
        "per_angle": per_angle,
        "by_gate_reading": bands,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['pairs']} pairs, threshold {report['threshold']} ({report['security_level']}), {report['seconds']} s")
        for row in per_angle:
            probe, both = row["probe"], row["both"]  # type: ignore[index]
            print(f"{row['angle_deg']:5g} deg: reading {row['gate_reading_deg']}, passes {row['passes_limit']}, "
                  f"probe FRR {probe['genuine'].get('frr')} FAR {probe['impostor'].get('far')}, "
                  f"both FRR {both['genuine'].get('frr')} FAR {both['impostor'].get('far')}")
        for condition, rows in bands.items():
            for band, figures in rows.items():
                print(f"{condition} reading {band}: genuine {figures['genuine']}, impostor {figures['impostor']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
