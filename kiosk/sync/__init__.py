"""Firebase Realtime Database sync of the user store: see engine.py (the loop), layout.py
(the data in the database), remote.py (the SDK calls) and kiosk/store/replica.py (the
local side)."""

from kiosk.sync.engine import SyncEngine
from kiosk.sync.status import SyncStatus

__all__ = ["SyncEngine", "SyncStatus"]
