"""Phone numbers unique across hubs that share a line: each newcomer's number is reserved in Redis first.

A hub reserves a number for every hello before its state takes it (`line:NAME:numbers`, a hash:
phone number -> the hub holding it, claimed only if no hub holds it and no member has it). The
number stays the member's while it is on the line (the presence script keeps the owner current, a
resume on another hub included); it is freed when the member leaves, when the hello did not use it
(refused, or a resume), and by the reaper when the hub holding it died.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..exceptions import BackplaneError
from .redis_scripts import line_key

log = logging.getLogger("ozchat.hub")

# Draws per hello before giving up: with 62^5 numbers, more than one is already rare.
_DRAWS = 20

# Claim a number for this hub, unless a hub holds it or a member has it; the hub's client set lists it for the reaper.
RESERVE = """
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 or redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[1]) == 0 then
  return 0
end
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""

# Give back a number a hello did not use (only if this hub still holds it).
RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[2]) end
redis.call('SREM', KEYS[2], ARGV[3])
return 1
"""


class PhoneNumbers:
    """Reserves the numbers of this hub's newcomers in Redis, and gives back those a hello did not use."""

    def __init__(self, redis: aioredis.Redis, hub_id: str, clients_key: str) -> None:
        self._hub_id = hub_id
        self._clients_key = clients_key
        self._reserve = redis.register_script(RESERVE)
        self._release = redis.register_script(RELEASE)

    async def reserve(self, line: str, draw: Callable[[], str]) -> str:
        """A number of `line` no hub holds and no member has, now held by this hub; BackplaneError if none."""
        try:
            for _ in range(_DRAWS):
                number = draw()
                keys = [line_key(line, "numbers"), line_key(line, "roster"), self._clients_key]
                if await self._reserve(keys=keys, args=[self._hub_id, number, json.dumps([line, number])]):
                    return number
        except (RedisError, OSError) as exc:
            raise BackplaneError(str(exc)) from None
        raise BackplaneError(f"no free phone number on line {line!r} after {_DRAWS} draws")

    async def release(self, line: str, number: str) -> None:
        """Give back a number a hello did not use (if Redis is away, the reaper frees it once this hub is gone)."""
        try:
            await self._release(
                keys=[line_key(line, "numbers"), self._clients_key],
                args=[self._hub_id, number, json.dumps([line, number])],
            )
        except (RedisError, OSError) as exc:
            log.warning("could not give back phone number %s of line %r: %s", number, line, exc)
