"""The hub's OzWebClient JavaScript library, run under Node against a real hub.

Node is `$OZCHAT_NODE`, else `node` on PATH; Node 20 gets `--experimental-websocket` (22 has
WebSocket by default). Without Node these tests skip, unless `OZCHAT_REQUIRE_NODE=1` (CI sets it):
then they fail. Each test talks to one Node process (tests/js/harness.mjs) in JSON lines and waits
for the events it expects.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from ozchat import OzWebClient
from ozchat.bundled_avatars import bundled_avatar
from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore
from ozchat.hub.limits import RateLimit
from ozchat.hub.store import MemoryStore
from ozchat.protocol import TYPING_INTERVAL, ChatMessage, ClientInfo, ClientStatus, TypingNotice

from conftest import Recorder
from relay import Relay

HARNESS = Path(__file__).parent / "js" / "harness.mjs"
WAIT = 15.0  # a bound on waiting for an event that should come, not a measured time


def node_command() -> list[str]:
    """How to run Node with a global WebSocket, or skip (fail where OZCHAT_REQUIRE_NODE=1) without it."""
    node = os.environ.get("OZCHAT_NODE") or shutil.which("node")
    problem = None
    if node is None:
        problem = "Node.js not found: install node (20 or later) or set OZCHAT_NODE to its path"
    else:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        found = re.match(r"v(\d+)\.", version)
        if found is None or int(found[1]) < 20:
            problem = f"Node.js 20 or later is needed for WebSocket, {node} is {version or 'not runnable'}"
        elif int(found[1]) < 22:
            return [node, "--experimental-websocket", "--no-warnings"]
        else:
            return [node]
    if os.environ.get("OZCHAT_REQUIRE_NODE") == "1":
        pytest.fail(problem)
    pytest.skip(problem)


class NodeClient:
    """The OzWebClient script in a Node process: commands in, events out, as JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._refs = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.events.append(json.loads(line))
            self._changed.set()
        self._changed.set()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event matching `predicate`, waiting for it if need be."""

        async def _wait() -> dict[str, Any]:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if self._reader.done():
                    raise AssertionError(f"node exited; it said: {self.events}")
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(_wait(), WAIT)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == kind]

    def tell(self, command: dict[str, Any]) -> str:
        self._refs += 1
        ref = f"r{self._refs}"
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"ref": ref, **command}) + "\n").encode())
        return ref

    async def call(self, command: dict[str, Any]) -> dict[str, Any]:
        """Run a command and wait for its reply."""
        ref = self.tell(command)
        return await self.wait_for(lambda event: event["event"] == "reply" and event["ref"] == ref)

    async def state(self, state: str, after: int = 0) -> dict[str, Any]:
        """The connection state change to `state` that follows `after` earlier ones to it."""

        def nth(event: dict[str, Any]) -> bool:
            same = [seen for seen in self.of("state") if seen["state"] == state]
            return len(same) > after and event is same[after]

        return await self.wait_for(nth)

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@pytest.fixture
async def nodes() -> AsyncIterator[Callable[[Hub], Awaitable[NodeClient]]]:
    """Start the script under Node, loaded from `hub`'s /ozwebclient.js: `js = await nodes(hub)`; ended after it."""
    command = node_command()
    started: list[NodeClient] = []

    async def _start(hub: Hub) -> NodeClient:
        process = await asyncio.create_subprocess_exec(
            *command, str(HARNESS), f"http://127.0.0.1:{hub.port}/ozwebclient.js",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        client = NodeClient(process)
        started.append(client)
        await client.wait_for(lambda event: event["event"] == "ready")
        return client

    yield _start
    for client in started:
        await client.close()


@pytest.fixture
async def lasting_hub() -> AsyncIterator[Hub]:
    """A hub with a grace period far longer than any test waits: an OFFLINE seen in a test was a close frame."""
    async with Hub("127.0.0.1", 0, ping_interval=0.5, ping_timeout=0.5, grace=300.0) as running:
        yield running


def js_address(hub_or_relay: Hub | Relay) -> str:
    return f"127.0.0.1:{hub_or_relay.port}"


async def python_client(hub: Hub, **properties: Any) -> tuple[OzWebClient, Recorder]:
    client = OzWebClient(ping_interval=None)
    recorder = Recorder(client)
    await client.connect(hub.url, "Webphone1", properties)
    return client, recorder


async def test_the_hub_serves_the_script_as_javascript_with_nosniff_and_revalidation(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    loaded = js.of("loaded")[0]
    assert loaded["status"] == 200
    assert loaded["contentType"] == "text/javascript; charset=utf-8"
    assert loaded["nosniff"] == "nosniff"
    assert loaded["cacheControl"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', loaded["etag"])


async def test_connect_is_access_granted_with_a_phone_number_and_the_avatar_url_of_the_hub(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    reply = await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
    assert reply["result"] == "ACCESS_GRANTED"
    granted = await js.state("ACCESS_GRANTED")
    assert re.fullmatch(r"[A-Za-z0-9]{5}", granted["details"]["phoneNumber"])
    assert granted["details"]["resumed"] is False
    roster = (await js.call({"do": "roster"}))["result"]
    assert roster == {
        "phoneNumber": granted["details"]["phoneNumber"], "state": "ACCESS_GRANTED", "clients": [],
        "avatar": f"http://127.0.0.1:{hub.port}/avatars/cat",
    }


async def test_a_bad_token_is_access_denied_and_the_right_one_granted(nodes) -> None:
    async with Hub("127.0.0.1", 0, token="s3cret") as hub:
        wrong, right, later = await nodes(hub), await nodes(hub), await nodes(hub)
        wrong.tell({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Eve"}, "guess"]})
        right.tell({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}, "s3cret"]})
        denied = await wrong.state("ACCESS_DENIED")
        assert denied["details"]["code"] == "bad_token"
        await right.state("ACCESS_GRANTED")
        assert wrong.of("state") == [denied]
        await right.call({"do": "send", "text": "one"})
        await right.call({"do": "send", "text": "two"})
        # The fourth argument as an object: the token, and how many earlier messages to replay.
        options = {"token": "s3cret", "history": 1}
        later.tell({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Ann"}, options]})
        await later.wait_for(lambda event: event["event"] == "synced")
        assert [(m["message"]["text"], m["message"]["history"]) for m in later.of("message")] == [("two", True)]


async def test_nothing_listening_is_connection_failed(nodes, hub: Hub) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    js = await nodes(hub)
    reply = await js.call({"do": "connect", "args": [f"127.0.0.1:{port}", "Webphone1", {"nickname": "Mary"}]})
    assert reply["result"] == "CONNECTION_FAILED"
    assert [event["state"] for event in js.of("state")] == ["CONNECTION_FAILED"]
    # Told from the refused dial itself, not from the wait for a welcome that never comes.
    assert js.of("state")[0]["details"]["reason"].startswith("cannot reach the hub")


async def test_the_classic_example_john_is_online_then_offline(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}], "read": ["nickname"]})
    john, _ = await python_client(hub, nickname="John")
    online = await js.wait_for(lambda event: event["event"] == "client")
    assert f"{online['reads']['nickname']} is {online['status']}" == "John is ONLINE"
    assert online["phoneNumber"] == john.phone_number
    await john.disconnect()
    offline = await js.wait_for(lambda event: event["event"] == "client" and event["status"] == "OFFLINE")
    assert f"{offline['reads']['nickname']} is {offline['status']}" == "John is OFFLINE"


async def test_shared_properties_are_flattened_and_read_ignoring_case(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({
        "do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}],
        "read": ["nickname", "NICKNAME", "avatar", "Avatar", "mood", "status", "polluted"],
    })
    await python_client(hub, NickName="John", AVATAR="cat", status="busy", __proto__={"polluted": "yes"})
    info = await js.wait_for(lambda event: event["event"] == "client")
    assert info["reads"]["nickname"] == info["reads"]["NICKNAME"] == "John"
    assert info["reads"]["avatar"] == info["reads"]["Avatar"] == "cat"
    assert info["reads"]["mood"] is None and info["has"]["mood"] is False
    assert info["has"]["nickname"] is True
    # The presence status wins over a shared property of that name, which stays in `properties`.
    assert info["reads"]["status"] == "ONLINE"
    # A property named like Object.prototype's own is data in `properties`, never the object's prototype.
    assert info["reads"]["polluted"] is None
    shared = {"NickName": "John", "AVATAR": "cat", "status": "busy", "__proto__": {"polluted": "yes"}}
    assert info["properties"] == shared


async def test_messages_both_ways_line_and_direct(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
    mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
    john, events = await python_client(hub, nickname="John")
    await john.send_message("hi all <b>")
    await john.send_message("psst", to=mary)
    line = await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "hi all <b>")
    assert line["message"]["from"] == john.phone_number and line["message"]["nickname"] == "John"
    assert line["message"]["direct"] is False
    direct = await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "psst")
    assert direct["message"]["to"] == mary and direct["message"]["direct"] is True
    assert direct["message"]["directSeq"] == 1

    sent = await js.call({"do": "send", "text": "hello John"})
    assert sent["ok"] and sent["result"]["text"] == "hello John" and sent["result"]["nickname"] == "Mary"
    whisper = await js.call({"do": "send", "text": "just you", "to": john.phone_number})
    assert whisper["result"]["to"] == john.phone_number and whisper["result"]["directSeq"] == 2  # Mary's second
    seen = await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "just you")
    assert seen.to == john.phone_number and seen.sender == mary
    assert [e.text for e in events.of_type(ChatMessage) if e.sender == mary] == ["hello John", "just you"]

    refused = await js.call({"do": "send", "text": "x", "to": "ZZZZZ"})
    assert refused["ok"] is False and refused["code"] == "unknown_recipient"


async def test_update_properties_reaches_the_python_side(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    _john, events = await python_client(hub, nickname="John")
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}], "read": ["away"]})
    mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
    updated = await js.call({"do": "update", "properties": {"away": "lunch"}})
    assert updated["result"]["reads"] == {"away": "lunch"}
    assert updated["result"]["properties"] == {"nickname": "Mary", "away": "lunch"}
    seen = await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == mary and e.get("away"))
    assert seen.away == "lunch" and seen.nickname == "Mary"


async def test_disconnect_closes_with_1000_and_python_sees_offline_at_once(
    lasting_hub: Hub, nodes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ozchat.hub")
    js = await nodes(lasting_hub)
    _john, events = await python_client(lasting_hub, nickname="John")
    await js.call({"do": "connect", "args": [js_address(lasting_hub), "Webphone1", {"nickname": "Mary"}]})
    mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
    await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == mary)
    await js.call({"do": "disconnect"})
    closed = await js.state("CONNECTION_CLOSED")
    assert closed["details"] == {"code": 1000, "reason": "disconnected"}
    # The grace period is 300 s: OFFLINE within the wait means the hub took the close as leaving.
    await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == mary
                          and e.status is ClientStatus.OFFLINE)
    assert f"{mary} disconnected from line 'Webphone1' (code 1000)" in caplog.messages
    assert (await js.call({"do": "roster"}))["result"]["state"] == "CONNECTION_CLOSED"
    refused = await js.call({"do": "send", "text": "too late"})
    assert refused["code"] == "not_connected"


async def test_a_dropped_socket_resumes_the_number_and_misses_nothing(lasting_hub: Hub, nodes) -> None:
    async with Relay(lasting_hub.port) as relay:
        js = await nodes(lasting_hub)
        john, events = await python_client(lasting_hub, nickname="John")
        await js.call({"do": "connect", "args": [js_address(relay), "Webphone1", {"nickname": "Mary"}]})
        mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
        await john.send_message("before")
        await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "before")

        relay.hold()  # the reconnect waits at the relay until the messages below are sent
        relay.cut()
        dropped = await js.state("CONNECTION_CLOSED")
        assert dropped["details"]["retrying"] is True
        await john.send_message("while away")
        await john.send_message("to you while away", to=mary)
        queued = js.tell({"do": "send", "text": "typed while away"})
        relay.release()

        resumed = await js.state("ACCESS_GRANTED", after=1)
        assert resumed["details"] == {"phoneNumber": mary, "resumed": True, "historyReset": False}
        ack = await js.wait_for(lambda event: event["event"] == "reply" and event["ref"] == queued)
        assert ack["ok"] is True
        await john.send_message("after")
        await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "after")
        await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "typed while away")

    texts = [event["message"]["text"] for event in js.of("message")]
    assert texts == ["before", "while away", "to you while away", "typed while away", "after"]
    assert [e.text for e in events.of_type(ChatMessage)].count("typed while away") == 1
    # Nobody saw Mary go: no presence change about her after she joined.
    assert [e.status for e in events.of_type(ClientInfo) if e.phone_number == mary] == [ClientStatus.ONLINE]


async def test_server_addresses_are_read_as_ozeki_reads_them_and_avatars_resolved_safely(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [f"ws://127.0.0.1:{hub.port}/", "Webphone1", {"nickname": "Mary"}]})
    urls = (await js.call({
        "do": "urls",
        "servers": ["localhost", "example.org:8080", "[::1]:9000", "::1", "wss://hub.example/chat", "http://x", "a:b"],
        "avatars": ["cat", "3f9c.png", "https://pics.example/1.png", "javascript:alert(1)", "../etc", "a b"],
    }))["result"]
    assert urls["servers"] == [
        "ws://localhost:7779/", "ws://example.org:8080/", "ws://[::1]:9000/", "ws://[::1]:7779/",
        "wss://hub.example/chat", {"error": "not a ws:// or wss:// address: http://x"},
        {"error": "bad port in server address a:b"},
    ]
    on_https = (await js.call({"do": "urls", "page": "https://hub.example:8443/line/x", "servers": ["localhost", ""]}))
    assert on_https["result"]["servers"] == ["wss://localhost:7779/", "wss://hub.example:8443/"]
    on_http = (await js.call({"do": "urls", "page": "http://hub.example/", "servers": ["localhost:80", None]}))
    assert on_http["result"]["servers"] == ["ws://localhost:80/", "ws://hub.example/"]
    nowhere = (await js.call({"do": "urls", "servers": [""]}))["result"]["servers"]
    assert nowhere == [{"error": "an empty server address"}]
    base = f"http://127.0.0.1:{hub.port}/avatars/"
    assert urls["avatars"] == [base + "cat", base + "3f9c.png", "https://pics.example/1.png", None, None, None]


async def test_an_uploaded_avatar_is_named_by_the_hub_and_served(tmp_path: Path, nodes) -> None:
    async with Hub("127.0.0.1", 0, uploads=UploadStore(tmp_path / "uploads")) as hub:
        js = await nodes(hub)
        await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
        png = bundled_avatar("fox")
        assert png is not None
        uploaded = await js.call({"do": "upload", "base64": base64.b64encode(png).decode()})
        name = uploaded["result"]
        assert re.fullmatch(r"[0-9a-f]{32}\.png", name)
        async with httpx.AsyncClient() as http:
            served = await http.get(f"http://127.0.0.1:{hub.port}/avatars/{name}")
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        refused = await js.call({"do": "upload", "base64": base64.b64encode(b"not an image").decode()})
        assert refused["ok"] is False and refused["code"] == "not_an_image"


async def test_typing_goes_both_ways_and_is_sent_once_while_keys_are_pressed(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
    mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
    john, events = await python_client(hub, nickname="John")
    await js.wait_for(lambda event: event["event"] == "client" and event["phoneNumber"] == john.phone_number)
    sent = [(await js.call({"do": "typing", "to": None}))["result"] for _ in range(3)]
    assert sent == [True, False, False]  # one frame, however many keys, within the refresh time
    notice = await events.wait_for(lambda e: isinstance(e, TypingNotice))
    assert notice.sender == mary and notice.to is None and notice.stopped is False
    assert (await js.call({"do": "typing", "to": None, "stopped": True}))["result"] is True
    assert (await js.call({"do": "typing", "to": None, "stopped": True}))["result"] is False  # only after a typing
    await events.wait_for(lambda e: isinstance(e, TypingNotice) and e.stopped)

    await john.send_typing(to=mary)
    seen = await js.wait_for(lambda event: event["event"] == "typing")
    assert seen == {"event": "typing", "from": john.phone_number, "to": mary, "stopped": False}

    # Typing is never acknowledged, so the hub's error about it answers no request: onErrorOccured hears it.
    assert (await js.call({"do": "typing", "to": "ZZZZZ"}))["result"] is True
    error = await js.wait_for(lambda event: event["event"] == "error")
    assert error["error"]["code"] == "unknown_recipient"


async def test_create_client_makes_a_second_independent_client(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}], "read": ["nickname"]})
    twin = (await js.call({"do": "twin", "args": [js_address(hub), "Webphone1", {"Nickname": "Ann"}]}))["result"]
    assert twin["state"] == "ACCESS_GRANTED" and twin["constants"] == ["ACCESS_GRANTED", "OFFLINE"]
    assert twin["me"]["phoneNumber"] == twin["phoneNumber"] and twin["me"]["status"] == "ONLINE"
    seen = await js.wait_for(lambda event: event["event"] == "client")
    assert (seen["phoneNumber"], seen["reads"]["nickname"]) == (twin["phoneNumber"], "Ann")
    mary = (await js.call({"do": "roster"}))["result"]
    assert mary["phoneNumber"] != twin["phoneNumber"]
    assert [state["state"] for state in js.of("state")] == ["ACCESS_GRANTED"]  # the twin's states are its own
    assert [state["state"] for state in js.of("twin-state")] == ["ACCESS_GRANTED"]


async def test_the_script_is_revalidated_by_its_etag(hub: Hub) -> None:
    url = f"http://127.0.0.1:{hub.port}/ozwebclient.js"
    async with httpx.AsyncClient() as http:
        first = await http.get(url)
        again = await http.get(url, headers={"If-None-Match": first.headers["etag"]})
        other = await http.get(url, headers={"If-None-Match": '"0"'})
    assert first.status_code == 200 and b"OzWebClient" in first.content
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert other.status_code == 200 and other.content == first.content


async def test_messages_the_hub_rate_limited_are_sent_again_until_each_is_taken_once(nodes) -> None:
    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(rate=5, burst=4)) as hub:
        js = await nodes(hub)
        _john, events = await python_client(hub, nickname="John")
        await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
        refs = [js.tell({"do": "send", "text": f"burst {n}"}) for n in range(8)]
        replies = [await js.wait_for(lambda e, ref=ref: e["event"] == "reply" and e["ref"] == ref) for ref in refs]
        assert [reply["ok"] for reply in replies] == [True] * 8
        last = max(reply["result"]["seq"] for reply in replies)
        await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.seq == last)
    burst = sorted(e.text for e in events.of_type(ChatMessage) if e.text.startswith("burst"))
    assert burst == [f"burst {n}" for n in range(8)]


async def test_back_after_the_grace_period_is_a_new_number_and_everyone_saw_it_leave(hub: Hub, nodes) -> None:
    async with Relay(hub.port) as relay:
        js = await nodes(hub)
        john, events = await python_client(hub, nickname="John")
        await js.call({"do": "connect", "args": [js_address(relay), "Webphone1", {"nickname": "Mary"}]})
        mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
        await js.wait_for(lambda event: event["event"] == "client" and event["phoneNumber"] == john.phone_number)
        relay.hold()
        relay.cut()
        # The test hub's grace period is 1 s: John sees Mary leave, then she may come back.
        await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == mary
                              and e.status is ClientStatus.OFFLINE)
        relay.release()
        back = await js.state("ACCESS_GRANTED", after=1)
        assert back["details"]["resumed"] is False and back["details"]["phoneNumber"] != mary
        again = await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Mary"
                                      and e.phone_number != mary)
        assert again.status is ClientStatus.ONLINE
        await js.wait_for(lambda event: len(js.of("synced")) == 2)  # the roster is whole again
        roster = (await js.call({"do": "roster"}))["result"]
        assert roster["phoneNumber"] == back["details"]["phoneNumber"]
        assert [client["phoneNumber"] for client in roster["clients"]] == [john.phone_number]
        # John was there all along: the reconnect told nothing about him.
        assert [e["phoneNumber"] for e in js.of("client")] == [john.phone_number]


async def test_typing_again_after_a_stop_goes_out_once_the_hub_would_relay_it(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "clock", "ms": 0})  # the script's typing is timed by this clock, moved by the test
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
    john, events = await python_client(hub, nickname="John")
    await js.wait_for(lambda event: event["event"] == "client" and event["phoneNumber"] == john.phone_number)
    assert (await js.call({"do": "typing", "to": None}))["result"] is True
    assert (await js.call({"do": "typing", "to": None, "stopped": True}))["result"] is True
    # Within the hub's second since the last typing it relayed, a typing would be dropped: none goes out.
    assert (await js.call({"do": "typing", "to": None}))["result"] is False
    await events.wait_for(lambda e: isinstance(e, TypingNotice) and e.stopped)
    # John heard the first typing before the stop, so the hub relayed it before now: a second here
    # is a second at the hub too.
    await asyncio.sleep(TYPING_INTERVAL)
    await js.call({"do": "advance", "ms": int(TYPING_INTERVAL * 1000) - 1})
    assert (await js.call({"do": "typing", "to": None}))["result"] is False
    await js.call({"do": "advance", "ms": 1})
    assert (await js.call({"do": "typing", "to": None}))["result"] is True
    await events.wait_for(lambda e: len(events.of_type(TypingNotice)) == 3)
    assert [notice.stopped for notice in events.of_type(TypingNotice)] == [False, True, False]


async def test_sending_a_message_ends_the_senders_typing_there_first(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
    john, events = await python_client(hub, nickname="John")
    await js.wait_for(lambda event: event["event"] == "client" and event["phoneNumber"] == john.phone_number)
    assert (await js.call({"do": "typing", "to": john.phone_number}))["result"] is True
    await js.call({"do": "send", "text": "done typing", "to": john.phone_number})
    await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "done typing")
    heard = [("stopped" if e.stopped else "typing") if isinstance(e, TypingNotice) else e.text
             for e in events.events if isinstance(e, TypingNotice | ChatMessage)]
    assert heard == ["typing", "stopped", "done typing"]
    # The message's stop was sent: another has no typing to end.
    assert (await js.call({"do": "typing", "to": john.phone_number, "stopped": True}))["result"] is False


async def test_synced_follows_the_snapshot_and_history_and_connect_twice_rejects(hub: Hub, nodes) -> None:
    john, _ = await python_client(hub, nickname="John")
    earlier = await john.send_message("earlier")
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}], "read": ["nickname"]})
    synced = await js.wait_for(lambda event: event["event"] == "synced")
    assert synced["lastSeq"] == earlier.seq
    heard = [event["event"] for event in js.events if event["event"] in ("client", "message", "synced")]
    assert heard == ["client", "message", "synced"]  # John, then the replayed message, then synced
    john_info = js.of("client")[0]
    assert john_info["reads"]["nickname"] == "John" and john_info["frozen"] is True
    again = await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Ann"}]})
    assert again["ok"] is False and again["message"] == "already connected; disconnect first"
    assert [state["state"] for state in js.of("state")] == ["ACCESS_GRANTED"]  # the first connection goes on


async def test_update_with_null_removes_a_property_and_an_action_reaches_python_as_one(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    _john, events = await python_client(hub, nickname="John")
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary", "away": "lunch"}]})
    mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
    updated = await js.call({"do": "update", "properties": {"AWAY": None}})  # names matched ignoring case
    assert updated["result"]["properties"] == {"nickname": "Mary"}
    seen = await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == mary
                                 and e.properties == {"nickname": "Mary"})
    assert seen.status is ClientStatus.ONLINE
    sent = await js.call({"do": "send", "text": "waves", "options": {"action": True}})
    assert sent["result"]["action"] is True
    heard = await events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "waves")
    assert heard.action is True and heard.sender == mary
    echo = await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "waves")
    assert echo["message"]["action"] is True


async def test_a_reconnect_the_hub_refuses_gives_up_with_access_denied(hub: Hub, nodes) -> None:
    async with Relay(hub.port) as relay:
        js = await nodes(hub)
        _john, events = await python_client(hub, nickname="John")
        await js.call({"do": "connect", "args": [js_address(relay), "Webphone1", {"nickname": "Mary"}]})
        mary = (await js.call({"do": "roster"}))["result"]["phoneNumber"]
        relay.hold()
        relay.cut()
        await js.state("CONNECTION_CLOSED")
        # The test hub's grace period is 1 s: Mary is gone, and someone else takes her nickname.
        await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == mary
                              and e.status is ClientStatus.OFFLINE)
        await python_client(hub, nickname="Mary")
        relay.release()
        denied = await js.state("ACCESS_DENIED")
        assert denied["details"]["code"] == "nickname_in_use"
        assert [state["state"] for state in js.of("state")] == ["ACCESS_GRANTED", "CONNECTION_CLOSED", "ACCESS_DENIED"]
        # Given up: a message is refused at once, where a client still reconnecting would keep it.
        refused = await js.call({"do": "send", "text": "anyone?"})
        assert refused["code"] == "not_connected"


async def test_after_a_resume_only_real_changes_are_told_departures_first(lasting_hub: Hub, nodes) -> None:
    async with Relay(lasting_hub.port) as relay:
        js = await nodes(lasting_hub)
        _stays, _ = await python_client(lasting_hub, nickname="Stays")
        leaves, _ = await python_client(lasting_hub, nickname="Leaves")
        changes, _ = await python_client(lasting_hub, nickname="Changes")
        await js.call({"do": "connect", "args": [js_address(relay), "Webphone1", {"nickname": "Mary"}],
                       "read": ["nickname", "away"]})
        await js.wait_for(lambda event: event["event"] == "synced")
        assert sorted(event["reads"]["nickname"] for event in js.of("client")) == ["Changes", "Leaves", "Stays"]
        relay.hold()
        relay.cut()
        await js.state("CONNECTION_CLOSED")
        await python_client(lasting_hub, nickname="Arrives")
        await changes.update_properties({"away": "lunch"})
        await leaves.disconnect()
        relay.release()
        resumed = await js.state("ACCESS_GRANTED", after=1)
        assert resumed["details"]["resumed"] is True
        await js.wait_for(lambda event: len(js.of("synced")) == 2)
        told = [(e["reads"]["nickname"], e["status"], e["reads"]["away"]) for e in js.of("client")[3:]]
        assert told == [("Leaves", "OFFLINE", None), ("Changes", "ONLINE", "lunch"), ("Arrives", "ONLINE", None)]


async def test_back_on_a_hub_that_lost_its_history_is_history_reset_and_misses_nothing(
    unused_tcp_port: int, nodes
) -> None:
    async with Relay(unused_tcp_port) as relay:
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), ping_interval=None) as first:
            js = await nodes(first)
            await js.call({"do": "connect", "args": [js_address(relay), "Webphone1", {"nickname": "Mary"}]})
            bob, _ = await python_client(first, nickname="Bob")
            await bob.send_message("old")
            await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "old")
            relay.hold()  # Mary's reconnects wait at the door while the new hub fills up
            await bob.disconnect()
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), ping_interval=None) as second:
            carol, _ = await python_client(second, nickname="Carol")
            await carol.send_message("new")
            relay.release()
            back = await js.state("ACCESS_GRANTED", after=1)
            assert back["details"]["historyReset"] is True
            await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "new")
            await carol.disconnect()
    assert [(m["message"]["text"], m["message"]["seq"]) for m in js.of("message")] == [("old", 1), ("new", 1)]
    assert [s["details"]["historyReset"] for s in js.of("state") if s["state"] == "ACCESS_GRANTED"] == [False, True]


async def test_messages_the_hub_no_longer_has_are_told_as_a_gap(nodes) -> None:
    async with Hub("127.0.0.1", 0, store=MemoryStore(keep_messages=5)) as hub, Relay(hub.port) as relay:
        js = await nodes(hub)
        await js.call({"do": "connect", "args": [js_address(relay), "Webphone1", {"nickname": "Mary"}]})
        bob, _ = await python_client(hub, nickname="Bob")
        seen = await bob.send_message("seen")
        await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "seen")
        relay.hold()  # Mary's resume waits at the door until the burst is over
        relay.cut()
        for n in range(20):
            await bob.send_message(f"burst {n}")
        relay.release()
        gap = await js.wait_for(lambda event: event["event"] == "gap")
        assert (gap["afterSeq"], gap["beforeSeq"], gap["direct"]) == (seen.seq, seen.seq + 16, False)
        await js.wait_for(lambda event: event["event"] == "message" and event["message"]["text"] == "burst 19")
        await bob.disconnect()
    assert [m["message"]["text"] for m in js.of("message")] == ["seen"] + [f"burst {n}" for n in range(15, 20)]


async def test_a_newer_connection_taking_over_ends_it_with_4009_and_no_retry(hub: Hub, nodes) -> None:
    js = await nodes(hub)
    await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
    welcome = (await js.call({"do": "welcome"}))["result"]
    # Another connection resumes Mary's number with her resume token: the hub closes hers with 4009.
    async with ws_connect(hub.url) as newer:
        await newer.send(json.dumps({"type": "hello", "version": 1, "line": "Webphone1", "resume": {
            "phoneNumber": welcome["phoneNumber"], "token": welcome["resumeToken"]}}))
        again = json.loads(await newer.recv())
        assert again["type"] == "welcome" and again["resumed"] is True
        closed = await js.state("CONNECTION_CLOSED")
        assert closed["details"]["code"] == 4009 and "retrying" not in closed["details"]
        refused = await js.call({"do": "send", "text": "still here?"})
        assert refused["code"] == "not_connected"
        assert [state["state"] for state in js.of("state")] == ["ACCESS_GRANTED", "CONNECTION_CLOSED"]


class _HubLogSentinel(logging.Handler):
    """Set once the in-process hub logs a line holding `text` (the hub runs on the test's own loop)."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
async def redis_hub(redis_server) -> AsyncIterator[tuple[Hub, Any]]:
    """A hub in this process sharing its lines through a real redis-server (which a test may stop)."""
    async with Hub("127.0.0.1", 0, redis_url=redis_server.url) as running:
        yield running, redis_server


async def test_a_first_connection_answered_store_failed_is_connection_failed_not_access_denied(
    redis_hub, nodes
) -> None:
    hub, redis_server = redis_hub
    js = await nodes(hub)
    await asyncio.to_thread(redis_server.stop)
    reply = await js.call({"do": "connect", "args": [js_address(hub), "Webphone1", {"nickname": "Mary"}]})
    assert reply["result"] == "CONNECTION_FAILED"
    [failed] = js.of("state")
    assert failed["details"]["reason"].startswith("the hub cannot let anyone in for now")


async def test_a_reconnect_answered_store_failed_keeps_trying_until_redis_is_back(redis_hub, nodes, caplog) -> None:
    hub, redis_server = redis_hub
    refused = _HubLogSentinel("from Redis for a hello")
    caplog.set_level(logging.DEBUG, logger="ozchat.hub")
    logging.getLogger("ozchat.hub").addHandler(refused)
    try:
        async with Relay(hub.port) as relay:
            js = await nodes(hub)
            await js.call({"do": "connect", "args": [js_address(relay), "Webphone1", {"nickname": "Mary"}]})
            await asyncio.to_thread(redis_server.stop)
            relay.cut()
            await js.state("CONNECTION_CLOSED")
            await refused.seen.wait()  # a reconnect's hello was answered store_failed
            await asyncio.to_thread(redis_server.start)
            await js.wait_for(lambda _: len(js.of("state")) >= 3)
            assert [(s["state"], s["details"].get("retrying")) for s in js.of("state")] == [
                ("ACCESS_GRANTED", None), ("CONNECTION_CLOSED", True), ("ACCESS_GRANTED", None)
            ]
    finally:
        logging.getLogger("ozchat.hub").removeHandler(refused)
