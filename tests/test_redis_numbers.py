"""Phone numbers stay unique across hubs that share a real Redis server, whatever numbers the hubs draw."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from ozchat import AccessDenied, ClientInfo, ClientStatus
from ozchat.hub.server import Hub

from redis_server import RedisServer, hub_url


def drawing(*numbers: str) -> Callable[[], str]:
    """A number source that gives these numbers in order (and fails the test if asked for more)."""
    return iter(numbers).__next__


@asynccontextmanager
async def shared_hub(redis_server: RedisServer, draw: Callable[[], str], **options: float) -> AsyncIterator[str]:
    """An in-process hub sharing its lines through `redis_server`, drawing newcomers' numbers from `draw`."""
    async with Hub("127.0.0.1", 0, redis_url=redis_server.url, phone_numbers=draw, **options) as hub:
        yield hub.url


async def test_two_hubs_drawing_the_same_number_at_once_give_two_different_numbers(redis_server, join):
    async with (
        shared_hub(redis_server, drawing("Aaaaa", "Bbbbb")) as url_a,
        shared_hub(redis_server, drawing("Aaaaa", "Bbbbb")) as url_b,
    ):
        (ann, _), (bob, bob_events) = await asyncio.gather(join(url_a, nickname="Ann"), join(url_b, nickname="Bob"))
        assert {ann.phone_number, bob.phone_number} == {"Aaaaa", "Bbbbb"}
        await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann", timeout=30)
        assert sorted(info.phone_number for info in [*bob.roster, bob.me]) == ["Aaaaa", "Bbbbb"]


async def test_a_number_freed_on_one_hub_is_given_again_on_another(redis_server, join):
    async with (
        shared_hub(redis_server, drawing("Aaaaa")) as url_a,
        shared_hub(redis_server, drawing("Watch", "Aaaaa")) as url_b,
    ):
        ann, _ = await join(url_a, nickname="Ann")
        _, watcher_events = await join(url_b, nickname="Watcher")
        await watcher_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann", timeout=30)
        await ann.disconnect()  # a goodbye: Ann leaves at once, and her number with her
        await watcher_events.wait_for(
            lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE, timeout=30
        )
        cid, _ = await join(url_b, nickname="Cid")
        assert (ann.phone_number, cid.phone_number) == ("Aaaaa", "Aaaaa")


async def test_a_hello_refused_gives_back_the_number_it_was_drawn(redis_server, join):
    async with shared_hub(redis_server, drawing("Aaaaa", "Bbbbb", "Bbbbb")) as url:
        await join(url, nickname="Ann")
        with pytest.raises(AccessDenied, match="nickname_in_use"):
            await join(url, nickname="ann")
        bob, _ = await join(url, nickname="Bob")
        assert bob.phone_number == "Bbbbb"


async def test_a_dead_hubs_numbers_are_freed_by_the_reaper(redis_server, start_hub, join):
    hub_a = start_hub("--heartbeat-ttl", "1")
    ann, _ = await join(hub_url(hub_a), nickname="Ann")
    draws = ["Watch", ann.phone_number, "Bbbbb", ann.phone_number]
    async with shared_hub(redis_server, lambda: draws.pop(0), heartbeat_ttl=1.0) as url_b:
        watcher, watcher_events = await join(url_b, nickname="Watcher")
        bob, _ = await join(url_b, nickname="Bob")
        assert bob.phone_number == "Bbbbb"  # Ann's number is held by her hub

        hub_a.kill()  # SIGKILL: no goodbye; the reaper frees what hub A held
        offline = await watcher_events.wait_for(
            lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE, timeout=30
        )
        assert offline.phone_number == ann.phone_number
        cid, _ = await join(url_b, nickname="Cid")
        assert cid.phone_number == ann.phone_number and draws == []
        assert watcher.phone_number == "Watch"
