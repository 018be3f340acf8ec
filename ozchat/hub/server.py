"""The hub's WebSocket server: connections, outboxes and timers around `HubState`.

Every decision (admit, resume, linger, numbering, replay, who receives what) is made by
`state.py`; this module moves frames, keeps time and serves the HTTP routes of `http.py`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..addresses import url_host
from ..images import AvatarError
from ..protocol import MAX_UPLOAD_FRAME_BYTES, CloseCode, ErrorCode, ErrorFrame, Uploaded, encode, new_phone_number
from .http import HttpRoutes
from .keepalive import Keepalive
from .limits import AddressLimiter, AddressLimits, RateLimit
from .line import LineRegistry
from .outbox import Journals, Outbox
from .outputs import Announce, Burst, Close, Deliver, Output, Post, StoreUpload, Timer
from .shared import SharedHubState
from .state import HubState
from .store import HistoryStore, MemoryStore

if TYPE_CHECKING:
    from .avatars import UploadStore
    from .sharing import LineSharing

log = logging.getLogger("ozchat.hub")

# Connections the kernel completes and queues before the hub accepts them: enough for a thousand
# clients reconnecting at once (asyncio's default of 100 makes the rest retry their SYN after 1 s, 3 s...).
LISTEN_BACKLOG = 1024


class Hub:
    """A hub listening on one address; use `async with Hub(...)` or `start()`/`stop()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        store: HistoryStore | None = None,
        uploads: UploadStore | None = None,
        history: int = 50,
        grace: float = 10.0,
        idle_exit: float | None = None,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        hello_timeout: float = 10.0,
        close_timeout: float = 5.0,
        max_pending_frames: int = 2000,
        rate_limit: RateLimit | None = None,
        allowed_origins: Collection[str] = (),
        address_limits: AddressLimits | AddressLimiter | None = None,
        trusted_proxies: Collection[str] = (),
        ssl_context: ssl.SSLContext | None = None,
        redis_url: str | None = None,
        heartbeat_ttl: float = 15.0,
        phone_numbers: Callable[[], str] = new_phone_number,
    ) -> None:
        """With `ssl_context` (a server context holding the certificate) the hub serves wss:// and https.

        With `redis_url`, it shares its lines with every hub using that Redis server (see backplane.py);
        a hub that stops beating for `heartbeat_ttl` seconds has its clients announced OFFLINE by the others,
        and newcomers' numbers, drawn from `phone_numbers`, are reserved in Redis so no two hubs give out one.
        """
        self.host = host
        self.port = port
        self.store: HistoryStore = store if store is not None else MemoryStore()
        self.uploads = uploads
        # A limiter of its own, or one handed in that already counts what came before.
        limiter = AddressLimiter(address_limits) if isinstance(address_limits, AddressLimits) else address_limits
        self.state: HubState[Outbox] = (SharedHubState if redis_url else HubState)(
            self.store, token=token, history=history, grace=grace, rate_limit=rate_limit, limiter=limiter,
            uploads=uploads is not None,
        )
        self._http = HttpRoutes(
            counts=lambda: (len(self.lines), self.client_count), uploads=uploads, allowed_origins=allowed_origins,
            limiter=limiter, trusted_proxies=trusted_proxies,
        )
        self._idle_exit = idle_exit
        self._keepalive = Keepalive(ping_interval, ping_timeout) if ping_interval else None
        self._hello_timeout = hello_timeout
        self._close_timeout = close_timeout
        self._max_pending = max_pending_frames
        self._ssl_context = ssl_context
        self._redis_url = redis_url
        self._heartbeat_ttl = heartbeat_ttl
        self._phone_numbers = phone_numbers
        self._sharing: LineSharing | None = None
        # Linger deadlines armed on the loop, by deadline (members sharing one share its timer).
        self._timers: dict[float, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._journals = Journals()
        self._server: Server | None = None
        self._idle_since = time.monotonic()
        self._idle_task: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    @property
    def url(self) -> str:
        return f"{'wss' if self._ssl_context else 'ws'}://{url_host(self.host)}:{self.port}/"

    @property
    def lines(self) -> LineRegistry:
        """The lines somebody is on (or lingers on)."""
        return self.state.lines

    @property
    def client_count(self) -> int:
        return self.state.client_count

    async def start(self) -> None:
        """Listen (and first reach Redis, when sharing lines: BackplaneError if it cannot be reached)."""
        if self._redis_url is not None:
            from .sharing import LineSharing  # loads the redis client: only hubs that share lines need it

            assert isinstance(self.state, SharedHubState)
            sharing = LineSharing(
                self.state, self._apply, self._redis_url, heartbeat_ttl=self._heartbeat_ttl,
                ack_timeout=self._close_timeout, phone_numbers=self._phone_numbers,
            )
            await sharing.start()
            self._sharing = sharing
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._http.process_request,
            ssl=self._ssl_context,
            max_size=MAX_UPLOAD_FRAME_BYTES,
            backlog=LISTEN_BACKLOG,
            ping_interval=None,  # our own keepalive (keepalive.py) cuts a silent peer without a close wait
            # a peer that stopped reading never answers our close frame: don't wait long for it
            close_timeout=self._close_timeout,
            logger=logging.getLogger("ozchat.hub.websockets"),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._apply(self.state.restore(asyncio.get_running_loop().time()))
        self._idle_since = time.monotonic()
        if self._idle_exit is not None:
            self._idle_task = asyncio.create_task(self._exit_when_idle(self._idle_exit))
        log.info("hub listening on %s", self.url)

    async def stop(self) -> None:
        if self._idle_task is not None and self._idle_task is not asyncio.current_task():
            self._idle_task.cancel()
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            if self._keepalive is not None:
                self._keepalive.stop()
            self.store.close()
        if self._sharing is not None:
            sharing, self._sharing = self._sharing, None
            await sharing.stop()
        self.stopped.set()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        await self.stopped.wait()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _exit_when_idle(self, idle: float) -> None:
        while True:
            await asyncio.sleep(min(idle, 1.0))
            # Connections still in their handshake or hello count too: one may be about to join.
            connecting = self._server is not None and bool(self._server.connections)
            if self.client_count or self.state.lingering_count or connecting:
                self._idle_since = time.monotonic()
            elif time.monotonic() - self._idle_since >= idle:
                log.info("no client for %.0f s: stopping", idle)
                await self.stop()
                return

    # ---- outputs of the state -------------------------------------------------------

    def _apply(self, outputs: Iterable[Output[Outbox]]) -> None:
        """Carry out what the state decided, for connections that have joined."""
        for output in outputs:
            if type(output) is Announce:
                self._journals.announce(output.line, self.state.lines.entry(output.line, output.info), output.about)
            elif type(output) is Deliver:
                item, skip = output.item, output.skip
                for outbox in output.to:
                    if outbox is not skip:
                        outbox.push(item)
            elif type(output) is Burst:
                output.to.start(output.welcome, output.roster, output.rest)
                if (member := self.state.member(output.to)) is not None:
                    self._journals.subscribe(member[0], output.to)
            elif type(output) is Close:
                output.to.unfollow()  # a connection replaced by a resume hears nothing more
                closing = asyncio.get_running_loop().create_task(output.to.ws.close(output.code, output.reason))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            elif type(output) is Timer:
                self._arm(output.at)
        if self._sharing is not None:
            self._sharing.publish()

    async def _apply_before_join(self, me: Outbox, outputs: list[Output[Outbox]]) -> bool:
        """Carry out the answer to a frame before the hello was taken (to `me`: sent at once); False once closed."""
        for output in outputs:
            if type(output) is Deliver and output.to == (me,) and not me.started:
                await me.ws.send(output.item, text=True)
            elif type(output) is Close and output.to is me and not me.started:
                await me.ws.close(output.code, output.reason)
                return False
            else:
                self._apply((output,))
        return True

    def _arm(self, deadline: float) -> None:
        if deadline not in self._timers and self._server is not None:
            self._timers[deadline] = asyncio.get_running_loop().call_at(deadline, self._expire, deadline)

    def _expire(self, deadline: float) -> None:
        del self._timers[deadline]
        # A timer may run a hair before its time: the deadline itself has come.
        self._apply(self.state.expire(max(deadline, asyncio.get_running_loop().time())))
        if self._sharing is not None:
            self._sharing.release_lines()

    # ---- one connection -------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        if self._keepalive is not None:
            self._keepalive.add(ws)
        try:
            await self._serve_connection(ws)
        finally:
            if self._keepalive is not None:
                self._keepalive.discard(ws)

    async def _serve_connection(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        me = Outbox(ws, self._max_pending, self._close_timeout)
        self.state.connect(me, self._http.client_address(ws, ws.request), loop.time())
        try:
            if await self._receive_hello(me):
                await self._serve_member(me)
        finally:
            me.stop()
            member = self.state.member(me)
            stopping = self._server is None
            self._apply(self.state.closed(me, clean=_closed_cleanly(ws), now=loop.time(), stopping=stopping))
            if self._sharing is not None:
                self._sharing.release_lines()
            if member is not None:
                log.info("%s disconnected from line %r (code %s)", member[1], member[0], ws.close_code)

    async def _receive_hello(self, me: Outbox) -> bool:
        """Answer frames until the hello is taken (True) or the connection is done (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._hello_timeout
        try:
            while not me.started:
                try:
                    async with asyncio.timeout_at(deadline):  # no task of its own, unlike wait_for before 3.12
                        raw = await me.ws.recv()
                except TimeoutError:
                    await me.ws.close(CloseCode.HELLO_TIMEOUT, "no hello in time")
                    return False
                outputs = self.state.receive(me, raw, loop.time())
                if self._sharing is not None:  # only a hello that passed its own checks has its line read from Redis
                    outputs += await self._sharing.admit(me, loop.time)
                if not await self._apply_before_join(me, outputs):
                    return False
        except ConnectionClosed:
            return False
        return True

    async def _serve_member(self, me: Outbox) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for raw in me.ws:
                if self._sharing is None:
                    outputs = self.state.receive(me, raw, loop.time())
                else:  # a changed nickname is claimed in Redis first, so no two hubs give it out
                    outputs = await self._sharing.receive(me, raw, loop.time)
                for output in outputs:
                    if type(output) is StoreUpload:
                        await self._store_upload(output)
                    elif type(output) is Post and self._sharing is not None:
                        self._sharing.post(output)
                    else:
                        self._apply((output,))
                if self._sharing is not None:  # what the frame changed may have no recipient here (typing)
                    self._sharing.publish()
        except ConnectionClosed:
            pass

    async def _store_upload(self, upload: StoreUpload[Outbox]) -> None:
        """Validate and store an avatar image off the loop; answer with the name it is served under."""
        assert self.uploads is not None
        try:
            name = await asyncio.to_thread(self.uploads.add, upload.data)
        except AvatarError as exc:
            upload.to.push(encode(ErrorFrame(ErrorCode(exc.code), exc.message, upload.request_id)))
        except OSError as exc:
            log.warning("could not store an avatar upload: %s", exc)
            upload.to.push(encode(ErrorFrame(
                ErrorCode.STORE_FAILED, "the hub could not store the upload; try again later", upload.request_id
            )))
        else:
            # The name, not a URL: each viewer resolves it against the hub address it uses itself.
            upload.to.push(encode(Uploaded(name, upload.request_id)))


def _closed_cleanly(ws: ServerConnection) -> bool:
    """The client said goodbye with a close frame of its own, whatever its code (not a drop, not our kick)."""
    protocol = ws.protocol
    return protocol.close_rcvd is not None and bool(protocol.close_rcvd_then_sent)
