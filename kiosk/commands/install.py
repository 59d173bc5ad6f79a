"""``facekiosk install``: the kiosk as a systemd service, in one idempotent command.

What it does (each step printed; ``--dry-run`` prints them and changes nothing):

1. ``/etc/facekiosk`` (0755, root).
2. ``/etc/facekiosk/config.yml`` (0644): the checkout's ``config.yml`` with ``models.dir``
   pointing at the checkout's models and ``store.key_file: template-key``. An existing
   file is kept as it is (it is the administrator's) and only checked: it must load.
3. The template key ``/etc/facekiosk/template-key`` (0600, root): 32 random bytes when
   the kiosk works alone. With a fleet (``sync.enabled`` and ``sync.fleet_root_key``) the
   key is the fleet's, which only ``facekiosk fleet join`` writes: install never makes
   one then, and stops before starting the service until it is there (README: Fleet
   install). An existing key is never touched.
4. ``/etc/systemd/system/facekiosk.service`` (0644) from ``systemd/``, its paths pointing
   at this checkout; the unit loads the key and the other files as credentials.
5. ``systemctl daemon-reload``, ``systemctl enable --now facekiosk``, then ``doctor``.

``--root DIR`` installs under DIR instead of ``/`` (tests, images): the unit is enabled
with ``systemctl --root`` and nothing is started. Running it twice changes nothing the
second time. Files are written atomically (kiosk.durable): a cut leaves old or new.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from kiosk.config import Settings, parse_config
from kiosk.durable import atomic_write, create_exclusive, fsync_dir
from kiosk.errors import ConfigError, KioskError

CHECKOUT = Path(__file__).resolve().parents[2]
UNIT_NAME = "facekiosk.service"
SHIPPED_PREFIX = "/opt/facekiosk"
KEY_NAME = "template-key"
KEY_BYTES = 32


class InstallError(KioskError):
    """The install cannot go on; the message says what to do."""


@dataclass
class Plan:
    root: Path
    dry_run: bool
    out: Callable[[str], None] = print
    changed: list[str] = field(default_factory=list)
    owner: tuple[int, int] | None = None  # (0, 0) when run as root

    def target(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def say(self, verb: str, what: str) -> None:
        self.out(f"{'would ' if self.dry_run else ''}{verb:<8} {what}")
        if verb not in ("keep", "check", "skip"):
            self.changed.append(what)


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("install", help="install the kiosk as a systemd service (idempotent)")
    parser.add_argument("--root", metavar="DIR", default="/", help="install under DIR instead of / (nothing is started)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    parser.add_argument("--prefix", metavar="DIR", default=str(CHECKOUT),
                        help=f"the checkout the service runs from (default: this one, {CHECKOUT})")
    parser.add_argument("--from-config", metavar="PATH", default=None,
                        help="the config to install when none is there yet (default: the checkout's config.yml)")
    parser.add_argument("--no-start", action="store_true", help="enable the service but do not start it or run doctor")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    prefix = Path(args.prefix).resolve()
    source = Path(args.from_config) if args.from_config else prefix / "config.yml"
    plan = Plan(root, args.dry_run, owner=(0, 0) if os.geteuid() == 0 else None)
    live = root.resolve() == Path("/")
    return install(plan, prefix, source, start=live and not args.no_start)


def install(plan: Plan, prefix: Path, source_config: Path, start: bool) -> int:
    etc = plan.target("/etc/facekiosk")
    ensure_dir(plan, etc, 0o755)
    config_file = etc / "config.yml"
    settings = install_config(plan, config_file, source_config, prefix)
    key_ready = install_key(plan, settings, etc)
    ensure_dir(plan, plan.target("/etc/systemd/system"), 0o755)
    install_unit(plan, prefix)
    enable(plan, start=start and key_ready)
    if not key_ready:
        plan.out("not started: the fleet's template key is missing; run 'facekiosk --config /etc/facekiosk/config.yml "
                 "fleet request', have the administrator enroll this kiosk, then 'fleet join' and install again")
        return 1
    if start and not plan.dry_run:
        return run_doctor(plan, config_file)
    plan.out(f"{'would change' if plan.dry_run else 'changed'}: {len(plan.changed)} item(s)" +
             ("" if plan.changed else " (already installed)"))
    return 0


def ensure_dir(plan: Plan, path: Path, mode: int) -> None:
    if path.is_dir():
        if (path.stat().st_mode & 0o777) != mode:
            plan.say("chmod", f"{path} {mode:04o}")
            if not plan.dry_run:
                os.chmod(path, mode)
        return
    plan.say("mkdir", f"{path} ({mode:04o})")
    if plan.dry_run:
        return
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        os.mkdir(folder, mode)
        os.chmod(folder, mode)
        if plan.owner is not None:
            os.chown(folder, *plan.owner)
        fsync_dir(folder.parent)


def set_value(text: str, section: str, key: str, value: str) -> str:
    """``text`` (YAML) with ``section.key`` set to ``value``, comments kept."""
    lines = text.splitlines(keepends=True)
    inside = False
    for index, line in enumerate(lines):
        if re.match(r"^[A-Za-z_]", line):
            inside = line.split(":", 1)[0] == section
            continue
        if inside and re.match(rf"^  {re.escape(key)}:", line):
            lines[index] = f"  {key}: {value}\n"
            return "".join(lines)
    raise InstallError(f"the config has no {section}.{key} to set")


def installed_config_text(source: Path, prefix: Path) -> str:
    try:
        text = source.read_text()
    except OSError as err:
        raise InstallError(f"cannot read the config to install {source}: {err.strerror}") from None
    text = set_value(text, "models", "dir", str(prefix / "models"))
    return set_value(text, "store", "key_file", KEY_NAME)


def load_settings_text(text: str, base_dir: Path, origin: str) -> Settings:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: not YAML: {err}") from None
    return parse_config(data, base_dir=base_dir, origin=origin)


def install_config(plan: Plan, config_file: Path, source: Path, prefix: Path) -> Settings:
    if config_file.exists():
        plan.say("keep", f"{config_file} (the administrator's; checked that it loads)")
        return load_settings_text(config_file.read_text(), config_file.parent, str(config_file))
    text = installed_config_text(source, prefix)
    settings = load_settings_text(text, config_file.parent, f"{source} as installed")
    plan.say("write", f"{config_file} (0644; from {source}, models.dir {prefix / 'models'}, store.key_file {KEY_NAME})")
    if not plan.dry_run:
        atomic_write(config_file, text.encode(), 0o644, plan.owner)
    return settings


def fleet_configured(settings: Settings) -> bool:
    return bool(settings.sync.enabled and settings.sync.fleet_root_key)


def install_key(plan: Plan, settings: Settings, etc: Path) -> bool:
    """True when the template key is in place (or made now)."""
    if not settings.store.encrypt_templates:
        plan.say("skip", "template key (store.encrypt_templates is off)")
        return True
    key_file = settings.store.key_file or KEY_NAME
    path = Path(key_file) if Path(key_file).is_absolute() and plan.root == Path("/") else etc / Path(key_file).name
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            plan.say("chmod", f"{path} 0600 (was {mode:04o}: readable by others)")
            if not plan.dry_run:
                os.chmod(path, 0o600)
        else:
            plan.say("keep", f"{path} (the existing template key is never replaced)")
        return True
    if fleet_configured(settings):
        plan.say("skip", f"{path}: a fleet is configured, so the key is the fleet's (facekiosk fleet join writes it)")
        return False
    plan.say("create", f"{path} (0600, {KEY_BYTES} random bytes: keep a copy somewhere safe)")
    if not plan.dry_run:
        create_exclusive(path, os.urandom(KEY_BYTES), 0o600, plan.owner)
    return True


def unit_text(prefix: Path) -> str:
    text = (CHECKOUT / "systemd" / UNIT_NAME).read_text()
    return text.replace(SHIPPED_PREFIX, str(prefix)) if str(prefix) != SHIPPED_PREFIX else text


def install_unit(plan: Plan, prefix: Path) -> None:
    path = plan.target("/etc/systemd/system") / UNIT_NAME
    text = unit_text(prefix)
    if path.exists() and path.read_text() == text and (path.stat().st_mode & 0o777) == 0o644:
        plan.say("keep", f"{path} (unchanged)")
        return
    plan.say("write", f"{path} (0644, ExecStart {prefix}/.venv/bin/facekiosk)")
    if not plan.dry_run:
        atomic_write(path, text.encode(), 0o644, plan.owner)


def systemctl(plan: Plan, *words: str) -> None:
    command = ["systemctl", *words]
    if plan.root.resolve() != Path("/"):
        command.insert(1, f"--root={plan.root}")
    plan.say("run", " ".join(command))
    if plan.dry_run:
        return
    if shutil.which("systemctl") is None:
        raise InstallError("systemctl not found: is this a systemd machine? (install the 'systemd' package)")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise InstallError(f"{' '.join(command)} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")


def enable(plan: Plan, start: bool) -> None:
    live = plan.root.resolve() == Path("/")
    wants = plan.target("/etc/systemd/system/multi-user.target.wants") / UNIT_NAME
    if live:
        systemctl(plan, "daemon-reload")
    if wants.is_symlink():
        plan.say("keep", f"{wants} (enabled)")
    else:
        systemctl(plan, "enable", UNIT_NAME)
    if start:
        systemctl(plan, "restart" if plan.changed else "start", UNIT_NAME)


def run_doctor(plan: Plan, config_file: Path) -> int:
    plan.say("run", f"facekiosk --config {config_file} doctor")
    result = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config_file), "doctor"], text=True, timeout=300)
    return result.returncode
