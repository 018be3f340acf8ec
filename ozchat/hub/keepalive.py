"""The hub's keepalive: one timer for all connections, not a task per connection."""

from __future__ import annotations

import asyncio
import itertools
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("ozchat.hub")


class Keepalive:
    """Every `interval` seconds each connection is pinged; one that has not answered `timeout` seconds later is cut.

    A connection is cut at once, without a close frame: a silent peer would not answer it, and
    waiting for it would keep the client ONLINE longer than the documented keepalive. One timer
    for the hub keeps an idle connection free of a task of its own (about 1.5 KiB each).
    """

    def __init__(self, interval: float, timeout: float) -> None:
        self._interval = interval
        self._timeout = timeout
        self._connections: set[ServerConnection] = set()
        self._ticking: asyncio.TimerHandle | None = None
        self._checks: dict[int, asyncio.TimerHandle] = {}  # by tick: who has not answered its ping yet
        self._ticks = itertools.count()
        self._pinging: set[asyncio.Task[None]] = set()

    def add(self, ws: ServerConnection) -> None:
        self._connections.add(ws)
        if self._ticking is None:
            self._ticking = asyncio.get_running_loop().call_later(self._interval, self._tick)

    def discard(self, ws: ServerConnection) -> None:
        self._connections.discard(ws)

    def stop(self) -> None:
        for timer in (self._ticking, *self._checks.values()):
            if timer is not None:
                timer.cancel()
        self._ticking = None
        self._checks.clear()
        for ping in self._pinging:
            ping.cancel()

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._connections:
            self._ticking = None  # the next connection starts the clock again
            return
        self._ticking = loop.call_later(self._interval, self._tick)
        unanswered = set(self._connections)
        for ws in unanswered:
            ping = loop.create_task(self._ping(ws, unanswered))
            self._pinging.add(ping)
            ping.add_done_callback(self._pinging.discard)
        tick = next(self._ticks)
        self._checks[tick] = loop.call_later(self._timeout, self._cut, tick, unanswered)

    @staticmethod
    async def _ping(ws: ServerConnection, unanswered: set[ServerConnection]) -> None:
        try:
            await (await ws.ping())
        except ConnectionClosed:
            return
        unanswered.discard(ws)

    def _cut(self, tick: int, unanswered: set[ServerConnection]) -> None:
        del self._checks[tick]
        for ws in unanswered:
            if ws in self._connections:
                log.info("no pong from %s within %g s: dropping it", ws.remote_address, self._timeout)
                ws.transport.abort()
