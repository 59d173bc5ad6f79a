"""Config section of the touch screen interface."""

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kiosk.config.base import Section


class UiSettings(Section):
    # Cover the whole screen, and the display size to use (0 x 0: the display's own size).
    fullscreen: bool = True
    width: int = Field(0, ge=0, le=7680)
    height: int = Field(0, ge=0, le=4320)
    # Language of all text on screen (gettext catalogs in kiosk/i18n); a person can switch
    # it on the start screen for their visit.
    language: Literal["en", "de"] = "en"
    # How the kiosk starts each visit; a person can switch both on the start screen, and
    # they return to these when the visit ends.
    large_text: bool = False
    high_contrast: bool = False
    # What the start screen's Help button shows, per language (how to get staff help:
    # the desk, a phone number); a language without one gets a general sentence.
    help_text: dict[Literal["en", "de"], str] = Field(default_factory=dict)
    # A screen left untouched this long returns to the start screen and forgets what was
    # typed; a result screen ("done", "welcome") after result_timeout_s.
    idle_timeout_s: float = Field(60.0, gt=0.0)
    result_timeout_s: float = Field(10.0, gt=0.0)
    # This long before the idle timeout a "Need more time?" dialog counts down (with a
    # sound); a tap on "More time" starts the timeout again. 0 turns the dialog off.
    idle_warning_s: float = Field(20.0, ge=0.0)
    # The argon2id hash of the admin PIN (facekiosk admin set-pin), which opens the admin
    # screen from a corner button; the systemd credential admin-pin-hash wins over it; ""
    # and no credential hides the button.
    admin_pin_hash: str = ""
    # Face pictures taken at sign-up, at least this far apart, within capture_timeout_s.
    enroll_samples: int = Field(5, ge=1, le=20)
    enroll_sample_interval_s: float = Field(0.4, ge=0.0)
    capture_timeout_s: float = Field(30.0, gt=0.0)
    # Password reset: seconds the person has to show their face, and how many clear
    # pictures must all fail to match before the attempt counts as failed.
    verify_timeout_s: float = Field(15.0, gt=0.0)
    verify_good_frames: int = Field(3, ge=1)
    # Show the camera picture mirrored, as people expect of a screen facing them.
    mirror_preview: bool = True
    # A short sound with each liveness prompt and with the "Need more time?" warning
    # (pygame's mixer; silent, with one log line, where there is no audio device).
    sound: bool = True
    sound_volume: float = Field(0.8, ge=0.0, le=1.0)
    # Spoken text (espeak-ng, in the visit's language, at sound_volume): "prompts" says the
    # liveness challenge's introduction and prompts and the "Need more time?" warning,
    # the moments a person may not be looking at the screen; "screens" also each screen's
    # title, result and face guidance; "off" never speaks. Typed text and email addresses
    # are never spoken (ui.sound: false does not silence speech). speech_rate_wpm: words
    # per minute (eSpeak's own default is 175).
    speech: Literal["off", "prompts", "screens"] = "prompts"
    speech_rate_wpm: int = Field(150, ge=80, le=300)
    # Upper limit of screen redraws per second.
    max_fps: int = Field(30, ge=5, le=240)
    # A TrueType font file for all text; "" uses DejaVu Sans (fonts-dejavu-core).
    font: str = ""

    @model_validator(mode="before")
    @classmethod
    def _plain_pin(cls, data: Any) -> Any:
        if isinstance(data, dict) and "admin_pin" in data:
            raise ValueError("admin_pin (a PIN in plain text) was replaced by admin_pin_hash: "
                             "run facekiosk admin set-pin and put its line here, or its --out file in the credential")
        return data

    @field_validator("admin_pin_hash")
    @classmethod
    def _pin_hash(cls, value: str) -> str:
        from kiosk.store.admin_pin import valid_hash

        if value and not valid_hash(value):
            raise ValueError("must be an argon2id hash ($argon2id$...) made by facekiosk admin set-pin, or empty")
        return value

    @field_validator("help_text")
    @classmethod
    def _help(cls, value: dict[Literal["en", "de"], str]) -> dict[Literal["en", "de"], str]:
        for language, text in value.items():
            if len(text) > 300:
                raise ValueError(f"{language}: at most 300 characters (the help box shows it at a readable size)")
        return value

    @model_validator(mode="after")
    def _warning(self) -> "UiSettings":
        if self.idle_warning_s and self.idle_warning_s >= self.idle_timeout_s:
            raise ValueError(f"idle_warning_s ({self.idle_warning_s:g}) must be shorter than idle_timeout_s ({self.idle_timeout_s:g}), or 0")
        return self

    @model_validator(mode="after")
    def _size(self) -> "UiSettings":
        if (self.width == 0) != (self.height == 0):
            raise ValueError("set both width and height, or neither (0 uses the display's size)")
        if self.width and (self.width < 320 or self.height < 240):
            raise ValueError(f"{self.width}x{self.height} is smaller than the 320x240 the screens can fit")
        return self
