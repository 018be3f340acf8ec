"""Line messages and direct messages through a real hub."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, RequestRejected


async def test_line_message_reaches_everyone_numbered_and_stamped(connect):
    a, a_events = await connect(nickname="Alice")
    b, b_events = await connect(nickname="Bob")
    before = int(time.time() * 1000)
    sent = await a.send_message("hello line")
    for events in (a_events, b_events):
        got = await events.wait_for(lambda e: isinstance(e, ChatMessage))
        assert (got.text, got.sender, got.nickname, got.seq) == ("hello line", a.phone_number, "Alice", sent.seq)
        assert before <= got.ts <= int(time.time() * 1000)
        assert not got.is_direct
    second = await b.send_message("again")
    assert second.seq == sent.seq + 1


async def test_ack_echoes_the_client_id(connect):
    a, a_events = await connect(nickname="Alice")
    sent = await a.send_message("with id")
    echoed = await a_events.wait_for(lambda e: isinstance(e, ChatMessage))
    assert sent.id is not None and echoed.id == sent.id


async def test_direct_message_reaches_only_the_two_parties(connect):
    a, a_events = await connect(nickname="Alice")
    b, b_events = await connect(nickname="Bob")
    c, c_events = await connect(nickname="Carol")
    await a.send_message("psst", to=b.phone_number)
    got = await b_events.wait_for(lambda e: isinstance(e, ChatMessage))
    assert got.text == "psst" and got.to == b.phone_number and got.is_direct
    echo = await a_events.wait_for(lambda e: isinstance(e, ChatMessage))
    assert echo.seq == got.seq
    await c.send_message("flush")  # every message before it has been fanned out once this one arrives
    await c_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "flush")
    assert [e.text for e in c_events.of_type(ChatMessage)] == ["flush"]


async def test_action_message(connect):
    a, _ = await connect(nickname="Alice")
    _, b_events = await connect(nickname="Bob")
    await a.send_message("waves", action=True)
    got = await b_events.wait_for(lambda e: isinstance(e, ChatMessage))
    assert got.action and got.text == "waves"


async def test_direct_message_to_unknown_number_is_rejected(connect):
    a, _ = await connect(nickname="Alice")
    with pytest.raises(RequestRejected) as caught:
        await a.send_message("anyone?", to="ZZZZZ")
    assert caught.value.code == "unknown_recipient"


async def test_messages_arrive_in_order(connect):
    a, _ = await connect(nickname="Alice")
    _, b_events = await connect(nickname="Bob")
    await asyncio.gather(*(a.send_message(f"m{i}") for i in range(50)))
    await b_events.wait_for(lambda e: len(b_events.of_type(ChatMessage)) == 50)
    got = b_events.of_type(ChatMessage)
    assert [m.seq for m in got] == sorted(m.seq for m in got)
    assert sorted(m.text for m in got) == sorted(f"m{i}" for i in range(50))


async def test_frames_that_fail_to_decode_are_answered_with_their_id(hub):
    """An outside client matches errors to requests by id, also when a field or the type is wrong."""
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1"}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        deep = "[" * 3000 + "]" * 3000
        bad = [
            ('{"type": "send", "text": "x", "to": "abc", "id": "k1"}', "bad_field"),
            ('{"type": "sned", "text": "x", "id": "k2"}', "unknown_type"),
            ('{"type": "send", "text": "x", "deep": ' + deep + ', "id": "k3"}', "too_deep"),
        ]
        for frame, _ in bad:
            await ws.send(frame)
        errors = []
        while len(errors) < len(bad):
            got = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if got["type"] == "error":
                errors.append((got["code"], got.get("id")))
    assert errors == [("bad_field", "k1"), ("unknown_type", "k2"), ("too_deep", "k3")]
