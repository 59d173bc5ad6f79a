"""Config sections of the local user store and account security."""

from pydantic import Field, model_validator

from kiosk.config.base import Section


class StoreSettings(Section):
    # Empty: $STATE_DIRECTORY/facekiosk.db under systemd, else var/facekiosk.db beside the config.
    path: str = ""
    # The folder systemd gives the service (StateDirectory=facekiosk): with path empty,
    # admin commands run outside the service use the database there when it exists.
    service_state_dir: str = "/var/lib/facekiosk"
    encrypt_templates: bool = True
    # Used when no systemd credential named template-key is present.
    key_file: str = ""


class PasswordSettings(Section):
    min_length: int = Field(8, ge=1, le=1024)
    max_length: int = Field(256, ge=1, le=4096)
    # zxcvbn score a new password needs: 0 accepts anything, 3 "safely unguessable".
    min_strength: int = Field(3, ge=0, le=4)
    # Words a guesser of any account here would try first (with the email's own parts).
    context_words: list[str] = Field(default_factory=lambda: ["facekiosk", "kiosk", "face", "password"], max_length=100)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(1, ge=1, le=255)

    @model_validator(mode="after")
    def _consistent(self) -> "PasswordSettings":
        if self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) is larger than max_length ({self.max_length})")
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ValueError("argon2_memory_kib must be at least 8 times argon2_parallelism")
        return self


class LockoutSettings(Section):
    max_failures: int = Field(5, ge=1)  # per email, within the window
    kiosk_max_failures: int = Field(30, ge=1)  # per kiosk, within the window
    window_s: float = Field(900.0, gt=0)
    lockout_s: float = Field(900.0, gt=0)
    # Fleet-wide, per account (kiosk/store/limits.py): consecutive failed face attempts
    # before waits start, the first wait and its cap (each further failure doubles it)...
    face_free_tries: int = Field(5, ge=1, le=100)
    face_wait_s: float = Field(60.0, gt=0)
    face_wait_max_s: float = Field(86400.0, gt=0)
    # ...and failed password attempts after which the password is locked until a face reset
    # or `facekiosk users unlock` (NIST SP 800-63B: at most 100).
    password_max_failures: int = Field(100, ge=1, le=100)

    @model_validator(mode="after")
    def _waits(self) -> "LockoutSettings":
        if self.face_wait_s > self.face_wait_max_s:
            raise ValueError(f"face_wait_s ({self.face_wait_s}) is longer than face_wait_max_s ({self.face_wait_max_s})")
        return self


class AuditSettings(Section):
    hash_emails: bool = True
    store_images: bool = False
    image_retention_days: int = Field(7, ge=0)
    # Audit entries older than this are erased (at start and with every face attempt).
    retention_days: int = Field(90, ge=1)
