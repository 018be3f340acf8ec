"""What `HubState` asks of the server: frames for recipients, closes, timers, uploads to store.

Also what waits in an outbox and how it leaves as frames (presence batching). No I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from itertools import groupby
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

from ..exceptions import ProtocolError
from ..protocol import (
    MAX_PRESENCE_BATCH,
    ChatMessage,
    ClientInfo,
    ErrorCode,
    ErrorFrame,
    Presence,
    encode,
    readable_client_id,
)

if TYPE_CHECKING:
    from .store import Direct

Conn = TypeVar("Conn", bound=Hashable)


class Deliver(NamedTuple, Generic[Conn]):
    """An encoded frame for every connection in `to` but `skip` (presence goes as `Announce`)."""

    to: tuple[Conn, ...]
    item: bytes
    skip: Conn | None = None


class Announce(NamedTuple, Generic[Conn]):
    """A presence change on line `line`: told to every member but `about` (the connection it is about, if any).

    One output per change, however many members: the server keeps one journal per line that
    every member's outbox reads at the end of the loop turn.
    """

    line: str
    info: ClientInfo
    about: Conn | None = None


class Burst(NamedTuple, Generic[Conn]):
    """What a hello is owed, sent whole however large: the welcome, the roster (each member's presence
    entry, encoded once: see `Line.roster`), then the rest (replay, gaps, synced)."""

    to: Conn
    welcome: bytes
    roster: list[bytes]
    rest: list[bytes]


class Close(NamedTuple, Generic[Conn]):
    """Close a connection (after what was delivered to it before)."""

    to: Conn
    code: int
    reason: str


class Timer(NamedTuple):
    """Call `HubState.expire` at this time (the clock the inputs are given in)."""

    at: float


class StoreUpload(NamedTuple, Generic[Conn]):
    """Store avatar image bytes (off the loop: decoding is slow) and answer `to` with `uploaded` or an error."""

    to: Conn
    data: bytes
    request_id: str | None


class Post(NamedTuple, Generic[Conn]):
    """Hubs sharing lines: have Redis number and append `message` (sent by `to`), then acknowledge it."""

    to: Conn
    line: str
    message: ChatMessage
    author: str
    direct: Direct | None  # a direct message's parties, and the numbers this hub would give it
    last_seq: int  # the newest line number this hub has seen: Redis never numbers below it
    epoch: str


Output = Deliver[Conn] | Announce[Conn] | Burst[Conn] | Close[Conn] | Timer | StoreUpload[Conn] | Post[Conn]


class Entry(bytes):
    """One presence entry (a ClientInfo) encoded: joined with its neighbours into one `presence` frame."""

    __slots__ = ()


# The frame around the entries, brackets included: a frame is one join of three parts, not a copy per `+`.
_PRESENCE_HEAD, _PRESENCE_TAIL = encode(Presence([])).split(b"[]")
_PRESENCE_OPEN, _PRESENCE_CLOSE = _PRESENCE_HEAD + b"[", b"]" + _PRESENCE_TAIL


def presence_frame(entries: list[bytes]) -> bytes:
    """One `presence` frame of encoded entries (at most MAX_PRESENCE_BATCH)."""
    return b"".join((_PRESENCE_OPEN, b",".join(entries), _PRESENCE_CLOSE))


def presence_frames(entries: list[bytes]) -> list[bytes]:
    """Entries in `presence` frames of MAX_PRESENCE_BATCH, as an empty queue would send them."""
    return [presence_frame(entries[start:start + MAX_PRESENCE_BATCH])
            for start in range(0, len(entries), MAX_PRESENCE_BATCH)]


class Pending:
    """What waits in an outbox: encoded frames, and presence entries (`Entry`) that leave together.

    Consecutive entries are gathered into runs of at most MAX_PRESENCE_BATCH as they arrive, so
    each run leaves as one `presence` frame (a join storm costs each recipient a few frames
    rather than one per change) and taking a frame is one step. The join burst (welcome,
    roster, replay, synced) is owed to every client however large: `counted` leaves it out, so
    the slow-reader limit bounds only what queues behind it.
    """

    __slots__ = ("_burst", "_items", "_run", "_size")

    def __init__(self) -> None:
        # None while empty: an idle connection keeps no deque block (about 600 bytes) for nothing.
        self._items: deque[bytes | list[bytes]] | None = None
        self._run: list[bytes] | None = None  # the run at the end, while it may grow
        self._size = 0  # frames and presence entries waiting
        self._burst = 0  # of them, those of the join burst

    def __bool__(self) -> bool:
        return self._items is not None

    @property
    def counted(self) -> int:
        """Frames and presence entries waiting behind the join burst."""
        return self._size - self._burst

    def extend(self, items: list[bytes]) -> None:
        """Queue items in order; entries top up the run at the end, then start new ones."""
        if not items:
            return
        if self._items is None:
            self._items = deque()
        for kind, group in groupby(items, type):
            if kind is not Entry:
                self._items.extend(group)
                self._run = None
                continue
            self._add_entries(list(group))
        self._size += len(items)

    def extend_entries(self, entries: list[bytes]) -> None:
        """Queue presence entries only (a line's journal): `extend` without looking at each one."""
        if not entries:
            return
        if self._items is None:
            self._items = deque()
        self._add_entries(entries)
        self._size += len(entries)

    def _add_entries(self, entries: list[bytes]) -> None:
        """Top up the run at the end, then start new ones."""
        assert self._items is not None
        if self._run is not None:
            room = MAX_PRESENCE_BATCH - len(self._run)
            self._run.extend(entries[:room])
            entries = entries[room:]
        for start in range(0, len(entries), MAX_PRESENCE_BATCH):
            self._run = entries[start:start + MAX_PRESENCE_BATCH]
            self._items.append(self._run)

    def extend_burst(self, welcome: bytes, roster: list[bytes], rest: list[bytes]) -> None:
        """Queue a join burst (see `Burst`), which `counted` leaves out."""
        self.extend([welcome])
        self.extend_entries(roster)
        self.extend(rest)
        self._burst += 1 + len(roster) + len(rest)

    def take(self) -> bytes:
        """The next frame to write."""
        assert self._items is not None, "take() from an empty queue"
        item = self._items.popleft()
        if not self._items:
            self._items = None
        if isinstance(item, bytes):
            taken, frame = 1, item
        else:
            if item is self._run:
                self._run = None
            taken, frame = len(item), presence_frame(item)
        self._size -= taken
        self._burst = max(0, self._burst - taken)
        return frame

    def clear(self) -> None:
        self._items = None
        self._run = None
        self._size = self._burst = 0


def retry_after(wait: float) -> float:
    """Seconds to the millisecond, rounded up: a frame sent that much later passes."""
    return math.ceil(wait * 1000) / 1000


def answer(conn: Conn, error: ProtocolError, raw: str | bytes) -> list[Output[Conn]]:
    """A client's mistake, told to it alone; the connection stays open."""
    request_id = error.request_id or readable_client_id(raw)
    return [Deliver((conn,), encode(ErrorFrame(error.code, error.message, request_id)))]


def refusal(conn: Conn, error: ErrorFrame, code: int, reason: str) -> list[Output[Conn]]:
    """A hello turned away: one error frame, then the close."""
    return [Deliver((conn,), encode(error)), Close(conn, code, reason)]


def failure(conn: Conn, message: str, hello_id: str | None) -> list[Output[Conn]]:
    """The hub's own failure, not the client's: error frame, then close 1011."""
    return refusal(conn, ErrorFrame(ErrorCode.STORE_FAILED, message, hello_id), 1011, ErrorCode.STORE_FAILED)
