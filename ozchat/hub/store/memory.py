"""History in memory only: lost when the hub stops."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from ...protocol import ChatMessage
from .base import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_KEEP_MESSAGES,
    DEFAULT_MAX_STORE_BYTES,
    SHRINK_TO,
    Direct,
    Member,
    new_epoch,
)

_MESSAGE_OVERHEAD = 100  # bytes a stored message costs besides its text (an estimate)


class _Kept(NamedTuple):
    """A message in the memory store, with what only the hub knows of it."""

    message: ChatMessage
    author: str | None
    direct: Direct | None

    def copy_for(self, phone_number: str, identity: str, after_direct_seq: int) -> ChatMessage | None:
        """The message as this client sees it, if a direct message of its own numbered after `after_direct_seq`."""
        if self.direct is None:
            return None
        message, direct = self.message, self.direct
        if message.sender == phone_number and direct.sender_identity == identity:
            number = direct.sender_seq
        elif message.to == phone_number and direct.recipient_identity == identity:
            number = direct.recipient_seq
        else:
            return None
        return msgspec.structs.replace(message, direct_seq=number) if number > after_direct_seq else None


class MemoryStore:
    """History in memory only: lost when the hub stops. Age is measured by `clock` (seconds, as time.time)."""

    def __init__(
        self,
        keep_messages: int = DEFAULT_KEEP_MESSAGES,
        keep_days: float = DEFAULT_KEEP_DAYS,
        max_bytes: int | None = DEFAULT_MAX_STORE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lines: dict[str, list[_Kept]] = {}
        self._epochs: dict[str, str] = {}
        self._members: dict[tuple[str, str], Member] = {}
        self._last: dict[str, int] = {}
        self._last_direct: dict[tuple[str, str], int] = {}
        self._keep = keep_messages
        self._keep_ms = int(keep_days * 86_400_000)
        self._clock = clock
        self._max_bytes = max_bytes
        self._bytes = 0

    @staticmethod
    def _size(kept: _Kept) -> int:
        return len(kept.message.text.encode("utf-8", "surrogatepass")) + _MESSAGE_OVERHEAD

    @property
    def used_bytes(self) -> int:
        """An estimate of the memory the kept messages take."""
        return self._bytes

    def last_seq(self, line: str) -> int:
        return self._last.get(line, 0)

    def last_direct_seq(self, line: str, identity: str) -> int:
        return self._last_direct.get((line, identity), 0)

    def has_held_messages(self, line: str) -> bool:
        return line in self._lines

    def epoch(self, line: str) -> str:
        return self._epochs.setdefault(line, new_epoch())

    def append(self, line: str, message: ChatMessage, author: str | None = None, direct: Direct | None = None) -> None:
        kept = _Kept(message, author, direct)
        self._lines.setdefault(line, []).append(kept)
        if direct is None:
            self._last[line] = message.seq
        else:
            self._last_direct[line, direct.sender_identity] = direct.sender_seq
            self._last_direct[line, direct.recipient_identity] = direct.recipient_seq
        self._bytes += self._size(kept)
        self._prune(line)
        if self._max_bytes is not None and self._bytes > self._max_bytes:
            self._shrink(int(self._max_bytes * SHRINK_TO))

    def _prune(self, line: str) -> None:
        kept = self._lines.get(line, [])
        cutoff = int(self._clock() * 1000) - self._keep_ms
        drop = max(len(kept) - self._keep, 0)
        while drop < len(kept) and kept[drop].message.ts < cutoff:
            drop += 1
        self._drop_oldest(line, drop)

    def _drop_oldest(self, line: str, count: int) -> None:
        kept = self._lines.get(line, [])
        for dropped in kept[:count]:
            self._bytes -= self._size(dropped)
        del kept[:count]

    def _shrink(self, target: int) -> None:
        """Drop whole histories, the line whose newest message is oldest first; then the oldest of the last line."""
        by_age = sorted((kept[-1].message.ts, line) for line, kept in self._lines.items() if kept)
        for _, line in by_age[:-1]:
            if self._bytes <= target:
                return
            self._drop_oldest(line, len(self._lines[line]))
        kept = self._lines[by_age[-1][1]]
        drop = 0
        excess = self._bytes - target
        while excess > 0 and drop < len(kept) - 1:
            excess -= self._size(kept[drop])
            drop += 1
        self._drop_oldest(by_age[-1][1], drop)

    def find(self, line: str, client_id: str, author: str) -> list[ChatMessage]:
        return [
            msgspec.structs.replace(k.message, direct_seq=k.direct.sender_seq) if k.direct is not None else k.message
            for k in self._lines.get(line, [])
            if k.message.id == client_id and k.author == author
        ]

    def visible(
        self, line: str, phone_number: str, identity: str = "", *,
        after_seq: int = 0, after_direct_seq: int = 0, limit: int,
    ) -> list[ChatMessage]:
        self._prune(line)
        found: list[ChatMessage] = []
        for kept in self._lines.get(line, []):
            if kept.message.to is None:
                if kept.message.seq > after_seq:
                    found.append(kept.message)
            elif (copy := kept.copy_for(phone_number, identity, after_direct_seq)) is not None:
                found.append(copy)
        return found[-limit:] if limit > 0 else []

    def keep_member(
        self, line: str, phone_number: str, token_hash: str, properties: dict[str, Any], identity: str = ""
    ) -> None:
        self._members[line, phone_number] = Member(line, phone_number, token_hash, properties, identity)

    def forget_member(self, line: str, phone_number: str) -> None:
        self._members.pop((line, phone_number), None)

    def members(self) -> list[Member]:
        return list(self._members.values())

    def close(self) -> None:
        self._lines.clear()
        self._members.clear()
        self._bytes = 0
