"""Phone numbers and nicknames unique across hubs that share a line: what a newcomer takes is claimed in Redis first.

A hub reserves a number for every hello before its state takes it (`line:NAME:numbers`, a hash:
phone number -> the hub holding it, claimed only if no hub holds it and no member has it), and in
the same script claims the hello's nickname for it (see redis_nicknames.py). The number stays the
member's while it is on the line (the presence script keeps the owner current, a resume on another
hub included); it is freed when the member leaves, when the hello did not use it (refused, or a
resume: then what it claimed of a nickname goes to the resumed number), and by the reaper when the
hub holding it died. An update that changes a nickname claims it here too, before the state takes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..exceptions import BackplaneError
from .redis_nicknames import CLAIM, HOLD, NICKNAME_FUNCTIONS, Held, held_of
from .redis_scripts import line_key

# Draws per hello before giving up: with 62^5 numbers, more than one is already rare.
_DRAWS = 20

# Claim a number for this hub, unless another hub holds it or a member has it; the hub's client set lists it for the
# reaper. Then the hello's order: Redis's clock in microseconds, above every order the line gave before (KEYS[5]), so
# of a member's connections (the client waits for one's welcome before the next), the newer has the higher order,
# on whichever hub, and after Redis lost its data too. Then the hello's nickname (ARGV[4], '' for none) for that
# number, unless a number but the one it resumes holds it: returns 0, or 1 and the order followed by each key another
# number holds (key, holder, nickname). Run again (its answer lost, the client library sends it again) it answers as
# the first time (but for a newer order), rather than leave the number held unused.
RESERVE = NICKNAME_FUNCTIONS + """
local holder = redis.call('HGET', KEYS[1], ARGV[2])
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 or (holder and holder ~= ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
local now = redis.call('TIME')
local order = tonumber(now[1]) * 1000000 + tonumber(now[2])
local last = tonumber(redis.call('GET', KEYS[5]) or '0')
if order <= last then order = last + 1 end
redis.call('SET', KEYS[5], string.format('%d', order))
if ARGV[4] == '' then return {1, order} end
local held = claim_nickname(KEYS[4], ARGV[2], ARGV[5], ARGV[4])
table.insert(held, 1, order)
table.insert(held, 1, 1)
return held
"""

# Give back a number a hello did not use (only if this hub still holds it and no member has it), and what it claimed
# of a nickname: to the number the hello resumed (ARGV[4]), or to nobody. Written twice, it does nothing more.
RELEASE = NICKNAME_FUNCTIONS + """
if redis.call('HEXISTS', KEYS[4], ARGV[2]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[1], ARGV[2])
  if ARGV[4] == '' then release_nicknames(KEYS[3], ARGV[2], {}) else move_nicknames(KEYS[3], ARGV[2], ARGV[4]) end
end
redis.call('SREM', KEYS[2], ARGV[3])
return 1
"""


def _listed(answer: Any) -> list[Any]:
    return answer if isinstance(answer, list) else []


class PhoneNumbers:
    """Reserves the numbers of this hub's newcomers in Redis, and gives back those a hello did not use."""

    def __init__(self, redis: aioredis.Redis, hub_id: str, clients_key: str, queue: Callable[..., Any]) -> None:
        self._redis = redis
        self._hub_id = hub_id
        self._clients_key = clients_key
        self._queue = queue  # see Backplane._queue
        self._reserve = redis.register_script(RESERVE)
        self._release = redis.register_script(RELEASE)

    async def line_known(self, line: str) -> bool:
        """Whether Redis holds someone on `line` (on any hub) or a message numbered there; reads only.

        Asked before a newcomer's line is counted as new, so before anything is reserved or written.
        """
        try:
            return bool(await self._redis.exists(line_key(line, "roster"), line_key(line, "seq")))
        except (RedisError, OSError) as exc:
            raise BackplaneError(str(exc)) from None

    async def reserve(
        self, line: str, draw: Callable[[], str], nickname: str, resumes: str
    ) -> tuple[str, Held, int]:
        """A number of `line` no hub holds and no member has, now held by this hub, and the hello's order (see
        RESERVE); BackplaneError if none.

        With it, the look-alike keys of the hello's `nickname` entry that other numbers hold (the number
        `resumes` names included); when none but that one does, those free are claimed for the number.
        Claimed after this hub's writes queued so far (a member's OFFLINE frees its nickname first); when
        Redis does not answer, what it may have claimed is given back once Redis is there again.
        """
        keys = [line_key(line, "numbers"), line_key(line, "roster"), self._clients_key, line_key(line, "nicknames"),
                line_key(line, "order")]
        for _ in range(_DRAWS):
            number = draw()
            args = [self._hub_id, number, json.dumps([line, number]), nickname, resumes]
            try:
                answer = await self._queue(self._reserve, keys, args, _listed)
            except (BackplaneError, asyncio.CancelledError):  # cancelled: the hello's time ran out
                self.release(line, number, "")
                raise
            if answer:
                return number, held_of(answer[2:]), int(answer[1])
        raise BackplaneError(f"no free phone number on line {line!r} after {_DRAWS} draws")

    def release(self, line: str, number: str, resumed: str) -> asyncio.Future[Any]:
        """Give back a number a hello did not use: written once Redis can be reached, after this hub's writes so far
        (the resumed member's earlier ONLINE does not take it back); done when written.

        What the hello claimed of a nickname goes to the number it `resumed` ('' if none: it is freed).
        """
        keys = [line_key(line, "numbers"), self._clients_key, line_key(line, "nicknames"), line_key(line, "roster")]
        return self._queue(self._release, keys, [self._hub_id, number, json.dumps([line, number]), resumed], None, True)


class Nicknames:
    """Claims the nicknames this hub's members change to, before the state takes them.

    Each claim and hold is written after this hub's presence changes queued before it: a member's
    earlier ONLINE, which sets what it holds, never comes after a claim and takes it back.
    """

    def __init__(self, redis: aioredis.Redis, queue: Callable[..., Any]) -> None:
        self._claim = redis.register_script(CLAIM)
        self._hold = redis.register_script(HOLD)
        self._queue = queue  # see Backplane._queue

    async def claim(self, line: str, number: str, nickname: str) -> Held:
        """Claim a `nickname` entry for a member; the keys other numbers hold (then nothing was claimed).

        BackplaneError if Redis cannot be reached.
        """
        return await self._queue(self._claim, [line_key(line, "nicknames")], [number, nickname], held_of)

    def hold(self, line: str, number: str, nickname: str) -> None:
        """Have Redis hold exactly a member's `nickname` entry for it, after its presence changes queued so far."""
        self._queue(self._hold, [line_key(line, "nicknames")], [number, nickname])
