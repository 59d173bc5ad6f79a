"""Config section of image files: those the command line reads (``facekiosk verify``,
``embed``) and an image folder the camera reads (``camera.source: images``)."""

from pydantic import Field

from kiosk.config.base import Section
from kiosk.vision.image_io import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS, ImageLimits


class ImageSettings(Section):
    # Width x height a file's header may declare; larger ones are refused before decoding.
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, le=1 << 30)
    # Largest file read at all.
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, ge=1)

    def limits(self) -> ImageLimits:
        return ImageLimits(max_pixels=self.max_pixels, max_file_bytes=self.max_file_bytes)
