"""The runtime package must never load TensorFlow: it runs on LiteRT alone."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_no_runtime_module_imports_tensorflow():
    modules = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "kiosk").rglob("*.py")
        if path.name != "__main__.py"
    )
    assert len(modules) > 10
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_pipeline_run_does_not_load_tensorflow():
    code = (
        "import sys, skimage.data\n"
        "from kiosk.config import load_config\n"
        "from kiosk.vision.pipeline import FacePipeline\n"
        "p = FacePipeline.from_settings(load_config('config.yml'))\n"
        "p.analyze(skimage.data.astronaut())\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
