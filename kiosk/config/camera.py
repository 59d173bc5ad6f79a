"""Config section of the camera: which frame source the kiosk reads, and how."""

from typing import Literal

from pydantic import Field, field_validator

from kiosk.config.base import Section


class CameraSettings(Section):
    # "v4l2": a camera device; "video": a video file, looped; "images": a folder of images.
    source: Literal["v4l2", "video", "images"] = "v4l2"
    # The V4L2 device: a path such as /dev/video0, or its index as text ("0").
    device: str = "/dev/video0"
    # Video file or image folder for the other two sources (relative to the config file).
    path: str = ""
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    # Frames per second asked of the device; files are paced to their own rate, image
    # folders to this one.
    fps: float = Field(30.0, gt=0.0, le=240.0)
    # Four-character code asked of the device; "" leaves the driver's default.
    fourcc: str = "MJPG"
    # Start again at the first frame when a video file or image folder ends.
    loop: bool = True
    # Seconds the service waits at start-up for the first frame before it reports READY
    # anyway (it serves sign-in; its face screens and STATUS say the camera is missing).
    start_grace_s: float = Field(20.0, ge=0.0, le=50.0)

    @field_validator("fourcc")
    @classmethod
    def _fourcc(cls, value: str) -> str:
        if value and (len(value) != 4 or not value.isascii() or not value.isprintable()):
            raise ValueError("must be four printable ASCII characters, like MJPG, or empty")
        return value
