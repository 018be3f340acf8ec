"""The hub's keepalive (one timer for every connection): a silent client is cut, the ones that answer stay."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect

from ozchat import OzWebClient
from ozchat.hub import Hub

from relay import Relay


@pytest.mark.parametrize(("interval", "timeout"), [(0.2, 0.2), (0.1, 0.3), (0.3, 0.1)])
async def test_a_silent_client_is_cut_and_one_answering_every_ping_beside_it_stays(interval: float, timeout: float):
    async with Hub("127.0.0.1", 0, ping_interval=interval, ping_timeout=timeout, grace=0.1, close_timeout=60) as hub:
        async with Relay(hub.port) as relay:
            live = await connect(hub.url, ping_interval=None)  # websockets answers every ping by itself
            await live.send(json.dumps({"type": "hello", "line": "L", "properties": {"nickname": "Live"}}))
            while json.loads(await live.recv())["type"] != "synced":
                pass
            frozen = OzWebClient(ping_interval=None, reconnect=False)
            await frozen.connect(relay.address, "L", {"nickname": "Frozen"})
            relay.freeze()  # its socket stays open, but no pong comes back
            statuses = []
            while ("OFFLINE", frozen.phone_number) not in statuses:  # pinged on the same ticks as Live
                frame = json.loads(await live.recv())
                if frame["type"] == "presence":
                    statuses += [(client["status"], client["phoneNumber"]) for client in frame["clients"]]
            assert statuses == [("ONLINE", frozen.phone_number), ("OFFLINE", frozen.phone_number)]
            await live.send(json.dumps({"type": "send", "text": "still here", "id": "c-1"}))
            assert [json.loads(await live.recv())["type"] for _ in range(2)] == ["message", "ack"]
            assert live.close_code is None
            relay.cut()
            await live.close()
            await frozen.disconnect()


async def test_a_hub_too_busy_to_ping_or_read_on_time_cuts_no_client_that_answers():
    # Each stall is longer than the timeout and lands somewhere between a ping, its pong and the check.
    async with Hub("127.0.0.1", 0, ping_interval=0.2, ping_timeout=0.2, grace=0.1, close_timeout=60) as hub:
        async with Relay(hub.port) as relay:
            live = await connect(hub.url, ping_interval=None)  # websockets answers every ping by itself
            await live.send(json.dumps({"type": "hello", "line": "L", "properties": {"nickname": "Live"}}))
            while json.loads(await live.recv())["type"] != "synced":
                pass
            frozen = OzWebClient(ping_interval=None, reconnect=False)
            await frozen.connect(relay.address, "L", {"nickname": "Frozen"})
            for stall in range(12):
                time.sleep(0.5)  # noqa: ASYNC251 -- the point: the whole loop stops, hub, timers and clients
                await asyncio.sleep(0.05 * stall)
            relay.freeze()  # the sentinel: its cut shows a check ran after the last stall
            statuses = []
            while ("OFFLINE", frozen.phone_number) not in statuses:
                frame = json.loads(await live.recv())
                if frame["type"] == "presence":
                    statuses += [(client["status"], client["phoneNumber"]) for client in frame["clients"]]
            assert statuses == [("ONLINE", frozen.phone_number), ("OFFLINE", frozen.phone_number)]
            await live.send(json.dumps({"type": "send", "text": "still here", "id": "c-1"}))
            assert [json.loads(await live.recv())["type"] for _ in range(2)] == ["message", "ack"]
            relay.cut()
            await live.close()
            await frozen.disconnect()
