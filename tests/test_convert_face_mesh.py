"""MediaPipe landmark models: packaging them again gives the committed files, and the
kiosk's own loaders accept what the packager writes."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from converters import face_mesh

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_packaging_again_gives_the_committed_files(tmp_path: Path) -> None:
    # Not imported (the package itself needs TensorFlow and numpy<2): its files are read.
    try:
        importlib.metadata.distribution(face_mesh.PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{face_mesh.PACKAGE} is a build-time dependency (pip install '.[convert]')")
    reports = face_mesh.package(tmp_path)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["face_mesh.json", "face_mesh.tflite", "iris_landmark.json", "iris_landmark.tflite"]
    assert len(reports) == 2
    for name in written:
        assert (tmp_path / name).read_bytes() == (MODELS / name).read_bytes(), name
