"""``facekiosk liveness-record --out DIR``: record consented liveness sessions.

The clips in ../shared cannot show how often live people pass the prompted challenge
(nobody in them answers prompts). This records sessions that can: the configured camera
is filmed while the kiosk's own challenge runs live, its prompts printed in large type
in the terminal the participant faces. Each session leaves, in DIR:

- ``<id>.avi``: the camera frames (Motion-JPEG, every frame the challenge saw);
- ``<id>.json``: consent reference, camera, the frame times, the prompt schedule and the
  seed that drew it (with the seed, replaying the video through a fresh session
  reproduces the challenge exactly), each phase change with its frame and time, and the
  live result (prompts, onsets, scores).

Only run it with people who agreed in writing to be filmed for this purpose; the
``--consent`` reference (e.g. the form's number) is stored with each session. The files
hold faces: keep them off the kiosk's normal storage and delete them when measured.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import cv2
import numpy as np

from kiosk.commands.common import load_settings
from kiosk.errors import KioskError

if TYPE_CHECKING:
    from kiosk.camera import FrameSource
    from kiosk.config import Settings

FOURCC = "MJPG"
BANNER = {
    "settle": "Look at the camera and hold still",
    "turn_left": "<<<   Turn your head to YOUR LEFT   <<<",
    "turn_right": ">>>   Turn your head to YOUR RIGHT   >>>",
    "look_up": "^^^   Look UP   ^^^",
    "blink_twice": "(o)(o)   Blink TWICE   (-)(-)",
    "passed": "Done - thank you",
    "failed": "Not accepted - thank you",
}


class RecordError(KioskError):
    """The recording cannot start or continue (camera, output folder, consent)."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "liveness-record",
        help="record consented liveness sessions (video + prompt log) for measuring bona fide acceptance",
        description="Run the liveness challenge live on the configured camera and record each session's "
        "video with its prompt schedule, timings and result as JSON.",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for the recordings (created if missing)")
    parser.add_argument("--consent", required=True, help="reference of the participant's signed consent (stored with each session)")
    parser.add_argument("--sessions", type=int, default=1, help="sessions to record one after the other (default 1)")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="stop a session after this long (default 30)")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between sessions (default 3)")
    parser.add_argument("--quiet", action="store_true", help="no prompts in the terminal (the participant sees another screen)")
    parser.set_defaults(func=run)


def _open_camera(settings: Settings) -> FrameSource:
    """The configured frame source. Falls back to OpenCV directly if kiosk.camera is absent."""
    try:
        from kiosk.camera import open_source
    except ImportError:  # pragma: no cover - kiosk.camera ships with the kiosk
        return _CvCapture(settings.camera.device)
    return open_source(settings.camera, settings.resolve, settings.images.limits())


class _CvCapture:
    def __init__(self, device: str) -> None:
        self._capture = cv2.VideoCapture(int(device) if device.isdigit() else device)
        if not self._capture.isOpened():
            raise RecordError(f"cannot open camera {device}")
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if fps > 0 else 30.0

    def read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None

    def close(self) -> None:
        self._capture.release()


def record_session(
    source: FrameSource,
    session_factory: Callable[[random.Random], Any],
    out_dir: Path,
    consent: str,
    max_seconds: float,
    show: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    camera_info: dict[str, Any] | None = None,
) -> Path:
    """Record one session; returns the JSON path. ``session_factory(rng)`` makes the
    LivenessSession (its schedule drawn from ``rng``, seeded and logged here)."""
    session_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    seed = secrets.randbits(63)
    session = session_factory(random.Random(seed))
    video_path = out_dir / f"{session_id}.avi"
    writer = None
    frame_times: list[float] = []
    events: list[dict[str, Any]] = []
    last_banner = None
    start = clock()
    status = session.status
    try:
        while not status.done:
            image = source.read()
            now = clock()
            if now - start > max_seconds:
                status = session.abort("timeout", now)
                break
            if image is None:
                continue
            if writer is None:
                height, width = image.shape[:2]
                fps = float(getattr(source, "fps", 30.0) or 30.0)
                writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter.fourcc(*FOURCC), fps, (width, height))
                if not writer.isOpened():
                    raise RecordError(f"cannot write {video_path}")
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            frame_times.append(now - start)
            status = session.feed(image, now)
            banner = status.prompt if status.phase == "prompt" else status.phase
            if banner != last_banner:
                events.append({"frame": len(frame_times) - 1, "t": round(now - start, 4), "phase": status.phase, "prompt": status.prompt})
                show(BANNER.get(banner or "", banner or ""))
                last_banner = banner
    finally:
        if writer is not None:
            writer.release()
    result = session.result
    record = {
        "format": "facekiosk-liveness-session/1",
        "session": session_id,
        "consent": consent,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "video": video_path.name if frame_times else None,
        "camera": camera_info or {},
        "seed": seed,
        "prompts": list(session.prompts),
        "frame_times_s": [round(t, 4) for t in frame_times],
        "events": events,
        "result": None if result is None else result.to_audit(),
    }
    json_path = out_dir / f"{session_id}.json"
    json_path.write_text(json.dumps(record, indent=1) + "\n")
    return json_path


def run(args: argparse.Namespace) -> int:
    from kiosk.liveness.session import LivenessModels, LivenessSession
    from kiosk.vision.pipeline import FacePipeline

    if not args.consent.strip():
        raise RecordError("--consent must name the participant's signed consent")
    settings = load_settings(args)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RecordError(f"cannot create {args.out}: {err.strerror or err}") from None
    pipeline = FacePipeline.from_settings(settings)
    models = LivenessModels.from_settings(settings)

    def factory(rng: random.Random) -> LivenessSession:
        return LivenessSession(settings.liveness, models.landmarker, pipeline, rng)

    def show(text: str) -> None:
        if not args.quiet:
            print(f"\n\n        {text}\n", flush=True)

    source = _open_camera(settings)
    camera_info = {"source": settings.camera.source, "device": settings.camera.device, "width": settings.camera.width, "height": settings.camera.height, "fps": settings.camera.fps}
    try:
        for index in range(args.sessions):
            if index:
                time.sleep(args.pause)
            path = record_session(source, factory, args.out, args.consent, args.max_seconds, show, camera_info=camera_info)
            record = json.loads(path.read_text())
            verdict = "passed" if record["result"] and record["result"]["passed"] else f"failed ({record['result']['reason'] if record['result'] else 'no result'})"
            print(f"session {index + 1}/{args.sessions}: {path} ({len(record['frame_times_s'])} frames): {verdict}", file=sys.stderr)
    finally:
        source.close()
    return 0
