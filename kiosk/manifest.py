"""Model manifests: the JSON file that travels with every ``.tflite`` model.

A manifest says everything the runtime needs to feed the model and read its output
(input size, layout, colour order, normalisation, alignment template, distance) and
where the weights came from (package, version, licence, sha256).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.errors import ModelError

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class InputSpec:
    height: int | None  # None: any size (MTCNN P-Net)
    width: int | None
    channels: int = 3
    layout: str = "NHWC"  # "NHWC", or "NWHC" for nets trained on transposed images
    color_order: str = "RGB"
    dtype: str = "float32"
    # The model sees (pixel - mean) * scale, per channel in colour order.
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    license: str
    file: str = ""  # weight file inside the package, or the operator's file name
    url: str = ""  # upstream project page, for provenance only


@dataclass(frozen=True)
class Manifest:
    name: str  # model family, e.g. "dlib_resnet_v1"; templates are tagged with it
    variant: str  # "fp32", "fp16", "dynamic-int8", "int8"
    task: str  # "embedding", "mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", "landmarks"
    architecture: str
    file: str  # .tflite file name, relative to the manifest
    sha256: str
    input: InputSpec
    outputs: tuple[str, ...] = ()  # output tensor meaning, in the interpreter's order
    embedding_size: int = 0
    distance: str = ""  # "euclidean" or "cosine"; empty for non-embedding models
    # Scale embeddings to unit length before matching (after flip averaging).
    normalize_embedding: bool = False
    # Five reference points (left eye, right eye, nose, left mouth, right mouth) in chip
    # pixels; the aligner maps detected landmarks onto them.
    alignment_template: tuple[tuple[float, float], ...] = ()
    # Distance thresholds by FAR target ("1e-2", "1e-3", "1e-4"), from calibration.
    thresholds: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    source: Source | None = None
    converter: dict[str, str] = field(default_factory=dict)  # tool versions used
    manifest_version: int = MANIFEST_VERSION

    @property
    def model_id(self) -> str:
        """Identity a face template is tagged with: family, variant and weights hash."""
        return f"{self.name}/{self.variant}@{self.sha256[:16]}"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tuple2(rows: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in rows)


def manifest_from_dict(data: dict[str, Any]) -> Manifest:
    data = dict(data)
    inp = dict(data.pop("input"))
    inp["mean"] = tuple(inp.get("mean", (0.0, 0.0, 0.0)))
    inp["scale"] = tuple(inp.get("scale", (1.0, 1.0, 1.0)))
    source = data.pop("source", None)
    return Manifest(
        input=InputSpec(**inp),
        source=Source(**source) if source else None,
        outputs=tuple(data.pop("outputs", ())),
        alignment_template=_tuple2(data.pop("alignment_template", ())),
        **data,
    )


def load_manifest(path: str | Path, check_hash: bool = False) -> Manifest:
    """Read a manifest; with ``check_hash`` also verify the model file's sha256."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        manifest = manifest_from_dict(data)
    except FileNotFoundError:
        raise ModelError(f"model manifest not found: {path}") from None
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise ModelError(f"model manifest {path} is invalid: {err}") from None
    if check_hash:
        model = model_path(path, manifest)
        if not model.is_file():
            raise ModelError(f"model file not found: {model} (named by {path})")
        actual = sha256_file(model)
        if actual != manifest.sha256:
            raise ModelError(
                f"model file {model} does not match its manifest "
                f"(sha256 {actual[:12]}… != {manifest.sha256[:12]}…): regenerate it with 'make models'"
            )
    return manifest


def model_path(manifest_path: str | Path, manifest: Manifest) -> Path:
    return Path(manifest_path).parent / manifest.file


def write_manifest(path: str | Path, manifest: Manifest) -> None:
    Path(path).write_text(manifest.to_json())
