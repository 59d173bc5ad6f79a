"""Colours and type sizes (type sizes in design pixels at 800x480; see layout.Layout)."""

# What every drawing function takes as a colour: (r, g, b) or (r, g, b, alpha).
Color = tuple[int, ...]

BACKGROUND = (18, 28, 41)
PANEL = (30, 45, 64)
PANEL_LIGHT = (44, 63, 88)
TEXT = (242, 245, 249)
MUTED = (160, 176, 196)
ACCENT = (47, 128, 237)
ACCENT_PRESSED = (32, 96, 186)
GOOD = (39, 174, 96)
WARN = (242, 163, 58)
ERROR = (235, 87, 87)
KEY = (52, 72, 98)
KEY_SPECIAL = (40, 56, 78)
KEY_PRESSED = (96, 130, 172)
FIELD = (250, 251, 253)
FIELD_TEXT = (20, 28, 38)
FIELD_MUTED = (120, 130, 145)
OVERLAY = (0, 0, 0, 150)

# Type sizes, in design pixels.
HUGE = 40
TITLE = 28
BODY = 22
SMALL = 18
KEY_LABEL = 28
FIELD_SIZE = 30
BUTTON_LABEL = 22
# Text is never made smaller than this share of its size to fit its box.
MIN_SHRINK = 0.6
