"""Typing between hubs that share lines: one Redis pub/sub channel, relayed in order, never stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .redis_scripts import TYPING_CHANNEL

_RETRY_SECONDS = (0.1, 0.2, 0.5, 1.0)


class TypingChannel:
    """Publishes this hub's members' typing; hears the other hubs' for the lines this hub serves."""

    def __init__(
        self,
        redis: aioredis.Redis,
        listening: aioredis.Redis,
        hub_id: str,
        serves: Callable[[str], bool],
        on_typing: Callable[[str, str, str | None, bool], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        self._redis = redis
        self._listening = listening  # its pub/sub connection blocks: not one of the writers'
        self._hub_id = hub_id
        self._serves = serves
        self._on_typing = on_typing
        self._failed = failed
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()

    def publish(self, line: str, sender: str, to: str | None, stopped: bool) -> None:
        """Relay typing to the other hubs: dropped, not kept, if Redis is away."""
        self._outgoing.put_nowait(json.dumps([self._hub_id, line, sender, to, stopped]))

    async def send_forever(self) -> None:
        """One at a time, so a `stopped` never overtakes its `typing`."""
        while True:
            payload = await self._outgoing.get()
            try:
                await self._redis.publish(TYPING_CHANNEL, payload)
            except (RedisError, OSError) as exc:
                self._failed(exc)

    async def hear_forever(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._listening.pubsub() as pubsub:
                    await pubsub.subscribe(TYPING_CHANNEL)
                    attempt = 0
                    async for heard in pubsub.listen():
                        if heard.get("type") != "message":
                            continue
                        hub, line, sender, to, stopped = json.loads(heard["data"])
                        if hub != self._hub_id and self._serves(line):
                            self._on_typing(line, sender, to, bool(stopped))
            except (RedisError, OSError) as exc:
                self._failed(exc)
                await asyncio.sleep(_RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)])
                attempt += 1
