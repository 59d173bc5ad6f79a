"""The ``facekiosk`` command line: parses arguments and turns errors into one line.

Exit status: what the command returns (0 success, 1 a negative answer such as "different
person"), 2 for bad input, configuration or model problems, 3 for an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

from kiosk import __version__
from kiosk.commands import admin, audit, doctor, embed, fleet, install, liveness_record, run, users, verify
from kiosk.config import CONFIG_ENV
from kiosk.errors import KioskError

COMMANDS = (verify, embed, users, audit, doctor, liveness_record, run, fleet, install, admin)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facekiosk", description="FaceKiosk: offline face enrollment and password reset kiosk.")
    parser.add_argument("--version", action="version", version=f"facekiosk {__version__}")
    parser.add_argument("--config", metavar="PATH", help=f"configuration file (default: ${CONFIG_ENV} or ./config.yml)")
    parser.add_argument("--debug", action="store_true", help="show a traceback for internal errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser



def quiet_libraries() -> None:
    """Keep library chatter (pygame's banner, OpenCV's capture warnings) off the admin's
    terminal; our own messages say what failed."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KioskError as err:
        print(f"facekiosk: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: never a raw traceback
        if args.debug:
            traceback.print_exc()
        print(f"facekiosk: internal error: {type(err).__name__}: {err} (run with --debug for details)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
