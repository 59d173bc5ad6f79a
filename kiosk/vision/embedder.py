"""Face embeddings from any manifest + ``.tflite`` pair on LiteRT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kiosk.errors import ModelError
from kiosk.litert import load_interpreter
from kiosk.manifest import Manifest, load_manifest, model_path


def preprocess(chips_rgb: np.ndarray, manifest: Manifest) -> np.ndarray:
    """RGB uint8 chips (n, h, w, 3) -> the float tensor the model expects."""
    spec = manifest.input
    batch = np.asarray(chips_rgb, dtype=np.float32)
    if spec.color_order == "BGR":
        batch = batch[..., ::-1]
    batch = (batch - np.asarray(spec.mean, np.float32)) * np.asarray(spec.scale, np.float32)
    if spec.layout == "NWHC":
        batch = batch.transpose(0, 2, 1, 3)
    return np.ascontiguousarray(batch)


class Embedder:
    """Computes one embedding per aligned face chip.

    With ``flip_tta`` the embedding is the mean of the chip's and its mirror image's; the
    manifest says whether it is then scaled to unit length.
    """

    def __init__(self, manifest: Manifest, interpreter: Any, flip_tta: bool = False) -> None:
        if manifest.task != "embedding":
            raise ModelError(f"{manifest.file} is a {manifest.task} model, not an embedding model")
        self.manifest = manifest
        self.flip_tta = flip_tta
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        self._output = interpreter.get_output_details()[0]["index"]

    @classmethod
    def from_manifest(cls, path: str | Path, num_threads: int = 2, flip_tta: bool = False, check_hash: bool = False) -> "Embedder":
        manifest = load_manifest(path, check_hash=check_hash)
        return cls(manifest, load_interpreter(model_path(path, manifest), num_threads), flip_tta)

    @property
    def chip_size(self) -> tuple[int, int]:
        """(width, height) of the chips the model takes."""
        spec = self.manifest.input
        if spec.width is None or spec.height is None:
            raise ModelError(f"{self.manifest.file}: an embedding model needs a fixed input size")
        return (int(spec.width), int(spec.height))

    def embed_single(self, chip_rgb: np.ndarray) -> np.ndarray:
        """The model's raw output for one chip: no mirror averaging, no normalisation."""
        self._interpreter.set_tensor(self._input, preprocess(chip_rgb[None], self.manifest))
        self._interpreter.invoke()
        output: np.ndarray = self._interpreter.get_tensor(self._output)[0].astype(np.float32).copy()
        return output

    def embed(self, chip_rgb: np.ndarray) -> np.ndarray:
        width, height = self.chip_size
        if chip_rgb.shape[:2] != (height, width):
            raise ValueError(f"chip is {chip_rgb.shape[1]}x{chip_rgb.shape[0]}, the model takes {width}x{height}")
        vector = self.embed_single(chip_rgb)
        if self.flip_tta:
            vector = (vector + self.embed_single(np.ascontiguousarray(chip_rgb[:, ::-1]))) / 2.0
        if self.manifest.normalize_embedding:
            vector /= max(float(np.linalg.norm(vector)), 1e-12)
        return vector
