"""Presence through each line's journal: in the order it was told among the frames around it, never about oneself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from ozchat import ClientStatus, OzWebClient
from ozchat.hub import Hub


async def _join(hub: Hub, nickname: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(hub.url, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", "line": "L", "properties": {"nickname": nickname}}))
    welcome = json.loads(await ws.recv())
    while json.loads(await ws.recv())["type"] != "synced":
        pass
    return ws, welcome


async def _next_of(ws: ClientConnection, *types: str) -> dict[str, Any]:
    while (frame := json.loads(await ws.recv()))["type"] not in types:
        pass
    return frame


def _write_together(ws: ClientConnection, *frames: dict[str, Any]) -> None:
    """Frames in one write, so the hub reads them in one turn of its loop."""
    for frame in frames:
        ws.protocol.send_text(json.dumps(frame).encode())
    ws.transport.write(b"".join(ws.protocol.data_to_send()))


async def test_a_change_told_before_a_message_in_the_same_turn_arrives_before_it(hub: Hub):
    carl, _ = await _join(hub, "Carl")
    ann, _ = await _join(hub, "Ann")
    await _next_of(carl, "presence")  # Ann online
    _write_together(
        ann,
        {"type": "update", "properties": {"nickname": "Annie"}},
        {"type": "send", "text": "it is Annie now"},
    )
    first = await _next_of(carl, "presence", "message")
    assert first["type"] == "presence" and first["clients"][0]["properties"] == {"nickname": "Annie"}
    assert (await _next_of(carl, "presence", "message"))["text"] == "it is Annie now"
    for ws in (carl, ann):
        await ws.close()


async def test_a_client_is_never_told_its_own_change_but_hears_the_others_of_the_same_turn(hub: Hub):
    carl, _ = await _join(hub, "Carl")
    ann, ann_welcome = await _join(hub, "Ann")
    await _next_of(carl, "presence")  # Ann online
    _write_together(carl, {"type": "update", "properties": {"nickname": "Carlos"}})
    _write_together(ann, {"type": "update", "properties": {"nickname": "Annie"}})
    frame = await _next_of(carl, "presence")
    await _next_of(ann, "presence")  # Carl's change: both updates were taken before the sentinel below
    await carl.send(json.dumps({"type": "send", "text": "sentinel"}))
    while (more := await _next_of(carl, "presence", "message"))["type"] == "presence":
        frame["clients"] += more["clients"]
    told = [(client["phoneNumber"], client["properties"]["nickname"]) for client in frame["clients"]]
    assert told == [(ann_welcome["phoneNumber"], "Annie")]
    for ws in (carl, ann):
        await ws.close()


async def test_a_client_that_stops_reading_is_dropped_for_presence_changes_alone():
    """The slow-reader limit counts the entries a line's journal queues for a reader, as it counts frames."""
    from test_abuse import _hello_then_never_read

    async with Hub("127.0.0.1", 0, max_pending_frames=50, grace=0, close_timeout=0.5) as hub:
        changer, watcher = (OzWebClient(ping_interval=None, reconnect=False) for _ in range(2))
        gone = asyncio.Event()
        watcher.on_client_state_changed(
            lambda info: gone.set() if info.status is ClientStatus.OFFLINE and info.nickname == "Sleeper" else None
        )
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        sleeper = await _hello_then_never_read(hub.port, "Sleeper")
        await changer.connect(hub.url, "Webphone1", {"nickname": "Changer"})
        for n in range(2000):  # ~7 MB of presence: more than the kernel buffers hold for one socket
            await changer.update_properties({"status": f"{n} " + "x" * 3500})
            if gone.is_set():
                break
        await asyncio.wait_for(gone.wait(), 10)
        assert {info.nickname for info in watcher.roster} == {"Changer"}
        sleeper.close()
        await changer.disconnect()
        await watcher.disconnect()
