"""An SMTP relay inside the test process (aiosmtpd), to which the kiosk talks with the
standard smtplib: it keeps what it receives, and can refuse (a chosen reply code) or be
down (its port closed) or hang (a listener that never answers)."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""

    def code(self) -> str | None:
        found = re.search(r" is (\d{6})\b", self.body)
        return found.group(1) if found else None


class Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
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
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self.arrived.notify_all()
        return "250 Message accepted"


class SmtpServer:
    def __init__(self) -> None:
        self.handler = Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
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
