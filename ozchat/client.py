"""OzWebClient: the asyncio client core, shaped after Ozeki's OzWebClient JavaScript API.

    client = OzWebClient()
    client.on_client_state_changed(lambda info: print(info.nickname, "is", info.status.value))
    await client.connect("localhost", "Webphone1", {"nickname": "John"})
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from .exceptions import AccessDenied, ConnectionClosed, ConnectionFailed, ProtocolError, RequestRejected
from .protocol import (
    MAX_HUB_FRAME_BYTES,
    Ack,
    ChatMessage,
    ClientInfo,
    ClientStatus,
    ConnectionState,
    ErrorFrame,
    Hello,
    Presence,
    Send,
    Update,
    Welcome,
    decode_hub_frame,
    encode,
    merge_properties,
    server_url,
)
from .roster import Roster

log = logging.getLogger("ozchat.client")


@dataclass(frozen=True)
class ConnectionStateChanged:
    """The connecting side's outcome; `code` is the hub's error code or the close code."""

    state: ConnectionState
    code: Union[str, int, None] = None
    reason: str = ""
    retrying: bool = False  # CONNECTION_CLOSED, but the client is reconnecting by itself


Event = Union[ConnectionStateChanged, ClientInfo, ChatMessage, ErrorFrame]
E = TypeVar("E")
Callback = Callable[[E], Union[None, Awaitable[None]]]
_Kind = Literal["connection", "client", "message", "error"]

_END = object()
_FINAL_STATES = (ConnectionState.ACCESS_DENIED, ConnectionState.CONNECTION_FAILED, ConnectionState.CONNECTION_CLOSED)


class EventStream:
    """An async iterator over one client's events, registered from the moment it is made.

    It ends after the connection's final state (failed, denied or closed).
    """

    def __init__(self, client: OzWebClient) -> None:
        self._client = client
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        client._streams.append(self)

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
        if self in self._client._streams:
            self._client._streams.remove(self)


class OzWebClient:
    """A connection to one line of an ozchat hub."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        request_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
    ) -> None:
        self.roster = Roster()
        self.state: ConnectionState | None = None
        self.phone_number: str | None = None
        self.line: str | None = None
        self.properties: dict[str, Any] = {}
        self.last_seq = 0
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Union[Ack, ErrorFrame]]] = {}
        self._callbacks: dict[_Kind, list[Callback[Any]]] = {"connection": [], "client": [], "message": [], "error": []}
        self._streams: list[EventStream] = []

    # ---- callbacks, Ozeki style -----------------------------------------------------

    def on_connection_state_changed(self, callback: Callback[ConnectionStateChanged]) -> Callback[ConnectionStateChanged]:
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

    def events(self) -> EventStream:
        """Every event as an async iterator; create it before `connect` to miss nothing."""
        return EventStream(self)

    @property
    def me(self) -> ClientInfo | None:
        if self.phone_number is None or self.state is not ConnectionState.ACCESS_GRANTED:
            return None
        return ClientInfo(self.phone_number, ClientStatus.ONLINE, self.properties)

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.ACCESS_GRANTED

    # ---- connection -----------------------------------------------------------------

    async def connect(
        self,
        server_address: str,
        line: str,
        properties: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> None:
        """Join `line` on the hub at `server_address` (``host``, ``host:port`` or a ws(s):// URL).

        Returns once access is granted; raises ConnectionFailed or AccessDenied otherwise,
        after the connection-state callbacks have heard the same.
        """
        if self._ws is not None:
            raise RuntimeError("already connected; disconnect first")
        properties = dict(properties or {})
        try:
            url = server_url(server_address)
        except ValueError as exc:
            await self._set_state(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=str(exc)))
            raise ConnectionFailed(str(exc)) from None
        try:
            ws = await ws_connect(
                url,
                open_timeout=self._connect_timeout,
                max_size=MAX_HUB_FRAME_BYTES,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            reason = f"cannot reach {url}: {exc or type(exc).__name__}"
            await self._set_state(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=reason))
            raise ConnectionFailed(reason) from None
        try:
            await ws.send(encode(Hello(line, properties=properties, token=token)), text=True)
            answer = decode_hub_frame(await asyncio.wait_for(ws.recv(), self._connect_timeout))
        except (websockets.ConnectionClosed, TimeoutError, ProtocolError) as exc:
            await ws.close()
            reason = f"the hub at {url} did not answer the hello: {exc or type(exc).__name__}"
            await self._set_state(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=reason))
            raise ConnectionFailed(reason) from None
        if isinstance(answer, ErrorFrame):
            await ws.close()
            await self._set_state(ConnectionStateChanged(ConnectionState.ACCESS_DENIED, answer.code, answer.message))
            raise AccessDenied(answer.code, answer.message)
        if not isinstance(answer, Welcome):
            await ws.close()
            reason = f"the hub answered the hello with a {type(answer).__name__} frame"
            await self._set_state(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=reason))
            raise ConnectionFailed(reason)
        self._ws = ws
        self.phone_number = answer.phone_number
        self.line = answer.line
        self.properties = answer.properties
        self.last_seq = answer.last_seq
        self.roster.clear()
        await self._set_state(ConnectionStateChanged(ConnectionState.ACCESS_GRANTED))
        self._reader = asyncio.create_task(self._read(ws), name=f"ozchat-reader-{answer.phone_number}")

    async def disconnect(self) -> None:
        """Leave the line; the connection-state callbacks hear CONNECTION_CLOSED."""
        ws, reader = self._ws, self._reader
        if ws is None or reader is None:
            return
        await ws.close()
        if reader is not asyncio.current_task():
            await reader

    async def __aenter__(self) -> OzWebClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    # ---- requests -------------------------------------------------------------------

    async def send_message(self, text: str, to: str | None = None, *, action: bool = False) -> ChatMessage:
        """Send to the whole line, or to one phone number; return the message as the hub numbered it."""
        ack = await self._request(lambda client_id: Send(text, to=to, action=action, id=client_id))
        assert ack.seq is not None and ack.ts is not None
        nickname = self.properties.get("nickname")
        return ChatMessage(
            seq=ack.seq,
            ts=ack.ts,
            sender=self.phone_number or "",
            text=text,
            nickname=nickname if isinstance(nickname, str) else None,
            to=to,
            action=action,
            id=ack.id,
        )

    async def update_properties(self, changes: dict[str, Any]) -> ClientInfo:
        """Share changed properties (a None value removes one); everyone else hears of it."""
        await self._request(lambda client_id: Update(changes, id=client_id))
        self.properties = merge_properties(self.properties, changes)
        assert self.me is not None
        return self.me

    async def _request(self, make_frame: Callable[[str], Union[Send, Update]]) -> Ack:
        ws = self._ws
        if ws is None:
            raise ConnectionClosed("not connected")
        client_id = secrets.token_hex(8)
        future: asyncio.Future[Union[Ack, ErrorFrame]] = asyncio.get_running_loop().create_future()
        self._pending[client_id] = future
        try:
            await ws.send(encode(make_frame(client_id)), text=True)
            answer = await asyncio.wait_for(future, self._request_timeout)
        except websockets.ConnectionClosed:
            raise ConnectionClosed("the connection closed before the hub answered") from None
        except TimeoutError:
            raise ConnectionClosed(f"no answer from the hub within {self._request_timeout} s") from None
        finally:
            self._pending.pop(client_id, None)
        if isinstance(answer, ErrorFrame):
            raise RequestRejected(answer.code, answer.message)
        return answer

    # ---- incoming -------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    frame = decode_hub_frame(raw)
                except ProtocolError as exc:
                    log.warning("ignoring a frame from the hub: %s", exc)
                    continue
                await self._receive(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._ws = None
            self._reader = None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionClosed("the connection closed before the hub answered"))
            self.roster.clear()
            code = ws.close_code
            await self._set_state(ConnectionStateChanged(ConnectionState.CONNECTION_CLOSED, code, ws.close_reason or ""))

    async def _receive(self, frame: Any) -> None:
        if isinstance(frame, Presence):
            for info in frame.clients:
                if info.phone_number != self.phone_number:
                    self.roster.apply(info)
                    await self._emit("client", info)
        elif isinstance(frame, ChatMessage):
            self.last_seq = max(self.last_seq, frame.seq)
            await self._emit("message", frame)
        elif isinstance(frame, (Ack, ErrorFrame)) and frame.id in self._pending:
            future = self._pending[frame.id]
            if not future.done():
                future.set_result(frame)
        elif isinstance(frame, ErrorFrame):
            await self._emit("error", frame)

    async def _set_state(self, change: ConnectionStateChanged) -> None:
        self.state = change.state
        await self._emit("connection", change)
        if change.state in _FINAL_STATES:
            for stream in list(self._streams):
                stream._put(_END)

    async def _emit(self, kind: _Kind, event: Any) -> None:
        for stream in list(self._streams):
            stream._put(event)
        for callback in list(self._callbacks[kind]):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a %s callback raised", kind)
