"""The hub serves bundled avatars and validated uploads over plain HTTP on its own port."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import re

import httpx
import pytest
from avatars.helpers import damaged_images
from PIL import Image
from websockets.asyncio.client import connect as ws_connect

from ozchat import OzWebClient, RequestRejected
from ozchat.avatars import AvatarService
from ozchat.avatars.render import render_avatar
from ozchat.bundled_avatars import bundled_avatar, bundled_names
from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore
from ozchat.tui.avatar_choice import avatar_base_url, choose_avatar


@pytest.fixture
async def avatar_hub(tmp_path):
    async with Hub("127.0.0.1", 0, uploads=UploadStore(tmp_path / "uploads")) as running:
        yield running


def _png(size=(40, 30), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.save(out, "PNG", pnginfo=None)
    return out.getvalue()


async def _get(url: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.get(url, headers=headers)


async def test_bundled_avatar_is_served_and_revalidated(avatar_hub):
    name = bundled_names()[0]
    base = f"http://127.0.0.1:{avatar_hub.port}/avatars/"
    first = await _get(base + f"{name}.png")
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).format == "PNG"
    again = await _get(base + name, **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert (await _get(base + "..%2Fsecret")).status_code == 404
    assert (await _get(base + "nope")).status_code == 404


async def test_upload_becomes_a_name_others_can_fetch(avatar_hub, tmp_path):
    client = OzWebClient(ping_interval=None)
    await client.connect(avatar_hub.url, "Webphone1", {"nickname": "Up"})
    try:
        name = await client.upload_avatar(_png())
        assert re.fullmatch(r"[0-9a-f]{32}\.png", name)
        fetched = await _get(f"http://127.0.0.1:{avatar_hub.port}/avatars/{name}")
        assert fetched.status_code == 200
        image = Image.open(io.BytesIO(fetched.content))
        assert image.format == "PNG" and max(image.size) <= 64 and not image.info.get("exif")
        assert await client.upload_avatar(_png()) == name  # same picture, same name
        with pytest.raises(RequestRejected) as not_image:
            await client.upload_avatar(b"this is not an image at all")
        assert not_image.value.code == "not_an_image"
        with pytest.raises(RequestRejected) as too_big:
            await client.upload_avatar(b"\x89PNG" + b"\0" * (300 * 1024))
        assert too_big.value.code == "upload_too_large"
        assert client.connected
    finally:
        await client.disconnect()


async def test_upload_errors_on_the_wire(avatar_hub):
    async with ws_connect(avatar_hub.url, ping_interval=None, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "upload", "data": "***not base64***", "id": "u1"}))
        await ws.send(json.dumps({"type": "send", "text": "x" * 70_000, "id": "s1"}))
        errors = []
        while len(errors) < 2:
            frame = json.loads(await ws.recv())
            if frame["type"] == "error":
                errors.append((frame["code"], frame["id"]))
    assert errors == [("bad_upload", "u1"), ("frame_too_large", "s1")]


async def test_hub_without_upload_store_says_so(hub, connect):
    client, _ = await connect(nickname="Up")
    with pytest.raises(RequestRejected) as caught:
        await client.upload_avatar(_png())
    assert caught.value.code == "uploads_disabled"


async def test_an_upload_the_hub_cannot_write_is_store_failed_and_the_connection_stays(tmp_path):
    blocked = tmp_path / "uploads"
    blocked.write_text("a file where the upload folder should be")
    async with Hub("127.0.0.1", 0, uploads=UploadStore(blocked)) as running:
        client = OzWebClient(ping_interval=None)
        await client.connect(running.url, "Webphone1", {"nickname": "Up"})
        with pytest.raises(RequestRejected) as caught:
            await client.upload_avatar(_png())
        sent = await client.send_message("still here")
        await client.disconnect()
    assert caught.value.code == "store_failed"
    assert sent.text == "still here"


async def test_damaged_uploads_are_corrupt_and_the_connection_stays(avatar_hub, caplog):
    """Truncated images of every accepted format and inflating PNG chunks: `corrupt`, no close, no traceback."""
    caplog.set_level(logging.DEBUG)
    damaged = damaged_images()
    async with ws_connect(avatar_hub.url, ping_interval=None, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1"}))
        for name, data in damaged.items():
            await ws.send(json.dumps({"type": "upload", "data": base64.b64encode(data).decode(), "id": name}))
        await ws.send(json.dumps({"type": "send", "text": "still here", "id": "after"}))
        answers = {}
        while "after" not in answers:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("error", "ack", "uploaded"):
                answers[frame["id"]] = frame["code"] if frame["type"] == "error" else frame["type"]
    assert answers == {**{name: "corrupt" for name in damaged}, "after": "ack"}
    loud = [record for record in caplog.records if record.levelno >= logging.WARNING or record.exc_info]
    assert [record.getMessage() for record in loud] == []


class _Viewer:
    """A client joined under one spelling of the hub's address, with its own avatar service."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.client = OzWebClient(ping_interval=None)
        self.avatars = AvatarService(base_url=avatar_base_url(address))
        self.changed = asyncio.Event()
        self.client.on_client_state_changed(lambda info: self.changed.set())

    async def avatar_of(self, other: OzWebClient, value: str) -> str:
        """The avatar value this viewer's roster shows for `other`, once it is `value`."""
        while (info := self.client.roster.get(other.phone_number or "")) is None or info.get("avatar") != value:
            self.changed.clear()
            await self.changed.wait()
        return info["avatar"]


async def test_avatars_shared_by_name_load_however_each_viewer_spells_the_hub(avatar_hub, tmp_path, monkeypatch):
    """One person joined as localhost, the other as 127.0.0.1: each loads the other's bundled and uploaded avatars."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lou, ike = _Viewer(f"localhost:{avatar_hub.port}"), _Viewer(f"127.0.0.1:{avatar_hub.port}")
    try:
        for viewer, nickname in ((lou, "Lou"), (ike, "Ike")):
            await viewer.client.connect(viewer.address, "Webphone1", {"nickname": nickname})
        lou_upload = await lou.client.upload_avatar(_png((30, 30), (220, 30, 40)))
        ike_upload = await ike.client.upload_avatar(_png((30, 30), (40, 60, 230)))
        # First Lou shares an upload and Ike a bundled avatar (as --avatar and /avatar do), then the other way round.
        for lou_shares, ike_shares in ((lou_upload, choose_avatar("fox")), (choose_avatar("cat"), ike_upload)):
            await lou.client.update_properties({"avatar": lou_shares})
            await ike.client.update_properties({"avatar": ike_shares})
            for viewer, other, shared in ((lou, ike, ike_shares), (ike, lou, lou_shares)):
                result = await viewer.avatars.load(await viewer.avatar_of(other.client, shared), 8)
                assert result.error is None, (viewer.address, shared, result.error)
                served = avatar_hub.uploads.get(shared) or bundled_avatar(shared)
                assert served is not None and result.avatar == render_avatar(served, 8, (0, 0, 0))
    finally:
        for viewer in (lou, ike):
            await viewer.client.disconnect()
            await viewer.avatars.aclose()
