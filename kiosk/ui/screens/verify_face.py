"""Forgot password: the face check, with a live picture and a countdown.

The liveness challenge (issue 8) will show its prompts through the verifier's
``prompt``, which ``flow.face_guidance()`` already returns first.
"""

from __future__ import annotations

import math

import pygame

from kiosk.i18n import N_, NP_
from kiosk.ui import theme
from kiosk.ui.screens.base import FaceScreen
from kiosk.ui.widgets import draw_progress


class VerifyFaceScreen(FaceScreen):
    name = "verify_face"
    title = N_("Forgot password: show your face")

    def draw_content(self) -> None:
        preview, side = self.panels()
        self.draw_camera(preview)
        layout, painter = self.layout, self.ctx.painter
        guidance = pygame.Rect(side.left, side.top, side.width, layout.px(110))
        self.draw_guidance(guidance)
        left = self.flow.countdown_s() or 0.0
        total = self.flow.config.verify_timeout_s
        seconds = pygame.Rect(side.left, guidance.bottom + layout.px(8), side.width, layout.px(44))
        painter.text(NP_("{n} second left", "{n} seconds left", math.ceil(left)), seconds, theme.TITLE, owner="countdown")
        bar = pygame.Rect(side.left, seconds.bottom + layout.px(4), side.width, layout.px(14))
        draw_progress(painter.surface, bar, left / total if total else 0.0, theme.ACCENT)
        hint = pygame.Rect(side.left, bar.bottom + layout.px(14), side.width, side.bottom - bar.bottom - layout.px(14))
        painter.text(N_("Look at the camera until we recognise you. Only your face should be in the picture."), hint, theme.SMALL, theme.MUTED, owner="hint")
