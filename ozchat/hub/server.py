"""The hub's WebSocket server: hello, limits, fan-out and the plain-HTTP routes.

Presence and numbering decisions live in `line.py`; this module only moves frames.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import deque
from http import HTTPStatus
from typing import Union

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..exceptions import ProtocolError
from ..protocol import (
    MAX_FRAME_BYTES,
    MAX_PRESENCE_BATCH,
    PROTOCOL_VERSION,
    Ack,
    ClientInfo,
    CloseCode,
    ErrorCode,
    ErrorFrame,
    Hello,
    Presence,
    Send,
    Update,
    Welcome,
    check_client_frame,
    decode_client_frame,
    decode_client_frame_unchecked,
    encode,
)
from .line import Line, LineRegistry

log = logging.getLogger("ozchat.hub")

_Outgoing = Union[bytes, ClientInfo]


class _Session:
    """One joined connection's outbox, drained by its own writer task.

    Consecutive presence changes waiting in the outbox leave as one frame, so a join storm
    costs each recipient a few frames rather than one per change.
    """

    def __init__(self, ws: ServerConnection, max_pending: int) -> None:
        self.ws = ws
        self._pending: deque[_Outgoing] = deque()
        self._wakeup = asyncio.Event()
        self._max_pending = max_pending
        self._overflowed = False

    def push(self, item: _Outgoing) -> None:
        if self._overflowed:
            return
        if len(self._pending) >= self._max_pending:
            self._overflowed = True
            self._pending.clear()
            log.info("dropping a client that reads too slowly (%s)", self.ws.remote_address)
            asyncio.get_running_loop().create_task(self.ws.close(CloseCode.TOO_SLOW, "too slow"))
            return
        self._pending.append(item)
        self._wakeup.set()

    async def run_writer(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    await self.ws.send(self._next_frame(), text=True)
        except ConnectionClosed:
            pass

    def _next_frame(self) -> bytes:
        item = self._pending.popleft()
        if isinstance(item, bytes):
            return item
        batch = [item]
        while self._pending and isinstance(self._pending[0], ClientInfo) and len(batch) < MAX_PRESENCE_BATCH:
            batch.append(self._pending.popleft())
        return encode(Presence(batch))


class Hub:
    """A hub listening on one address; use `async with Hub(...)` or `start()`/`stop()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        hello_timeout: float = 10.0,
        close_timeout: float = 5.0,
        max_pending_frames: int = 2000,
    ) -> None:
        self.host = host
        self.port = port
        self.lines = LineRegistry()
        self._token = token
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._hello_timeout = hello_timeout
        self._close_timeout = close_timeout
        self._max_pending = max_pending_frames
        self._sessions: dict[str, dict[str, _Session]] = {}
        self._server: Server | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    @property
    def client_count(self) -> int:
        return sum(len(line) for line in self.lines)

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=MAX_FRAME_BYTES,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            # a peer that stopped reading never answers our close frame: don't wait long for it
            close_timeout=self._close_timeout,
            logger=logging.getLogger("ozchat.hub.websockets"),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("hub listening on %s", self.url)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- plain HTTP -----------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] == "/healthz":
            body = {"status": "ok", "version": PROTOCOL_VERSION, "lines": len(self.lines), "clients": self.client_count}
            response = connection.respond(HTTPStatus.OK, json.dumps(body) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        return None

    # ---- one connection -------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        hello = await self._receive_hello(ws)
        if hello is None:
            return
        line = self.lines.get(hello.line)
        me = line.join(hello.properties)
        session = _Session(ws, self._max_pending)
        members = self._sessions.setdefault(line.name, {})
        members[me.phone_number] = session
        writer = asyncio.create_task(session.run_writer())
        log.info("%s joined line %r (%d present)", me.phone_number, line.name, len(line))
        session.push(encode(Welcome(me.phone_number, line.name, me.properties, line.last_seq)))
        others = [info for info in line.members() if info.phone_number != me.phone_number]
        for info in others:
            session.push(info)
        self._tell_others(line, me)
        try:
            await self._serve_member(ws, session, line, me.phone_number)
        finally:
            del members[me.phone_number]
            gone = line.leave(me.phone_number)
            if gone is not None:
                self._tell_others(line, gone)
            if not members:
                del self._sessions[line.name]
            self.lines.discard_if_empty(line)
            writer.cancel()
            log.info("%s left line %r (code %s)", me.phone_number, line.name, ws.close_code)

    async def _receive_hello(self, ws: ServerConnection) -> Hello | None:
        """Wait for a valid hello; answer anything else with an error. None: the socket is done."""
        deadline = asyncio.get_running_loop().time() + self._hello_timeout
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    raw = await asyncio.wait_for(ws.recv(), max(remaining, 0))
                except TimeoutError:
                    await ws.close(CloseCode.HELLO_TIMEOUT, "no hello in time")
                    return None
                try:
                    frame = self._decode(raw, check=False)
                    if not isinstance(frame, Hello):
                        raise ProtocolError(ErrorCode.HELLO_REQUIRED, "send a hello first", frame.id)
                except ProtocolError as exc:
                    await ws.send(encode(ErrorFrame(exc.code, exc.message, exc.request_id)), text=True)
                    continue
                refusal = self._refusal(frame)
                if refusal is not None:
                    await ws.send(encode(refusal), text=True)
                    await ws.close(CloseCode.ACCESS_DENIED, refusal.code)
                    return None
                return frame
        except ConnectionClosed:
            return None

    def _refusal(self, hello: Hello) -> ErrorFrame | None:
        try:
            check_client_frame(hello)
        except ProtocolError as exc:
            return ErrorFrame(exc.code, exc.message)
        if hello.version != PROTOCOL_VERSION:
            return ErrorFrame(ErrorCode.UNSUPPORTED_VERSION, f"this hub speaks protocol version {PROTOCOL_VERSION}")
        if self._token is not None and not hmac.compare_digest((hello.token or "").encode(), self._token.encode()):
            return ErrorFrame(ErrorCode.BAD_TOKEN, "the security token is missing or wrong")
        return None

    @staticmethod
    def _decode(raw: str | bytes, *, check: bool = True) -> Hello | Send | Update:
        if isinstance(raw, bytes):
            raise ProtocolError(ErrorCode.BINARY_FRAME, "send JSON in text frames, not binary frames")
        return decode_client_frame(raw) if check else decode_client_frame_unchecked(raw)

    async def _serve_member(self, ws: ServerConnection, session: _Session, line: Line, phone_number: str) -> None:
        try:
            async for raw in ws:
                try:
                    self._dispatch(self._decode(raw), session, line, phone_number)
                except ProtocolError as exc:
                    log.debug("%s sent a bad frame: %s", phone_number, exc)
                    session.push(encode(ErrorFrame(exc.code, exc.message, exc.request_id)))
        except ConnectionClosed:
            pass

    def _dispatch(self, frame: Hello | Send | Update, session: _Session, line: Line, phone_number: str) -> None:
        if isinstance(frame, Hello):
            raise ProtocolError(ErrorCode.ALREADY_JOINED, f"already on line {line.name!r}; one hello per connection")
        if isinstance(frame, Send):
            try:
                message = line.post(
                    phone_number,
                    frame.text,
                    ts=int(time.time() * 1000),
                    to=frame.to,
                    action=frame.action,
                    client_id=frame.id,
                )
            except ProtocolError as exc:
                exc.request_id = frame.id
                raise
            data = encode(message)
            members = self._sessions[line.name]
            for number in line.recipients(message):
                members[number].push(data)
            if frame.id is not None:
                session.push(encode(Ack(frame.id, message.seq, message.ts)))
            return
        try:
            info = line.update(phone_number, frame.properties)
        except ProtocolError as exc:
            exc.request_id = frame.id
            raise
        self._tell_others(line, info)
        if frame.id is not None:
            session.push(encode(Ack(frame.id)))

    def _tell_others(self, line: Line, info: ClientInfo) -> None:
        for number, session in self._sessions.get(line.name, {}).items():
            if number != info.phone_number:
                session.push(info)
