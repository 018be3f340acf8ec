"""History stores: where the hub keeps every line's numbered messages.

SQLite is the embedded default (`sqlite.py`); `MemoryStore` (`memory.py`) keeps nothing across
restarts. A message is appended before the hub acknowledges or relays it. Writes run on the
hub's loop: a WAL-mode insert is tens of microseconds, cheaper than a thread hop, and keeps
relay order simple.
"""

from .base import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_KEEP_MESSAGES,
    DEFAULT_MAX_STORE_BYTES,
    Direct,
    HistoryStore,
    Member,
    StoreError,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_KEEP_DAYS",
    "DEFAULT_KEEP_MESSAGES",
    "DEFAULT_MAX_STORE_BYTES",
    "Direct",
    "HistoryStore",
    "Member",
    "MemoryStore",
    "SQLiteStore",
    "StoreError",
]
