"""History in one SQLite file, kept across hub restarts."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ...protocol import ChatMessage
from .base import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_KEEP_MESSAGES,
    DEFAULT_MAX_STORE_BYTES,
    SHRINK_TO,
    Direct,
    Member,
    StoreError,
    new_epoch,
)

log = logging.getLogger("ozchat.hub.store")

_WAL_LIMIT = 4 * 1024 * 1024  # the write-ahead log is cut back to this after a checkpoint
_PRUNE_EVERY = 100
_PRUNE_INTERVAL = 1.0  # seconds between prunes of one line triggered by reads

# `pos` orders a line's messages as they were sent; `seq` is the line number (a direct message's: the
# line number it follows). A direct message keeps each party's identity and number.
_MESSAGES_COLUMNS = """
    pos INTEGER PRIMARY KEY, line TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
    sender TEXT NOT NULL, recipient TEXT, nickname TEXT, text TEXT NOT NULL,
    action INTEGER NOT NULL DEFAULT 0, client_id TEXT, author TEXT,
    recipient_identity TEXT, sender_direct_seq INTEGER, recipient_direct_seq INTEGER"""


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


class SQLiteStore:
    """History in one SQLite file, kept across hub restarts. Age is measured by `clock` (seconds, as time.time)."""

    @_storage_errors
    def __init__(
        self,
        path: str | Path,
        keep_messages: int = DEFAULT_KEEP_MESSAGES,
        keep_days: float = DEFAULT_KEEP_DAYS,
        max_bytes: int | None = DEFAULT_MAX_STORE_BYTES,
        clock: Callable[[], float] = time.time,
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
            f"""
            CREATE TABLE IF NOT EXISTS messages ({_MESSAGES_COLUMNS});
            CREATE TABLE IF NOT EXISTS lines (line TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS members (
                line TEXT NOT NULL, phone_number TEXT NOT NULL, token_hash TEXT NOT NULL, properties TEXT NOT NULL,
                PRIMARY KEY (line, phone_number));
            CREATE TABLE IF NOT EXISTS direct_seqs (
                line TEXT NOT NULL, identity TEXT NOT NULL, last_direct_seq INTEGER NOT NULL,
                PRIMARY KEY (line, identity));
            """
        )
        self._add_missing_columns("messages", {"author": "TEXT"})
        self._add_missing_columns("lines", {"epoch": "TEXT"})
        self._add_missing_columns("members", {"identity": "TEXT NOT NULL DEFAULT ''"})
        self._number_directs_apart()
        self._db.executescript(
            """
            CREATE INDEX IF NOT EXISTS messages_order ON messages (line, pos);
            CREATE INDEX IF NOT EXISTS messages_client_id ON messages (line, client_id) WHERE client_id IS NOT NULL;
            """
        )
        self._keep = keep_messages
        self._keep_ms = int(keep_days * 86_400_000)
        self._clock = clock
        self._appends = 0
        self._pruned_at: dict[str, float] = {}
        if max_bytes is not None and self.used_bytes > max_bytes:  # the bound was lowered since the last run
            self._shrink(int(max_bytes * SHRINK_TO))

    def _add_missing_columns(self, table: str, columns: dict[str, str]) -> None:
        """Bring a history file written by an older hub up to date, keeping its rows."""
        present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def _number_directs_apart(self) -> None:
        """Rebuild a messages table keyed by (line, seq), where direct messages took line numbers.

        Its rows keep their numbers and order. Its direct messages carry no numbers of their
        parties, so they are kept but never replayed.
        """
        present = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        if "pos" in present:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("ALTER TABLE messages RENAME TO messages_numbered_together")
            self._db.execute(f"CREATE TABLE messages ({_MESSAGES_COLUMNS})")
            self._db.execute(
                "INSERT INTO messages (line, seq, ts, sender, recipient, nickname, text, action, client_id, author)"
                " SELECT line, seq, ts, sender, recipient, nickname, text, action, client_id, author"
                " FROM messages_numbered_together ORDER BY line, seq"
            )
            self._db.execute("DROP TABLE messages_numbered_together")

    @_storage_errors
    def last_seq(self, line: str) -> int:
        row = self._db.execute("SELECT last_seq FROM lines WHERE line = ?", (line,)).fetchone()
        return row[0] if row else 0

    @_storage_errors
    def last_direct_seq(self, line: str, identity: str) -> int:
        row = self._db.execute(
            "SELECT last_direct_seq FROM direct_seqs WHERE line = ? AND identity = ?", (line, identity)
        ).fetchone()
        return row[0] if row else 0

    @_storage_errors
    def has_held_messages(self, line: str) -> bool:
        row = self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM lines WHERE line = ? AND last_seq > 0)"
            " OR EXISTS (SELECT 1 FROM direct_seqs WHERE line = ?)",
            (line, line),
        ).fetchone()
        return bool(row[0])

    @_storage_errors
    def epoch(self, line: str) -> str:
        row = self._db.execute("SELECT epoch FROM lines WHERE line = ?", (line,)).fetchone()
        if row is not None and row[0]:
            return row[0]
        epoch = new_epoch()
        self._db.execute(
            "INSERT INTO lines (line, last_seq, epoch) VALUES (?, 0, ?)"
            " ON CONFLICT (line) DO UPDATE SET epoch = excluded.epoch",
            (line, epoch),
        )
        return epoch

    @_storage_errors
    def append(self, line: str, message: ChatMessage, author: str | None = None, direct: Direct | None = None) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO messages (line, seq, ts, sender, recipient, nickname, text, action, client_id, author,"
                " recipient_identity, sender_direct_seq, recipient_direct_seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (line, message.seq, message.ts, message.sender, message.to, message.nickname,
                 message.text, int(message.action), message.id, author,
                 *(direct[1:] if direct is not None else (None, None, None))),
            )
            if direct is None:
                self._db.execute(
                    "INSERT INTO lines (line, last_seq) VALUES (?, ?)"
                    " ON CONFLICT (line) DO UPDATE SET last_seq = excluded.last_seq",
                    (line, message.seq),
                )
            else:
                self._db.executemany(
                    "INSERT INTO direct_seqs VALUES (?, ?, ?)"
                    " ON CONFLICT (line, identity) DO UPDATE SET last_direct_seq = excluded.last_direct_seq",
                    [(line, direct.sender_identity, direct.sender_seq),
                     (line, direct.recipient_identity, direct.recipient_seq)],
                )
        self._appends += 1
        if self._appends % _PRUNE_EVERY == 0:
            self._prune(line, force=True)
        if self._max_bytes is not None and self.used_bytes > self._max_bytes:
            self._shrink(int(self._max_bytes * SHRINK_TO))

    @property
    def used_bytes(self) -> int:
        """Bytes of the file in use (free pages not counted)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self._page_size

    def _shrink(self, target: int) -> None:
        """Drop whole histories, the line whose newest message is oldest first; then the oldest of the last line.

        Numbering is kept (the `lines` table), so a pruned line goes on from where it was.
        """
        by_age = [row[0] for row in self._db.execute(
            "SELECT line FROM lines WHERE EXISTS (SELECT 1 FROM messages WHERE messages.line = lines.line)"
            " ORDER BY (SELECT ts FROM messages WHERE messages.line = lines.line ORDER BY pos DESC LIMIT 1)"
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
            retained = self._db.execute("SELECT COUNT(*) FROM messages WHERE line = ?", (newest,)).fetchone()[0]
            if retained <= 1:
                break
            with self._db:  # a tenth of what is left at a time: few passes, little dropped beyond the target
                self._db.execute("BEGIN")
                self._db.execute(
                    "DELETE FROM messages WHERE pos IN (SELECT pos FROM messages WHERE line = ? ORDER BY pos LIMIT ?)",
                    (newest, max(1, retained // 10)),
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
        cutoff = int(self._clock() * 1000) - self._keep_ms
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM messages WHERE line = ? AND (ts < ? OR pos <= "
                "(SELECT pos FROM messages WHERE line = ? ORDER BY pos DESC LIMIT 1 OFFSET ?))",
                (line, cutoff, line, self._keep),
            )

    @staticmethod
    def _message(row: tuple[Any, ...]) -> ChatMessage:
        seq, ts, sender, recipient, nickname, text, action, client_id, direct_seq = row
        return ChatMessage(seq=seq, ts=ts, sender=sender, text=text, nickname=nickname, to=recipient,
                           action=bool(action), id=client_id, direct_seq=direct_seq)

    _COLUMNS = "seq, ts, sender, recipient, nickname, text, action, client_id"

    @_storage_errors
    def find(self, line: str, client_id: str, author: str) -> list[ChatMessage]:
        rows = self._db.execute(
            f"SELECT {self._COLUMNS}, sender_direct_seq FROM messages"
            " WHERE line = ? AND client_id = ? AND author = ? ORDER BY pos",
            (line, client_id, author),
        ).fetchall()
        return [self._message(row) for row in rows]

    @_storage_errors
    def visible(
        self, line: str, phone_number: str, identity: str = "", *,
        after_seq: int = 0, after_direct_seq: int = 0, limit: int,
    ) -> list[ChatMessage]:
        self._prune(line)
        sent = "sender = :phone AND author = :identity"
        received = "recipient = :phone AND recipient_identity = :identity"
        rows = self._db.execute(
            f"SELECT {self._COLUMNS}, CASE WHEN recipient IS NULL THEN NULL WHEN {sent} THEN sender_direct_seq"
            " ELSE recipient_direct_seq END AS direct_seq"
            " FROM messages WHERE line = :line AND ("
            f"(recipient IS NULL AND seq > :after) OR (sender_direct_seq IS NOT NULL AND ({sent} OR {received})))"
            " AND (recipient IS NULL OR direct_seq > :after_direct) ORDER BY pos DESC LIMIT :limit",
            {"line": line, "phone": phone_number, "identity": identity, "after": after_seq,
             "after_direct": after_direct_seq, "limit": limit},
        ).fetchall()
        return [self._message(row) for row in reversed(rows)]

    @_storage_errors
    def keep_member(
        self, line: str, phone_number: str, token_hash: str, properties: dict[str, Any], identity: str = ""
    ) -> None:
        self._db.execute(
            "INSERT INTO members (line, phone_number, token_hash, properties, identity) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (line, phone_number) DO UPDATE SET token_hash = excluded.token_hash,"
            " properties = excluded.properties, identity = excluded.identity",
            (line, phone_number, token_hash, json.dumps(properties), identity),
        )

    @_storage_errors
    def forget_member(self, line: str, phone_number: str) -> None:
        self._db.execute("DELETE FROM members WHERE line = ? AND phone_number = ?", (line, phone_number))

    @_storage_errors
    def members(self) -> list[Member]:
        rows = self._db.execute("SELECT line, phone_number, token_hash, properties, identity FROM members").fetchall()
        return [
            Member(line, number, token_hash, json.loads(properties), identity)
            for line, number, token_hash, properties, identity in rows
        ]

    def close(self) -> None:
        self._db.close()
