"""The hub's keepalive (one timer for every connection): a silent client is cut, the ones that answer stay."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection

from ozchat import OzWebClient
from ozchat.hub import Hub

from relay import Relay


async def joined_raw(hub: Hub, nickname: str) -> ClientConnection:
    """A raw client on line L, synced; websockets answers every ping by itself."""
    ws = await connect(hub.url, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", "line": "L", "properties": {"nickname": nickname}}))
    while json.loads(await ws.recv())["type"] != "synced":
        pass
    return ws


async def statuses_until_offline(watcher: ClientConnection, number: str) -> list[tuple[str, str]]:
    """Every presence change the watcher reads, up to `number` going OFFLINE."""
    statuses: list[tuple[str, str]] = []
    while ("OFFLINE", number) not in statuses:
        frame = json.loads(await watcher.recv())
        if frame["type"] == "presence":
            statuses += [(client["status"], client["phoneNumber"]) for client in frame["clients"]]
    return statuses


async def still_served(live: ClientConnection) -> None:
    await live.send(json.dumps({"type": "send", "text": "still here", "id": "c-1"}))
    assert [json.loads(await live.recv())["type"] for _ in range(2)] == ["message", "ack"]
    assert live.close_code is None


@pytest.mark.parametrize(("interval", "timeout"), [(0.2, 0.2), (0.1, 0.3), (0.3, 0.1)])
async def test_a_silent_client_is_cut_and_one_answering_every_ping_beside_it_stays(interval: float, timeout: float):
    async with Hub("127.0.0.1", 0, ping_interval=interval, ping_timeout=timeout, grace=0.1, close_timeout=60) as hub:
        async with Relay(hub.port) as relay:
            live = await joined_raw(hub, "Live")
            frozen = OzWebClient(ping_interval=None, reconnect=False)
            await frozen.connect(relay.address, "L", {"nickname": "Frozen"})
            relay.freeze()  # its socket stays open, but no pong comes back
            # Pinged on the same ticks as Live.
            statuses = await statuses_until_offline(live, frozen.phone_number)
            assert statuses == [("ONLINE", frozen.phone_number), ("OFFLINE", frozen.phone_number)]
            await still_served(live)
            relay.cut()
            await live.close()
            await frozen.disconnect()


async def test_a_hub_too_busy_to_ping_or_read_on_time_cuts_no_client_that_answers():
    # Each stall is longer than the timeout and lands somewhere between a ping, its pong and the check.
    async with Hub("127.0.0.1", 0, ping_interval=0.2, ping_timeout=0.2, grace=0.1, close_timeout=60) as hub:
        async with Relay(hub.port) as relay:
            live = await joined_raw(hub, "Live")
            frozen = OzWebClient(ping_interval=None, reconnect=False)
            await frozen.connect(relay.address, "L", {"nickname": "Frozen"})
            for stall in range(12):
                time.sleep(0.5)  # noqa: ASYNC251 -- the point: the whole loop stops, hub, timers and clients
                await asyncio.sleep(0.05 * stall)
            relay.freeze()  # the sentinel: its cut shows a check ran after the last stall
            statuses = await statuses_until_offline(live, frozen.phone_number)
            assert statuses == [("ONLINE", frozen.phone_number), ("OFFLINE", frozen.phone_number)]
            await still_served(live)
            relay.cut()
            await live.close()
            await frozen.disconnect()


async def test_a_client_whose_ping_cannot_even_be_written_is_cut(monkeypatch: pytest.MonkeyPatch):
    stuck_ports: set[int] = set()
    ping = ServerConnection.ping

    async def ping_behind_a_full_write_buffer(self: ServerConnection, data: bytes | None = None) -> object:
        if self.remote_address[1] in stuck_ports:
            await asyncio.Event().wait()  # as websockets waits for a write buffer that never drains
        return await ping(self, data)

    monkeypatch.setattr(ServerConnection, "ping", ping_behind_a_full_write_buffer)
    async with Hub("127.0.0.1", 0, ping_interval=0.2, ping_timeout=0.2, grace=0.1, close_timeout=60) as hub:
        live = await joined_raw(hub, "Live")
        stuck = await connect(hub.url, ping_interval=None)
        stuck_ports.add(stuck.local_address[1])
        await stuck.send(json.dumps({"type": "hello", "line": "L", "properties": {"nickname": "Stuck"}}))
        number = json.loads(await stuck.recv())["phoneNumber"]
        statuses = await asyncio.wait_for(statuses_until_offline(live, number), 30)
        assert statuses == [("ONLINE", number), ("OFFLINE", number)]
        await live.close()
        await stuck.close()
