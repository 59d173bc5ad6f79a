"""MTCNN P-Net, R-Net and O-Net -> three fp32 ``.tflite`` models with manifests.

The weights are the ones that ship in the ``mtcnn==1.0.0`` package (ipazc/mtcnn, MIT):
``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``, joblib-pickled lists of arrays in the
order of the package's own Keras ``model.get_weights()``. The nets are rebuilt here in
``tf_keras`` with the same layers in the same order, so the list loads with
``set_weights``; the package's Keras 3 nets are used only as the parity reference.

What the package feeds its nets (read from mtcnn/mtcnn.py, utils/images.py, stages/):
images are decoded as RGB (``tf.image.decode_image``), normalised as
``(pixel - 127.5) / 128`` and fed as plain NHWC; nothing is transposed (the 1.0.0
weights already fold in the transposition of the original Caffe/Matlab training, see
the ``Permute((2, 1, 3))`` before the dense layers). P-Net runs on each pyramid level
(``tf.image.resize(..., AREA)``); R-Net and O-Net on ``tf.image.crop_and_resize``
(bilinear) patches of the normalised image.

The parity check runs each converted net the way the kiosk does, in
:class:`kiosk.vision.mtcnn.Net` with the manifest just written (normalisation, colour
order, layout and output names all come from it), on RGB pixels; the package's Keras net
gets the same pixels through the package's own ``normalize_images``. So a manifest that
misstates the input fails here rather than on the kiosk.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypedDict

import numpy as np

from converters.common import converter_versions, median_ms, package_version, progress, write_model
from kiosk.litert import load_interpreter
from kiosk.manifest import InputSpec, Manifest, Source
from kiosk.vision.mtcnn import Net

MTCNN_VERSION = "1.0.0"
SOURCE_URL = "https://github.com/ipazc/mtcnn"
NET_NAMES = ("pnet", "rnet", "onet")
# Research data sits beside the repository (../shared/data); it is read, never copied in.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PARITY_TOLERANCE = 1e-4
# Default (pre-resize) input side of P-Net: its smallest valid input, one 12x12 window.
PNET_DEFAULT_SIZE = 12

# Input side of the fixed-size nets (P-Net takes any size of at least 12x12).
NET_INPUT_SIZE: dict[str, int | None] = {"pnet": None, "rnet": 24, "onet": 48}


def patch_size(net: str) -> int:
    """Input side of R-Net or O-Net."""
    size = NET_INPUT_SIZE[net]
    if size is None:
        raise ValueError(f"{net} takes any input size")
    return size


# Keras output order of the package's nets, by meaning.
KERAS_OUTPUTS = {
    "pnet": ("bbox_reg", "face_prob"),
    "rnet": ("bbox_reg", "face_prob"),
    "onet": ("bbox_reg", "landmarks", "face_prob"),
}
# Size of the last axis of each output: unique within a net, so it identifies the output.
OUTPUT_CHANNELS = {"bbox_reg": 4, "face_prob": 2, "landmarks": 10}

_COMMON_OUTPUTS = (
    "face_prob: softmax [non-face, face], channel 1 is the face probability. "
    "bbox_reg: (dx1, dy1, dx2, dy2), box corrections as fractions of the box size: "
)
ARCHITECTURE = {
    "pnet": (
        "MTCNN P-Net (Zhang et al. 2016), fully convolutional, 12x12 window, stride 2; "
        "input any HxW >= 12, batch 1; output maps (1, ceil((H-2)/2)-4, ceil((W-2)/2)-4, 4|2); "
        "cell (row r, column c) is the window x1=2c, y1=2r, x2=2c+12, y2=2r+12 in the "
        "scaled image (the package's pyramid: tf.image.resize AREA of the normalised frame). "
        + _COMMON_OUTPUTS
        + "x1' = x1 + dx1*12, y1' = y1 + dy1*12, x2' = x2 + dx2*12, y2' = y2 + dy2*12 "
        "(then divide by the pyramid scale)."
    ),
    "rnet": (
        "MTCNN R-Net (Zhang et al. 2016), input 24x24 patches (crop_and_resize of the "
        "normalised image, square boxes), dynamic batch. "
        + _COMMON_OUTPUTS
        + "w = x2 - x1 + 1, h = y2 - y1 + 1, x1' = x1 + dx1*w, y1' = y1 + dy1*h, "
        "x2' = x2 + dx2*w, y2' = y2 + dy2*h."
    ),
    "onet": (
        "MTCNN O-Net (Zhang et al. 2016), input 48x48 patches (crop_and_resize of the "
        "normalised image, square boxes), dynamic batch. "
        + _COMMON_OUTPUTS
        + "w = x2 - x1 + 1, h = y2 - y1 + 1, x1' = x1 + dx1*w, y1' = y1 + dy1*h, "
        "x2' = x2 + dx2*w, y2' = y2 + dy2*h. landmarks: 10 values, the five x's then the "
        "five y's (not interleaved), points in order left eye, right eye, nose, left mouth "
        "corner, right mouth corner (left/right as seen in the image), relative to the "
        "input box (before its bbox_reg correction): x_i = x1 - 1 + lm[i]*w, "
        "y_i = y1 - 1 + lm[5+i]*h."
    ),
}

class _InputFields(TypedDict):
    """The :class:`InputSpec` fields every MTCNN net shares (all but its size)."""

    layout: str
    color_order: str
    mean: tuple[float, float, float]
    scale: tuple[float, float, float]


MTCNN_INPUT: _InputFields = {
    "layout": "NHWC",
    "color_order": "RGB",
    "mean": (127.5, 127.5, 127.5),
    "scale": (1.0 / 128.0, 1.0 / 128.0, 1.0 / 128.0),
}


@dataclass(frozen=True)
class NetResult:
    net: str
    file: str
    size_bytes: int
    outputs: tuple[str, ...]
    max_abs_diff: dict[str, float]  # per output, over random and real inputs
    latency_ms: dict[str, float] = dataclasses.field(default_factory=dict)


# --- building the nets -------------------------------------------------------------


def load_package_weights(net: str) -> list[np.ndarray]:
    """The weight list that ships in the mtcnn package for ``net``."""
    from mtcnn.utils.tensorflow import load_weights

    return list(load_weights(f"{net}.lz4"))


def build_net(net: str) -> Any:
    """A tf_keras functional model with the package's layers, in the package's order."""
    import tf_keras as keras

    L = keras.layers

    def conv_prelu(x: Any, filters: int, kernel: int, name: str) -> Any:
        x = L.Conv2D(filters, kernel, padding="valid", name=f"conv{name}")(x)
        return L.PReLU(shared_axes=[1, 2], name=f"prelu{name}")(x)

    size = NET_INPUT_SIZE[net]
    inputs = keras.Input(shape=(size, size, 3), name="image")
    if net == "pnet":
        x = conv_prelu(inputs, 10, 3, "1")
        x = L.MaxPooling2D(2, 2, padding="same", name="maxpooling1")(x)
        x = conv_prelu(x, 16, 3, "2")
        x = conv_prelu(x, 32, 3, "3")
        bbox = L.Conv2D(4, 1, name="conv4-1")(x)
        prob = L.Conv2D(2, 1, activation="softmax", name="conv4-2")(x)
        outputs = [bbox, prob]
    elif net == "rnet":
        x = conv_prelu(inputs, 28, 3, "1")
        x = L.MaxPooling2D(3, 2, padding="same", name="maxpooling1")(x)
        x = conv_prelu(x, 48, 3, "2")
        x = L.MaxPooling2D(3, 2, padding="valid", name="maxpooling2")(x)
        x = conv_prelu(x, 64, 2, "3")
        x = L.Permute((2, 1, 3), name="permute")(x)
        x = L.Flatten(name="flatten3")(x)
        x = L.Dense(128, name="fc4")(x)
        x = L.PReLU(name="prelu4")(x)
        bbox = L.Dense(4, name="fc5-1")(x)
        prob = L.Dense(2, activation="softmax", name="fc5-2")(x)
        outputs = [bbox, prob]
    elif net == "onet":
        x = conv_prelu(inputs, 32, 3, "1")
        x = L.MaxPooling2D(3, 2, padding="same", name="maxpooling1")(x)
        x = conv_prelu(x, 64, 3, "2")
        x = L.MaxPooling2D(3, 2, padding="valid", name="maxpooling2")(x)
        x = conv_prelu(x, 64, 3, "3")
        x = L.MaxPooling2D(2, 2, padding="same", name="maxpooling3")(x)
        x = conv_prelu(x, 128, 2, "4")
        x = L.Permute((2, 1, 3), name="permute")(x)
        x = L.Flatten(name="flatten4")(x)
        x = L.Dense(256, name="fc5")(x)
        x = L.PReLU(name="prelu5")(x)
        bbox = L.Dense(4, name="fc6-1")(x)
        landmarks = L.Dense(10, name="fc6-2")(x)
        prob = L.Dense(2, activation="softmax", name="fc6-3")(x)
        outputs = [bbox, landmarks, prob]
    else:
        raise ValueError(f"unknown MTCNN net {net!r}; choose from {', '.join(NET_NAMES)}")
    return keras.Model(inputs, outputs, name=net)


def build_loaded_net(net: str) -> Any:
    model = build_net(net)
    model.set_weights(load_package_weights(net))
    return model


def package_net(net: str) -> Any:
    """The package's own Keras net with its weights: the parity reference."""
    from mtcnn.network.onet import ONet
    from mtcnn.network.pnet import PNet
    from mtcnn.network.rnet import RNet

    model = {"pnet": PNet, "rnet": RNet, "onet": ONet}[net]()
    model.build()
    model.set_weights(load_package_weights(net))
    return model


# --- conversion ----------------------------------------------------------------------


def convert_net(net: str, model: Any) -> bytes:
    """fp32 TFLite bytes; P-Net with dynamic H and W, R/O-Net with a dynamic batch."""
    import tensorflow as tf

    from converters.common import keras_to_tflite

    size = NET_INPUT_SIZE[net]
    spec = (
        tf.TensorSpec([1, None, None, 3], tf.float32, name="image")
        if net == "pnet"
        else tf.TensorSpec([None, size, size, 3], tf.float32, name="image")
    )
    names = KERAS_OUTPUTS[net]

    def forward(image: Any) -> dict[str, Any]:
        return dict(zip(names, model(image, training=False)))

    # tf.function called, not used as a decorator: TensorFlow is untyped, and an untyped
    # decorator would make ``forward`` untyped too.
    traced = tf.function(forward)
    tflite = keras_to_tflite(model, "fp32", concrete_function=traced.get_concrete_function(spec))
    if net == "pnet":
        tflite = set_default_input_shape(tflite, (1, PNET_DEFAULT_SIZE, PNET_DEFAULT_SIZE, 3))
    return tflite


def set_default_input_shape(tflite: bytes, shape: tuple[int, ...]) -> bytes:
    """Give a dynamic input a valid default shape; its shape signature stays dynamic.

    The converter stores 1 for every unknown dimension, and a 1x1 image is too small for
    P-Net's convolutions, so ``allocate_tensors()`` right after loading would fail.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite))
    subgraph = model.subgraphs[0]
    (index,) = subgraph.inputs
    tensor = subgraph.tensors[index]
    if len(tensor.shape) != len(shape):
        raise ValueError(f"input rank {len(tensor.shape)} != {len(shape)}")
    tensor.shape = np.asarray(shape, dtype=np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def interpreter_output_order(interpreter: Any) -> tuple[str, ...]:
    """Meaning of each interpreter output, identified by its channel count."""
    by_channels = {channels: name for name, channels in OUTPUT_CHANNELS.items()}
    order: list[str] = []
    for detail in interpreter.get_output_details():
        channels = int(detail["shape_signature"][-1])
        if channels not in by_channels:
            raise ValueError(f"unexpected MTCNN output shape {detail['shape_signature']}")
        order.append(by_channels[channels])
    if len(set(order)) != len(order):
        raise ValueError(f"ambiguous MTCNN outputs {order}")
    return tuple(order)


def make_manifest(net: str, outputs: tuple[str, ...]) -> Manifest:
    size = NET_INPUT_SIZE[net]
    return Manifest(
        name=f"mtcnn_{net}",
        variant="fp32",
        task=f"mtcnn-{net}",
        architecture=ARCHITECTURE[net],
        file=f"mtcnn_{net}.tflite",
        sha256="",
        input=InputSpec(height=size, width=size, **MTCNN_INPUT),
        outputs=outputs,
        source=Source(
            package="mtcnn",
            version=MTCNN_VERSION,
            license="MIT",
            file=f"mtcnn/assets/weights/{net}.lz4",
            url=SOURCE_URL,
        ),
        converter={**converter_versions(), "mtcnn": package_version("mtcnn")},
    )


# --- parity inputs -------------------------------------------------------------------


def real_images(data_root: Path | None = None, count: int = 4) -> list[np.ndarray]:
    """RGB uint8 photos with faces: scikit-image's astronaut plus a few LFW images if present."""
    from skimage import data as skdata

    images = [skdata.astronaut()]
    root = data_root or SHARED_DATA / "lfw-view1" / "images"
    if root.is_dir():
        from PIL import Image

        for path in sorted(root.glob("*/*.jpg"))[: count - 1]:
            images.append(np.asarray(Image.open(path).convert("RGB")))
    return images


def parity_inputs(net: str, seed: int = 0) -> list[np.ndarray]:
    """RGB pixel batches (float32, 0-255) to compare Keras and TFLite on: random noise and
    real photos, cut as the package cuts them (P-Net: area-resized pyramid levels, R/O-Net:
    bilinear crops at a few zooms). Each side normalises them its own way."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    photos = [img.astype(np.float32)[None] for img in real_images()]
    # -0.5..255.5 is what the package's normalisation maps to -1..1.
    low, high = -0.5, 255.5
    if net == "pnet":
        batches = [rng.uniform(low, high, (1, h, w, 3)).astype(np.float32) for h, w in ((12, 12), (37, 51), (120, 90))]
        for photo in photos:
            h, w = photo.shape[1:3]
            for scale in (0.3, 0.15):
                level = (max(12, int(h * scale)), max(12, int(w * scale)))
                batches.append(tf.image.resize(photo, level, method="area").numpy())
        return batches
    size = patch_size(net)
    batches = [rng.uniform(low, high, (7, size, size, 3)).astype(np.float32)]
    # Central crops of each photo at a few zooms, like detector candidates.
    for photo in photos:
        h, w = photo.shape[1:3]
        boxes = []
        for frac in (0.9, 0.6, 0.4):
            half_h, half_w = frac / 2, frac * h / w / 2
            boxes.append([0.5 - half_h, 0.5 - half_w, 0.5 + half_h, 0.5 + half_w])
        batches.append(
            tf.image.crop_and_resize(photo, np.asarray(boxes, np.float32), np.zeros(len(boxes), np.int32), (size, size)).numpy()
        )
    return batches


def package_outputs(net: str, reference: Callable[[np.ndarray], Any], batch_rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The package's Keras net on ``batch_rgb`` after the package's own normalisation
    (``mtcnn.utils.images.normalize_images``), outputs by meaning."""
    from mtcnn.utils.images import normalize_images

    normalised = np.asarray(normalize_images(np.asarray(batch_rgb, np.float32)), np.float32)
    return dict(zip(KERAS_OUTPUTS[net], (np.asarray(t) for t in reference(normalised))))


def parity(net: str, model: Net, reference: Callable[[np.ndarray], Any]) -> dict[str, float]:
    """Max abs difference per output between the converted net, run by the kiosk's
    detector ``Net`` as its manifest says (normalisation, colour order, layout, output
    names), and the package's Keras net on the package's normalisation."""
    worst = {name: 0.0 for name in model.outputs}
    for batch in parity_inputs(net):
        expected = package_outputs(net, reference, batch)
        got = model(batch)
        for name in model.outputs:
            if got[name].shape != expected[name].shape:
                raise ValueError(f"{net} {name}: TFLite shape {got[name].shape} != Keras {expected[name].shape}")
            worst[name] = max(worst[name], float(np.abs(got[name] - expected[name]).max()))
    return worst


# --- latency -------------------------------------------------------------------------


def pyramid_sizes(height: int, width: int, min_face: int = 40, factor: float = 0.709) -> list[tuple[int, int]]:
    """P-Net input sizes for a frame: scale 12/min_face, times ``factor``, while the short side >= 12."""
    sizes = []
    scale = 12.0 / min_face
    while min(height, width) * scale >= 12:
        sizes.append((int(np.ceil(height * scale)), int(np.ceil(width * scale))))
        scale *= factor
    return sizes


def measure_latency(model_dir: Path, threads: int = 2, rnet_batch: int = 30, onet_batch: int = 5) -> dict[str, dict[str, float]]:
    """Latency of each net in the kiosk's detector ``Net`` (normalisation and invoke):
    P-Net over the pyramid of a 640x480 frame (min face 40 px), uint8 levels as the
    detector resizes them; R-Net and O-Net on float patches."""
    rng = np.random.default_rng(0)
    result: dict[str, dict[str, float]] = {}

    pnet = Net.from_manifest(model_dir / "mtcnn_pnet.json", threads, check_hash=True)
    levels = [rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8) for h, w in pyramid_sizes(480, 640)]

    def whole_pyramid() -> None:
        for level in levels:
            pnet(level)

    result["pnet"] = {"pyramid_640x480_ms": median_ms(whole_pyramid), "levels": len(levels)}
    for net, batch in (("rnet", rnet_batch), ("onet", onet_batch)):
        model = Net.from_manifest(model_dir / f"mtcnn_{net}.json", threads, check_hash=True)
        size = patch_size(net)
        data = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
        result[net] = {f"batch{batch}_ms": median_ms(lambda: model(data)), "batch": batch}
    return result


# --- CLI -----------------------------------------------------------------------------


def convert_all(out_dir: Path, check_parity: bool = True) -> list[NetResult]:
    results = []
    for net in NET_NAMES:
        progress(f"mtcnn: building {net} from the mtcnn {package_version('mtcnn')} package weights")
        model = build_loaded_net(net)
        tflite = convert_net(net, model)
        # The output order is only known once the model loads, before its manifest is written.
        with tempfile.TemporaryDirectory() as scratch_dir:
            scratch = Path(scratch_dir) / f"mtcnn_{net}.tflite"
            scratch.write_bytes(tflite)
            outputs = interpreter_output_order(load_interpreter(scratch))
        manifest_path = write_model(out_dir, make_manifest(net, outputs), tflite)
        diffs: dict[str, float] = {}
        if check_parity:
            diffs = parity(net, Net.from_manifest(manifest_path, 2, check_hash=True), package_net(net))
            progress(f"mtcnn: {net} outputs {outputs}, max abs diff vs package Keras {diffs}")
        results.append(NetResult(net, f"mtcnn_{net}.tflite", len(tflite), outputs, diffs))
    return results


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "mtcnn",
        help="convert the mtcnn package's P-Net, R-Net and O-Net to fp32 TFLite",
        description="Build MTCNN P/R/O-Net from the mtcnn 1.0.0 package weights and write "
        "mtcnn_{pnet,rnet,onet}.tflite with JSON manifests.",
    )
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory (default: models)")
    parser.add_argument("--no-parity", action="store_true", help="skip the parity check against the package's Keras nets")
    parser.add_argument("--bench", action="store_true", help="also measure LiteRT latency (2 threads, median of 20)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        import mtcnn  # noqa: F401
    except ImportError:
        print("mtcnn: the 'mtcnn' package is not installed (pip install mtcnn==1.0.0)", file=sys.stderr)
        return 2
    results = convert_all(args.out, check_parity=not args.no_parity)
    if args.bench:
        latency = measure_latency(args.out)
        results = [dataclasses.replace(r, latency_ms=latency[r.net]) for r in results]
    failed = [r.net for r in results if any(d > PARITY_TOLERANCE for d in r.max_abs_diff.values())]
    report = {
        "out": str(args.out),
        "nets": [dataclasses.asdict(r) for r in results],
        "parity_tolerance": PARITY_TOLERANCE,
        "parity_ok": not failed,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in results:
            print(f"{r.file}: {r.size_bytes / 1e3:.1f} kB, outputs {', '.join(r.outputs)}, "
                  f"max abs diff {max(r.max_abs_diff.values(), default=float('nan')):.2e}"
                  + (f", latency {r.latency_ms}" if r.latency_ms else ""))
    if failed:
        print(f"mtcnn: parity above {PARITY_TOLERANCE} for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
