"""``facekiosk doctor``: check everything the kiosk needs, one line per check with a fix.

Exit status 0 when every check passes (skipped ones included), 1 when any fails.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from kiosk.commands.common import load_settings
from kiosk.config import Settings
from kiosk.errors import KioskError

# Beyond this, TLS, Firebase server timestamps and lockout windows misbehave.
MAX_CLOCK_SKEW_S = 60.0
CAMERA_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        text = f"[{mark}] {self.name}: {self.detail}"
        return f"{text}\n       fix: {self.fix}" if self.ok is False and self.fix else text


def check_models(settings: Settings) -> Check:
    from kiosk.litert import load_interpreter
    from kiosk.manifest import load_manifest, model_path

    names = [settings.models.pnet, settings.models.rnet, settings.models.onet, settings.models.embedder]
    if settings.liveness.required_for_reset or settings.liveness.required_for_enrollment:
        names += [settings.liveness.landmark_model, settings.liveness.eye_model]
    try:
        for name in names:
            path = settings.model_manifest(name)
            manifest = load_manifest(path, check_hash=True)
            load_interpreter(model_path(path, manifest), 1)
    except KioskError as err:
        return Check("models", False, str(err), "run 'make models', or point models.dir at the folder holding them")
    embedder = load_manifest(settings.model_manifest(settings.models.embedder))
    calibrated = "calibrated" if embedder.thresholds else "NOT calibrated"
    if not embedder.thresholds:
        return Check("models", False, f"{embedder.model_id} has no thresholds", "run benchmarks/lfw.py --calibrate-on ... --write-manifest")
    return Check("models", True, f"{len(names)} models match their sha256; embedder {embedder.model_id}, {calibrated}")


def check_litert() -> Check:
    """The start-up self-check: did XNNPACK take every model loaded (check_models loads
    them)? Without it (LiteRT cannot read /proc/cpuinfo) each runs several times slower."""
    from kiosk.litert import CPUINFO_FIX, runtime_report

    ok, detail = runtime_report()
    return Check("litert", ok, detail, "" if ok else CPUINFO_FIX + " (see systemd/facekiosk.service)")


def check_display_libraries() -> Check:
    """What SDL's KMSDRM driver loads from the system: without it the screen cannot open."""
    from kiosk.display_libs import install_hint, missing_libraries

    missing = missing_libraries()
    if missing:
        names = ", ".join(item.what for item in missing)
        return Check("display libraries", False, f"KMSDRM cannot start: {names} missing", install_hint(missing))
    return Check("display libraries", True, "libdrm, libgbm, EGL, GLES and the Mesa drivers load (KMSDRM)")


def check_template_key(settings: Settings) -> Check:
    from kiosk.store.templates import load_template_key

    if not settings.store.encrypt_templates:
        return Check("template key", None, "store.encrypt_templates is off: face templates are stored unencrypted")
    try:
        key = load_template_key(settings.store, settings.resolve)
    except KioskError as err:
        return Check("template key", False, str(err), "make one: head -c 32 /dev/urandom > /etc/facekiosk/template-key")
    if key is None:
        return Check(
            "template key", False, "no key: neither the 'template-key' systemd credential nor store.key_file",
            "head -c 32 /dev/urandom > /etc/facekiosk/template-key, then LoadCredential= it or set store.key_file",
        )
    return Check("template key", True, "present (32 bytes)")


def check_store(settings: Settings) -> Check:
    from kiosk.store.db import db_path, where_db_was_looked_for
    from kiosk.store.health import check_file

    path = db_path(settings.store, settings.resolve)
    if not path.exists():
        return Check("store", False, f"no user database at {path} ({where_db_was_looked_for(settings.store)})",
                     "start the kiosk once ('facekiosk run') to create it")
    try:
        health = check_file(path)
    except (KioskError, OSError) as err:
        return Check("store", False, f"{path}: {err}", "check the file's owner and permissions (the service's StateDirectory)")
    except Exception as err:  # sqlite3.DatabaseError and kin: a damaged file
        return Check("store", False, f"{path}: {err}", "restore the database from a backup; the fleet copy re-syncs on start")
    if health.integrity != "ok":
        return Check("store", False, f"{path}: integrity check says {health.integrity}", "restore the database from a backup")
    return Check("store", True, f"{path}: schema {health.schema_version}, {health.users} users, integrity ok")


MIN_FREE_MB = 50.0


def check_storage(settings: Settings, statvfs: Callable[[str], os.statvfs_result] = os.statvfs) -> Check:
    """Room on the database's disk: a full disk refuses sign-ups and password changes."""
    from kiosk.store.db import db_path

    folder = db_path(settings.store, settings.resolve).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = statvfs(str(folder))
    except OSError as err:
        return Check("storage", False, f"{folder}: {err.strerror}: the storage is failing", "replace the SD card or disk; restore the database from a backup")
    free_mb = st.f_bavail * st.f_frsize / 1e6
    if st.f_flag & os.ST_RDONLY:
        return Check("storage", False, f"{folder} is on a read-only file system: the storage is failing (or mounted read-only)",
                     "check 'dmesg' for I/O errors; replace the SD card or disk")
    if free_mb < MIN_FREE_MB:
        return Check("storage", False, f"the disk is full: {free_mb:.0f} MB free under {folder}",
                     "free space (journalctl --vacuum-size=100M, old files); sign-ups resume by themselves")
    return Check("storage", True, f"{free_mb:.0f} MB free under {folder}")


def check_camera(settings: Settings) -> Check:
    from kiosk.camera.sources import open_source

    camera = settings.camera
    where = camera.device if camera.source == "v4l2" else camera.path
    try:
        source = open_source(camera, settings.resolve, settings.images.limits())
    except KioskError as err:
        return Check("camera", False, str(err), "check camera.source/device/path; 'v4l2-ctl --list-devices' lists cameras")
    try:
        deadline = time.monotonic() + CAMERA_TIMEOUT_S
        frame = None
        while frame is None and time.monotonic() < deadline:
            frame = source.read()
    finally:
        source.close()
    if frame is None:
        return Check("camera", False, f"{camera.source} {where} gave no frame in {CAMERA_TIMEOUT_S:.0f} s", "check the cable, and that no other program holds the camera")
    return Check("camera", True, f"{camera.source} {where}: {frame.shape[1]}x{frame.shape[0]} frames")


def check_display(settings: Settings) -> Check:
    driver = os.environ.get("SDL_VIDEODRIVER", "")
    try:
        import pygame
    except ImportError:
        return Check("display", False, "pygame is not installed", "pip install pygame-ce")
    try:
        pygame.display.init()
        actual = pygame.display.get_driver()
        pygame.display.quit()
    except pygame.error as err:
        return Check(
            "display", False, f"cannot open the display{f' with SDL_VIDEODRIVER={driver}' if driver else ''}: {err}",
            "on a console-only kiosk set SDL_VIDEODRIVER=kmsdrm and add the user to the video and render groups"
            + (f"; {check_display_libraries().fix}" if check_display_libraries().ok is False else ""),
        )
    note = " (renders nowhere: set SDL_VIDEODRIVER=kmsdrm on the device)" if actual in ("dummy", "offscreen") else ""
    return Check("display", True, f"SDL video driver {actual}{note}")


def check_speech(settings: Settings, espeak: str = "espeak-ng") -> Check:
    """ui.speech needs espeak-ng and its voice for each language: one short line each."""
    if settings.ui.speech == "off":
        return Check("speech", None, "ui.speech is off")
    import shutil

    from kiosk.ui.speech import Line, Speaker

    if shutil.which(espeak) is None:
        return Check("speech", False, f"ui.speech is {settings.ui.speech} but {espeak} is not installed",
                     "make apt-deps (apt-get install espeak-ng), or set ui.speech: off")
    speaker = Speaker(settings.ui.speech, settings.ui.speech_rate_wpm, espeak=espeak)
    try:
        made = []
        for language in ("en", "de"):
            start = time.perf_counter()
            spoken = speaker.synthesise(Line("Look at the camera", language, time.monotonic()))
            if spoken is None or spoken.seconds <= 0:
                return Check("speech", False, f"{espeak} made no sound for the {language} voice", "reinstall espeak-ng and espeak-ng-data")
            made.append(f"{language} {spoken.seconds:.1f} s of speech in {(time.perf_counter() - start) * 1e3:.0f} ms")
    finally:
        speaker.close()
    return Check("speech", True, f"{espeak}: " + ", ".join(made))


def check_firebase(settings: Settings, now: Callable[[], float] = time.time) -> list[Check]:
    sync = settings.sync
    if not sync.enabled:
        skipped = "sync.enabled is false: the kiosk works alone"
        return [Check("firebase", None, skipped), Check("clock", None, "no server to compare with (" + skipped + ")")]
    url = sync.database_url.split("?")[0].rstrip("/") + "/.json?shallow=true"
    request = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=sync.http_timeout_s) as response:
            date, status = response.headers.get("Date"), response.status
    except urllib.error.HTTPError as err:  # 401/403 without credentials still proves reachability
        date, status = err.headers.get("Date"), err.code
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return [
            Check("firebase", False, f"{sync.database_url} unreachable: {reason}", "check the network, DNS and sync.database_url"),
            Check("clock", None, "no server to compare with"),
        ]
    checks = [Check("firebase", True, f"{sync.database_url} answered HTTP {status}")]
    if not date:
        checks.append(Check("clock", None, "the server sent no Date header"))
        return checks
    skew = now() - email.utils.parsedate_to_datetime(date).timestamp()
    if abs(skew) > MAX_CLOCK_SKEW_S:
        checks.append(Check("clock", False, f"the local clock is {skew:+.0f} s off the server's", "enable NTP: timedatectl set-ntp true"))
    else:
        checks.append(Check("clock", True, f"within {abs(skew):.0f} s of the server"))
    return checks


def check_fleet(settings: Settings) -> Check:
    """The fleet root key and this kiosk's identity load; how many cloud records were quarantined
    and how many users' changes the server kept refusing (set aside)."""
    from kiosk.fleet.certs import root_public_key
    from kiosk.fleet.identity import load_identity
    from kiosk.store import Store, poison, quarantine
    from kiosk.errors import KioskError

    sync = settings.sync
    if not sync.enabled:
        return Check("fleet", None, "sync.enabled is false: no fleet")
    try:
        root_public_key(sync.fleet_root_key)
        if sync.kiosk_id:
            load_identity(sync, sync.kiosk_id, settings.resolve, create=False)
        with Store.open(settings, require_key=False, create=False) as store:
            count = quarantine.count(store)
            set_aside = poison.count(store)
    except KioskError as err:
        return Check("fleet", False, str(err), "see the README's Fleet install")
    if set_aside:
        return Check("fleet", False, f"{set_aside} change(s) set aside: the server kept refusing them"
                     + (f"; {count} cloud record(s) quarantined" if count else ""),
                     "see why: facekiosk fleet set-aside (then --retry USER_ID once fixed)")
    if count:
        return Check("fleet", False, f"{count} cloud record(s) quarantined", "review them: facekiosk fleet quarantine")
    return Check("fleet", True, "root key and kiosk identity load, no record quarantined")


def check_secrets(settings: Settings) -> Check:
    """Every secret file the config names is readable by the service alone."""
    from kiosk.secrets import check_secret_file

    named = [("template key", settings.store.key_file), ("Firebase service-account key", settings.sync.credentials_file),
             ("kiosk identity", settings.sync.identity_file if settings.sync.enabled else ""),
             ("SMTP password file", settings.mail.password_file)]
    checked = 0
    for what, name in named:
        if not name:
            continue
        path = settings.resolve(name)
        try:
            check_secret_file(path, what)
        except KioskError as err:
            return Check("secrets", False, str(err).split(": run ")[0], f"chmod 600 {path}, or load it with LoadCredentialEncrypted= (README)")
        checked += path.exists()
    return Check("secrets", True, f"{checked} secret file(s) readable by the service only")


def check_admin_pin(settings: Settings) -> Check:
    from kiosk.store.admin_pin import load_pin_hash

    try:
        from_credential = load_pin_hash("") != ""
    except KioskError as err:
        return Check("admin PIN", False, str(err), "facekiosk admin set-pin --out /etc/facekiosk/admin-pin-hash")
    if from_credential:
        return Check("admin PIN", True, "argon2id hash from the admin-pin-hash credential")
    if settings.ui.admin_pin_hash:
        return Check("admin PIN", True, "argon2id hash in the config file (readable by all: the admin-pin-hash "
                     "credential keeps a copied hash from being guessed offline)")
    return Check("admin PIN", None, "no admin PIN: the admin screen is hidden")


def check_mail(settings: Settings) -> Check:
    """The SMTP relay answers (and takes the login), and how the queue stands."""
    mail = settings.mail
    if not mail.enabled:
        return Check("mail", None, "mail.host is empty: emails are unconfirmed (anyone can sign up with any address) "
                     "and owners get no notice of resets and locks")
    import smtplib
    import ssl

    from kiosk.mail.smtp import SendError, client_context, connect, describe, load_password

    try:
        password = load_password(mail, settings.resolve)
        with connect(mail, password, client_context(mail, settings.resolve)):
            pass
    except KioskError as err:
        return Check("mail", False, str(err), "see the mail section of config.yml")
    except SendError as err:
        return Check("mail", False, f"relay {mail.host}:{mail.port} ({mail.tls}): {err}", "check mail.tls")
    except (smtplib.SMTPException, OSError, ssl.SSLError) as err:
        return Check("mail", False, f"relay {mail.host}:{mail.port} ({mail.tls}): {describe(mail, err)}",
                     "check mail.host, port, tls, ca_file, user and the smtp-password credential")
    queued = ""
    try:
        from kiosk.store import Store
        from kiosk.store import mail as queue

        with Store.open(settings, require_key=False, create=False) as store:
            counts = queue.counts(store)
        queued = f"; queue: {counts.pending} waiting, {counts.sent} sent, {counts.dropped} dropped"
        if counts.last_error and counts.pending:
            queued += f" (last error: {counts.last_error})"
    except KioskError:
        pass
    return Check("mail", True, f"relay {mail.host}:{mail.port} ({mail.tls}) answers{' and takes the login' if mail.user else ''}{queued}")


def run_checks(settings: Settings) -> list[Check]:
    checks = [check_models(settings), check_litert(), check_template_key(settings), check_store(settings), check_storage(settings), check_camera(settings),
              check_display_libraries(), check_display(settings), check_speech(settings)]
    return checks + check_firebase(settings) + [check_fleet(settings), check_secrets(settings), check_admin_pin(settings), check_mail(settings)]


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("doctor", help="check camera, display, models, store, key, Firebase and clock")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = run_checks(load_settings(args))
    for check in checks:
        print(check.line())
    failed = [check.name for check in checks if check.ok is False]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed or were skipped" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
