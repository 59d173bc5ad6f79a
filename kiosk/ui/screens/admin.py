"""The admin screen (behind the PIN): sync state, users, camera, model and version."""

from __future__ import annotations

import datetime as dt

import pygame

from kiosk.i18n import N_, Message
from kiosk.ui import theme
from kiosk.ui.screens.base import MessageScreen


class AdminScreen(MessageScreen):
    name = "admin"
    mark = None
    button_name = "close"

    def rows(self) -> list[tuple[Message, Message]]:
        flow = self.flow
        sync = flow.sync_status()
        if not sync.configured:
            sync_text: Message = N_("sync not configured")
        else:
            when = (
                dt.datetime.fromtimestamp(sync.last_success_at).strftime("%Y-%m-%d %H:%M")
                if sync.last_success_at
                else N_("never")
            )
            sync_text = N_("{state}, {pending} changes waiting, last success {when}{detail}", state=sync.state or "?", pending=sync.pending_changes, when=when, detail=f" ({sync.detail})" if sync.detail else "")
        users: Message = N_("counting...") if flow.session.user_count is None else str(flow.session.user_count)
        held = flow.session.held_for_review
        if held:
            users = N_("{users}; {held} sign-ups to review: facekiosk users review", users=users, held=held)
        error = self.ctx.camera_error()
        camera: Message = N_("unavailable: {error}", error=error) if error else N_("{fps} frames per second", fps=f"{flow.camera_fps():.1f}")
        return [
            (N_("Sync"), sync_text),
            (N_("Users"), users),
            (N_("Camera"), camera),
            (N_("Face models"), flow.info.model_id),
            (N_("Software version"), flow.info.version),
            (N_("Language"), flow.info.language),
        ]

    def draw_content(self) -> None:
        content = self.layout.content()
        buttons = self.button_area()
        area = pygame.Rect(content.left, content.top, content.width, buttons.top - content.top - self.layout.px(8))
        rows = self.rows()
        height = area.height // len(rows)
        label_w = int(area.width * 0.3)
        painter = self.ctx.painter
        for i, (label, value) in enumerate(rows):
            y = area.top + i * height
            painter.text(label, pygame.Rect(area.left, y, label_w - self.layout.px(8), height), theme.HINT, theme.MUTED, valign="middle", owner=f"label {i}")
            painter.text(value, pygame.Rect(area.left + label_w, y, area.width - label_w, height), theme.STAFF, valign="middle", max_lines=3, owner=f"value {i}")
