"""The server's side of lines shared through Redis: the backplane's tasks feed `SharedHubState`, and back.

Loaded only by a hub started with a Redis URL; the `redis` client library comes in with `backplane.py`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..exceptions import BackplaneError
from ..protocol import Ack, ErrorCode, ErrorFrame, encode, new_phone_number, readable_client_id
from .backplane import Backplane
from .outputs import Deliver, Output, Post
from .redis_nicknames import Held
from .redis_scripts import Numbers
from .shared import SharedHubState

if TYPE_CHECKING:
    from .outbox import Outbox

log = logging.getLogger("ozchat.hub")


class LineSharing:
    """Runs the backplane for one hub: what it reads goes into the state, what the state decided goes out."""

    def __init__(
        self,
        state: SharedHubState[Outbox],
        apply: Callable[[Iterable[Output[Outbox]]], None],
        url: str,
        *,
        heartbeat_ttl: float,
        ack_timeout: float,
        phone_numbers: Callable[[], str] = new_phone_number,
    ) -> None:
        self._state = state
        self._phone_numbers = phone_numbers  # what newcomers' numbers are drawn from (Redis keeps them unique)
        self._apply = apply
        self._ack_timeout = ack_timeout
        self.backplane = Backplane(
            url, state.mirror_line,
            lambda line, info, record: apply(state.mirror(line, info, record)),
            lambda line, message: apply(state.mirror_message(line, message)),
            self._share_again,
            lambda line, sender, to, stopped: apply(state.mirror_typing(line, sender, to, stopped)),
            heartbeat_ttl=heartbeat_ttl,
        )

    async def start(self) -> None:
        """Reach Redis (BackplaneError if it cannot be reached) and run the backplane's tasks."""
        await self.backplane.start()

    async def stop(self) -> None:
        await self.backplane.stop()

    def publish(self) -> None:
        """What this hub's members changed (presence) or signalled (typing), for the other hubs."""
        self.backplane.publish(self._state.take_shared())
        for typing in self._state.take_typing():
            self.backplane.typing.publish(*typing)

    async def admit(self, me: Outbox, now: Callable[[], float]) -> list[Output[Outbox]]:
        """A hello past every check that needs no line's state: count it as a new line if Redis knows nothing of its
        line, mirror its line as Redis holds it, reserve a number there for a newcomer, then admit it (or answer
        with a failure if Redis cannot be reached).

        Nothing to do (no outputs) for a connection whose last frame left no hello waiting.
        """
        line = self._state.checked_line(me)
        if line is None:
            return []
        try:
            async with asyncio.timeout(self._ack_timeout):  # a hello never waits on Redis without end
                reserved = await self._reserve(me, line, now)
        except (BackplaneError, TimeoutError) as exc:  # the outage itself is logged once, by the backplane
            log.debug("could not read line %r from Redis for a hello: %s", line, exc)
            return self._state.refuse_checked(me, "the hub cannot reach the store it shares with other hubs")
        if isinstance(reserved, list):
            return reserved
        number, held, order = reserved
        self._state.reserve(me, line, number, held, order)
        outputs = self._state.admit_checked(me, now())
        unused = self._state.unused_number(me)  # refused, or resumed: the number is free again, before the answer
        if unused is not None:  # (unless Redis went away: then it is given back once Redis is there again)
            await asyncio.wait((self.backplane.numbers.release(*unused),), timeout=self._ack_timeout)
        return outputs

    async def _reserve(
        self, me: Outbox, line: str, now: Callable[[], float]
    ) -> tuple[str, Held, int] | list[Output[Outbox]]:
        """Mirror a hello's line and reserve a number there (BackplaneError if Redis fails), or the refusal of a line
        one too many."""
        if not self.backplane.watching(line):
            # A new line is counted before anything is written: one over the limit leaves no key in Redis.
            if self._state.may_be_new_line(me) and not await self.backplane.numbers.line_known(line):
                refused = self._state.count_new_line(me, now())
                if refused is not None:
                    return refused
            await self.backplane.watch(line)
        return await self.backplane.numbers.reserve(line, self._phone_numbers, *self._state.checked_nickname(me))

    async def receive(self, me: Outbox, raw: str | bytes, now: Callable[[], float]) -> list[Output[Outbox]]:
        """A member's frame, as the state takes it; an update that changes the nickname claims it in Redis first."""
        change = self._state.nickname_change(me, raw)
        if change is None:
            return self._state.receive(me, raw, now())
        line, number, nickname = change
        try:
            async with asyncio.timeout(self._ack_timeout):  # a claim never waits on Redis without end
                held = await self.backplane.nicknames.claim(line, number, nickname)
        except (BackplaneError, TimeoutError) as exc:  # the outage itself is logged once, by the backplane
            log.debug("could not claim a nickname on line %r in Redis: %s", line, exc)
            if self._state.member(me) == (line, number):  # the claim may have been written: Redis holds its own again
                self.backplane.nicknames.hold(line, number, self._state.nickname_of(line, number))
            return [Deliver((me,), encode(ErrorFrame(
                ErrorCode.STORE_FAILED, "the hub cannot reach the store it shares with other hubs; try again",
                readable_client_id(raw),
            )))]
        self._state.nicknames_held(me, held)
        outputs = self._state.receive(me, raw, now())
        if not held and self._state.member(me) == (line, number):  # claimed: Redis keeps what the state decided
            self.backplane.nicknames.hold(line, number, self._state.nickname_of(line, number))
        return outputs

    def post(self, post: Post[Outbox]) -> None:
        """Have Redis number a message; acknowledge it once the stream brought it here (so after its relay).

        Nothing waits: the sender's next frames are queued behind this one, so its messages keep their order.
        """
        numbered = self.backplane.post(
            post.line, post.message, post.author, post.direct, last_seq=post.last_seq, epoch=post.epoch
        )
        numbered.add_done_callback(functools.partial(self._numbered, post))

    def _numbered(self, post: Post[Outbox], numbered: asyncio.Future[Numbers]) -> None:
        message = post.message
        try:
            numbers = numbered.result()
        except BackplaneError as exc:  # the outage itself is logged once, by the backplane
            log.debug("could not store a message on line %r: %s", post.line, exc)
            post.to.push(encode(ErrorFrame(
                ErrorCode.STORE_FAILED, "the hub could not store the message; send it again", message.id
            )))
            return
        if message.id is None:
            return
        ack = encode(Ack(message.id, numbers.seq, numbers.ts, numbers.direct_seq))
        if not numbers.entry_id:  # a resend of a stored message: acknowledged only
            post.to.push(ack)
            return
        relayed = self.backplane.relayed(post.line, numbers.entry_id, self._ack_timeout)
        relayed.add_done_callback(lambda _: post.to.push(ack))

    def release_lines(self) -> None:
        """Stop mirroring the lines this hub has nobody on any more."""
        for line in self.backplane.watched - self._state.local_lines():
            self.backplane.unwatch(line)
            self._state.drop_mirror(line)

    def _share_again(self) -> list[tuple[str, str, int]]:
        lines = self._state.share_again()
        self.backplane.publish(self._state.take_shared())
        return lines

