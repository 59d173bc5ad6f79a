"""MTCNN converter: the committed P/R/O-Net models against the mtcnn package's own nets."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("mtcnn")

from converters import mtcnn_nets  # noqa: E402
from kiosk.litert import load_interpreter  # noqa: E402
from kiosk.manifest import Manifest, load_manifest  # noqa: E402
from kiosk.vision.mtcnn import Net  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "models"
NETS = mtcnn_nets.NET_NAMES


def committed(net: str) -> tuple[Manifest, Net]:
    """A committed net as the kiosk's detector runs it."""
    manifest_path = MODELS / f"mtcnn_{net}.json"
    return load_manifest(manifest_path, check_hash=True), Net.from_manifest(manifest_path, 2, check_hash=True)


def input_signature(net: str) -> list[int]:
    return list(load_interpreter(MODELS / f"mtcnn_{net}.tflite").get_input_details()[0]["shape_signature"])


@pytest.fixture(scope="module")
def package_nets():
    return {net: mtcnn_nets.package_net(net) for net in NETS}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mtcnn")
    parser = argparse.ArgumentParser()
    mtcnn_nets.add_parser(parser.add_subparsers())
    args = parser.parse_args(["mtcnn", "--out", str(out)])
    assert args.func(args) == 0  # includes the converter's own parity check
    return out


@pytest.mark.parametrize("net", NETS)
def test_committed_model_matches_package_keras(net, package_nets):
    _, model = committed(net)
    diffs = mtcnn_nets.parity(net, model, package_nets[net])
    assert set(diffs) == set(mtcnn_nets.KERAS_OUTPUTS[net])
    assert max(diffs.values()) <= 1e-4, diffs


@pytest.mark.parametrize("net", NETS)
def test_output_order_recorded_in_manifest(net, package_nets):
    manifest, model = committed(net)
    assert manifest.outputs == mtcnn_nets.interpreter_output_order(load_interpreter(MODELS / manifest.file))
    # Values, not only shapes: each named output equals the Keras output of that name.
    batch = mtcnn_nets.parity_inputs(net)[-1]
    expected = mtcnn_nets.package_outputs(net, package_nets[net], batch)
    for name, got in model(batch).items():
        np.testing.assert_allclose(got, expected[name], atol=1e-4)
        if name == "face_prob":
            np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-5)


def test_input_spec_records_package_preprocessing():
    for net in NETS:
        manifest, _ = committed(net)
        spec = manifest.input
        assert (spec.layout, spec.color_order, spec.dtype) == ("NHWC", "RGB", "float32")
        assert spec.mean == (127.5, 127.5, 127.5)
        assert spec.scale == (1 / 128, 1 / 128, 1 / 128)
        assert (spec.height, spec.width) == ((None, None) if net == "pnet" else (mtcnn_nets.NET_INPUT_SIZE[net],) * 2)
        assert manifest.source.package == "mtcnn" and manifest.source.version == "1.0.0"
        assert manifest.source.license == "MIT"
        assert manifest.calibration == {}
    onet, _ = committed("onet")
    assert "five x's then the five y's" in onet.architecture


@pytest.mark.parametrize("height,width", [(12, 12), (13, 17), (75, 100), (144, 192), (301, 47)])
def test_pnet_accepts_any_size(height, width, package_nets):
    _, model = committed("pnet")
    assert input_signature("pnet") == [1, -1, -1, 3]
    batch = np.random.default_rng(height * width).integers(0, 256, (1, height, width, 3)).astype(np.uint8)
    outputs = model(batch)
    cells = (math.ceil((height - 2) / 2) - 4, math.ceil((width - 2) / 2) - 4)
    assert outputs["bbox_reg"].shape == (1, *cells, 4)
    assert outputs["face_prob"].shape == (1, *cells, 2)
    expected = mtcnn_nets.package_outputs("pnet", package_nets["pnet"], batch)
    for name, got in outputs.items():
        np.testing.assert_allclose(got, expected[name], atol=1e-4)


@pytest.mark.parametrize("net,batch", [("rnet", 1), ("rnet", 30), ("onet", 5)])
def test_refine_nets_take_a_batch(net, batch, package_nets):
    _, model = committed(net)
    assert input_signature(net)[0] == -1
    size = mtcnn_nets.NET_INPUT_SIZE[net]
    data = np.random.default_rng(batch).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    expected = mtcnn_nets.package_outputs(net, package_nets[net], data)
    for name, got in model(data).items():
        assert got.shape[0] == batch
        np.testing.assert_allclose(got, expected[name], atol=1e-4)


def test_onet_landmarks_on_a_real_face():
    """Feeding the recorded input format gives a face with eyes above nose above mouth.

    A wrong layout (e.g. a net that wanted transposed images) would swap x and y here.
    """
    import tensorflow as tf
    from skimage import data as skdata

    _, model = committed("onet")
    image = skdata.astronaut()  # 512x512 RGB, one upright face
    x1, y1, x2, y2 = 173, 67, 273, 167  # square box around the face (mtcnn: 182, 64, 265, 171)
    h, w = image.shape[:2]
    crop = tf.image.crop_and_resize(
        image[None].astype(np.float32), [[y1 / h, x1 / w, y2 / h, x2 / w]], [0], (48, 48)
    ).numpy()
    out = model(crop)
    assert out["face_prob"][0, 1] > 0.9
    lm = out["landmarks"][0]
    xs, ys = lm[:5], lm[5:]
    left_eye, right_eye, nose, mouth_left, mouth_right = range(5)
    assert xs[left_eye] < xs[nose] < xs[right_eye]
    assert xs[mouth_left] < xs[mouth_right]
    assert max(ys[left_eye], ys[right_eye]) < ys[nose] < min(ys[mouth_left], ys[mouth_right])


# Converts all three nets again (17 s on two loaded cores): slow. The committed nets are
# checked against the package's Keras nets above, and a conversion runs in the fast loop
# below (R-Net alone).
@pytest.mark.slow
@pytest.mark.parametrize("net", NETS)
def test_regenerated_model_matches_committed(net, regenerated):
    manifest, model = committed(net)
    new_manifest = load_manifest(regenerated / f"mtcnn_{net}.json", check_hash=True)
    new_model = Net.from_manifest(regenerated / f"mtcnn_{net}.json", 2)
    assert new_manifest.outputs == mtcnn_nets.interpreter_output_order(load_interpreter(regenerated / new_manifest.file))
    assert new_manifest.input == manifest.input
    for batch in mtcnn_nets.parity_inputs(net, seed=1):
        old, new = model(batch), new_model(batch)
        assert old.keys() == new.keys()
        for name in old:
            np.testing.assert_allclose(new[name], old[name], atol=1e-6)


def test_pyramid_for_a_vga_frame():
    sizes = mtcnn_nets.pyramid_sizes(480, 640, min_face=40, factor=0.709)
    assert sizes[0] == (144, 192)
    assert all(min(s) >= 12 for s in sizes) and len(sizes) == 8


# The manifest, not the converter, tells the kiosk how to feed the nets: a manifest that
# misstates the colour order or the layout must fail the converter's parity check, as it
# would fail on the kiosk (issue 11, item 5). R-Net alone keeps the conversion short.
@pytest.mark.parametrize("field,value", [("color_order", "BGR"), ("layout", "NWHC")])
def test_converter_parity_fails_on_a_manifest_that_misstates_the_input(field, value, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mtcnn_nets, "NET_NAMES", ("rnet",))
    monkeypatch.setitem(mtcnn_nets.MTCNN_INPUT, field, value)
    parser = argparse.ArgumentParser()
    mtcnn_nets.add_parser(parser.add_subparsers())
    args = parser.parse_args(["mtcnn", "--out", str(tmp_path), "--json"])
    status = args.func(args)
    assert getattr(load_manifest(tmp_path / "mtcnn_rnet.json").input, field) == value
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and not report["parity_ok"], report
