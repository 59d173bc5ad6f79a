"""Derive the 5-point alignment template that makes the kiosk's chips match dlib's.

dlib's ``get_face_chip(img, shape, size=150, padding=0.25)`` aligns with its own 5-point
shape predictor (eye corners and nose base), while the kiosk's detector gives MTCNN's five
points (eye centres, nose tip, mouth corners). To find where MTCNN's points sit in a dlib
chip, we cut dlib chips with generous padding (so MTCNN sees context), detect MTCNN
landmarks on them, map them into the coordinates of the 150/0.25 chip and take the
median over many faces.

dlib places template point x (in [0, 1]) at ``size * (padding + x) / (2 * padding + 1)``,
so chip coordinates at one padding convert exactly to another.

Then the agreement is measured on other photos: the cosine between the embedding of the
kiosk's chip (MTCNN + similarity warp) and of dlib's chip for the same photo.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from converters.common import cosine, progress
from converters.dlib_resnet import weights_dir
from kiosk.config import Settings
from kiosk.manifest import load_manifest, write_manifest
from kiosk.vision.align import align_face
from kiosk.vision.embedder import Embedder
from kiosk.vision.image_io import load_image
from kiosk.vision.mtcnn import MtcnnDetector, Net
from kiosk.vision.pipeline import choose_central

CHIP_SIZE = 150
CHIP_PADDING = 0.25
WIDE_SIZE = 300
WIDE_PADDING = 1.0


def wide_to_chip(points: np.ndarray) -> np.ndarray:
    """Map points from a (WIDE_SIZE, WIDE_PADDING) dlib chip to the (150, 0.25) chip."""
    normalised = points * (2 * WIDE_PADDING + 1) / WIDE_SIZE - WIDE_PADDING
    return CHIP_SIZE * (CHIP_PADDING + normalised) / (2 * CHIP_PADDING + 1)


@dataclasses.dataclass
class DlibReference:
    """dlib's own detector, 5-point shape predictor and chip extraction (dlib is untyped:
    its objects are Any)."""

    detector: Any
    predictor: Any

    @classmethod
    def load(cls) -> "DlibReference":
        import dlib

        predictor = weights_dir() / "shape_predictor_5_face_landmarks.dat"
        return cls(dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor)))

    def shape(self, image: np.ndarray) -> Any:
        """dlib's 5-point ``full_object_detection`` of the most central face, or None."""
        import dlib

        rects = self.detector(image, 1)
        if not rects:
            return None
        centre = np.array([image.shape[1] / 2, image.shape[0] / 2])
        rect = min(rects, key=lambda r: np.hypot(r.center().x - centre[0], r.center().y - centre[1]))
        return self.predictor(image, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))

    def chip(self, image: np.ndarray, shape: Any, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
        import dlib

        chip: np.ndarray = dlib.get_face_chip(image, shape, size=size, padding=padding)
        return chip


def lfw_images(root: Path, pairs_file: Path) -> list[Path]:
    """Distinct image paths named by an LFW pairs file."""
    paths: list[Path] = []
    for line in pairs_file.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 3:
            names = [(parts[0], parts[1]), (parts[0], parts[2])]
        elif len(parts) == 4:
            names = [(parts[0], parts[1]), (parts[2], parts[3])]
        else:
            continue
        for name, number in names:
            paths.append(root / "images" / name / f"{name}_{int(number):04d}.jpg")
    return sorted(set(paths))


def derive_template(reference: DlibReference, detector: MtcnnDetector, images: list[Path]) -> tuple[np.ndarray, int]:
    points: list[np.ndarray] = []
    for i, path in enumerate(images):
        image = load_image(path)
        shape = reference.shape(image)
        if shape is None:
            continue
        wide = reference.chip(image, shape, WIDE_SIZE, WIDE_PADDING)
        faces = detector.detect(wide)
        if not faces:
            continue
        points.append(wide_to_chip(choose_central(faces, wide.shape).landmarks))
        if (i + 1) % 100 == 0:
            progress(f"template: {i + 1}/{len(images)} images, {len(points)} faces")
    return np.median(np.asarray(points), axis=0), len(points)


def measure_agreement(
    reference: DlibReference, detector: MtcnnDetector, embedder: Embedder, template: np.ndarray, images: list[Path]
) -> dict[str, float | int]:
    ours: list[np.ndarray] = []
    theirs: list[np.ndarray] = []
    for path in images:
        image = load_image(path)
        shape = reference.shape(image)
        faces = detector.detect(image)
        if shape is None or not faces:
            continue
        face = choose_central(faces, image.shape)
        ours.append(embedder.embed(align_face(image, face.landmarks, template, (CHIP_SIZE, CHIP_SIZE))))
        theirs.append(embedder.embed(np.ascontiguousarray(reference.chip(image, shape))))
    cos = cosine(np.asarray(ours), np.asarray(theirs))
    dist = np.linalg.norm(np.asarray(ours) - np.asarray(theirs), axis=1)
    return {
        "faces": int(len(cos)),
        "cosine_mean": float(cos.mean()),
        "cosine_p05": float(np.percentile(cos, 5)),
        "cosine_min": float(cos.min()),
        "euclidean_median": float(np.median(dist)),
    }


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dlib-template", help="derive the dlib chip alignment template for MTCNN landmarks")
    parser.add_argument("--lfw", type=Path, required=True, help="LFW folder with images/ and pairs files")
    parser.add_argument("--derive-on", default="pairsDevTrain.txt", help="pairs file whose images derive the template")
    parser.add_argument("--measure-on", default="pairsDevTest.txt", help="pairs file whose images measure agreement")
    parser.add_argument("--images", type=int, default=600, help="images to use from each list")
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--write", action="store_true", help="write the template into the dlib manifests")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings(base_dir=str(Path.cwd()))
    pnet, rnet, onet = (Net.from_manifest(args.models / f"mtcnn_{n}.json", 2) for n in ("pnet", "rnet", "onet"))
    detector = MtcnnDetector(pnet, rnet, onet, settings=settings.detector)
    reference = DlibReference.load()
    rng = random.Random(0)
    derive_images = rng.sample(lfw_images(args.lfw, args.lfw / args.derive_on), args.images)
    template, used = derive_template(reference, detector, derive_images)
    progress(f"template from {used} faces: {np.round(template, 2).tolist()}")

    embedder = Embedder.from_manifest(args.models / "dlib_resnet_v1_fp32.json", 2)
    measure_images = rng.sample(lfw_images(args.lfw, args.lfw / args.measure_on), min(args.images, 300))
    agreement = measure_agreement(reference, detector, embedder, template, measure_images)
    report = {"template": np.round(template, 3).tolist(), "derived_from_faces": used, "agreement": agreement}
    print(json.dumps(report, indent=2))
    if args.write:
        for variant in ("fp32", "fp16"):
            path = args.models / f"dlib_resnet_v1_{variant}.json"
            manifest = load_manifest(path)
            calibration = dict(manifest.calibration, alignment={
                "method": "median of MTCNN landmarks on dlib get_face_chip(size=150, padding=0.25) chips",
                "derived_on": f"{args.derive_on} ({used} faces)",
                "agreement_on": args.measure_on,
                **agreement,
            })
            write_manifest(path, dataclasses.replace(
                manifest, alignment_template=tuple(map(tuple, np.round(template, 3).tolist())), calibration=calibration
            ))
            progress(f"wrote the template into {path}")
    return 0
