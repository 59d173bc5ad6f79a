"""Sending one email through the configured relay with the standard ``smtplib``."""

from __future__ import annotations

import email.message
import email.utils
import os
import smtplib
import socket
import ssl
from pathlib import Path
from typing import Callable, Mapping

from kiosk.config.mail import MailSettings
from kiosk.errors import ConfigError
from kiosk.secrets import check_secret_file

CREDENTIAL = "smtp-password"
NO_CREDENTIAL = b"none"


class SendError(Exception):
    """The relay did not take the email. ``permanent``: retrying will not help (the relay
    refused the address or the login)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def load_password(settings: MailSettings, resolve: Callable[[str], Path], environ: Mapping[str, str] | None = None) -> str:
    """The relay password: the systemd credential smtp-password, else password_file; ""
    when neither (no login). ConfigError if the file is readable by others."""
    environ = os.environ if environ is None else environ
    cred_dir = environ.get("CREDENTIALS_DIRECTORY", "")
    if cred_dir:
        path = Path(cred_dir) / CREDENTIAL
        try:
            data = path.read_bytes().strip()
        except OSError:
            data = b""
        if data and data != NO_CREDENTIAL:
            return data.decode("utf-8")
    if settings.password_file:
        path = resolve(settings.password_file)
        check_secret_file(path, "SMTP password file", environ)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"cannot read the SMTP password file {path}: {err.strerror}") from None
    return ""


def build_message(settings: MailSettings, recipient: str, subject: str, body: str) -> email.message.EmailMessage:
    message = email.message.EmailMessage()
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def send(settings: MailSettings, password: str, recipient: str, subject: str, body: str,
         context: ssl.SSLContext | None = None) -> None:
    """Hand one email to the relay; SendError (one line) if it does not take it."""
    message = build_message(settings, recipient, subject, body)
    context = context or ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if settings.tls == "tls":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        with client:
            client.ehlo()
            if settings.tls == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if settings.user:
                client.login(settings.user, password)
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as err:
        raise SendError(f"the relay refused the login: {err.smtp_code}", permanent=False) from None
    except smtplib.SMTPRecipientsRefused as err:
        codes = [code for code, _ in err.recipients.values()]
        raise SendError(f"the relay refused the recipient: {codes}", permanent=all(500 <= c < 600 for c in codes)) from None
    except smtplib.SMTPResponseException as err:
        raise SendError(f"the relay answered {err.smtp_code}", permanent=False) from None
    except (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError) as err:
        raise SendError(f"cannot reach the relay {settings.host}:{settings.port}: {type(err).__name__}: {err}") from None
