"""The thread that sends queued emails, with retries and backoff; never the UI's thread."""

from __future__ import annotations

import logging
import random
import ssl
import threading
from typing import TYPE_CHECKING, Callable, Mapping

from kiosk.config.mail import MailSettings
from kiosk.mail.smtp import SendError, client_context, load_password, send
from kiosk.store import mail as queue

if TYPE_CHECKING:
    from kiosk.config import Settings
    from kiosk.store.service import Store

Sender = Callable[[MailSettings, str, str, str, str], None]


def retry_delay(settings: MailSettings, attempts: int, rng: random.Random) -> float:
    """retry_initial_s doubling per attempt up to retry_max_s, less up to a fifth (jitter)."""
    base = min(settings.retry_max_s, settings.retry_initial_s * 2.0 ** min(attempts, 30))
    return base * (1.0 - 0.2 * rng.random())


class MailWorker:
    """Sends what the store's mail queue holds. ``open_store`` is called on the worker's
    own thread (a store belongs to one thread); ``password`` is the relay's; ``context``
    the TLS context the relay is checked with (default: the system's CAs).

    A failure that repeats (the relay down, or its certificate refused) is logged once,
    when it starts, and again only when it changes or the relay takes email again."""

    def __init__(self, settings: MailSettings, open_store: Callable[[], Store], password: str = "",
                 logger: logging.Logger | None = None, sender: Sender | None = None,
                 context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._open_store = open_store
        self._password = password
        self._context = context
        self._send = sender or (lambda s, pw, to, subject, body: send(s, pw, to, subject, body, context=self._context))
        self.logger = logger or logging.getLogger("kiosk.mail")
        self._failing: str | None = None  # the error last logged, while it lasts
        self._rng = random.Random()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail", daemon=True)
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, open_store: Callable[[], Store], environ: Mapping[str, str] | None = None,
                      logger: logging.Logger | None = None) -> MailWorker:
        """The worker as the kiosk runs it: the relay password from its credential or
        file, the TLS context from ``mail.ca_file``. ConfigError (one line) if either
        cannot be read."""
        mail = settings.mail
        return cls(mail, open_store, load_password(mail, settings.resolve, environ), logger=logger,
                   context=client_context(mail, settings.resolve))

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (a store job just queued an email)."""
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> bool:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            store = self._open_store()
        except Exception as err:  # noqa: BLE001 - the kiosk runs on without email
            self.logger.error("mail: cannot open the store: %s", err)
            return
        try:
            while not self._stop.is_set():
                self.send_due(store)
                wait = queue.next_due_in(store)
                self._wake.wait(self.settings.poll_s if wait is None else min(self.settings.poll_s, max(wait, 0.05)))
                self._wake.clear()
        finally:
            store.close()

    def send_due(self, store: Store) -> int:
        """Send every email due now; returns how many went out."""
        count = 0
        for mail in queue.due(store):
            if self._stop.is_set():
                break
            try:
                self._send(self.settings, self._password, mail.recipient, mail.subject, mail.body)
            except SendError as err:
                delay = retry_delay(self.settings, mail.attempts, self._rng)
                queue.mark_failed(store, mail.id, str(err), delay, permanent=err.permanent)
                self.failed += 1
                self.last_error = str(err)
                if err.permanent:
                    self.logger.warning("mail: %s not sent (%s); dropped", mail.kind, err)
                elif str(err) != self._failing:
                    self._failing = str(err)
                    self.logger.warning("mail: %s not sent (%s); retry in %.0f s, with backoff "
                                        "(not logged again while this lasts)", mail.kind, err, delay)
                else:
                    self.logger.debug("mail: %s not sent (%s); retry in %.0f s", mail.kind, err, delay)
                continue
            queue.mark_sent(store, mail.id)
            self.sent += 1
            count += 1
            if self._failing is not None:
                self.logger.info("mail: the relay takes email again")
                self._failing = None
            self.logger.info("mail: %s sent", mail.kind)
        return count
