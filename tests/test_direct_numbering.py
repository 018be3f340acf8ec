"""Direct messages are numbered per party, apart from the line: a hole in anyone's numbers is a real gap."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, OzWebClient
from ozchat.hub import Hub
from ozchat.hub.store import MemoryStore, SQLiteStore
from ozchat.protocol import Gap, Synced

from conftest import Recorder
from relay import Relay

FAST = {"backoff_base": 0.05, "backoff_cap": 0.3, "ping_interval": None}


def _messages(recorder: Recorder) -> list[ChatMessage]:
    return recorder.of_type(ChatMessage)


async def _granted(recorder: Recorder, times: int) -> None:
    """Wait for the `times`-th ACCESS_GRANTED and the `synced` after it."""

    def synced(_: object) -> bool:
        grants = [i for i, e in enumerate(recorder.events)
                  if isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.ACCESS_GRANTED]
        return len(grants) >= times and any(isinstance(e, Synced) for e in recorder.events[grants[times - 1]:])

    await recorder.wait_for(synced, timeout=20)


async def _via(relay: Relay, **properties: str) -> tuple[OzWebClient, Recorder]:
    client = OzWebClient(**FAST)
    recorder = Recorder(client)
    await client.connect(relay.address, "Webphone1", properties)
    return client, recorder


async def test_a_bystander_sees_no_hole_where_others_talked_privately(hub, connect):
    alice, _ = await connect(nickname="Alice")
    bob, b_events = await connect(nickname="Bob")
    carol, c_events = await connect(nickname="Carol")
    first = await alice.send_message("one")
    await alice.send_message("psst", to=bob.phone_number)
    second = await alice.send_message("two")
    await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "two")
    await c_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "two")
    assert [(m.seq, m.text) for m in _messages(c_events)] == [(1, "one"), (2, "two")]
    assert (first.seq, second.seq, carol.last_seq) == (1, 2, 2)
    # Bob sees the DM between the two, numbered after line message 1, and first among his own.
    assert [(m.seq, m.direct_seq, m.text) for m in _messages(b_events)] == [
        (1, None, "one"), (1, 1, "psst"), (2, None, "two")
    ]
    # A newcomer's welcome and history number the line alike: 2 messages, nothing in between.
    late = OzWebClient(ping_interval=None, reconnect=False)
    l_events = Recorder(late)
    await late.connect(hub.url, "Webphone1", {"nickname": "Late"})
    await l_events.wait_for(lambda e: isinstance(e, Synced))
    assert (late.last_seq, late.last_direct_seq) == (2, 0)
    assert [(m.seq, m.text, m.history) for m in _messages(l_events)] == [(1, "one", True), (2, "two", True)]
    await late.disconnect()


async def test_each_party_numbers_its_own_direct_messages_contiguously(connect):
    alice, a_events = await connect(nickname="Alice")
    bob, b_events = await connect(nickname="Bob")
    carol, c_events = await connect(nickname="Carol")
    sent = [
        await alice.send_message("a1", to=bob.phone_number),
        await alice.send_message("a2", to=bob.phone_number),
        await bob.send_message("b1", to=alice.phone_number),
        await alice.send_message("a3", to=carol.phone_number),
        await carol.send_message("c1", to=bob.phone_number),
    ]
    assert [m.direct_seq for m in sent] == [1, 2, 3, 4, 2]  # each ack: the sender's own number
    await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "c1")
    await a_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "a3")
    await c_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "c1")
    assert [(m.text, m.direct_seq) for m in _messages(a_events)] == [("a1", 1), ("a2", 2), ("b1", 3), ("a3", 4)]
    assert [(m.text, m.direct_seq) for m in _messages(b_events)] == [("a1", 1), ("a2", 2), ("b1", 3), ("c1", 4)]
    assert [(m.text, m.direct_seq) for m in _messages(c_events)] == [("a3", 1), ("c1", 2)]
    assert [m.seq for m in _messages(a_events)] == [0, 0, 0, 0]  # no line message yet: all follow line number 0
    assert (alice.last_direct_seq, bob.last_direct_seq, carol.last_direct_seq, alice.last_seq) == (4, 4, 2, 0)


async def test_a_client_cut_off_gets_missed_line_and_direct_messages_once_in_order(connect, relay):
    alice, _ = await connect(nickname="Alice")
    bob, b_events = await _via(relay, nickname="Bob")
    await alice.send_message("before", to=bob.phone_number)
    await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "before")
    relay.hold()
    relay.cut()  # no close frame: Bob keeps his number for the grace period
    await b_events.wait_for(lambda e: isinstance(e, ConnectionStateChanged) and e.retrying)
    for text, to in (("l1", None), ("d1", bob.phone_number), ("l2", None), ("d2", bob.phone_number)):
        await alice.send_message(text, to=to)
    relay.release()
    await _granted(b_events, 2)
    await alice.send_message("live")
    await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "live")
    got = [(m.text, m.seq, m.direct_seq, m.history) for m in _messages(b_events)]
    assert got == [
        ("before", 0, 1, False), ("l1", 1, None, False), ("d1", 1, 2, False), ("l2", 2, None, False),
        ("d2", 2, 3, False), ("live", 3, None, False),
    ]
    assert not b_events.of_type(Gap)
    assert (bob.last_seq, bob.last_direct_seq) == (3, 3)
    await bob.disconnect()


async def test_a_stranger_asking_for_everything_gets_no_one_elses_direct_messages(connect, relay):
    alice, _ = await connect(nickname="Alice")
    bob, b_events = await _via(relay, nickname="Bob")
    await alice.send_message("line")
    await alice.send_message("direct", to=bob.phone_number)
    await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "direct")
    frames = []
    async with ws_connect(relay.url, ping_interval=None) as raw:
        await raw.send(json.dumps({"type": "hello", "line": "Webphone1", "lastSeq": 0, "lastDirectSeq": 0}))
        while not frames or frames[-1]["type"] != "synced":
            frames.append(json.loads(await asyncio.wait_for(raw.recv(), 5)))
    # Someone else asking from 0 gets the line messages only: Bob's direct message is his alone.
    assert [f["text"] for f in frames if f["type"] == "message"] == ["line"]
    relay.cut()
    await _granted(b_events, 2)
    await alice.send_message("after")
    await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "after")
    assert [m.text for m in _messages(b_events)] == ["line", "direct", "after"]
    await bob.disconnect()


async def test_direct_messages_no_longer_kept_are_reported_as_a_direct_gap():
    store = MemoryStore(keep_messages=3)
    async with Hub("127.0.0.1", 0, store=store, ping_interval=None) as hub, Relay(hub.port) as relay:
        alice = OzWebClient(ping_interval=None)
        await alice.connect(hub.url, "Webphone1", {"nickname": "Alice"})
        bob, b_events = await _via(relay, nickname="Bob")
        await alice.send_message("seen", to=bob.phone_number)
        await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "seen")
        relay.hold()
        relay.cut()
        for i in range(2, 7):
            await alice.send_message(f"d{i}", to=bob.phone_number)  # Bob's numbers 2 to 6
        relay.release()
        gap = await b_events.wait_for(lambda e: isinstance(e, Gap), timeout=10)
        await _granted(b_events, 2)
        assert (gap.after_seq, gap.before_seq, gap.direct) == (1, 4, True)  # only the newest 3 are kept
        assert len(b_events.of_type(Gap)) == 1  # the line numbering lost nothing
        assert [(m.text, m.direct_seq) for m in _messages(b_events)] == [("seen", 1), ("d4", 4), ("d5", 5), ("d6", 6)]
        await alice.disconnect()
        await bob.disconnect()


async def test_direct_messages_to_a_number_given_up_are_a_direct_gap_under_the_new_one():
    async with Hub("127.0.0.1", 0, grace=0.3, ping_interval=None) as hub, Relay(hub.port) as relay:
        alice = OzWebClient(ping_interval=None)
        a_events = Recorder(alice)
        await alice.connect(hub.url, "Webphone1", {"nickname": "Alice"})
        bob, b_events = await _via(relay, nickname="Bob")
        old_number = bob.phone_number
        await alice.send_message("seen", to=old_number)
        await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "seen")
        relay.hold()
        relay.cut()
        await alice.send_message("to the old number", to=old_number)
        await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
        relay.release()
        await _granted(b_events, 2)
        assert bob.phone_number != old_number
        assert [(g.after_seq, g.before_seq, g.direct) for g in b_events.of_type(Gap)] == [(1, 3, True)]
        assert [m.text for m in _messages(b_events)] == ["seen"]
        # Under its new number, the same client (the same secret) counts on.
        assert (await alice.send_message("to the new one", to=bob.phone_number)).direct_seq == 3
        new = await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "to the new one")
        assert new.direct_seq == 3
        await alice.disconnect()
        await bob.disconnect()


async def test_after_a_hub_restart_on_its_store_direct_numbers_go_on_and_gaps_are_reported(tmp_path, unused_tcp_port):
    path = tmp_path / "history.sqlite3"
    alice = OzWebClient(**FAST)
    a_events = Recorder(alice)
    async with Relay(unused_tcp_port) as relay:
        async with Hub("127.0.0.1", unused_tcp_port, store=SQLiteStore(path), ping_interval=None, grace=60) as first:
            await alice.connect(first.url, "Webphone1", {"nickname": "Alice"})
            bob, b_events = await _via(relay, nickname="Bob")
            await alice.send_message("line before")
            await alice.send_message("direct before", to=bob.phone_number)
            await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "direct before")
            relay.hold()  # Bob stays away until the second hub has more for him
        await b_events.wait_for(lambda e: isinstance(e, ConnectionStateChanged) and e.retrying)
        store = SQLiteStore(path, keep_messages=3)
        second = Hub("127.0.0.1", unused_tcp_port, store=store, ping_interval=None, grace=60)
        async with second:
            await _granted(a_events, 2)
            # Bob's number was kept for him across the restart: Alice can write to him.
            # Bob's numbers 2 to 101; the store prunes to the newest 3 at its 100th message.
            for i in range(2, 102):
                await alice.send_message(f"direct {i}", to=bob.phone_number)
            relay.release()
            await _granted(b_events, 2)
            assert (await alice.send_message("direct live", to=bob.phone_number)).direct_seq == 102
            await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "direct live")
            assert [(g.after_seq, g.before_seq, g.direct) for g in b_events.of_type(Gap)] == [(1, 99, True)]
            assert [(m.text, m.direct_seq) for m in _messages(b_events)] == [
                ("line before", None), ("direct before", 1), ("direct 99", 99), ("direct 100", 100),
                ("direct 101", 101), ("direct live", 102),
            ]
            await alice.disconnect()
            await bob.disconnect()


async def test_a_resume_claiming_direct_numbers_beyond_any_given_is_answered_not_crashed(tmp_path):
    async with Hub("127.0.0.1", 0, store=SQLiteStore(tmp_path / "h.sqlite3"), ping_interval=None) as hub:
        alice = OzWebClient(ping_interval=None)
        await alice.connect(hub.url, "Webphone1", {"nickname": "Alice"})
        await alice.send_message("one")
        async with ws_connect(hub.url, ping_interval=None) as raw:
            await raw.send(json.dumps({"type": "hello", "line": "Webphone1", "lastSeq": 0, "lastDirectSeq": 2**63 + 5}))
            frames = []
            while not frames or frames[-1]["type"] != "synced":
                frames.append(json.loads(await asyncio.wait_for(raw.recv(), 5)))
        assert [f["text"] for f in frames if f["type"] == "message"] == ["one"]
        assert not [f for f in frames if f["type"] in ("gap", "error")]
        await alice.disconnect()


async def test_a_member_an_older_hub_kept_without_an_identity_is_not_taken_back(tmp_path):
    """Its direct messages could not be numbered: it comes back under a new number, as after the grace period."""
    path = tmp_path / "h.sqlite3"
    older = SQLiteStore(path)
    older.keep_member("Webphone1", "AAAAA", "hash-of-a-token", {"nickname": "Old"})
    older.close()
    async with Hub("127.0.0.1", 0, store=SQLiteStore(path), ping_interval=None, grace=60) as hub:
        client = OzWebClient(ping_interval=None, reconnect=False)
        events = Recorder(client)
        await client.connect(hub.url, "Webphone1", {"nickname": "Old"})  # the nickname is free
        await events.wait_for(lambda e: isinstance(e, Synced))
        assert not events.of_type(ClientInfo) and len(client.roster) == 0
        assert [m.phone_number for m in hub.store.members()] == [client.phone_number]
        await client.disconnect()
