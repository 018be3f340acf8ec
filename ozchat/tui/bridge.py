"""The client bridge: the worker that owns the client and turns its events into Textual Messages.

Nothing else in the UI touches the network: widgets and the app learn of the client's events
only through the Messages posted here (`tui/messages.py`), presence batched once per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from textual.message import Message

from ..client import OzWebClient
from ..events import ConnectionStateChanged
from ..exceptions import OzchatError
from ..protocol import ChatMessage, ClientInfo, ErrorFrame, Gap, Synced, TypingNotice
from .messages import ChatReceived, ConnectionChanged, HistoryGap, HubErrorReceived, PresenceChanged, TypingReceived

PRESENCE_TICK = 0.05  # seconds a presence event may wait to be drawn with others


@dataclass(frozen=True)
class Join:
    """Where the app's worker connects its client."""

    server: str
    line: str
    properties: dict[str, Any] = field(default_factory=dict)
    token: str | None = None


class Timer(Protocol):
    def cancel(self) -> None: ...


# Calls back after a delay in seconds, as the event loop's call_later does (a test passes a fake one).
Schedule = Callable[[float, Callable[[], None]], Timer]


def _call_later(delay: float, callback: Callable[[], None]) -> Timer:
    return asyncio.get_running_loop().call_later(delay, callback)


class PresenceBatcher:
    """Collects client-state events and posts them as one PresenceChanged per tick."""

    def __init__(self, post: Callable[[Message], object], interval: float, schedule: Schedule = _call_later) -> None:
        self._post = post
        self._interval = interval
        self._schedule = schedule
        self._pending: list[ClientInfo] = []
        self._timer: Timer | None = None

    def add(self, info: ClientInfo) -> None:
        self._pending.append(info)
        if self._timer is None:
            self._timer = self._schedule(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._post(PresenceChanged(tuple(self._pending)))
            self._pending = []

    def close(self) -> None:
        """Drop what waits and its timer: nothing is posted once the worker has stopped."""
        self._pending = []
        self.flush()


async def run_client(client: OzWebClient, join: Join, post: Callable[[Message], object]) -> None:
    """Connect `client` as `join` says and `post` a Message for each of its events until it closes.

    A hub not reached at the start is tried again by the client's reconnect policy, as after a drop.
    """
    events = client.events()
    connecting = asyncio.ensure_future(
        client.connect(join.server, join.line, join.properties, token=join.token, keep_trying=True)
    )
    batcher = PresenceBatcher(post, PRESENCE_TICK)
    try:
        async for event in events:
            if isinstance(event, ClientInfo):
                batcher.add(event)
                continue
            batcher.flush()  # presence stays ahead of whatever followed it
            if not isinstance(event, Synced):  # the roster and history need no marker
                post(message_for(client, event))
        batcher.flush()
    finally:
        batcher.close()  # a worker cancelled with the app leaves no timer behind
        events.close()
        connecting.cancel()  # still trying when the app closes: stop
        with contextlib.suppress(OzchatError, asyncio.CancelledError):
            await connecting  # refused or failed: the event stream has said so


async def disconnect(client: OzWebClient, timeout: float = 2.0) -> None:
    """Close the client, giving up after `timeout` seconds: quitting never waits long on a hub that does not answer."""
    with contextlib.suppress(OzchatError, TimeoutError):
        await asyncio.wait_for(client.disconnect(), timeout)


def message_for(
    client: OzWebClient, event: ConnectionStateChanged | ChatMessage | ErrorFrame | Gap | TypingNotice
) -> Message:
    """The Message that carries one client event into the UI."""
    if isinstance(event, ConnectionStateChanged):
        return ConnectionChanged(event, client.me, client.line, client.epoch)
    if isinstance(event, ChatMessage):
        return ChatReceived(event)
    if isinstance(event, Gap):
        return HistoryGap(event)
    if isinstance(event, TypingNotice):
        return TypingReceived(event)
    return HubErrorReceived(event)
