"""History stores: where the hub keeps every line's numbered messages.

SQLite is the embedded default; `MemoryStore` keeps nothing across restarts. A message is
appended before the hub acknowledges or relays it. Writes run on the hub's loop: a WAL-mode
insert is tens of microseconds, cheaper than a thread hop, and keeps relay order simple.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from ..exceptions import OzchatError
from ..protocol import ChatMessage

log = logging.getLogger("ozchat.hub.store")

DEFAULT_KEEP_MESSAGES = 10_000
DEFAULT_KEEP_DAYS = 30.0
DEFAULT_MAX_STORE_BYTES = 200 * 1024 * 1024
_SHRINK_TO = 0.9  # a store over its bound is pruned to this share of it, so pruning is not constant
_MESSAGE_OVERHEAD = 100  # bytes a stored message costs besides its text (memory store's estimate)
_WAL_LIMIT = 4 * 1024 * 1024  # the write-ahead log is cut back to this after a checkpoint
_PRUNE_EVERY = 100
_PRUNE_INTERVAL = 1.0  # seconds between prunes of one line triggered by reads


class StoreError(OzchatError):
    """The history store could not read or write: a damaged file, a full disk, a lost volume."""


_T = TypeVar("_T")


def _storage_errors(method: Callable[..., _T]) -> Callable[..., _T]:
    """SQLite's errors leave a store method as StoreError, so the hub handles one type."""

    @functools.wraps(method)
    def wrapper(*args: object, **kwargs: object) -> _T:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    return wrapper


class HistoryStore(Protocol):
    """Every method may raise StoreError."""

    def last_seq(self, line: str) -> int:
        """The newest sequence number ever given on the line (0 for none)."""

    def first_seq(self, line: str) -> int:
        """The oldest retained sequence number (last_seq + 1 when nothing is retained)."""

    def epoch(self, line: str) -> str:
        """A random id of the line's numbering, made on first use: it changes when the numbering restarts."""

    def append(self, line: str, message: ChatMessage, author: str | None = None) -> None:
        """Keep a message; `author` is the sender's hashed client identity (for telling resends apart)."""

    def find(self, line: str, client_id: str, author: str) -> list[ChatMessage]:
        """Every retained message this author sent with this client id, oldest first."""

    def visible(self, line: str, phone_number: str, *, after_seq: int = 0, limit: int) -> list[ChatMessage]:
        """The newest `limit` messages after `after_seq` that `phone_number` may see, oldest first."""

    def keep_member(self, line: str, phone_number: str, token_hash: str, properties: dict[str, Any]) -> None:
        """Remember who is on a line (its resume token hashed), so a restarted hub can take them back."""

    def forget_member(self, line: str, phone_number: str) -> None: ...

    def members(self) -> list[Member]:
        """Everyone remembered as present: the clients a restarted hub keeps numbers for."""

    def close(self) -> None: ...


class Member(NamedTuple):
    """A client present on a line, as a restarted hub finds it."""

    line: str
    phone_number: str
    token_hash: str
    properties: dict[str, Any]


def _new_epoch() -> str:
    return secrets.token_hex(8)


def _visible_to(message: ChatMessage, phone_number: str) -> bool:
    return message.to is None or phone_number in (message.sender, message.to)


class MemoryStore:
    """History in memory only: lost when the hub stops."""

    def __init__(
        self,
        keep_messages: int = DEFAULT_KEEP_MESSAGES,
        keep_days: float = DEFAULT_KEEP_DAYS,
        max_bytes: int | None = DEFAULT_MAX_STORE_BYTES,
    ) -> None:
        self._lines: dict[str, list[ChatMessage]] = {}
        self._authors: dict[tuple[str, int], str | None] = {}
        self._epochs: dict[str, str] = {}
        self._members: dict[tuple[str, str], Member] = {}
        self._last: dict[str, int] = {}
        self._keep = keep_messages
        self._keep_ms = int(keep_days * 86_400_000)
        self._max_bytes = max_bytes
        self._bytes = 0

    @staticmethod
    def _size(message: ChatMessage) -> int:
        return len(message.text.encode("utf-8", "surrogatepass")) + _MESSAGE_OVERHEAD

    @property
    def used_bytes(self) -> int:
        """An estimate of the memory the kept messages take."""
        return self._bytes

    def last_seq(self, line: str) -> int:
        return self._last.get(line, 0)

    def epoch(self, line: str) -> str:
        return self._epochs.setdefault(line, _new_epoch())

    def first_seq(self, line: str) -> int:
        self._prune(line)
        messages = self._lines.get(line)
        return messages[0].seq if messages else self.last_seq(line) + 1

    def append(self, line: str, message: ChatMessage, author: str | None = None) -> None:
        self._lines.setdefault(line, []).append(message)
        self._authors[line, message.seq] = author
        self._last[line] = message.seq
        self._bytes += self._size(message)
        self._prune(line)
        if self._max_bytes is not None and self._bytes > self._max_bytes:
            self._shrink(int(self._max_bytes * _SHRINK_TO))

    def _prune(self, line: str) -> None:
        messages = self._lines.get(line, [])
        cutoff = int(time.time() * 1000) - self._keep_ms
        drop = max(len(messages) - self._keep, 0)
        while drop < len(messages) and messages[drop].ts < cutoff:
            drop += 1
        self._drop_oldest(line, drop)

    def _drop_oldest(self, line: str, count: int) -> None:
        messages = self._lines.get(line, [])
        for message in messages[:count]:
            self._authors.pop((line, message.seq), None)
            self._bytes -= self._size(message)
        del messages[:count]

    def _shrink(self, target: int) -> None:
        """Drop whole histories, the line whose newest message is oldest first; then the oldest of the last line."""
        by_age = sorted((messages[-1].ts, line) for line, messages in self._lines.items() if messages)
        for _, line in by_age[:-1]:
            if self._bytes <= target:
                return
            self._drop_oldest(line, len(self._lines[line]))
        messages = self._lines[by_age[-1][1]]
        drop = 0
        excess = self._bytes - target
        while excess > 0 and drop < len(messages) - 1:
            excess -= self._size(messages[drop])
            drop += 1
        self._drop_oldest(by_age[-1][1], drop)

    def find(self, line: str, client_id: str, author: str) -> list[ChatMessage]:
        return [m for m in self._lines.get(line, []) if m.id == client_id and self._authors.get((line, m.seq)) == author]

    def visible(self, line: str, phone_number: str, *, after_seq: int = 0, limit: int) -> list[ChatMessage]:
        self._prune(line)
        found = [m for m in self._lines.get(line, []) if m.seq > after_seq and _visible_to(m, phone_number)]
        return found[-limit:] if limit > 0 else []

    def keep_member(self, line: str, phone_number: str, token_hash: str, properties: dict[str, Any]) -> None:
        self._members[line, phone_number] = Member(line, phone_number, token_hash, properties)

    def forget_member(self, line: str, phone_number: str) -> None:
        self._members.pop((line, phone_number), None)

    def members(self) -> list[Member]:
        return list(self._members.values())

    def close(self) -> None:
        self._lines.clear()
        self._authors.clear()
        self._members.clear()
        self._bytes = 0


class SQLiteStore:
    """History in one SQLite file, kept across hub restarts."""

    @_storage_errors
    def __init__(
        self,
        path: str | Path,
        keep_messages: int = DEFAULT_KEEP_MESSAGES,
        keep_days: float = DEFAULT_KEEP_DAYS,
        max_bytes: int | None = DEFAULT_MAX_STORE_BYTES,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._max_bytes = max_bytes
        # Incremental auto-vacuum lets pruning hand pages back to the file system; a file made
        # without it is rebuilt once (VACUUM) so that its size can shrink too.
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._db.execute("VACUUM")
        # WAL: a committed message survives the hub being killed; NORMAL skips an fsync per insert.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        self._page_size: int = self._db.execute("PRAGMA page_size").fetchone()[0]
        if max_bytes is not None:  # the log is checkpointed at a tenth of the bound (SQLite's 1000 pages at most)
            self._db.execute(f"PRAGMA wal_autocheckpoint={max(16, min(1000, max_bytes // self._page_size // 10))}")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS messages (
                line TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
                sender TEXT NOT NULL, recipient TEXT, nickname TEXT, text TEXT NOT NULL,
                action INTEGER NOT NULL DEFAULT 0, client_id TEXT,
                PRIMARY KEY (line, seq));
            CREATE INDEX IF NOT EXISTS messages_client_id ON messages (line, client_id) WHERE client_id IS NOT NULL;
            CREATE TABLE IF NOT EXISTS lines (line TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS members (
                line TEXT NOT NULL, phone_number TEXT NOT NULL, token_hash TEXT NOT NULL, properties TEXT NOT NULL,
                PRIMARY KEY (line, phone_number));
            """
        )
        self._add_missing_columns("messages", {"author": "TEXT"})
        self._add_missing_columns("lines", {"epoch": "TEXT"})
        self._keep = keep_messages
        self._keep_ms = int(keep_days * 86_400_000)
        self._appends = 0
        self._pruned_at: dict[str, float] = {}
        if max_bytes is not None and self.used_bytes > max_bytes:  # the bound was lowered since the last run
            self._shrink(int(max_bytes * _SHRINK_TO))

    def _add_missing_columns(self, table: str, columns: dict[str, str]) -> None:
        """Bring a history file written by an older hub up to date, keeping its rows."""
        present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    @_storage_errors
    def last_seq(self, line: str) -> int:
        row = self._db.execute("SELECT last_seq FROM lines WHERE line = ?", (line,)).fetchone()
        return row[0] if row else 0

    @_storage_errors
    def epoch(self, line: str) -> str:
        row = self._db.execute("SELECT epoch FROM lines WHERE line = ?", (line,)).fetchone()
        if row is not None and row[0]:
            return row[0]
        epoch = _new_epoch()
        self._db.execute(
            "INSERT INTO lines (line, last_seq, epoch) VALUES (?, 0, ?) ON CONFLICT (line) DO UPDATE SET epoch = excluded.epoch",
            (line, epoch),
        )
        return epoch

    @_storage_errors
    def first_seq(self, line: str) -> int:
        self._prune(line)
        row = self._db.execute("SELECT MIN(seq) FROM messages WHERE line = ?", (line,)).fetchone()
        return row[0] if row[0] is not None else self.last_seq(line) + 1

    @_storage_errors
    def append(self, line: str, message: ChatMessage, author: str | None = None) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO messages (line, seq, ts, sender, recipient, nickname, text, action, client_id, author)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (line, message.seq, message.ts, message.sender, message.to, message.nickname,
                 message.text, int(message.action), message.id, author),
            )
            self._db.execute(
                "INSERT INTO lines (line, last_seq) VALUES (?, ?) ON CONFLICT (line) DO UPDATE SET last_seq = excluded.last_seq",
                (line, message.seq),
            )
        self._appends += 1
        if self._appends % _PRUNE_EVERY == 0:
            self._prune(line, force=True)
        if self._max_bytes is not None and self.used_bytes > self._max_bytes:
            self._shrink(int(self._max_bytes * _SHRINK_TO))

    @property
    def used_bytes(self) -> int:
        """Bytes of the file in use (free pages not counted)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0] - self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return pages * self._page_size

    def _shrink(self, target: int) -> None:
        """Drop whole histories, the line whose newest message is oldest first; then the oldest of the last line.

        Numbering is kept (the `lines` table), so a pruned line goes on from where it was.
        """
        by_age = [row[0] for row in self._db.execute(
            "SELECT line FROM lines WHERE EXISTS (SELECT 1 FROM messages WHERE messages.line = lines.line)"
            " ORDER BY (SELECT ts FROM messages WHERE messages.line = lines.line AND seq = lines.last_seq)"
        )]
        for line in by_age[:-1]:
            if self.used_bytes <= target:
                break
            log.info("the history store is over %d bytes: dropping the history of line %r", self._max_bytes, line)
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("DELETE FROM messages WHERE line = ?", (line,))
        newest = by_age[-1]
        while self.used_bytes > target:
            retained = self._db.execute("SELECT MIN(seq), COUNT(*) FROM messages WHERE line = ?", (newest,)).fetchone()
            if retained[1] <= 1:
                break
            with self._db:  # a tenth of what is left at a time: few passes, little dropped beyond the target
                self._db.execute("BEGIN")
                self._db.execute(
                    "DELETE FROM messages WHERE line = ? AND seq < ?", (newest, retained[0] + max(1, retained[1] // 10))
                )
        self._db.executescript("PRAGMA incremental_vacuum;")  # one page a step: executescript steps to the end
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def check(self) -> None:
        """Read the whole file once; raise StoreError when it is damaged."""
        try:
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"the history file {self.path} is damaged ({exc})") from exc
        if problems != ["ok"]:
            raise StoreError(f"the history file {self.path} is damaged ({problems[0]})")

    def _prune(self, line: str, *, force: bool = False) -> None:
        """Drop what retention no longer keeps; housekeeping, so a failure is logged, not raised."""
        try:
            self._prune_now(line, force=force)
        except sqlite3.Error as exc:
            log.warning("could not prune the history of line %r: %s", line, exc)

    def _prune_now(self, line: str, *, force: bool) -> None:
        # Reads prune too (age retention needs it), but a resume reads twice: once a second is enough.
        now = time.monotonic()
        if not force and now - self._pruned_at.get(line, -_PRUNE_INTERVAL) < _PRUNE_INTERVAL:
            return
        self._pruned_at[line] = now
        cutoff = int(time.time() * 1000) - self._keep_ms
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM messages WHERE line = ? AND (seq <= (SELECT last_seq FROM lines WHERE line = ?) - ? OR ts < ?)",
                (line, line, self._keep, cutoff),
            )

    @staticmethod
    def _message(row: tuple) -> ChatMessage:
        seq, ts, sender, recipient, nickname, text, action, client_id = row
        return ChatMessage(seq=seq, ts=ts, sender=sender, text=text, nickname=nickname, to=recipient,
                           action=bool(action), id=client_id)

    _COLUMNS = "seq, ts, sender, recipient, nickname, text, action, client_id"

    @_storage_errors
    def find(self, line: str, client_id: str, author: str) -> list[ChatMessage]:
        rows = self._db.execute(
            f"SELECT {self._COLUMNS} FROM messages WHERE line = ? AND client_id = ? AND author = ? ORDER BY seq",
            (line, client_id, author),
        ).fetchall()
        return [self._message(row) for row in rows]

    @_storage_errors
    def visible(self, line: str, phone_number: str, *, after_seq: int = 0, limit: int) -> list[ChatMessage]:
        self._prune(line)
        rows = self._db.execute(
            f"SELECT {self._COLUMNS} FROM messages WHERE line = ? AND seq > ?"
            " AND (recipient IS NULL OR sender = ? OR recipient = ?) ORDER BY seq DESC LIMIT ?",
            (line, after_seq, phone_number, phone_number, limit),
        ).fetchall()
        return [self._message(row) for row in reversed(rows)]

    @_storage_errors
    def keep_member(self, line: str, phone_number: str, token_hash: str, properties: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO members VALUES (?, ?, ?, ?) ON CONFLICT (line, phone_number)"
            " DO UPDATE SET token_hash = excluded.token_hash, properties = excluded.properties",
            (line, phone_number, token_hash, json.dumps(properties)),
        )

    @_storage_errors
    def forget_member(self, line: str, phone_number: str) -> None:
        self._db.execute("DELETE FROM members WHERE line = ? AND phone_number = ?", (line, phone_number))

    @_storage_errors
    def members(self) -> list[Member]:
        rows = self._db.execute("SELECT line, phone_number, token_hash, properties FROM members").fetchall()
        return [Member(line, number, token_hash, json.loads(properties)) for line, number, token_hash, properties in rows]

    def close(self) -> None:
        self._db.close()
