"""dlib face ResNet converter: the .dat reader, the committed models, parity with dlib-bin."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dlib", reason="dlib-bin is a build-time dependency (pip install '.[convert]')")

from converters import dlib_format, dlib_resnet  # noqa: E402
from converters.common import cosine  # noqa: E402
from kiosk.manifest import load_manifest, write_manifest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
PARITY_CHIPS = 50
# The fast parity check: a few chips, the same targets.
FEW_CHIPS = 5


@pytest.fixture(scope="module")
def weights_bytes() -> bytes:
    return dlib_resnet.weights_path().read_bytes()


@pytest.fixture(scope="module")
def net(weights_bytes: bytes) -> dlib_format.DlibNet:
    return dlib_format.parse_dlib_net(weights_bytes)


def committed_model(variant: str) -> Path:
    path = MODELS / f"dlib_resnet_v1_{variant}.tflite"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run 'python -m converters dlib --out models'")
    return path


# --------------------------------------------------------------------------- reader


def test_scalar_encoding() -> None:
    reader = dlib_format._Reader(bytes.fromhex("0100 0102 8101 02e803 82e803"))
    assert [reader.integer() for _ in range(5)] == [0, 2, -1, 1000, -1000]
    # dlib's margin 0.04 as a float: mantissa 10737418, exponent -28.
    reader = dlib_format._Reader(bytes.fromhex("030ad7a3 811c"))
    assert reader.real() == pytest.approx(0.04, rel=1e-7)


def test_parser_consumes_whole_file(net: dlib_format.DlibNet, weights_bytes: bytes) -> None:
    assert net.bytes_read == len(weights_bytes) == 22_466_066
    assert net.num_params == dlib_resnet.EXPECTED_PARAMS == 5_614_592
    assert len(net.layers) == 108
    assert net.loss_kind == "loss_metric_2"
    assert net.loss_attrs["distance_threshold"] == pytest.approx(0.6)
    assert (net.input.rows, net.input.cols) == (150, 150)
    assert net.input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    assert net.wrapper_versions == dlib_resnet.expected_wrapper_versions()
    assert sum(layer.kind == "con_4" for layer in net.layers) == 29
    fc = net.layers[-1]
    assert fc.kind == "fc_2" and fc.params["weights"].shape == (256, 128)


def test_parser_rejects_truncated_and_trailing_bytes(weights_bytes: bytes) -> None:
    with pytest.raises(dlib_format.DlibFormatError, match="end of file"):
        dlib_format.parse_dlib_net(weights_bytes[:-1])
    with pytest.raises(dlib_format.DlibFormatError, match="trailing"):
        dlib_format.parse_dlib_net(weights_bytes + b"\x00")


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("variant", dlib_resnet.DEFAULT_VARIANTS)
def test_committed_manifest(variant: str) -> None:
    manifest = load_manifest(committed_model(variant).with_suffix(".json"), check_hash=True)
    assert (manifest.name, manifest.variant, manifest.task) == ("dlib_resnet_v1", variant, "embedding")
    assert (manifest.input.height, manifest.input.width, manifest.input.color_order) == (150, 150, "RGB")
    assert manifest.input.mean == (122.782, 117.001, 104.298)
    assert manifest.input.scale == (1 / 256,) * 3
    assert (manifest.embedding_size, manifest.distance) == (128, "euclidean")
    assert manifest.source is not None and manifest.source.license == "CC0-1.0"
    assert manifest.source.file == dlib_resnet.WEIGHTS_FILE


def _regeneration_inputs() -> np.ndarray:
    """A few 150x150 RGB uint8 inputs: real chips if the shared data is here, plus noise."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(3, 150, 150, 3), dtype=np.uint8)
    if not dlib_resnet.lfw_images_dir(DATA_DIR).is_dir():
        return noise
    return np.concatenate([dlib_resnet.make_face_chips(3, DATA_DIR).images, noise])


@pytest.mark.slow
def test_regenerated_fp32_matches_committed(tmp_path: Path) -> None:
    [fresh] = dlib_resnet.convert(tmp_path, ["fp32"])
    inputs = _regeneration_inputs()
    committed = dlib_resnet.tflite_descriptors(committed_model("fp32"), inputs)
    regenerated = dlib_resnet.tflite_descriptors(fresh, inputs)
    assert cosine(committed, regenerated).min() >= 0.99999
    assert np.abs(committed - regenerated).max() <= 1e-4


# --------------------------------------------------------------------------- parity


def committed_parity(n_chips: int) -> dict:
    if not dlib_resnet.lfw_images_dir(DATA_DIR).is_dir():
        pytest.skip(f"shared LFW data not found at {DATA_DIR} (expected ../shared/data beside the repo)")
    paths = [committed_model(variant) for variant in dlib_resnet.DEFAULT_VARIANTS]
    return dlib_resnet.parity_report(paths, n_chips, DATA_DIR)


# 50 chips (dlib's HOG detector, shape predictor and descriptors on each): 11-35 s on two
# cores, so slow; the same targets on a few chips stay in the fast loop.
@pytest.fixture(scope="module")
def parity() -> dict:
    return committed_parity(PARITY_CHIPS)


@pytest.fixture(scope="module")
def parity_few_chips() -> dict:
    return committed_parity(FEW_CHIPS)


def check_parity(report: dict, n_chips: int, variant: str) -> None:
    assert report["n_chips"] == n_chips
    stats = report["models"][f"dlib_resnet_v1_{variant}.tflite"]
    assert stats["mean_cosine"] >= dlib_resnet.TARGET_MEAN_COSINE, stats
    assert stats["max_euclidean"] <= dlib_resnet.TARGET_MAX_EUCLIDEAN, stats


@pytest.mark.slow
@pytest.mark.parametrize("variant", dlib_resnet.DEFAULT_VARIANTS)
def test_parity_with_dlib(parity: dict, variant: str) -> None:
    check_parity(parity, PARITY_CHIPS, variant)


@pytest.mark.parametrize("variant", dlib_resnet.DEFAULT_VARIANTS)
def test_parity_with_dlib_on_a_few_chips(parity_few_chips: dict, variant: str) -> None:
    check_parity(parity_few_chips, FEW_CHIPS, variant)


# The manifest, not the converter, tells the kiosk how to feed the model: a manifest that
# misstates the colour order or the layout must fail the parity check, as it would fail
# on the kiosk (issue 11, item 5).
WRONG_INPUTS = [("color_order", "BGR"), ("layout", "NWHC")]


@pytest.mark.parametrize("field,value", WRONG_INPUTS)
def test_parity_check_fails_on_a_manifest_that_misstates_the_input(tmp_path: Path, field: str, value: str) -> None:
    if not dlib_resnet.lfw_images_dir(DATA_DIR).is_dir():
        pytest.skip(f"shared LFW data not found at {DATA_DIR} (expected ../shared/data beside the repo)")
    model = tmp_path / committed_model("fp32").name
    model.write_bytes(committed_model("fp32").read_bytes())
    manifest = load_manifest(committed_model("fp32").with_suffix(".json"))
    write_manifest(model.with_suffix(".json"), dataclasses.replace(manifest, input=dataclasses.replace(manifest.input, **{field: value})))
    report = dlib_resnet.parity_report([model], FEW_CHIPS, DATA_DIR)
    stats = report["models"][model.name]
    assert not report["passed"] and not stats["passed"], stats
