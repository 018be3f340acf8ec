"""Browser origins: a web page may open a WebSocket to the hub only from the hub's own address
or from an origin the hub was told to admit; programs that send no Origin are unaffected."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from ozchat.hub import Hub
from ozchat.hub.origins import normalize_origin, origin_allowed


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "expected"),
    [
        (None, "127.0.0.1:7779", set(), True),
        ("http://127.0.0.1:7779", "127.0.0.1:7779", set(), True),
        ("http://LOCALHOST:7779", "localhost:7779", set(), True),
        ("https://chat.example.com", "chat.example.com", set(), True),
        ("https://chat.example.com:443", "chat.example.com", set(), True),
        ("http://evil.example", "127.0.0.1:7779", set(), False),
        ("http://127.0.0.1:8000", "127.0.0.1:7779", set(), False),
        ("http://localhost:7779", "127.0.0.1:7779", set(), False),
        ("null", "127.0.0.1:7779", set(), False),
        ("http://127.0.0.1:7779", None, set(), False),
        ("http://evil.example", "127.0.0.1:7779", {"http://evil.example:80"}, True),
        ("null", "127.0.0.1:7779", {"*"}, True),
    ],
)
def test_origin_allowed(origin, host, allowed, expected):
    assert origin_allowed(origin, host, allowed) is expected


@pytest.mark.parametrize(
    ("origin", "host", "expected"),
    [
        ("http://127.0.0.1:7779", "127.0.0.1:7779", True),
        ("http://localhost:7779", "localhost:7779", True),
        ("http://[::1]:7779", "[::1]:7779", True),
        ("http://evil.example:7779", "evil.example:7779", False),
    ],
)
def test_a_loopback_hub_is_its_own_origin_only_under_a_loopback_name(origin, host, expected):
    assert origin_allowed(origin, host, set(), loopback_hub=True) is expected


def test_normalize_origin_spells_out_the_port_and_refuses_non_origins():
    assert normalize_origin("https://Chat.Example.com") == "https://chat.example.com:443"
    assert normalize_origin("http://[::1]:8080") == "http://[::1]:8080"
    assert normalize_origin("null") is None
    assert normalize_origin("ftp://example.com") is None
    assert normalize_origin("https://example.com/page") is None


async def _hello_answer(url: str, **options) -> dict:
    async with ws_connect(url, ping_interval=None, **options) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": "Page"}}))
        return json.loads(await ws.recv())


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
async def test_a_foreign_web_page_cannot_open_a_websocket(hub, origin):
    with pytest.raises(InvalidStatus) as refused:
        await _hello_answer(hub.url, origin=origin)
    assert refused.value.response.status_code == 403
    assert hub.client_count == 0


async def test_a_rebound_name_cannot_pass_for_a_loopback_hubs_own_origin(hub):
    # A foreign site whose name now resolves to 127.0.0.1 sends matching Origin and Host headers.
    rebound = f"evil.example:{hub.port}"
    with pytest.raises(InvalidStatus) as refused:
        await _hello_answer(f"ws://{rebound}/", origin=f"http://{rebound}", host="127.0.0.1", port=hub.port)
    assert refused.value.response.status_code == 403


async def test_the_hubs_own_origin_and_programs_without_one_are_admitted(hub):
    own = f"http://127.0.0.1:{hub.port}"
    assert (await _hello_answer(hub.url, origin=own))["type"] == "welcome"
    assert (await _hello_answer(hub.url))["type"] == "welcome"


async def test_listed_origins_are_admitted():
    async with Hub("127.0.0.1", 0, allowed_origins=["https://chat.example.com"]) as hub:
        assert (await _hello_answer(hub.url, origin="https://chat.example.com"))["type"] == "welcome"
        with pytest.raises(InvalidStatus):
            await _hello_answer(hub.url, origin="https://other.example.com")


def test_serve_allow_origin_option(processes):
    hub = processes("serve", "--port", "0", "--allow-origin", "https://chat.example.com")
    port = hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1)

    async def check() -> None:
        url = f"ws://127.0.0.1:{port}/"
        assert (await _hello_answer(url, origin="https://chat.example.com"))["type"] == "welcome"
        with pytest.raises(InvalidStatus):
            await _hello_answer(url, origin="http://evil.example")

    asyncio.run(check())


def test_serve_refuses_a_malformed_origin(processes):
    hub = processes("serve", "--port", "0", "--allow-origin", "chat.example.com")
    hub.wait_for(r"--allow-origin: expected an origin")
    assert hub.proc.wait(10) == 2
