"""``facekiosk users list | show EMAIL | delete EMAIL | unlock EMAIL | export EMAIL | review``: manage the
local users.

``list`` and ``show`` say which of the configured face models each person has templates
of (one lacking a model is offered the upgrade at their next password sign-in);
``review`` lists sign-ups held because their face looked like an enrolled one, and
``review --approve/--reject EMAIL`` decides.

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
from kiosk.store import mail as mail_store
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

    unlock = actions.add_parser("unlock", help="clear an account's failed attempts at every kiosk (the password lock too)")
    unlock.add_argument("email")
    export = actions.add_parser("export", help="a person's own data as JSON (no secrets)")
    export.add_argument("email")
    export.add_argument("--output", metavar="FILE", help="write to FILE (created with mode 0600) instead of stdout")

    review = actions.add_parser("review", help="sign-ups held because their face looked like an enrolled one")
    decision = review.add_mutually_exclusive_group()
    decision.add_argument("--approve", metavar="EMAIL", help="give the held face pictures to the account (they then sync)")
    decision.add_argument("--reject", metavar="EMAIL", help="erase the held face pictures (the account keeps its password)")
    review.add_argument("--json", action="store_true", help="print JSON")

    parser.set_defaults(func=run)


def _current_models(settings: Settings) -> list[str] | None:
    """The configured embedders' model ids, or None when a manifest cannot be read here."""
    try:
        return [load_manifest(settings.model_manifest(name)).model_id for name in settings.models.embedders]
    except KioskError:
        return None


def _model_name(model_id: str) -> str:
    return model_id.split("/", 1)[0]


def _user_dict(user: User, current_models: list[str] | None) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "created_at": iso_time(user.created_at),
        "updated_at": iso_time(user.updated_at),
        "revision": user.revision,
        "deleted_at": iso_time(user.deleted_at),
        "enrolled_on_kiosk": user.origin_kiosk,
        "has_password": user.has_password,
        "models": sorted(user.model_ids()),
        "missing_models": None if current_models is None else [m for m in current_models if m not in user.model_ids()],
        "templates": [
            {
                "id": t.id,
                "model": t.model_id,
                "values": t.dim,
                "created_at": iso_time(t.created_at),
                "current_model": None if current_models is None else t.model_id in current_models,
            }
            for t in user.templates
        ],
    }


def _face_state(user: User, current_models: list[str] | None) -> str:
    """E.g. "sface_2021dec 5, dlib_resnet_v1 5" or "dlib_resnet_v1 5; upgrade offered: sface_2021dec"."""
    if user.deleted:
        return "deleted"
    if not user.templates:
        return "no face"
    counts: dict[str, int] = {}
    for t in user.templates:
        counts[t.model_id] = counts.get(t.model_id, 0) + 1
    if current_models is None:
        return ", ".join(f"{_model_name(m)} {n}" for m, n in counts.items())
    have = [f"{_model_name(m)} {counts[m]}" for m in current_models if m in counts]
    missing = [_model_name(m) for m in current_models if m not in counts]
    other = [_model_name(m) for m in counts if m not in current_models]
    text = ", ".join(have) if have else "no face of the configured models"
    if missing:
        text += f"; upgrade offered at sign-in: {', '.join(missing)}"
    if other:
        text += f"; unused: {', '.join(other)}"
    return text


def _list(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    current = _current_models(settings)
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
    current = _current_models(settings)
    user = store.get_user(args.email)
    data = _user_dict(user, current)
    facts = mail_store.account_facts(store, user.id)
    data.update(
        consent_version=facts.consent_version, consent_at=iso_time(facts.consent_at),
        email_confirmed_at=iso_time(facts.confirmed_at),
        confirmation_code_until=iso_time(facts.code_until) if facts.confirmed_at is None else None,
        email_language=facts.language,
    )
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for key in ("email", "id", "created_at", "updated_at", "revision", "enrolled_on_kiosk", "has_password"):
        print(f"{key}: {data[key]}")
    print("consent: " + (f"version {facts.consent_version}, given {data['consent_at']}" if facts.consent_version
                         else "none recorded"))
    if facts.confirmed_at is not None:
        print(f"email: confirmed {data['email_confirmed_at']}")
    else:
        print("email: not confirmed" + (f" (a code is valid until {data['confirmation_code_until']})" if facts.code_until else ""))
    print("emails in: " + (facts.language or f"{settings.ui.language} (this kiosk's ui.language; none kept with the account)"))
    print(f"face: {_face_state(user, current)}")
    for t in data["templates"]:
        tag = "" if t["current_model"] is None else (" (configured model)" if t["current_model"] else " (not a configured model)")
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


def _review(store: Store, args: argparse.Namespace) -> int:
    target = args.approve or args.reject
    if target:
        user = store.get_user(target)
        count = store.review(user.id, approve=bool(args.approve))
        verb = "approved: the account has its" if args.approve else "rejected: erased the"
        print(f"{user.email}: {verb} {count} held face template(s)")
        return 0
    held = store.held_for_review()
    if args.json:
        print(json.dumps([{"email": h.user.email, "id": h.user.id, "like": h.like, "score": h.score,
                           "since": iso_time(h.since)} for h in held], ensure_ascii=False, indent=2))
        return 0
    for h in held:
        score = "" if h.score is None else f"\tscore {h.score:.2f}"
        print(f"{h.user.email}\t{h.user.id}\tlooks like {h.like}{score}\tsince {iso_time(h.since)}")
    print(f"{len(held)} sign-up(s) held for review", file=sys.stderr)
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
        if args.users_action == "unlock":
            status = store.unlock(args.email)
            print(f"unlocked: {status.face_failures} failed face and {status.password_failures} failed password attempts "
                  "count now; the other kiosks follow at their next sync")
            return 0
        if args.users_action == "review":
            return _review(store, args)
        return _export(store, args)
