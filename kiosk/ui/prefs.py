"""What a person can change on the start screen for their own visit: language, larger
text, high contrast. Back to the configured defaults when the session ends (start over,
timeout, done), so the next person finds the kiosk as configured."""

from __future__ import annotations

from dataclasses import dataclass

# How much larger text gets in the larger-text mode, where its box has room (text never
# shrinks below its role's minimum either way).
LARGE_TEXT_SCALE = 1.25
# The languages offered, each named in itself (the button shows the other one's name).
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}


@dataclass(frozen=True)
class Preferences:
    language: str = "en"
    large_text: bool = False
    high_contrast: bool = False

    def next_language(self) -> str:
        codes = list(LANGUAGE_NAMES)
        return codes[(codes.index(self.language) + 1) % len(codes)] if self.language in codes else codes[0]
