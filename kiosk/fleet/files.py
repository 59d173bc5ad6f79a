"""Secret files: written once with mode 0600, read with one clear line when they cannot be."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kiosk.durable import fsync_dir
from kiosk.fleet.errors import FleetError


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (and its folder with 0700); never overwrites."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FleetError(f"{path} exists already: refusing to overwrite a key") from None
    except OSError as err:
        raise FleetError(f"cannot create {path}: {err.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    fsync_dir(path.parent)  # the new name too, or a power cut can take the key away


def write_public(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as err:
        raise FleetError(f"cannot write {path}: {err.strerror}") from None


def read_json(path: Path, what: str, fix: str) -> dict[str, Any]:
    """A JSON object from ``path``; FleetError naming the file and ``fix`` if it cannot be."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise FleetError(f"{what} not found: {path} ({fix})") from None
    except OSError as err:
        raise FleetError(f"cannot read {what} {path}: {err.strerror} ({fix})") from None
    except ValueError:
        raise FleetError(f"{what} {path} is not JSON ({fix})") from None
    if not isinstance(data, dict):
        raise FleetError(f"{what} {path} is not a JSON object ({fix})")
    return data
