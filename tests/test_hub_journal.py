"""Presence through each line's journal: in the order it was told among the frames around it, never about oneself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import Protocol, Side, State

from ozchat import ClientInfo, ClientStatus, OzWebClient
from ozchat.hub import Hub
from ozchat.hub.outbox import Journals, Outbox
from ozchat.hub.outputs import Entry
from ozchat.protocol import encode


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


class _Wire:
    """A connection's sending side as an outbox uses it: websockets' own framing, and a write buffer that
    holds all that is written until the outbox waits for it to drain (the peer then reads it all)."""

    def __init__(self, room: int) -> None:
        self.protocol = Protocol(Side.SERVER, state=State.OPEN)
        self.transport = self
        self.remote_address = ("192.0.2.1", 1)
        self.room = room
        self.buffered = 0
        self.drains = 0
        self.written = bytearray()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return 0, self.room

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written += data
        self.buffered += len(data)

    async def send(self, message: bytes, text: bool) -> None:
        self.drains += 1
        self.buffered = 0
        self.protocol.send_text(message)
        self.write(b"".join(self.protocol.data_to_send()))

    def frames(self) -> list[dict[str, Any]]:
        reader = Protocol(Side.CLIENT)
        reader.receive_data(bytes(self.written))
        return [json.loads(event.data) for event in reader.events_received()]


async def test_a_turn_of_presence_leaves_in_the_same_frames_when_the_write_buffer_fills_midway():
    roomy, tight = _Wire(room=10**9), _Wire(room=10_000)  # two frames of 100 entries fill the tight one
    journals = Journals()
    for wire in (roomy, tight):
        outbox = Outbox(wire, 2000, 1.0)  # type: ignore[arg-type]  # the sending side is all it uses
        outbox.start(b'{"type":"welcome"}', [], [b'{"type":"synced"}'])
        journals.subscribe("L", outbox)
    await asyncio.sleep(0)  # the join bursts are written
    infos = [ClientInfo(f"P{n:04d}", ClientStatus.ONLINE, {"nickname": f"Nick {n}"}) for n in range(250)]
    for info in infos:  # one turn of the loop
        journals.announce("L", Entry(encode(info)), None)
    for _ in range(100):  # the rest of the turn waits for the tight buffer to drain
        if len(tight.frames()) == 5:
            break
        await asyncio.sleep(0)
    assert tight.drains == 1 and roomy.drains == 0
    assert tight.frames() == roomy.frames()
    assert [(frame["type"], len(frame.get("clients", []))) for frame in roomy.frames()] == [
        ("welcome", 0), ("synced", 0), ("presence", 100), ("presence", 100), ("presence", 50),
    ]
    told = [client["phoneNumber"] for frame in tight.frames() for client in frame.get("clients", [])]
    assert told == [info.phone_number for info in infos]
