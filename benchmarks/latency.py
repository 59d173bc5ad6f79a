"""Latency, memory and start-up time of the kiosk's face pipeline on one 640x480 frame.

    python benchmarks/latency.py [--json] [--runs N] [--threads 1,2] [--config FILE]
                                 [--vggface-dir DIR | --skip-vggface]

The frame is scikit-image's astronaut photo scaled 2x and cropped to 640x480, so the face
is about 170 px wide, as at a kiosk. For each thread count (``models.num_threads``), every
run goes through the kiosk's own ``FacePipeline.analyze`` (detect, align, quality, embed)
and a 1:N match against a gallery of random templates with the calibrated threshold:
that is frame to decision. Flip TTA (``models.flip_tta``) doubles the embedding cost, so
end-to-end is reported with the configured setting and with it off, interleaved run by run.

Peak RSS and start-up time come from fresh child processes (this script re-run with
``--child``) that import only the kiosk runtime: this process imports scikit-image, and
TensorFlow when it converts the VGGFace models. The child checks that TensorFlow was not
imported. The VGGFace ResNet50 variants have random weights: their figures are speed only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kiosk.config import Settings, config_path, load_config  # noqa: E402
from kiosk.vision.embedder import Embedder  # noqa: E402
from kiosk.vision.matcher import Gallery  # noqa: E402
from kiosk.vision.pipeline import FacePipeline  # noqa: E402

FRAME_SIZE = (640, 480)  # width, height
ASTRONAUT_SCALE = 2.0  # the astronaut's MTCNN face box is ~86 px wide at 512x512
ASTRONAUT_FACE_CENTRE = (224, 116)  # in the 512x512 original
GALLERY_SIZE = 1000
TEMPLATES_PER_PERSON = 5
VGGFACE_VARIANTS = ("fp32", "fp16", "dynamic-int8", "int8")
HEAVY_MODULES = ("tensorflow", "tf_keras", "keras", "torch", "skimage", "scipy", "mtcnn", "dlib")
TARGETS = {"end_to_end_p50_ms": 40.0, "peak_rss_mb": 300.0, "start_to_first_embedding_s": 2.0}


def kiosk_frame() -> np.ndarray:
    """A 640x480 RGB frame with one face about 170 px wide, centred horizontally."""
    import cv2
    from skimage import data

    image = data.astronaut()
    big = cv2.resize(image, None, fx=ASTRONAUT_SCALE, fy=ASTRONAUT_SCALE, interpolation=cv2.INTER_CUBIC)
    width, height = FRAME_SIZE
    cx = int(ASTRONAUT_FACE_CENTRE[0] * ASTRONAUT_SCALE)
    left = min(max(cx - width // 2, 0), big.shape[1] - width)
    return np.ascontiguousarray(big[:height, left : left + width])


def stats(values_ms: list[float]) -> dict[str, float]:
    values = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "mean_ms": round(float(values.mean()), 3),
        # The fastest run: a hint of the uncontended time when the machine is shared.
        "min_ms": round(float(values.min()), 3),
        "n": int(len(values)),
    }


def with_models(settings: Settings, **update) -> Settings:
    """Settings with some ``models`` keys replaced (Settings is frozen)."""
    return settings.model_copy(update={"models": settings.models.model_copy(update=update)})


def random_gallery(size: int, dim: int, metric: str, seed: int = 0) -> Gallery:
    rng = np.random.default_rng(seed)
    templates = rng.standard_normal((size, dim)).astype(np.float32)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    owners = [f"person{i // TEMPLATES_PER_PERSON}" for i in range(size)]
    return Gallery(templates, owners, metric)


def frame_to_decision(pipeline: FacePipeline, gallery: Gallery, threshold: float, frame: np.ndarray) -> dict[str, float]:
    """One frame through the kiosk: analyze (detect, align, quality, embed), then 1:N match."""
    start = time.perf_counter()
    result = pipeline.analyze(frame)
    match_start = time.perf_counter()
    match = gallery.nearest(result.embedding)
    _accepted = match is not None and match.distance <= threshold
    end = time.perf_counter()
    return {**result.timings_ms, "match": (end - match_start) * 1e3, "end_to_end": (end - start) * 1e3}


def bench_threads(settings: Settings, frame: np.ndarray, threads: int, runs: int, warmup: int) -> dict:
    """Per-stage and end-to-end times with ``threads``, flip TTA as configured and off."""
    configured = FacePipeline.from_settings(with_models(settings, num_threads=threads))
    flip_other = FacePipeline.from_settings(with_models(settings, num_threads=threads, flip_tta=not settings.models.flip_tta))
    with_flip, without_flip = (configured, flip_other) if settings.models.flip_tta else (flip_other, configured)
    threshold = configured.threshold(settings.verification.security_level)
    gallery = random_gallery(GALLERY_SIZE, configured.embedder.manifest.embedding_size, configured.metric)
    face = configured.detector.detect(frame)[0]
    chip = configured.align_points(frame, face.landmarks)

    for _ in range(warmup):
        frame_to_decision(with_flip, gallery, threshold, frame)
        frame_to_decision(without_flip, gallery, threshold, frame)
    times: dict[str, dict[str, list[float]]] = {"flip": {}, "no_flip": {}}
    load_before = os.getloadavg()
    for _ in range(runs):
        # Interleaved, so a burst of load from elsewhere hits both settings alike.
        for name, pipeline in (("flip", with_flip), ("no_flip", without_flip)):
            for stage, ms in frame_to_decision(pipeline, gallery, threshold, frame).items():
                times[name].setdefault(stage, []).append(ms)
    single = []
    for _ in range(runs):
        start = time.perf_counter()
        configured.embedder.embed_single(chip)
        single.append((time.perf_counter() - start) * 1e3)
    load_after = os.getloadavg()

    chosen = times["flip" if settings.models.flip_tta else "no_flip"]
    report = {stage: stats(chosen[stage]) for stage in ("detect", "align", "quality", "embed", "match", "end_to_end")}
    report["embed_single_pass"] = stats(single)
    report["embed_flip_tta"] = stats(times["flip"]["embed"])
    report["embed_no_flip"] = stats(times["no_flip"]["embed"])
    report["end_to_end_flip_tta"] = stats(times["flip"]["end_to_end"])
    report["end_to_end_no_flip"] = stats(times["no_flip"]["end_to_end"])
    report["load_average_before"] = [round(x, 2) for x in load_before]
    report["load_average_after"] = [round(x, 2) for x in load_after]
    return report


def bench_embedder(manifest_path: Path, threads_list: list[int], runs: int, warmup: int, chip: np.ndarray | None = None) -> dict:
    """Single-pass embedding times of one model (no flip), per thread count."""
    report: dict = {}
    for threads in threads_list:
        embedder = Embedder.from_manifest(manifest_path, threads, flip_tta=False)
        width, height = embedder.chip_size
        sample = chip if chip is not None and chip.shape[:2] == (height, width) else np.random.default_rng(0).integers(
            0, 256, (height, width, 3), dtype=np.uint8
        )
        for _ in range(warmup):
            embedder.embed_single(sample)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            embedder.embed_single(sample)
            times.append((time.perf_counter() - start) * 1e3)
        report[str(threads)] = {"embed": stats(times), "load_average": round(os.getloadavg()[0], 2)}
    report["model_bytes"] = (manifest_path.parent / embedder.manifest.file).stat().st_size
    return report


# --- VGGFace ResNet50 (random weights) ----------------------------------------------------


def vggface_manifests(directory: Path) -> dict[str, Path]:
    found = {v: directory / f"vggface_resnet50_{v}.json" for v in VGGFACE_VARIANTS}
    return {v: p for v, p in found.items() if p.is_file() and p.with_suffix(".tflite").is_file()}


def convert_vggface(out_dir: Path) -> list[str]:
    """Build the random-weight VGGFace ResNet50 variants with the project's converter."""
    command = [
        sys.executable, "-m", "converters", "vggface", "--arch", "resnet50", "--random-weights",
        "--variants", ",".join(VGGFACE_VARIANTS), "--calibration-images", "16", "--out", str(out_dir),
    ]
    print(f"converting VGGFace ResNet50 (random weights): {' '.join(command)}", file=sys.stderr)
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"VGGFace conversion failed ({done.returncode}): {tail[0]}")
    return command


def bench_vggface(directory: Path | None, threads_list: list[int], runs: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="vggface_") as scratch:
        target = directory or Path(scratch)
        command = None
        if len(vggface_manifests(target)) < len(VGGFACE_VARIANTS):
            target.mkdir(parents=True, exist_ok=True)
            command = convert_vggface(target)
        manifests = vggface_manifests(target)
        return {
            "note": "random weights: speed only; one 224x224 chip, single pass, no flip",
            "models_dir": str(directory) if directory else "(temporary)",
            "converted_with": " ".join(command) if command else None,
            "variants": {v: bench_embedder(p, threads_list, runs, warmup) for v, p in manifests.items()},
        }


# --- child processes: peak RSS and start-up time ------------------------------------------


def peak_rss_kb() -> int:
    """Peak resident set size of this process so far, in KiB.

    VmHWM, not getrusage's ru_maxrss: Linux carries the parent's high-water mark into
    ru_maxrss across fork/vfork + exec, so a child spawned by this (large) process would
    report at least the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_main(args: argparse.Namespace) -> int:
    """Runs in a fresh process: load the kiosk pipeline, embed, report as one JSON line."""
    entered = time.monotonic()
    peak_kb = {"imports": peak_rss_kb()}
    settings = load_config(args.config)
    pipeline = FacePipeline.from_settings(settings)
    loaded = time.monotonic()
    peak_kb["models_loaded"] = peak_rss_kb()
    frame = np.load(args.frame)
    pipeline.analyze(frame)
    first = time.monotonic()
    peak_kb["first_frame"] = peak_rss_kb()
    if args.child == "rss":
        gallery = random_gallery(GALLERY_SIZE, pipeline.embedder.manifest.embedding_size, pipeline.metric)
        threshold = pipeline.threshold(settings.verification.security_level)
        for _ in range(args.runs):
            frame_to_decision(pipeline, gallery, threshold, frame)
        peak_kb["all_frames"] = peak_rss_kb()
    print(json.dumps({
        "entered": entered,
        "models_loaded": loaded,
        "first_embedding": first,
        "peak_rss_kb": peak_rss_kb(),
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "peak_kb_by_phase": peak_kb,
        "tensorflow_imported": "tensorflow" in sys.modules,
        "heavy_modules": sorted(m for m in HEAVY_MODULES if m in sys.modules),
        "num_threads": settings.models.num_threads,
        "flip_tta": settings.models.flip_tta,
    }), flush=True)
    return 0


def spawn_child(mode: str, config: Path, frame_path: Path, runs: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode,
               "--config", str(config), "--frame", str(frame_path), "--runs", str(runs)]
    spawned = time.monotonic()  # CLOCK_MONOTONIC is system-wide: the child's readings compare
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["spawned"] = spawned
    return report


def measure_startup(config: Path, frame_path: Path, repeats: int) -> dict:
    runs = [spawn_child("startup", config, frame_path, 0) for _ in range(repeats)]
    totals = [r["first_embedding"] - r["spawned"] for r in runs]
    best = runs[int(np.argsort(totals)[len(totals) // 2])]  # the median run's breakdown
    return {
        "start_to_first_embedding_s": round(float(np.median(totals)), 3),
        "all_s": [round(t, 3) for t in totals],
        "breakdown_s_median_run": {
            "interpreter_start_and_imports": round(best["entered"] - best["spawned"], 3),
            "config_and_model_load": round(best["models_loaded"] - best["entered"], 3),
            "first_frame_analyze": round(best["first_embedding"] - best["models_loaded"], 3),
        },
        "load_average": round(os.getloadavg()[0], 2),
    }


def measure_rss(config: Path, frame_path: Path, runs: int) -> dict:
    child = spawn_child("rss", config, frame_path, runs)
    return {
        "peak_rss_mb": round(child["peak_rss_kb"] / 1024, 1),
        "peak_rss_source": "VmHWM of a fresh child process running only the kiosk runtime",
        "ru_maxrss_mb_child": round(child["ru_maxrss_kb"] / 1024, 1),
        "ru_maxrss_note": "ru_maxrss includes the spawning parent's high-water mark on Linux (fork/exec), so it overstates",
        "peak_rss_mb_by_phase": {phase: round(kb / 1024, 1) for phase, kb in child["peak_kb_by_phase"].items()},
        "tensorflow_imported": child["tensorflow_imported"],
        "heavy_modules_imported": child["heavy_modules"],
        "rss_frames": runs + 1,
        "num_threads": child["num_threads"],
        "flip_tta": child["flip_tta"],
    }


# --- main ---------------------------------------------------------------------------------


def parse_threads(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"thread counts must be integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per measurement (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--threads", type=parse_threads, default=[1, 2], help="thread counts, e.g. 1,2 (default)")
    parser.add_argument("--config", type=Path, help="kiosk config (default: $FACEKIOSK_CONFIG or ./config.yml)")
    parser.add_argument("--startup-runs", type=int, default=3, help="fresh processes timed for start-up (default 3)")
    parser.add_argument("--vggface-dir", type=Path, help="folder with vggface_resnet50_<variant> models; converted there if missing")
    parser.add_argument("--skip-vggface", action="store_true", help="leave out the VGGFace ResNet50 variants")
    parser.add_argument("--child", choices=("rss", "startup"), help=argparse.SUPPRESS)
    parser.add_argument("--frame", type=Path, help=argparse.SUPPRESS)
    return parser


def summary_line(name: str, s: dict) -> str:
    return f"{name:<28} p50 {s['p50_ms']:8.2f} ms   p95 {s['p95_ms']:8.2f} ms   min {s['min_ms']:8.2f} ms"


def print_text(report: dict) -> None:
    print(f"frame {report['frame']['size']}, face {report['frame']['face_width_px']:.0f} px wide; "
          f"model {report['model']}, flip_tta {report['flip_tta']}")
    for threads, r in report["per_threads"].items():
        print(f"-- {threads} thread(s), load average {r['load_average_before'][0]:.2f} -> {r['load_average_after'][0]:.2f}")
        for stage in ("detect", "align", "quality", "embed", "match", "end_to_end"):
            print("  " + summary_line(stage, r[stage]))
        for key in ("embed_single_pass", "end_to_end_flip_tta", "end_to_end_no_flip"):
            print("  " + summary_line(key, r[key]))
    for name, section in report.get("other_embedders", {}).items():
        for threads, r in section.items():
            if threads.isdigit():
                print("  " + summary_line(f"{name} embed ({threads} thr)", r["embed"]))
    for variant, section in report.get("vggface", {}).get("variants", {}).items():
        for threads, r in section.items():
            if threads.isdigit():
                print("  " + summary_line(f"vggface {variant} ({threads} thr)", r["embed"]))
    print(f"peak RSS {report['peak_rss_mb']} MB, by phase {report['peak_rss_mb_by_phase']} "
          f"(tensorflow imported: {report['tensorflow_imported']})")
    print(f"start to first embedding {report['start_to_first_embedding_s']} s "
          f"(runs {report['startup']['all_s']}, median run {report['startup']['breakdown_s_median_run']})")
    for key, target in report["targets"].items():
        print(f"target {key}: {target['measured']} vs {target['target']} -> {'met' if target['met'] else 'NOT met'}")


def main() -> int:
    args = build_parser().parse_args()
    config = (args.config or config_path(None)).resolve()
    if args.child:
        args.config = config
        return child_main(args)

    settings = load_config(config)
    frame = kiosk_frame()
    probe = FacePipeline.from_settings(settings)
    faces = probe.detector.detect(frame)
    if not faces:
        print("no face found in the benchmark frame", file=sys.stderr)
        return 2
    chip = probe.align_points(frame, faces[0].landmarks)
    report: dict = {
        "frame": {"size": f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}", "source": "skimage.data.astronaut, scaled 2x, cropped",
                  "face_width_px": round(faces[0].width, 1), "faces": len(faces)},
        "model": probe.embedder.manifest.model_id,
        "flip_tta": settings.models.flip_tta,
        "gallery_templates": GALLERY_SIZE,
        "match": f"1:N nearest over {GALLERY_SIZE} templates + threshold ({settings.verification.security_level})",
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
    }
    del probe

    per_threads = {str(t): bench_threads(settings, frame, t, args.runs, args.warmup) for t in args.threads}
    headline = per_threads["2"] if "2" in per_threads else per_threads[str(args.threads[-1])]
    report["headline_threads"] = 2 if "2" in per_threads else args.threads[-1]
    for stage in ("detect", "align", "embed", "match"):
        report[f"{stage}_p50_ms"] = headline[stage]["p50_ms"]
        report[f"{stage}_p95_ms"] = headline[stage]["p95_ms"]
    report["end_to_end_p50_ms"] = headline["end_to_end"]["p50_ms"]
    report["end_to_end_p95_ms"] = headline["end_to_end"]["p95_ms"]
    report["end_to_end_no_flip_p50_ms"] = headline["end_to_end_no_flip"]["p50_ms"]
    report["end_to_end_no_flip_p95_ms"] = headline["end_to_end_no_flip"]["p95_ms"]
    report["per_threads"] = per_threads

    fp16 = settings.model_manifest(settings.models.embedder.replace("_fp32", "_fp16"))
    if fp16.is_file() and fp16 != settings.model_manifest(settings.models.embedder):
        report["other_embedders"] = {fp16.stem: bench_embedder(fp16, args.threads, args.runs, args.warmup, chip)}

    with tempfile.TemporaryDirectory(prefix="latency_") as scratch:
        frame_path = Path(scratch) / "frame.npy"
        np.save(frame_path, frame)
        report.update(measure_rss(config, frame_path, min(args.runs, 50)))
        startup = measure_startup(config, frame_path, args.startup_runs)
    report["start_to_first_embedding_s"] = startup.pop("start_to_first_embedding_s")
    report["startup"] = startup

    if not args.skip_vggface:
        report["vggface"] = bench_vggface(args.vggface_dir, args.threads, args.runs, args.warmup)

    report["targets"] = {
        key: {"target": target, "measured": report[key], "met": bool(report[key] <= target)}
        for key, target in TARGETS.items()
    }
    report["targets"]["end_to_end_p50_ms"]["threads"] = report["headline_threads"]
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    if report["tensorflow_imported"]:
        print("the kiosk runtime imported tensorflow", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
