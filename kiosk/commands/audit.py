"""``facekiosk audit [--since WHEN] [--until WHEN] [--email EMAIL]``: print the audit log.

WHEN is a date (``2024-05-01``, local midnight), a date and time (``2024-05-01T13:30``,
local unless it names an offset or ``Z``) or a duration back from now (``90m``, ``24h``,
``7d``, ``2w``). One line per entry, oldest first; ``--json`` prints JSON lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time

from kiosk.config import config_path, load_config
from kiosk.errors import ValidationError
from kiosk.store import Store
from kiosk.store.audit import AuditEntry
from kiosk.store.emails import normalize_email
from kiosk.store.service import iso_time

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("audit", help="print the audit log")
    parser.add_argument("--since", metavar="WHEN", help="entries at or after WHEN (date, date-time or e.g. 24h, 7d)")
    parser.add_argument("--until", metavar="WHEN", help="entries before WHEN")
    parser.add_argument("--email", help="only this person's entries")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N entries")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)


def parse_when(text: str, now: float, option: str = "--since") -> float:
    """Unix seconds for a WHEN argument; ValidationError with the accepted forms if not."""
    value = text.strip()
    match = _DURATION.match(value.lower())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        if len(value) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{option} {text!r}: expected a date like 2024-05-01, a time like 2024-05-01T13:30 "
            "or a duration like 90m, 24h, 7d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # local time
    return parsed.timestamp()


def _who(entry: AuditEntry) -> str:
    if entry.email:
        return entry.email
    if entry.email_hash:
        return "#" + entry.email_hash[:12]
    if entry.user_id:
        return "user:" + entry.user_id
    return "-"


def _line(entry: AuditEntry) -> str:
    score = "-" if entry.score is None else f"{entry.score:.4f}"
    image = "\timage" if entry.has_image else ""
    return f"{iso_time(entry.at)}\t{entry.action}\t{entry.result}\t{_who(entry)}\tscore={score}\t{entry.reason or '-'}{image}"


def _json(entry: AuditEntry) -> str:
    return json.dumps(
        {
            "id": entry.id,
            "at": iso_time(entry.at),
            "kiosk": entry.kiosk_id,
            "action": entry.action,
            "result": entry.result,
            "user_id": entry.user_id,
            "email": entry.email,
            "email_hash": entry.email_hash,
            "score": entry.score,
            "reason": entry.reason,
            "image_kept": entry.has_image,
        },
        ensure_ascii=False,
    )


def run(args: argparse.Namespace) -> int:
    now = time.time()
    since = parse_when(args.since, now, "--since") if args.since else None
    until = parse_when(args.until, now, "--until") if args.until else None
    if args.limit is not None and args.limit < 1:
        raise ValidationError("--limit must be at least 1")
    address = normalize_email(args.email) if args.email else None
    settings = load_config(config_path(args.config))
    with Store.open(settings, require_key=False, create=False) as store:
        user_id = None
        if address is not None:
            user = store.find_user(address.address)
            user_id = user.id if user is not None else None
            if settings.audit.hash_emails and store.audit.email_hash(address.key) is None:
                print("facekiosk: note: without the template key, entries are matched by user id only", file=sys.stderr)
        entries = store.audit.entries(
            since=since,
            until=until,
            user_id=user_id,
            email_key=address.key if address is not None else None,
            limit=args.limit,
        )
        if address is not None and not settings.audit.hash_emails:
            # Plain emails are recorded as shown: also match those.
            extra = [e for e in store.audit.entries(since=since, until=until) if e.email == address.address and e not in entries]
            entries = sorted(entries + extra, key=lambda e: (e.at, e.id))[: args.limit]
    for entry in entries:
        print(_json(entry) if args.json else _line(entry))
    return 0
