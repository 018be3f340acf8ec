"""A hello answered `store_failed` (the hub's Redis away) is tried again, not taken as a refusal.

Real redis-server stopped and started again, a real `ozchat serve --redis` process, a real OzWebClient.
"""

from __future__ import annotations

import asyncio
import logging

from ozchat import ConnectionState, ConnectionStateChanged, OzWebClient

from conftest import Recorder
from redis_server import hub_url
from relay import Relay


def states(events: Recorder) -> list[tuple[ConnectionState, bool]]:
    return [(change.state, change.retrying) for change in events.of_type(ConnectionStateChanged)]


def logged_once_each(hub) -> None:
    """The hub told the outage once and its end once, and no refused hello on its own."""
    hub.wait_for("joined line 'Webphone1'", timeout=30)
    hub.wait_for("the Redis connection is back", timeout=30)
    assert sum("lost the Redis connection" in line for line in hub.lines) == 1
    assert not [line for line in hub.lines if "could not read line" in line]


async def test_a_first_connection_while_redis_is_away_keeps_trying_and_is_granted_once_it_is_back(
    start_hub, redis_server
):
    hub = start_hub()
    url = hub_url(hub)
    await asyncio.to_thread(redis_server.stop)
    await asyncio.to_thread(hub.wait_for, "lost the Redis connection")

    ann = OzWebClient(ping_interval=None, backoff_base=0.05, backoff_cap=0.2)
    events = Recorder(ann)
    connecting = asyncio.create_task(ann.connect(url, "Webphone1", {"nickname": "Ann"}, keep_trying=True))
    try:
        # Two attempts refused for the store, each told as a failure the client is retrying (or an end, to fail on).
        await events.wait_for(
            lambda e: len(states(events)) >= 2 or (isinstance(e, ConnectionStateChanged) and not e.retrying)
        )
        assert states(events)[:2] == [(ConnectionState.CONNECTION_FAILED, True)] * 2
        await asyncio.to_thread(redis_server.start)
        await connecting
        *before, granted = events.of_type(ConnectionStateChanged)
        assert granted.state is ConnectionState.ACCESS_GRANTED and ann.phone_number
        assert before and all(
            change.state is ConnectionState.CONNECTION_FAILED and change.retrying
            and "cannot let anyone in" in (change.reason or "")
            for change in before
        )
        await asyncio.to_thread(logged_once_each, hub)
    finally:
        await ann.disconnect()


async def test_a_reconnect_while_redis_is_away_keeps_trying_and_is_granted_once_it_is_back(
    start_hub, redis_server, caplog
):
    hub = start_hub()
    port = int(hub_url(hub).rsplit(":", 1)[1].strip("/"))
    second_attempt_due = asyncio.Event()
    attempts_after_failure = 0

    async def before_reconnect() -> None:
        nonlocal attempts_after_failure
        attempts_after_failure += 1
        if attempts_after_failure == 2:  # the drop was the first; an attempt has failed since
            second_attempt_due.set()

    caplog.set_level(logging.INFO, logger="ozchat.client")
    async with Relay(port) as relay:
        ann = OzWebClient(ping_interval=None, backoff_base=0.05, backoff_cap=0.2, before_reconnect=before_reconnect)
        events = Recorder(ann)
        await ann.connect(relay.url, "Webphone1", {"nickname": "Ann"})
        try:
            await asyncio.to_thread(redis_server.stop)
            await asyncio.to_thread(hub.wait_for, "lost the Redis connection")
            relay.cut()
            given_up = asyncio.ensure_future(events.wait_for(
                lambda e: isinstance(e, ConnectionStateChanged) and not e.retrying
                and e.state is not ConnectionState.ACCESS_GRANTED
            ))
            retrying = asyncio.ensure_future(second_attempt_due.wait())
            await asyncio.wait((given_up, retrying), return_when=asyncio.FIRST_COMPLETED)
            given_up.cancel()
            assert second_attempt_due.is_set(), states(events)
            await asyncio.to_thread(redis_server.start)
            await events.wait_for(lambda _: len(events.of_type(ConnectionStateChanged)) >= 3)
            assert states(events) == [
                (ConnectionState.ACCESS_GRANTED, False),
                (ConnectionState.CONNECTION_CLOSED, True),
                (ConnectionState.ACCESS_GRANTED, False),
            ]
            assert any("reconnect failed: the hub cannot let anyone in" in r.getMessage() for r in caplog.records)
        finally:
            await ann.disconnect()

