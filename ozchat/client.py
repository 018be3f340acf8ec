"""OzWebClient: the asyncio client core, shaped after Ozeki's OzWebClient JavaScript API.

    client = OzWebClient()
    client.on_client_state_changed(lambda info: print(info.nickname, "is", info.status.value))
    await client.connect("localhost", "Webphone1", {"nickname": "John"})

When the connection drops, the client reconnects by itself (exponential backoff with
jitter), resumes its phone number within the hub's grace period, catches up on every message
it missed and resends what the hub had not acknowledged; the hub drops resends it already has.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import random
import secrets
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union
from urllib.parse import urlsplit, urlunsplit

import msgspec
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
    CloseCode,
    ConnectionState,
    ErrorCode,
    ErrorFrame,
    Gap,
    Hello,
    Limits,
    Presence,
    Resume,
    Send,
    Synced,
    Update,
    Upload,
    Uploaded,
    Welcome,
    decode_hub_frame,
    encode,
    merge_properties,
    same_properties,
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
    # ACCESS_GRANTED after a reconnect to a hub whose numbering restarted (it lost its history):
    # messages seen before are gone from the hub, and all it still has is replayed next.
    history_reset: bool = False
    # ACCESS_GRANTED under another nickname: the one asked for, which someone on the line had
    # (or one looking like it); `OzWebClient.nickname` is the one given.
    taken_nickname: str | None = None


Event = Union[ConnectionStateChanged, ClientInfo, ChatMessage, ErrorFrame, Gap, Synced]
E = TypeVar("E")
Callback = Callable[[E], Union[None, Awaitable[None]]]
_Kind = Literal["connection", "client", "message", "error", "synced", "gap"]

_END = object()
_RATE_LIMIT_PAUSES = (0.2, 0.4, 0.8, 1.6, 3.2)  # seconds before resending a rate-limited request


def _retry_after_header(response: Any) -> float | None:
    """A 429 answer's Retry-After, in seconds (the hub sends whole seconds)."""
    if response is None or response.status_code != 429:
        return None
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


_CLOSE_REASONS = {
    1000: "closed",
    1001: "the hub is going away",
    1006: "the connection was lost",
    1009: "a frame was too large",
    1011: "the hub stopped answering, or failed",
    CloseCode.HELLO_TIMEOUT: "no hello in time",
    CloseCode.ACCESS_DENIED: "access denied",
    CloseCode.TOO_SLOW: "this client read too slowly",
    CloseCode.REPLACED: "replaced by a newer connection",
    CloseCode.RATE_LIMITED: "too many joins from this address",
}


def _close_reason(ws: ClientConnection) -> str:
    """What ended a socket, in words: the hub's reason when it gave one."""
    if ws.close_reason:
        return ws.close_reason
    return _CLOSE_REASONS.get(ws.close_code or 1006, f"closed with code {ws.close_code}")


async def _transport_mismatch(url: str, timeout: float) -> str:
    """A hint when the hub at `url` speaks the other transport (TLS for ws://, plain for wss://)."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "wss" else 80)
    other = urlunsplit(parts._replace(scheme="ws" if parts.scheme == "wss" else "wss"))
    try:
        async with asyncio.timeout(timeout):
            if parts.scheme == "ws":
                # Only whether a TLS handshake succeeds there; nothing is sent or trusted.
                probe = ssl.create_default_context()
                probe.check_hostname = False
                probe.verify_mode = ssl.CERT_NONE
                _, writer = await asyncio.open_connection(host, port, ssl=probe)
                writer.close()
                return f"; the hub there speaks TLS: connect to {other}"
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
                status = await reader.readline()
            finally:
                writer.close()
            if status.startswith(b"HTTP/"):
                return f"; the hub there does not speak TLS: connect to {other}"
    except (OSError, TimeoutError):
        pass
    return ""


class EventStream:
    """An async iterator over one client's events, registered from the moment it is made.

    Besides the callback events it yields `Gap` (messages that could not be replayed) and
    `Synced` (presence and history are complete; live from here). It ends when the
    connection ends for good (failed, denied, or closed without reconnecting).
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


class RenumberedClient(ClientInfo, frozen=True):
    """ONLINE under a new phone number: the same client as `previous_phone_number`, which is gone.

    Only after a reconnect, when the hub lost everyone's numbers (a restart without its store):
    the client was listed before under the old number and now, with the same properties, under
    this one. Move what belonged to the old number (a direct-message tab) to the new one.
    """

    previous_phone_number: str = ""


@dataclass
class _Request:
    data: bytes
    future: asyncio.Future[Union[Ack, Uploaded, ErrorFrame]]


class OzWebClient:
    """A connection to one line of an ozchat hub."""

    def __init__(
        self,
        *,
        reconnect: bool = True,
        history: int | None = None,
        connect_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        client_secret: str | None = None,
        pick_free_nickname: bool = False,
        before_reconnect: Callable[[], Awaitable[object]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`pick_free_nickname`: when the hub refuses the nickname as in use (on connect or a
        reconnect), try John2, John3, … up to John99 instead of giving up, IRC-style.

        `before_reconnect` runs before each reconnect attempt (e.g. to start a local hub that
        died); if it fails, the failure is logged and the attempt goes ahead.

        `ssl_context` verifies a wss:// hub (default: the system's trusted CAs), e.g.
        ``ssl.create_default_context(cafile="ca.pem")`` for a hub whose certificate a private CA signed.
        """
        self.roster = Roster()
        self.state: ConnectionState | None = None
        self.phone_number: str | None = None
        self.line: str | None = None
        self.properties: dict[str, Any] = {}
        self.last_seq = 0
        # This client's own direct messages, sent or received, are numbered apart from the line's.
        self.last_direct_seq = 0
        # The hub's name for the numbering last_seq and last_direct_seq count in (from the welcome).
        self.epoch: str | None = None
        # What the hub accepts, from its welcome: check a message against it before sending.
        self.limits = Limits()
        self._reconnect = reconnect
        self._history = history
        self._connect_timeout = connect_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._pick_free_nickname = pick_free_nickname
        self._wanted_nickname: str | None = None  # what the caller asked for: variants are made from it
        self._before_reconnect = before_reconnect
        self._ssl_context = ssl_context
        self._url = ""
        self._token: str | None = None
        # Sent in every hello: the hub matches resends with this client's earlier sends only.
        self._client_secret = client_secret or secrets.token_urlsafe(24)
        self._resume_token = ""
        self._ws: ClientConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._pending: dict[str, _Request] = {}
        # After a welcome: the hub's presence snapshot, gathered until it ends, then reconciled at once.
        self._snapshot: dict[str, ClientInfo] | None = None
        self._callbacks: dict[_Kind, list[Callback[Any]]] = {
            "connection": [], "client": [], "message": [], "error": [], "synced": [], "gap": []
        }
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

    def on_synced(self, callback: Callback[Synced]) -> Callback[Synced]:
        """After each (re)connect: presence, history and replay are complete; live from here."""
        self._callbacks["synced"].append(callback)
        return callback

    def on_gap(self, callback: Callback[Gap]) -> Callback[Gap]:
        """Messages missed while away that the hub no longer has (`gap.direct`: this client's direct messages)."""
        self._callbacks["gap"].append(callback)
        return callback

    def events(self) -> EventStream:
        """Every event as an async iterator; create it before `connect` to miss nothing."""
        return EventStream(self)

    @property
    def me(self) -> ClientInfo | None:
        if self.phone_number is None:
            return None
        return ClientInfo(self.phone_number, ClientStatus.ONLINE, self.properties)

    @property
    def nickname(self) -> str | None:
        """The nickname this client has on the line (a variant when the one asked for was taken)."""
        return _nickname(self.properties)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def reconnecting(self) -> bool:
        """The connection dropped and the client is getting it back; requests wait meanwhile."""
        return self._supervisor is not None and self._ws is None

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
        if self._supervisor is not None:
            raise RuntimeError("already connected; disconnect first")
        try:
            self._url = server_url(server_address)
        except ValueError as exc:
            await self._finish(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=str(exc)))
            raise ConnectionFailed(str(exc)) from None
        self.line = line
        self.properties = dict(properties or {})
        self._wanted_nickname = self.nickname
        self._token = token
        self.phone_number = None
        self.last_seq = 0
        self.last_direct_seq = 0
        self.epoch = None
        self._stopping.clear()
        try:
            hello = Hello(line, properties=self.properties, token=token, history=self._history, client_secret=self._client_secret)
            ws, welcome, taken = await self._open_free(hello)
        except ConnectionFailed as exc:
            await self._finish(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=str(exc)))
            raise
        except AccessDenied as exc:
            await self._finish(ConnectionStateChanged(ConnectionState.ACCESS_DENIED, exc.code, exc.message))
            raise
        # Numbering starts from the hub's newest message: what came before is history, not missed.
        self.last_seq = welcome.last_seq
        self.last_direct_seq = welcome.last_direct_seq
        self._supervisor = asyncio.create_task(self._run(ws), name="ozchat-client")
        await self._granted(ws, welcome, taken)

    async def _open_free(self, hello: Hello) -> tuple[ClientConnection, Welcome, str | None]:
        """`_open`, then, if asked to pick a free nickname, variants while the hub says it is in use.

        Returns the socket, the welcome and the nickname that was refused (None if none was).
        """
        refused: str | None = None
        variants = _variants(self._wanted_nickname or "", self.limits.max_nickname_chars)
        while True:
            try:
                ws, welcome = await self._open(hello)
                return ws, welcome, refused
            except AccessDenied as exc:
                nickname = _nickname(hello.properties)
                if not (self._pick_free_nickname and exc.code == ErrorCode.NICKNAME_IN_USE and nickname):
                    raise
                refused = refused or nickname
                candidate = next((variant for variant in variants if variant != nickname), None)
                if candidate is None:
                    raise
                properties = {key: value for key, value in hello.properties.items() if key.casefold() != "nickname"}
                hello = msgspec.structs.replace(hello, properties={**properties, "nickname": candidate})

    async def _open(self, hello: Hello) -> tuple[ClientConnection, Welcome]:
        """Open a socket and say hello; raise ConnectionFailed or AccessDenied."""
        tls = {"ssl": self._ssl_context} if self._ssl_context is not None and self._url.startswith("wss:") else {}
        try:
            ws = await ws_connect(
                self._url,
                open_timeout=self._connect_timeout,
                max_size=MAX_HUB_FRAME_BYTES,
                ping_interval=None,  # our own keepalive (`_keep_alive`): a silent hub is cut, not sent a close frame
                **tls,
            )
        except websockets.InvalidStatus as exc:
            raise ConnectionFailed(f"cannot reach {self._url}: {exc}", _retry_after_header(exc.response)) from None
        except ssl.SSLCertVerificationError as exc:
            raise ConnectionFailed(
                f"cannot reach {self._url}: the hub's certificate could not be verified ({exc.verify_message}); "
                "if a private CA signed it, trust that CA (ozchat --cafile)"
            ) from None
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            hint = ""
            if isinstance(exc, (websockets.InvalidMessage, ssl.SSLError, ConnectionResetError)):
                hint = await _transport_mismatch(self._url, min(self._connect_timeout, 5.0))
            raise ConnectionFailed(f"cannot reach {self._url}: {exc or type(exc).__name__}{hint}") from None
        try:
            await ws.send(encode(hello), text=True)
            answer = decode_hub_frame(await asyncio.wait_for(ws.recv(), self._connect_timeout))
        except (websockets.ConnectionClosed, TimeoutError, ProtocolError) as exc:
            await ws.close()
            raise ConnectionFailed(f"the hub at {self._url} did not answer the hello: {exc or type(exc).__name__}") from None
        if isinstance(answer, ErrorFrame):
            await ws.close()
            if answer.code == ErrorCode.RATE_LIMITED:  # too many joins from here: not a refusal, a "later"
                raise ConnectionFailed(f"the hub asks to wait: {answer.message}", answer.retry_after)
            raise AccessDenied(answer.code, answer.message)
        if not isinstance(answer, Welcome):
            await ws.close()
            raise ConnectionFailed(f"the hub answered the hello with a {type(answer).__name__} frame")
        return ws, answer

    async def _granted(self, ws: ClientConnection, welcome: Welcome, taken_nickname: str | None = None) -> None:
        # The hub lost its history (a restart with --store memory): it numbers afresh and replays all it has.
        history_reset = self.epoch is not None and welcome.epoch != self.epoch
        if history_reset:
            log.info("the hub's numbering of line %r restarted (was at %d)", welcome.line, self.last_seq)
            self.last_seq = 0
            self.last_direct_seq = 0
        self.epoch = welcome.epoch
        self._ws = ws
        self.phone_number = welcome.phone_number
        self.line = welcome.line
        self.properties = welcome.properties
        self._resume_token = welcome.resume_token
        self.limits = welcome.limits
        self._snapshot = {}
        await self._set_state(
            ConnectionStateChanged(ConnectionState.ACCESS_GRANTED, history_reset=history_reset, taken_nickname=taken_nickname)
        )

    async def _run(self, ws: ClientConnection) -> None:
        """Read until the socket ends; then reconnect, unless told to stop, until it works."""
        final: ConnectionStateChanged | None = None
        while final is None:
            await self._read(ws)
            self._ws = None
            closed = ConnectionStateChanged(ConnectionState.CONNECTION_CLOSED, ws.close_code, _close_reason(ws))
            if self._stopping.is_set() or not self._reconnect:
                final = closed
                break
            await self._set_state(ConnectionStateChanged(closed.state, closed.code, closed.reason, retrying=True))
            attempt = 0
            hinted = 0.0  # the hub's retry-after, when it turned the last attempt away
            while True:
                # "Equal jitter": at least half the backoff, so a restarted hub is not hit at once by all.
                ceiling = min(self._backoff_cap, self._backoff_base * 2**attempt)
                delay = max(hinted, ceiling / 2 + random.uniform(0, ceiling / 2))
                attempt += 1
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                    final = closed
                    break
                except TimeoutError:
                    pass
                if self._before_reconnect is not None and not await self._run_before_reconnect(attempt):
                    final = closed
                    break
                try:
                    ws, welcome, taken = await self._open_free(self._resume_hello())
                except ConnectionFailed as exc:
                    log.info("reconnect attempt %d failed: %s", attempt, exc)
                    hinted = exc.retry_after or 0.0
                    continue
                except AccessDenied as exc:
                    final = ConnectionStateChanged(ConnectionState.ACCESS_DENIED, exc.code, exc.message)
                    break
                if self._stopping.is_set():  # disconnect() was called while this attempt was under way
                    await ws.close()
                    final = closed
                    break
                await self._granted(ws, welcome, taken)
                for request in list(self._pending.values()):
                    await self._send_quietly(ws, request.data)
                break
        await self._finish(final)

    async def _run_before_reconnect(self, attempt: int) -> bool:
        """Run the hook unless disconnect() comes first; False when it did."""
        assert self._before_reconnect is not None
        hook = asyncio.ensure_future(self._before_reconnect())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait((hook, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not hook.done():
            hook.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await hook
            return False
        if hook.exception() is not None:
            log.warning("before reconnect attempt %d: %s", attempt, hook.exception())
        return not self._stopping.is_set()

    def _resume_hello(self) -> Hello:
        resume = Resume(self.phone_number, self._resume_token) if self.phone_number and self._resume_token else None
        return Hello(
            self.line or "", properties=self.properties, token=self._token, last_seq=self.last_seq, epoch=self.epoch,
            last_direct_seq=self.last_direct_seq, resume=resume, client_secret=self._client_secret,
        )

    async def _finish(self, final: ConnectionStateChanged) -> None:
        self._supervisor = None
        for request in self._pending.values():
            if not request.future.done():
                request.future.set_exception(ConnectionClosed("the connection closed before the hub answered"))
        self._pending.clear()
        self.roster.clear()
        await self._set_state(final)
        for stream in list(self._streams):
            stream._put(_END)

    async def disconnect(self) -> None:
        """Leave the line for good; the connection-state callbacks hear CONNECTION_CLOSED."""
        supervisor = self._supervisor
        if supervisor is None:
            return
        self._stopping.set()
        if self._ws is not None:
            await self._ws.close()
        if supervisor is not asyncio.current_task():
            await supervisor

    async def __aenter__(self) -> OzWebClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    # ---- requests -------------------------------------------------------------------

    async def send_message(self, text: str, to: str | None = None, *, action: bool = False) -> ChatMessage:
        """Send to the whole line, or to one phone number; return the message as the hub numbered it.

        While the client is reconnecting the message waits and is sent once the line is back.
        """
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
            direct_seq=ack.direct_seq,
        )

    async def update_properties(self, changes: dict[str, Any]) -> ClientInfo:
        """Share changed properties (a None value removes one); everyone else hears of it."""
        ack = await self._request(lambda client_id: Update(changes, id=client_id))
        # The hub's merge is the truth; an older hub's ack carries none, so merge the same way then.
        self.properties = ack.properties if ack.properties is not None else merge_properties(self.properties, changes)
        if any(key.casefold() == "nickname" for key in changes):
            self._wanted_nickname = self.nickname
        assert self.me is not None
        return self.me

    async def upload_avatar(self, image: bytes) -> str:
        """Give the hub an avatar image (PNG, JPEG, GIF or WebP, 256 KiB at most); return its name.

        The hub re-encodes it as a small PNG and serves it at /avatars/NAME; share the name as
        `avatar` to use it (everyone resolves it against their own address of the hub).
        """
        answer = await self._request(lambda client_id: Upload(base64.b64encode(image).decode("ascii"), id=client_id))
        assert isinstance(answer, Uploaded)
        return answer.name

    async def _request(self, make_frame: Callable[[str], Union[Send, Update, Upload]]) -> Any:
        if self._supervisor is None:
            raise ConnectionClosed("not connected")
        client_id = secrets.token_hex(8)
        request = _Request(encode(make_frame(client_id)), asyncio.get_running_loop().create_future())
        self._pending[client_id] = request
        try:
            for pause in (*_RATE_LIMIT_PAUSES, None):
                if self._ws is not None:
                    await self._send_quietly(self._ws, request.data)
                # A lost connection resends it on reconnect; keepalive bounds a silent hub.
                answer = await request.future
                if pause is None or not (isinstance(answer, ErrorFrame) and answer.code == ErrorCode.RATE_LIMITED):
                    break
                # The hub dropped the frame unread: the same frame again once its budget refills.
                request.future = asyncio.get_running_loop().create_future()
                await asyncio.sleep(max(pause, answer.retry_after or 0.0))
        finally:
            self._pending.pop(client_id, None)
        if isinstance(answer, ErrorFrame):
            raise RequestRejected(answer.code, answer.message)
        return answer

    @staticmethod
    async def _send_quietly(ws: ClientConnection, data: bytes) -> None:
        """Send if the socket is still up; a frame lost here is resent after reconnecting."""
        try:
            await ws.send(data, text=True)
        except websockets.ConnectionClosed:
            pass

    # ---- incoming -------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        keepalive = asyncio.create_task(self._keep_alive(ws)) if self._ping_interval else None
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
            if keepalive is not None:
                keepalive.cancel()

    async def _keep_alive(self, ws: ClientConnection) -> None:
        """Ping the hub; when it does not answer in time, drop the connection without a close frame.

        A close frame that reached the hub would say this client left (OFFLINE at once, its
        number gone); a lost connection keeps the number for the grace period, to resume.
        """
        assert self._ping_interval is not None
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                async with asyncio.timeout(self._ping_timeout):
                    await (await ws.ping())
            except TimeoutError:
                log.info("the hub did not answer a ping within %s s: reconnecting", self._ping_timeout)
                ws.transport.abort()
                return
            except websockets.ConnectionClosed:
                return

    async def _receive(self, frame: Any) -> None:
        if isinstance(frame, Presence):
            for info in frame.clients:
                if info.phone_number == self.phone_number:
                    continue
                if self._snapshot is not None:
                    self._snapshot[info.phone_number] = info
                elif self.roster.apply(info) != info:
                    await self._emit("client", info)
            return
        if self._snapshot is not None:  # the hub sends the whole snapshot before anything else
            await self._reconcile(self._snapshot)
            self._snapshot = None
        if isinstance(frame, ChatMessage):
            # Already shown: a replay overlapping what arrived live. Direct messages count apart.
            if frame.direct_seq is not None:
                if not frame.history and frame.direct_seq <= self.last_direct_seq:
                    return
                self.last_direct_seq = max(self.last_direct_seq, frame.direct_seq)
            else:
                if not frame.history and frame.seq <= self.last_seq:
                    return
                self.last_seq = max(self.last_seq, frame.seq)
            await self._emit("message", frame)
        elif isinstance(frame, (Ack, Uploaded, ErrorFrame)) and frame.id in self._pending:
            future = self._pending[frame.id].future
            if not future.done():
                future.set_result(frame)
        elif isinstance(frame, ErrorFrame):
            await self._emit("error", frame)
        elif isinstance(frame, Synced):
            await self._emit("synced", frame)
        elif isinstance(frame, Gap):
            await self._emit("gap", frame)

    async def _reconcile(self, snapshot: dict[str, ClientInfo]) -> None:
        """Turn the roster into the hub's snapshot, announcing only real changes.

        Departures first, then clients that came back under a new number (a hub restart that lost
        the numbers: same properties, one on each side) as `RenumberedClient`, then property
        changes and arrivals. Whoever is listed again unchanged is not mentioned.
        """
        departed = [info for info in self.roster if info.phone_number not in snapshot]
        arrived = [info for info in snapshot.values() if info.phone_number not in self.roster]
        renumbered: list[RenumberedClient] = []
        for info in list(arrived):
            twins = [gone for gone in departed if same_properties(gone.properties, info.properties)]
            if info.properties and len(twins) == 1 and sum(same_properties(a.properties, info.properties) for a in arrived) == 1:
                departed.remove(twins[0])
                arrived.remove(info)
                renumbered.append(RenumberedClient(info.phone_number, info.status, info.properties, twins[0].phone_number))
        changes: list[ClientInfo] = [ClientInfo(g.phone_number, ClientStatus.OFFLINE, g.properties) for g in departed]
        changes += renumbered
        changes += [info for number, info in snapshot.items() if number in self.roster and self.roster.get(number) != info]
        changes += arrived
        for change in changes:
            if isinstance(change, RenumberedClient):
                self.roster.apply(ClientInfo(change.previous_phone_number, ClientStatus.OFFLINE, change.properties))
            self.roster.apply(ClientInfo(change.phone_number, change.status, change.properties))
        for change in changes:
            await self._emit("client", change)

    async def _set_state(self, change: ConnectionStateChanged) -> None:
        self.state = change.state
        await self._emit("connection", change)

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


def _nickname(properties: dict[str, Any]) -> str | None:
    """The `nickname` property (names match ignoring case) when it is text."""
    nickname = next((value for key, value in properties.items() if key.casefold() == "nickname"), None)
    return nickname if isinstance(nickname, str) else None


def _variants(nickname: str, max_chars: int) -> Iterator[str]:
    """John2, John3, … John99, cut so that each fits the hub's nickname limit."""
    for number in range(2, 100):
        suffix = str(number)
        yield nickname[: max_chars - len(suffix)] + suffix
