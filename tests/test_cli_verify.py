"""``facekiosk verify`` and ``embed`` as an admin runs them: exit codes and one-line errors."""

import json

import cv2
import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture(scope="module")
def images(tmp_path_factory, skimage_data):
    folder = tmp_path_factory.mktemp("images")
    astronaut = cv2.imread(str(skimage_data / "astronaut.png"))
    paths = {
        "astronaut": skimage_data / "astronaut.png",
        "camera": skimage_data / "camera.png",
        "coins": skimage_data / "coins.png",
    }
    # The same person in another shot: mirrored, rescaled and shifted.
    variant = np.roll(cv2.resize(astronaut[:, ::-1], (440, 440)), 25, axis=0)
    cv2.imwrite(str(folder / "astronaut_variant.jpg"), variant)
    cv2.imwrite(str(folder / "two_people.png"), np.concatenate([astronaut, astronaut], axis=1))
    (folder / "not_an_image.jpg").write_text("hello")
    (folder / "empty.png").write_bytes(b"")
    unreadable = folder / "unreadable.png"
    unreadable.write_bytes((skimage_data / "astronaut.png").read_bytes())
    unreadable.chmod(0)
    paths.update({name: folder / name for name in ("two_people.png", "not_an_image.jpg", "empty.png", "unreadable.png")})
    paths["variant"] = folder / "astronaut_variant.jpg"
    paths["missing"] = folder / "missing.jpg"
    return {key: str(value) for key, value in paths.items()}


def test_different_people_exit_1(images):
    result = run_cli("verify", images["astronaut"], images["camera"])
    assert result.returncode == 1, result.stderr
    assert "different people" in result.stdout
    assert "timings ms:" in result.stdout


def test_same_person_exit_0_with_json(images):
    result = run_cli("verify", "--json", images["astronaut"], images["variant"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["same"] is True
    assert report["score"] <= report["threshold"]
    for key in ("detect_a", "embed_a", "detect_b", "embed_b", "match"):
        assert report["timings_ms"][key] >= 0
    assert report["images"][0]["quality"] == []
    assert len(report["images"][1]["landmarks"]) == 5


def test_any_embedder_set_can_be_named(images):
    """--embedders picks the models by name; the fused score of two models is reported
    with each model's own distance; an unknown name is one line and status 2."""
    result = run_cli("verify", "--json", "--embedders", "sface,dlib", images["astronaut"], images["variant"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["distances"]) == {"sface_2021dec", "dlib_resnet_v1"}
    assert [m.split("/")[0] for m in report["models"]] == ["sface_2021dec", "dlib_resnet_v1"]
    assert report["score"] <= report["threshold"] and report["score_kind"] == "fused z-score"
    assert "embed:sface_2021dec_a" in report["timings_ms"]
    other = run_cli("verify", "--embedders", "sface", images["astronaut"], images["camera"])
    assert other.returncode == 1, other.stderr
    bad = run_cli("verify", "--embedders", "sface,nope", images["astronaut"], images["variant"])
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "'nope'" in bad.stderr


def test_quality_findings_are_reported(images):
    report = json.loads(run_cli("verify", "--json", images["astronaut"], images["camera"]).stdout)
    codes = {finding["code"] for finding in report["images"][1]["quality"]}
    assert "pose" in codes and report["same"] is False


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing", "file not found"),
        ("not_an_image.jpg", "not an image"),
        ("empty.png", "not an image"),
        ("coins", "no face found"),
        ("two_people.png", "2 faces found"),
    ],
)
def test_bad_input_is_one_line_and_status_2(images, name, message):
    result = run_cli("verify", images["astronaut"], images[name])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and images[name] in lines[0]
    assert result.stdout == ""


def test_unreadable_file(images):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    result = run_cli("verify", images["astronaut"], images["unreadable.png"])
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_embed_prints_the_embedding(images):
    result = run_cli("embed", "--json", images["astronaut"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["embedding"]) == 128
    assert report["model"].startswith("sface_2021dec/")  # the primary of the default embedders
    assert report["quality"] == []
    text = run_cli("embed", images["astronaut"])
    assert text.returncode == 0 and len(text.stdout.splitlines()[-1].split()) == 128


def test_embed_no_face(images):
    result = run_cli("embed", images["coins"])
    assert result.returncode == 2 and result.stderr.strip().endswith("no face found")


def test_a_corrupted_model_is_a_clear_error(tmp_path, repo_root, images):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(repo_root / "models", models, ignore=shutil.ignore_patterns("vggface*"))
    (models / "dlib_resnet_v1_fp32.tflite").write_bytes(b"garbage")
    config = tmp_path / "config.yml"
    config.write_text(f"models:\n  dir: {models}\n")
    result = run_cli("--config", str(config), "verify", images["astronaut"], images["camera"])
    assert result.returncode == 2
    assert "does not match its manifest" in result.stderr and "make models" in result.stderr
