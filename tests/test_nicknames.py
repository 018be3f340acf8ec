"""Nicknames that only look alike are one nickname on a line; blank ones are refused.

Real hubs on 127.0.0.1, raw WebSocket clients for what goes over the wire, OzWebClient for the
free-variant option.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ozchat import AccessDenied, ClientStatus, ConnectionState, ConnectionStateChanged, OzWebClient
from ozchat.hub import Hub
from ozchat.names import is_blank, looks_alike

LOOK_ALIKES = {
    "same": "Alice",
    "lower case": "alice",
    "upper case": "ALICE",
    "Cyrillic A": "\u0410lice",
    "Hangul filler after": "Alice\u3164",
    "capital I for l": "AIice",
    "full width": "\uff21\uff4c\uff49\uff43\uff45",
}


@pytest.mark.parametrize("nickname", list(LOOK_ALIKES.values()), ids=list(LOOK_ALIKES))
def test_look_alikes_of_alice(nickname: str) -> None:
    assert looks_alike(nickname, "Alice")


def test_digits_that_look_like_letters() -> None:
    assert looks_alike("J0hn", "John") and looks_alike("Bi11", "Bill")


@pytest.mark.parametrize("nickname", ["Alicia", "Alice2", "Bob", "Al ice", "Zoë"])
def test_different_nicknames_are_told_apart(nickname: str) -> None:
    assert not looks_alike(nickname, "Alice")


@pytest.mark.parametrize("nickname", ["\u3164", "\u2800", "\uffa0", " \u3164 ", "\u115f\u1160", "\ue000"])
def test_blank_nicknames(nickname: str) -> None:
    assert is_blank(nickname)


@pytest.mark.parametrize("nickname", ["A", "\u674e", "\U0001f600", "\u05d0", "x\u3164"])
def test_visible_nicknames(nickname: str) -> None:
    assert not is_blank(nickname)


@pytest.fixture
async def patient_hub() -> AsyncIterator[Hub]:
    """A hub whose grace period outlasts any test, so a dropped client surely lingers."""
    async with Hub("127.0.0.1", 0, grace=60.0, ping_interval=None) as running:
        yield running


async def _join(hub: Hub, properties: dict[str, Any], **hello: Any) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await ws_connect(hub.url, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": properties, **hello}))
    return ws, json.loads(await ws.recv())


async def _refusal(hub: Hub, properties: dict[str, Any], **hello: Any) -> tuple[str, int | None]:
    """The error code a hello gets and the close code that follows it."""
    ws, answer = await _join(hub, properties, **hello)
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert answer["type"] == "error", answer
    return answer["code"], ws.close_code


async def _answer(ws: ClientConnection, request_id: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("id") == request_id and frame["type"] in ("ack", "error"):
            return frame


@pytest.mark.parametrize("nickname", list(LOOK_ALIKES.values()), ids=list(LOOK_ALIKES))
async def test_a_hello_with_a_look_alike_nickname_is_refused(patient_hub: Hub, nickname: str) -> None:
    alice, welcome = await _join(patient_hub, {"nickname": "Alice"})
    assert welcome["type"] == "welcome"
    assert await _refusal(patient_hub, {"Nickname": nickname}) == ("nickname_in_use", 4003)
    await alice.close()


@pytest.mark.parametrize("nickname", ["\u3164", "\u2800", "\u3164\u2800 "])
async def test_a_hello_with_a_blank_nickname_is_refused(patient_hub: Hub, nickname: str) -> None:
    assert await _refusal(patient_hub, {"nickname": nickname}) == ("bad_nickname", 4003)


async def test_an_update_to_a_look_alike_is_refused_and_ones_own_respelling_is_not(patient_hub: Hub) -> None:
    alice, _ = await _join(patient_hub, {"nickname": "Alice"})
    bob, _ = await _join(patient_hub, {"nickname": "Bob"})

    await bob.send(json.dumps({"type": "update", "properties": {"nickname": "\u0410LICE"}, "id": "u1"}))
    refused = await _answer(bob, "u1")
    assert (refused["code"], refused["id"]) == ("nickname_in_use", "u1") and "'Alice'" in refused["message"]
    await bob.send(json.dumps({"type": "update", "properties": {"nickname": "\u3164"}, "id": "u2"}))
    assert (await _answer(bob, "u2"))["code"] == "bad_nickname"
    await alice.send(json.dumps({"type": "update", "properties": {"nickname": "alice"}, "id": "u3"}))
    assert (await _answer(alice, "u3"))["type"] == "ack"
    # Bob's old nickname is free once he takes another.
    await bob.send(json.dumps({"type": "update", "properties": {"nickname": "Robert"}, "id": "u4"}))
    assert (await _answer(bob, "u4"))["type"] == "ack"
    bobby, welcome = await _join(patient_hub, {"nickname": "BOB"})
    assert welcome["type"] == "welcome"
    for ws in (alice, bob, bobby):
        await ws.close()


async def test_a_nickname_is_free_again_when_its_holder_leaves(patient_hub: Hub) -> None:
    alice, _ = await _join(patient_hub, {"nickname": "Alice"})
    await alice.close()
    again, welcome = await _join(patient_hub, {"nickname": "\u0410lice"})
    assert welcome["type"] == "welcome"
    await again.close()


async def test_a_client_in_its_grace_period_keeps_its_nickname(patient_hub: Hub) -> None:
    """Resuming with a nickname someone else holds is refused before anything changes."""
    alice, alice_welcome = await _join(patient_hub, {"nickname": "Alice"})
    bob, bob_welcome = await _join(patient_hub, {"nickname": "Bob"})
    alice.transport.abort()  # dropped, not closed: Alice lingers
    bob.transport.abort()
    assert await _refusal(patient_hub, {"nickname": "alice"}) == ("nickname_in_use", 4003)

    bob_claim = {"phoneNumber": bob_welcome["phoneNumber"], "token": bob_welcome["resumeToken"]}
    assert await _refusal(patient_hub, {"nickname": "Alice"}, resume=bob_claim) == ("nickname_in_use", 4003)
    bob_again, welcome = await _join(patient_hub, {"nickname": "Bob"}, resume=bob_claim)
    assert (welcome["type"], welcome["resumed"]) == ("welcome", True)
    assert welcome["phoneNumber"] == bob_welcome["phoneNumber"]
    alice_claim = {"phoneNumber": alice_welcome["phoneNumber"], "token": alice_welcome["resumeToken"]}
    alice_again, welcome = await _join(patient_hub, {"nickname": "Alice"}, resume=alice_claim)
    assert welcome["resumed"] is True
    for ws in (alice_again, bob_again):
        await ws.close()


async def test_the_client_picks_a_free_variant_and_says_which(hub: Hub) -> None:
    john = OzWebClient(ping_interval=None)
    await john.connect(hub.url, "Webphone1", {"nickname": "John"})
    plain = OzWebClient(ping_interval=None)
    with pytest.raises(AccessDenied) as refused:
        await plain.connect(hub.url, "Webphone1", {"nickname": "john"})
    assert refused.value.code == "nickname_in_use"

    granted: list[ConnectionStateChanged] = []
    second = OzWebClient(ping_interval=None, pick_free_nickname=True)
    third = OzWebClient(ping_interval=None, pick_free_nickname=True)
    second.on_connection_state_changed(granted.append)
    await second.connect(hub.url, "Webphone1", {"nickname": "John", "away": "lunch"})
    await third.connect(hub.url, "Webphone1", {"Nickname": "JOHN"})
    try:
        assert (second.nickname, third.nickname) == ("John2", "JOHN3")
        assert granted == [ConnectionStateChanged(ConnectionState.ACCESS_GRANTED, taken_nickname="John")]
        assert second.properties == {"nickname": "John2", "away": "lunch"}
        assert john.nickname == "John"
    finally:
        for client in (john, second, third):
            await client.disconnect()


async def test_a_long_nickname_is_cut_to_fit_its_number(hub: Hub) -> None:
    long = "N" * 32
    first = OzWebClient(ping_interval=None)
    await first.connect(hub.url, "Webphone1", {"nickname": long})
    second = OzWebClient(ping_interval=None, pick_free_nickname=True)
    await second.connect(hub.url, "Webphone1", {"nickname": long})
    try:
        assert second.nickname == "N" * 31 + "2"
    finally:
        await first.disconnect()
        await second.disconnect()


def test_ozchat_events_joins_under_a_free_variant_and_says_so(processes) -> None:
    hub = processes("serve", "--host", "127.0.0.1", "--port", "0", "--store", "memory")
    address = "127.0.0.1:" + hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1)
    first = processes("events", "--host", address, "--nick", "John")
    first.wait_for(r"ACCESS_GRANTED")
    second = processes("events", "--host", address, "--nick", "John")
    second.wait_for(r"^-- John was taken; you are John2$")
    third = processes("events", "--host", address, "--nick", "JOHN", "--json")
    granted = json.loads(third.wait_for(r'^\{"event": "connection", "state": "ACCESS_GRANTED".*').group(0))
    assert (granted["nickname"], granted["takenNickname"]) == ("JOHN3", "JOHN")
    first.wait_for(r"^John2 is ONLINE$")


async def test_a_client_back_after_its_nickname_was_taken_meanwhile_takes_a_variant() -> None:
    from relay import Relay

    async with Hub("127.0.0.1", 0, grace=0.0, ping_interval=None) as hub, Relay(hub.port) as relay:
        john = OzWebClient(ping_interval=None, pick_free_nickname=True, backoff_base=0.05, backoff_cap=0.1)
        states: list[ConnectionStateChanged] = []
        john.on_connection_state_changed(states.append)
        await john.connect(relay.address, "Webphone1", {"nickname": "John"})
        watcher = OzWebClient(ping_interval=None)
        gone = asyncio.Event()
        watcher.on_client_state_changed(lambda info: gone.set() if info.status is ClientStatus.OFFLINE else None)
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        relay.hold()
        relay.cut()  # John drops; with no grace period the hub lets his nickname go at once
        await asyncio.wait_for(gone.wait(), 10)
        newcomer = OzWebClient(ping_interval=None)
        await newcomer.connect(hub.url, "Webphone1", {"nickname": "John"})
        back = asyncio.Event()
        john.on_connection_state_changed(
            lambda change: back.set() if change.state is ConnectionState.ACCESS_GRANTED else None
        )
        relay.release()
        await asyncio.wait_for(back.wait(), 10)
        try:
            assert states[-1] == ConnectionStateChanged(ConnectionState.ACCESS_GRANTED, taken_nickname="John")
            assert (john.nickname, newcomer.nickname) == ("John2", "John")
        finally:
            for client in (john, watcher, newcomer):
                await client.disconnect()
