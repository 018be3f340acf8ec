"""What `HubState` asks of the server: frames for recipients, closes, timers, uploads to store.

Also the outbox's one decision, how queued items leave as frames (presence batching). No I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar

from ..exceptions import ProtocolError
from ..protocol import MAX_PRESENCE_BATCH, ClientInfo, ErrorCode, ErrorFrame, Presence, encode, readable_client_id

Conn = TypeVar("Conn", bound=Hashable)

# What an outbox queues: an encoded frame, or a presence entry it may batch with its neighbours.
Item = bytes | ClientInfo


class Deliver(NamedTuple, Generic[Conn]):
    """`item` for every connection in `to` but `skip` (the one the news is about, if connected)."""

    to: tuple[Conn, ...]
    item: Item
    skip: Conn | None = None


class Burst(NamedTuple, Generic[Conn]):
    """What a hello is owed (welcome, presence snapshot, replay, synced): sent whole, however large."""

    to: Conn
    items: list[Item]


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


Output = Deliver[Conn] | Burst[Conn] | Close[Conn] | Timer | StoreUpload[Conn]


def take_frame(pending: deque[Item]) -> tuple[bytes, int]:
    """The next frame an outbox writes, and how many queued items it took.

    Consecutive presence entries leave as one `presence` frame (at most MAX_PRESENCE_BATCH),
    so a join storm costs each recipient a few frames rather than one per change.
    """
    item = pending.popleft()
    if isinstance(item, bytes):
        return item, 1
    batch = [item]
    while pending and isinstance(pending[0], ClientInfo) and len(batch) < MAX_PRESENCE_BATCH:
        batch.append(pending.popleft())  # type: ignore[arg-type]
    return encode(Presence(batch)), len(batch)


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
