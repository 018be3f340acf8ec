"""Hubs that share a real Redis server share their lines' messages, numbering and history: real processes."""

from __future__ import annotations

import asyncio
import json
import re

from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, Synced, TypingNotice

from redis_server import hub_url
from relay import Relay


def texts(events, *, direct: bool = False) -> list[str]:
    return [m.text for m in events.of_type(ChatMessage) if m.is_direct == direct]


async def test_line_and_direct_messages_cross_hubs_in_one_order_and_a_later_hub_replays_them(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    ann, ann_events = await join(url_a, nickname="Ann")
    bob, bob_events = await join(url_b, nickname="Bob")
    await ann_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann")

    sent = [await ann.send_message("one"), await bob.send_message("two"), await ann.send_message("three")]
    assert [m.seq for m in sent] == [1, 2, 3]
    for events in (ann_events, bob_events):
        await events.wait_for(lambda e, ev=events: texts(ev) == ["one", "two", "three"])
        assert [m.seq for m in events.of_type(ChatMessage)] == [1, 2, 3]
    assert ann.epoch == bob.epoch

    whisper = await bob.send_message("psst", to=ann.phone_number)
    received = await ann_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.is_direct)
    assert (received.text, received.sender, received.direct_seq) == ("psst", bob.phone_number, 1)
    assert whisper.direct_seq == 1 and whisper.seq == 3
    await bob_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.is_direct)  # the sender's own copy

    url_c = hub_url(start_hub())
    cid, cid_events = await join(url_c, nickname="Cid")
    await cid_events.wait_for(lambda e: texts(cid_events) == ["one", "two", "three"])
    assert all(m.history for m in cid_events.of_type(ChatMessage))
    assert cid.epoch == ann.epoch and cid.last_seq == 3
    await cid.send_message("four")
    for events in (ann_events, bob_events):
        await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "four" and e.seq == 4)
    assert texts(ann_events, direct=True) == ["psst"]  # nobody else saw it
    assert texts(cid_events, direct=True) == []


async def test_a_client_resumes_on_another_hub_keeping_its_number_with_nothing_missed(start_hub, join):
    hub_a = start_hub()
    url_a, url_b = hub_url(hub_a), hub_url(start_hub())
    port_a, port_b = (int(re.search(r":(\d+)/", url)[1]) for url in (url_a, url_b))
    async with Relay(port_a) as relay:
        bob, bob_events = await join(url_b, nickname="Bob")
        ann, ann_events = await join(relay.url, nickname="Ann")
        number = ann.phone_number
        await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == number)
        await bob.send_message("before")
        await ann_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "before")

        relay.hold()
        relay.cut()  # hub A sees Ann's connection die (no close frame) and keeps her number for the grace period
        await ann_events.wait_for(lambda e: isinstance(e, ConnectionStateChanged) and e.retrying)
        missed = [await bob.send_message(f"while away {i}") for i in range(3)]
        relay.target_port = port_b  # the load balancer sends her to hub B now
        relay.release()

        await ann_events.wait_for(lambda e: texts(ann_events) == ["before", "while away 0", "while away 1",
                                                                  "while away 2"])
        assert ann.phone_number == number
        granted = [e for e in ann_events.of_type(ConnectionStateChanged) if e.state is ConnectionState.ACCESS_GRANTED]
        assert len(granted) == 2
        assert [m.seq for m in ann_events.of_type(ChatMessage)] == [1, *(m.seq for m in missed)]
        await ann.send_message("back")
        await bob_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "back")
        assert [e for e in bob_events.of_type(ClientInfo) if e.status is ClientStatus.OFFLINE] == []
        assert bob.roster.get(number) is not None


async def test_typing_crosses_hubs_to_the_line_or_only_the_direct_partner(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    ann, _ = await join(url_a, nickname="Ann")
    bob, bob_events = await join(url_b, nickname="Bob")
    _, cid_events = await join(url_b, nickname="Cid")
    for events in (bob_events, cid_events):
        await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann")

    assert await ann.send_typing()
    for events in (bob_events, cid_events):
        notice = await events.wait_for(lambda e: isinstance(e, TypingNotice))
        assert (notice.sender, notice.to, notice.stopped) == (ann.phone_number, None, False)

    assert await ann.send_typing(bob.phone_number)
    private = await bob_events.wait_for(lambda e: isinstance(e, TypingNotice) and e.to is not None)
    assert (private.sender, private.to) == (ann.phone_number, bob.phone_number)
    # Cid hears of the line only: typing crosses in order, so the line's `stopped` comes after the direct typing.
    assert await ann.send_typing(stopped=True)
    await cid_events.wait_for(lambda e: isinstance(e, TypingNotice) and e.stopped)
    assert [(n.to, n.stopped) for n in cid_events.of_type(TypingNotice)] == [(None, False), (None, True)]


async def test_a_resend_on_another_hub_with_the_same_secret_and_id_is_acknowledged_only(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    _, watcher = await join(url_b, nickname="Watcher")
    secret = "s" * 32
    hello = json.dumps({"type": "hello", "line": "Webphone1", "clientSecret": secret})
    send = json.dumps({"type": "send", "text": "once", "id": "c-1"})
    acks = []
    for url in (url_a, url_b):  # the acknowledgement was lost; the client came back through the other hub
        async with ws_connect(url, ping_interval=None) as ws:
            await ws.send(hello)
            await ws.send(send)
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "ack":
                pass
            acks.append((frame["id"], frame["seq"], frame["ts"]))
    assert acks[0] == acks[1] and acks[0][1] == 1
    await watcher.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "once")
    await join(url_a, nickname="Late")  # a sentinel: its ONLINE comes after anything the resend could have relayed
    await watcher.wait_for(lambda e: isinstance(e, ClientInfo) and e.get("nickname") == "Late")
    assert texts(watcher) == ["once"]


async def test_a_line_a_hub_stopped_and_started_mirroring_again_replays_each_message_once(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    ann, _ = await join(url_a, nickname="Ann")
    await ann.send_message("one")
    await ann.disconnect()  # hub A has nobody left on the line: it stops mirroring it
    bob, _ = await join(url_b, nickname="Bob")
    await bob.send_message("two")
    _, cid_events = await join(url_a, nickname="Cid")
    await cid_events.wait_for(lambda e: isinstance(e, Synced))
    assert texts(cid_events) == ["one", "two"]
