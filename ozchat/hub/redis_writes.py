"""The backplane's queued writes, and what becomes of them while Redis cannot be reached (pure, no I/O)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from redis.commands.core import AsyncScript

from ..exceptions import BackplaneError


class Write(NamedTuple):
    """One script to run: retried until written (`read` None) or answered once (`read` from it, into `done`)."""

    script: AsyncScript
    keys: list[str]
    args: list[Any]
    done: asyncio.Future[Any] | None
    read: Callable[[Any], Any] | None

    def same(self, other: Write) -> bool:
        return self.script is other.script and self.keys == other.keys and self.args == other.args


def refuse(write: Write, reason: str) -> None:
    """A write that expects an answer hears that Redis did not take it."""
    if write.done is not None and not write.done.done():
        write.done.set_exception(BackplaneError(reason))


def held_while_failing(writes: list[Write], reason: str) -> list[Write]:
    """What to retry of `writes` while Redis is away: a write that expects an answer is refused at once (never
    left waiting behind the retried ones), and a retried write right after an identical one is written with it.
    """
    held: list[Write] = []
    for write in writes:
        if write.read is not None:
            refuse(write, reason)
        elif held and held[-1].same(write) and (write.done is None or held[-1].done is not None):
            twin, done = held[-1].done, write.done
            if twin is not None and done is not None:  # done when its twin is written
                twin.add_done_callback(functools.partial(_settle, done))
        else:
            held.append(write)
    return held


def _settle(done: asyncio.Future[Any], twin: asyncio.Future[Any]) -> None:
    if done.done():
        return
    if twin.cancelled():
        done.cancel()
    elif (exc := twin.exception()) is not None:
        done.set_exception(exc)
    else:
        done.set_result(twin.result())
