"""What every screen shares: the top bar with Back and Start over, text entry with the
keyboard, the camera panel, and result pages with a few buttons."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pygame

from kiosk.flows.faces import FaceObservation
from kiosk.flows.machine import Flow
from kiosk.flows.session import START_OVER
from kiosk.flows.steps import Action
from kiosk.flows.validation import Check
from kiosk.i18n import N_, NP_, Message, Text
from kiosk.ui import theme
from kiosk.ui.events import Pointer
from kiosk.ui.keyboard import Keyboard
from kiosk.ui.layout import MIN_CONTROL, Layout
from kiosk.ui.prefs import Preferences
from kiosk.ui.preview import draw_preview
from kiosk.ui.text import Painter
from kiosk.ui.widgets import Button, Pressable, TextField, draw_mark, draw_progress, draw_prompt_icon, draw_wait, rounded


# A button to build: its label, what it does, its style and its name (tests, the demo).
ButtonSpec = tuple[Message, Callable[[], None], str, str]


@dataclass
class Context:
    layout: Layout
    painter: Painter
    flow: Flow
    mirror_preview: bool
    frame: Callable[[], np.ndarray | None]  # the newest camera picture
    observation: Callable[[], FaceObservation | None]  # the newest face result, if fresh
    camera_error: Callable[[], str | None]
    clock: Callable[[], float]
    # The visit's preferences (kiosk.ui.prefs), set by the app once it is built.
    prefs: Callable[[], Preferences] = Preferences
    change_prefs: Callable[..., None] = lambda **_: None
    show_help: Callable[[], None] = lambda: None


class Screen:
    """Draws the steps whose ``screen`` is this class's ``name``; the title is the step's."""

    name = "screen"
    top_bar = True

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.widgets: list[Pressable] = []

    @property
    def flow(self) -> Flow:
        return self.ctx.flow

    @property
    def layout(self) -> Layout:
        return self.ctx.layout

    def enter(self) -> None:
        """The flow has just come to this screen's step: fresh widgets, nothing held."""
        self.widgets = self.top_bar_widgets() + self.build()

    def build(self) -> list[Pressable]:
        return []

    def top_bar_widgets(self) -> list[Pressable]:
        if not self.top_bar:
            return []
        widgets: list[Pressable] = [
            Button(self.layout.start_over_button(), START_OVER, lambda: self.flow.act(Action.START_OVER), "secondary", name="start over")
        ]
        if self.flow.can_go_back:
            widgets.append(Button(self.layout.back_button(), N_("Back"), lambda: self.flow.act(Action.BACK), "secondary", name="back"))
        return widgets

    def pointer(self, pointer: Pointer, now: float) -> None:
        for widget in self.widgets:
            if widget.handle(pointer):
                return

    def update(self, now: float) -> None:
        """Per-frame work besides drawing (key repeat)."""

    def heading(self) -> Message | None:
        return self.flow.step.title

    def spoken(self) -> list[Message | None]:
        """What ``ui.speech: screens`` says when the screen appears: its title."""
        return [self.heading()]

    def draw(self) -> None:
        painter = self.ctx.painter
        painter.owner = self.name
        painter.surface.fill(theme.BACKGROUND)
        if self.top_bar:
            pygame.draw.rect(painter.surface, theme.PANEL, self.layout.top_bar())
            heading = self.heading()
            if heading is not None:
                painter.text(heading, self.layout.title_area(self.flow.can_go_back), theme.TITLE, valign="middle", max_lines=2, owner="title")
        self.draw_content()
        for widget in self.widgets:
            if isinstance(widget, Button):
                widget.draw(painter)
        busy = self.flow.busy
        if busy is not None:
            self.draw_busy(busy)

    def draw_content(self) -> None:
        pass

    def draw_busy(self, message: Text) -> None:
        painter = self.ctx.painter
        bar = self.layout.top_bar().bottom if self.top_bar else 0
        area = pygame.Rect(0, bar, self.layout.width, self.layout.height - bar)
        shade = pygame.Surface(area.size, pygame.SRCALPHA)
        shade.fill(theme.OVERLAY)
        painter.surface.blit(shade, area)
        box = pygame.Rect(0, 0, min(area.width, self.layout.px(420)), self.layout.px(90))
        box.center = area.center
        rounded(painter.surface, box, theme.PANEL_LIGHT, self.layout.px(10))
        rounded(painter.surface, box, theme.EDGE, self.layout.px(10), width=max(2, self.layout.px(2)))
        # A turning arc, so the wait visibly goes on.
        radius = self.layout.px(22)
        spinner = pygame.Rect(box.left + self.layout.px(16), box.centery - radius, 2 * radius, 2 * radius)
        start = (self.ctx.clock() * 2 * math.pi) % (2 * math.pi)
        pygame.draw.arc(painter.surface, theme.ACCENT_LIGHT, spinner, start, start + 4.2, max(3, self.layout.px(5)))
        text = pygame.Rect(spinner.right + self.layout.px(12), box.top + self.layout.px(6), box.right - spinner.right - self.layout.px(24), box.height - self.layout.px(12))
        painter.text(message, text, theme.TITLE, align="center", valign="middle", owner="busy")

    def draw_check(self, check: Check, box: pygame.Rect, error: bool = False, size: theme.Role = theme.BODY) -> None:
        """One feedback line: a mark and its text. ``error`` shows a hint as an error."""
        painter = self.ctx.painter
        line = painter.role_font(size).get_linesize()
        radius = min(box.height // 2, self.layout.px(11))
        center = (box.left + radius, box.top + max(radius, line // 2))
        hint = check.hint and not error
        draw_mark(painter.surface, center, radius, check.ok, hint=hint)
        text_box = pygame.Rect(box.left + 2 * radius + self.layout.px(8), box.top, box.width - 2 * radius - self.layout.px(8), box.height)
        color = theme.TEXT if check.ok else (theme.MUTED if hint else theme.ERROR_TEXT)
        if size is not theme.HINT and not painter.fit(painter.translate(check.text), text_box, size, max_lines=2)[2]:
            size = theme.HINT  # a long message: hint-sized rather than cut
        painter.text(check.text, text_box, size, color, max_lines=2, owner="feedback")

    def buttons_row(self, specs: list[ButtonSpec], area: pygame.Rect) -> list[Button]:
        """Buttons side by side across ``area`` (label, action, style, name)."""
        gap = self.layout.px(12)
        width = (area.width - gap * (len(specs) - 1)) // max(1, len(specs))
        return [
            Button(pygame.Rect(area.left + i * (width + gap), area.top, width, area.height), label, action, style, name=name)
            for i, (label, action, style, name) in enumerate(specs)
        ]


class EntryScreen(Screen):
    """A field and the keyboard: email, passwords, PIN."""

    keyboard_kind = "text"
    masked = False
    placeholder: Message = ""

    @property
    def submit_label(self) -> Message:
        return self.flow.step.submit_label or N_("Next")

    def enter(self) -> None:
        self.field = TextField(self.layout.field(), self.masked, self.placeholder, with_eye=self.masked)
        if self.field.eye is not None:
            # The eye is a control: 60 design px square, though the field is less tall.
            side = self.layout.px(MIN_CONTROL)
            self.field.eye.rect = pygame.Rect(self.field.rect.right - side, self.field.rect.centery - side // 2, side, side)
        self.keyboard = Keyboard(
            self.layout, self.keyboard_kind, self.flow.insert, self.flow.backspace, self.flow.submit, self.submit_label,
            language=self.ctx.painter.catalog.language,
        )
        super().enter()
        if self.field.eye is not None:
            self.widgets.append(self.field.eye)

    def pointer(self, pointer: Pointer, now: float) -> None:
        if self.keyboard.handle(pointer, now):
            return
        super().pointer(pointer, now)

    def update(self, now: float) -> None:
        self.keyboard.update(now)

    def feedback(self, box: pygame.Rect) -> None:
        """What to say under the field; by default the flow's message."""
        message = self.flow.session.message
        if message is not None:
            self.draw_check(Check(False, message), box, error=self.flow.session.message_is_error)

    def draw_content(self) -> None:
        session = self.flow.session
        self.field.draw(self.ctx.painter, self.flow.text, error=session.message is not None and session.message_is_error)
        self.feedback(self.layout.feedback())
        self.keyboard.draw(self.ctx.painter)


class FaceScreen(Screen):
    """The camera picture on the left, guidance and progress on the right."""

    def panels(self) -> tuple[pygame.Rect, pygame.Rect]:
        content = self.layout.content()
        preview_w = min(int(content.height * 4 / 3), int(content.width * 0.64))
        preview = pygame.Rect(content.left, content.top, preview_w, content.height)
        gap = self.layout.px(12)
        side = pygame.Rect(preview.right + gap, content.top, content.right - preview.right - gap, content.height)
        return preview, side

    def draw_camera(self, box: pygame.Rect) -> None:
        image = self.ctx.frame()
        area = draw_preview(self.ctx.painter.surface, box, image, self.ctx.observation(), self.ctx.mirror_preview)
        if area is None:
            message = N_("Camera unavailable. Please ask staff for help.") if self.ctx.camera_error() else N_("Starting the camera...")
            self.ctx.painter.text(message, box.inflate(-self.layout.px(24), -self.layout.px(24)), theme.BODY, theme.MUTED, align="center", valign="middle", owner="camera")

    def draw_challenge(self, box: pygame.Rect) -> pygame.Rect:
        """During a liveness challenge, at the top of ``box``: with a prompt on screen its
        arrow or eye, which prompt of how many, and a bar draining over the time there is
        to answer; between prompts only the count. Returns the rest of ``box``."""
        progress = self.flow.liveness_progress()
        if progress is None:
            return box
        layout, painter = self.layout, self.ctx.painter
        index, total = progress
        prompt = self.flow.liveness_prompt()
        step = N_("Step {n} of {total}", n=min(index + 1, total), total=total)
        if prompt is None:
            label = pygame.Rect(box.left, box.top, box.width, layout.px(40))
            painter.text(step, label, theme.HINT, theme.MUTED, valign="middle", owner="challenge")
            return pygame.Rect(box.left, label.bottom + layout.px(6), box.width, box.bottom - label.bottom - layout.px(6))
        size = min(layout.px(96), box.width)
        icon = pygame.Rect(box.left, box.top, size, size)
        draw_prompt_icon(painter.surface, icon.inflate(-layout.px(10), -layout.px(10)), prompt, theme.PROMPT_TEXT)
        label = pygame.Rect(icon.right + layout.px(10), box.top, box.right - icon.right - layout.px(10), size // 2)
        painter.text(step, label, theme.HINT, theme.MUTED, valign="middle", owner="challenge")
        left = self.flow.liveness_answer_left()
        if left is not None:
            bar = pygame.Rect(label.left, label.bottom + layout.px(8), label.width, layout.px(16))
            draw_progress(painter.surface, bar, left, theme.PROMPT_TEXT)
        return pygame.Rect(box.left, icon.bottom + layout.px(6), box.width, box.bottom - icon.bottom - layout.px(6))

    def draw_guidance(self, box: pygame.Rect) -> None:
        guidance = self.flow.face_guidance()
        if guidance is not None:
            if self.flow.liveness_prompt() is not None:
                # A prompt: large, in its own colour (never the success green).
                self.ctx.painter.text(guidance, box, theme.PROMPT, theme.PROMPT_TEXT, max_lines=3, owner="guidance")
                return
            observation = self.ctx.observation()
            color = theme.GOOD_LIGHT if observation is not None and observation.good else theme.WARN
            self.ctx.painter.text(guidance, box, theme.TITLE, color, owner="guidance")


class MessageScreen(Screen):
    """A result: a coloured mark, a heading, an explanation and buttons."""

    mark: str | None = "good"  # "good", "bad", "wait" or None
    button_name = "done"  # the main button's name, for tests and the demo

    def headline(self) -> Message | None:
        return self.flow.message()[0]

    def body(self) -> Message | None:
        return self.flow.message()[1]

    def spoken(self) -> list[Message | None]:
        """The title, the headline and the explanation (one holding an address is left
        out: kiosk.ui.speech.speakable)."""
        return [self.heading(), self.headline(), self.body()]

    def actions(self) -> list[ButtonSpec]:
        """One button that ends the journey, labelled as the step says (Done, Sign out...)."""
        label = self.flow.step.submit_label or N_("Done")
        return [(label, lambda: self.flow.act(Action.FINISH), "primary", self.button_name)]

    def button_area(self) -> pygame.Rect:
        content = self.layout.content()
        height = self.layout.px(64)
        return pygame.Rect(content.left, content.bottom - height, content.width, height)

    def build(self) -> list[Pressable]:
        return list(self.buttons_row(self.actions(), self.button_area()))

    def draw_content(self) -> None:
        content = self.layout.content()
        buttons = self.button_area()
        area = pygame.Rect(content.left, content.top, content.width, buttons.top - content.top - self.layout.px(12))
        left = self.flow.timeout_left() if self.flow.step.result else None
        if left is not None:
            # A result screen closes by itself: say when.
            line = pygame.Rect(area.left, area.bottom - self.layout.px(30), area.width, self.layout.px(30))
            self.ctx.painter.text(
                NP_("This screen closes in {n} second.", "This screen closes in {n} seconds.", math.ceil(left)),
                line, theme.HINT, theme.MUTED, align="right", valign="bottom", owner="closes",
            )
            area.height -= line.height + self.layout.px(6)
        text_left = area.left + self.layout.px(8)
        surface = self.ctx.painter.surface
        if self.mark is not None:
            radius = self.layout.px(34)
            center = (area.left + radius + self.layout.px(8), area.top + radius + self.layout.px(12))
            if self.mark == "wait":
                draw_wait(surface, center, radius)
            else:
                draw_mark(surface, center, radius, ok=self.mark == "good")
            text_left = center[0] + radius + self.layout.px(20)
        box = pygame.Rect(text_left, area.top + self.layout.px(16), area.right - text_left - self.layout.px(8), area.height - self.layout.px(16))
        items: list[tuple[Message, theme.Role, theme.Color]] = []
        headline, body = self.headline(), self.body()
        if headline is not None:
            items.append((headline, theme.HUGE, theme.TEXT))
        if body is not None:
            items.append((body, theme.BODY, theme.MUTED))
        if items:
            self.ctx.painter.paragraphs(items, box, self.layout.px(16), owner="message")
