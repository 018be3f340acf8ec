"""The Redis backplane: hubs that share a Redis server share their lines (presence, messages, typing).

All Redis I/O of a hub runs here, on its loop (typing's in redis_typing.py). Each line has one
stream, the single order of its presence changes and messages, and a roster hash; each hub tails
the streams of its lines from the last entry it read (an outage loses nothing the stream holds)
and feeds its state. Every write is one Lua script (redis_scripts.py), so it is atomic. A hub
keeps a heartbeat key with a TTL and the set of its clients; a hub that finds a heartbeat expired
runs the reaper script, which publishes that hub's clients OFFLINE, once, and forgets the hub.
Only hubs started with a Redis URL import this module (and the `redis` client library).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from ..exceptions import BackplaneError
from ..protocol import ChatMessage, ClientInfo, ClientStatus, encode
from .redis_numbers import Nicknames, PhoneNumbers
from .redis_scripts import (
    HUBS,
    POST,
    PREFIX,
    PUBLISH_PRESENCE,
    REAP,
    LineSink,
    LineView,
    MessageSink,
    Numbers,
    PresenceSink,
    entry_id_order,
    line_key,
    numbers_of,
    presence_write,
    read_message,
    record_decoder,
    resend_digest,
    without_password,
)
from .redis_typing import TypingChannel
from .redis_writes import Write, held_while_failing
from .store import Direct

log = logging.getLogger("ozchat.hub")

DEFAULT_HEARTBEAT_TTL = 15.0
STREAM_MAXLEN = 10_000
# How long one blocking read waits: a hub that starts to watch a line wakes it sooner (its wake stream).
_BLOCK_MS = 5_000
_RETRY_SECONDS = (0.1, 0.2, 0.5, 1.0)
# `heartbeat_ttl` is the time within which a dead hub's clients are announced OFFLINE: its heartbeat
# key lives this share of it, and every hub beats and reaps this often, so expiry + one tick fits.
_MAX_CONNECTIONS = 32
_BATCH = 256  # writes sent in one round trip at most
_KEY_SHARE = 0.75
_TICK_SHARE = 0.125


class Backplane:
    """One hub's link to the shared Redis: heartbeat, reaper, publisher and stream tail, as tasks."""

    def __init__(
        self,
        url: str,
        on_line: LineSink,
        on_presence: PresenceSink,
        on_message: MessageSink,
        on_lost: Callable[[], list[tuple[str, str, int]]],
        on_typing: Callable[[str, str, str | None, bool], None],
        *,
        heartbeat_ttl: float = DEFAULT_HEARTBEAT_TTL,
        keep_messages: int = STREAM_MAXLEN,
        resend_window: float = 86_400.0,
    ) -> None:
        self.url = url
        self.hub_id = secrets.token_hex(6)
        self.heartbeat_ttl = heartbeat_ttl
        self._keep = keep_messages
        self._resend_window = max(1, int(resend_window))
        self._on_line = on_line
        self._on_presence = on_presence
        self._on_message = on_message
        # Redis lost what it held: this hub publishes its members again, and returns (line, epoch, last_seq) of each.
        self._on_lost = on_lost
        # A few quick retries, then the caller hears of it: a sender waits a second at most for store_failed.
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)
        # At most this many connections; past them a write waits for one (a join storm's writes queue, not fail).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, retry=retry, socket_timeout=5.0, socket_connect_timeout=2.0,
            max_connections=_MAX_CONNECTIONS, timeout=5.0,
        )
        self._redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        # The tail blocks on a connection of its own, so writes never wait behind it.
        self._tail_redis: aioredis.Redis = aioredis.Redis.from_url(
            url, decode_responses=True, retry=retry, socket_connect_timeout=2.0
        )
        self._publish_presence = self._redis.register_script(PUBLISH_PRESENCE)
        self._post = self._redis.register_script(POST)
        self._reap = self._redis.register_script(REAP)
        self._alive_key = f"{PREFIX}hub:{self.hub_id}"
        self._clients_key = f"{PREFIX}hub:{self.hub_id}:clients"
        self._wake_key = f"{PREFIX}hub:{self.hub_id}:wake"
        # The lines watched, each with the id of the last stream entry fed to the hub.
        self._positions: dict[str, str] = {}
        # Senders waiting for the tail to reach their message (so it is relayed before they are acknowledged).
        self._waiters: dict[str, list[tuple[tuple[int, int], asyncio.Future[None]]]] = {}
        self._writes: asyncio.Queue[Write] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.typing = TypingChannel(self._redis, self._tail_redis, self.hub_id, self.watching, on_typing, self._failed)
        self.numbers = PhoneNumbers(self._redis, self.hub_id, self._clients_key, self._queue)
        self.nicknames = Nicknames(self._redis, self._queue)
        self._reading: dict[str, asyncio.Future[None]] = {}  # lines whose first read is under way
        self._failing = False

    async def start(self) -> None:
        """Check that Redis answers (BackplaneError if not), then run the background tasks."""
        try:
            await self._beat()
        except (RedisError, OSError) as exc:
            await self._redis.aclose(close_connection_pool=True)
            await self._tail_redis.aclose()
            raise BackplaneError(f"cannot reach Redis at {without_password(self.url)}: {exc}") from None
        self._tasks = [
            asyncio.create_task(self._keep_beating()),
            asyncio.create_task(self._write_forever()),
            asyncio.create_task(self._tail_forever()),
            asyncio.create_task(self.typing.hear_forever()),
            asyncio.create_task(self.typing.send_forever()),
        ]
        log.info("sharing lines through Redis at %s as hub %s", without_password(self.url), self.hub_id)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:  # a goodbye: the other hubs announce this hub's clients OFFLINE at their next reaping
            await self._redis.delete(self._alive_key, self._wake_key)
        except (RedisError, OSError):
            pass  # then its heartbeat expires by itself
        await self._redis.aclose(close_connection_pool=True)
        await self._tail_redis.aclose()

    # ---- lines ----------------------------------------------------------------------

    @property
    def watched(self) -> set[str]:
        return set(self._positions)

    def watching(self, line: str) -> bool:
        return line in self._positions

    async def watch(self, line: str) -> None:
        """Start to mirror a line: its roster, numbering and newest messages (BackplaneError if Redis fails).

        The hellos of a join storm on a new line wait for one read.
        """
        if line in self._positions:
            return
        reading = self._reading.get(line)
        if reading is None:
            reading = self._reading[line] = asyncio.ensure_future(self._read_line(line))
            reading.add_done_callback(lambda _: self._reading.pop(line, None))
        await asyncio.shield(reading)

    async def _read_line(self, line: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(line_key(line, "roster"))
                pipe.set(line_key(line, "epoch"), secrets.token_hex(8), nx=True)
                pipe.get(line_key(line, "epoch"))
                pipe.get(line_key(line, "seq"))
                pipe.hgetall(line_key(line, "direct"))
                pipe.xrevrange(line_key(line, "events"), count=self._keep)
                roster, _, epoch, last_seq, direct_seqs, entries = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackplaneError(str(exc)) from None
        self._positions[line] = entries[0][0] if entries else "0-0"
        messages = [read_message(id_, fields) for id_, fields in reversed(entries) if fields.get("kind") == "message"]
        records = [record_decoder.decode(data) for data in roster.values()]
        numbers = {identity: int(number) for identity, number in direct_seqs.items()}
        self._on_line(line, LineView(records, epoch, int(last_seq or 0), numbers, messages))
        try:  # the tail reads the new stream at once rather than after its current read
            await self._redis.xadd(self._wake_key, {"line": line}, maxlen=1)
        except (RedisError, OSError) as exc:
            self._failed(exc)

    def unwatch(self, line: str) -> None:
        """Stop mirroring a line this hub has nobody on any more."""
        self._positions.pop(line, None)
        for _, waiter in self._waiters.pop(line, []):
            if not waiter.done():
                waiter.set_result(None)

    def publish(self, changes: list[tuple[str, ClientInfo, str, str, int]]) -> None:
        """Queue local presence changes (line, state, identity, resume token hash, order), written in order, retried."""
        for line, info, identity, token, order in changes:
            self._queue(self._publish_presence, *presence_write(
                self.hub_id, self._clients_key, self._keep, line, info, identity, token, order))

    def _queue(
        self, script: AsyncScript, keys: list[str], args: list[Any], read: Callable[[Any], Any] | None = None,
        wait: bool = False,
    ) -> Any:
        """A write after those queued so far: retried until written (`wait`: done then), or with `read` answered once"""
        done = asyncio.get_running_loop().create_future() if read is not None or wait else None
        self._writes.put_nowait(Write(script, keys, args, done, read))
        return done

    def post(
        self, line: str, message: ChatMessage, author: str, direct: Direct | None, *, last_seq: int, epoch: str,
    ) -> asyncio.Future[Numbers]:
        """Number and append a message, after what this hub queued before it; BackplaneError if Redis fails.

        `direct` holds a direct message's parties and the numbers this hub would give it, `last_seq` the
        newest line number this hub saw: Redis numbers no lower (it may have lost its data).
        """
        sender_identity, recipient_identity, sender_seq, recipient_seq = direct or ("", "", 1, 1)
        resend = resend_digest(author, message.id, message.to, message.action, message.text) if message.id else ""
        return self._queue(
            self._post,
            [line_key(line, "events"), line_key(line, "seq"), f"{PREFIX}line:{line}:sent:{resend}",
             line_key(line, "direct"), line_key(line, "epoch")],
            [self.hub_id, encode(message), author, last_seq, sender_identity, recipient_identity, self._keep,
             epoch, self._resend_window if message.id is not None else "", message.ts,
             sender_seq - 1, recipient_seq - 1],
            numbers_of,
        )

    def relayed(self, line: str, entry_id: str, timeout: float) -> asyncio.Future[None]:
        """Done once the tail has fed the hub a line's stream entry `entry_id` (or after `timeout` seconds)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        target = entry_id_order(entry_id)
        if line not in self._positions or entry_id_order(self._positions[line]) >= target:
            waiter.set_result(None)
            return waiter
        self._waiters.setdefault(line, []).append((target, waiter))
        # The tail may be behind (Redis away): the message is stored, and it will be relayed.
        settling = loop.call_later(timeout, waiter.cancel)  # done as well: the acknowledgement goes out
        waiter.add_done_callback(lambda _: settling.cancel())
        return waiter

    # ---- background tasks -----------------------------------------------------------

    async def _beat(self) -> bool:
        """Refresh the heartbeat; True when Redis did not know this hub (it lost its data, or reaped it)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._alive_key, "1", px=int(self.heartbeat_ttl * _KEY_SHARE * 1000))
            pipe.sadd(HUBS, self.hub_id)
            _, added = await pipe.execute()
        return bool(added)

    async def _keep_beating(self) -> None:
        """Refresh the heartbeat a few times per TTL, and reap the hubs whose heartbeat expired.

        After an outage, a whole TTL passes before reaping: every live hub has beaten again by then.
        """
        loop = asyncio.get_running_loop()
        reap_from = loop.time()
        while True:
            await asyncio.sleep(self.heartbeat_ttl * _TICK_SHARE)
            try:
                if await self._beat():
                    log.warning("Redis had lost this hub's state (restarted, or took it for dead): sharing it again")
                    await self._restore(self._on_lost())
                reaped = await self._reap(keys=[HUBS], args=[PREFIX, self._keep]) if loop.time() >= reap_from else 0
            except (RedisError, OSError) as exc:
                self._failed(exc)
                reap_from = loop.time() + self.heartbeat_ttl
                continue
            self._recovered()
            if reaped:
                log.info("announced %d clients of hubs that stopped beating as OFFLINE", reaped)

    async def _restore(self, lines: list[tuple[str, str, int]]) -> None:
        """Put back each line's epoch and numbering as this hub knows them, unless another hub did first."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for line, epoch, last_seq in lines:
                pipe.set(line_key(line, "epoch"), epoch, nx=True)
                pipe.set(line_key(line, "seq"), last_seq, nx=True)
            await pipe.execute()

    async def _write_forever(self) -> None:
        """Every write, in the order queued, as many as wait in one round trip (a burst of sends is read as one).

        When Redis cannot be reached, every write that expects an answer (a message, a hello's number, a
        nickname claim) fails as it comes (store_failed: the client sends it again), and the presence
        changes and give-backs are written once it is back.
        """
        backlog: list[Write] = []  # taken off the queue, not written yet, in order
        attempt = 0
        reason = ""
        while True:
            if not backlog:
                backlog.append(await self._writes.get())
            while not self._writes.empty() and (attempt or len(backlog) < _BATCH):
                backlog.append(self._writes.get_nowait())
            if attempt:  # Redis away: the retried writes never hold back an answer (store_failed) to the others
                backlog = held_while_failing(backlog, reason)
                if not backlog:
                    attempt = 0
                    continue
            batch = backlog[:_BATCH]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for write in batch:
                        await write.script(keys=write.keys, args=write.args, client=pipe)
                    answers = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                self._failed(exc)
                reason = str(exc)
                backlog = held_while_failing(batch, reason) + backlog[_BATCH:]
                await asyncio.sleep(_RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            self._recovered()
            attempt = 0
            backlog = backlog[_BATCH:]
            for write, answer in zip(batch, answers, strict=True):
                if isinstance(answer, Exception):
                    log.warning("Redis refused a write: %s", answer)
                if write.done is None or write.done.done():
                    continue
                if isinstance(answer, Exception):
                    write.done.set_exception(BackplaneError(str(answer)))
                else:
                    write.done.set_result(answer if write.read is None else write.read(answer))

    async def _tail_forever(self) -> None:
        """Read every watched line's stream from where this hub left it, and feed what others published."""
        wake = "$"
        attempt = 0
        while True:
            streams = {line_key(line, "events"): position for line, position in self._positions.items()}
            streams[self._wake_key] = wake
            try:
                answer: Any = await self._tail_redis.xread(streams, block=_BLOCK_MS)  # type: ignore[arg-type]
            except (RedisError, OSError) as exc:
                self._failed(exc)
                await asyncio.sleep(_RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            attempt = 0
            self._recovered()
            for key, entries in answer or ():
                if key == self._wake_key:
                    wake = entries[-1][0]
                    continue
                line = key[len(PREFIX) + len("line:"):-len(":events")]
                if line not in self._positions:
                    continue  # unwatched while the read waited
                for entry_id, fields in entries:
                    self._positions[line] = entry_id
                    self._feed(line, entry_id, fields)
                self._wake_waiters(line)

    def _wake_waiters(self, line: str) -> None:
        waiters = self._waiters.get(line)
        if not waiters:
            return
        reached = entry_id_order(self._positions[line])
        self._waiters[line] = [(target, waiter) for target, waiter in waiters if target > reached]
        for target, waiter in waiters:
            if target <= reached and not waiter.done():
                waiter.set_result(None)

    def _feed(self, line: str, entry_id: str, fields: dict[str, str]) -> None:
        kind = fields.get("kind")
        if kind == "message":
            self._on_message(line, read_message(entry_id, fields))
        elif kind == "gone":
            record = record_decoder.decode(fields["data"])
            self._on_presence(line, ClientInfo(record.info.phone_number, ClientStatus.OFFLINE, record.info.properties),
                              None)
        elif kind == "presence" and fields.get("hub") != self.hub_id:  # this hub's own were applied when made
            record = record_decoder.decode(fields["data"])
            self._on_presence(line, record.info, record)

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning("lost the Redis connection (%s): retrying; clients stay connected", exc)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("the Redis connection is back")
