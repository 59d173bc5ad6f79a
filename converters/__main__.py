"""``python -m converters {mtcnn,dlib,vggface,sface,yunet} ...``: build .tflite models and manifests."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from converters import dlib_resnet, dlib_template, face_mesh, mtcnn_nets, sface, vggface, yunet
from kiosk.errors import KioskError

CONVERTERS = (mtcnn_nets, dlib_resnet, dlib_template, vggface, face_mesh, sface, yunet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m converters", description="Convert trained face models to TFLite with a JSON manifest.")
    subparsers = parser.add_subparsers(dest="converter", metavar="CONVERTER")
    subparsers.required = True
    for module in CONVERTERS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KioskError as err:
        print(f"converters: {err}", file=sys.stderr)
        return err.exit_status


if __name__ == "__main__":
    sys.exit(main())
