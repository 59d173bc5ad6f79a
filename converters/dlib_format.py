"""Reader for dlib's DNN serialization format (plain Python + numpy, no dlib, no TF).

Reads a network saved by ``dlib::serialize(net)``, e.g.
``dlib_face_recognition_resnet_model_v1.dat``, into simple data: the loss layer, the input
layer and a list of computational layers with their numpy parameters, input end first.

Format rules (from dlib's ``serialize.h``, ``float_details.h``, ``cuda/tensor.h``,
``dnn/core.h``, ``dnn/layers.h``, ``dnn/input.h``, ``dnn/loss.h``):

* integer: control byte (bit 7 = sign, low 4 bits = number of magnitude bytes, bits 4-6
  zero), then the magnitude little-endian;
* float/double: integer mantissa then integer exponent, value = m * 2**e;
* bool: ASCII ``'1'`` / ``'0'``; string: integer length then raw bytes;
* tensor: version 2, num_samples, k, nr, nc, then raw little-endian float32 (NCHW);
* alias_tensor: version 1, num_samples, k, nr, nc (a shape only, no data);
* each ``add_layer`` / tag / skip wrapper writes its version, then its sub-network, then
  (``add_layer`` only) its layer details followed by 3 bools and 3 tensors of training
  state; the innermost ``add_layer`` (over the input layer, version 3) also writes its
  ``sample_expansion_factor`` integer after them. So the file is: loss layer, all wrapper
  versions outermost first, the input layer, then each layer's details from the input
  end outward. Tags, skips and
  ``add_prev`` references are not in the file; the topology comes from dlib's source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Wrapper versions as written by the dlib release that saved the face model: add_layer
# over another layer, add_layer over the input layer, tag/skip layers.
ADD_LAYER_VERSION = 2
INPUT_ADD_LAYER_VERSION = 3
TAG_OR_SKIP_VERSION = 1
_SPECIAL_EXPONENTS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}


class DlibFormatError(ValueError):
    """The byte stream does not follow dlib's serialization format as understood here."""


@dataclass
class InputLayer:
    kind: str  # "input_rgb_image_sized"
    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass
class Layer:
    """One computational layer (dlib ``add_layer`` details).

    ``params`` holds numpy arrays in dlib's layout, e.g. ``con_4``: filters
    (num_filters, k, nr, nc) and biases (num_filters,); ``affine_``: gamma (k,), beta (k,);
    ``fc_2``: weights (num_inputs, num_outputs). ``attrs`` holds the scalar settings.
    """

    kind: str
    params: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, float | int | bool] = field(default_factory=dict)

    @property
    def num_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())


@dataclass
class DlibNet:
    loss_kind: str
    loss_attrs: dict[str, float]
    wrapper_versions: list[int]  # outermost first: 2/3 = add_layer, 1 = tag or skip
    input: InputLayer
    layers: list[Layer]  # input end first
    bytes_read: int

    @property
    def num_params(self) -> int:
        return sum(layer.num_params for layer in self.layers)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of file at byte {self.pos} (wanted {n} bytes)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        at = self.pos
        control = self.take(1)[0]
        if control & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{control:02x} at byte {at}")
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"integer of {size} bytes at byte {at}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent in _SPECIAL_EXPONENTS:
            return float(_SPECIAL_EXPONENTS[exponent])
        return float(mantissa * 2.0**exponent)

    def boolean(self) -> bool:
        at = self.pos
        byte = self.take(1)
        if byte not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {byte!r} at byte {at}")
        return byte == b"1"

    def string(self) -> str:
        length = self.integer()
        if not 0 <= length <= 1 << 20:
            raise DlibFormatError(f"implausible string length {length} at byte {self.pos}")
        return self.take(length).decode("ascii")

    def expect_version(self, expected: int, what: str) -> None:
        at = self.pos
        version = self.integer()
        if version != expected:
            raise DlibFormatError(f"{what}: version {version} != {expected} at byte {at}")

    def tensor(self) -> np.ndarray:
        """A tensor as a (num_samples, k, nr, nc) float32 array (copied out of the buffer)."""
        self.expect_version(2, "tensor")
        shape = tuple(self.integer() for _ in range(4))
        if any(dim < 0 for dim in shape):
            raise DlibFormatError(f"negative tensor shape {shape} at byte {self.pos}")
        count = int(np.prod(shape))
        raw = self.take(4 * count)
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.expect_version(1, "alias_tensor")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _split_params(
    params: np.ndarray, shapes: list[tuple[str, tuple[int, ...]]], kind: str
) -> dict[str, np.ndarray]:
    """Cut a flat params tensor into named arrays, checking the sizes add up exactly."""
    flat = params.reshape(-1)
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        out[name] = flat[offset : offset + size].reshape(shape).copy()
        offset += size
    if offset != flat.size:
        raise DlibFormatError(f"{kind}: params hold {flat.size} values, aliases use {offset}")
    return out


def _con(r: _Reader, kind: str) -> Layer:
    params = r.tensor()
    attrs: dict[str, float | int | bool] = {}
    for name in ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
        attrs[name] = r.integer()
    filters = r.alias_tensor()
    biases = r.alias_tensor()
    for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
        attrs[name] = r.real()
    attrs["use_bias"] = r.boolean() if kind == "con_5" else True
    shapes: list[tuple[str, tuple[int, ...]]] = [("filters", filters)]
    if attrs["use_bias"]:
        shapes.append(("biases", (biases[1],)))  # alias (1, num_filters, 1, 1)
    split = _split_params(params, shapes, kind)
    if split["filters"].shape[0] != attrs["num_filters"]:
        raise DlibFormatError(f"{kind}: filters {filters} disagree with num_filters")
    return Layer(kind, split, attrs)


def _affine(r: _Reader, kind: str) -> Layer:
    params = r.tensor()
    gamma = r.alias_tensor()
    beta = r.alias_tensor()
    mode = r.integer()  # dlib's layer_mode: 0 = CONV_MODE (per channel), 1 = FC_MODE
    if gamma != beta:
        raise DlibFormatError(f"affine_: gamma {gamma} and beta {beta} differ")
    shape = (gamma[1],) if mode == 0 else gamma[1:]
    split = _split_params(params, [("gamma", shape), ("beta", shape)], kind)
    return Layer(kind, split, {"mode": mode})


def _pool(r: _Reader, kind: str) -> Layer:
    attrs: dict[str, float | int | bool] = {}
    for name in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
        attrs[name] = r.integer()
    return Layer(kind, {}, attrs)


def _fc(r: _Reader, kind: str) -> Layer:
    num_outputs = r.integer()
    num_inputs = r.integer()
    params = r.tensor()
    weights = r.alias_tensor()
    biases = r.alias_tensor()
    bias_mode = r.integer()  # 0 = FC_HAS_BIAS, 1 = FC_NO_BIAS
    attrs: dict[str, float | int | bool] = {
        "num_outputs": num_outputs,
        "num_inputs": num_inputs,
        "bias_mode": bias_mode,
    }
    for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
        attrs[name] = r.real()
    # dlib computes out = x * W with W stored (num_inputs, num_outputs), row-major.
    shapes: list[tuple[str, tuple[int, ...]]] = [("weights", (weights[0], weights[1]))]
    if bias_mode == 0:
        shapes.append(("biases", (biases[1],)))
    return Layer(kind, _split_params(params, shapes, kind), attrs)


def _no_details(r: _Reader, kind: str) -> Layer:
    return Layer(kind)


_LAYER_READERS = {
    "con_4": _con,
    "con_5": _con,
    "affine_": _affine,
    "relu_": _no_details,
    "add_prev_": _no_details,
    "max_pool_2": _pool,
    "avg_pool_2": _pool,
    "fc_2": _fc,
}


def _input_layer(r: _Reader) -> InputLayer:
    kind = r.string()
    if kind != "input_rgb_image_sized":
        raise DlibFormatError(f"unsupported input layer {kind!r}")
    mean = (r.real(), r.real(), r.real())
    rows = r.integer()
    cols = r.integer()
    return InputLayer(kind, mean, rows, cols)


def _layer_details(r: _Reader, over_input: bool) -> Layer:
    at = r.pos
    kind = r.string()
    reader = _LAYER_READERS.get(kind)
    if reader is None:
        raise DlibFormatError(f"unsupported layer {kind!r} at byte {at}")
    layer = reader(r, kind)
    # add_layer v2 training state: setup_called, gradient_input_is_stale,
    # get_output_and_gradient_input_disabled, then x_grad, cached_output, params_grad.
    for _ in range(3):
        r.boolean()
    for _ in range(3):
        state = r.tensor()
        if state.size:
            raise DlibFormatError(f"{kind}: non-empty training-state tensor ending at byte {r.pos}")
    if over_input:
        factor = r.integer()
        if factor != 1:
            raise DlibFormatError(f"sample_expansion_factor {factor} != 1 at byte {r.pos}")
    return layer


def parse_dlib_net(data: bytes) -> DlibNet:
    """Parse a whole serialized ``loss_metric`` network; every byte must be consumed."""
    r = _Reader(data)
    r.expect_version(1, "add_loss_layer")
    loss_kind = r.string()
    if loss_kind != "loss_metric_2":
        raise DlibFormatError(f"unsupported loss layer {loss_kind!r}")
    loss_attrs = {"margin": r.real(), "distance_threshold": r.real()}

    # Wrapper versions, outermost first, until the input layer's type string starts.
    # The input layer's type string starts with its length (21), which ends the run.
    versions: list[int] = []
    while True:
        mark = r.pos
        value = r.integer()
        if value not in (ADD_LAYER_VERSION, TAG_OR_SKIP_VERSION, INPUT_ADD_LAYER_VERSION):
            r.pos = mark
            break
        versions.append(value)
        if value == INPUT_ADD_LAYER_VERSION:
            break
    if not versions or versions[-1] != INPUT_ADD_LAYER_VERSION:
        raise DlibFormatError(f"expected an add_layer over the input (version 3) at byte {r.pos}")
    net_input = _input_layer(r)

    num_layers = len(versions) - versions.count(TAG_OR_SKIP_VERSION)
    layers = [_layer_details(r, over_input=(i == 0)) for i in range(num_layers)]
    if r.pos != len(data):
        raise DlibFormatError(f"parsed {r.pos} of {len(data)} bytes; trailing data")
    return DlibNet(loss_kind, loss_attrs, versions, net_input, layers, r.pos)


def load_dlib_net(path: str | Path) -> DlibNet:
    return parse_dlib_net(Path(path).read_bytes())
