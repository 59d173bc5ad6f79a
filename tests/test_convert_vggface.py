"""keras-vggface converter with seeded random weights (the real weights are operator-supplied)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
if importlib.util.find_spec("keras_vggface") is None:  # importing it bare would fail on Keras 3
    pytest.skip("keras-vggface is not installed", allow_module_level=True)

from converters import vggface  # noqa: E402
from converters.__main__ import main as converters_main  # noqa: E402
from converters.common import raw_embeddings, runtime_embedder  # noqa: E402
from kiosk.manifest import load_manifest  # noqa: E402
from kiosk.vision.embedder import preprocess  # noqa: E402


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    vggface.add_parser(parser.add_subparsers())
    args = parser.parse_args(["vggface", *argv])
    return args.func(args)


def small_resnet50(include_top, weights, input_shape, pooling):
    """Stands in for keras-vggface's RESNET50 builder (same call, same 2048-d pooled output)
    with two convolutions instead of fifty layers, so the converter's whole path runs in
    seconds. The full model's conversion is in the slow tests."""
    import tf_keras

    assert (include_top, weights, pooling) == (False, None, "avg")
    inputs = tf_keras.Input(shape=input_shape)
    x = tf_keras.layers.Conv2D(8, 7, strides=4, activation="relu")(inputs)
    x = tf_keras.layers.Conv2D(2048, 1)(x)
    return tf_keras.Model(inputs, tf_keras.layers.GlobalAveragePooling2D()(x), name="small_resnet50")


@pytest.fixture
def small_model(monkeypatch):
    """``vggface.build_model("resnet50", ...)`` builds :func:`small_resnet50`; keras-vggface's
    own preprocessing (the parity reference) stays the real one."""
    real = vggface.keras_vggface_modules

    @contextlib.contextmanager
    def modules():
        with real() as kv:
            yield types.SimpleNamespace(models=types.SimpleNamespace(RESNET50=small_resnet50), utils=kv.utils)

    monkeypatch.setattr(vggface, "keras_vggface_modules", modules)


def aliased_modules() -> dict[str, object]:
    return {
        name: module
        for name, module in sys.modules.items()
        if name.split(".")[0] in ("keras", "keras_vggface", "keras_applications")
    }


def test_shim_is_scoped_and_restores_sys_modules():
    import tf_keras

    before = aliased_modules()
    with vggface.keras_vggface_modules() as kv:
        assert sys.modules["keras"] is tf_keras
        assert callable(kv.models.RESNET50)
    after = aliased_modules()
    assert after.keys() == before.keys()
    assert all(after[name] is before[name] for name in before)
    assert "keras_vggface.models" not in sys.modules


@pytest.mark.parametrize("arch,version", [("resnet50", 2), ("senet50", 2), ("vgg16", 1)])
def test_manifest_preprocessing_equals_keras_vggface(arch, version):
    chips, _ = vggface.face_chips(3, offset=2)
    with vggface.keras_vggface_modules() as kv:
        expected = kv.utils.preprocess_input(chips.astype(np.float32), version=version)
    manifest = vggface.make_manifest(arch, "fp32", None)
    assert (manifest.input.color_order, manifest.input.scale) == ("BGR", (1.0, 1.0, 1.0))
    # The kiosk's preprocessing of the manifest equals keras-vggface's, and so does the
    # converter's Keras reference.
    np.testing.assert_allclose(preprocess(chips, manifest), expected, atol=1e-4)
    np.testing.assert_allclose(vggface.keras_vggface_preprocess(chips, arch), expected, atol=1e-4)


def check_fp32_matches_keras(tmp_path, capsys):
    status = run_cli(["--random-weights", "--seed", "3", "--variants", "fp32", "--out", str(tmp_path), "--json"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    (fp32,) = report["variants"]
    assert fp32["cosine_min"] >= 0.9999
    assert fp32["centred_cosine_min"] >= 0.9999
    manifest = load_manifest(tmp_path / "vggface_resnet50_fp32.json", check_hash=True)
    assert (manifest.task, manifest.distance, manifest.embedding_size) == ("embedding", "cosine", 2048)
    assert manifest.input.color_order == "BGR"
    assert manifest.input.mean == (91.4953, 103.8827, 131.0912)
    assert (manifest.input.height, manifest.input.width) == (224, 224)
    assert manifest.source.package == "keras-vggface" and manifest.source.file == "random"
    assert manifest.source.version == "0.6"
    assert manifest.normalize_embedding
    assert manifest.alignment_template == vggface.VGGFACE2_TEMPLATE


# Converting the full ResNet50 takes 30-140 s on two cores (make test-fast skips it); the
# small stand-in checks the same: the fp32 model, fed by the kiosk's Embedder from the
# manifest just written, gives Keras' output on keras-vggface's preprocessing.
@pytest.mark.slow
def test_resnet50_fp32_matches_keras(tmp_path, capsys):
    check_fp32_matches_keras(tmp_path, capsys)


def test_small_model_fp32_matches_keras(tmp_path, capsys, small_model):
    check_fp32_matches_keras(tmp_path, capsys)


def test_alignment_template_matches_the_kiosk_detector_on_other_faces():
    """Re-derive the template on LFW DevTest images (it was derived on DevTrain)."""
    import random

    lfw = vggface.SHARED_DATA / "lfw-view1"
    if not (lfw / "pairsDevTest.txt").is_file():
        pytest.skip("LFW View 1 is not beside the repository")
    names = sorted({line.split("\t")[0] for line in (lfw / "pairsDevTest.txt").read_text().splitlines()[1:]})
    images = [next((lfw / "images" / name).glob("*.jpg")) for name in random.Random(1).sample(names, 40)]
    models = Path(__file__).resolve().parents[1] / "models"
    template, faces = vggface.derive_alignment_template(images, models)
    assert faces >= 35
    derived = vggface.symmetric_template(template)
    assert np.abs(derived - np.asarray(vggface.VGGFACE2_TEMPLATE)).max() < 5.0, derived.round(1).tolist()
    # The mirror is symmetric by construction, and so is the stored constant.
    np.testing.assert_allclose(vggface.symmetric_template(vggface.VGGFACE2_TEMPLATE), vggface.VGGFACE2_TEMPLATE, atol=1e-9)


def test_loose_crop_maps_the_box_centre_to_the_chip_centre():
    box = np.array([100.0, 50.0, 200.0, 180.0])  # 100 wide, 130 high
    points = np.array([[150.0, 115.0], [100.0, 115.0]])
    mapped = vggface.loose_crop_points(box, points)
    np.testing.assert_allclose(mapped[0], [112.0, 112.0])
    # 50 px left of centre, scaled by 256 / (1.3 * 100).
    np.testing.assert_allclose(mapped[1, 0], 112.0 - 50.0 * 256 / 130)


@pytest.mark.slow
def test_all_variants_load_and_embed(tmp_path, capsys):
    status = run_cli(
        ["--random-weights", "--calibration-images", "8", "--out", str(tmp_path), "--json"]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert [v["variant"] for v in report["variants"]] == ["fp32", "fp16", "dynamic-int8", "int8"]
    chips, _ = vggface.face_chips(2, offset=5)
    for variant in report["variants"]:
        assert 0.9 < variant["cosine_min"] <= 1.0 + 1e-9, variant
        manifest = load_manifest(tmp_path / f"vggface_resnet50_{variant['variant']}.json", check_hash=True)
        assert manifest.variant == variant["variant"]
        embeddings = raw_embeddings(runtime_embedder(tmp_path / f"vggface_resnet50_{variant['variant']}.json"), chips)
        assert embeddings.shape == (2, 2048)
        assert np.isfinite(embeddings).all() and np.linalg.norm(embeddings, axis=1).min() > 0


def check_weights_file_is_loaded_by_topology(tmp_path):
    source = vggface.build_model("resnet50", None, seed=11)
    weights = tmp_path / "operator_resnet50.h5"
    source.save_weights(str(weights))
    loaded = vggface.build_model("resnet50", weights, seed=12)
    unloaded = vggface.build_model("resnet50", None, seed=12)
    batch = vggface.keras_vggface_preprocess(vggface.face_chips(2, offset=3)[0], "resnet50")
    expected = source.predict(batch, verbose=0)
    np.testing.assert_allclose(loaded.predict(batch, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert np.abs(unloaded.predict(batch, verbose=0) - expected).max() > 1e-2


# Three full ResNet50 builds: 35 s on two cores. The small stand-in goes through the same
# loading code (load_weights by topology, not by name).
@pytest.mark.slow
def test_weights_file_is_loaded_by_topology(tmp_path):
    check_weights_file_is_loaded_by_topology(tmp_path)


def test_weights_file_is_loaded_by_topology_small_model(tmp_path, small_model):
    check_weights_file_is_loaded_by_topology(tmp_path)


def test_vgg16_refuses_a_file_without_its_layers(tmp_path):
    weights = tmp_path / "resnet.h5"
    vggface.build_model("resnet50", None).save_weights(str(weights))
    with pytest.raises(vggface.WeightsError, match="lacks"):
        vggface.build_model("vgg16", weights)


@pytest.mark.parametrize("arch,size", [("vgg16", 512), ("senet50", 2048)])
def test_other_archs_build(arch, size):
    model = vggface.build_model(arch, None)
    assert tuple(model.output_shape) == (None, size)


@pytest.mark.parametrize("content", [None, b"not an hdf5 file"])
def test_bad_weights_file_exits_2_with_one_line(tmp_path, capsys, content):
    weights = tmp_path / "rcmalli_vggface_tf_notop_resnet50.h5"
    if content is not None:
        weights.write_bytes(content)
    status = converters_main(["vggface", "--weights", str(weights), "--out", str(tmp_path / "out")])
    assert status == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert str(weights) in lines[0] and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def check_parity_fails_on_a_manifest_that_misstates_the_colour_order(tmp_path, monkeypatch, capsys):
    right = vggface.input_spec

    def wrong(arch):
        return dataclasses.replace(right(arch), color_order="RGB")

    monkeypatch.setattr(vggface, "input_spec", wrong)
    status = run_cli(["--random-weights", "--seed", "3", "--variants", "fp32", "--out", str(tmp_path), "--json"])
    assert load_manifest(tmp_path / "vggface_resnet50_fp32.json").input.color_order == "RGB"
    (fp32,) = json.loads(capsys.readouterr().out)["variants"]
    assert status == 1, fp32


@pytest.mark.slow
def test_converter_parity_fails_on_a_manifest_that_misstates_the_colour_order(tmp_path, monkeypatch, capsys):
    """keras-vggface feeds BGR: a manifest saying RGB must fail the converter's parity
    check, as it would fail on the kiosk (issue 11, item 5)."""
    check_parity_fails_on_a_manifest_that_misstates_the_colour_order(tmp_path, monkeypatch, capsys)


def test_converter_parity_fails_on_a_misstated_colour_order_small_model(tmp_path, monkeypatch, capsys, small_model):
    check_parity_fails_on_a_manifest_that_misstates_the_colour_order(tmp_path, monkeypatch, capsys)
