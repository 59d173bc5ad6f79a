"""Forgot password: the face check, with a live picture and a countdown.

During the liveness challenge the guidance line says the prompt ("Turn your head to your
left"), with its arrow or eye and the step count under it (FaceScreen.draw_challenge).
"""

from __future__ import annotations

import math

import pygame

from kiosk.flows.machine import Flow
from kiosk.i18n import N_, NP_, Text
from kiosk.ui import theme
from kiosk.ui.screens.base import FaceScreen
from kiosk.ui.widgets import draw_progress


class VerifyFaceScreen(FaceScreen):
    name = "verify_face"

    def draw_content(self) -> None:
        preview, side = self.panels()
        self.draw_camera(preview)
        layout, painter = self.layout, self.ctx.painter
        challenge = self.flow.liveness_progress() is not None
        guidance = pygame.Rect(side.left, side.top, side.width, layout.px(150 if challenge else 110))
        self.draw_guidance(guidance)
        if challenge:
            # The prompt's own bar shows the time there is to answer it; the overall
            # limit, which nobody can act on, is not shown as a countdown.
            rest = self.draw_challenge(pygame.Rect(side.left, guidance.bottom + layout.px(6), side.width, side.bottom - guidance.bottom - layout.px(6)))
            if self.flow.liveness_prompt() is None:
                painter.text(hint_text(self.flow), rest, theme.HINT, theme.MUTED, owner="hint")
            return
        left = self.flow.countdown_s() or 0.0
        total = self.flow.config.verify_timeout_s
        seconds = pygame.Rect(side.left, guidance.bottom + layout.px(8), side.width, layout.px(44))
        painter.text(NP_("{n} second left", "{n} seconds left", math.ceil(left)), seconds, theme.TITLE, owner="countdown")
        bar = pygame.Rect(side.left, seconds.bottom + layout.px(4), side.width, layout.px(14))
        draw_progress(painter.surface, bar, left / total if total else 0.0, theme.ACCENT_LIGHT)
        hint = pygame.Rect(side.left, bar.bottom + layout.px(14), side.width, side.bottom - bar.bottom - layout.px(14))
        painter.text(hint_text(self.flow), hint, theme.HINT, theme.MUTED, owner="hint")


def hint_text(flow: Flow) -> Text:
    if flow.liveness_progress() is not None:
        return N_("Do what the screen asks, as soon as it asks: turn your head or blink. Only your face should be in the picture.")
    return N_("Look at the camera until we recognise you. Only your face should be in the picture.")
