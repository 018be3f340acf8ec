"""Hubs that share a real Redis server share their lines' presence: real hub processes, real clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from websockets.asyncio.client import connect as ws_connect

from ozchat import AccessDenied, ClientInfo, ClientStatus

from conftest import Recorder
from redis_server import hub_url


def presence_of(events: Recorder, phone_number: str | None, status: ClientStatus) -> list[ClientInfo]:
    return [e for e in events.of_type(ClientInfo) if e.phone_number == phone_number and e.status is status]


async def test_clients_on_two_hubs_see_each_other_and_a_third_hub_gets_the_full_roster(start_hub, join):
    hub_a, hub_b = start_hub(), start_hub()
    url_a, url_b = hub_url(hub_a), hub_url(hub_b)
    ann, ann_events = await join(url_a, nickname="Ann")
    bob, bob_events = await join(url_b, nickname="Bob")

    # Each hears of the other: from the roster in Redis, or from the line's stream.
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann")
    await ann_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
    await ann.update_properties({"avatar": "robot:1"})
    changed = await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.get("avatar") == "robot:1")
    assert changed.phone_number == ann.phone_number

    url_c = hub_url(start_hub())
    cid, cid_events = await join(url_c, nickname="Cid")
    await cid_events.wait_for(lambda e: sorted(info.nickname for info in cid.roster) == ["Ann", "Bob"])
    assert cid.roster.get(ann.phone_number).get("avatar") == "robot:1"
    assert len({ann.phone_number, bob.phone_number, cid.phone_number}) == 3

    await bob.disconnect()
    for events in (ann_events, cid_events):
        offline = await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
        assert offline.phone_number == bob.phone_number and offline.nickname == "Bob"


async def test_a_nickname_taken_on_another_hub_is_refused(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    _, watcher_events = await join(url_b, nickname="Watcher")
    await join(url_a, nickname="Ann")
    await watcher_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann")
    with pytest.raises(AccessDenied, match="nickname_in_use"):
        await join(url_b, nickname="ann")


async def test_a_hub_killed_without_a_goodbye_has_its_clients_announced_offline_once(start_hub, join):
    hub_a = start_hub("--heartbeat-ttl", "1")
    hub_b, hub_c = start_hub("--heartbeat-ttl", "1"), start_hub("--heartbeat-ttl", "1")
    url_a, url_b, url_c = hub_url(hub_a), hub_url(hub_b), hub_url(hub_c)
    ann, _ = await join(url_a, nickname="Ann")
    bob, bob_events = await join(url_b, nickname="Bob")
    await join(url_c, nickname="Cid")
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Cid")

    hub_a.kill()  # SIGKILL: no goodbye, the heartbeat key expires after its TTL
    offline = await bob_events.wait_for(
        lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE, timeout=30
    )
    assert offline.phone_number == ann.phone_number and offline.nickname == "Ann"
    assert bob.roster.get(ann.phone_number) is None

    # A newcomer after the reaping comes later in the line's stream than any OFFLINE published before it.
    dan, _ = await join(url_c, nickname="Dan")
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == dan.phone_number)
    assert len(presence_of(bob_events, ann.phone_number, ClientStatus.OFFLINE)) == 1
    assert sorted(info.nickname for info in dan.roster) == ["Bob", "Cid"]


def test_a_hub_without_redis_never_loads_the_redis_client():
    code = "import sys, ozchat.hub.server, ozchat.cli.serve; print('redis' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert shown.stdout.split() == ["False"]


async def test_a_hub_stopped_with_a_goodbye_has_its_clients_announced_offline(start_hub, join):
    hub_a = start_hub("--heartbeat-ttl", "2")
    url_a, url_b = hub_url(hub_a), hub_url(start_hub("--heartbeat-ttl", "2"))
    ann, _ = await join(url_a, nickname="Ann")
    _, bob_events = await join(url_b, nickname="Bob")
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann")
    assert await asyncio.to_thread(hub_a.interrupt) == 0
    offline = await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
    assert offline.phone_number == ann.phone_number


async def test_a_join_storm_on_a_new_line_is_welcomed_whole(start_hub):
    """More hellos at once than Redis connections a hub keeps: the line is read once, and everyone gets in."""
    url = hub_url(start_hub())

    async def hello(index: int) -> str:
        async with ws_connect(url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "Storm", "properties": {"nickname": f"n{index}"}}))
            return json.loads(await asyncio.wait_for(ws.recv(), 30))["type"]

    assert await asyncio.gather(*(hello(index) for index in range(150))) == ["welcome"] * 150
