"""A hub sharing its lines through Redis checks a hello in full before it reads the hello's line there.

Real redis-server, real `ozchat serve --redis` processes, raw WebSocket hellos; Redis is inspected
with a Redis client, as an operator would.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio as redis
from websockets.asyncio.client import connect as ws_connect

from redis_server import RedisServer, hub_url


async def hello(url: str, **fields: Any) -> tuple[dict[str, Any], int | None]:
    """Send one hello on a new connection: the hub's first answer and the close code that follows it."""
    async with ws_connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", **fields}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if answer["type"] != "welcome":
            await asyncio.wait_for(ws.wait_closed(), 30)
        return answer, ws.close_code


async def keys_naming(server: RedisServer, text: str) -> list[bytes]:
    """Every key in Redis whose name holds `text` (the hub's keys carry the line's name)."""
    client = redis.Redis.from_url(server.url)
    try:
        return [key async for key in client.scan_iter(match=f"*{text}*")]
    finally:
        await client.aclose()


async def test_a_hello_with_a_bad_token_is_refused_without_a_key_in_redis(start_hub, redis_server):
    url = hub_url(start_hub("--token", "s3cret"))

    answer, code = await hello(url, line="Intruded", token="guess")
    assert (answer["type"], answer["code"], code) == ("error", "bad_token", 4003)
    # The same hello with the token is welcomed, and its line has keys in Redis: the search finds them.
    answer, _ = await hello(url, line="Welcomed", token="s3cret")
    assert answer["type"] == "welcome"
    assert await keys_naming(redis_server, "Welcomed")
    assert await keys_naming(redis_server, "Intruded") == []


async def test_a_hello_with_a_bad_line_name_gets_bad_line_without_a_key_in_redis(start_hub, redis_server):
    url = hub_url(start_hub())

    answer, code = await hello(url, line="No Spaces")
    assert (answer["type"], answer["code"], code) == ("error", "bad_line", 4003)
    assert await keys_naming(redis_server, "No Spaces") == []


async def test_with_redis_stopped_a_bad_token_still_gets_bad_token_and_a_good_hello_store_failed(
    start_hub, redis_server
):
    url = hub_url(start_hub("--token", "s3cret"))
    await asyncio.to_thread(redis_server.stop)

    answer, code = await hello(url, line="Webphone1", token="guess", id="h-1")
    assert (answer["type"], answer["code"], answer.get("id"), code) == ("error", "bad_token", "h-1", 4003)
    answer, code = await hello(url, line="Webphone1", token="s3cret", id="h-2")
    assert (answer["type"], answer["code"], answer.get("id"), code) == ("error", "store_failed", "h-2", 1011)


async def test_a_line_whose_members_are_all_on_another_hub_is_not_new_and_a_hello_over_the_limit_stays_off_redis(
    start_hub, processes, join, redis_server
):
    await join(hub_url(start_hub()), line="Busy", nickname="Ann")
    url = hub_url(processes(
        "serve", "--port", "0", "--redis", redis_server.url, "--lines-per-hour", "1", "--log-level", "info"
    ))

    answer, _ = await hello(url, line="Busy")  # Ann is there, on the other hub: Redis knows the line
    assert answer["type"] == "welcome"
    answer, _ = await hello(url, line="Fresh")  # the one new line of the hour
    assert answer["type"] == "welcome"
    answer, code = await hello(url, line="Fresher")
    assert (answer["type"], answer["code"], code) == ("error", "rate_limited", 4029)
    assert "new lines" in answer["message"]
    assert await keys_naming(redis_server, "Fresher") == []
