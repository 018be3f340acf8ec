"""docs/protocol.schema.json: generated from the frame types, and true of what a real hub sends."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore
from ozchat.hub.limits import RateLimit
from ozchat.hub.store import MemoryStore
from ozchat.protocol import Welcome, encode

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "protocol.schema.json").read_text("utf-8"))


def _validator(union: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{union}"})


HUB_FRAME = _validator("HubFrame")


def test_the_checked_in_schema_is_what_the_script_writes_now() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "protocol_schema.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (checked.returncode, checked.stderr) == (0, "")


def test_the_schema_refuses_what_no_hub_may_send() -> None:
    """It is no empty schema: a bad phone number, a missing field or an unknown type fail it."""
    good = {"type": "message", "seq": 1, "ts": 1, "from": "Qdb3W", "text": "hi"}
    assert HUB_FRAME.is_valid(good)
    assert not HUB_FRAME.is_valid({**good, "from": "Qdb3W\u001b]0;x"})
    assert not HUB_FRAME.is_valid({key: value for key, value in good.items() if key != "seq"})
    assert not HUB_FRAME.is_valid({**good, "type": "shout"})
    assert not HUB_FRAME.is_valid({"type": "uploaded", "id": "u-1"})


def test_the_schema_requires_every_field_of_a_welcome() -> None:
    """The hub always sends them all, so a client may rely on each."""
    welcome = json.loads(encode(Welcome("Qdb3W", "L", {}, 0, "token", False, epoch="9f2c41d07ab35e68")))
    assert HUB_FRAME.is_valid(welcome)
    for field in ("epoch", "resumeToken", "resumed", "lastDirectSeq", "limits", "version", "state"):
        assert not HUB_FRAME.is_valid({key: value for key, value in welcome.items() if key != field}), field
    limits = {key: value for key, value in welcome["limits"].items() if key != "maxTextChars"}
    assert not HUB_FRAME.is_valid({**welcome, "limits": limits})


class _Peer:
    """A raw WebSocket client that keeps every frame the hub sends it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def until(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read (and keep) frames until one satisfies `done`; return it."""
        while True:
            frame = json.loads(await self.ws.recv())
            self.frames.append(frame)
            if done(frame):
                return frame


def _answer(request_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("id") == request_id and frame["type"] in ("ack", "error", "uploaded")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_every_frame_a_hub_sends_in_a_realistic_exchange_fits_the_schema(tmp_path: Path) -> None:
    hub = Hub(
        "127.0.0.1", 0, store=MemoryStore(keep_messages=2), uploads=UploadStore(tmp_path / "uploads"),
        rate_limit=RateLimit(rate=1.0, burst=20), ping_interval=None,
    )
    peers: list[_Peer] = []

    async def join(nickname: str, **hello: Any) -> _Peer:
        # max_queue=None: unread frames never stall the close.
        peer = _Peer(await ws_connect(hub.url, ping_interval=None, max_queue=None))
        peers.append(peer)
        await peer.send(type="hello", line="Webphone1", properties={"nickname": nickname, "avatar": "cat"}, **hello)
        await peer.until(lambda frame: frame["type"] in ("synced", "error"))
        return peer

    async with hub:
        alice = await join("Alice")
        bob = await join("Bob")
        for number in range(3):
            await alice.send(type="send", text=f"hello {number}", id=f"s{number}")
            await alice.until(_answer(f"s{number}"))
        bob_number = next(frame["phoneNumber"] for frame in bob.frames if frame["type"] == "welcome")
        await alice.send(type="send", text="psst", to=bob_number, action=True, id="dm")
        await alice.until(_answer("dm"))
        await alice.send(type="update", properties={"away": "lunch"}, id="up")
        await alice.until(_answer("up"))
        await alice.send(type="upload", data=base64.b64encode(_png()).decode(), id="png")
        await alice.until(_answer("png"))
        await alice.send(type="upload", data=base64.b64encode(b"no picture").decode(), id="junk")
        await alice.until(_answer("junk"))
        await alice.send(type="send", text=" ", id="blank")
        await alice.until(_answer("blank"))
        await bob.until(lambda frame: frame["type"] == "presence" and frame["clients"][0]["properties"].get("away"))
        # Back after a drop, asking for what it missed: the hub keeps only the newest two.
        await join("Carol", lastSeq=0)
        await join("alice")  # taken: refused
        flooder = await join("Dave")
        for number in range(30):
            await flooder.send(type="send", text="flood", id=f"f{number}")
        await flooder.until(lambda frame: frame.get("code") == "rate_limited")
        for peer in peers:
            await peer.ws.close()

    frames = [frame for peer in peers for frame in peer.frames]
    assert {frame["type"] for frame in frames} == {
        "welcome", "presence", "message", "ack", "error", "gap", "synced", "uploaded"
    }
    assert any("to" in frame for frame in frames if frame["type"] == "message")
    assert any("retryAfter" in frame for frame in frames if frame["type"] == "error")
    problems = [f"{frame}: {error.message}" for frame in frames for error in HUB_FRAME.iter_errors(frame)]
    assert problems == []


@pytest.mark.parametrize(
    "frame",
    [
        {
            "type": "hello",
            "line": "Webphone1",
            "properties": {"nickname": "John"},
            "resume": {"phoneNumber": "Qdb3W", "token": "t"},
        },
        {"type": "send", "text": "hi", "to": "Qdb3W", "action": True, "id": "c-1"},
        {"type": "update", "properties": {"away": None}, "id": "c-2"},
        {"type": "upload", "data": "iVBORw0KGgo=", "id": "u-1"},
    ],
    ids=["hello", "send", "update", "upload"],
)
def test_the_documented_client_frames_fit_the_schema(frame: dict[str, Any]) -> None:
    assert list(_validator("ClientFrame").iter_errors(frame)) == []
