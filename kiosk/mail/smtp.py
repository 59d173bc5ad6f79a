"""Sending one email through the configured relay with the standard ``smtplib``.

With ``tls: starttls`` or ``tls`` the relay's certificate must be valid for ``host`` and
chain to a CA of ``ca_file`` (else the system's store); a relay that does not offer
STARTTLS is refused, never used in plain text; the login is only ever sent after TLS is
up (``tls: none`` with a user is refused by the config).
"""

from __future__ import annotations

import contextlib
import email.message
import email.utils
import os
import smtplib
import socket
import ssl
from pathlib import Path
from typing import Callable, Iterator, Mapping

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
    # UTF-8, quoted-printable: umlauts arrive whole through any relay, with or without
    # 8BITMIME; a non-ASCII subject is encoded as RFC 2047 by the email package.
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    return message


def client_context(settings: MailSettings, resolve: Callable[[str], Path]) -> ssl.SSLContext:
    """The TLS context the relay is checked with: certificate and host name verified,
    TLS 1.2 or later, trusting ``ca_file`` only when it is set, else the system's CAs.
    ConfigError (one line) if ``ca_file`` cannot be read as PEM certificates."""
    if not settings.ca_file:
        return ssl.create_default_context()
    path = resolve(settings.ca_file)
    try:
        context = ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise ConfigError(f"mail.ca_file: {path} does not exist") from None
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise ConfigError(f"mail.ca_file: {path} is not a readable PEM file of CA certificates ({reason})") from None
    if not context.get_ca_certs():
        raise ConfigError(f"mail.ca_file: {path} holds no CA certificate")
    return context


@contextlib.contextmanager
def connect(settings: MailSettings, password: str, context: ssl.SSLContext) -> Iterator[smtplib.SMTP]:
    """A session with the relay, encrypted as ``tls`` says and logged in if ``user`` is
    set. smtplib refuses on its own to go on when STARTTLS is not offered
    (SMTPNotSupportedError), and the login comes only after that."""
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
            if settings.tls == "none" or client.sock is None or not isinstance(client.sock, ssl.SSLSocket):
                raise SendError("the relay login would go without TLS: not sent", permanent=False)
            client.login(settings.user, password)
        yield client


def describe(settings: MailSettings, err: BaseException) -> str:
    """One line for a failure to talk to the relay, naming the fix where there is one."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(err, ssl.SSLCertVerificationError):
        return (f"the relay {where} presented a certificate the kiosk does not trust ({err.verify_message}): not sent; "
                f"a relay with a private CA needs mail.ca_file")
    if isinstance(err, smtplib.SMTPNotSupportedError) and settings.tls == "starttls":
        return f"the relay {where} does not offer STARTTLS: not sent in plain text (mail.tls is starttls)"
    return f"cannot reach the relay {where}: {type(err).__name__}: {err}"


def send(settings: MailSettings, password: str, recipient: str, subject: str, body: str,
         context: ssl.SSLContext | None = None) -> None:
    """Hand one email to the relay; SendError (one line) if it does not take it.
    ``context``: from :func:`client_context` (default: the system's CAs)."""
    message = build_message(settings, recipient, subject, body)
    context = context or ssl.create_default_context()
    try:
        with connect(settings, password, context) as client:
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as err:
        raise SendError(f"the relay refused the login: {err.smtp_code}", permanent=False) from None
    except smtplib.SMTPRecipientsRefused as err:
        codes = [code for code, _ in err.recipients.values()]
        raise SendError(f"the relay refused the recipient: {codes}", permanent=all(500 <= c < 600 for c in codes)) from None
    except smtplib.SMTPResponseException as err:
        raise SendError(f"the relay answered {err.smtp_code}", permanent=False) from None
    except (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError) as err:
        raise SendError(describe(settings, err)) from None
