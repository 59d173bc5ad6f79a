"""The local user store: SQLite with argon2id passwords, encrypted face templates, a
durable sync outbox, lockout and an audit log. Start with :class:`Store`.
"""

from kiosk.store.service import Store

__all__ = ["Store"]
