"""Contact sheets of the UI tour: every screenshot of a folder tiled into one PNG.

    python -m benchmarks.contact_sheet artifacts/screens/tour --out artifacts/sheets/after

makes one sheet per language and size folder (``en-800x480.png``, ...), each picture
labelled with its file name, for looking at every screen at once (before/after a change).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402


def sheet(folder: Path, out: Path, columns: int = 6, thumb_width: int = 400) -> Path:
    pictures = sorted(folder.glob("*.png"))
    if not pictures:
        raise SystemExit(f"no PNG files in {folder}")
    pygame.font.init()
    font = pygame.font.Font(None, 22)
    first = pygame.image.load(str(pictures[0]))
    thumb_height = round(first.get_height() * thumb_width / first.get_width())
    label = 22
    rows = math.ceil(len(pictures) / columns)
    canvas = pygame.Surface((columns * (thumb_width + 8) + 8, rows * (thumb_height + label + 8) + 8))
    canvas.fill((90, 90, 90))
    for i, path in enumerate(pictures):
        x = 8 + (i % columns) * (thumb_width + 8)
        y = 8 + (i // columns) * (thumb_height + label + 8)
        image = pygame.transform.smoothscale(pygame.image.load(str(path)), (thumb_width, thumb_height))
        canvas.blit(font.render(path.stem, True, (255, 255, 255)), (x, y + 2))
        canvas.blit(image, (x, y + label))
    out.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(canvas, str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a folder of folders of screenshots (artifacts/screens/tour)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the sheets")
    args = parser.parse_args()
    for folder in sorted(p for p in args.root.iterdir() if p.is_dir()):
        print(sheet(folder, args.out / f"{folder.name}.png"))


if __name__ == "__main__":
    main()
