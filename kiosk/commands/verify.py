"""``facekiosk verify A B``: are the faces in two images the same person?

Exit status 0 same person, 1 different people, 2 an error.
"""

from __future__ import annotations

import argparse
import json
import time

from kiosk.commands.common import add_embedders_argument, analyze_file, describe, face_line, load_settings
from kiosk.config.vision import SECURITY_LEVEL_FAR
from kiosk.flows.faces import FaceRules
from kiosk.vision.pipeline import FacePipeline


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("verify", help="compare the faces in two images")
    parser.add_argument("image_a")
    parser.add_argument("image_b")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--security-level", choices=sorted(SECURITY_LEVEL_FAR), help="override the config's level")
    add_embedders_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    level = args.security_level or settings.verification.security_level
    settings = settings.model_copy(update={"verification": settings.verification.model_copy(update={"security_level": level})})
    start = time.perf_counter()
    pipeline = FacePipeline.from_settings(settings)
    rules = FaceRules.from_pipeline(pipeline, settings)
    load_models_ms = (time.perf_counter() - start) * 1e3

    results, timings = [], {"load_models": load_models_ms}
    for tag, path in (("a", args.image_a), ("b", args.image_b)):
        result, load_ms = analyze_file(pipeline, path, settings.images.limits())
        results.append(result)
        timings[f"load_image_{tag}"] = load_ms
        for stage, ms in result.timings_ms.items():
            timings[f"{stage}_{tag}"] = ms
    start = time.perf_counter()
    templates = {model: vector[None] for model, vector in results[1].embeddings.items()}
    distances = rules.distances(results[0].embeddings, templates)
    score = rules.score(results[0].embeddings, templates)
    threshold = rules.comparison_threshold(templates)
    timings["match"] = (time.perf_counter() - start) * 1e3
    timings = {key: round(value, 2) for key, value in timings.items()}
    same = score <= threshold
    models = [model.name for model in rules.models]

    if args.json:
        print(json.dumps({
            "same": bool(same),
            "score": round(score, 6),
            "threshold": round(threshold, 6),
            "distances": {name: round(value, 6) for name, value in distances.items()},
            "score_kind": "distance" if len(models) == 1 and rules.fusion.models[models[0]].impostor_std == 1.0 else "fused z-score",
            "security_level": level,
            "far_target": float(SECURITY_LEVEL_FAR[level]),
            "models": [model.model_id for model in rules.models],
            "images": [dict(path=path, **describe(result)) for path, result in zip((args.image_a, args.image_b), results)],
            "timings_ms": timings,
        }))
    else:
        for path, result in zip((args.image_a, args.image_b), results):
            print(face_line(path, result))
        verdict = "same person" if same else "different people"
        parts = ", ".join(f"{name} {value:.4f}" for name, value in distances.items())
        print(
            f"score {score:.4f} (distances: {parts}), threshold {threshold:.4f} "
            f"(security level {level}, FAR {SECURITY_LEVEL_FAR[level]} per comparison): {verdict}"
        )
        print("timings ms: " + ", ".join(f"{key} {value:.1f}" for key, value in timings.items()))
    return 0 if same else 1
