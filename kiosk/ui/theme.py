"""Colours and text roles (sizes in design pixels at 800x480; see layout.Layout)."""

from dataclasses import dataclass

# What every drawing function takes as a colour: (r, g, b) or (r, g, b, alpha).
Color = tuple[int, ...]

# The standard palette: light text on dark blue, every pair WCAG 2.x AA (text 4.5:1,
# control boundaries, icons and state changes 3:1); tests/test_ui_contrast.py computes
# each ratio from these values, for this palette and the high-contrast one.
BACKGROUND = (18, 28, 41)
PANEL = (30, 45, 64)
PANEL_LIGHT = (44, 63, 88)
TEXT = (242, 245, 249)
MUTED = (160, 176, 196)
ACCENT = (28, 100, 200)  # primary buttons, submit key, field outline (white label 5.2:1)
ACCENT_LIGHT = (120, 175, 245)  # bars and active toggles on dark
PRESSED = (196, 214, 238)  # anything held down: a light fill, dark label
PRESSED_TEXT = (20, 28, 38)
EDGE = (120, 140, 168)  # the outline of keys and secondary buttons (5:1 on the background)
GOOD = (25, 125, 65)  # the check mark's disc (white tick 4.7:1)
GOOD_LIGHT = (80, 200, 120)  # progress on dark
WARN = (242, 163, 58)  # guidance text, the wait clock
PROMPT_TEXT = (255, 214, 10)  # liveness prompts: their own colour, never the success green
ERROR = (200, 40, 40)  # the cross's disc, danger buttons (white 5.1:1)
ERROR_TEXT = (255, 130, 130)  # error messages on dark
KEY = (52, 72, 98)
KEY_SPECIAL = (40, 56, 78)
FIELD = (250, 251, 253)
FIELD_TEXT = (20, 28, 38)
FIELD_MUTED = (95, 104, 118)  # the placeholder (5.4:1 on the field)
OVERLAY = (0, 0, 0, 150)
# Kept for callers of the old names.
ACCENT_PRESSED = PRESSED
KEY_PRESSED = PRESSED

STANDARD: dict[str, Color] = {}  # filled in below from the values above

# High contrast: white on black, yellow for what is active or asked, no mid greys.
HIGH_CONTRAST: dict[str, Color] = {
    "BACKGROUND": (0, 0, 0),
    "PANEL": (0, 0, 0),
    "PANEL_LIGHT": (0, 0, 0),
    "TEXT": (255, 255, 255),
    "MUTED": (225, 225, 225),
    "ACCENT": (0, 0, 160),
    "ACCENT_LIGHT": (255, 230, 0),
    "PRESSED": (255, 230, 0),
    "PRESSED_TEXT": (0, 0, 0),
    "EDGE": (255, 255, 255),
    "GOOD": (0, 110, 40),
    "GOOD_LIGHT": (0, 230, 90),
    "WARN": (255, 230, 0),
    "PROMPT_TEXT": (0, 230, 255),
    "ERROR": (200, 0, 0),
    "ERROR_TEXT": (255, 150, 150),
    "KEY": (0, 0, 0),
    "KEY_SPECIAL": (0, 0, 0),
    "FIELD": (255, 255, 255),
    "FIELD_TEXT": (0, 0, 0),
    "FIELD_MUTED": (70, 70, 70),
    "OVERLAY": (0, 0, 0, 200),
}

# Text roles, sized by cap height (the height of a capital "H"), in design pixels at
# 800x480 (scaled with the screen, see layout.Layout): the Painter picks the font size
# whose measured capitals are that tall, whatever the font. Text may shrink to fit its
# box, never below its role's ``min_cap`` (tests/test_ui_text.py checks every text drawn).
# On a 7-inch 800x480 panel one design pixel is 0.19 mm: body capitals of 20 px are
# 3.8 mm, 26 arc-minutes at 50 cm (ISO 9241-3: at least 16, 20-22 preferred).


@dataclass(frozen=True)
class Role:
    name: str
    cap: float  # cap height wanted, design px
    min_cap: float  # the smallest it may shrink to, design px
    bold: bool = False


HUGE = Role("headline", 26, 20, bold=True)  # result screens' first line, the welcome
TITLE = Role("title", 19, 15, bold=True)  # the top bar
PROMPT = Role("prompt", 26, 20, bold=True)  # face guidance and liveness prompts
BODY = Role("body", 20, 16)  # DejaVu Sans at 27 px
HINT = Role("hint", 16, 14)  # DejaVu Sans at 22 px: hints, password rules
KEY_LABEL = Role("key", 20, 16)
FIELD_SIZE = Role("field", 22, 18)  # typed text
BUTTON_LABEL = Role("button", 17, 14, bold=True)
SMALL = HINT
STAFF = Role("staff", 14, 10)  # the admin screen's details (staff, not the public)


STANDARD.update({name: globals()[name] for name in HIGH_CONTRAST})
high_contrast = False


def use(high: bool) -> None:
    """Switch every colour of this module to the high-contrast palette, or back. The
    widgets read the colours when they draw, so this applies from the next frame."""
    global high_contrast, ACCENT_PRESSED, KEY_PRESSED
    high_contrast = high
    globals().update(HIGH_CONTRAST if high else STANDARD)
    ACCENT_PRESSED = KEY_PRESSED = globals()["PRESSED"]
