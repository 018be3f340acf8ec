"""The hub's WebSocket server: hello, limits, fan-out, history replay and the HTTP routes.

Presence and numbering decisions live in `line.py`, storage in `store.py`; this module moves
frames and keeps time (grace periods, idle exit).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import secrets
import ssl
import time
from collections import deque
from http import HTTPStatus
from collections.abc import Callable, Collection
from typing import Union

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..avatars.bundled import bundled_avatar
from ..images import AvatarError
from ..exceptions import ProtocolError
from ..protocol import (
    MAX_UPLOAD_FRAME_BYTES,
    MAX_PRESENCE_BATCH,
    MAX_REPLAY,
    PROTOCOL_VERSION,
    Ack,
    ClientInfo,
    CloseCode,
    ErrorCode,
    ErrorFrame,
    Gap,
    Hello,
    Presence,
    Send,
    Synced,
    Update,
    Upload,
    Uploaded,
    Welcome,
    decode_client_frame,
    decode_client_frame_unchecked,
    decode_hello,
    encode,
    frame_type,
    merge_properties,
    same_properties,
    readable_client_id,
)
from .avatars import UploadStore
from .limits import AddressLimiter, AddressLimits, Network, RateLimit, TokenBucket, client_address
from .line import Line, LineRegistry, missing_runs
from .origins import normalize_origin, origin_allowed
from .store import HistoryStore, MemoryStore, StoreError

log = logging.getLogger("ozchat.hub")

_Outgoing = Union[bytes, ClientInfo]


class _Session:
    """One joined connection's outbox, drained by its own writer task.

    Consecutive presence changes waiting in the outbox leave as one frame, so a join storm
    costs each recipient a few frames rather than one per change. The join burst (welcome,
    roster, replay, synced) is owed to every client however large, so it does not count
    toward the slow-reader limit: only what queues behind it does.
    """

    def __init__(self, ws: ServerConnection, max_pending: int, close_timeout: float, author: str) -> None:
        self.ws = ws
        # Hashed client identity: a resend is compared with this author's earlier sends only.
        self.author = author
        self._close_timeout = close_timeout
        self._pending: deque[_Outgoing] = deque()
        self._wakeup = asyncio.Event()
        self._max_pending = max_pending
        self._overflowed = False
        # Items of the join burst still waiting at the front of the outbox.
        self._uncounted = 0

    def push_burst(self, item: _Outgoing) -> None:
        """Queue part of the join burst: bounded by the line and the replay cap, never by the reader."""
        self._pending.append(item)
        self._uncounted += 1
        self._wakeup.set()

    def push(self, item: _Outgoing) -> None:
        if self._overflowed:
            return
        if len(self._pending) - self._uncounted >= self._max_pending:
            self._overflowed = True
            self._pending.clear()
            log.info("dropping a client that reads too slowly (%s)", self.ws.remote_address)
            asyncio.get_running_loop().create_task(self._drop())
            return
        self._pending.append(item)
        self._wakeup.set()

    async def _drop(self) -> None:
        """Close with 4008; a peer that reads nothing never lets the close frame out, so abort then."""
        try:
            await asyncio.wait_for(self.ws.close(CloseCode.TOO_SLOW, "too slow"), self._close_timeout)
        except TimeoutError:
            self.ws.transport.abort()

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
        item = self._pop()
        if isinstance(item, bytes):
            return item
        batch = [item]
        while self._pending and isinstance(self._pending[0], ClientInfo) and len(batch) < MAX_PRESENCE_BATCH:
            batch.append(self._pop())
        return encode(Presence(batch))

    def _pop(self) -> _Outgoing:
        self._uncounted = max(0, self._uncounted - 1)
        return self._pending.popleft()


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
    ) -> None:
        """With `ssl_context` (a server context holding the certificate) the hub serves wss:// and https."""
        self.host = host
        self.port = port
        self.store: HistoryStore = store if store is not None else MemoryStore()
        self.lines = LineRegistry(self.store.last_seq, self.store.epoch, self.store.last_direct_seq)
        self.uploads = uploads
        self._token = token
        self._history = history
        self._grace = grace
        self._idle_exit = idle_exit
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._hello_timeout = hello_timeout
        self._close_timeout = close_timeout
        self._max_pending = max_pending_frames
        self._rate_limit = rate_limit
        self._ssl_context = ssl_context
        self._allowed_origins = {"*" if origin == "*" else normalize_origin(origin) or origin for origin in allowed_origins}
        if rate_limit is not None:
            self._rate_message = f"slow down: at most {rate_limit.rate:g} frames a second (bursts of {rate_limit.burst})"
        # A limiter of its own, or one handed in that already counts what came before.
        self._limiter = AddressLimiter(address_limits) if isinstance(address_limits, AddressLimits) else address_limits
        self._trusted_proxies: list[Network] = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]
        self._sessions: dict[str, dict[str, _Session]] = {}
        # Hashes of the resume tokens, as the store keeps them too: a restarted hub takes clients back.
        self._resume_hashes: dict[tuple[str, str], str] = {}
        # Members whose socket dropped, kept on their line until the timer ends their grace period.
        self._lingering: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._server: Server | None = None
        self._idle_since = time.monotonic()
        self._idle_task: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self._ssl_context else 'ws'}://{host}:{self.port}/"

    @property
    def client_count(self) -> int:
        return sum(len(members) for members in self._sessions.values())

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            ssl=self._ssl_context,
            max_size=MAX_UPLOAD_FRAME_BYTES,
            ping_interval=None,  # our own keepalive (`_keep_alive`) cuts a silent peer without a close wait
            # a peer that stopped reading never answers our close frame: don't wait long for it
            close_timeout=self._close_timeout,
            logger=logging.getLogger("ozchat.hub.websockets"),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._restore_members()
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
            for expiry in self._lingering.values():
                expiry.cancel()
            self.store.close()
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
            if self.client_count or self._lingering or (self._server is not None and self._server.connections):
                self._idle_since = time.monotonic()
            elif time.monotonic() - self._idle_since >= idle:
                log.info("no client for %.0f s: stopping", idle)
                await self.stop()
                return

    # ---- plain HTTP -----------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            body = {"status": "ok", "version": PROTOCOL_VERSION, "lines": len(self.lines), "clients": self.client_count}
            return _respond(connection, HTTPStatus.OK, (json.dumps(body) + "\n").encode(), "application/json")
        if path.startswith("/avatars/"):
            return await self._avatar_response(connection, request, path.removeprefix("/avatars/"))
        origins, hosts = request.headers.get_all("Origin"), request.headers.get_all("Host")
        host = hosts[0] if len(hosts) == 1 else None
        loopback = _is_loopback_address(connection.local_address)
        if len(origins) > 1 or not origin_allowed(
            next(iter(origins), None), host, self._allowed_origins, loopback_hub=loopback
        ):
            return _respond(connection, HTTPStatus.FORBIDDEN, b"this origin may not connect to the hub\n", "text/plain")
        if self._limiter is not None:
            wait = self._limiter.connection(self._client_address(connection, request), asyncio.get_running_loop().time())
            if wait is not None:
                response = _respond(
                    connection, HTTPStatus.TOO_MANY_REQUESTS, b"too many connections from this address\n", "text/plain"
                )
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        return None

    def _client_address(self, connection: ServerConnection, request: Request | None) -> str:
        """Who the rate limits count this connection as: its peer, or who a trusted proxy forwarded."""
        forwarded = request.headers.get_all("X-Forwarded-For") if request is not None else []
        return client_address(str(connection.remote_address[0]), forwarded, self._trusted_proxies)

    async def _avatar_response(self, connection: ServerConnection, request: Request, name: str) -> Response:
        """A bundled or uploaded avatar as image/png, revalidated by its ETag."""
        png = await asyncio.to_thread(self._avatar_bytes, name)
        if png is None:
            return _respond(connection, HTTPStatus.NOT_FOUND, b"no such avatar\n", "text/plain")
        etag = '"' + hashlib.sha256(png).hexdigest()[:32] + '"'
        if request.headers.get("If-None-Match") == etag:
            response = _respond(connection, HTTPStatus.NOT_MODIFIED, b"", "image/png")
        else:
            response = _respond(connection, HTTPStatus.OK, png, "image/png")
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    def _avatar_bytes(self, name: str) -> bytes | None:
        found = bundled_avatar(name)
        if found is None and self.uploads is not None:
            found = self.uploads.get(name)
        return found

    # ---- one connection -------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        keepalive = asyncio.create_task(self._keep_alive(ws)) if self._ping_interval else None
        try:
            await self._serve_connection(ws)
        finally:
            if keepalive is not None:
                keepalive.cancel()

    async def _keep_alive(self, ws: ServerConnection) -> None:
        """Ping every interval; a peer that has not answered within the timeout is cut at once.

        No close frame is sent first: a silent peer would not answer it, and waiting for it
        would keep the client ONLINE longer than the documented keepalive.
        """
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                async with asyncio.timeout(self._ping_timeout):
                    await (await ws.ping())
            except TimeoutError:
                log.info("no pong from %s within %g s: dropping it", ws.remote_address, self._ping_timeout)
                ws.transport.abort()
                return
            except ConnectionClosed:
                return

    async def _serve_connection(self, ws: ServerConnection) -> None:
        address = self._client_address(ws, ws.request)
        bucket = TokenBucket(self._rate_limit, asyncio.get_running_loop().time()) if self._rate_limit is not None else None
        throttle = functools.partial(self._throttle, bucket, address)
        received = await self._receive_hello(ws, throttle)
        if received is None:
            return
        hello, hello_id = received
        if not await self._may_join(ws, address, hello, hello_id):
            return
        try:
            line = self.lines.get(hello.line)
        except StoreError as exc:  # the line's numbering is unreadable: numbering anew would reuse numbers
            log.warning("could not read the numbering of line %r: %s", hello.line, exc)
            await self._refuse(ws, ErrorFrame(ErrorCode.STORE_FAILED, "the hub cannot read this line's stored numbering", hello_id))
            return
        try:
            me, resumed = self._admit(line, hello)
        except ProtocolError as exc:  # a resume whose merged properties break the limits, or a nickname in use
            self.lines.discard_if_empty(line)
            await ws.send(encode(ErrorFrame(exc.code, exc.message, hello_id)), text=True)
            await ws.close(CloseCode.ACCESS_DENIED, exc.code)
            return
        key = (line.name, me.phone_number)
        if resumed and hello.resume is not None:
            resume_token = hello.resume.token
        else:
            resume_token = secrets.token_urlsafe(16)
            self._resume_hashes[key] = _digest("resume", resume_token)
        # Without a client secret, the resume token stands for the client: same number, same author.
        author = _digest("secret", hello.client_secret) if hello.client_secret else _digest("token", resume_token)
        line.set_identity(me.phone_number, author)
        try:
            last_direct_seq = line.last_direct_seq(author)
        except StoreError as exc:  # as above: numbering anew would reuse numbers
            log.warning("could not read the direct numbering on line %r: %s", line.name, exc)
            if resumed:
                self._linger(line, me.phone_number)
            else:
                self._leave(line, me.phone_number)
            await self._refuse(ws, ErrorFrame(ErrorCode.STORE_FAILED, "the hub cannot read this line's stored numbering", hello_id))
            return
        self._remember(line, me)
        session = _Session(ws, self._max_pending, self._close_timeout, author)
        members = self._sessions.setdefault(line.name, {})
        members[me.phone_number] = session
        writer = asyncio.create_task(session.run_writer())
        log.info("%s %s line %r (%d present)", me.phone_number, "resumed on" if resumed else "joined", line.name, len(line))
        welcome = Welcome(
            me.phone_number, line.name, me.properties, line.last_seq, resume_token, resumed,
            epoch=line.epoch, last_direct_seq=last_direct_seq,
        )
        session.push_burst(encode(welcome))
        for info in line.members():
            if info.phone_number != me.phone_number:
                session.push_burst(info)
        self._replay(session, line, me.phone_number, hello)
        session.push_burst(encode(Synced(line.last_seq)))
        try:
            await self._serve_member(ws, session, line, me.phone_number, throttle)
        finally:
            writer.cancel()
            if members.get(me.phone_number) is session:
                del members[me.phone_number]
                if not members:
                    del self._sessions[line.name]
                if self._server is None:
                    pass  # the hub is stopping: the store remembers this client for the next start
                elif self._grace > 0 and not self._closed_cleanly(ws):
                    self._linger(line, me.phone_number)
                else:
                    self._leave(line, me.phone_number)
            log.info("%s disconnected from line %r (code %s)", me.phone_number, line.name, ws.close_code)

    def _admit(self, line: Line, hello: Hello) -> tuple[ClientInfo, bool]:
        """Join the line, or take back a lingering phone number when the hello proves it owns it."""
        claim = hello.resume
        if claim is not None:
            key = (line.name, claim.phone_number)
            token_hash = self._resume_hashes.get(key)
            if (
                token_hash is not None
                and claim.phone_number in line
                and hmac.compare_digest(token_hash, _digest("resume", claim.token))
            ):
                previous = line.get(claim.phone_number)
                # A resume keeps the properties unless its hello really changes them (merged as an update).
                info = previous
                if hello.properties is not msgspec.UNSET:
                    merged = merge_properties(previous.properties, hello.properties)
                    if not same_properties(merged, previous.properties):
                        info = line.replace(claim.phone_number, merged)
                expiry = self._lingering.pop(key, None)
                if expiry is not None:
                    expiry.cancel()
                # The client saw its socket die before we did: the new connection takes over.
                stale = self._sessions.get(line.name, {}).pop(claim.phone_number, None)
                if stale is not None:
                    asyncio.get_running_loop().create_task(stale.ws.close(CloseCode.REPLACED, "resumed on a new connection"))
                if info is not previous:
                    self._tell_others(line, info)
                return info, True
        info = line.join({} if hello.properties is msgspec.UNSET else hello.properties)
        self._tell_others(line, info)
        return info, False

    @staticmethod
    def _closed_cleanly(ws: ServerConnection) -> bool:
        """The client said goodbye with a close frame of its own, whatever its code (not a drop, not our kick)."""
        protocol = ws.protocol
        return protocol.close_rcvd is not None and bool(protocol.close_rcvd_then_sent)

    def _linger(self, line: Line, phone_number: str) -> None:
        key = (line.name, phone_number)
        self._lingering[key] = asyncio.get_running_loop().call_later(self._grace, self._expire, line, phone_number)

    def _expire(self, line: Line, phone_number: str) -> None:
        if self._lingering.pop((line.name, phone_number), None) is not None:
            self._leave(line, phone_number)

    def _restore_members(self) -> None:
        """Take back whoever the store remembers as present: they keep their numbers for a grace period."""
        try:
            remembered = self.store.members()
        except StoreError as exc:
            log.warning("could not read who was present before the restart: %s", exc)
            return
        for member in remembered:
            line = self.lines.get(member.line)
            # An older hub kept no identity: without one, direct messages could not be numbered for it.
            if self._grace <= 0 or not member.identity or not line.restore(member.phone_number, member.properties):
                self._forget(member.line, member.phone_number)
                self.lines.discard_if_empty(line)
                continue
            line.set_identity(member.phone_number, member.identity)
            self._resume_hashes[member.line, member.phone_number] = member.token_hash
            self._linger(line, member.phone_number)
        if remembered:
            log.info("keeping %d clients from before the restart for %g s", len(self._lingering), self._grace)

    def _remember(self, line: Line, info: ClientInfo) -> None:
        try:
            self.store.keep_member(
                line.name, info.phone_number, self._resume_hashes[line.name, info.phone_number], info.properties,
                line.identity(info.phone_number),
            )
        except StoreError as exc:
            log.warning("could not remember %s on line %r: %s", info.phone_number, line.name, exc)

    def _forget(self, line_name: str, phone_number: str) -> None:
        self._resume_hashes.pop((line_name, phone_number), None)
        try:
            self.store.forget_member(line_name, phone_number)
        except StoreError as exc:
            log.warning("could not forget %s on line %r: %s", phone_number, line_name, exc)

    def _leave(self, line: Line, phone_number: str) -> None:
        self._forget(line.name, phone_number)
        gone = line.leave(phone_number)
        if gone is not None:
            self._tell_others(line, gone)
        self.lines.discard_if_empty(line)

    def _replay(self, session: _Session, line: Line, phone_number: str, hello: Hello) -> None:
        """Stored messages owed to this client; a store that cannot be read costs the replay only."""
        try:
            self._replay_stored(session, line, phone_number, hello)
        except StoreError as exc:
            log.warning("could not read the history of line %r: %s", line.name, exc)
            session.push_burst(encode(ErrorFrame(
                ErrorCode.HISTORY_UNAVAILABLE, "the hub could not read this line's stored messages; live chat goes on"
            )))
            if hello.last_seq is not None:
                after, after_direct = self._resumed_from(line, hello, session.author)
                if after < line.last_seq:
                    session.push_burst(encode(Gap(after, line.last_seq + 1)))
                last_direct_seq = line.last_direct_seq(session.author)  # read before the welcome: no store access
                if after_direct < last_direct_seq:
                    session.push_burst(encode(Gap(after_direct, last_direct_seq + 1, direct=True)))

    @staticmethod
    def _resumed_from(line: Line, hello: Hello, identity: str) -> tuple[int, int]:
        """The line number and direct number a resuming client has seen, as this numbering reads them."""
        assert hello.last_seq is not None
        # A last_seq of another numbering, or of one not named, says nothing about this one: replay all that is kept.
        if hello.epoch != line.epoch:
            return 0, 0
        # Capped at the numbers given so far: any integer a client sends must fit the store's.
        last_direct_seq = max(0, min(hello.last_direct_seq or 0, line.last_direct_seq(identity)))
        return max(0, min(hello.last_seq, line.last_seq)), last_direct_seq

    def _replay_stored(self, session: _Session, line: Line, phone_number: str, hello: Hello) -> None:
        """The newest few stored messages, or all this client missed since last_seq and last_direct_seq."""
        identity = session.author
        if hello.last_seq is None:
            wanted = self._history if hello.history is None else max(0, min(hello.history, self._history))
            messages = self.store.visible(line.name, phone_number, identity, limit=wanted)
        else:
            after, after_direct = self._resumed_from(line, hello, identity)
            messages = self.store.visible(
                line.name, phone_number, identity, after_seq=after, after_direct_seq=after_direct, limit=MAX_REPLAY
            )
            # Whatever is owed but not replayed (no longer kept, or over the replay limit) is a gap.
            owed = missing_runs(after, line.last_seq, [m.seq for m in messages if m.to is None])
            for after_seq, before_seq in owed:
                session.push_burst(encode(Gap(after_seq, before_seq)))
            direct_seqs = [m.direct_seq for m in messages if m.direct_seq is not None]
            for after_seq, before_seq in missing_runs(after_direct, line.last_direct_seq(identity), direct_seqs):
                session.push_burst(encode(Gap(after_seq, before_seq, direct=True)))
        # "history" marks what was said before this client joined, not what a resume catches up on
        newcomer = hello.last_seq is None
        for message in messages:
            session.push_burst(encode(msgspec.structs.replace(message, history=newcomer)))

    def _throttle(self, bucket: TokenBucket | None, address: str, raw: str | bytes) -> ErrorFrame | None:
        """Spend a frame from the connection's and its address's budgets, or say when to try again."""
        now = asyncio.get_running_loop().time()
        if bucket is not None and (wait := bucket.wait(now)) is not None:
            message = self._rate_message
        elif self._limiter is not None and (wait := self._limiter.frame(address, now)) is not None:
            limit = self._limiter.limits.frames
            assert limit is not None
            message = f"slow down: at most {limit.rate:g} frames a second from one address (bursts of {limit.burst})"
        else:
            return None
        log.debug("rate limited a frame from %s: %s", address, message)
        return ErrorFrame(ErrorCode.RATE_LIMITED, message, readable_client_id(raw), _retry_after(wait))

    async def _may_join(self, ws: ServerConnection, address: str, hello: Hello, hello_id: str | None) -> bool:
        """Count the hello against its address's joins (and new lines); refuse it with 4029 when over."""
        if self._limiter is None:
            return True
        now = asyncio.get_running_loop().time()
        limits = self._limiter.limits
        wait = self._limiter.join(address, now)
        window = limits.joins
        message = "too many joins from this address"
        if wait is None and limits.new_lines is not None and self._is_new_line(hello.line):
            wait = self._limiter.new_line(address, now)
            window, message = limits.new_lines, "too many new lines from this address"
        if wait is None:
            return True
        try:
            assert window is not None
            message = f"{message}: at most {window.count} in {window.window:g} s; try again in {math.ceil(wait)} s"
            log.debug("turned away a hello from %s: %s", address, message)
            await ws.send(encode(ErrorFrame(ErrorCode.RATE_LIMITED, message, hello_id, _retry_after(wait))), text=True)
            await ws.close(CloseCode.RATE_LIMITED, "rate limited")
        except ConnectionClosed:
            pass
        return False

    @staticmethod
    async def _refuse(ws: ServerConnection, refusal: ErrorFrame) -> None:
        """The hub's own failure, not the client's: error frame, then close 1011."""
        try:
            await ws.send(encode(refusal), text=True)
            await ws.close(1011, refusal.code)
        except ConnectionClosed:
            pass

    def _is_new_line(self, name: str) -> bool:
        """Nobody is on the line and it has never held a message."""
        if name in self.lines:
            return False
        try:
            return not self.store.has_held_messages(name)
        except StoreError:
            return False

    async def _receive_hello(
        self, ws: ServerConnection, throttle: Callable[[str | bytes], ErrorFrame | None]
    ) -> tuple[Hello, str | None] | None:
        """Wait for a valid hello, returned with its readable id; answer anything else with an error. None: the socket is done."""
        deadline = asyncio.get_running_loop().time() + self._hello_timeout
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    raw = await asyncio.wait_for(ws.recv(), max(remaining, 0))
                except TimeoutError:
                    await ws.close(CloseCode.HELLO_TIMEOUT, "no hello in time")
                    return None
                if (limited := throttle(raw)) is not None:
                    await ws.send(encode(limited), text=True)
                    if _is_hello(raw):  # every refused hello closes: connect again after retryAfter
                        await ws.close(CloseCode.RATE_LIMITED, "rate limited")
                        return None
                    continue
                try:
                    if isinstance(raw, bytes) or frame_type(raw) != "hello":
                        frame = self._decode(raw, check=False)
                        raise ProtocolError(ErrorCode.HELLO_REQUIRED, "send a hello first", frame.id)
                except ProtocolError as exc:
                    await ws.send(encode(ErrorFrame(exc.code, exc.message, exc.request_id or readable_client_id(raw))), text=True)
                    continue
                try:
                    return decode_hello(raw, required_token=self._token), readable_client_id(raw)
                except ProtocolError as exc:
                    await ws.send(encode(ErrorFrame(exc.code, exc.message, readable_client_id(raw))), text=True)
                    await ws.close(CloseCode.ACCESS_DENIED, exc.code)
                    return None
        except ConnectionClosed:
            return None

    @staticmethod
    def _decode(raw: str | bytes, *, check: bool = True) -> Hello | Send | Update | Upload:
        if isinstance(raw, bytes):
            raise ProtocolError(ErrorCode.BINARY_FRAME, "send JSON in text frames, not binary frames")
        return decode_client_frame(raw) if check else decode_client_frame_unchecked(raw)

    async def _serve_member(
        self, ws: ServerConnection, session: _Session, line: Line, phone_number: str,
        throttle: Callable[[str | bytes], ErrorFrame | None],
    ) -> None:
        try:
            async for raw in ws:
                if self._sessions.get(line.name, {}).get(phone_number) is not session:
                    return  # replaced by a resumed connection: this one speaks for nobody now
                if (limited := throttle(raw)) is not None:
                    session.push(encode(limited))
                    continue
                try:
                    frame = self._decode(raw)
                    if isinstance(frame, Upload):
                        await self._accept_upload(session, frame)
                    else:
                        self._dispatch(frame, session, line, phone_number)
                except ProtocolError as exc:
                    log.debug("%s sent a bad frame: %s", phone_number, exc)
                    session.push(encode(ErrorFrame(exc.code, exc.message, exc.request_id or readable_client_id(raw))))
        except ConnectionClosed:
            pass

    async def _accept_upload(self, session: _Session, frame: Upload) -> None:
        """Validate and store an avatar image off the loop; answer with the name it is served under."""
        if self.uploads is None:
            raise ProtocolError(ErrorCode.UPLOADS_DISABLED, "this hub does not store avatar uploads", frame.id)
        try:
            data = base64.b64decode(frame.data, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(ErrorCode.BAD_UPLOAD, "upload data must be base64", frame.id) from None
        try:
            name = await asyncio.to_thread(self.uploads.add, data)
        except AvatarError as exc:
            raise ProtocolError(exc.code.value, exc.message, frame.id) from None
        except OSError as exc:
            log.warning("could not store an avatar upload: %s", exc)
            raise ProtocolError(
                ErrorCode.STORE_FAILED, "the hub could not store the upload; try again later", frame.id
            ) from None
        # The name, not a URL: each viewer resolves it against the hub address it uses itself.
        session.push(encode(Uploaded(name, frame.id)))

    def _dispatch(self, frame: Hello | Send | Update, session: _Session, line: Line, phone_number: str) -> None:
        if isinstance(frame, Hello):
            raise ProtocolError(ErrorCode.ALREADY_JOINED, f"already on line {line.name!r}; one hello per connection")
        try:
            if isinstance(frame, Send):
                self._relay(frame, session, line, phone_number)
            else:
                info = line.update(phone_number, frame.properties)
                self._remember(line, info)
                self._tell_others(line, info)
                if frame.id is not None:
                    session.push(encode(Ack(frame.id, properties=info.properties)))
        except ProtocolError as exc:
            exc.request_id = frame.id
            raise

    def _relay(self, frame: Send, session: _Session, line: Line, phone_number: str) -> None:
        """Store, then relay, then acknowledge; a client id this client used before is acknowledged again only."""
        try:
            earlier = self.store.find(line.name, frame.id, session.author) if frame.id is not None else []
        except StoreError as exc:
            log.warning("could not look up a resend on line %r: %s", line.name, exc)
            earlier = []  # a possible duplicate is better than a line nobody can write to
        resent = next((m for m in earlier if (m.text, m.to, m.action) == (frame.text, frame.to, frame.action)), None)
        if resent is not None:
            # A resend after a lost acknowledgement (perhaps under a new number): acknowledge only.
            session.push(encode(Ack(frame.id, resent.seq, resent.ts, resent.direct_seq)))
            return
        try:
            # A recipient's direct numbering may have to be read from the store first.
            posted = line.post(
                phone_number, frame.text, ts=int(time.time() * 1000), to=frame.to, action=frame.action, client_id=frame.id
            )
            self.store.append(line.name, posted.message, session.author, posted.direct)
        except StoreError as exc:
            log.warning("could not store a message on line %r: %s", line.name, exc)
            raise ProtocolError(ErrorCode.STORE_FAILED, "the hub could not store the message; send it again") from None
        line.commit(posted)
        members = self._sessions[line.name]
        sent_copy = posted.message
        data = encode(posted.message)
        for number, copy in line.copies(posted):
            if number == phone_number:
                sent_copy = copy
            if (recipient := members.get(number)) is not None:
                recipient.push(data if copy is posted.message else encode(copy))
        if frame.id is not None:
            session.push(encode(Ack(frame.id, sent_copy.seq, sent_copy.ts, sent_copy.direct_seq)))

    def _tell_others(self, line: Line, info: ClientInfo) -> None:
        for number, session in self._sessions.get(line.name, {}).items():
            if number != info.phone_number:
                session.push(info)


def _digest(kind: str, secret: str) -> str:
    """What the hub keeps of a client's secret: a hash, useless to whoever reads the store."""
    return hashlib.sha256(f"ozchat {kind}\0{secret}".encode("utf-8", "surrogatepass")).hexdigest()


def _is_hello(raw: str | bytes) -> bool:
    """A text frame whose type reads as hello, however broken the rest."""
    try:
        return isinstance(raw, str) and frame_type(raw) == "hello"
    except ProtocolError:
        return False


def _retry_after(wait: float) -> float:
    """Seconds to the millisecond, rounded up: a frame sent that much later passes."""
    return math.ceil(wait * 1000) / 1000


def _is_loopback_address(address: object) -> bool:
    try:
        return ipaddress.ip_address(address[0]).is_loopback  # type: ignore[index]
    except (TypeError, IndexError, ValueError):
        return False


def _respond(connection: ServerConnection, status: HTTPStatus, body: bytes, content_type: str) -> Response:
    response = connection.respond(status, "")
    response.body = body
    del response.headers["Content-Type"]
    del response.headers["Content-Length"]
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(len(body))
    return response

