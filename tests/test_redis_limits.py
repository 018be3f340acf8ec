"""A Redis hub's join and new-line limits count what it admits, and new lines as Redis knows them.

Real redis-server, real `ozchat serve --redis` processes, raw WebSocket hellos.
"""

from __future__ import annotations

import asyncio

import pytest
from test_redis_hello_order import hello, keys_naming

from redis_server import hub_url


@pytest.mark.parametrize(
    ("limit", "over"), [("--joins-per-minute", "too many joins"), ("--lines-per-hour", "too many new lines")]
)
async def test_hellos_answered_store_failed_use_up_no_joins_or_new_lines_and_the_limits_still_hold(
    processes, redis_server, limit, over
):
    hub = processes("serve", "--port", "0", "--redis", redis_server.url, limit, "2", "--log-level", "info")
    url = hub_url(hub)
    await asyncio.to_thread(redis_server.stop)
    await asyncio.to_thread(hub.wait_for, "lost the Redis connection")

    for attempt in range(4):  # more than either limit allows: a client retrying through an outage
        answer, code = await hello(url, line="Webphone1", id=f"h-{attempt}")
        assert (answer["type"], answer["code"], code) == ("error", "store_failed", 1011)
    await asyncio.to_thread(redis_server.start)
    await asyncio.to_thread(hub.wait_for, "the Redis connection is back")

    answer, _ = await hello(url, line="Webphone1")
    assert answer["type"] == "welcome"
    answer, _ = await hello(url, line="Webphone2")
    assert answer["type"] == "welcome"
    # Two admitted (each a join, on a new line): the third is over the limit, and never reaches Redis.
    answer, code = await hello(url, line="Webphone3")
    assert (answer["type"], answer["code"], code) == ("error", "rate_limited", 4029)
    assert over in answer["message"]
    assert await keys_naming(redis_server, "Webphone3") == []


async def test_a_hello_refused_for_its_nickname_uses_up_no_join(start_hub, processes, join, redis_server):
    await join(hub_url(start_hub()), line="Busy", nickname="Ann")
    url = hub_url(processes(
        "serve", "--port", "0", "--redis", redis_server.url, "--joins-per-minute", "1", "--log-level", "info"
    ))

    answer, code = await hello(url, line="Busy", properties={"nickname": "Ann"})
    assert (answer["type"], answer["code"], code) == ("error", "nickname_in_use", 4003)
    answer, _ = await hello(url, line="Busy", properties={"nickname": "Bob"})
    assert answer["type"] == "welcome"
    answer, code = await hello(url, line="Busy", properties={"nickname": "Cy"})
    assert (answer["type"], answer["code"], code) == ("error", "rate_limited", 4029)
