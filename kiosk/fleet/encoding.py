"""The byte strings that get signed: canonical JSON, and base64 helpers.

Canonical JSON: keys sorted, no spaces, UTF-8 (not ASCII-escaped), integers only (no
floats, which could be re-rendered differently by the database). Every signed message
starts with a context string, so a signature over one kind of message is never valid for
another (a certificate never passes as a user record).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kiosk.fleet.errors import FleetError


def canonical(context: bytes, value: Any) -> bytes:
    """``context`` + NUL + the canonical JSON of ``value`` (TypeError/ValueError if it holds
    something other than str, int, bool, dict and list)."""
    _check(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return context + b"\0" + text.encode("utf-8")


def _check(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("object keys must be text")
            _check(item)
    elif isinstance(value, list):
        for item in value:
            _check(item)
    elif value is None or not isinstance(value, (str, int, bool)):
        raise TypeError(f"{type(value).__name__} cannot be signed (text, integers, true/false, objects only)")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any, what: str, size: int | None = None) -> bytes:
    """Decode base64 text; FleetError naming ``what`` if it is not, or not ``size`` bytes."""
    if not isinstance(text, str):
        raise FleetError(f"{what} is not base64 text")
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise FleetError(f"{what} is not valid base64") from None
    if size is not None and len(data) != size:
        raise FleetError(f"{what} is {len(data)} bytes, not {size}")
    return data
