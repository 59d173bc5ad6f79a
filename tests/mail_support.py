"""An SMTP relay inside the test process (aiosmtpd), to which the kiosk talks with the
standard smtplib: it keeps what it receives, and can refuse (a chosen reply code) or be
down (its port closed) or hang (a listener that never answers). It can speak TLS
(STARTTLS or implicit) with certificates made here (``TestCa``), and take logins,
recording each AUTH it is sent and whether that connection was encrypted."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    encrypted: bool = False  # the connection it came over was TLS (implicit or STARTTLS)
    raw: bytes = b""  # as it came over the wire (DATA)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""

    def code(self) -> str | None:
        found = re.search(r"\b(\d{6})\b", self.body)  # the first 6-digit number, in any language
        return found.group(1) if found else None


@dataclass
class Login:
    user: str
    password: str
    encrypted: bool


class Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.logins: list[Login] = []  # every AUTH the relay was sent, right or wrong
        self.reply: str | None = None  # e.g. "550 no such user" or "451 try later"
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.reply is not None and self.reply.startswith("550"):
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None and not self.reply.startswith("550"):
            return self.reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,  # type: ignore[arg-type]
                                          encrypted=_encrypted(server), raw=bytes(envelope.original_content or envelope.content)))
            self.arrived.notify_all()
        return "250 Message accepted"


    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = Login(auth_data.login.decode(), auth_data.password.decode(), _encrypted(server))
        self.logins.append(login)
        return AuthResult(success=(login.user, login.password) == (RELAY_USER, RELAY_PASSWORD))


RELAY_USER = "kiosk"
RELAY_PASSWORD = "relay-secret-7"


def _encrypted(server: Any) -> bool:
    """The aiosmtpd connection is TLS: after STARTTLS, or implicit (its transport is SSL)."""
    transport = getattr(server, "_original_transport", None) or getattr(server, "transport", None)
    return server._tls_protocol is not None or (transport is not None and transport.get_extra_info("ssl_object") is not None)


class SmtpServer:
    """``tls``: "none", "starttls" (offers STARTTLS on a plain connection) or "tls"
    (implicit TLS from the first byte), with the certificate ``cert`` (a ``ServerCert``).
    ``logins``: the relay offers AUTH (``auth_require_tls``: only once encrypted, as a
    careful relay does; False is a relay, or a man in the middle, that takes a password in
    clear)."""

    def __init__(self, tls: str = "none", cert: "ServerCert | None" = None, logins: bool = False,
                 auth_require_tls: bool = True, require_starttls: bool = False) -> None:
        self.handler = Handler()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if tls != "none":
            assert cert is not None, "a TLS relay needs a certificate"
            context = cert.server_context()
            if tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=require_starttls)
            else:
                kwargs.update(ssl_context=context)
                # aiosmtpd sees no STARTTLS on an implicit-TLS connection, so it counts it as
                # plain for AUTH (aio-libs/aiosmtpd#281): the connection is TLS regardless.
                auth_require_tls = False
        if logins:
            kwargs.update(authenticator=self.handler.authenticate, auth_require_tls=auth_require_tls)
        self.tls = tls
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     server_hostname="localhost", **kwargs)
        self.controller.start()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.received) >= count, timeout)
        return list(self.handler.received)

    @property
    def logins(self) -> list[Login]:
        return self.handler.logins

    def stop(self) -> None:
        self.controller.stop()

    def mail_settings(self, **extra: Any) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "tls": "none", "sender": "kiosk@example.org",
                "kiosk_name": "Kiosk at the front desk", "timeout_s": 2.0, "retry_initial_s": 1.0, "retry_max_s": 4.0,
                "poll_s": 0.1, **extra}


class SilentListener:
    """Accepts connections and never says a word: a relay that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Certificates made in the test: a CA, and server certificates it signs.

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass
class ServerCert:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass
class TestCa:
    """A self-signed CA written to ``folder``/``name``-ca.pem; ``issue`` makes a server
    certificate for the given DNS names (and IP addresses) signed by it."""

    __test__ = False  # not a pytest class

    folder: Path
    name: str = "test"
    key: ec.EllipticCurvePrivateKey = field(init=False)
    cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"FaceKiosk {self.name} CA"))
            .issuer_name(_name(f"FaceKiosk {self.name} CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    @property
    def ca_file(self) -> Path:
        return self.folder / f"{self.name}-ca.pem"

    def issue(self, *names: str, ips: tuple[str, ...] = ()) -> ServerCert:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0] if names else ips[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = f"{self.name}-{names[0] if names else ips[0]}"
        cert_file, key_file = self.folder / f"{stem}.pem", self.folder / f"{stem}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        return ServerCert(cert_file, key_file)
