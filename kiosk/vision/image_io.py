"""Reading images from files into RGB uint8 arrays, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kiosk.errors import ImageError


def load_image(path: str | Path) -> np.ndarray:
    """Return the image at ``path`` as an (H, W, 3) RGB uint8 array."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    if not path.is_file():
        raise ImageError(f"{path}: not a file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise ImageError(f"{path}: cannot read file ({err.strerror or err})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageError(f"{path}: not an image, or a format OpenCV cannot decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
