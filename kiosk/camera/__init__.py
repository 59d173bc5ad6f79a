"""Camera frame sources: a V4L2 device, a video file or an image folder, all read the same way.

Every source has ``read() -> RGB uint8 frame or None`` (None: no frame now, e.g. the
device stopped or a file ended without looping) and ``close()``. ``FrameGrabber`` reads a
source on its own thread so the screen never waits on the camera.
"""

from kiosk.camera.grabber import Frame, FrameGrabber
from kiosk.camera.sources import (
    CameraError,
    FrameSource,
    ImageFolderSource,
    Pacer,
    V4L2Source,
    VideoFileSource,
    open_source,
)

__all__ = [
    "CameraError",
    "Frame",
    "FrameGrabber",
    "FrameSource",
    "ImageFolderSource",
    "Pacer",
    "V4L2Source",
    "VideoFileSource",
    "open_source",
]
