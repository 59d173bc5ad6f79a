"""The sync engine: one thread that keeps the local store and the fleet's database in step.

Each pass, in order:

1. **Initial load** (once per database): every ``/users`` record in pages by uid, after
   noting the newest ``updatedAt``; the catch-up that follows covers what changed meanwhile.
2. **Supervise the live stream** on ``/ring`` (the fleet's doorbell, see layout.py): the
   SDK's listener thread ends silently when a reconnect fails, and a stream can go silent
   without an error, so a dead thread, or nothing for ``stream_silence_s`` although the
   protocol's keep-alive events (and this kiosk's own rings) come through it, means
   "subscribe again".
3. **Drain the outbox** in order: each user's current row, idempotent writes (see remote.py),
   the email claimed in ``/emailIndex`` first for a new user; then ring the doorbell.
4. **Catch up** when the stream (re)connected, ``catchup_interval_s`` passed, or at a random
   moment within ``ring_jitter_s`` after another kiosk rang (rings meanwhile wait for the
   same catch-up): ``order_by_child('updatedAt').start_at(last_seen - overlap)`` in pages.
5. **Heartbeat** every ``heartbeat_s`` to ``/kiosks/{id}`` (for ``fleet status``; nobody listens).

A failure anywhere ends the pass; the next one starts after an exponential backoff with
jitter, and every step is safe to repeat. Local changes are noticed through ``kick()`` or
SQLite's ``data_version`` (another connection committed), polled every ``poll_s``.

The kiosk's standing in the fleet (its identity, the fleet's trust, the check that the
fleet vouches for it before it pushes, template keys after a rotation, signing) is
membership.py's. The engine opens its own Store (a connection belongs to one thread): pass
a function that opens it. ``status()`` may be called from any thread.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Mapping

import firebase_admin
from firebase_admin import db, exceptions

from kiosk.config import Settings
from kiosk.config.sync import SyncSettings
from kiosk.errors import KioskError, ValidationError
from kiosk.fleet.errors import FleetError
from kiosk.fleet.identity import KioskIdentity, load_identity
from kiosk.fleet.trust import Untrusted
from kiosk.manifest import load_manifest
from kiosk.store import Store
from kiosk.store import poison, quarantine
from kiosk.store.emails import normalize_email
from kiosk.store.limits import LedgerError, decode_events, encode_events
from kiosk.store.replica import CONFLICT, INVALID, PushItem, RemoteRecordError, RemoteUser, SyncState
from kiosk.sync import layout, status as st
from kiosk.backoff import Backoff
from kiosk.sync.errors import SyncError
from kiosk.sync.firebase import open_app
from kiosk.sync.membership import Membership
from kiosk.sync.remote import REMOTE_DELETED, Remote, end_listener, listener_alive

RING_EVERY_S = 0.5  # during a long drain, ring at least this often so others start pulling


class SyncEngine:
    def __init__(
        self,
        sync: SyncSettings,
        open_store: Callable[[], Store],
        make_app: Callable[[], firebase_admin.App],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        beat: Callable[[], None] | None = None,
        on_remote_change: Callable[[list[str]], None] | None = None,
        identity: Callable[[str], KioskIdentity] | None = None,
        model_dims: Mapping[str, int] | None = None,
    ) -> None:
        """``make_app`` returns a firebase-admin app the engine owns (deleted on stop).
        ``beat`` is called at least every second from the sync thread (systemd watchdog);
        ``on_remote_change`` gets the ids of users changed by the cloud (to reload a gallery).
        ``identity`` gives this kiosk's keys for its id (FleetError if it cannot);
        ``model_dims`` the template length of each embedding model this kiosk knows: a
        pulled record of such a model with other lengths is quarantined."""
        self.sync = sync
        self._open_store = open_store
        self._make_app = make_app
        self._clock = clock
        self._monotonic = monotonic
        self._log = logger or logging.getLogger("kiosk.sync")
        self._beat = beat or (lambda: None)
        self._on_remote_change = on_remote_change
        self._backoff = Backoff(sync.backoff_initial_s, sync.backoff_max_s, rng)
        self._listen_backoff = Backoff(sync.backoff_initial_s, sync.backoff_max_s, rng)
        self._rng = rng or random.Random()

        self._lock = threading.Lock()
        self._passes = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner: int | None = None  # the thread that uses the store

        self._store: Store | None = None
        self._app: firebase_admin.App | None = None
        self._remote: Remote | None = None
        self._registration: db.ListenerRegistration | None = None
        self._subscriber: threading.Thread | None = None
        self._next_subscribe = 0.0
        self._data_version: int | None = None

        self._catchup_due = True
        self._catchup_at: float | None = None  # a ring was heard: catch up at this moment
        self._fresh_stream = False  # the stream (re)connected: its next event is no ring
        self._ring_due = False
        self._last_event = 0.0
        self._next_catchup = 0.0
        self._next_heartbeat = 0.0
        self._completed = 0  # passes finished (either way)
        self._last_ok = False
        self._status = st.SyncStatus(configured=True, state=st.STARTING, detail=self._where())
        self.kiosk_id = sync.kiosk_id  # "" until the store is open (its own id then)

        self._model_dims = dict(model_dims or {})
        self._member = Membership(sync, identity, lambda: self._remote, clock, self._log, self.kick)
        self._quarantined = 0
        self._reported_quarantined: int | None = None
        self._set_aside = 0  # users whose changes the server kept refusing (kiosk/store/poison.py)
        self._reported_seen: int | None = None
        self._next_seen_report = 0.0
        self._server_read: tuple[int, float] | None = None  # (server ms, monotonic s) when read
        self._reported_set_aside: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, sync: SyncSettings, environ: Mapping[str, str] | None = None, **kwargs: Any) -> "SyncEngine":
        """The engine of a kiosk service: its own Store from ``settings``, its app from ``sync``."""
        if not settings.store.encrypt_templates:
            raise SyncError("sync needs store.encrypt_templates on: face templates never leave the kiosk unencrypted")
        environ = dict(os.environ if environ is None else environ)
        kwargs.setdefault("identity", lambda kiosk_id: load_identity(sync, kiosk_id, settings.resolve, environ)[0])
        kwargs.setdefault("model_dims", _model_dims(settings))
        return cls(sync, lambda: Store.open(settings, environ=environ), lambda: open_app(sync, settings.resolve, environ), **kwargs)

    # -- control (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the sync engine is already running")
        if self.kiosk_id:
            self._member.prepare(self.kiosk_id)  # missing or wrong keys surface here too
        self._app = self._make_app()  # configuration errors surface here, in the caller
        self._thread = threading.Thread(target=self._run, name="facekiosk-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        elif self._owner is not None:
            self._shutdown()

    def kick(self) -> None:
        """A local change was committed: push it now rather than at the next poll."""
        self._wake.set()

    def request_catch_up(self) -> None:
        with self._lock:
            self._catchup_due = True
        self._wake.set()

    def status(self) -> st.SyncStatus:
        with self._lock:
            return self._status

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Wait for a pass that started after this call to finish with nothing left to push
        (tests and benchmarks). False on timeout."""
        deadline = self._monotonic() + timeout_s
        with self._passes:
            target = self._completed + 2
        self._wake.set()
        with self._passes:
            while True:
                if (self._completed >= target and self._last_ok and self._status.pending_changes == 0
                        and not self._catchup_due and self._catchup_at is None):
                    return True
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    return False
                if self._completed >= target:
                    target = self._completed + 1
                    self._wake.set()
                self._passes.wait(min(remaining, 0.1))

    # -- one pass (the sync thread, or a test calling run_pass) -----------------------------

    def run_pass(self) -> None:
        """One complete pass on the calling thread; raises what made it fail."""
        ident = threading.get_ident()
        if self._owner is None:
            self._owner = ident
        elif self._owner != ident:
            raise RuntimeError("the sync engine's store belongs to another thread")
        try:
            self._pass()
        except BaseException as err:
            self._failed(err)
            raise
        finally:
            with self._passes:
                self._completed += 1
                self._passes.notify_all()

    def _pass(self) -> None:
        store = self._ensure_store()
        if self._app is None:
            self._app = self._make_app()
        if self._remote is None:
            self._remote = Remote(self._app, self.kiosk_id)
        self._member.prepare(self.kiosk_id)
        if not self._member.enrolled:
            self._member.check_enrolled(store, self._remote)
            self._member.take_template_keys(store, self._remote)
        state = store.sync_state(self.sync.database_url)
        if not state.initial_done:
            self._initial_load(store, self._remote)
        self._drain(store, self._remote)
        self._push_ledgers(store, self._remote)
        self._supervise_listener(self._remote)
        now = self._monotonic()
        with self._lock:
            rung = self._catchup_at is not None and now >= self._catchup_at
            catch_up = self._catchup_due or now >= self._next_catchup or rung
            self._catchup_due = False
            if catch_up:
                self._catchup_at = None  # a ring heard from now on asks for another
        if catch_up:
            try:
                self._member.take_template_keys(store, self._remote)
                self._catch_up(store, self._remote)
            except BaseException:
                with self._lock:
                    self._catchup_due = True
                raise
            self._next_catchup = now + self.sync.catchup_interval_s
        if now >= self._next_heartbeat or now >= self._next_seen_report:
            self._server_now(self._remote, fresh=True)  # the heartbeat (and seenAt), read back
            self._next_seen_report = now + self.sync.heartbeat_s
        self._member.reseal(store, self._remote)
        if self._reported_quarantined != self._quarantined:
            self._remote.report_quarantined(self._quarantined)
            self._reported_quarantined = self._quarantined
        if self._reported_set_aside != self._set_aside:
            self._remote.report_set_aside(self._set_aside)
            self._reported_set_aside = self._set_aside
        self._succeeded(store.pending_count())

    def _server_now(self, remote: Remote, fresh: bool = False) -> int:
        """The server's time: read (writing the heartbeat) at most every ``heartbeat_s``,
        carried forward on the monotonic clock in between, so a catch-up costs no write."""
        now = self._monotonic()
        if fresh or self._server_read is None or now - self._server_read[1] >= self.sync.heartbeat_s:
            seen = self._seen_ms(self._store) if self._store is not None else None
            if seen == self._reported_seen:
                seen = None
            server_ms = remote.server_time(seen)  # how far it got: `fleet purge` waits for every kiosk
            if seen is not None:
                self._reported_seen = seen
            self._server_read = (server_ms, now)
            self._next_heartbeat = now + self.sync.heartbeat_s
            if self._store is not None:
                self._store.set_server_time(server_ms)  # attempt waits run on the server's time
            return server_ms
        return self._server_read[0] + int((now - self._server_read[1]) * 1000)

    def _seen_ms(self, store: Store) -> int:
        """Every /users record stamped up to this (server time, ms) was read here."""
        state = store.sync_state(self.sync.database_url)
        return max(0, state.last_seen_ms) if state.initial_done else 0

    def _ensure_store(self) -> Store:
        if self._store is None:
            self._store = self._open_store()
            if not self._store.codec.encrypt:
                raise SyncError("sync needs store.encrypt_templates on: face templates never leave the kiosk unencrypted")
            if not self.kiosk_id:
                self.kiosk_id = self._store.kiosk_id
            self._quarantined = quarantine.count(self._store)
            self._set_aside = poison.count(self._store)
        return self._store

    # -- pull -------------------------------------------------------------------------------

    def _parse(self, items: list[tuple[str, Any]], limit_ms: int | None) -> tuple[list[RemoteUser], list[quarantine.Refused]]:
        """The records that are trusted and well-formed; the others, to quarantine."""
        remotes: list[RemoteUser] = []
        refused: list[quarantine.Refused] = []
        trust = self._member.trust
        for user_id, value in items:
            stamp = value.get("updatedAt") if isinstance(value, dict) else None
            stamp = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None
            try:
                if limit_ms is not None and stamp is not None and stamp > limit_ms:
                    raise Untrusted(f"updatedAt {stamp} is beyond the server's time plus sync.future_margin_s",
                                    str(value.get("writer", "?"))[:64] if isinstance(value, dict) else "?")
                writer = trust.check(str(user_id), value)
                remotes.append(layout.parse_user(user_id, value, self.sync.max_templates, self._model_dims))
            except Untrusted as err:
                refused.append(quarantine.Refused(str(user_id), err.writer, str(err), value, stamp))
            except RemoteRecordError as err:
                refused.append(quarantine.Refused(str(user_id), writer, str(err), value, stamp))
            except Exception as err:  # noqa: BLE001 - whatever a record holds costs only itself
                refused.append(quarantine.Refused(str(user_id), "?", f"unusable record ({type(err).__name__})", value, stamp))
        return remotes, refused

    def _quarantine(self, store: Store, refused: list[quarantine.Refused]) -> None:
        if not refused:
            return
        for item in quarantine.add(store, refused):
            self._log.warning("sync: quarantined a cloud record of user %s claimed by kiosk %s: %s",
                              item.user_id[:80], item.writer, item.reason)
        self._quarantined = quarantine.count(store)
        with self._lock:
            self._status = replace(self._status, quarantined=self._quarantined, set_aside=self._set_aside)

    def _apply(
        self, store: Store, items: list[tuple[str, Any]], state: SyncState | None, limit_ms: int | None = None
    ) -> tuple[list[RemoteUser], dict[str, str]]:
        remotes, refused = self._parse(items, limit_ms)
        report = store.apply_remote(remotes, state)
        if any(outcome == CONFLICT for outcome in report.outcomes.values()):
            # Another local user still holds the email; its deletion may be in this batch.
            retry = [r for r in remotes if report.outcomes.get(r.user_id) == CONFLICT]
            again = store.apply_remote(retry)
            report.outcomes.update(again.outcomes)
            report.notes.extend(again.notes)
        by_id = dict(items)
        refused += [
            quarantine.Refused(r.user_id, r.writer, report.invalid[r.user_id], by_id.get(r.user_id), r.updated_at_ms)
            for r in remotes if r.user_id in report.invalid
        ]
        self._quarantine(store, refused)
        for refusal in refused:
            report.outcomes.setdefault(refusal.user_id, INVALID)
        for note in report.notes:
            self._log.warning("sync: %s", note)
        changed = report.changed
        if changed and self._on_remote_change is not None:
            try:
                self._on_remote_change(changed)
            except Exception:  # noqa: BLE001 - the listener's bug must not stop sync
                self._log.exception("sync: on_remote_change failed")
        return remotes, report.outcomes

    def _initial_load(self, store: Store, remote: Remote) -> None:
        started = self._monotonic()
        self._member.refresh()
        # The server's time, not the newest updatedAt (which anyone with database access can
        # set to the far future): everything written from now on is stamped after it.
        newest = remote.server_time()
        limit = newest + int(self.sync.future_margin_s * 1000)
        count = 0
        for page in remote.users_by_key(self.sync.page_size):
            self._apply(store, page, None, limit)
            count += len(page)
            self._beat()
            if self._stop.is_set():
                raise SyncError("stopped during the initial load")
        store.save_sync_state(SyncState(self.sync.database_url, True, newest))
        with self._lock:
            self._catchup_due = True
        self._log.info("sync: initial load of %d users in %.1f s", count, self._monotonic() - started)

    def _catch_up(self, store: Store, remote: Remote) -> None:
        self._member.refresh()  # a revocation takes effect within one catch-up
        state = store.sync_state(self.sync.database_url)
        server_now = self._server_now(remote)
        limit = server_now + int(self.sync.future_margin_s * 1000)
        self._pull_ledgers(store, remote, limit)
        if state.last_seen_ms > limit:
            # Saved by an older version from a forged far-future record: read everything again.
            self._log.warning("sync: the catch-up cursor was beyond the server's time; catching up from the start")
            state = replace(state, last_seen_ms=0)
        start = max(0, state.last_seen_ms - int(self.sync.catchup_overlap_s * 1000))
        seen = state.last_seen_ms
        hold: int | None = None  # a record that could not be applied yet is read again next time
        for page in remote.users_since(start, self.sync.page_size):
            # The cursor saved with a page is where the earlier pages got to, so a crash
            # mid-catch-up reads this page again.
            cursor = min(seen, hold) if hold is not None else seen
            remotes, outcomes = self._apply(store, page, SyncState(state.database, True, cursor), limit)
            for remote_user in remotes:
                outcome = outcomes.get(remote_user.user_id)
                if outcome == CONFLICT:
                    hold = remote_user.updated_at_ms if hold is None else min(hold, remote_user.updated_at_ms)
                elif outcome != INVALID and remote_user.updated_at_ms <= limit:
                    seen = max(seen, remote_user.updated_at_ms)
            self._beat()
        store.save_sync_state(SyncState(state.database, True, min(seen, hold) if hold is not None else seen))

    # -- attempt ledgers (kiosk/store/limits.py) ----------------------------------------------

    def _push_ledgers(self, store: Store, remote: Remote) -> None:
        """This kiosk's attempts ledger of every account whose ledger changed, signed."""
        pushed = False
        while not self._stop.is_set():
            batch = store.ledgers_to_push(50)
            if not batch:
                break
            for user_id, events in batch:
                record = layout.ledger_record(user_id, encode_events(events))
                signed = self._member.sign(layout.ledger_subject(user_id), record)
                remote.write_ledger(user_id, signed)
                store.mark_ledger_pushed(user_id, max((at for _, at in events), default=0))
                pushed = True
            self._beat()
        if pushed:
            remote.ring()

    def _pull_ledgers(self, store: Store, remote: Remote, limit_ms: int) -> None:
        """The other kiosks' ledgers changed since the cursor, trusted ones merged."""
        database = self.sync.database_url
        seen = store.ledger_cursor(database)
        if seen > limit_ms:
            seen = 0
        start = max(0, seen - int(self.sync.catchup_overlap_s * 1000))
        for page in remote.users_since(start, self.sync.page_size, root=layout.ATTEMPTS):
            merged: list[tuple[str, str, list[tuple[str, int]]]] = []
            for key, value in page:
                stamp = value.get("updatedAt") if isinstance(value, dict) else None
                try:
                    user_id, kiosk_id, text = layout.parse_ledger(key, value)
                    if kiosk_id == self.kiosk_id:
                        pass  # our own, as we wrote it
                    else:
                        self._member.trust.check(layout.ledger_subject(user_id), value)
                        merged.append((user_id, kiosk_id, decode_events(text)))
                except (RemoteRecordError, Untrusted, LedgerError) as err:
                    self._log.warning("sync: refused an attempts ledger %s: %s", str(key)[:80], err)
                if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp <= limit_ms:
                    seen = max(seen, stamp)
            store.merge_ledgers(merged, database, seen)
            self._beat()

    # -- the live stream ----------------------------------------------------------------------

    def _on_event(self, event: db.Event) -> None:
        """SDK listener thread: an event on /ring. The first after a (re)connection reports
        the ring as it stands: catch up at once (whatever changed while the stream was
        down). Later ones are rings: another kiosk's asks for a catch-up at a random moment
        within ``ring_jitter_s`` (one catch-up serves every ring heard until it starts);
        this kiosk's own only proves the stream alive."""
        path = (event.path or "/").strip("/")
        writer = layout.ring_writer(event.data) if path == "" else None
        now = self._monotonic()
        with self._lock:
            self._last_event = now
            fresh, self._fresh_stream = self._fresh_stream, False
            if fresh or self.sync.ring_jitter_s <= 0:
                ring = fresh or writer != self.kiosk_id
                if ring:
                    self._catchup_due = True
            else:
                ring = False
                if writer != self.kiosk_id and self._catchup_at is None:
                    self._catchup_at = now + self._rng.uniform(0.0, self.sync.ring_jitter_s)
                    ring = True  # the idle wait learns the new moment
        if ring:
            self._wake.set()

    def _on_stream_activity(self) -> None:
        """Anything the stream delivered, keep-alives too: it is alive."""
        now = self._monotonic()
        with self._lock:
            self._last_event = now

    def _on_stream_connect(self) -> None:
        with self._lock:
            self._fresh_stream = True

    def _supervise_listener(self, remote: Remote) -> None:
        now = self._monotonic()
        with self._lock:
            registration = self._registration
            silent_s = now - self._last_event
            subscribing = self._subscriber is not None and self._subscriber.is_alive()
        if registration is not None:
            if not listener_alive(registration):
                self._log.warning("sync: the live stream ended; opening it again")
                registration = None
            elif silent_s > self.sync.stream_silence_s:
                self._log.warning("sync: nothing on the live stream for %.0f s; opening it again", silent_s)
                end_listener(registration)
                registration = None
            if registration is None:
                with self._lock:
                    self._registration = None
        if registration is None and not subscribing and now >= self._next_subscribe:
            # listen() connects without a timeout (the SDK passes none), so it runs on a
            # thread of its own: a black-holed connection must not stall pushing.
            self._subscriber = threading.Thread(target=self._subscribe, args=(remote,), name="facekiosk-sync-listen", daemon=True)
            self._subscriber.start()

    def _subscribe(self, remote: Remote) -> None:
        try:
            registration = remote.listen(self._on_event, self._on_stream_activity, self._on_stream_connect)
        except Exception as err:  # noqa: BLE001 - retried after a backoff
            delay = self._listen_backoff.delay()
            self._next_subscribe = self._monotonic() + delay
            self._log.warning("sync: cannot open the live stream (%s); trying again in %.1f s", _describe(err), delay)
            return
        self._listen_backoff.reset()
        with self._lock:
            stopped = self._stop.is_set()
            if not stopped:
                self._registration = registration
                self._last_event = self._monotonic()
                self._catchup_due = True  # whatever changed while it was down
        if stopped:
            end_listener(registration)
        else:
            self._wake.set()

    # -- push -------------------------------------------------------------------------------

    def _drain(self, store: Store, remote: Remote) -> None:
        pushed = 0
        last_ring = self._monotonic()
        while not self._stop.is_set():
            item = store.next_push()
            if item is None:
                break
            try:
                self._push(store, remote, item)
            except Exception as err:
                if not self._refused(store, remote, item, err):
                    store.mark_push_failed(item, f"{type(err).__name__}: {err}")
                    raise
                continue  # set aside: the changes behind it go on
            pushed += 1
            self._ring_due = True
            if self._monotonic() - last_ring >= RING_EVERY_S:
                remote.ring()
                self._ring_due = False
                last_ring = self._monotonic()
                self._beat()
        if self._ring_due:
            remote.ring()
            self._ring_due = False

    def _refused(self, store: Store, remote: Remote, item: PushItem, err: Exception) -> bool:
        """Whether ``item`` was set aside: the server refused it (not an outage, not a
        problem of this kiosk) for the ``max_push_tries``-th time. A refusal counts only
        while the server still accepts this kiosk's heartbeat, so a database that refuses
        everything (rules, credentials) never sets a change aside. Raises what the heartbeat
        raised, if it failed."""
        if not _refusal(err):
            return False
        reason = _describe(err)
        remote.heartbeat()  # the server accepts writes from this kiosk: the change is the problem
        tries = poison.record_refusal(store, item, reason)
        if tries < self.sync.max_push_tries:
            self._log.warning("sync: the server refused the change of user %s (try %d of %d): %s",
                              item.user_id, tries, self.sync.max_push_tries, poison.scrub_emails(reason))
            raise err
        poison.set_aside(store, item, reason)
        self._set_aside = poison.count(store)
        self._log.error("sync: set aside the change of user %s after %d refusals: %s (facekiosk fleet set-aside)",
                        item.user_id, tries, poison.scrub_emails(reason))
        return True

    def _push(self, store: Store, remote: Remote, item: PushItem) -> None:
        change_id = item.change_id(store.kiosk_id)
        record = layout.user_record(item, change_id, self.kiosk_id)
        uid = item.user_id
        if item.deleted:
            pass  # its /emailIndex entries are freed once the tombstone is written (below)
        elif item.remote_change is None:
            assert item.email_key is not None
            claim = remote.claim_email(item.email_key, item.user_id)
            if not claim.won:
                self._log.warning(
                    "sync: the email of user %s was registered first at kiosk %s (user %s); withdrawing this kiosk's enrollment",
                    item.user_id, claim.owner_kiosk or "?", claim.owner,
                )
                store.resolve_lost_email(item.user_id, claim.owner, claim.owner_kiosk)
                return
        result = remote.write_user(
            uid, record, change_id, item.remote_change,
            sign=lambda version: self._member.sign(uid, version), trusted=lambda value: self._member.trusted(uid, value),
        )
        if result.outcome == REMOTE_DELETED:
            assert result.current is not None
            self._log.warning("sync: user %s was deleted at another kiosk; local changes not yet sent are discarded", item.user_id)
            _, outcomes = self._apply(store, [(item.user_id, result.current)], None)
            if outcomes.get(item.user_id) == INVALID:
                # Its rows stay pending: fail the pass (and back off) rather than spin.
                raise SyncError(f"user {item.user_id} is deleted in the cloud but its record there is unusable")
            return
        if result.overwrote is not None:
            self._log.info(
                "sync: user %s: replaced a concurrent change from kiosk %s (last writer wins)", item.user_id, result.overwrote
            )
        if item.deleted:
            # After the tombstone: the database rules let an entry go only once its user is
            # deleted, so a kiosk cannot free a live user's email for another account.
            for address in item.released_emails:
                try:
                    key = normalize_email(address).key
                except ValidationError:
                    continue
                remote.release_email(key, item.user_id)
        store.mark_pushed(item, change_id, result.written)

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        self._owner = threading.get_ident()
        try:
            while not self._stop.is_set():
                self._beat()
                try:
                    self.run_pass()
                except Exception:  # noqa: BLE001 - every failure is retried (run_pass logged it)
                    self._sleep(self._backoff.delay())
                    continue
                self._backoff.reset()
                self._idle_wait()
        finally:
            self._shutdown()

    def _idle_wait(self) -> None:
        """Until woken, or ``poll_s`` passed and another connection committed to the store."""
        while not self._stop.is_set():
            timeout = min(self.sync.poll_s, 1.0)
            with self._lock:
                ring_at = self._catchup_at
            if ring_at is not None:
                timeout = max(0.0, min(timeout, ring_at - self._monotonic()))
            woken = self._wake.wait(timeout)
            self._beat()
            if woken:
                self._wake.clear()
                return
            if ring_at is not None and self._monotonic() >= ring_at:
                return
            if self._store is not None:
                version = self._store.data_version()
                changed = version != self._data_version
                self._data_version = version
                if changed:
                    return
            if self._monotonic() >= min(self._next_catchup, self._next_heartbeat):
                return
            with self._lock:
                registration = self._registration
            if registration is not None and not listener_alive(registration):
                return

    def _sleep(self, seconds: float) -> None:
        deadline = self._monotonic() + seconds
        while not self._stop.is_set():
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, 1.0))
            self._beat()

    def _shutdown(self) -> None:
        with self._lock:
            registration, self._registration = self._registration, None
        if registration is not None:
            try:
                end_listener(registration)
            except Exception:  # noqa: BLE001
                self._log.exception("sync: closing the live stream failed")
        if self._app is not None:
            try:
                firebase_admin.delete_app(self._app)
            except ValueError:
                pass
            self._app = None
            self._remote = None
        if self._store is not None:
            pending = self._store.pending_count()
            self._store.close()
            self._store = None
        else:
            pending = self._status.pending_changes
        with self._lock:
            self._status = st.SyncStatus(configured=True, state=st.STOPPED, pending_changes=pending,
                                         last_success_at=self._status.last_success_at, detail=self._where(),
                                         quarantined=self._quarantined, set_aside=self._set_aside)

    # -- status -----------------------------------------------------------------------------

    def _listening(self) -> bool:
        registration = self._registration  # read under self._lock by the callers
        return registration is not None and listener_alive(registration)

    def _where(self) -> str:
        return self.sync.database_url

    def _succeeded(self, pending: int) -> None:
        with self._lock:
            if self._status.state == st.OFFLINE:
                self._log.info("sync: back online after %.0f s", self._clock() - (self._status.offline_since or self._clock()))
            self._last_ok = True
            self._status = st.SyncStatus(
                configured=True, state=st.ONLINE, pending_changes=pending, last_success_at=self._clock(),
                detail=self._where(), listening=self._listening(), quarantined=self._quarantined, set_aside=self._set_aside,
            )

    def _failed(self, err: BaseException) -> None:
        pending = self._status.pending_changes
        if self._store is not None:
            try:
                pending = self._store.pending_count()
            except Exception:  # noqa: BLE001
                pass
        text = _describe(err)
        with self._lock:
            was_offline = self._status.state == st.OFFLINE
            self._last_ok = False
            self._status = st.SyncStatus(
                configured=True, state=st.OFFLINE, pending_changes=pending, last_success_at=self._status.last_success_at,
                detail=text, offline_since=self._status.offline_since if was_offline else self._clock(),
                listening=self._listening(), quarantined=self._quarantined, set_aside=self._set_aside,
            )
        if not isinstance(err, (exceptions.FirebaseError, SyncError, FleetError)):
            self._log.error("sync: pass failed", exc_info=err)  # a bug or a local problem
        elif not was_offline:
            self._log.warning("sync: offline: %s", text)
        else:
            self._log.debug("sync: still offline: %s", text)




def _model_dims(settings: Settings) -> dict[str, int]:
    """Template length of each embedding model in the config (the ones whose manifest reads)."""
    models = settings.models
    names = getattr(models, "embedders", None) or [getattr(models, "embedder", "")]
    dims: dict[str, int] = {}
    for name in names:
        try:
            manifest = load_manifest(settings.model_manifest(name))
        except (KioskError, OSError):
            continue
        if manifest.embedding_size:
            dims[manifest.model_id] = manifest.embedding_size
    return dims


# Answers that say the server will not take this write as it is (400 invalid data, 401/403
# not allowed, 404, 409, 413 too large): counted towards setting the change aside. Outages,
# timeouts, 429/5xx and contention are retried forever.
_REFUSALS: tuple[type[BaseException], ...] = (
    exceptions.InvalidArgumentError, exceptions.PermissionDeniedError, exceptions.UnauthenticatedError,
    exceptions.NotFoundError, exceptions.ConflictError, exceptions.OutOfRangeError, exceptions.FailedPreconditionError,
)


def _refusal(err: BaseException) -> bool:
    """Whether ``err`` is this change's own: a server refusal, or a record sync cannot
    write (SyncError, or a bug on this record's data), not a network or local problem."""
    if isinstance(err, exceptions.FirebaseError):
        return isinstance(err, _REFUSALS)
    if isinstance(err, SyncError):
        return True
    if isinstance(err, (KioskError, OSError, MemoryError)):
        return False  # this kiosk's keys, store or disk: not the change's fault
    return isinstance(err, (ValueError, TypeError, KeyError, IndexError, UnicodeError))


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    name = type(err).__name__
    return f"{name}: {text}"[:200] if text else name
