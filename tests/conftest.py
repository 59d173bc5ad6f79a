"""Fixtures shared across the suite: the repo's config, models and public-domain faces."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout (research data: read, never copied into the repo).
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config) -> None:
    # Headless pygame for the UI tests: no window, no sound card.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def skimage_data() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA portrait of Eileen Collins (public domain), RGB uint8 512x512."""
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def cameraman() -> np.ndarray:
    """The CC0 'camera' photo (Lav Varshney), as RGB."""
    import skimage.data

    return np.repeat(skimage.data.camera()[..., None], 3, axis=2)


@pytest.fixture(scope="session")
def settings():
    from kiosk.config import load_config

    return load_config(REPO / "config.yml")


@pytest.fixture(scope="session")
def pipeline(settings):
    from kiosk.vision.pipeline import FacePipeline

    return FacePipeline.from_settings(settings)


def run_cli(*args: str, env: dict | None = None, cwd: Path = REPO):
    """Run ``python -m kiosk ARGS`` as a subprocess; returns the CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
