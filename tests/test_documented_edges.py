"""Edges of PROTOCOL.md an outside client relies on: the hello order's later steps, null and
unknown fields, duplicated keys, nesting limits, upload encoding and avatar revalidation."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore
from ozchat.hub.limits import AddressLimits, WindowLimit


async def _recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def _until_synced(ws) -> list[dict]:
    frames = [await _recv(ws)]
    while frames[-1]["type"] != "synced":
        frames.append(await _recv(ws))
    return frames


async def _answer_and_close(url: str, hello: dict) -> tuple[dict, int | None]:
    async with ws_connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", **hello}))
        answer = await _recv(ws)
        with pytest.raises(ConnectionClosed):
            while True:
                await _recv(ws)
        return answer, ws.close_code


async def test_the_joins_limit_comes_after_the_properties_and_before_the_nickname():
    """Refusals in steps 1-5 count no join; a nickname_in_use refusal (step 8) does."""
    limits = AddressLimits(joins=WindowLimit(count=2, window=3600))
    async with Hub("127.0.0.1", 0, address_limits=limits, ping_interval=None) as hub:
        for _ in range(3):
            answer, code = await _answer_and_close(hub.url, {"line": "W", "properties": {"nickname": ""}})
            assert (answer["code"], code) == ("bad_nickname", 4003)
        async with ws_connect(hub.url, ping_interval=None) as ann:  # join 1
            await ann.send(json.dumps({"type": "hello", "line": "W", "properties": {"nickname": "Ann"}}))
            await _until_synced(ann)
            answer, code = await _answer_and_close(hub.url, {"line": "W", "properties": {"nickname": "ANN"}})
            assert (answer["code"], code) == ("nickname_in_use", 4003)  # join 2, refused after counting
            answer, code = await _answer_and_close(hub.url, {"line": "W", "properties": {"nickname": "Bob"}, "id": "h"})
            assert (answer["code"], answer["id"], code) == ("rate_limited", "h", 4029)
            # over the joins limit, a hello refused in steps 1-5 still gets its own refusal
            answer, code = await _answer_and_close(hub.url, {"line": "", "properties": {"nickname": "Bob"}})
            assert (answer["code"], code) == ("bad_line", 4003)


async def test_a_hello_that_is_not_valid_json_is_no_hello_and_leaves_the_connection_open(hub):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send('{"type": "hello", "line": "W"')
        assert (await _recv(ws))["code"] == "bad_json"
        await ws.send(json.dumps({"type": "hello", "line": "W"}))
        assert (await _recv(ws))["type"] == "welcome"


async def test_null_optional_fields_unknown_fields_and_duplicated_keys(hub):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send('{"type": "hello", "line": "Nope", "line": "W", "token": null, "lastSeq": null, '
                      '"epoch": null, "id": null, "future": {"x": 1}, "properties": {"nickname": "Ann"}}')
        frames = await _until_synced(ws)
        assert (frames[0]["type"], frames[0]["line"]) == ("welcome", "W")
        await ws.send('{"type": "send", "text": "first", "text": "last", "to": null, "id": "c-1", "extra": [1]}')
        message = await _recv(ws)
        assert (message["type"], message["text"], "to" in message) == ("message", "last", False)
        assert (await _recv(ws))["type"] == "ack"
        await ws.send('{"type": "update", "properties": {"nickname": null, "away": "yes"}, "id": "u-1"}')
        assert (await _recv(ws))["properties"] == {"away": "yes"}


@pytest.mark.parametrize(("arrays", "code"), [(7, None), (8, "too_deep")])
async def test_properties_nest_eight_levels_counting_the_object_itself(hub, arrays, code):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "W"}))
        await _until_synced(ws)
        properties = '{"a": ' + "[" * arrays + "1" + "]" * arrays + "}"
        await ws.send('{"type": "update", "id": "u", "properties": ' + properties + "}")
        answer = await _recv(ws)
        assert answer.get("code") == code


@pytest.mark.parametrize(("levels", "code"), [(100, None), (1001, "too_deep")])
async def test_a_whole_frame_nests_100_levels_but_not_past_1000(hub, levels, code):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "W"}))
        await _until_synced(ws)
        nested = "[" * (levels - 1) + "]" * (levels - 1)  # the frame object is level 1
        await ws.send('{"type": "send", "text": "deep", "id": "d", "x": ' + nested + "}")
        while (answer := await _recv(ws))["type"] == "message":
            pass
        assert answer.get("code") == code and answer["id"] == "d"


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


async def test_upload_data_is_standard_base64_in_one_piece_and_pixels_are_counted_in_total(tmp_path):
    async with Hub("127.0.0.1", 0, uploads=UploadStore(tmp_path / "uploads"), ping_interval=None) as hub:
        async with ws_connect(hub.url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "W"}))
            await _until_synced(ws)
            wide = _png((4096, 8))  # 32768 pixels: far under the total
            encodings = {
                "plain": base64.b64encode(wide).decode(),
                "mime": base64.encodebytes(wide).decode(),
                "urlsafe": base64.urlsafe_b64encode(bytes(range(256)) * 3).decode(),
                "too many": base64.b64encode(_png((2049, 2048))).decode(),
            }
            answers = {}
            for kind, data in encodings.items():
                await ws.send(json.dumps({"type": "upload", "data": data, "id": kind}))
                answer = await _recv(ws)
                answers[kind] = answer.get("code", answer["type"])
            assert "-" in encodings["urlsafe"] or "_" in encodings["urlsafe"]
            assert answers == {"plain": "uploaded", "mime": "bad_upload", "urlsafe": "bad_upload",
                               "too many": "too_many_pixels"}


async def test_if_none_match_matches_only_the_exact_single_tag(hub):
    url = f"http://127.0.0.1:{hub.port}/avatars/cat"
    async with httpx.AsyncClient(trust_env=False) as http:
        etag = (await http.get(url)).headers["etag"]
        statuses = [
            (await http.get(url, headers={"If-None-Match": value})).status_code
            for value in (etag, f"{etag}, \"other\"", "*", f"W/{etag}", etag.strip('"'))
        ]
    assert statuses == [304, 200, 200, 200, 200]
