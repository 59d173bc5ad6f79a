"""The SQLite file: where it lives, how it is opened, its schema and forward migrations.

* WAL journal, so readers never block the writer and a crash leaves the last committed
  transaction intact.
* ``synchronous=NORMAL`` by default, switched to ``FULL`` around the transactions that
  must survive a power cut (enrollment, password change, deletion, failed attempts): with
  FULL every commit is on disk before ``commit`` returns, i.e. before the UI says "done".
* Foreign keys on; the schema version is ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes
  version ``i`` to ``i + 1`` in one transaction. A database from a newer FaceKiosk is
  refused rather than guessed at.

Times are Unix seconds (UTC) as REAL. A connection belongs to one thread.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from kiosk.config.store import StoreSettings
from kiosk.durable import fsync_dir, makedirs_durable
from kiosk.errors import StoreError

DB_NAME = "facekiosk.db"
BUSY_TIMEOUT_MS = 5000

# Version 1: users, their templates, the sync outbox and per-database facts (meta).
_V1 = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    )""",
    # A tombstone (deleted_at set) keeps only the id, times and revision: the email and
    # the password hash are erased with the templates. revision is bumped on every
    # change and travels with the outbox row; remote_updated_at is the server's
    # timestamp of the version last exchanged with the cloud (NULL: never synced).
    """CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT,
        email_key TEXT UNIQUE,
        password_hash TEXT,
        origin_kiosk TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        revision INTEGER NOT NULL DEFAULT 1 CHECK (revision >= 1),
        deleted_at REAL,
        remote_updated_at REAL,
        CHECK (deleted_at IS NOT NULL OR (email IS NOT NULL AND email_key IS NOT NULL)),
        CHECK (deleted_at IS NULL OR (email IS NULL AND email_key IS NULL AND password_hash IS NULL))
    )""",
    """CREATE TABLE templates (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0),
        blob BLOB NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX templates_by_model ON templates(model_id, dim)",
    "CREATE INDEX templates_by_user ON templates(user_id)",
    # Changes that must reach the cloud. The sync worker reads the user's current row
    # when it sends, so the outbox holds no secrets; sent_at NULL means pending.
    """CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL REFERENCES users(id),
        kind TEXT NOT NULL,
        revision INTEGER NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_at REAL
    )""",
    "CREATE INDEX outbox_pending ON outbox(sent_at, seq)",
    "CREATE INDEX outbox_by_user ON outbox(user_id)",
)

# Version 2: failed attempts and lockouts, and the audit log.
_V2 = (
    """CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kiosk_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        kind TEXT NOT NULL
    )""",
    "CREATE INDEX attempts_by_subject ON attempts(subject, at)",
    "CREATE INDEX attempts_by_kiosk ON attempts(kiosk_id, at)",
    # The latest lockout per scope ("email" or "kiosk") and subject. Failures up to
    # after_attempt no longer count once it is over.
    """CREATE TABLE lockouts (
        scope TEXT NOT NULL,
        subject TEXT NOT NULL,
        locked_at REAL NOT NULL,
        until REAL NOT NULL,
        after_attempt INTEGER NOT NULL,
        PRIMARY KEY (scope, subject)
    )""",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kiosk_id TEXT NOT NULL,
        action TEXT NOT NULL,
        user_id TEXT,
        email TEXT,
        email_hash TEXT,
        result TEXT NOT NULL,
        score REAL,
        reason TEXT NOT NULL DEFAULT '',
        image BLOB,
        image_type TEXT
    )""",
    "CREATE INDEX audit_by_time ON audit(at)",
    "CREATE INDEX audit_by_user ON audit(user_id)",
    "CREATE INDEX audit_by_email_hash ON audit(email_hash)",
)

# Version 3: cloud sync (kiosk.sync). remote_change is the change id of the cloud version a
# user row was last based on (NULL: never exchanged); outbox.result says how a row that is
# no longer pending ended ('sent', 'superseded' by a remote deletion, 'dropped' because
# the enrollment lost its email to another kiosk); sync_notices holds the one message per
# email that the next person to use that email must see.
_V3 = (
    "ALTER TABLE users ADD COLUMN remote_change TEXT",
    "ALTER TABLE outbox ADD COLUMN result TEXT",
    "UPDATE outbox SET result = 'sent' WHERE sent_at IS NOT NULL",
    """CREATE TABLE sync_notices (
        email_key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        user_id TEXT,
        other_kiosk TEXT,
        created_at REAL NOT NULL
    )""",
)

# Version 4: enrollments held for staff review. A sign-up whose face is likely already
# enrolled keeps its account (the screen must not tell a stranger that a face is known)
# but not its templates: they wait here, sealed like templates, until staff approve
# (they move to templates and sync) or reject (they are erased). Until then the account
# has no face, on this kiosk and on every other.
_V4 = (
    """CREATE TABLE review_templates (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0),
        blob BLOB NOT NULL,
        created_at REAL NOT NULL,
        other_user TEXT,
        score REAL
    )""",
    "CREATE INDEX review_by_user ON review_templates(user_id)",
)

# Version 5: fleet-wide attempt limits (kiosk/store/limits.py). One row per failed attempt
# on an account, or per success or unlock that clears them: this kiosk's (kiosk_id '') and
# those merged from the other kiosks' signed ledgers. at_ms is fleet time (the server's
# clock carried forward on the monotonic clock, kiosk/store/clock.py), never the wall clock.
_V5 = (
    """CREATE TABLE account_events (
        user_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, kiosk_id, kind, at_ms)
    ) WITHOUT ROWID""",
    "CREATE TABLE account_dirty (user_id TEXT PRIMARY KEY)",
)

# Version 6: accounts people can trust (issue 15). mail_queue: emails waiting for the SMTP
# relay (confirmation and reset codes, notices to owners), retried with backoff; recipient
# and body are erased once sent or expired. email_codes: one-time codes, only their HMAC,
# per email (its keyed hash) and purpose, with their expiry and wrong tries. users:
# when the email was confirmed, and the consent the person gave (text version, time).
_V6 = (
    """CREATE TABLE mail_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_at REAL,
        result TEXT
    )""",
    "CREATE INDEX mail_queue_due ON mail_queue(result, next_at)",
    """CREATE TABLE email_codes (
        email_hash TEXT NOT NULL,
        purpose TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (email_hash, purpose)
    )""",
    "ALTER TABLE users ADD COLUMN email_confirmed_at REAL",
    "ALTER TABLE users ADD COLUMN consent_version TEXT",
    "ALTER TABLE users ADD COLUMN consent_at REAL",
)

# Version 7: what travels with a signed record (issues 13 and 15). record_history: the
# signed versions of each user record this kiosk applied or pushed, as they were signed
# (JSON; templates that are still the user's current ones by digest, kiosk/store/history.py),
# so `facekiosk fleet rollback` can restore the last one a trusted kiosk signed;
# bounded per user (sync.keep_versions, and each writer's newest), erased with the user.
# users.confirm_code: the confirmation code that travels with the record, as its keyed
# hash ("<template key id>:<HMAC-SHA256 hex>", never the code), its expiry and the wrong
# tries made here against it (kiosk/store/mail.py).
_V7 = (
    """CREATE TABLE record_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        change_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        writer TEXT NOT NULL,
        signed_at INTEGER,
        record TEXT NOT NULL,
        kept_at REAL NOT NULL,
        UNIQUE (user_id, change_id, revision)
    )""",
    "CREATE INDEX record_history_by_user ON record_history(user_id, id)",
    "ALTER TABLE users ADD COLUMN confirm_code TEXT",
    "ALTER TABLE users ADD COLUMN confirm_code_until REAL",
    "ALTER TABLE users ADD COLUMN confirm_code_tries INTEGER NOT NULL DEFAULT 0",
)

# Version 8: users.language, the language the screen showed at sign-up ("en", "de"), in
# which the account's emails are written (kiosk/mail/messages.py); NULL for accounts made
# before, or pulled from another kiosk: the kiosk's configured language then.
_V8 = ("ALTER TABLE users ADD COLUMN language TEXT",)

Migration = Sequence[str] | Callable[[sqlite3.Connection], None]
MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path(resolve: Callable[[str], Path], environ: Mapping[str, str], service_state_dir: str = "") -> Path:
    """The service's state directory ($STATE_DIRECTORY, given by systemd); outside the
    service (an administrator's ``facekiosk users ...``) the same folder, named by
    ``store.service_state_dir``, when it exists; else var/ beside the config."""
    state = environ.get("STATE_DIRECTORY", "")
    if state:
        # systemd passes several directories separated by ':' when several are named.
        return Path(state.split(":")[0]) / DB_NAME
    if service_state_dir and Path(service_state_dir).is_dir():
        return Path(service_state_dir) / DB_NAME
    return resolve("var") / DB_NAME


def db_path(settings: StoreSettings, resolve: Callable[[str], Path], environ: Mapping[str, str] | None = None) -> Path:
    """store.path (relative to the config file's folder), else the default location."""
    environ = os.environ if environ is None else environ
    if settings.path:
        return resolve(settings.path)
    return default_db_path(resolve, environ, settings.service_state_dir)


def where_db_was_looked_for(settings: StoreSettings) -> str:
    """How the path was chosen, for "no user database at ..." messages."""
    if settings.path:
        return "store.path in the config"
    return (f"store.path is empty and {settings.service_state_dir or 'store.service_state_dir'} (the service's "
            "StateDirectory=) does not exist here: set store.path, or run this on the kiosk")


def _prepare_file(path: Path) -> None:
    """Create the folder (0700) and the file (0600) before SQLite does, with tight modes,
    and make both names durable: SQLite fsyncs the folder of its WAL, never the folders
    above, so without this a power cut soon after the first start could take the whole
    database with it, acknowledged enrollments included (tests/test_powercut.py)."""
    try:
        if not path.parent.exists():
            makedirs_durable(path.parent, 0o700)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
    except OSError as err:
        raise StoreError(f"cannot create the user database {path}: {err.strerror}") from None


def connect(path: Path, create: bool = True) -> sqlite3.Connection:
    """Open (creating if allowed) and migrate the database; StoreError with the reason if not."""
    if not create and not path.is_file():
        raise StoreError(f"no user database at {path} (store.path in the config)")
    _prepare_file(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as err:
        raise StoreError(f"cannot open the user database {path}: {err}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = _journal_mode_wal(conn)
        if mode.lower() != "wal":
            raise StoreError(f"the user database {path} cannot use WAL mode (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Erased emails, hashes and templates are overwritten, not left in free pages.
        conn.execute("PRAGMA secure_delete = ON")
        migrate(conn, str(path))
    except sqlite3.DatabaseError as err:
        conn.close()
        raise StoreError(f"the user database {path} is unusable: {err}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _journal_mode_wal(conn: sqlite3.Connection) -> str:
    """Switch the file to WAL (a no-op once it is) and return the mode in force.

    SQLite answers "database is locked" at once, without waiting out the busy timeout, when
    another connection holds a write lock on a file still in rollback mode: two openers of
    a new database (the kiosk's threads at first start, an admin command beside the
    service) then race here. So this waits as the busy timeout would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode: str = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            return mode
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def storage_problem(error: BaseException) -> str | None:
    """"full" when ``error`` says the disk is full, "failing" when the storage itself
    fails (I/O error, read-only file system), None for anything else. SQLite rolls the
    transaction back in both cases: nothing is half-saved, and the next write tries again."""
    import errno as errno_mod

    if isinstance(error, OSError):
        if error.errno in (errno_mod.ENOSPC, errno_mod.EDQUOT):
            return "full"
        if error.errno in (errno_mod.EIO, errno_mod.EROFS):
            return "failing"
        return None
    if isinstance(error, (sqlite3.OperationalError, sqlite3.DatabaseError)):
        text = str(error).lower()
        if "disk is full" in text or "database or disk is full" in text:
            return "full"
        if "disk i/o error" in text or "readonly database" in text or "read-only" in text:
            return "failing"
    cause = error.__cause__ or error.__context__
    return storage_problem(cause) if cause is not None and cause is not error else None


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def data_version(conn: sqlite3.Connection) -> int:
    """Changes whenever another connection commits to the file (not on ``conn``'s own commits)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def integrity_check(conn: sqlite3.Connection) -> str:
    """SQLite's full check of the file: "ok", or its first findings."""
    return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def migrate(conn: sqlite3.Connection, origin: str = "database", migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema to ``len(migrations)``; returns the version it was at."""
    start = schema_version(conn)
    if start > len(migrations):
        raise StoreError(
            f"the user database {origin} has schema version {start}, newer than this FaceKiosk "
            f"understands ({len(migrations)}): upgrade FaceKiosk"
        )
    for version in range(start, len(migrations)):
        with transaction(conn, durable=True):
            # Another process may have migrated while we waited for the write lock.
            if schema_version(conn) != version:
                continue
            step = migrations[version]
            if callable(step):
                step(conn)
            else:
                for statement in step:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return start


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, durable: bool = False) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE); ``durable`` makes its commit survive power loss."""
    if durable:
        conn.execute("PRAGMA synchronous = FULL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        if durable:
            conn.execute("PRAGMA synchronous = NORMAL")


@contextlib.contextmanager
def read_snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Several reads that see one state of the database, whatever other connections commit
    meanwhile (a deferred BEGIN: WAL readers take no lock that blocks the writer).

    Inside a transaction already open on ``conn`` the reads simply join it. The snapshot is
    released (COMMIT: nothing was written) when the block ends, also by an exception.
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if own:
            conn.execute("COMMIT")
