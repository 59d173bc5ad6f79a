"""keras-vggface (VGGFace / VGGFace2) face embedders -> ``.tflite`` variants with manifests.

keras-vggface 0.6 was written for standalone Keras 2.2: it imports ``keras.engine.topology``,
``keras.utils.data_utils`` and ``keras_applications``. :func:`keras_vggface_modules` runs its
model builders against ``tf_keras`` through a temporary ``sys.modules`` alias and restores
everything afterwards. The weights are the operator's (the rcmalli keras-vggface release
files, e.g. ``rcmalli_vggface_tf_notop_resnet50.h5``; VGGFace2 terms apply) and are loaded
the way keras-vggface loads them: by topology for resnet50/senet50, by name for vgg16.
``--random-weights`` builds a seeded random model for tests; such models are never shipped.

Preprocessing stays out of the graph and goes into the manifest: keras-vggface's
``preprocess_input`` flips RGB to BGR and subtracts a per-channel mean (version 2 for
resnet50/senet50, version 1 for vgg16), with no scaling.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from converters.common import (
    VARIANTS,
    converter_versions,
    cosine,
    keras_to_tflite,
    median_ms,
    package_version,
    progress,
    raw_embeddings,
    runtime_embedder,
    write_model,
)
from kiosk.manifest import InputSpec, Manifest, Source
from kiosk.vision.embedder import preprocess

ARCHS = ("resnet50", "vgg16", "senet50")
CHIP_SIZE = 224
PARITY_MIN_COSINE = 0.9999
# Research data sits beside the repository (../shared/data); it is read, never copied in.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LFW_IMAGES = SHARED_DATA / "lfw-view1" / "images"
# LFW deep-funneled frames are 250x250 with the face roughly centred (its MTCNN box is
# about 90x130 px): the central 128x128 square, scaled to 224, approximates the loose
# VGGFace2 training crop (face box enlarged by 30%, centre 224 of a 256 resize).
LFW_CENTRE_CROP = 128
LOOSE_CROP_ENLARGE = 1.3
# Where the kiosk detector's five points (left eye, right eye, nose, left and right mouth
# corner) sit in a VGGFace2-style chip, in 224x224 chip pixels: the median over 600 faces of
# LFW View 1 DevTrain (random.Random(0).sample of the pairs' images) from
# derive_alignment_template, then made left-right symmetric. VGGFace2 itself does not
# align faces; this template makes the kiosk's similarity warp cut about the same chip.
VGGFACE2_TEMPLATE = ((66.1, 82.0), (157.9, 82.0), (112.0, 133.8), (70.7, 179.0), (153.3, 179.0))
TEMPLATE_PROVENANCE = {
    "method": "median of the kiosk MTCNN landmarks mapped into VGGFace2 loose crops "
    "(box enlarged 1.3x, short side 256, centre 224), mirrored to be left-right symmetric",
    "derived_on": "LFW View 1 pairsDevTrain.txt, 600 images (random.Random(0).sample), 600 faces",
}

# keras-vggface utils.preprocess_input: means in BGR order, after the RGB->BGR flip.
BGR_MEAN = {
    1: (93.5940, 104.7624, 129.1863),  # VGGFace (vgg16)
    2: (91.4953, 103.8827, 131.0912),  # VGGFace2 (resnet50, senet50)
}
PREPROCESS_VERSION = {"resnet50": 2, "senet50": 2, "vgg16": 1}
EMBEDDING_SIZE = {"resnet50": 2048, "senet50": 2048, "vgg16": 512}
BUILDER = {"resnet50": "RESNET50", "senet50": "SENET50", "vgg16": "VGG16"}


class WeightsError(Exception):
    """The operator's weights file is missing or does not fit the architecture."""


@dataclass(frozen=True)
class VariantResult:
    variant: str
    file: str
    size_bytes: int
    cosine_min: float  # TFLite vs Keras, over the parity chips
    cosine_mean: float
    # Cosine after subtracting the Keras batch mean from both: random-weight embeddings of
    # different faces are ~0.99 alike, so the plain cosine alone says little for them.
    centred_cosine_min: float
    latency_ms: float | None = None


# --- keras-vggface on tf_keras ---------------------------------------------------------


def _shim_modules(tf_keras: types.ModuleType) -> dict[str, types.ModuleType]:
    """The module names keras-vggface 0.6 imports, mapped onto tf_keras."""
    from tf_keras.src.applications import imagenet_utils
    from tf_keras.src.utils import layer_utils

    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    data_utils = module("keras.utils.data_utils", get_file=tf_keras.utils.get_file)
    # ``from keras.utils import layer_utils`` looks the attribute up on the module object,
    # so keras.utils is a copy of tf_keras.utils with the two old submodules added.
    utils = module("keras.utils", **{**vars(tf_keras.utils), "layer_utils": layer_utils, "data_utils": data_utils})
    utils.__name__ = "keras.utils"
    topology = module("keras.engine.topology", get_source_inputs=tf_keras.utils.get_source_inputs)
    engine = module("keras.engine", topology=topology)
    apps_utils = module("keras_applications.imagenet_utils", _obtain_input_shape=imagenet_utils.obtain_input_shape)
    return {
        "keras": tf_keras,
        "keras.layers": tf_keras.layers,
        "keras.models": tf_keras.models,
        "keras.backend": tf_keras.backend,
        "keras.utils": utils,
        "keras.utils.layer_utils": layer_utils,
        "keras.utils.data_utils": data_utils,
        "keras.engine": engine,
        "keras.engine.topology": topology,
        "keras_applications": module("keras_applications", imagenet_utils=apps_utils),
        "keras_applications.imagenet_utils": apps_utils,
    }


@contextlib.contextmanager
def keras_vggface_modules() -> Iterator[types.SimpleNamespace]:
    """Import keras-vggface against tf_keras; yield its ``models`` and ``utils`` modules.

    ``sys.modules`` is restored on exit (including any real ``keras`` already imported),
    and keras-vggface is dropped from it so nothing outside keeps the aliased import.
    """
    import importlib

    import tf_keras

    shims = _shim_modules(tf_keras)
    own = ("keras_vggface",)
    saved = {name: sys.modules[name] for name in sys.modules if name in shims or name.split(".")[0] in own}
    try:
        for name in list(saved):
            if name.split(".")[0] in own:
                del sys.modules[name]
        sys.modules.update(shims)
        models = importlib.import_module("keras_vggface.models")
        utils = importlib.import_module("keras_vggface.utils")
        yield types.SimpleNamespace(models=models, utils=utils)
    finally:
        for name in [n for n in sys.modules if n in shims or n.split(".")[0] in own]:
            del sys.modules[name]
        sys.modules.update(saved)


def build_model(arch: str, weights: Path | None, seed: int = 0) -> Any:
    """keras-vggface ``arch`` without the classifier, global average pooled, 224x224 input.

    ``weights`` None gives seeded random weights. Raises WeightsError for a bad file.
    """
    import tf_keras

    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    if weights is not None and not weights.is_file():
        raise WeightsError(f"weights file not found: {weights}")
    tf_keras.backend.clear_session()
    with keras_vggface_modules() as kv:
        builder = getattr(kv.models, BUILDER[arch])
        model = builder(include_top=False, weights=None, input_shape=(CHIP_SIZE, CHIP_SIZE, 3), pooling="avg")
    if weights is None:
        model.set_weights(random_weights(model, seed))
    else:
        try:
            # As keras-vggface does: vgg16 by layer name, the others by topology.
            by_name = arch == "vgg16"
            if by_name:
                check_layer_names(model, weights)
            model.load_weights(str(weights), by_name=by_name)
        except (OSError, ValueError, KeyError, TypeError) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise WeightsError(f"cannot load {arch} weights from {weights}: {first_line}") from None
    return model


def random_weights(model: Any, seed: int) -> list[np.ndarray]:
    """Keras' default initial values, drawn from a seeded generator (no global seeding).

    Kernels are Glorot-uniform; BatchNorm gamma and moving variance 1; biases, beta and
    moving mean 0.
    """
    rng = np.random.default_rng(seed)
    values: list[np.ndarray] = []
    for variable in model.weights:
        shape = tuple(variable.shape)
        name = variable.name.split("/")[-1].split(":")[0]
        if name == "kernel":
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            values.append(rng.uniform(-limit, limit, shape).astype(np.float32))
        elif name in ("gamma", "moving_variance"):
            values.append(np.ones(shape, np.float32))
        else:
            values.append(np.zeros(shape, np.float32))
    return values


def check_layer_names(model: Any, weights: Path) -> None:
    """Loading by name silently skips absent layers: insist every weighted layer is there."""
    import h5py

    with h5py.File(weights, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        saved = {name.decode() if isinstance(name, bytes) else str(name) for name in group.attrs.get("layer_names", [])}
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in saved]
    if missing:
        raise WeightsError(f"weights file {weights} lacks {len(missing)} layers of the model, e.g. {', '.join(missing[:3])}")


# --- alignment template -------------------------------------------------------------------


def loose_crop_points(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map image points into a VGGFace2-style 224 chip cut around a detector box.

    VGGFace2's crop: the face box enlarged by 30%, its shorter side resized to 256, the
    central 224x224 kept. A point p then lands at (p - box centre) * s + 112 with
    s = 256 / (1.3 * min(box width, box height)).
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    scale = 256.0 / (LOOSE_CROP_ENLARGE * min(x2 - x1, y2 - y1))
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    chip_points: np.ndarray = (np.asarray(points, np.float64) - centre) * scale + CHIP_SIZE / 2
    return chip_points


def derive_alignment_template(images: list[Path], models_dir: Path) -> tuple[np.ndarray, int]:
    """Median position of the kiosk detector's five landmarks in VGGFace2-style chips.

    Runs the kiosk's own MTCNN (the models in ``models_dir``) on each image, takes the
    face nearest the centre, maps its landmarks with :func:`loose_crop_points`.
    """
    from kiosk.config import Settings
    from kiosk.vision.image_io import load_image
    from kiosk.vision.mtcnn import MtcnnDetector, Net
    from kiosk.vision.pipeline import choose_central

    pnet, rnet, onet = (Net.from_manifest(models_dir / f"mtcnn_{n}.json", 2) for n in ("pnet", "rnet", "onet"))
    detector = MtcnnDetector(pnet, rnet, onet, settings=Settings(base_dir=str(models_dir.parent)).detector)
    points: list[np.ndarray] = []
    for path in images:
        image = load_image(path)
        faces = detector.detect(image)
        if faces:
            face = choose_central(faces, image.shape)
            points.append(loose_crop_points(face.box, face.landmarks))
    if not points:
        raise ValueError("no faces found to derive the alignment template from")
    return np.median(np.asarray(points), axis=0), len(points)


def symmetric_template(points: np.ndarray) -> np.ndarray:
    """Average five points with their mirror image (x -> 224 - x, left and right swapped)."""
    points = np.asarray(points, np.float64)
    mirrored = points[[1, 0, 2, 4, 3]] * [-1.0, 1.0] + [CHIP_SIZE, 0.0]
    symmetric: np.ndarray = (points + mirrored) / 2
    return symmetric


# --- face chips --------------------------------------------------------------------------


def face_chips(count: int, offset: int = 0, image_dir: Path | None = None) -> tuple[np.ndarray, str]:
    """``count`` RGB uint8 224x224 chips and a description of where they came from.

    From LFW deep-funneled (centre crops, spread evenly over the sorted file list, shifted
    by ``offset`` so calibration and parity sets differ) or, without LFW, jittered crops
    of scikit-image's astronaut.
    """
    from PIL import Image

    root = image_dir or LFW_IMAGES
    paths = sorted(root.glob("*/*.jpg")) if root.is_dir() else []
    chips: list[np.ndarray] = []
    if paths:
        picks = (np.linspace(0, len(paths) - 1, count).astype(int) + offset) % len(paths)
        for index in picks:
            image = Image.open(paths[index]).convert("RGB")
            w, h = image.size
            left, top = (w - LFW_CENTRE_CROP) // 2, (h - LFW_CENTRE_CROP) // 2
            box = (left, top, left + LFW_CENTRE_CROP, top + LFW_CENTRE_CROP)
            chips.append(np.asarray(image.crop(box).resize((CHIP_SIZE, CHIP_SIZE), Image.Resampling.BILINEAR)))
        source = f"{count} LFW deep-funneled centre crops {LFW_CENTRE_CROP}px -> {CHIP_SIZE}px ({root})"
    else:
        from skimage import data as skdata

        image = Image.fromarray(skdata.astronaut())
        rng = np.random.default_rng(offset)
        for _ in range(count):
            side = int(rng.integers(120, 170))
            cx, cy = 223 + int(rng.integers(-12, 13)), 117 + int(rng.integers(-12, 13))
            box = (cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)
            chip = image.crop(box).resize((CHIP_SIZE, CHIP_SIZE), Image.Resampling.BILINEAR)
            if rng.random() < 0.5:
                chip = chip.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            chips.append(np.asarray(chip))
        source = f"{count} jittered crops of skimage.data.astronaut (LFW not found at {root})"
    return np.stack(chips), source


def input_spec(arch: str) -> InputSpec:
    return InputSpec(
        height=CHIP_SIZE,
        width=CHIP_SIZE,
        layout="NHWC",
        color_order="BGR",
        mean=BGR_MEAN[PREPROCESS_VERSION[arch]],
        scale=(1.0, 1.0, 1.0),
    )


def keras_vggface_preprocess(rgb_chips: np.ndarray, arch: str) -> np.ndarray:
    """keras-vggface's own ``utils.preprocess_input`` of RGB uint8 chips: what the weights
    were trained on, so the Keras reference side of the parity check. The TFLite side is
    fed by the kiosk from the manifest, so a manifest that misstates it fails parity."""
    with keras_vggface_modules() as kv:
        return np.asarray(kv.utils.preprocess_input(rgb_chips.astype(np.float32), version=PREPROCESS_VERSION[arch]), np.float32)


# --- conversion and checks ---------------------------------------------------------------


def make_manifest(arch: str, variant: str, weights: Path | None, representative: str = "") -> Manifest:
    converter = {**converter_versions(), "keras-vggface": package_version("keras-vggface")}
    if representative:
        converter["int8_representative_dataset"] = representative
    return Manifest(
        name=f"vggface_{arch}",
        variant=variant,
        task="embedding",
        architecture=(
            f"keras-vggface {arch} (VGGFace{'2' if PREPROCESS_VERSION[arch] == 2 else ''}), "
            f"include_top=False, global average pooling -> {EMBEDDING_SIZE[arch]}-d; "
            f"input {CHIP_SIZE}x{CHIP_SIZE} BGR minus the per-channel mean "
            f"(keras_vggface.utils.preprocess_input version {PREPROCESS_VERSION[arch]})"
        ),
        file=f"vggface_{arch}_{variant}.tflite",
        sha256="",
        input=input_spec(arch),
        outputs=("embedding",),
        embedding_size=EMBEDDING_SIZE[arch],
        distance="cosine",
        normalize_embedding=True,
        alignment_template=VGGFACE2_TEMPLATE,
        calibration={"alignment": TEMPLATE_PROVENANCE},
        source=Source(
            package="keras-vggface",
            version=package_version("keras-vggface"),
            license="MIT (code); weights: operator-supplied, see VGGFace2 terms",
            file=weights.name if weights is not None else "random",
            url="https://github.com/rcmalli/keras-vggface",
        ),
        converter=converter,
    )


def convert(
    arch: str,
    weights: Path | None,
    variants: tuple[str, ...],
    out_dir: Path,
    seed: int = 0,
    calibration_images: int = 100,
    parity_images: int = 16,
    bench: bool = False,
    image_dir: Path | None = None,
) -> dict[str, Any]:
    """Build, convert each variant, check it against Keras; return the report.

    Keras gets keras-vggface's own preprocessing; each ``.tflite`` runs in the kiosk's
    Embedder with the manifest just written, as the kiosk would run it.
    """
    model = build_model(arch, weights, seed=seed)
    progress(f"vggface: built {arch} ({'weights ' + str(weights) if weights else f'random weights, seed {seed}'})")
    parity_chips, parity_source = face_chips(parity_images, offset=1, image_dir=image_dir)
    reference = model.predict(keras_vggface_preprocess(parity_chips, arch), batch_size=8, verbose=0)

    representative: Callable[[], Iterator[list[np.ndarray]]] | None = None
    calibration_source = ""
    if "int8" in variants:
        calib_chips, calibration_source = face_chips(calibration_images, offset=0, image_dir=image_dir)
        # Calibrate on what the int8 model will be fed: the kiosk's preprocessing of its manifest.
        calib_batch = preprocess(calib_chips, make_manifest(arch, "int8", weights, calibration_source))

        def representative() -> Iterator[list[np.ndarray]]:
            for sample in calib_batch:
                yield [sample[None]]

    results: list[VariantResult] = []
    for variant in variants:
        progress(f"vggface: converting {arch} to {variant}")
        tflite = keras_to_tflite(model, variant, representative=representative if variant == "int8" else None)
        manifest_path = write_model(
            out_dir, make_manifest(arch, variant, weights, calibration_source if variant == "int8" else ""), tflite
        )
        embedder = runtime_embedder(manifest_path)
        got = raw_embeddings(embedder, parity_chips)
        cos = cosine(got, reference)
        centre = reference.mean(axis=0, keepdims=True)
        centred = cosine(got - centre, reference - centre)
        latency = None
        if bench:
            chip = parity_chips[0]
            latency = median_ms(lambda: embedder.embed_single(chip))
        result = VariantResult(variant, manifest_path.with_suffix(".tflite").name, len(tflite), float(cos.min()), float(cos.mean()), float(centred.min()), latency)
        progress(f"vggface: {variant}: cosine vs Keras min {result.cosine_min:.6f} mean {result.cosine_mean:.6f}"
                 f" (centred min {result.centred_cosine_min:.6f})"
                 + (f", latency {latency:.1f} ms" if latency is not None else ""))
        results.append(result)
    return {
        "arch": arch,
        "weights": str(weights) if weights else f"random (seed {seed})",
        "embedding_size": EMBEDDING_SIZE[arch],
        "parity_chips": parity_source,
        "calibration_chips": calibration_source,
        "parity_min_cosine_fp32": PARITY_MIN_COSINE,
        "latency": "LiteRT, 2 threads, median of 20, one image" if bench else "",
        "variants": [dataclasses.asdict(r) for r in results],
    }


# --- CLI ---------------------------------------------------------------------------------


def parse_variants(text: str) -> tuple[str, ...]:
    variants = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(VARIANTS)}")
    return variants


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "vggface",
        help="convert a keras-vggface model (operator-supplied weights) to TFLite variants",
        description="Build a keras-vggface embedder on tf_keras, load the operator's .h5 weights "
        "and write vggface_<arch>_<variant>.tflite with JSON manifests.",
    )
    parser.add_argument("--arch", choices=ARCHS, default="resnet50")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", type=Path, metavar="FILE.h5", help="keras-vggface notop weights, e.g. rcmalli_vggface_tf_notop_resnet50.h5")
    source.add_argument("--random-weights", action="store_true", help="seeded random weights (tests only; never ship)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-weights (default 0)")
    parser.add_argument("--variants", type=parse_variants, default=VARIANTS, help="comma-separated: fp32,fp16,dynamic-int8,int8 (default all)")
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory (default: models)")
    parser.add_argument("--calibration-images", type=int, default=100, help="face chips for int8 calibration (default 100)")
    parser.add_argument("--images", type=Path, default=None, help=f"LFW-style image folder for chips (default {LFW_IMAGES})")
    parser.add_argument("--bench", action="store_true", help="also measure LiteRT latency (2 threads, median of 20)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    weights = None if args.random_weights else args.weights
    try:
        report = convert(
            args.arch,
            weights,
            tuple(args.variants),
            args.out,
            seed=args.seed,
            calibration_images=args.calibration_images,
            bench=args.bench,
            image_dir=args.images,
        )
    except WeightsError as err:
        print(f"vggface: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for v in report["variants"]:
            print(f"{v['file']}: {v['size_bytes'] / 1e6:.1f} MB, cosine vs Keras min {v['cosine_min']:.6f}"
                  f" (centred {v['centred_cosine_min']:.6f})"
                  + (f", {v['latency_ms']:.1f} ms" if v["latency_ms"] is not None else ""))
    fp32 = [v for v in report["variants"] if v["variant"] == "fp32"]
    if fp32 and fp32[0]["cosine_min"] < PARITY_MIN_COSINE:
        print(f"vggface: fp32 parity {fp32[0]['cosine_min']:.6f} below {PARITY_MIN_COSINE}", file=sys.stderr)
        return 1
    return 0
