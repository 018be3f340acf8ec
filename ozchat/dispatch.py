"""How a client's events reach the program: callbacks, Ozeki style, and async event streams."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from .events import ConnectionStateChanged, Event
from .protocol import ChatMessage, ClientInfo, ErrorFrame, Gap, Synced, TypingNotice

log = logging.getLogger("ozchat.client")

E = TypeVar("E")
Callback = Callable[[E], Awaitable[None] | None]
_Kind = Literal["connection", "client", "message", "error", "synced", "gap", "typing"]
_KINDS: tuple[tuple[type, _Kind], ...] = (
    (ConnectionStateChanged, "connection"), (ClientInfo, "client"), (ChatMessage, "message"),
    (ErrorFrame, "error"), (Synced, "synced"), (Gap, "gap"), (TypingNotice, "typing"),
)

_END = object()


class EventStream:
    """An async iterator over one client's events, registered from the moment it is made.

    Besides the callback events it yields `Gap` (messages that could not be replayed) and
    `Synced` (presence and history are complete; live from here). It ends when the
    connection ends for good (failed, denied, or closed without reconnecting).
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        dispatcher._streams.append(self)

    def _put(self, event: Any) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        event = await self._queue.get()
        if event is _END:
            self.close()
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        if self in self._dispatcher._streams:
            self._dispatcher._streams.remove(self)


class Dispatcher:
    """The callbacks and streams of one client; `_emit` tells them all of an event, in order."""

    def __init__(self) -> None:
        self._callbacks: dict[_Kind, list[Callback[Any]]] = {kind: [] for _, kind in _KINDS}
        self._streams: list[EventStream] = []

    def on_connection_state_changed(
        self, callback: Callback[ConnectionStateChanged]
    ) -> Callback[ConnectionStateChanged]:
        self._callbacks["connection"].append(callback)
        return callback

    def on_client_state_changed(self, callback: Callback[ClientInfo]) -> Callback[ClientInfo]:
        self._callbacks["client"].append(callback)
        return callback

    def on_message_received(self, callback: Callback[ChatMessage]) -> Callback[ChatMessage]:
        self._callbacks["message"].append(callback)
        return callback

    def on_error(self, callback: Callback[ErrorFrame]) -> Callback[ErrorFrame]:
        """Errors the hub sends that answer no request of this client."""
        self._callbacks["error"].append(callback)
        return callback

    def on_synced(self, callback: Callback[Synced]) -> Callback[Synced]:
        """After each (re)connect: presence, history and replay are complete; live from here."""
        self._callbacks["synced"].append(callback)
        return callback

    def on_gap(self, callback: Callback[Gap]) -> Callback[Gap]:
        """Messages missed while away that the hub no longer has (`gap.direct`: this client's direct messages)."""
        self._callbacks["gap"].append(callback)
        return callback

    def on_typing(self, callback: Callback[TypingNotice]) -> Callback[TypingNotice]:
        """Someone else is typing on the line, or to this client (`notice.to`); `notice.stopped`: no more.

        Show it for a few seconds (`TYPING_SHOWN`) after the last, and stop showing it at once
        when that person's message arrives or they go OFFLINE (`typing_signals.TypingBoard` does so).
        """
        self._callbacks["typing"].append(callback)
        return callback

    def events(self) -> EventStream:
        """Every event as an async iterator; create it before `connect` to miss nothing."""
        return EventStream(self)

    async def _emit(self, event: Event) -> None:
        kind = next(kind for kind_type, kind in _KINDS if isinstance(event, kind_type))
        for stream in list(self._streams):
            stream._put(event)
        for callback in list(self._callbacks[kind]):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a %s callback raised", kind)

    def _end_streams(self) -> None:
        """The connection ended for good: every stream stops after what it holds."""
        for stream in list(self._streams):
            stream._put(_END)
