"""Spoken prompts: eSpeak NG (Debian's espeak-ng) says a line, pygame's mixer plays it.

``espeak-ng -w FILE`` writes each line as a WAV on a worker thread (about 10 ms for a
prompt on this project's machine; the process is started per line, so nothing stays
resident); the UI thread only queues text and, once a frame, starts what is ready on its
own mixer channel, so a newer line cuts an older one short and speech never waits for
the screen or the screen for speech. The voice follows the visit's language (``en``:
eSpeak's British English, ``de``: German).

Without espeak-ng or an audio device the kiosk stays silent and says why once in the log;
``queued`` keeps the lines asked for either way (tests, and what would have been said).
Text a person typed (a plain string: an email address) or a message that carries one is
never spoken: a kiosk in a public place must not read out who is using it.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pygame

from kiosk.i18n import Message, Text
from kiosk.ui.sound import remember

log = logging.getLogger("kiosk.ui")

SpeechMode = Literal["off", "prompts", "screens"]
VOICES = {"en": "en", "de": "de"}
SYNTH_TIMEOUT_S = 5.0


def speakable(message: Message | None) -> bool:
    """A translatable message with no personal data in it (no typed text, no address)."""
    if not isinstance(message, Text):
        return False
    return not any("@" in str(value) for _, value in message.params)


@dataclass(frozen=True)
class Line:
    text: str
    language: str
    asked_at: float  # time.monotonic() when queued
    after_s: float = 0.0  # not played before asked_at + after_s (the tone plays first)


@dataclass(frozen=True)
class Spoken:
    line: Line
    wav: Path
    seconds: float  # the WAV's length
    ready_at: float  # when synthesis had finished


class Speaker:
    """Says lines through eSpeak NG and the mixer, off the UI thread.

    ``mode``: ``off``; ``prompts`` (the liveness prompts and the "Need more time?"
    warning: moments the person may not be looking at the screen); ``screens`` (also
    each screen's title, result and face guidance)."""

    def __init__(self, mode: SpeechMode = "prompts", rate_wpm: int = 150, volume: float = 0.8,
                 espeak: str = "espeak-ng", keep_dir: Path | None = None) -> None:
        """``espeak``: the program (looked up on PATH); ``keep_dir``: where the WAVs go
        (default: a temporary folder, removed by close())."""
        self.mode: SpeechMode = mode
        self.rate_wpm = rate_wpm
        self.volume = volume
        # The newest lines (kiosk.ui.sound.remember) asked for, spoken or not; whose WAV was
        # made; handed to the mixer.
        self.queued: list[Line] = []
        self.spoken: list[Spoken] = []
        self.played: list[Line] = []
        self._pending: tuple[Spoken, pygame.mixer.Sound | None] | None = None
        self._espeak = shutil.which(espeak)
        self._dir = keep_dir  # made on the first line spoken
        self._todo: queue.Queue[Line | None] = queue.Queue()
        self._ready: queue.Queue[tuple[Spoken, pygame.mixer.Sound | None]] = queue.Queue()
        self._channel: pygame.mixer.Channel | None = None
        self._thread: threading.Thread | None = None
        self._count = 0
        self._warned = False
        self._mixer_tried = False
        if self._espeak is None and mode != "off":
            log.warning("no speech: espeak-ng is not installed (make apt-deps installs it)")

    @property
    def available(self) -> bool:
        return self._espeak is not None

    def wants(self, kind: Literal["prompt", "screen"]) -> bool:
        return self.mode == "screens" or (self.mode == "prompts" and kind == "prompt")

    def say(self, text: str, language: str, kind: Literal["prompt", "screen"] = "screen", after_s: float = 0.0) -> None:
        """Queue ``text`` (already translated) in ``language``, to play no sooner than
        ``after_s`` from now; an unsynthesised older line is dropped, a playing one is
        cut when this one starts."""
        if not text.strip() or not self.wants(kind):
            return
        line = Line(text.strip(), language, time.monotonic(), after_s)
        remember(self.queued, line)
        if self._espeak is None:
            return
        self._open_mixer()
        while True:  # only the newest line waits: the screen has moved on
            try:
                self._todo.get_nowait()
            except queue.Empty:
                break
        self._todo.put(line)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="speech", daemon=True)
            self._thread.start()

    def update(self, now: float | None = None) -> None:
        """Once a frame on the UI thread: start the newest line that is ready and due."""
        while True:
            try:
                self._pending = self._ready.get_nowait()
            except queue.Empty:
                break
        if self._pending is None:
            return
        spoken, sound = self._pending
        if (time.monotonic() if now is None else now) < spoken.line.asked_at + spoken.line.after_s:
            return
        self._pending = None
        if sound is None:
            return
        try:
            if self._channel is None:
                pygame.mixer.set_reserved(1)  # channel 0 is speech's alone; tones use the others
                self._channel = pygame.mixer.Channel(0)
            self._channel.play(sound)
            remember(self.played, spoken.line)
        except pygame.error as err:
            self._no_audio(err)

    def _run(self) -> None:
        while True:
            line = self._todo.get()
            if line is None:
                return
            spoken = self.synthesise(line)
            if spoken is None:
                continue
            remember(self.spoken, spoken)
            sound = None
            if pygame.mixer.get_init() is not None:
                try:
                    sound = pygame.mixer.Sound(str(spoken.wav))
                    sound.set_volume(self.volume)
                except pygame.error as err:
                    self._no_audio(err)
            self._ready.put((spoken, sound))

    def synthesise(self, line: Line) -> Spoken | None:
        """``line`` as a WAV file (None, logged, if espeak-ng fails)."""
        assert self._espeak is not None
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="facekiosk-speech-"))
        self._count += 1
        wav = self._dir / f"line-{self._count % 8}.wav"
        command = [self._espeak, "-v", VOICES.get(line.language, "en"), "-s", str(self.rate_wpm), "-w", str(wav), "--", line.text]
        try:
            subprocess.run(command, check=True, timeout=SYNTH_TIMEOUT_S, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("speech failed: %s", str(err).splitlines()[0] if str(err) else type(err).__name__)
            return None
        return Spoken(line, wav, wav_seconds(wav), time.monotonic())

    def _open_mixer(self) -> None:
        """The mixer, if the tones (ui.sound) have not opened it: speech does not depend
        on them. Once; no audio device is logged, and lines are then only made."""
        if self._mixer_tried or pygame.mixer.get_init() is not None:
            return
        self._mixer_tried = True
        try:
            pygame.mixer.init(frequency=22050, size=-16, channels=1, buffer=512)
        except pygame.error as err:
            self._no_audio(err)

    def _no_audio(self, err: Exception) -> None:
        if not self._warned:
            log.warning("speech not played (no audio): %s", err)
            self._warned = True

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Tests: True once every queued line has been synthesised (or dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._todo.empty() and (not self.queued or self.spoken and self.spoken[-1].line is self.queued[-1]):
                return True
            time.sleep(0.02)
        return False

    def apply(self, mode: SpeechMode, rate_wpm: int, volume: float) -> None:
        self.mode, self.rate_wpm, self.volume = mode, rate_wpm, volume

    def close(self) -> None:
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join(timeout=SYNTH_TIMEOUT_S + 1)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path), "rb") as handle:
        return handle.getnframes() / float(handle.getframerate())
