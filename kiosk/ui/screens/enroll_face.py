"""Sign-up face capture: live picture, guidance, and progress through the samples."""

from __future__ import annotations

import pygame

from kiosk.i18n import N_, NP_
from kiosk.ui import theme
from kiosk.ui.screens.base import FaceScreen
from kiosk.ui.screens.verify_face import hint_text
from kiosk.ui.widgets import draw_progress


class EnrollFaceScreen(FaceScreen):
    name = "enroll_face"

    def draw_content(self) -> None:
        preview, side = self.panels()
        self.draw_camera(preview)
        layout, painter = self.layout, self.ctx.painter
        if self.flow.liveness_progress() is not None:
            self.draw_liveness_side(side)
            return
        taken, needed = self.flow.capture_progress()
        guidance = pygame.Rect(side.left, side.top, side.width, layout.px(110))
        self.draw_guidance(guidance)
        bar = pygame.Rect(side.left, guidance.bottom + layout.px(12), side.width, layout.px(18))
        draw_progress(painter.surface, bar, taken / max(needed, 1))
        count = pygame.Rect(side.left, bar.bottom + layout.px(6), side.width, layout.px(30))
        painter.text(NP_("{taken} of {n} picture", "{taken} of {n} pictures", needed, taken=taken), count, theme.BODY, owner="progress")
        hint = pygame.Rect(side.left, count.bottom + layout.px(12), side.width, side.bottom - count.bottom - layout.px(12))
        painter.text(
            N_("Look at the camera, about an arm's length away. Move your head a little between pictures."),
            hint,
            theme.HINT,
            theme.MUTED,
            owner="hint",
        )

    def draw_liveness_side(self, side: pygame.Rect) -> None:
        """Before the pictures are taken: the liveness challenge's guidance and hint."""
        layout, painter = self.layout, self.ctx.painter
        guidance = pygame.Rect(side.left, side.top, side.width, layout.px(150))
        self.draw_guidance(guidance)
        rest = self.draw_challenge(pygame.Rect(side.left, guidance.bottom + layout.px(6), side.width, side.bottom - guidance.bottom - layout.px(6)))
        if self.flow.liveness_prompt() is None:
            painter.text(hint_text(self.flow), rest, theme.HINT, theme.MUTED, owner="hint")
