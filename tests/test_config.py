"""Config loading: the shipped file is complete and true; bad files give one clear line."""

from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from kiosk.config import Settings, load_config
from kiosk.errors import ConfigError


def test_shipped_config_lists_every_setting_at_its_default(repo_root):
    loaded = load_config(repo_root / "config.yml")
    assert loaded == Settings(base_dir=loaded.base_dir)
    shipped = yaml.safe_load((repo_root / "config.yml").read_text())
    defaults = Settings().model_dump()

    def keys(tree, prefix=""):
        for key, value in tree.items():
            yield prefix + key
            if isinstance(value, dict):
                yield from keys(value, prefix + key + ".")

    assert set(keys(shipped)) == set(keys(defaults))


def test_every_setting_has_a_comment(repo_root):
    lines = (repo_root / "config.yml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and ":" in stripped and line.startswith("  "):
            above = [l.strip() for l in lines[max(0, i - 6):i]]
            assert any(l.startswith("#") for l in above), f"no comment near: {line}"


@pytest.mark.parametrize(
    "text, message",
    [
        ("models:\n  num_thread: 2\n", "models.num_thread: unknown key"),
        ("modles: {}\n", "modles: unknown key"),
        ("models:\n  num_threads: two\n", "models.num_threads: "),
        ("models:\n  num_threads: '2'\n", "models.num_threads: "),
        ("models:\n  num_threads: 0\n", "models.num_threads: "),
        ("verification:\n  security_level: extreme\n", "verification.security_level: "),
        ("detector:\n  score_thresholds: [0.6, 0.7]\n", "detector.score_thresholds: "),
        ("- a\n- b\n", "top level must be a mapping"),
        ("models: [\n", "YAML syntax error at line"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Path("/nonexistent/config.yml"))


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    path = tmp_path / "sub" / "config.yml"
    path.parent.mkdir()
    path.write_text("models:\n  dir: mymodels\n")
    settings = load_config(path)
    assert settings.model_manifest("x.json") == tmp_path / "sub" / "mymodels" / "x.json"


def test_cli_bad_config_exits_2_with_one_line(tmp_path, skimage_data):
    bad = tmp_path / "bad.yml"
    bad.write_text("quality:\n  min_face_px: big\n")
    image = str(skimage_data / "astronaut.png")
    for args, env in (
        (["--config", str(bad), "verify", image, image], None),
        (["verify", image, image], {"FACEKIOSK_CONFIG": str(bad)}),
    ):
        result = run_cli(*args, env=env)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "quality.min_face_px" in lines[0], result.stderr
        assert "Traceback" not in result.stderr


def test_cli_missing_config_exits_2(tmp_path, skimage_data):
    image = str(skimage_data / "astronaut.png")
    result = run_cli("--config", str(tmp_path / "none.yml"), "verify", image, image)
    assert result.returncode == 2
    assert result.stderr.strip() == f"facekiosk: config file not found: {tmp_path / 'none.yml'} (set --config or FACEKIOSK_CONFIG)"
