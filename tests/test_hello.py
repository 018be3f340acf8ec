"""The hello: one documented check order, and every refused hello closed with 4003."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ozchat.hub import Hub

DEEP = "[" * 3000 + "]" * 3000


async def _refusal(hub: Hub, hello: str) -> tuple[str, int | None]:
    """The error code a hello is refused with, and the close code that follows it."""
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(hello)
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["type"] == "error", error
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return error["code"], ws.close_code


@pytest.fixture
async def token_hub():
    async with Hub("127.0.0.1", 0, token="s3cret", ping_interval=None) as running:
        yield running


ORDER = [
    # the version first, even before the token
    ('{"type": "hello", "version": 2, "line": "has space", "token": "wrong"}', "unsupported_version"),
    ('{"type": "hello", "version": "1", "line": "W", "token": "s3cret"}', "unsupported_version"),
    # then the token: nothing else is told to a client that has not shown it
    ('{"type": "hello", "line": "has space", "token": "wrong"}', "bad_token"),
    ('{"type": "hello", "line": "has space"}', "bad_token"),
    ('{"type": "hello", "line": 5, "token": "wrong"}', "bad_token"),
    ('{"type": "hello", "line": "W", "token": 5}', "bad_token"),
    ('{"type": "hello", "line": "W", "x": ' + DEEP + ', "token": "wrong"}', "bad_token"),
    ('{"type": "hello", "line": "W", "properties": {"nickname": "x' + "x" * 40 + '"}, "token": "wrong"}', "bad_token"),
    # then the frame's fields and nesting, the line, the properties
    ('{"type": "hello", "line": 5, "token": "s3cret"}', "bad_field"),
    ('{"type": "hello", "line": "W", "x": ' + DEEP + ', "token": "s3cret"}', "too_deep"),
    ('{"type": "hello", "line": "has space", "properties": {"nickname": 7}, "token": "s3cret"}', "bad_line"),
    ('{"type": "hello", "line": "W", "properties": {"a": ' + "[" * 20 + "]" * 20 + '}, "token": "s3cret"}', "too_deep"),
    ('{"type": "hello", "line": "W", "properties": {"nickname": 7}, "token": "s3cret"}', "bad_nickname"),
]


@pytest.mark.parametrize(("hello", "code"), ORDER, ids=[f"{i}-{code}" for i, (_, code) in enumerate(ORDER)])
async def test_hello_is_checked_version_token_fields_line_properties(token_hub, hello, code):
    assert await _refusal(token_hub, hello) == (code, 4003)


@pytest.mark.parametrize(
    "hello",
    ['{"type": "hello", "line": 5}', '{"type": "hello"}', '{"type": "hello", "line": "W", "x": ' + DEEP + "}",
     '{"type": "hello", "line": "W", "resume": {"phoneNumber": "bad"}}'],
    ids=["line-not-a-string", "no-line", "nested-too-deeply", "bad-resume"],
)
async def test_a_malformed_hello_is_refused_and_closed_like_any_other(hub, hello):
    code, close_code = await _refusal(hub, hello)
    assert code in ("bad_field", "too_deep") and close_code == 4003


async def test_frames_that_are_no_hello_leave_the_connection_open_for_one(hub):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        for frame in ("{nope", "[1]", '{"type": "sned", "id": "a"}', '{"type": "send", "text": "early", "id": "b"}'):
            await ws.send(frame)
        codes = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(4)]
        assert [(c["code"], c.get("id")) for c in codes] == [
            ("bad_json", None), ("not_object", None), ("unknown_type", "a"), ("hello_required", "b")
        ]
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"


@pytest.mark.parametrize("after_hello", [False, True], ids=["before-the-hello", "after-the-hello"])
async def test_a_text_frame_that_is_not_utf8_closes_with_1007(hub, after_hello):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        if after_hello:
            await ws.send(json.dumps({"type": "hello", "line": "Webphone1"}))
            assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(b'{"type": "send", "text": "\xff"}', text=True)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1007


async def test_a_rate_limited_hello_is_refused_and_closed_with_4029():
    from ozchat.hub.limits import RateLimit

    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(rate=2, burst=3), ping_interval=None) as hub:
        async with ws_connect(hub.url, ping_interval=None) as ws:
            for i in range(3):
                await ws.send(json.dumps({"type": "send", "text": "early", "id": f"s{i}"}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == "hello_required"
            await ws.send(json.dumps({"type": "hello", "line": "W", "id": "h1"}))
            error = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (error["code"], error["id"], error["retryAfter"] > 0) == ("rate_limited", "h1", True)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 4029


@pytest.mark.parametrize("hello", [
    '{"type": "hello", "id": "h2", "line": ""}',
    '{"type": "hello", "id": "h2", "line": "W", "properties": {"a": ' + "[" * 20 + "]" * 20 + "}}",
    '{"type": "hello", "id": "h2", "line": "W", "history": "many"}',
])
async def test_a_refused_hello_echoes_its_id(hub, hello):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(hello)
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (error["type"], error["id"]) == ("error", "h2")


async def test_a_hello_refused_for_its_nickname_echoes_its_id(hub):
    async with ws_connect(hub.url, ping_interval=None) as first, ws_connect(hub.url, ping_interval=None) as second:
        await first.send(json.dumps({"type": "hello", "line": "W", "properties": {"nickname": "Ann"}}))
        assert json.loads(await asyncio.wait_for(first.recv(), 5))["type"] == "welcome"
        await second.send(json.dumps({"type": "hello", "id": "h3", "line": "W", "properties": {"nickname": "ann"}}))
        error = json.loads(await asyncio.wait_for(second.recv(), 5))
        assert (error["code"], error["id"]) == ("nickname_in_use", "h3")


async def test_errors_before_and_after_the_hello_echo_a_readable_id(hub):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "send", "text": "hi", "id": "b-1"}).encode())
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (error["code"], error["id"]) == ("binary_frame", "b-1")
        await ws.send(json.dumps({"type": "hello", "line": "W"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "synced":
            pass
        await ws.send(json.dumps({"type": "hello", "line": "W", "id": "h-9"}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (error["code"], error["id"]) == ("already_joined", "h-9")
        await ws.send(json.dumps({"type": "send", "text": "hi", "id": "b-2"}).encode())
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (error["code"], error["id"]) == ("binary_frame", "b-2")
