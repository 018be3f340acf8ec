"""Every kind of bad frame gets a precise error (or the documented close code); bystanders notice nothing."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ozchat import ChatMessage, ClientInfo, ConnectionStateChanged, Synced


async def _raw(hub):
    return await ws_connect(hub.url, ping_interval=None, max_size=None)


async def _hello(ws, **properties):
    await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": properties}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return welcome


async def _next_error(ws) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == "error":
            return frame


@pytest.fixture
async def bystander(connect):
    """A client on the line whose events must stay quiet while someone else misbehaves."""
    client, events = await connect(nickname="Bystander")
    return client, events


async def _assert_bystander_unaffected(bystander, connect):
    client, events = bystander
    # The bystander still chats, and heard nothing but presence of well-formed clients.
    await connect(nickname="Witness")
    sent = await client.send_message("still fine")
    echoed = await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.seq == sent.seq)
    assert echoed.text == "still fine"
    assert client.connected
    expected = (ConnectionStateChanged, ClientInfo, ChatMessage, Synced)
    unexpected = [e for e in events.events if not isinstance(e, expected)]
    assert unexpected == []
    # the only chat it saw is well-formed: the offender's apology and its own line
    assert {e.text for e in events.of_type(ChatMessage)} <= {"sorry", "still fine"}


BAD_FRAMES_AFTER_HELLO = [
    ("{not json", "bad_json"),
    ("[1, 2, 3]", "not_object"),
    ('"just a string"', "not_object"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"text": "no type"}', "unknown_type"),
    ('{"type": "send", "text": 42}', "bad_field"),
    ('{"type": "send"}', "bad_field"),
    ('{"type": "send", "text": "   "}', "bad_text"),
    ('{"type": "send", "text": "' + "x" * 4001 + '"}', "text_too_long"),
    ('{"type": "send", "text": "hi", "id": ""}', "bad_client_id"),
    ('{"type": "update", "properties": "nope"}', "bad_field"),
    ('{"type": "update", "properties": {"nickname": "' + "n" * 33 + '"}}', "nickname_too_long"),
    ('{"type": "update", "properties": {"nickname": "evil\\u001b[2J"}}', "bad_nickname"),
    ('{"type": "update", "properties": {"nickname": "spoof\\u202eevil"}}', "bad_nickname"),
    ('{"type": "update", "properties": {"nickname": 7}}', "bad_nickname"),
    ('{"type": "update", "properties": {"big": "' + "b" * 5000 + '"}}', "properties_too_large"),
    ('{"type": "update", "properties": {"a": ' + "[" * 20 + "]" * 20 + "}}", "too_deep"),
    ('{"type": "send", "text": "deep", "x": ' + "[" * 5000 + "]" * 5000 + "}", "too_deep"),
    ('{"type": "update", "properties": {"Nick": 1, "nick": 2}}', "bad_property"),
    ('{"type": "hello", "line": "Webphone1"}', "already_joined"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES_AFTER_HELLO, ids=[c for _, c in BAD_FRAMES_AFTER_HELLO])
async def test_bad_frame_after_hello_gets_error_code(hub, bystander, connect, frame, code, caplog):
    caplog.set_level(logging.DEBUG)
    ws = await _raw(hub)
    await _hello(ws, nickname="Mallory")
    await ws.send(frame)
    error = await _next_error(ws)
    assert error["code"] == code
    assert error["message"]
    # the offender stays connected and can still talk
    await ws.send(json.dumps({"type": "send", "text": "sorry", "id": "c1"}))
    frames = [json.loads(await ws.recv()) for _ in range(2)]
    assert {"type": "ack", "id": "c1"}.items() <= frames[1].items()
    await ws.close()
    await _assert_bystander_unaffected(bystander, connect)
    assert not [r for r in caplog.records if r.exc_info]


async def test_error_carries_the_request_id(hub):
    ws = await _raw(hub)
    await _hello(ws)
    await ws.send(json.dumps({"type": "send", "text": "x" * 5000, "id": "req-7"}))
    error = await _next_error(ws)
    assert (error["code"], error["id"]) == ("text_too_long", "req-7")
    await ws.close()


async def test_message_before_hello(hub, bystander, connect):
    ws = await _raw(hub)
    await ws.send(json.dumps({"type": "send", "text": "too early"}))
    assert (await _next_error(ws))["code"] == "hello_required"
    await _hello(ws, nickname="Patient")  # still allowed to say hello afterwards
    await ws.close()
    await _assert_bystander_unaffected(bystander, connect)


async def test_binary_frame(hub, bystander, connect):
    ws = await _raw(hub)
    await _hello(ws)
    await ws.send(b'{"type": "send", "text": "bytes"}')
    assert (await _next_error(ws))["code"] == "binary_frame"
    await ws.close()
    await _assert_bystander_unaffected(bystander, connect)


async def test_oversize_frame_gets_frame_too_large(hub, bystander, connect):
    ws = await _raw(hub)
    await _hello(ws)
    await ws.send(json.dumps({"type": "send", "text": "x" * (70 * 1024), "id": "big"}))
    error = await _next_error(ws)
    assert (error["code"], error["id"]) == ("frame_too_large", "big")
    await ws.close()
    await _assert_bystander_unaffected(bystander, connect)


async def test_frame_over_the_transport_limit_closes_with_1009(hub, bystander, connect):
    ws = await _raw(hub)
    await _hello(ws)
    await ws.send(json.dumps({"type": "upload", "data": "A" * (600 * 1024)}))
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1009
    await _assert_bystander_unaffected(bystander, connect)


HELLO_REFUSALS = [
    ({"type": "hello", "line": "Webphone1", "version": 99}, "unsupported_version"),
    ({"type": "hello", "line": ""}, "bad_line"),
    ({"type": "hello", "line": "has space"}, "bad_line"),
    ({"type": "hello", "line": "W", "properties": {"nickname": "x" * 40}}, "nickname_too_long"),
    ({"type": "hello", "line": "W", "properties": {"nickname": "bell\u0007"}}, "bad_nickname"),
    ({"type": "hello", "line": "W", "properties": {"pad": "p" * 5000}}, "properties_too_large"),
    ({"type": "hello", "line": "W", "properties": {"avatar": 12}}, "bad_property"),
]


@pytest.mark.parametrize(("hello", "code"), HELLO_REFUSALS, ids=[c for _, c in HELLO_REFUSALS])
async def test_bad_hello_is_refused_with_4003(hub, bystander, connect, hello, code):
    ws = await _raw(hub)
    await ws.send(json.dumps(hello))
    error = await _next_error(ws)
    assert error["code"] == code
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4003
    await _assert_bystander_unaffected(bystander, connect)


async def test_no_hello_in_time_closes_with_4001(hub):
    ws = await _raw(hub)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 4001


async def test_plain_http_healthz(hub, connect):
    await connect(nickname="Counted")
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"application/json" in head
    length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
    body = json.loads(await reader.readexactly(length))
    assert body == {"status": "ok", "version": 1, "lines": 1, "clients": 1}
    writer.close()
