"""Presence over a real hub: the classic OzWebClient scenario and its edges."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, OzWebClient, Synced
from ozchat.hub import Hub


async def test_classic_scenario_online_then_offline_with_properties(connect):
    a, a_events = await connect(nickname="Observer")
    b, _ = await connect(nickname="John", avatar="http://myavatar.com/1.jpg")

    online = await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.ONLINE)
    assert online.phone_number == b.phone_number
    assert online.nickname == "John"
    assert online.avatar == "http://myavatar.com/1.jpg"
    assert f"{online.nickname} is {online.status.value}" == "John is ONLINE"

    await b.disconnect()
    offline = await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
    assert offline.phone_number == online.phone_number
    assert offline.properties == {"nickname": "John", "avatar": "http://myavatar.com/1.jpg"}
    assert a.roster.get(b.phone_number) is None


async def test_connection_states_granted_then_closed(connect):
    client, events = await connect(nickname="John")
    await client.disconnect()
    states = [e.state for e in events.of_type(ConnectionStateChanged)]
    assert states == [ConnectionState.ACCESS_GRANTED, ConnectionState.CONNECTION_CLOSED]


async def test_phone_number_is_five_letters_or_digits(connect):
    client, _ = await connect(nickname="John")
    assert client.phone_number is not None
    assert len(client.phone_number) == 5 and client.phone_number.isalnum() and client.phone_number.isascii()


async def test_late_joiner_sees_everyone_already_present(connect):
    present = [await connect(nickname=f"user{i}") for i in range(5)]
    late, late_events = await connect(nickname="Late")
    expected = {client.phone_number for client, _ in present}
    await late_events.wait_for(lambda e: {i.phone_number for i in late_events.of_type(ClientInfo)} >= expected)
    assert {info.phone_number for info in late.roster} == expected
    assert sorted(info.nickname for info in late.roster) == [f"user{i}" for i in range(5)]
    # granted comes before the roster, so a callback-built roster is complete
    assert isinstance(late_events.events[0], ConnectionStateChanged)


async def test_lines_are_isolated(connect):
    x, x_events = await connect("LineX", nickname="OnX")
    y, y_events = await connect("LineY", nickname="OnY")
    await y.send_message("only for Y")
    await connect("LineY", nickname="AlsoY")
    await y_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "AlsoY")
    # A sentinel on X: anything the hub had leaked from Y would have reached X before it.
    await x.send_message("sentinel")
    await x_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
    leaked = [e for e in x_events.events if not isinstance(e, (ConnectionStateChanged, Synced))]
    assert [(type(e), getattr(e, "text", None)) for e in leaked] == [(ChatMessage, "sentinel")]


async def test_property_update_reaches_others(connect):
    a, a_events = await connect(nickname="Observer")
    b, _ = await connect(nickname="John")
    me = await b.update_properties({"nickname": "Johnny", "away": "lunch"})
    assert me.nickname == "Johnny"
    update = await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.get("nickname") == "Johnny")
    assert update.status is ClientStatus.ONLINE
    assert update.away == "lunch"
    assert a.roster.get(b.phone_number).nickname == "Johnny"
    await b.update_properties({"away": None})
    back = await a_events.wait_for(
        lambda e: isinstance(e, ClientInfo) and e.get("nickname") == "Johnny" and "away" not in e.properties
    )
    assert back.properties == {"nickname": "Johnny"}


async def test_properties_read_case_insensitively(connect):
    _, a_events = await connect(nickname="Observer")
    await connect(Nickname="John", Avatar="http://x/1.png")
    info = await a_events.wait_for(lambda e: isinstance(e, ClientInfo))
    assert info.nickname == "John" and info["AVATAR"] == "http://x/1.png"
    assert info.properties == {"Nickname": "John", "Avatar": "http://x/1.png"}


async def test_dropped_socket_goes_offline(hub, connect, relay):
    _, a_events = await connect(nickname="Observer")
    b = OzWebClient(ping_interval=None, reconnect=False)
    await b.connect(relay.address, "Webphone1", {"nickname": "Dropper"})
    relay.cut()  # no close frame: the TCP connection just ends
    offline = await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
    assert offline.nickname == "Dropper"
    await b.disconnect()


async def test_silent_client_goes_offline_within_ping_interval_timeout_and_grace():
    """A client that stops answering (frozen, cable pulled) is OFFLINE after interval + timeout + grace.

    The hub waits 60 s for close handshakes here: a silent peer must not be kept for that long.
    """
    from relay import Relay

    async with Hub("127.0.0.1", 0, ping_interval=0.2, ping_timeout=0.2, grace=0.2, close_timeout=60) as hub:
        async with Relay(hub.port) as relay:
            observer = OzWebClient(ping_interval=None)
            offline = asyncio.Event()
            observer.on_client_state_changed(
                lambda info: offline.set() if info.status is ClientStatus.OFFLINE else None
            )
            await observer.connect(hub.url, "Webphone1", {"nickname": "Observer"})
            frozen = OzWebClient(ping_interval=None, reconnect=False)
            await frozen.connect(relay.address, "Webphone1", {"nickname": "Frozen"})
            await asyncio.wait_for(_until(lambda: frozen.phone_number in observer.roster), 5)
            relay.freeze()  # the socket stays open but nothing gets through: no pong ever comes back
            await asyncio.wait_for(offline.wait(), 10)
            assert frozen.phone_number not in observer.roster
            relay.cut()  # let the frozen client see its end, rather than wait for a close handshake
            await observer.disconnect()
            await frozen.disconnect()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_phone_numbers_unique_across_1000_connects(hub):
    """1,000 connects, 100 at a time, on one line: no number is handed out twice."""
    seen: set[str] = set()
    for _ in range(10):
        clients = [OzWebClient(ping_interval=None) for _ in range(100)]
        await asyncio.gather(*(c.connect(hub.url, "Crowd", {}) for c in clients))
        numbers = {c.phone_number for c in clients}
        assert len(numbers) == 100
        assert not numbers & seen
        seen |= numbers
        await asyncio.gather(*(c.disconnect() for c in clients))
    assert len(seen) == 1000


@pytest.mark.parametrize("code", [None, 1000, 1001, 1011, 3000, 4000], ids=lambda c: f"close-{c or 'no-code'}")
async def test_any_close_frame_means_the_client_left_at_once(code):
    """Browsers, Node ws and websocat close without a status code: that is a goodbye, not a drop."""
    async with Hub("127.0.0.1", 0, ping_interval=None, grace=600) as hub:
        observer = OzWebClient(ping_interval=None)
        offline = asyncio.Event()
        observer.on_client_state_changed(lambda info: offline.set() if info.status is ClientStatus.OFFLINE else None)
        await observer.connect(hub.url, "Webphone1", {"nickname": "Observer"})
        async with ws_connect(hub.url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": "Leaver"}}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            # code None sends a close frame with no status code (the receiver reads it as 1005)
            await ws.close(code)  # type: ignore[arg-type]
        # a drop would keep the number for the 600 s grace period
        await asyncio.wait_for(offline.wait(), 10)
        assert len(observer.roster) == 0
        await observer.disconnect()
