"""The Realtime Database operations of sync, on the firebase-admin SDK (pinned 7.7.0).

Built around what the SDK does on failures (pinned by tests/test_rtdb_server.py):

* It re-sends every request once when the answer is lost. So nothing here uses ``push()``
  (a re-sent POST stores a second child): users live at their own uid. A conditional write
  whose answer was lost comes back as a 412 conflict although it was applied; every
  conditional write therefore first checks whether the current value is the one it wrote
  (same ``changeId``, same uid in the index) before treating a 412 as a conflict.
* A response cut mid-body raises UnknownError without a retry: the caller's backoff
  retries the whole step, and every step is idempotent.
* ``+`` in query values arrives as a space: emails are never used in queries, only in
  encoded keys (see layout.encode_email_key).
* The listener thread can end silently and streams have no read timeout: see
  ``listener_alive`` / ``end_listener`` and the engine's supervision.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import firebase_admin
import requests
from firebase_admin import _sseclient, db, exceptions

from kiosk.errors import ValidationError
from kiosk.store.emails import normalize_email
from kiosk.sync import layout

MAX_CONDITIONAL_TRIES = 25  # as the SDK's own transaction()

APPLIED = "applied"
REMOTE_DELETED = "remote-deleted"


class ContentionError(exceptions.AbortedError):  # type: ignore[misc]  # firebase_admin is untyped (Any)
    """A conditional write kept losing to other writers; retried later with backoff."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Claim:
    won: bool
    owner: str | None  # the uid that holds the email
    owner_kiosk: str | None  # the kiosk that wrote the owner's record, when known


@dataclass(frozen=True)
class WriteResult:
    outcome: str  # APPLIED or REMOTE_DELETED
    current: dict[str, Any] | None  # the cloud record when it was not ours
    overwrote: str | None  # writer of a concurrent version this write replaced
    written: dict[str, Any] | None = None  # the signed version written (None: none, or found already there)


def listener_alive(registration: db.ListenerRegistration) -> bool:
    """Whether the SDK's listener thread still runs (it ends silently when a reconnect
    fails; the SDK offers no public way to tell)."""
    thread = getattr(registration, "_thread", None)
    return thread is None or thread.is_alive()


def _stream_socket(registration: db.ListenerRegistration) -> socket.socket | None:
    # requests Response -> urllib3 HTTPResponse -> http.client HTTPResponse -> its buffered
    # socket file -> SocketIO -> the socket (urllib3 has already let go of the connection).
    try:
        sock = registration._sse.resp.raw._fp.fp.raw._sock
    except AttributeError:
        return None
    return sock if isinstance(sock, socket.socket) else None


def end_listener(registration: db.ListenerRegistration, timeout_s: float = 5.0) -> None:
    """Stop a listener without ``close()``'s crash: on urllib3 2.x ``close()`` while the
    thread reads kills it with an AttributeError traceback. Instead tell the SSE client not
    to reconnect and shut the socket down under it, so its read fails, it gives up and the
    thread ends normally. A thread waiting to reconnect ends by itself after the wait."""
    sse = getattr(registration, "_sse", None)
    if sse is None or not hasattr(getattr(getattr(sse, "resp", None), "raw", None), "_fp"):
        registration.close()  # not the SDK internals this was written for
        return
    sse.should_connect = False
    sse.retry = 0
    sock = _stream_socket(registration)
    if sock is None:
        return  # the response is closed already: the thread is not reading from it
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    thread = getattr(registration, "_thread", None)
    if thread is not None:
        thread.join(timeout_s)
    try:
        sse.resp.close()
    except Exception:  # noqa: BLE001 - already broken; only the file descriptor matters
        pass


class Remote:
    """The database as sync sees it: users, the email index and the kiosks' doorbells."""

    def __init__(self, app: firebase_admin.App, kiosk_id: str) -> None:
        self.app = app
        self.kiosk_id = kiosk_id

    def ref(self, path: str) -> db.Reference:
        return db.reference(path, self.app)

    # -- email index --------------------------------------------------------------------

    def claim_email(self, email_key: str, user_id: str) -> Claim:
        """Make /emailIndex/{email} name ``user_id`` unless a live user holds it.

        An entry naming a deleted user (tombstone) is taken over; one naming a uid with no
        record yet belongs to a claim in flight (its kiosk writes the record next) and holds.
        """
        ref = self.ref(layout.email_index_path(email_key))
        value, etag = ref.get(etag=True)
        for _ in range(MAX_CONDITIONAL_TRIES):
            if value == user_id:
                return Claim(True, user_id, self.kiosk_id)
            if isinstance(value, str) and value:
                owner = self.ref(layout.user_path(value)).get()
                if not _stale_owner(owner, email_key):
                    writer = owner.get("writer") if isinstance(owner, dict) else None
                    return Claim(False, value, writer if isinstance(writer, str) else None)
            ok, value, etag = ref.set_if_unchanged(etag, user_id)
            if ok:
                return Claim(True, user_id, self.kiosk_id)
        raise ContentionError(f"the email index entry of user {user_id} kept changing")

    def release_email(self, email_key: str, user_id: str) -> None:
        """Remove /emailIndex/{email} if it still names ``user_id``. Called once the user's
        tombstone is written (the database rules free an entry only when its user is
        deleted); from then on another kiosk may take the entry over, so the delete is
        conditional on the entry being the one read (a lost race leaves the new claim)."""
        ref = self.ref(layout.email_index_path(email_key))
        value, etag = ref.get(etag=True)
        if value != user_id:
            return
        client, suffix = getattr(ref, "_client", None), getattr(ref, "_add_suffix", None)
        if client is None or suffix is None:
            ref.delete()  # not the SDK internals this was written for: unconditional
            return
        try:
            client.request("delete", suffix(), headers={"if-match": etag})
        except exceptions.FailedPreconditionError:
            pass  # taken over since (or our own delete, re-sent after a lost answer)

    # -- users ----------------------------------------------------------------------------

    def write_user(
        self,
        user_id: str,
        record: dict[str, Any],
        change_id: str,
        base: str | None,
        sign: Callable[[dict[str, Any]], dict[str, Any]] = lambda record: record,
        trusted: Callable[[Any], bool] = lambda value: True,
    ) -> WriteResult:
        """Write a version of /users/{uid} unless a (``trusted``) deletion got there first.

        Last writer wins otherwise; a concurrent version (one this kiosk had not seen) is
        replaced and named in the result, keeping its email confirmation if it had one
        (``layout.keep_confirmation``). The record's revision is raised above the one it
        replaces, then ``sign`` makes the version written. An untrusted cloud version (a
        forgery) never stops the write: it is simply replaced.
        """
        ref = self.ref(layout.user_path(user_id))
        value, etag = ref.get(etag=True)
        for _ in range(MAX_CONDITIONAL_TRIES):
            overwrote = None
            version = record
            if isinstance(value, dict):
                if value.get("changeId") == change_id:
                    return WriteResult(APPLIED, None, None)  # ours already (a lost answer)
                genuine = trusted(value)
                if genuine and value.get("deleted") is True and not record["deleted"]:
                    return WriteResult(REMOTE_DELETED, value, None)
                if value.get("changeId") != base:
                    overwrote = str(value.get("writer")) if genuine else f"{value.get('writer')} (untrusted)"
                    if genuine:
                        version = layout.keep_confirmation(version, value)
                theirs = layout.record_revision(value)
                if genuine and theirs is not None and theirs >= record["revision"]:
                    version = {**version, "revision": theirs + 1}
            signed = sign(version)
            ok, value, etag = ref.set_if_unchanged(etag, signed)
            if ok:
                return WriteResult(APPLIED, None, overwrote, signed)
        raise ContentionError(f"the record of user {user_id} kept changing")

    def server_time(self, seen_ms: int | None = None) -> int:
        """The server's current time (ms): this kiosk's heartbeat (a server timestamp)
        written and read back, so one write is both; with ``seen_ms``, how far its catch-up
        got goes in the same write (``seenAt``, for ``fleet purge``)."""
        ref = self.ref(layout.kiosk_path(self.kiosk_id) + "/heartbeatAt")
        if seen_ms is None:
            ref.set(layout.SERVER_TIMESTAMP)
        else:
            self.ref(layout.kiosk_path(self.kiosk_id)).update({"heartbeatAt": layout.SERVER_TIMESTAMP, "seenAt": seen_ms})
        value = ref.get()
        if not isinstance(value, int) or isinstance(value, bool):
            raise exceptions.UnknownError(f"the server's time came back as {type(value).__name__}")
        return value

    def certificate(self, kiosk_id: str) -> Any:
        """The raw value at /kiosks/{id}/cert (None if there is none)."""
        return self.ref(layout.certificate_path(kiosk_id)).get()

    def revocations(self) -> Any:
        return self.ref(f"/{layout.REVOCATIONS}").get()

    def template_keys(self) -> Any:
        """This kiosk's sealed template keys ({key id: base64}, or None)."""
        return self.ref(layout.template_keys_path(self.kiosk_id)).get()

    def newest_update(self) -> int:
        """The largest updatedAt in /users (0 when empty)."""
        result = self.ref(f"/{layout.USERS}").order_by_child("updatedAt").limit_to_last(1).get()
        for value in (result or {}).values():
            stamp = value.get("updatedAt") if isinstance(value, dict) else None
            if isinstance(stamp, int):
                return stamp
        return 0

    def users_by_key(self, page_size: int) -> Iterator[list[tuple[str, Any]]]:
        """Every /users record, in pages ordered by uid (the initial full load)."""
        users = self.ref(f"/{layout.USERS}")
        after: str | None = None
        while True:
            query = users.order_by_key()
            if after is not None:
                query = query.start_at(after)
            items = list((query.limit_to_first(page_size + (after is not None)).get() or {}).items())
            if after is not None and items and items[0][0] == after:
                items = items[1:]
            if not items:
                return
            yield items
            if len(items) < page_size:
                return
            after = items[-1][0]

    def users_since(self, start_ms: int, page_size: int, root: str = layout.USERS) -> Iterator[list[tuple[str, Any]]]:
        """/users (or ``root``) records with updatedAt >= start_ms, in pages ordered by updatedAt.

        Pages overlap at their boundary timestamp (start_at is inclusive); a page made only
        of one timestamp is finished with an equal_to query, so pagination always advances.
        """
        users = self.ref(f"/{root}")
        cursor = start_ms
        while True:
            items = list((users.order_by_child("updatedAt").start_at(cursor).limit_to_first(page_size).get() or {}).items())
            if not items:
                return
            yield items
            if len(items) < page_size:
                return
            last = _stamp(items[-1][1])
            if last is None or last <= cursor:
                ties = list((users.order_by_child("updatedAt").equal_to(cursor).get() or {}).items())
                if ties:
                    yield ties
                cursor += 1
            else:
                cursor = last

    def write_ledger(self, user_id: str, record: dict[str, Any]) -> None:
        """This kiosk's attempts ledger of an account (its own slot: a plain write)."""
        self.ref(layout.attempts_path(user_id, self.kiosk_id)).set(record)

    # -- doorbell -------------------------------------------------------------------------

    def ring(self) -> None:
        """Tell the other kiosks (listening to /ring) that users or ledgers changed."""
        self.ref("/").update(layout.ring_update(self.kiosk_id, random.getrandbits(31)))

    def heartbeat(self) -> None:
        """This kiosk's last sign of life, for ``facekiosk fleet status`` (nobody listens)."""
        self.ref(layout.kiosk_path(self.kiosk_id) + "/heartbeatAt").set(layout.SERVER_TIMESTAMP)

    def report_quarantined(self, count: int) -> None:
        """How many records this kiosk quarantined, for ``facekiosk fleet status`` (its own
        child, so the other kiosks do not take it for a ring)."""
        self.ref(layout.kiosk_path(self.kiosk_id) + "/quarantined").set(count)

    def report_set_aside(self, count: int) -> None:
        """How many users' changes this kiosk set aside (kiosk/store/poison.py), for ``fleet status``."""
        self.ref(layout.kiosk_path(self.kiosk_id) + "/setAside").set(count)

    def listen(
        self,
        callback: Callable[[db.Event], None],
        on_activity: Callable[[], None] = lambda: None,
        on_connect: Callable[[], None] = lambda: None,
    ) -> db.ListenerRegistration:
        """Listen to /ring. ``on_activity`` is called for everything the stream delivers,
        the protocol's keep-alive events included (the SDK hands those to nobody), so an
        idle stream is proven alive without other kiosks' writes; ``on_connect`` after each
        (re)connection, before its first event (which reports the ring as it is, not a new
        one). Built as the SDK's own ``Reference.listen`` (pinned 7.7.0) with an SSE client
        that reports; if those internals change, the SDK's listen (liveness then comes only
        from this kiosk's rings, and an idle stream is opened again each stream_silence_s)."""
        ref = self.ref(f"/{layout.RING}")
        client = getattr(ref, "_client", None)
        session_of = getattr(client, "create_listener_session", None)
        suffix = getattr(ref, "_add_suffix", None)
        if client is None or session_of is None or suffix is None or not hasattr(_sseclient, "SSEClient"):
            return ref.listen(callback)
        url = client.base_url + suffix()
        try:
            sse = _ObservedSSE(url, session_of(), on_activity, on_connect, params=client.params)
            return db.ListenerRegistration(callback, sse)
        except requests.exceptions.RequestException as error:
            raise db._Client.handle_rtdb_error(error)


class _ObservedSSE(_sseclient.SSEClient):  # type: ignore[misc]  # firebase_admin is untyped (Any)
    """The SDK's SSE client, telling the engine about every event (keep-alives too) and
    every (re)connection."""

    def __init__(self, url: str, session: Any, on_activity: Callable[[], None], on_connect: Callable[[], None], **kwargs: Any) -> None:
        self._on_activity = on_activity
        self._on_connect = on_connect
        super().__init__(url, session, **kwargs)

    def _connect(self) -> None:
        super()._connect()
        self._on_connect()

    def __next__(self) -> Any:
        event = super().__next__()
        self._on_activity()
        return event


def _stamp(value: Any) -> int | None:
    stamp = value.get("updatedAt") if isinstance(value, dict) else None
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None


def _stale_owner(owner: Any, email_key: str) -> bool:
    """Whether an index entry's user no longer holds the email (deleted, or another email)."""
    if owner is None:
        return False  # a claim in flight: its record comes next
    if not isinstance(owner, dict):
        return False
    if owner.get("deleted") is True:
        return True
    email = owner.get("email")
    if not isinstance(email, str):
        return False
    try:
        return normalize_email(email).key != email_key
    except ValidationError:
        return False
