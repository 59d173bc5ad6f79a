"""Pieces several commands share: loading settings, describing a face result."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk.config import Settings, config_path, load_config
from kiosk.errors import ConfigError, ImageError, KioskError
from kiosk.manifest import load_manifest
from kiosk.vision.image_io import ImageLimits, load_image
from kiosk.vision.pipeline import FacePipeline, FaceResult


def load_settings(args: argparse.Namespace) -> Settings:
    """The config file's settings; with ``--embedders`` (if the command has it) those models."""
    settings = load_config(config_path(args.config))
    spec = getattr(args, "embedders", None)
    return with_embedders(settings, spec) if spec else settings


def add_embedders_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embedders", metavar="NAMES",
                        help="comma-separated embedding models to use instead of the config's "
                             "(model names such as sface,dlib, or manifest files in the models folder)")


def with_embedders(settings: Settings, spec: str) -> Settings:
    """``settings`` with ``models.embedders`` from a comma-separated list of model names
    (``sface`` finds the fp32 manifest of an embedding model whose name starts so, else the
    first such manifest: ``sface_2021dec_fp16.json`` in the shipped folder) or manifest file
    names. ConfigError naming an unknown one."""
    folder = settings.resolve(settings.models.dir)
    manifests = []
    for path in sorted(folder.glob("*.json")):
        try:
            manifest = load_manifest(path)
        except KioskError:
            continue
        if manifest.task == "embedding":
            manifests.append((path.name, manifest))
    chosen: list[str] = []
    for word in (part.strip() for part in spec.split(",")):
        if not word:
            continue
        exact = [file for file, _ in manifests if file == word]
        named = [file for file, m in manifests if m.name.startswith(word)]
        fp32 = [file for file in named if file.endswith("_fp32.json")]
        found = exact or fp32 or named
        if not found:
            known = ", ".join(sorted({m.name for _, m in manifests})) or "none"
            raise ConfigError(f"--embedders: no embedding model {word!r} in {folder} (there: {known})")
        chosen.append(found[0])
    if not chosen:
        raise ConfigError("--embedders: name at least one model")
    models = settings.models.model_copy(update={"embedders": chosen})
    return settings.model_copy(update={"models": models})


def analyze_file(pipeline: FacePipeline, path: str, limits: ImageLimits = ImageLimits()) -> tuple[FaceResult, float]:
    """Analyze the one face in an image file; returns the result and the load time (ms).

    More than one person in the picture is an error: which face was meant is a guess.
    """
    import time

    start = time.perf_counter()
    image = load_image(path, limits)
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
