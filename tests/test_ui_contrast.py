"""WCAG 2.x contrast of every colour pair the screens draw, computed from kiosk/ui/theme.py,
for the standard and the high-contrast palette.

Text needs 4.5:1 (AA; every text role is below WCAG's "large" size at 800x480 except
headlines, which get no discount here). Control boundaries, icons, marks and the change
between a control's normal and held-down look need 3:1 (non-text contrast, 1.4.11).
``python tests/test_ui_contrast.py`` prints the table.
"""

from __future__ import annotations

import pytest

from kiosk.ui import theme
from kiosk.ui.widgets import STYLE_NAMES, style

TEXT_AA = 4.5
NON_TEXT = 3.0


def luminance(color: theme.Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = color[:3]
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(a: theme.Color, b: theme.Color) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def pairs() -> list[tuple[str, theme.Color, theme.Color, float]]:
    """(what, foreground, background, minimum) for the palette in use."""
    t = theme
    found: list[tuple[str, theme.Color, theme.Color, float]] = []
    for name, bg in (("background", t.BACKGROUND), ("top bar", t.PANEL), ("busy box", t.PANEL_LIGHT), ("key", t.KEY), ("special key", t.KEY_SPECIAL)):
        found.append((f"text on {name}", t.TEXT, bg, TEXT_AA))
    for name, bg in (("background", t.BACKGROUND), ("top bar", t.PANEL), ("busy box", t.PANEL_LIGHT)):
        found.append((f"muted text on {name}", t.MUTED, bg, TEXT_AA))
    found += [
        ("error text on background", t.ERROR_TEXT, t.BACKGROUND, TEXT_AA),
        ("guidance (warn) on background", t.WARN, t.BACKGROUND, TEXT_AA),
        ("guidance (good) on background", t.GOOD_LIGHT, t.BACKGROUND, TEXT_AA),
        ("liveness prompt on background", t.PROMPT_TEXT, t.BACKGROUND, TEXT_AA),
        ("typed text on field", t.FIELD_TEXT, t.FIELD, TEXT_AA),
        ("placeholder on field", t.FIELD_MUTED, t.FIELD, TEXT_AA),
        ("held-down label", t.PRESSED_TEXT, t.PRESSED, TEXT_AA),
        ("submit key label", t.TEXT, t.ACCENT, TEXT_AA),
        ("active shift/caps icon", t.PRESSED_TEXT, t.ACCENT_LIGHT, NON_TEXT),
        ("check tick on its disc", t.TEXT, t.GOOD, NON_TEXT),
        ("cross on its disc", t.TEXT, t.ERROR, NON_TEXT),
        ("check disc vs background", t.GOOD, t.BACKGROUND, NON_TEXT),
        ("cross disc vs background", t.ERROR, t.BACKGROUND, NON_TEXT),
        ("open hint circle vs background", t.MUTED, t.BACKGROUND, NON_TEXT),
        ("key outline vs background", t.EDGE, t.BACKGROUND, NON_TEXT),
        ("button outline vs top bar", t.EDGE, t.PANEL, NON_TEXT),
        ("field caret / outline vs field", t.ACCENT, t.FIELD, NON_TEXT),
        ("field error outline vs field", t.ERROR, t.FIELD, NON_TEXT),
        ("field vs background", t.FIELD, t.BACKGROUND, NON_TEXT),
        ("eye icon on field", t.FIELD_TEXT, t.FIELD, NON_TEXT),
        ("progress fill vs track", t.GOOD_LIGHT, t.PANEL_LIGHT, NON_TEXT),
        ("countdown fill vs track", t.ACCENT_LIGHT, t.PANEL_LIGHT, NON_TEXT),
        ("shift on vs off", t.ACCENT_LIGHT, t.KEY_SPECIAL, NON_TEXT),
        ("key held vs key", t.PRESSED, t.KEY, NON_TEXT),
        ("special key held vs special key", t.PRESSED, t.KEY_SPECIAL, NON_TEXT),
        ("submit key held vs submit key", t.PRESSED, t.ACCENT, NON_TEXT),
    ]
    for name in STYLE_NAMES:
        fill, edge, label = style(name)
        found.append((f"{name} button label", label, fill, TEXT_AA))
        found.append((f"{name} button held vs normal", t.PRESSED, fill, NON_TEXT))
        found.append((f"{name} button boundary vs background", edge or fill, t.BACKGROUND, NON_TEXT))
    return found


@pytest.fixture(params=[False, True], ids=["standard", "high-contrast"])
def palette(request):
    theme.use(request.param)
    yield request.param
    theme.use(False)


def test_every_pair_meets_wcag_aa(palette):
    failing = [f"{what}: {ratio(fg, bg):.2f}:1 < {minimum}:1" for what, fg, bg, minimum in pairs() if ratio(fg, bg) < minimum]
    assert not failing, "\n".join(failing)


def test_high_contrast_is_higher_for_text(palette):
    if palette:
        assert ratio(theme.TEXT, theme.BACKGROUND) >= 15 and ratio(theme.MUTED, theme.BACKGROUND) >= 12


def test_the_ratio_is_wcags():
    assert ratio((255, 255, 255), (0, 0, 0)) == pytest.approx(21.0)
    assert ratio((242, 245, 249), (47, 128, 237)) == pytest.approx(3.54, abs=0.01)  # the old text on the old accent (the issue)


if __name__ == "__main__":
    for high in (False, True):
        theme.use(high)
        print(f"\n{'high contrast' if high else 'standard'} palette")
        for what, fg, bg, minimum in pairs():
            print(f"| {what} | {ratio(fg, bg):.2f} | {minimum} |")
