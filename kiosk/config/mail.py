"""Config section of outgoing email: confirmation codes and notices to account owners."""

from typing import Literal

from pydantic import Field, model_validator

from kiosk.config.base import Section


class MailSettings(Section):
    # The SMTP relay; "" sends no email (emails stay unconfirmed, no notices).
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    # starttls (upgrade on port 587), tls (TLS from the start, port 465) or none (a relay
    # on this machine or a trusted network only: no password is sent without TLS).
    tls: Literal["starttls", "tls", "none"] = "starttls"
    # The relay's certificate must be valid for host and signed by a CA of this PEM file
    # (relative to the config): a relay with a private CA. "" = the system's CA store.
    ca_file: str = ""
    # Login name at the relay ("" = no login); the password is the systemd credential
    # smtp-password, or the file password_file (mode 0600, relative to the config).
    user: str = ""
    password_file: str = ""
    # The From address of every email.
    sender: str = ""
    # How notices name this kiosk ("" = its database id).
    kiosk_name: str = ""
    # Seconds before a connection or a reply from the relay is given up.
    timeout_s: float = Field(10.0, gt=0.0, le=120.0)
    # A failed send is retried after retry_initial_s, doubling (with jitter) to
    # retry_max_s; a notice still unsent after notice_lifetime_s is dropped.
    retry_initial_s: float = Field(30.0, gt=0.0)
    retry_max_s: float = Field(3600.0, gt=0.0)
    notice_lifetime_s: float = Field(7 * 86400.0, gt=0.0)
    # A code (email confirmation) is valid this long, for this many wrong tries (a
    # confirmation code's counted fleet-wide, with waits past it: kiosk/store/limits.py).
    code_lifetime_s: float = Field(900.0, ge=60.0, le=86400.0)
    code_max_tries: int = Field(5, ge=1, le=20)
    # How often the sender looks for due emails when nothing wakes it.
    poll_s: float = Field(2.0, gt=0.0, le=60.0)

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @model_validator(mode="after")
    def _consistent(self) -> "MailSettings":
        if self.host and "@" not in self.sender:
            raise ValueError("sender: set the From address (name@example.org) when host is set")
        if self.tls == "none" and self.user:
            raise ValueError("tls: none would send the relay password in clear: use starttls or tls with a user")
        if self.retry_initial_s > self.retry_max_s:
            raise ValueError("retry_initial_s is longer than retry_max_s")
        return self
