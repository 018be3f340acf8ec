"""What PROTOCOL.md means by a character, by bytes encoded, and by hub frames of up to 1 MiB."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect as ws_connect

from ozchat import OzWebClient
from ozchat.hub import Hub
from ozchat.protocol import MAX_HUB_FRAME_BYTES, MAX_NICKNAME_CHARS, MAX_PROPERTIES_BYTES, MAX_TEXT_CHARS


async def _hello(hub: Hub, raw: str) -> dict[str, Any]:
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(raw)
        return json.loads(await ws.recv())


def _hello_frame(properties: dict[str, Any], **dumps: Any) -> str:
    return json.dumps({"type": "hello", "line": "Webphone1", "properties": properties}, **dumps)


def _compact_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


async def test_a_character_is_a_code_point(hub: Hub) -> None:
    """An emoji outside the BMP is one character, though it is two UTF-16 units and four UTF-8 bytes."""
    welcome = await _hello(hub, _hello_frame({"nickname": "\U0001f600" * MAX_NICKNAME_CHARS}))
    assert welcome["type"] == "welcome"
    too_long = await _hello(hub, _hello_frame({"nickname": "\U0001f600" * (MAX_NICKNAME_CHARS + 1)}))
    assert too_long["code"] == "nickname_too_long"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # five code points
    assert (await _hello(hub, _hello_frame({"nickname": family * 6 + "ab"})))["type"] == "welcome"
    assert (await _hello(hub, _hello_frame({"nickname": family * 6 + "abc"})))["code"] == "nickname_too_long"

    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(_hello_frame({"nickname": "Texter"}))
        emoji = "\U0001f600"
        for text, request_id in ((emoji * MAX_TEXT_CHARS, "fits"), (emoji * (MAX_TEXT_CHARS + 1), "over")):
            await ws.send(json.dumps({"type": "send", "text": text, "id": request_id}))
        answers = {}
        while len(answers) < 2:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("ack", "error"):
                answers[frame["id"]] = frame.get("code", frame["type"])
    assert answers == {"fits": "ack", "over": "text_too_long"}


async def test_bytes_encoded_are_the_compact_utf8_json_whatever_was_sent(hub: Hub) -> None:
    """Properties of exactly 4096 bytes encoded pass when sent spaced out and \\u-escaped; one more byte does not."""
    properties: dict[str, Any] = {"nickname": "Zoë", "note": ""}
    room = MAX_PROPERTIES_BYTES - _compact_bytes(properties)
    properties["note"] = "é" * (room // 2) + "x" * (room % 2)  # two bytes each in UTF-8
    assert _compact_bytes(properties) == MAX_PROPERTIES_BYTES
    spaced_out = _hello_frame(properties, indent=8, ensure_ascii=True)
    assert len(spaced_out.encode()) > 2 * MAX_PROPERTIES_BYTES
    assert (await _hello(hub, spaced_out))["type"] == "welcome"

    over = {**properties, "nickname": "Zoë!"}
    assert _compact_bytes(over) == MAX_PROPERTIES_BYTES + 1
    assert (await _hello(hub, _hello_frame(over, separators=(",", ":"))))["code"] == "properties_too_large"


async def test_a_full_presence_batch_of_the_largest_properties_fits_in_1_mib(hub: Hub) -> None:
    """100 present clients with 4096-byte properties reach a newcomer in one frame, under 1 MiB."""
    filler = MAX_PROPERTIES_BYTES - _compact_bytes({"nickname": "m000", "note": ""})
    members = []
    for number in range(100):
        ws = await ws_connect(hub.url, ping_interval=None, max_queue=None)
        members.append(ws)
        await ws.send(_hello_frame({"nickname": f"m{number:03}", "note": "x" * filler}))
        assert json.loads(await ws.recv())["type"] == "welcome"
    try:
        async with ws_connect(hub.url, ping_interval=None, max_size=MAX_HUB_FRAME_BYTES) as newcomer:
            await newcomer.send(_hello_frame({"nickname": "Newcomer"}))
            frames = []
            while not frames or json.loads(frames[-1])["type"] != "synced":
                frames.append(await newcomer.recv())
        [batch] = [raw for raw in frames if json.loads(raw)["type"] == "presence"]
        assert len(json.loads(batch)["clients"]) == 100
        assert 400 * 1024 < len(batch.encode()) <= MAX_HUB_FRAME_BYTES

        client = OzWebClient(ping_interval=None)
        synced = asyncio.Event()
        client.on_synced(lambda _: synced.set())
        await client.connect(hub.url, "Webphone1", {"nickname": "Reference"})
        await asyncio.wait_for(synced.wait(), 10)
        assert len(client.roster) == 100
        await client.disconnect()
    finally:
        for ws in members:
            await ws.close()
