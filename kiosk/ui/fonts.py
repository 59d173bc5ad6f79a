"""The typeface: DejaVu Sans from Debian's fonts-dejavu-core (the Makefile installs it).

DejaVu Sans covers Latin (with every German letter), Greek, Cyrillic and more; its
licence is the Bitstream Vera / DejaVu font licence (free to use, embed and
redistribute; see /usr/share/doc/fonts-dejavu-core/copyright). ``ui.font`` in config.yml
can name another TrueType file; without one, and without the package, pygame's own font
is used and a warning logged (text is still sized by its measured cap height).
"""

from __future__ import annotations

import logging
from pathlib import Path

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR = DEJAVU_DIR / "DejaVuSans.ttf"
BOLD = DEJAVU_DIR / "DejaVuSans-Bold.ttf"
PACKAGE = "fonts-dejavu-core"

log = logging.getLogger("kiosk.ui")


def resolve(configured: str | Path | None) -> tuple[str | None, str | None]:
    """(regular, bold) font files: the configured file (and a "-Bold" sibling if there
    is one), else DejaVu Sans; None stands for pygame's built-in font."""
    if configured:
        path = Path(configured)
        bold = path.with_name(f"{path.stem}-Bold{path.suffix}")
        return str(path), str(bold) if bold.is_file() else str(path)
    if REGULAR.is_file():
        return str(REGULAR), str(BOLD) if BOLD.is_file() else str(REGULAR)
    log.warning("%s is missing (apt-get install %s): text uses pygame's built-in font", REGULAR, PACKAGE)
    return None, None
