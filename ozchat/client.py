"""OzWebClient: the asyncio client core, shaped after Ozeki's OzWebClient JavaScript API.

    client = OzWebClient()
    client.on_client_state_changed(lambda info: print(info.nickname, "is", info.status.value))
    await client.connect("localhost", "Webphone1", {"nickname": "John"})

When the connection drops, the client reconnects by itself (`ReconnectPolicy`: exponential
backoff with jitter), resumes its phone number within the hub's grace period, catches up on
every message it missed and resends what the hub had not acknowledged; the hub drops resends
it already has. What to send and what the hub's frames mean is decided by `ClientSession`
(no I/O); this module owns the socket, the keepalive and the waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from .dial import close_reason, keep_alive, say_hello, send_quietly, unless_stopped
from .dispatch import Dispatcher, EventStream
from .events import ConnectionStateChanged, RenumberedClient
from .exceptions import (
    AccessDenied,
    ConnectionClosed,
    ConnectionFailed,
    OzchatConnectionError,
    ProtocolError,
    RequestRejected,
)
from .protocol import (
    ChatMessage,
    ClientInfo,
    ConnectionState,
    ErrorFrame,
    Limits,
    Uploaded,
    Welcome,
    decode_hub_frame,
    server_url,
)
from .reconnect import ReconnectPolicy, seconds_text
from .roster import Roster
from .session import Answered, ClientSession, Outgoing, ResendDue
from .session_attribute import FromSession

__all__ = ["ConnectionStateChanged", "EventStream", "OzWebClient", "ReconnectPolicy", "RenumberedClient"]

log = logging.getLogger("ozchat.client")

class OzWebClient(Dispatcher):
    """A connection to one line of an ozchat hub."""

    roster = FromSession[Roster]("Who else is on the line, kept from the hub's presence frames.")
    phone_number = FromSession[str | None]("This client's number on the line, from the welcome.")
    line = FromSession[str | None]("The line joined.")
    properties = FromSession[dict[str, Any]]("This client's properties as the hub holds them.")
    nickname = FromSession[str | None]("The nickname on the line (a variant when the one asked for was taken).")
    me = FromSession[ClientInfo | None]("This client as others see it.")
    last_seq = FromSession[int]("The highest line message number seen.")
    last_direct_seq = FromSession[int]("The highest number seen among this client's direct messages.")
    epoch = FromSession[str | None]("The hub's name for the numbering last_seq and last_direct_seq count in.")
    limits = FromSession[Limits]("What the hub accepts, from its welcome: check a message against it before sending.")

    def __init__(
        self,
        *,
        reconnect: bool = True,
        history: int | None = None,
        connect_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        reconnect_policy: ReconnectPolicy | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        client_secret: str | None = None,
        pick_free_nickname: bool = False,
        before_reconnect: Callable[[], Awaitable[object]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`pick_free_nickname`: when the hub refuses the nickname as in use (on connect or a
        reconnect), try John2, John3, … up to John99 instead of giving up, IRC-style.

        `reconnect_policy` says how long to wait between attempts (default: `ReconnectPolicy`
        from `backoff_base` up to `backoff_cap` seconds).

        `before_reconnect` runs before each attempt that follows a failure, of a reconnect or of a
        first connection with `keep_trying` (e.g. to start a local hub that died); if it fails, the
        failure is logged and the attempt goes ahead.

        `ssl_context` verifies a wss:// hub (default: the system's trusted CAs), e.g.
        ``ssl.create_default_context(cafile="ca.pem")`` for a hub whose certificate a private CA signed.
        """
        super().__init__()
        self.session = ClientSession(
            client_secret=client_secret, history=history, pick_free_nickname=pick_free_nickname
        )
        self.state: ConnectionState | None = None
        self.reconnect_policy = reconnect_policy or ReconnectPolicy(backoff_base, backoff_cap)
        self._reconnect = reconnect
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._before_reconnect = before_reconnect
        self._ssl_context = ssl_context
        self._url = ""
        self._ws: ClientConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._waiters: dict[str, asyncio.Future[Answered | ResendDue]] = {}

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
        keep_trying: bool = False,
    ) -> None:
        """Join `line` on the hub at `server_address` (``host``, ``host:port`` or a ws(s):// URL).

        Returns once access is granted; raises ConnectionFailed or AccessDenied otherwise,
        after the connection-state callbacks have heard the same. With `keep_trying`, a hub
        that cannot be reached (or answers the hello `store_failed` or `rate_limited`: its store
        or Redis away, too many joins) is tried again by the reconnect policy, each failure told as
        CONNECTION_FAILED with `retrying` set and a reason naming the attempt and the wait,
        until it answers, fails in a way trying again cannot mend (`ConnectionFailed.permanent`:
        an unverifiable certificate, the wrong transport, a server that is not a hub; raised at
        once), or `disconnect()` is called (then ConnectionClosed, even mid-attempt: the attempt
        is cancelled and its socket closed).
        """
        if self._supervisor is not None:
            raise RuntimeError("already connected; disconnect first")
        try:
            self._url = server_url(server_address)
        except ValueError as exc:
            await self._finish(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=str(exc)))
            raise ConnectionFailed(str(exc)) from None
        self.session.start(line, properties, token)
        self._stopping.clear()
        try:
            ws, welcome = await self._join_until_granted(first=True, retry=keep_trying)
        except ConnectionFailed as exc:
            await self._finish(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=str(exc)))
            raise
        except ConnectionClosed:
            await self._finish(ConnectionStateChanged(ConnectionState.CONNECTION_CLOSED, reason="closed"))
            raise
        except AccessDenied as exc:
            await self._finish(ConnectionStateChanged(ConnectionState.ACCESS_DENIED, exc.code, exc.message))
            raise
        await self._granted(ws, welcome)
        self._supervisor = asyncio.create_task(self._run(ws), name="ozchat-client")

    async def _join_until_granted(self, *, first: bool, retry: bool) -> tuple[ClientConnection, Welcome]:
        """The one join loop, for the first connection and each reconnect, paced by the reconnect policy.

        Every attempt after a failure waits, then runs `before_reconnect`. A failed first attempt
        is told as CONNECTION_FAILED retrying; a failed reconnect is logged (its CONNECTION_CLOSED
        said retrying). Raises ConnectionFailed unless `retry` (and always when it is permanent),
        AccessDenied, or ConnectionClosed once disconnect() was called, whatever the attempt did.
        """
        policy = self.reconnect_policy
        policy.reset()
        if not first:
            policy.failed()  # the drop counts as the first failure: wait a little before the first attempt
        while True:
            if policy.failures:
                if await self._stopped_within(policy.time_left()):
                    raise ConnectionClosed("disconnected before the hub was reached")
                if self._before_reconnect is not None and not await self._run_before_reconnect(policy.failures):
                    raise ConnectionClosed("disconnected before the hub was reached")
            try:
                ws, welcome = await self._join_unless_stopped()
            except ConnectionFailed as exc:
                if not retry or exc.permanent:
                    raise
                wait = policy.failed(exc.retry_after)
                reason = f"{exc} (attempt {policy.failures}; trying again in {seconds_text(wait)} s)"
                if first:
                    failed = ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=reason, retrying=True)
                    await self._set_state(failed)
                else:
                    log.info("reconnect failed: %s", reason)
                continue
            policy.reset()
            return ws, welcome

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait `seconds`, or less when disconnect() comes first; True when it did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _join_unless_stopped(self) -> tuple[ClientConnection, Welcome]:
        """One `_join()`, cancelled (its socket closed) once disconnect() is called: then ConnectionClosed."""
        attempt = await unless_stopped(self._join(), self._stopping)
        if attempt is not None and not self._stopping.is_set():
            return attempt.result()
        if attempt is not None and attempt.exception() is None:
            await attempt.result()[0].close()  # welcomed just as the stop came: leave at once
        raise ConnectionClosed("disconnected before the hub answered")

    async def _join(self) -> tuple[ClientConnection, Welcome]:
        """Say the session's hello on new sockets until the hub welcomes it (under another nickname, maybe)."""
        hello = self.session.hello()
        while True:
            ws, answer = await say_hello(self._url, hello, timeout=self._connect_timeout, ssl_context=self._ssl_context)
            try:
                outcome = self.session.answer(answer)
            except OzchatConnectionError:
                await ws.close()
                raise
            if isinstance(outcome, Welcome):
                return ws, outcome
            await ws.close()
            hello = outcome

    async def _granted(self, ws: ClientConnection, welcome: Welcome) -> None:
        change = self.session.granted(welcome)
        if change.history_reset:
            log.info("the hub's numbering of line %r restarted", welcome.line)
        self._ws = ws
        await self._set_state(change)

    async def _run(self, ws: ClientConnection) -> None:
        """Read until the socket ends; then reconnect, unless told to stop, until it works."""
        while True:
            await self._read(ws)
            self._ws = None
            final = ConnectionStateChanged(ConnectionState.CONNECTION_CLOSED, ws.close_code, close_reason(ws))
            if self._stopping.is_set() or not self._reconnect:
                break
            await self._set_state(ConnectionStateChanged(final.state, final.code, final.reason, retrying=True))
            try:
                ws, welcome = await self._join_until_granted(first=False, retry=True)
            except ConnectionClosed:
                break
            except ConnectionFailed as exc:  # permanent: the address now leads somewhere that is not this hub
                final = ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=str(exc))
                break
            except AccessDenied as exc:
                final = ConnectionStateChanged(ConnectionState.ACCESS_DENIED, exc.code, exc.message)
                break
            await self._granted(ws, welcome)
            for data in self.session.resends():
                await send_quietly(ws, data)
        await self._finish(final)

    async def _run_before_reconnect(self, attempt: int) -> bool:
        """Run the hook unless disconnect() comes first; False when it did."""
        assert self._before_reconnect is not None
        hook = await unless_stopped(self._before_reconnect(), self._stopping)
        if hook is None:
            return False
        if hook.exception() is not None:
            log.warning("before reconnect attempt %d: %s", attempt, hook.exception())
        return not self._stopping.is_set()

    async def _finish(self, final: ConnectionStateChanged) -> None:
        self._supervisor = None
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionClosed("the connection closed before the hub answered"))
        self._waiters.clear()
        self.session.end()
        await self._set_state(final)
        self._end_streams()

    async def disconnect(self) -> None:
        """Leave the line for good; the connection-state callbacks hear CONNECTION_CLOSED.

        Also ends a `connect(keep_trying=True)` still trying to reach the hub.
        """
        self._stopping.set()
        supervisor = self._supervisor
        if supervisor is None:
            return
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
        await self.send_typing(to, stopped=True)  # the message ends its sender's typing there
        answered = await self._request(lambda: self.session.send(text, to, action=action))
        return self.session.message_sent(answered)

    async def send_typing(self, to: str | None = None, *, stopped: bool = False) -> bool:
        """Tell the line (or only the direct partner `to`) that keys are being pressed; call it on every key.

        At most one frame goes out every few seconds (`TYPING_REFRESH`); `stopped` (the input was
        cleared) is sent only after one. Nothing waits or is resent: True when a frame was sent.
        """
        ws = self._ws
        data = None if ws is None else self.session.typing(to, asyncio.get_running_loop().time(), stopped=stopped)
        if ws is None or data is None:
            return False
        await send_quietly(ws, data)
        return True

    async def update_properties(self, changes: dict[str, Any]) -> ClientInfo:
        """Share changed properties (a None value removes one); everyone else hears of it."""
        answered = await self._request(lambda: self.session.update(changes))
        return self.session.properties_updated(answered)

    async def upload_avatar(self, image: bytes) -> str:
        """Give the hub an avatar image (PNG, JPEG, GIF or WebP, 256 KiB at most); return its name.

        The hub re-encodes it as a small PNG and serves it at /avatars/NAME; share the name as
        `avatar` to use it (everyone resolves it against their own address of the hub).
        """
        answered = await self._request(lambda: self.session.upload(image))
        assert isinstance(answered.answer, Uploaded)
        return answered.answer.name

    async def _request(self, build: Callable[[], Outgoing]) -> Answered:
        if self._supervisor is None:
            raise ConnectionClosed("not connected")
        outgoing = build()
        loop = asyncio.get_running_loop()
        waiter = self._waiters[outgoing.request_id] = loop.create_future()
        try:
            if self._ws is not None:  # else it goes out with the resends after reconnecting
                await send_quietly(self._ws, outgoing.data)
            while isinstance(outcome := await waiter, ResendDue):
                # Waiting anew before the pause: an answer to a copy resent meanwhile is not lost.
                waiter = self._waiters[outgoing.request_id] = loop.create_future()
                await asyncio.sleep(max(0.0, outcome.at - loop.time()))
                if self._ws is not None:
                    await send_quietly(self._ws, outgoing.data)
        finally:
            self._waiters.pop(outgoing.request_id, None)
            self.session.forget(outgoing.request_id)
        if isinstance(outcome.answer, ErrorFrame):
            raise RequestRejected(outcome.answer.code, outcome.answer.message)
        return outcome

    # ---- incoming -------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        keepalive = None
        if self._ping_interval:
            keepalive = asyncio.create_task(keep_alive(ws, self._ping_interval, self._ping_timeout))
        loop = asyncio.get_running_loop()
        try:
            async for raw in ws:
                try:
                    frame = decode_hub_frame(raw)
                except ProtocolError as exc:
                    log.warning("ignoring a frame from the hub: %s", exc)
                    continue
                for output in self.session.receive(frame, loop.time()):
                    if isinstance(output, (Answered, ResendDue)):
                        waiter = self._waiters.get(output.request_id)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(output)
                    else:
                        await self._emit(output)
        except websockets.ConnectionClosed:
            pass
        finally:
            if keepalive is not None:
                keepalive.cancel()

    async def _set_state(self, change: ConnectionStateChanged) -> None:
        self.state = change.state
        await self._emit(change)

