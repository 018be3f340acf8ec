"""The typing frame on a real hub with real clients: who gets it, what is dropped, what is refused."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, ClientInfo, ClientStatus, Synced, TypingNotice
from ozchat.hub import Hub
from ozchat.hub.limits import RateLimit

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "protocol.schema.json").read_text("utf-8"))


def _validator(union: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{union}"})


def _typing(events: Any) -> list[TypingNotice]:
    return events.of_type(TypingNotice)


async def _raw(hub: Any, nickname: str) -> tuple[ClientConnection, str]:
    """A bare WebSocket joined to the line (frames up to synced read); its phone number."""
    ws = await ws_connect(hub.url, ping_interval=None, max_size=None)
    await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": nickname}}))
    welcome = json.loads(await ws.recv())
    while json.loads(await ws.recv())["type"] != "synced":
        pass
    return ws, welcome["phoneNumber"]


async def _until(ws: ClientConnection, frame_type: str) -> list[dict[str, Any]]:
    """Every frame up to and including the first of `frame_type`."""
    frames = []
    while True:
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        if frames[-1]["type"] == frame_type:
            return frames


async def test_typing_reaches_everyone_else_on_the_line_but_never_the_sender(connect):
    mary, mary_events = await connect(nickname="Mary")
    _john, john_events = await connect(nickname="John")
    _ann, ann_events = await connect(nickname="Ann")
    assert await mary.send_typing() is True
    for events in (john_events, ann_events):
        notice = await events.wait_for(lambda e: isinstance(e, TypingNotice))
        assert (notice.sender, notice.to, notice.stopped) == (mary.phone_number, None, False)
    await mary.send_message("sentinel")  # it follows the typing frame: had Mary been sent one, it came first
    await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
    assert _typing(mary_events) == []


async def test_direct_typing_goes_to_the_partner_only(connect):
    mary, mary_events = await connect(nickname="Mary")
    john, john_events = await connect(nickname="John")
    _ann, ann_events = await connect(nickname="Ann")
    await mary.send_typing(to=john.phone_number)
    notice = await john_events.wait_for(lambda e: isinstance(e, TypingNotice))
    assert (notice.sender, notice.to, notice.stopped) == (mary.phone_number, john.phone_number, False)
    await mary.send_message("sentinel")
    await ann_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
    await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
    assert _typing(ann_events) == [] and _typing(mary_events) == []


async def test_typing_to_oneself_reaches_nobody(connect):
    mary, mary_events = await connect(nickname="Mary")
    _john, john_events = await connect(nickname="John")
    assert await mary.send_typing(to=mary.phone_number) is True
    await mary.send_message("sentinel")
    for events in (mary_events, john_events):
        await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
        assert _typing(events) == []


async def test_sending_a_message_sends_stopped_before_it(connect):
    mary, _ = await connect(nickname="Mary")
    _john, john_events = await connect(nickname="John")
    await mary.send_typing()
    await mary.send_message("done")
    await john_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "done")
    heard = [e for e in john_events.events if isinstance(e, (TypingNotice, ChatMessage))]
    assert [(type(e).__name__, getattr(e, "stopped", None)) for e in heard] == [
        ("TypingNotice", False), ("TypingNotice", True), ("ChatMessage", None),
    ]


async def test_typing_is_neither_stored_nor_replayed_to_a_newcomer(connect):
    mary, _ = await connect(nickname="Mary")
    _john, john_events = await connect(nickname="John")
    await mary.send_typing()
    await john_events.wait_for(lambda e: isinstance(e, TypingNotice))
    _late, late_events = await connect(nickname="Late")
    await late_events.wait_for(lambda e: isinstance(e, Synced))
    await mary.send_message("sentinel")
    await late_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
    # Only the live `stopped` sent with the message: the typing before the join is not replayed.
    assert [e.stopped for e in _typing(late_events)] == [True]
    assert [m.text for m in late_events.of_type(ChatMessage)] == ["sentinel"]


async def test_a_stopped_only_follows_a_typing_and_what_is_dropped_gets_no_error(hub, connect):
    # Which of the three `typing` are relayed depends on how fast they arrive (at most one a second):
    # that rule is tested on the clock it takes, in test_typing_state.py; here, what holds at any speed.
    _john, john_events = await connect(nickname="John")
    ws, number = await _raw(hub, "Mary")
    frames = [{"type": "typing", "stopped": True}, {"type": "typing"}, {"type": "typing"}, {"type": "typing"}]
    frames += [{"type": "typing", "stopped": True}, {"type": "typing", "stopped": True}]
    for frame in frames:
        await ws.send(json.dumps(frame))
    await ws.send(json.dumps({"type": "send", "text": "sentinel", "id": "s-1"}))
    answered = await _until(ws, "ack")
    assert [frame["type"] for frame in answered] == ["message", "ack"]  # no error for what was dropped
    await john_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
    heard = [(e.sender, e.stopped) for e in _typing(john_events)]
    assert heard[0] == (number, False) and heard[-1] == (number, True)  # the first `stopped` came before any typing
    assert [stopped for _, stopped in heard].count(True) == 1 and 2 <= len(heard) <= 4
    await ws.close()


BAD_TYPING = [
    ('{"type": "typing", "to": 5, "id": "t-1"}', "bad_field"),
    ('{"type": "typing", "to": "not a number", "id": "t-1"}', "bad_field"),
    ('{"type": "typing", "stopped": "yes", "id": "t-1"}', "bad_field"),
    ('{"type": "typing", "to": "ZZZZ9", "id": "t-1"}', "unknown_recipient"),
    ('{"type": "typing", "id": "t-1", "pad": "' + "x" * 70_000 + '"}', "frame_too_large"),
    ('{"type": "typing", "id": ""}', "bad_client_id"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_TYPING, ids=[f"{code}-{i}" for i, (_, code) in enumerate(BAD_TYPING)])
async def test_a_bad_typing_frame_gets_a_precise_error_and_others_notice_nothing(hub, connect, frame, code, caplog):
    caplog.set_level(logging.DEBUG)
    _john, john_events = await connect(nickname="John")
    ws, _ = await _raw(hub, "Mallory")
    await ws.send(frame)
    error = (await _until(ws, "error"))[-1]
    assert (error["code"], error.get("id")) == (code, "t-1" if '"t-1"' in frame else None) and error["message"]
    await ws.send(json.dumps({"type": "send", "text": "sorry", "id": "s-1"}))
    assert [frame["type"] for frame in await _until(ws, "ack")] == ["message", "ack"]
    await john_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sorry")
    assert _typing(john_events) == []
    assert not [record for record in caplog.records if record.exc_info]
    await ws.close()


async def test_a_typing_with_an_id_is_relayed_and_never_acknowledged(hub, connect):
    _john, john_events = await connect(nickname="John")
    ws, number = await _raw(hub, "Mary")
    await ws.send(json.dumps({"type": "typing", "id": "t-1"}))
    await john_events.wait_for(lambda e: isinstance(e, TypingNotice) and e.sender == number)
    await ws.send(json.dumps({"type": "send", "text": "sentinel", "id": "s-1"}))
    # Nothing answers the typing: the first frames back are the message and its own ack.
    frames = await _until(ws, "ack")
    assert [frame["type"] for frame in frames] == ["message", "ack"] and frames[-1]["id"] == "s-1"
    await ws.close()


async def test_typing_before_the_hello_is_answered_hello_required(hub):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send('{"type": "typing", "id": "t-1"}')
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"], error["id"]) == ("error", "hello_required", "t-1")


async def test_typing_frames_both_ways_meet_the_schema(hub, connect):
    john, john_events = await connect(nickname="John")
    ws, number = await _raw(hub, "Mary")
    sent = [{"type": "typing", "to": john.phone_number}, {"type": "typing", "to": john.phone_number, "stopped": True}]
    for frame in sent:
        assert _validator("ClientFrame").is_valid(frame)
        await ws.send(json.dumps(frame))
    await ws.send(json.dumps({"type": "typing", "to": number}))  # to oneself: the sentinel below comes back
    await ws.send(json.dumps({"type": "send", "text": "x", "to": number, "id": "s-1"}))
    await _until(ws, "ack")
    await john_events.wait_for(lambda e: isinstance(e, TypingNotice) and e.stopped)
    assert not _validator("ClientFrame").is_valid({"type": "typing", "to": 5})
    async with ws_connect(hub.url, ping_interval=None) as watcher:
        await watcher.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": "W"}}))
        await _until(watcher, "synced")
        await john.send_typing()
        relayed = (await _until(watcher, "typing"))[-1]
    assert relayed == {"type": "typing", "from": john.phone_number}
    assert _validator("HubFrame").is_valid(relayed)
    assert _validator("HubFrame").is_valid({**relayed, "to": number, "stopped": True})
    await ws.close()


async def test_typing_is_sent_and_stopped_only_after_it(connect):
    # At most one `typing` a TYPING_REFRESH is tested on the clock it takes, in test_typing_state.py.
    mary, _ = await connect(nickname="Mary")
    assert await mary.send_typing(stopped=True) is False
    assert await mary.send_typing() is True
    assert await mary.send_typing(stopped=True) is True
    assert await mary.send_typing(stopped=True) is False


async def test_offline_is_what_ends_a_typing_of_someone_who_left(connect):
    mary, _ = await connect(nickname="Mary")
    _john, john_events = await connect(nickname="John")
    await mary.send_typing()
    await john_events.wait_for(lambda e: isinstance(e, TypingNotice))
    await mary.disconnect()
    gone = await john_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
    assert gone.phone_number == mary.phone_number or gone.display_name == "Mary"
    assert [e.stopped for e in _typing(john_events)] == [False]


async def test_typing_frames_count_against_the_frame_rate():
    # The hello and two frames spend the burst; at this rate no frame comes back in a test's time.
    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(rate=0.001, burst=3)) as hub:
        ws, _ = await _raw(hub, "Mary")
        await ws.send(json.dumps({"type": "typing"}))
        await ws.send(json.dumps({"type": "typing", "stopped": True}))
        await ws.send(json.dumps({"type": "typing", "id": "t-3"}))
        error = (await _until(ws, "error"))[-1]
        assert (error["code"], error["id"]) == ("rate_limited", "t-3") and error["retryAfter"] > 0
        await ws.close()
