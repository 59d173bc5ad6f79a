"""Reading images from files into RGB uint8 arrays, with one-line errors.

A file is checked before anything is decoded: its size against ``max_file_bytes``, its
type from its first bytes (JPEG, PNG, BMP or WebP only: OpenCV would also parse TIFF,
PNM, HDR, EXR, JPEG 2000 and more, each a parser an attacker could aim at), and the
width and height its header declares against ``max_pixels``. A 380 KB PNG can declare
20000 x 20000 pixels of zeros, which decodes to 1.2 GB (2.5 GB peak with its copies):
refused here from its first 33 bytes. The limits are the ``images`` config section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.errors import ImageError

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
# Enough for any of the headers below except a JPEG with large metadata segments before
# its frame header; those are walked segment by segment up to this far into the file.
HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


@dataclass(frozen=True)
class ImageInfo:
    kind: str  # "jpeg", "png", "bmp", "webp"
    width: int
    height: int


def _png(data: bytes, origin: str) -> ImageInfo:
    # Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4): the first chunk.
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageError(f"{origin}: a damaged PNG (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("png", width, height)


# Start-of-frame markers (baseline, extended, progressive, lossless, arithmetic...): not
# DHT (C4), JPG (C8) or DAC (CC).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes, origin: str) -> ImageInfo:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"{origin}: a damaged JPEG (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return ImageInfo("jpeg", width, height)
        if marker == 0xDA or length < 2:  # scan data before any frame header: malformed
            raise ImageError(f"{origin}: a damaged JPEG (no frame header before its data)")
        pos += 2 + length
    raise ImageError(f"{origin}: a damaged JPEG (no frame header in its first {len(data)} bytes)")


def _bmp(data: bytes, origin: str) -> ImageInfo:
    if len(data) < 26:
        raise ImageError(f"{origin}: a damaged BMP (header cut short)")
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return ImageInfo("bmp", abs(width), abs(height))


def _webp(data: bytes, origin: str) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
    elif chunk == b"VP8 " and len(data) >= 30:
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", data[26:30]))
    elif chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    else:
        raise ImageError(f"{origin}: a damaged WebP (no VP8 header)")
    return ImageInfo("webp", width, height)


def probe_image(data: bytes, origin: str) -> ImageInfo:
    """The type and declared size of an image from its first bytes, decoding nothing.
    ImageError (one line) for a type the kiosk does not read or a damaged header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data, origin)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data, origin)
    if data.startswith(b"BM"):
        return _bmp(data, origin)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data, origin)
    raise ImageError(f"{origin}: not an image of a supported type (JPEG, PNG, BMP or WebP)")


def check_header(data: bytes, origin: str, limits: ImageLimits) -> ImageInfo:
    info = probe_image(data, origin)
    if info.width <= 0 or info.height <= 0:
        raise ImageError(f"{origin}: the {info.kind.upper()} header declares an empty image ({info.width}x{info.height})")
    if info.width * info.height > limits.max_pixels:
        raise ImageError(
            f"{origin}: {info.width}x{info.height} pixels is more than images.max_pixels "
            f"({limits.max_pixels:,}); not decoded"
        )
    return info


def load_image(path: str | Path, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Return the image at ``path`` as an (H, W, 3) RGB uint8 array."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    if not path.is_file():
        raise ImageError(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if size > limits.max_file_bytes:
                raise ImageError(f"{path}: {size:,} bytes is more than images.max_file_bytes ({limits.max_file_bytes:,}); not read")
            if size == 0:
                raise ImageError(f"{path}: an empty file, not an image")
            handle.seek(0)
            head = handle.read(min(size, HEADER_BYTES))
            check_header(head, str(path), limits)
            rest = handle.read()
    except OSError as err:
        raise ImageError(f"{path}: cannot read file ({err.strerror or err})") from None
    data = np.frombuffer(head + rest, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{path}: not an image, or a format OpenCV cannot decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
