"""Short sounds, generated here (no sound files): a prompt of the liveness challenge
appeared, and the "Need more time?" warning.

pygame's mixer plays them; without an audio device (or with ``ui.sound: false``) the
kiosk is silent and says so once in the log. Tests run with SDL_AUDIODRIVER=dummy and
read ``Sounds.played``.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import numpy as np
import pygame

log = logging.getLogger("kiosk.ui")

RATE = 22050
# name -> (frequency Hz, milliseconds) of each tone, with short gaps between them
TONES: dict[str, list[tuple[float, int]]] = {
    "prompt": [(660.0, 110), (880.0, 160)],  # rising: something to do now
    "warning": [(520.0, 140), (520.0, 140), (520.0, 140)],  # three even beeps
}
GAP_MS = 60
# What Sounds and the Speaker keep of what they were asked (tests read it): the newest
# only, so a kiosk that runs for months does not grow.
HISTORY_KEEP = 256

T = TypeVar("T")


def remember(history: list[T], item: T, keep: int = HISTORY_KEEP) -> None:
    """Append ``item``; past twice ``keep`` entries, drop all but the newest ``keep``."""
    history.append(item)
    if len(history) > 2 * keep:
        del history[:-keep]


def tone_samples(tones: list[tuple[float, int]], rate: int = RATE) -> np.ndarray:
    """Mono int16 samples: each tone a sine with 10 ms fades, GAP_MS of silence between."""
    parts: list[np.ndarray] = []
    for frequency, ms in tones:
        n = int(rate * ms / 1000)
        t = np.arange(n) / rate
        wave = np.sin(2 * np.pi * frequency * t)
        fade = min(n // 2, int(rate * 0.01))
        envelope = np.ones(n)
        envelope[:fade] = np.linspace(0.0, 1.0, fade)
        envelope[n - fade:] = np.linspace(1.0, 0.0, fade)
        parts += [wave * envelope, np.zeros(int(rate * GAP_MS / 1000))]
    return (np.concatenate(parts) * 0.5 * 32767).astype(np.int16)


class Sounds:
    def __init__(self, enabled: bool = True, volume: float = 0.8) -> None:
        self.enabled = enabled
        self.volume = volume
        self.played: list[str] = []  # the sounds asked for lately, played or not (tests)
        self._sounds: dict[str, pygame.mixer.Sound] = {}
        if enabled:
            self._load()

    def _load(self) -> None:
        try:
            if pygame.mixer.get_init() is None:
                pygame.mixer.init(frequency=RATE, size=-16, channels=1, buffer=512)
            init = pygame.mixer.get_init()
            assert init is not None
            rate, _, channels = init
            for name, tones in TONES.items():
                mono = tone_samples(tones, rate)
                samples = mono if channels == 1 else np.repeat(mono[:, None], channels, axis=1)
                sound = pygame.sndarray.make_sound(np.ascontiguousarray(samples))
                sound.set_volume(self.volume)
                self._sounds[name] = sound
        except (pygame.error, ValueError) as err:
            log.warning("no sound: %s", err)
            self._sounds.clear()

    @property
    def audible(self) -> bool:
        return bool(self._sounds)

    def play(self, name: str) -> None:
        remember(self.played, name)
        sound = self._sounds.get(name)
        if sound is not None:
            sound.play()

    def apply(self, enabled: bool, volume: float) -> None:
        self.enabled, self.volume = enabled, volume
        if enabled and not self._sounds:
            self._load()
        elif not enabled:
            self._sounds.clear()
        for sound in self._sounds.values():
            sound.set_volume(volume)
