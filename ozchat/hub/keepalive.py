"""The hub's keepalive: one timer for all connections, not a task per connection."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import NamedTuple

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("ozchat.hub")


class Ping(NamedTuple):
    """A ping to one connection: when it left (or was due), and the future its pong completes."""

    sent: float
    pong: asyncio.Future[float] | None  # None until the ping is written


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
        self._checks: dict[int, asyncio.TimerHandle] = {}  # by tick: the check of its pings' answers
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
        # Each is silent until its ping is written and answered: a ping stuck behind a full write buffer counts too.
        pings = {ws: Ping(loop.time(), None) for ws in self._connections}
        for ws in pings:
            ping = loop.create_task(self._ping(ws, pings))
            self._pinging.add(ping)
            ping.add_done_callback(self._pinging.discard)
        tick = next(self._ticks)
        self._checks[tick] = loop.call_later(self._timeout, self._check, tick, pings, False)

    @staticmethod
    async def _ping(ws: ServerConnection, pings: dict[ServerConnection, Ping]) -> None:
        sent = asyncio.get_running_loop().time()
        try:
            pings[ws] = Ping(sent, asyncio.ensure_future(await ws.ping()))
        except ConnectionClosed:
            return

    def _check(self, tick: int, pings: dict[ServerConnection, Ping], last_turn: bool) -> None:
        """Cut who has not answered: a pong counts the moment its frame is read, not when a task notes it."""
        loop = asyncio.get_running_loop()
        silent = {
            ws: ping for ws, ping in pings.items()
            if (ping.pong is None or not ping.pong.done()) and ws in self._connections
        }
        # A hub too busy to send a ping on time gives its peer the whole timeout from when it did send.
        due = max((ping.sent + self._timeout for ping in silent.values()), default=0.0)
        if due > loop.time():
            self._checks[tick] = loop.call_at(due, self._check, tick, silent, False)
            return
        if silent and not last_turn:
            # A hub too busy to read a pong already sent gets one more turn of I/O first.
            self._checks[tick] = loop.call_later(0, self._check, tick, silent, True)
            return
        del self._checks[tick]
        for ws in silent:
            log.info("no pong from %s within %g s: dropping it", ws.remote_address, self._timeout)
            ws.transport.abort()
