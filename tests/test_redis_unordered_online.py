"""An ONLINE from a hub that gives no connection order (a record without `order`) still takes the member over.

Real redis-server, a real `ozchat serve --redis` process, a raw WebSocket client; the other hub's ONLINE is
appended to the line's stream as such a hub writes it.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as redis
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from redis_server import hub_url

# Only turns a missing close into a clear failure; two busy cores may take seconds.
_CAP = 20.0


async def test_an_online_without_order_from_another_hub_closes_the_members_connection_here_with_4009(
    start_hub, redis_server
):
    url = hub_url(start_hub())
    store = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        async with ws_connect(url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": "Ann"}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), _CAP))["type"] == "welcome"
            while not (roster := await store.hgetall("ozchat:line:Webphone1:roster")):
                await asyncio.sleep(0.05)  # the member's ONLINE is written after its welcome
            (data,) = roster.values()
            record = json.loads(data)
            del record["order"]  # as a hub that gives no order writes it
            record["hub"] = "elsewhere"
            await store.xadd("ozchat:line:Webphone1:events",
                             {"hub": "elsewhere", "kind": "presence", "data": json.dumps(record)})
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), _CAP)
            except ConnectionClosed:
                pass
            assert ws.close_code == 4009
    finally:
        await store.aclose()
