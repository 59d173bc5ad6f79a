"""``facekiosk users list | show EMAIL | delete EMAIL | export EMAIL``: manage the local users.

``delete`` erases the person's face templates, password hash and email and leaves a
tombstone that sync passes on; ``export`` prints the person's own data as JSON, without
the password hash or the templates. Exit status 0, or 2 with one line for bad input
(an invalid email, no such user, no database).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kiosk.config import Settings, config_path, load_config
from kiosk.errors import KioskError, ValidationError
from kiosk.manifest import load_manifest
from kiosk.store import Store
from kiosk.store.service import iso_time
from kiosk.store.users import User


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("users", help="list, show, delete or export local users")
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="list the users")
    listing.add_argument("--deleted", action="store_true", help="include deleted users (tombstones)")
    listing.add_argument("--json", action="store_true", help="print JSON")

    show = actions.add_parser("show", help="show one user")
    show.add_argument("email")
    show.add_argument("--json", action="store_true", help="print JSON")

    delete = actions.add_parser("delete", help="erase a user's face, password and email (leaves a tombstone to sync)")
    delete.add_argument("email")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument("--reason", default="", help="why, for the audit log")

    export = actions.add_parser("export", help="a person's own data as JSON (no secrets)")
    export.add_argument("email")
    export.add_argument("--output", metavar="FILE", help="write to FILE (created with mode 0600) instead of stdout")

    parser.set_defaults(func=run)


def _current_model(settings: Settings) -> str | None:
    """The embedder's model id, or None when its manifest cannot be read here."""
    try:
        return load_manifest(settings.model_manifest(settings.models.embedder)).model_id
    except KioskError:
        return None


def _user_dict(user: User, current_model: str | None) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "created_at": iso_time(user.created_at),
        "updated_at": iso_time(user.updated_at),
        "revision": user.revision,
        "deleted_at": iso_time(user.deleted_at),
        "enrolled_on_kiosk": user.origin_kiosk,
        "has_password": user.has_password,
        "templates": [
            {
                "id": t.id,
                "model": t.model_id,
                "values": t.dim,
                "created_at": iso_time(t.created_at),
                "current_model": None if current_model is None else t.model_id == current_model,
            }
            for t in user.templates
        ],
    }


def _face_state(user: User, current_model: str | None) -> str:
    if user.deleted:
        return "deleted"
    if not user.templates:
        return "no face"
    if current_model is None:
        return f"{len(user.templates)} face templates"
    current = sum(1 for t in user.templates if t.model_id == current_model)
    if current == 0:
        return "re-enroll needed (older face model)"
    return f"{current} face templates"


def _list(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    current = _current_model(settings)
    found = store.list_users(include_deleted=args.deleted)
    if args.json:
        print(json.dumps([_user_dict(u, current) for u in found], ensure_ascii=False, indent=2))
        return 0
    for user in found:
        email = user.email if user.email is not None else "(deleted)"
        print(f"{email}\t{user.id}\t{_face_state(user, current)}\trev {user.revision}\tupdated {iso_time(user.updated_at)}")
    print(f"{len(found)} user(s)", file=sys.stderr)
    return 0


def _show(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    current = _current_model(settings)
    user = store.get_user(args.email)
    data = _user_dict(user, current)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for key in ("email", "id", "created_at", "updated_at", "revision", "enrolled_on_kiosk", "has_password"):
        print(f"{key}: {data[key]}")
    print(f"face: {_face_state(user, current)}")
    for t in data["templates"]:
        tag = "" if t["current_model"] is None else (" (current model)" if t["current_model"] else " (other model: re-enroll needed)")
        print(f"  template {t['id']}: {t['model']}, {t['values']} values, {t['created_at']}{tag}")
    status = store.lockout_status(args.email)
    print(f"lockout: {status.message() or f'not locked ({status.failures} recent failures)'}")
    return 0


def _delete(store: Store, args: argparse.Namespace) -> int:
    user = store.get_user(args.email)  # a clear error before asking
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError("users delete: add --yes to delete without a question (standard input is not a terminal)")
        answer = input(f"Erase the face, password and email of {user.email} ({user.id})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted", file=sys.stderr)
            return 1
    tombstone = store.delete_user(args.email, reason=args.reason or "facekiosk users delete")
    print(f"deleted {user.email} ({tombstone.id}); tombstone revision {tombstone.revision} waits to sync")
    return 0


def _export(store: Store, args: argparse.Namespace) -> int:
    text = json.dumps(store.export_user(args.email), ensure_ascii=False, indent=2) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        raise ValidationError(f"cannot write {path}: {err.strerror}") from None
    print(f"wrote {path}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    settings = load_config(config_path(args.config))
    # Admin commands never open a template, so they run without the template key; what
    # needs it (matching audit entries by email hash) says so.
    with Store.open(settings, require_key=False, create=False) as store:
        if args.users_action == "list":
            return _list(store, settings, args)
        if args.users_action == "show":
            return _show(store, settings, args)
        if args.users_action == "delete":
            return _delete(store, args)
        return _export(store, args)
