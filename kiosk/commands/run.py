"""``facekiosk run``: the kiosk service (systemd Type=notify), or ``--demo``.

Exit status 0 after SIGTERM/SIGINT (or the window closed), 2 when the kiosk cannot start
(bad config, missing template key or models, no display), one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from kiosk.config import config_path, load_config

DEFAULT_SCREENS = Path("artifacts") / "demo"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("run", help="run the kiosk (under systemd: READY/STATUS/WATCHDOG, SIGHUP reloads)")
    parser.add_argument("--demo", action="store_true",
                        help="drive the real kiosk through enroll, sign in, reset by face and an impostor, "
                             "with a scripted camera and a throw-away store; no camera, display or network needed")
    parser.add_argument("--screens", metavar="DIR", type=Path, default=None,
                        help=f"where the demo saves its screenshots (default {DEFAULT_SCREENS})")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    settings = load_config(path)
    if args.demo:
        from kiosk.daemon.demo import run_demo

        return run_demo(settings, args.screens or DEFAULT_SCREENS, log_level=args.log_level)
    if args.screens is not None:
        print("facekiosk: --screens only applies to --demo", file=sys.stderr)
        return 2

    from kiosk.daemon.logs import configure_logging
    from kiosk.daemon.service import KioskService

    service = KioskService(settings, path, logger=configure_logging(args.log_level))
    service.install_signal_handlers()
    try:
        service.start()
        service.run()
    finally:
        finished = service.stop()
    if not finished:
        # A thread is stuck past the stop budget: leave now. SQLite rolls back a write it
        # had not committed; nothing half-written survives.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)
    return 0
