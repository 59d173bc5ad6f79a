"""``facekiosk embed IMAGE``: the face embedding and quality findings of one image."""

from __future__ import annotations

import argparse
import json

import numpy as np

from kiosk.commands.common import analyze_file, describe, face_line, load_settings
from kiosk.vision.pipeline import FacePipeline


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("embed", help="print the face embedding of an image")
    parser.add_argument("image")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    pipeline = FacePipeline.from_settings(settings)
    result, load_ms = analyze_file(pipeline, args.image, settings.images.limits())
    embedding = [round(float(v), 6) for v in result.embedding]
    if args.json:
        timings = {"load_image": round(load_ms, 2), **{k: round(v, 2) for k, v in result.timings_ms.items()}}
        print(json.dumps({
            "path": args.image,
            "model": pipeline.embedder.manifest.model_id,
            "embedding": embedding,
            "norm": round(float(np.linalg.norm(result.embedding)), 6),
            **describe(result),
            "timings_ms": timings,
        }))
    else:
        print(face_line(args.image, result))
        print(f"model {pipeline.embedder.manifest.model_id}, {len(embedding)} values:")
        print(" ".join(f"{v:.6f}" for v in embedding))
    return 0
