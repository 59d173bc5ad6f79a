"""The on-screen keyboard: letters, shift, caps, digits and symbols, backspace with repeat.

Layouts: ``email`` (with ``@`` and ``.com`` keys, no space), ``text`` (passwords: with a
space bar) and ``pin`` (a number pad). Keys are at least 60 design pixels tall, so 60
screen pixels or more from 800x480 up.

Input rules: a character key types when the finger that pressed it lifts, on the key it
is over by then (a finger may slide to the neighbouring key before lifting, as on a
phone); lifting outside the keyboard types nothing. Backspace acts when pressed, then
repeats while held. Each finger is tracked on its own, and SDL's duplicate mouse events
never get here (see :mod:`kiosk.ui.events`), so a tap types once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pygame

from kiosk.i18n import N_, Message
from kiosk.ui import theme
from kiosk.ui.events import DOWN, MOVE, UP, Pointer
from kiosk.ui.layout import KEY_GAP, KEY_HEIGHT, Layout
from kiosk.ui.text import Painter, TextRecord
from kiosk.ui.widgets import draw_backspace, draw_shift, rounded

REPEAT_DELAY_S = 0.5
REPEAT_EVERY_S = 0.08

# Special key codes (anything else is typed as is).
SHIFT = "<shift>"
CAPS = "<caps>"
BACKSPACE = "<backspace>"
SYMBOLS = "<symbols>"
LETTERS = "<letters>"
SUBMIT = "<submit>"
SPACE = " "

DIGITS = list("1234567890")
LETTER_ROWS = [list("qwertyuiop"), [CAPS, *"asdfghjkl"], [SHIFT, *"zxcvbnm", BACKSPACE]]
# German: QWERTZ with the umlauts and ß where a German keyboard has them.
LETTER_ROWS_DE = [list("qwertzuiopü"), [CAPS, *"asdfghjklöä"], [SHIFT, *"yxcvbnm", "ß", BACKSPACE]]
SYMBOL_ROWS = [list("!#$%&*+-=?"), list("@._~^'`{}|"), [LETTERS, *"/():;,\"", BACKSPACE]]
BOTTOM = {
    "email": [SYMBOLS, "@", ".", "_", "-", ".com", SUBMIT],
    "text": [SYMBOLS, "@", ".", SPACE, "-", SUBMIT],
}
BOTTOM_DE = {
    "email": [SYMBOLS, "@", ".", "-", ".de", ".com", SUBMIT],
    "text": BOTTOM["text"],
}
# Key widths in key units; a row is 10 units.
WIDTHS = {SHIFT: 1.5, BACKSPACE: 1.5, LETTERS: 1.5, SYMBOLS: 1.5, ".com": 1.5, ".de": 1.25, SPACE: 3.0}
SUBMIT_WIDTH = {"email": 3.0, "text": 2.5}
PIN_ROWS = [list("123"), list("456"), list("789"), [BACKSPACE, "0", SUBMIT]]


@dataclass
class Key:
    code: str
    rect: pygame.Rect


class Keyboard:
    def __init__(self, layout: Layout, kind: str, on_text: Callable[[str], None], on_backspace: Callable[[], None], on_submit: Callable[[], None], submit_label: Message = N_("Next"), language: str = "en") -> None:
        """``language``: "de" gives the German layout (QWERTZ, umlauts, ß, ``.de``)."""
        if kind not in ("email", "text", "pin"):
            raise ValueError(f"unknown keyboard layout {kind!r}")
        self.language = language
        self.layout = layout
        self.kind = kind
        self.on_text = on_text
        self.on_backspace = on_backspace
        self.on_submit = on_submit
        self.submit_label = submit_label
        self.rect = layout.keyboard()
        self.symbols = False
        self.shift = False
        self.caps = False
        self._held: dict[str, Key] = {}  # pointer id -> key under it
        # The drawn keyboard, kept while nothing it shows changes (45 outlined keys and
        # their labels cost more than the rest of a frame), and the text records of it.
        self._drawn: pygame.Surface | None = None
        self._drawn_key: tuple[object, ...] | None = None
        self._drawn_records: list[TextRecord] = []
        self._repeat_at: dict[str, float] = {}
        self.keys = self._build()

    # -- geometry ---------------------------------------------------------------------------

    def _rows(self) -> list[list[str]]:
        if self.kind == "pin":
            return PIN_ROWS
        german = self.language == "de"
        letters = SYMBOL_ROWS if self.symbols else (LETTER_ROWS_DE if german else LETTER_ROWS)
        return [DIGITS, *letters, (BOTTOM_DE if german else BOTTOM)[self.kind]]

    def _width_units(self, code: str) -> float:
        if code == SUBMIT:
            return SUBMIT_WIDTH[self.kind]
        return WIDTHS.get(code, 1.0)

    def _build(self) -> list[Key]:
        layout, area = self.layout, self.rect
        gap = layout.px(KEY_GAP)
        height = layout.px(KEY_HEIGHT)
        rows = self._rows()
        keys = []
        if self.kind == "pin":
            # A centred number pad with keys about twice as wide as tall.
            width = min(layout.px(150), (area.width - 2 * gap) // 3)
            height = (area.height - 3 * gap) // 4
            left = area.centerx - (3 * width + 2 * gap) // 2
            for r, row in enumerate(rows):
                for c, code in enumerate(row):
                    keys.append(Key(code, pygame.Rect(left + c * (width + gap), area.top + r * (height + gap), width, height)))
            return keys
        for r, row in enumerate(rows):
            units = sum(self._width_units(code) for code in row)
            unit = (area.width - gap * (len(row) - 1)) / units
            x = float(area.left)
            y = area.top + r * (height + gap)
            for code in row:
                w = unit * self._width_units(code)
                keys.append(Key(code, pygame.Rect(round(x), y, round(x + w) - round(x), height)))
                x += w + gap
        return keys

    def key_at(self, pos: tuple[int, int]) -> Key | None:
        for key in self.keys:
            if key.rect.collidepoint(pos):
                return key
        return None

    def key(self, code: str) -> Key:
        """The key that types ``code`` on the current layer (for tests and benchmarks)."""
        for key in self.keys:
            if key.code == code or self.label_of(key.code) == code:
                return key
        raise KeyError(code)

    # -- state --------------------------------------------------------------------------------

    @property
    def upper(self) -> bool:
        return self.caps != self.shift

    def label_of(self, code: str) -> str:
        if len(code) == 1 and code.isalpha() and code != "ß":
            return code.upper() if self.upper else code
        return code

    def reset(self) -> None:
        self._held.clear()
        self._repeat_at.clear()
        self.shift = False
        self.symbols = False
        self.keys = self._build()

    # -- input --------------------------------------------------------------------------------

    def handle(self, pointer: Pointer, now: float) -> bool:
        if pointer.kind == DOWN:
            key = self.key_at(pointer.pos)
            if key is None:
                return False
            self._held[pointer.id] = key
            if key.code == BACKSPACE:
                self.on_backspace()
                self._repeat_at[pointer.id] = now + REPEAT_DELAY_S
            return True
        if pointer.id not in self._held:
            return False
        if pointer.kind == MOVE:
            held = self._held[pointer.id]
            if held.code != BACKSPACE:
                under = self.key_at(pointer.pos)
                if under is not None and under.code != BACKSPACE:
                    self._held[pointer.id] = under
            return True
        if pointer.kind == UP:
            held = self._held.pop(pointer.id)
            self._repeat_at.pop(pointer.id, None)
            if held.code != BACKSPACE and self.rect.inflate(8, 8).collidepoint(pointer.pos):
                self._activate(held.code)
            return True
        return False

    def update(self, now: float) -> None:
        """Backspace repeat while held; call every frame."""
        for pointer_id, due in list(self._repeat_at.items()):
            if now >= due:
                self.on_backspace()
                self._repeat_at[pointer_id] = max(due + REPEAT_EVERY_S, now - REPEAT_EVERY_S)

    def _activate(self, code: str) -> None:
        if code == SHIFT:
            self.shift = not self.shift
        elif code == CAPS:
            self.caps = not self.caps
            self.shift = False
        elif code in (SYMBOLS, LETTERS):
            self.symbols = code == SYMBOLS
            self.shift = False
            self.keys = self._build()
            self._held.clear()
        elif code == SUBMIT:
            self.on_submit()
        else:
            self.on_text(self.label_of(code))
            if self.shift and len(code) == 1 and code.isalpha():
                self.shift = False  # shift applies to one letter

    # -- drawing ------------------------------------------------------------------------------

    def draw(self, painter: Painter) -> None:
        """Blit the keyboard as last drawn with no key held, drawing it again when
        anything it shows changed (shift, layer, palette, language, text size); then the
        keys held now, over it (a tap redraws one key, not 45)."""
        state = (
            self.shift, self.caps, self.symbols, tuple(k.code for k in self.keys),
            theme.high_contrast, painter.catalog.language, painter.text_scale, painter.surface.get_size(),
        )
        if state != self._drawn_key or self._drawn is None:
            if self._drawn is None or self._drawn.get_size() != painter.surface.get_size():
                self._drawn = pygame.Surface(painter.surface.get_size(), pygame.SRCALPHA)
            self._drawn.fill((0, 0, 0, 0))
            screen, painter.surface = painter.surface, self._drawn
            first = len(painter.records)
            try:
                self._draw_keys(painter)
            finally:
                painter.surface = screen
            self._drawn_records = painter.records[first:]
            del painter.records[first:]
            self._drawn_key = state
        painter.surface.blit(self._drawn, self.rect, area=self.rect)
        held = {key.code for key in self._held.values()}
        shown = [key for key in self.keys if key.code in held]
        painter.records.extend(r for r in self._drawn_records if not any(r.owner.endswith(f"key {key.code}") for key in shown))
        if shown:
            self._draw_keys(painter, shown, held)

    def _draw_keys(self, painter: Painter, keys: list[Key] | None = None, held: set[str] | frozenset[str] = frozenset()) -> None:
        surface = painter.surface
        radius = max(3, self.layout.px(6))
        for key in self.keys if keys is None else keys:
            special = key.code.startswith("<") or key.code in (".com", ".de")
            color = theme.KEY_SPECIAL if special else theme.KEY
            ink = theme.TEXT
            edge: theme.Color | None = theme.EDGE
            if key.code == SUBMIT:
                color, edge = theme.ACCENT, (theme.EDGE if theme.high_contrast else None)
            if (key.code == CAPS and self.caps) or (key.code == SHIFT and self.shift):
                color, ink = theme.ACCENT_LIGHT, theme.PRESSED_TEXT  # on: light, as held keys
            if key.code in held:
                color, ink, edge = theme.PRESSED, theme.PRESSED_TEXT, None
            rounded(surface, key.rect, color, radius)
            if edge is not None:
                rounded(surface, key.rect, edge, radius, width=max(1, self.layout.px(2)))
            icon = key.rect.inflate(-key.rect.width // 2, -key.rect.height // 2)
            if key.code == BACKSPACE:
                draw_backspace(surface, icon, ink)
            elif key.code in (SHIFT, CAPS):
                draw_shift(surface, icon, ink, filled=self.shift if key.code == SHIFT else self.caps, underline=key.code == CAPS)
            else:
                label = {SYMBOLS: "#+=", LETTERS: "abc", SUBMIT: self.submit_label, SPACE: N_("space")}.get(key.code, None)
                if label is None:
                    label = self.label_of(key.code)
                size = theme.BUTTON_LABEL if key.code in (SUBMIT, SPACE, SYMBOLS, LETTERS, ".com", ".de") else theme.KEY_LABEL
                pad = max(2, key.rect.height // 10)
                painter.text(label, key.rect.inflate(-2 * pad, -pad), size, ink, align="center", valign="middle", wrap=False, owner=f"key {key.code}")
