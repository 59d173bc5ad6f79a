"""``facekiosk fleet``: the fleet's trust, from the administrator's machine and the kiosks.

On the administrator's machine (a config whose sync section names the database and its
service account; sync.enabled may stay false there):

    fleet init --dir DIR                 the root key and the template key (keep DIR offline)
    fleet enroll-kiosk --dir DIR REQUEST a kiosk's certificate and its sealed template key
    fleet revoke KIOSK --dir DIR [--since TIME] [--reason TEXT]
    fleet status [--json]                kiosks: certificate validity, heartbeat, revoked, quarantined, set aside
    fleet purge [--older-than-days N] [--dry-run]  remove tombstones every kiosk has seen

On a kiosk:

    fleet request [--out FILE]           make this kiosk's identity (if missing), print its request
    fleet join [--out FILE]              fetch the fleet template key sealed to this kiosk
    fleet quarantine [--json]            cloud records this kiosk refused
    fleet set-aside [--json] [--retry USER]  this kiosk's changes the server kept refusing (queue USER's again)
    fleet rollback KIOSK [--since TIME] [--apply]  the records a revoked kiosk wrote, and the
                                         versions kept here to restore (re-published with --apply)

Exit status 0, or 2 with one line (missing keys, a bad request file, no database).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import firebase_admin

from kiosk.commands.common import load_settings
from kiosk.config import Settings
from kiosk.fleet import admin as fleet_admin
from kiosk.fleet import rollback, rotation
from kiosk.fleet.certs import root_public_key
from kiosk.fleet.errors import FleetError
from kiosk.fleet.files import read_json, write_secret
from kiosk.fleet.identity import PublicIdentity, load_identity
from kiosk.store import Store
from kiosk.store import poison, quarantine
from kiosk.sync.firebase import open_app


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fleet", help="fleet trust: root key, kiosk certificates, revocation, quarantine")
    actions = parser.add_subparsers(dest="fleet_action", metavar="ACTION")
    actions.required = True

    init = actions.add_parser("init", help="make the fleet root key and template key (administrator)")
    init.add_argument("--dir", required=True, help="folder for the keys (created; keep it offline)")

    request = actions.add_parser("request", help="make this kiosk's identity if missing and print its enrollment request")
    request.add_argument("--out", metavar="FILE", help="write the request to FILE instead of stdout")

    enroll = actions.add_parser("enroll-kiosk", help="certify a kiosk and seal the template key to it (administrator)")
    enroll.add_argument("request", help="the kiosk's request file (from `fleet request`)")
    enroll.add_argument("--dir", required=True, help="the folder `fleet init` made")
    enroll.add_argument("--valid-days", type=int, default=365, help="certificate validity in days (default 365)")

    join = actions.add_parser("join", help="install the fleet template key sealed to this kiosk")
    join.add_argument("--out", metavar="FILE", help="where to write it (default: store.key_file)")

    status = actions.add_parser("status", help="every kiosk: certificate, heartbeat, revoked, quarantined")
    status.add_argument("--json", action="store_true", help="print JSON")

    listing = actions.add_parser("quarantine", help="the cloud records this kiosk refused")
    listing.add_argument("--json", action="store_true", help="print JSON")

    purge = actions.add_parser("purge", help="remove cloud tombstones (and their attempts ledgers) every kiosk has seen (administrator)")
    purge.add_argument("--older-than-days", type=float, default=90.0, help="only tombstones older than this (default 90)")
    purge.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")

    aside = actions.add_parser("set-aside", help="this kiosk's changes the server kept refusing, and why")
    aside.add_argument("--json", action="store_true", help="print JSON")
    aside.add_argument("--retry", metavar="USER_ID", help="queue this user's set-aside changes again (once the cause is fixed)")

    revoke = actions.add_parser("revoke", help="cut a kiosk off; list the records it wrote (administrator)")
    revoke.add_argument("kiosk")
    revoke.add_argument("--dir", required=True, help="the folder `fleet init` made")
    revoke.add_argument("--reason", default="", help="why (kept in the revocation)")
    revoke.add_argument("--since", default="", help="list its records signed since this time (ISO 8601, default: all)")

    rollback = actions.add_parser(
        "rollback", help="on a trusted kiosk: restore the users a revoked kiosk wrote to the last trusted version kept here"
    )
    rollback.add_argument("kiosk", help="the revoked kiosk")
    rollback.add_argument("--since", default="", help="only records it signed since this time (ISO 8601, default: all)")
    rollback.add_argument("--apply", action="store_true", help="publish the versions listed (default: list only)")
    rollback.add_argument("--json", action="store_true", help="print JSON")

    rotate = actions.add_parser("rotate-template-key", help="make the next template key, seal it to every kiosk, make it current (administrator)")
    rotate.add_argument("--dir", required=True, help="the folder `fleet init` made")

    retire = actions.add_parser("retire-template-key", help="drop an old template key once every kiosk re-sealed (administrator)")
    retire.add_argument("key_id", metavar="KEYID")
    retire.add_argument("--dir", required=True, help="the folder `fleet init` made")

    parser.set_defaults(func=run)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _app(settings: Settings, as_admin: bool = True) -> firebase_admin.App:
    """The administrator's app (the service account, not bound by the database rules), or
    with ``as_admin=False`` this kiosk's, under the rules as its sync engine is."""
    return open_app(settings.sync, settings.resolve, as_admin=as_admin)


def _kiosk_id(settings: Settings) -> str:
    if not settings.sync.kiosk_id:
        raise FleetError("sync.kiosk_id is empty: give this kiosk its name in the fleet in config.yml first")
    return settings.sync.kiosk_id


def _since(text: str) -> int:
    if not text:
        return 0
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FleetError(f"--since {text!r} is not an ISO 8601 time like 2025-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1000)


def _init(args: argparse.Namespace) -> int:
    keys = fleet_admin.init_folder(Path(args.dir))
    print(f"fleet root and template key written to {args.dir} (keep this folder offline and backed up)")
    print(f"put this in every kiosk's config.yml:  sync.fleet_root_key: {keys.root_public()}")
    return 0


def _request(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    identity, path, created = load_identity(settings.sync, _kiosk_id(settings), settings.resolve)
    text = json.dumps(identity.public().to_json())
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    print(f"{'made' if created else 'kept'} the identity {path}; give the request to the administrator", file=sys.stderr)
    return 0


def _enroll(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    keys = fleet_admin.AdminKeys.load(Path(args.dir))
    request = PublicIdentity.from_json(read_json(Path(args.request), "kiosk request", "the output of `facekiosk fleet request`"))
    app = _app(settings)
    try:
        cert = fleet_admin.enroll_kiosk(app, keys, request, _now_ms(), args.valid_days)
    finally:
        firebase_admin.delete_app(app)
    print(f"enrolled kiosk {request.kiosk_id}: certificate valid until {_iso(cert['notAfter'])}, "
          f"template key(s) {', '.join(sorted(keys.template_keys))} sealed to it")
    return 0


def _join(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    identity, _, _ = load_identity(settings.sync, _kiosk_id(settings), settings.resolve)
    if args.out:
        out = Path(args.out)
    elif settings.store.key_file:
        out = settings.resolve(settings.store.key_file)
    else:
        raise FleetError("where should the template key go? set store.key_file or pass --out")
    app = _app(settings, as_admin=False)
    try:
        key_id, key = fleet_admin.fetch_template_key(app, identity)
    finally:
        firebase_admin.delete_app(app)
    # k1 as its raw bytes (what every kiosk held before rotation); a later key names itself.
    data = key if key_id == "k1" else f"{key_id}:{base64.b64encode(key).decode('ascii')}\n".encode()
    if out.exists():
        if out.read_bytes() in (key, data):
            print(f"{out} already holds the fleet template key {key_id}")
            return 0
        raise FleetError(f"{out} holds another template key than the fleet's: move it away (its database too) and join again")
    write_secret(out, data)
    print(f"wrote the fleet template key {key_id} to {out} (mode 0600)")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    root = root_public_key(settings.sync.fleet_root_key)
    app = _app(settings)
    try:
        rows = fleet_admin.fleet_status(app, root)
        keys = {p.kiosk_id: p for p in rotation.progress(app, root, _now_ms())}
    finally:
        firebase_admin.delete_app(app)
    now = _now_ms()
    out: list[dict[str, Any]] = []
    for row in rows:
        cert = row.certificate
        state = "revoked" if row.revoked else (row.problem or ("valid" if cert and cert.valid_at(now) else "expired or not yet valid"))
        out.append({
            "kiosk": row.kiosk_id, "state": state,
            "validFrom": _iso(cert.not_before_ms) if cert else None, "validUntil": _iso(cert.not_after_ms) if cert else None,
            "heartbeat": _iso(row.heartbeat_ms), "revoked": row.revoked, "quarantined": row.quarantined,
            "setAside": row.set_aside,
            "templateKey": keys[row.kiosk_id].current if row.kiosk_id in keys else None,
            "toReseal": keys[row.kiosk_id].waiting if row.kiosk_id in keys else None,
        })
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for item in out:
            print(f"{item['kiosk']}: {item['state']}, certificate {item['validFrom'] or '-'} .. {item['validUntil'] or '-'}, "
                  f"heartbeat {item['heartbeat']}, {item['quarantined'] if item['quarantined'] is not None else '?'} quarantined, "
                  f"{item['setAside'] if item['setAside'] is not None else '?'} set aside"
                  + (f", template key {item['templateKey']} ({item['toReseal']} to re-seal)" if item["templateKey"] else ""))
    return 0


def _quarantine(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    with Store.open(settings, require_key=False, create=False) as store:
        entries = quarantine.entries(store)
    if args.json:
        print(json.dumps([{
            "user": e.user_id, "writer": e.writer, "reason": e.reason, "updatedAt": e.updated_at_ms,
            "firstSeen": _iso(int(e.first_seen * 1000)), "lastSeen": _iso(int(e.last_seen * 1000)), "times": e.times,
        } for e in entries], indent=2))
    else:
        for e in entries:
            print(f"{_iso(int(e.last_seen * 1000))} user {e.user_id} claimed by kiosk {e.writer}: {e.reason} (seen {e.times}x)")
        print(f"{len(entries)} quarantined record(s)", file=sys.stderr)
    return 0


def _purge(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    root = root_public_key(settings.sync.fleet_root_key)
    app = _app(settings)
    try:
        report = fleet_admin.purge_seen(app, root, _now_ms(), int(args.older_than_days * 86_400_000), dry_run=args.dry_run)
    finally:
        firebase_admin.delete_app(app)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(report.purged_users)} tombstone(s) and {report.purged_ledgers} attempts ledger(s); "
          f"every kiosk has read up to {_iso(report.horizon_ms) if report.horizon_ms else '-'}")
    if report.waiting_for:
        print(f"held back by {', '.join(report.waiting_for)} (not caught up, or never reported: "
              "bring them online, or revoke a kiosk that is gone)")
    return 0


def _set_aside(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    with Store.open(settings, require_key=False, create=False) as store:
        if args.retry:
            count = poison.retry(store, args.retry)
            print(f"{count} change(s) of user {args.retry} queued again")
            return 0
        entries = poison.entries(store)
    if args.json:
        print(json.dumps([{
            "user": e.user_id, "changes": list(e.kinds), "tries": e.tries, "reason": e.reason,
            "setAsideAt": _iso(int(e.set_aside_at * 1000)),
        } for e in entries], indent=2))
    else:
        for e in entries:
            print(f"{_iso(int(e.set_aside_at * 1000))} user {e.user_id} ({', '.join(e.kinds)}) refused {e.tries}x: {e.reason}")
        print(f"{len(entries)} user(s) with changes set aside", file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    keys = fleet_admin.AdminKeys.load(Path(args.dir))
    since = _since(args.since)
    app = _app(settings)
    try:
        fleet_admin.revoke_kiosk(app, keys, args.kiosk, _now_ms(), args.reason)
        records = fleet_admin.records_by(app, args.kiosk, since)
    finally:
        firebase_admin.delete_app(app)
    print(f"revoked kiosk {args.kiosk}: every kiosk refuses its records from its next catch-up")
    print(f"{len(records)} current user record(s) written by {args.kiosk}{' since ' + args.since if args.since else ''} "
          "(kiosks now refuse them; review them, then on a trusted kiosk `facekiosk fleet rollback "
          f"{args.kiosk}{' --since ' + args.since if args.since else ''}` restores the versions it kept):")
    for record in records:
        print(f"  {record.user_id} signed {_iso(record.signed_at_ms)} change {record.change_id}{' (deletion)' if record.deleted else ''}"
              + (" (another kiosk's version it re-published)" if record.restored_only else ""))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    identity, _, _ = load_identity(settings.sync, _kiosk_id(settings), settings.resolve)
    root = root_public_key(settings.sync.fleet_root_key)
    since = _since(args.since)
    app = open_app(settings.sync, settings.resolve)
    try:
        with Store.open(settings, create=False) as store:
            trust = rollback.trust_of(app, root)
            plans = rollback.plan(app, store, trust, args.kiosk, since)
            outcomes = (rollback.apply(app, store, trust, identity, plans, _now_ms(), settings.sync.max_templates)
                        if args.apply else [rollback.Outcome(p, "listed") for p in plans])
    finally:
        firebase_admin.delete_app(app)
    rows: list[dict[str, Any]] = [{
        "user": o.plan.user_id, "change": o.plan.current.change_id, "signed": _iso(o.plan.current.signed_at_ms),
        "deletion": o.plan.current.deleted, "republished": o.plan.current.restored_only,
        "restore": None if o.plan.restore is None else {
            "change": o.plan.restore.change_id, "writer": o.plan.restore.writer, "signed": _iso(o.plan.restore.signed_at_ms),
        },
        "whyNot": o.plan.why_not or None, "result": o.result, "revision": o.revision, "here": o.local or None,
    } for o in outcomes]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        restore = row["restore"]
        target = (f"version {restore['change']} by {restore['writer']} signed {restore['signed']}" if restore
                  else f"nothing: {row['whyNot']}")
        done = "" if row["result"] == "listed" else f": {row['result']}" + (f" as revision {row['revision']}" if row["revision"] else "")
        print(f"user {row['user']}: {args.kiosk}'s {'re-publication of' if row['republished'] else 'change'} {row['change']} "
              f"signed {row['signed']}{' (deletion)' if row['deletion'] else ''} -> {target}{done}")
    restorable = sum(1 for row in rows if row["restore"])
    if args.apply:
        print(f"restored {sum(1 for row in rows if row['result'] == rollback.RESTORED)} of {len(rows)} user(s); "
              "every kiosk takes them at its next catch-up", file=sys.stderr)
    else:
        print(f"{len(rows)} user(s) written by {args.kiosk}, {restorable} with a trusted version kept here; "
              "add --apply to publish them", file=sys.stderr)
    return 0


def _rotate(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    app = _app(settings)
    try:
        key_id, kiosks = rotation.rotate(app, Path(args.dir), _now_ms())
    finally:
        firebase_admin.delete_app(app)
    print(f"template key {key_id} is current: sealed to {', '.join(kiosks) or 'no kiosk'}; each kiosk takes it at its "
          "next catch-up and re-seals its users (`fleet status` shows progress), then run "
          "`fleet retire-template-key` for the old key")
    return 0


def _retire(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    app = _app(settings)
    try:
        rotation.retire(app, Path(args.dir), args.key_id, _now_ms())
    finally:
        firebase_admin.delete_app(app)
    print(f"retired template key {args.key_id}: removed from {args.dir} and from every kiosk's sealed keys")
    return 0


ACTIONS = {"init": _init, "request": _request, "enroll-kiosk": _enroll, "join": _join, "status": _status,
           "quarantine": _quarantine, "set-aside": _set_aside, "purge": _purge, "revoke": _revoke,
           "rotate-template-key": _rotate, "retire-template-key": _retire, "rollback": _rollback}


def run(args: argparse.Namespace) -> int:
    return ACTIONS[args.fleet_action](args)
