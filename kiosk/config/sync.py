"""Config section of the Firebase Realtime Database sync (kiosk.sync)."""

import base64
import binascii
import re

from pydantic import Field, field_validator, model_validator

from kiosk.config.base import Section

# A kiosk id becomes a key in the database: letters, digits, '-' and '_' only.
_KIOSK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


class SyncSettings(Section):
    enabled: bool = False
    # https://<name>.firebaseio.com (or https://<name>.<region>.firebasedatabase.app).
    # An http://host:port?ns=<name> URL, or $FIREBASE_DATABASE_EMULATOR_HOST, means a local
    # emulator, which needs no credentials.
    database_url: str = ""
    # A service-account JSON key; the systemd credential 'firebase-service-account'
    # ($CREDENTIALS_DIRECTORY, LoadCredential=) wins over it.
    credentials_file: str = ""
    # This kiosk's name in the fleet (/kiosks/<id>), which is also who it is to the database
    # rules (auth.uid): needed with sync on ("": sync and `fleet request` refuse to start).
    kiosk_id: str = ""
    # Seconds before a request to the database is given up (then retried with backoff).
    http_timeout_s: float = Field(10.0, gt=0.0)
    # How often local changes are looked for when nothing wakes the sync thread.
    poll_s: float = Field(0.5, gt=0.0, le=60.0)
    # A full catch-up query runs this often even when the live stream looks healthy, and
    # re-reads this much before the newest change it has seen (server clocks and
    # in-flight writes).
    catchup_interval_s: float = Field(60.0, gt=0.0)
    catchup_overlap_s: float = Field(5.0, ge=0.0)
    # The kiosk writes a heartbeat (for `facekiosk fleet status`) this often. Its live
    # stream, on /ring, must deliver something within stream_silence_s (the server's
    # keep-alive events come about every 30 s) or it is considered dead and opened again.
    heartbeat_s: float = Field(30.0, gt=0.0)
    stream_silence_s: float = Field(90.0, gt=0.0)
    # After another kiosk's ring, catch up at a random moment within this many seconds, so
    # one change does not make every kiosk query at once: the server sees a change's
    # catch-ups spread over it (fleet size / ring_jitter_s queries per second). 0: at once.
    ring_jitter_s: float = Field(1.0, ge=0.0, le=300.0)
    # Retry delays after a failure: exponential from initial to max, with random jitter.
    backoff_initial_s: float = Field(1.0, gt=0.0)
    backoff_max_s: float = Field(60.0, gt=0.0)
    # A change the server refuses this many times (while it accepts this kiosk's heartbeat,
    # so not an outage nor a database refusing everything) is set aside with the server's
    # reason, so the changes behind it go on: `facekiosk fleet set-aside` lists them.
    max_push_tries: int = Field(5, ge=1, le=1000)
    # Users per request of the initial load and of catch-up queries.
    page_size: int = Field(500, ge=1, le=10000)
    # The fleet root's public key (base64, the line `facekiosk fleet init` prints): a cloud
    # record is applied only if its signature chains to it. Required when sync is enabled.
    fleet_root_key: str = ""
    # This kiosk's own key pair (JSON, mode 0600), made at first start if missing; the
    # systemd credential 'kiosk-identity' wins over it. Relative to the config file.
    identity_file: str = "kiosk-identity.json"
    # A cloud record stamped more than this many seconds after the server's current time
    # is quarantined and never moves the catch-up cursor.
    future_margin_s: float = Field(300.0, gt=0.0)
    # At most this many face templates in one pulled user record (more: quarantined).
    max_templates: int = Field(32, ge=1, le=1000)
    # Signed versions of each user record kept here (pulled or pushed), newest first, so
    # `facekiosk fleet rollback` can restore the last one a trusted kiosk signed. Each
    # writer's newest version is kept beyond this too, so a kiosk writing many versions
    # cannot push the others' out. A deletion erases them all.
    keep_versions: int = Field(3, ge=1, le=50)

    @field_validator("kiosk_id")
    @classmethod
    def _kiosk_id(cls, value: str) -> str:
        if value and not _KIOSK_ID.match(value):
            raise ValueError("must be 1 to 64 letters, digits, '-' or '_' (it is a database key)")
        return value

    @field_validator("fleet_root_key")
    @classmethod
    def _root_key(cls, value: str) -> str:
        if value:
            try:
                raw = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("must be base64 (the line `facekiosk fleet init` printed)") from None
            if len(raw) != 32:
                raise ValueError(f"must be a 32-byte Ed25519 public key in base64, not {len(raw)} bytes")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an https:// URL like https://my-project.firebaseio.com")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SyncSettings":
        if self.enabled and not self.database_url:
            raise ValueError("sync is enabled but database_url is empty")
        if self.ring_jitter_s >= self.catchup_interval_s:
            raise ValueError("ring_jitter_s must be shorter than catchup_interval_s (the periodic catch-up would come first)")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be smaller than backoff_initial_s")
        return self
