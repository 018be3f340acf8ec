"""Redis restarted or gone while hubs share lines through it: clients stay, nothing acknowledged is lost or doubled."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis

from ozchat import ChatMessage, ClientInfo, ConnectionStateChanged, Gap, OzWebClient, RequestRejected

from redis_server import hub_url


async def send_until_stored(client: OzWebClient, text: str) -> ChatMessage:
    """Send as a user would: a `store_failed` (Redis away) is answered by sending again."""
    while True:
        try:
            return await client.send_message(text)
        except RequestRejected as exc:
            assert exc.code == "store_failed"


def said(events) -> list[tuple[int, str]]:
    return [(m.seq, m.text) for m in events.of_type(ChatMessage)]


async def test_redis_restarted_mid_conversation_loses_and_doubles_no_acknowledged_message(
    start_hub, join, redis_server
):
    hub_a, hub_b = start_hub("--heartbeat-ttl", "1"), start_hub("--heartbeat-ttl", "1")
    url_a, url_b = hub_url(hub_a), hub_url(hub_b)
    ann, ann_events = await join(url_a, nickname="Ann")
    bob, bob_events = await join(url_b, nickname="Bob")
    await ann_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
    acked = [await ann.send_message("one"), await bob.send_message("two")]
    for events in (ann_events, bob_events):
        await events.wait_for(lambda e, ev=events: len(said(ev)) == 2)

    await asyncio.to_thread(redis_server.restart)  # same port, every key lost
    acked += [await send_until_stored(bob, "three"), await send_until_stored(ann, "four")]

    expected = [(m.seq, m.text) for m in acked]
    assert [seq for seq, _ in expected] == [1, 2, 3, 4]  # the numbering goes on from what the hubs had seen
    for events in (ann_events, bob_events):
        await events.wait_for(lambda e, ev=events: len(said(ev)) >= 4)
        assert said(events) == expected
    assert ann.epoch == bob.epoch
    # Nobody was dropped: each client's connection was granted once.
    for events in (ann_events, bob_events):
        assert len(events.of_type(ConnectionStateChanged)) == 1
    # The hubs shared their members again: a newcomer on a third hub finds both.
    cid, cid_events = await join(hub_url(start_hub()), nickname="Cid")
    await cid_events.wait_for(lambda e: sorted(info.nickname for info in cid.roster) == ["Ann", "Bob"])
    # Each hub said so, once.
    for hub in (hub_a, hub_b):
        hub.wait_for("Redis had lost this hub's state")
        assert sum("Redis had lost" in line for line in hub.lines) == 1


async def test_a_send_while_redis_is_unreachable_gets_store_failed_and_a_resend_afterwards_shows_once(
    start_hub, join, redis_server
):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    ann, _ = await join(url_a, nickname="Ann")
    _, bob_events = await join(url_b, nickname="Bob")
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann")

    await asyncio.to_thread(redis_server.stop)
    with pytest.raises(RequestRejected) as refused:
        await ann.send_message("into the void")
    assert refused.value.code == "store_failed"
    assert ann.connected

    await asyncio.to_thread(redis_server.start)
    stored = await send_until_stored(ann, "into the void")
    await bob_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "into the void")
    assert [m.text for m in bob_events.of_type(ChatMessage)] == ["into the void"]
    assert stored.seq == 1


async def test_line_numbers_a_hub_never_read_reach_its_clients_as_a_live_gap(start_hub, join, redis_server):
    url_a = hub_url(start_hub())
    ann, ann_events = await join(url_a, nickname="Ann")
    await ann.send_message("one")
    # As if Redis had given numbers 2 to 9 to messages it then lost (a restart between append and read).
    async with redis.Redis.from_url(redis_server.url) as direct:
        await direct.set("ozchat:line:Webphone1:seq", 9)
    ten = await ann.send_message("ten")
    assert ten.seq == 10
    gap = await ann_events.wait_for(lambda e: isinstance(e, Gap))
    assert (gap.after_seq, gap.before_seq, gap.direct) == (1, 10, False)
    assert ann_events.events.index(gap) < ann_events.events.index(
        next(m for m in ann_events.of_type(ChatMessage) if m.text == "ten")
    )
