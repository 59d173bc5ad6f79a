"""Pieces several commands share: loading settings, describing a face result."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk.config import Settings, config_path, load_config
from kiosk.errors import ImageError
from kiosk.vision.image_io import load_image
from kiosk.vision.pipeline import FacePipeline, FaceResult


def load_settings(args: argparse.Namespace) -> Settings:
    return load_config(config_path(args.config))


def analyze_file(pipeline: FacePipeline, path: str) -> tuple[FaceResult, float]:
    """Analyze the one face in an image file; returns the result and the load time (ms).

    More than one person in the picture is an error: which face was meant is a guess.
    """
    import time

    start = time.perf_counter()
    image = load_image(path)
    load_ms = (time.perf_counter() - start) * 1e3
    try:
        result = pipeline.analyze(image)
    except ImageError as err:
        raise ImageError(f"{path}: {err}") from None
    if any(finding.code == "multiple_faces" for finding in result.findings):
        raise ImageError(f"{path}: {result.faces_found} faces found; the image must show exactly one person")
    return result, load_ms


def describe(result: FaceResult) -> dict[str, Any]:
    face = result.face
    return {
        "box": [round(float(v), 1) for v in face.box],
        "score": round(face.score, 4),
        "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks],
        "faces_found": result.faces_found,
        "quality": [
            {"code": f.code, "value": round(f.value, 2), "limit": round(f.limit, 2), "guidance": f.guidance}
            for f in result.findings
        ],
    }


def quality_line(result: FaceResult) -> str:
    if not result.findings:
        return "ok"
    return "; ".join(f"{f.code} ({f.value:.1f} vs limit {f.limit:.1f}): {f.guidance}" for f in result.findings)


def face_line(path: str, result: FaceResult) -> str:
    x1, y1, x2, y2 = result.face.box
    return (
        f"{path}: face {x2 - x1:.0f}x{y2 - y1:.0f} px at ({x1:.0f},{y1:.0f}), "
        f"score {result.face.score:.3f}; quality: {quality_line(result)}"
    )
