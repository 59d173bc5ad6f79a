"""Shared steps of every converter: Keras -> TFLite bytes, writing model + manifest, and
running what was written the way the kiosk runs it."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from kiosk.manifest import Manifest, load_manifest, sha256_file, write_manifest
from kiosk.vision.embedder import Embedder

VARIANTS = ("fp32", "fp16", "dynamic-int8", "int8")


def progress(message: str) -> None:
    """Converter progress goes to stderr so ``--json`` reports stay clean on stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def converter_versions() -> dict[str, str]:
    return {name: package_version(name) for name in ("tensorflow", "tf-keras")}


def keras_to_tflite(
    model: Any,
    variant: str,
    representative: Callable[[], Iterable[list[np.ndarray]]] | None = None,
    concrete_function: Any = None,
) -> bytes:
    """Convert a tf_keras model (or a concrete function of it) to TFLite bytes.

    ``int8`` is full-integer quantisation of the weights and activations with float
    input and output, so the runtime feeds the same tensors for every variant.
    """
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if concrete_function is not None:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], model)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if representative is None:
            raise ValueError("full int8 quantisation needs a representative dataset")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    tflite: bytes = converter.convert()
    return tflite


# Manifest fields measured after conversion (alignment template, calibrated thresholds):
# regenerating a model from the same weights keeps them.
MEASURED_FIELDS = ("alignment_template", "thresholds", "calibration")


def write_model(out_dir: Path, manifest: Manifest, tflite_bytes: bytes) -> Path:
    """Write ``<file>`` and ``<file stem>.json``; fill in the sha256. Returns the manifest path.

    Measured fields the new manifest leaves empty are carried over from a manifest of the
    same model family already at that path.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    model_file = out_dir / manifest.file
    manifest_path = model_file.with_suffix(".json")
    if manifest_path.is_file():
        previous = load_manifest(manifest_path)
        if previous.name == manifest.name:
            kept = {f: getattr(previous, f) for f in MEASURED_FIELDS if getattr(previous, f) and not getattr(manifest, f)}
            if kept:
                progress(f"keeping measured fields {', '.join(kept)} from {manifest_path.name}")
                manifest = dataclasses.replace(manifest, **kept)
    model_file.write_bytes(tflite_bytes)
    manifest = dataclasses.replace(manifest, sha256=sha256_file(model_file))
    write_manifest(manifest_path, manifest)
    progress(f"wrote {model_file} ({len(tflite_bytes) / 1e6:.2f} MB) and {manifest_path.name}")
    return manifest_path


def runtime_embedder(manifest_path: Path, num_threads: int = 2) -> Embedder:
    """The kiosk's own :class:`Embedder` for a manifest just written (its hash checked).

    Parity and latency go through it, so they see the kiosk's preprocessing (colour order,
    mean, scale, layout, all read from the manifest) and its interpreter set-up
    (:func:`kiosk.litert.load_interpreter`): a manifest that misstates the input fails the
    converter's parity check instead of passing it and failing on the kiosk.
    """
    return Embedder.from_manifest(manifest_path, num_threads=num_threads, check_hash=True)


def raw_embeddings(embedder: Embedder, chips_rgb: np.ndarray) -> np.ndarray:
    """(n, d) float64: the model's own output for each RGB uint8 chip, one invoke per
    chip, without the kiosk's mirror averaging and normalisation (parity compares the
    model with its source, not the matching that follows)."""
    rows: np.ndarray = np.stack([embedder.embed_single(np.ascontiguousarray(chip)).astype(np.float64) for chip in chips_rgb])
    return rows


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    similarity: np.ndarray = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return similarity


def median_ms(fn: Callable[[], Any], repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds, after a few warm-up calls."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
