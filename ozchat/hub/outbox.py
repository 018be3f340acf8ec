"""A joined connection's outbox: frames queued per turn of the loop and written without a task of their own."""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from ..protocol import CloseCode
from .outputs import Pending

log = logging.getLogger("ozchat.hub")


class Outbox:
    """One connection's outbox, written out once per turn of the event loop after the connection has joined.

    A turn's pushes are queued at its end in one step (presence entries, each encoded once, in
    runs: see `Pending`), so a change told to a thousand members costs each an append. Frames go
    straight into the write buffer, several in one write, while it has room (as `broadcast()`
    writes; no task per connection); past that they wait here, counting toward the slow-reader limit.
    """

    def __init__(self, ws: ServerConnection, max_pending: int, close_timeout: float) -> None:
        self.ws = ws
        self._close_timeout = close_timeout
        self._incoming: list[bytes] = []  # pushed in this turn of the loop, not queued yet
        self._pending = Pending()
        self._max_pending = max_pending
        self._started = False
        self._stopped = False
        self._overflowed = False
        self._flush_due = False
        self._draining: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        """Whether the connection has joined: before that, the hub answers it directly."""
        return self._started

    def start(self, burst: list[bytes]) -> None:
        """Queue the join burst (after anything pushed before it) and start writing."""
        self._pending.extend(self._incoming)
        self._incoming = []
        self._pending.extend_burst(burst)
        self._started = True
        self._schedule()

    def stop(self) -> None:
        """The connection is over: nothing more is written."""
        self._stopped = True
        self._incoming = []
        self._pending.clear()
        if self._draining is not None:
            self._draining.cancel()

    def push(self, item: bytes) -> None:
        self._incoming.append(item)
        if not self._flush_due:  # _schedule(), inline: this runs once per recipient of every change
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _schedule(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Queue what this turn pushed, unless that makes the reader too slow; then write what has room."""
        self._flush_due = False
        incoming, self._incoming = self._incoming, []
        if self._stopped or self._overflowed:
            return
        if self._pending.counted + len(incoming) > self._max_pending:
            self._overflowed = True
            self._pending.clear()
            log.info("dropping a client that reads too slowly (%s)", self.ws.remote_address)
            asyncio.get_running_loop().create_task(self._drop())
            return
        self._pending.extend(incoming)
        if self._started and self._draining is None:
            self._write()

    async def _drop(self) -> None:
        """Close with 4008; a peer that reads nothing never lets the close frame out, so abort then."""
        try:
            await asyncio.wait_for(self.ws.close(CloseCode.TOO_SLOW, "too slow"), self._close_timeout)
        except TimeoutError:
            self.ws.transport.abort()

    def _write(self) -> None:
        """Write what waits while the write buffer has room; once it is full, wait for it to drain."""
        protocol, transport = self.ws.protocol, self.ws.transport
        room = transport.get_write_buffer_limits()[1]
        while self._pending and not self._stopped:
            if protocol.state is not State.OPEN:  # closing: nothing more can go out
                self.stop()
                return
            queued = transport.get_write_buffer_size()
            if queued >= room:
                self._draining = asyncio.get_running_loop().create_task(self._drain())
                return
            while self._pending and queued < room:
                frame = self._pending.take()
                protocol.send_text(frame)
                queued += len(frame)
            transport.write(b"".join(protocol.data_to_send()))

    async def _drain(self) -> None:
        try:
            # Written like any frame; send() returns once the buffer is back under its low-water mark.
            await self.ws.send(self._pending.take(), text=True)
        except ConnectionClosed:
            return
        finally:
            self._draining = None
        self._write()
