"""Typed settings loaded from ``config.yml``.

Every setting has a default here and a comment in the shipped ``config.yml``. Loading is
strict: an unknown key, a wrong type or a bad value is a :class:`ConfigError` whose message
names the key path, so the CLI can print one line and exit with status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
import yaml
from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails

from kiosk.config.base import Section
from kiosk.config.camera import CameraSettings
from kiosk.config.images import ImageSettings
from kiosk.config.liveness import LivenessSettings
from kiosk.config.mail import MailSettings
from kiosk.config.sync import SyncSettings
from kiosk.config.store import AuditSettings, LockoutSettings, PasswordSettings, StoreSettings
from kiosk.config.ui import UiSettings
from kiosk.config.vision import DetectorSettings, ModelSettings, QualitySettings, VerificationSettings
from kiosk.errors import ConfigError

CONFIG_ENV = "FACEKIOSK_CONFIG"
DEFAULT_CONFIG_NAME = "config.yml"


class Settings(Section):
    models: ModelSettings = ModelSettings()
    detector: DetectorSettings = DetectorSettings()
    quality: QualitySettings = QualitySettings()
    verification: VerificationSettings = VerificationSettings()
    store: StoreSettings = StoreSettings()
    passwords: PasswordSettings = PasswordSettings()
    lockout: LockoutSettings = LockoutSettings()
    audit: AuditSettings = AuditSettings()
    ui: UiSettings = UiSettings()
    camera: CameraSettings = CameraSettings()
    sync: SyncSettings = SyncSettings()
    liveness: LivenessSettings = LivenessSettings()
    images: ImageSettings = ImageSettings()
    mail: MailSettings = MailSettings()

    # Not a setting: where the file came from, so relative paths can be resolved.
    base_dir: str = Field(".", exclude=True)

    def resolve(self, path: str) -> Path:
        """A path from the config: absolute as is, otherwise relative to the config's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    def model_manifest(self, name: str) -> Path:
        return self.resolve(self.models.dir) / name


def _format_error(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    if kind == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {error['msg'][0].lower()}{error['msg'][1:]} (got {error.get('input')!r})"


def parse_config(data: object, base_dir: Path, origin: str = "config") -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections, not {type(data).__name__}")
    if "base_dir" in data:
        raise ConfigError(f"{origin}: base_dir: unknown key")
    try:
        return Settings(**data, base_dir=str(base_dir))
    except ValidationError as err:
        errors = err.errors()
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{origin}: {_format_error(errors[0])}{more}") from None


def config_path(explicit: str | None) -> Path:
    """``--config`` wins, then ``$FACEKIOSK_CONFIG``, then ``./config.yml``."""
    chosen = explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME
    return Path(chosen)


def load_config(path: str | Path) -> Settings:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path} (set --config or {CONFIG_ENV})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    return parse_config(data, base_dir=path.resolve().parent, origin=str(path))
