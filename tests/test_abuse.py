"""Flooding and slow readers: the offender is limited or dropped, everyone else carries on."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, ClientStatus, OzWebClient
from ozchat.hub import Hub
from ozchat.hub.limits import RateLimit, TokenBucket

from relay import Relay


def test_token_bucket_allows_bursts_then_the_rate():
    bucket = TokenBucket(RateLimit(rate=2, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.25) is False
    assert bucket.take(0.5) is True
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]


async def test_flooding_client_gets_rate_limited_errors():
    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(rate=5, burst=4)) as hub:  # the hello is one of the 4
        bystander = OzWebClient(ping_interval=None)
        heard: list[str] = []
        bystander.on_message_received(lambda m: heard.append(m.text))
        await bystander.connect(hub.url, "Webphone1", {"nickname": "Calm"})
        async with ws_connect(hub.url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": "Flood"}}))
            for i in range(10):
                await ws.send(json.dumps({"type": "send", "text": f"spam {i}", "id": f"s{i}"}))
            answers: dict[str, str] = {}
            while len(answers) < 10:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame["type"] in ("ack", "error"):
                    answers[frame["id"]] = frame.get("code", "ack")
        assert [answers[f"s{i}"] for i in range(3)] == ["ack"] * 3
        assert set(answers[f"s{i}"] for i in range(3, 10)) == {"rate_limited"}
        await bystander.send_message("unbothered")
        assert heard == ["spam 0", "spam 1", "spam 2", "unbothered"]
        await bystander.disconnect()


async def test_a_client_that_stops_reading_is_dropped_without_slowing_others():
    async with Hub("127.0.0.1", 0, max_pending_frames=50, grace=0, close_timeout=0.5) as hub:
        sender, watcher = (OzWebClient(ping_interval=None, reconnect=False) for _ in range(2))
        got: list[ChatMessage] = []
        watcher.on_message_received(got.append)
        gone = asyncio.Event()
        watcher.on_client_state_changed(
            lambda info: gone.set() if info.status is ClientStatus.OFFLINE and info.nickname == "Sleeper" else None
        )
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        sleeper = await _hello_then_never_read(hub.port, "Sleeper")
        await sender.connect(hub.url, "Webphone1", {"nickname": "Sender"})
        text = "x" * 4000
        for _ in range(1500):  # ~6 MB: more than the kernel buffers hold for one socket
            await sender.send_message(text)
        await asyncio.wait_for(gone.wait(), 10)
        await asyncio.wait_for(_until(lambda: len(got) == 1500), 10)
        assert {info.nickname for info in watcher.roster} == {"Sender"}
        sleeper.close()
        await sender.disconnect()
        await watcher.disconnect()


async def _hello_then_never_read(port: int, nickname: str) -> socket.socket:
    """A WebSocket client done by hand on a socket with a tiny receive buffer, that never reads.

    Client libraries keep reading into their own queues; this one lets the kernel push back.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: no autotuning
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(sock, (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 1)  # byte by byte: read nothing past the handshake
    assert response.startswith(b"HTTP/1.1 101")
    payload = json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": nickname}}).encode()
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    await loop.sock_sendall(sock, bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.02)


async def test_the_client_paces_itself_when_rate_limited():
    """A burst over the limit is not lost: the client resends each refused frame a little later."""
    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(rate=50, burst=4)) as hub:
        sender, watcher = OzWebClient(ping_interval=None), OzWebClient(ping_interval=None)
        heard: list[str] = []
        watcher.on_message_received(lambda m: heard.append(m.text))
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        await sender.connect(hub.url, "Webphone1", {"nickname": "Burst"})
        sent = await asyncio.gather(*(sender.send_message(f"line {i}") for i in range(12)))
        await asyncio.wait_for(_until(lambda: len(heard) == 12), 10)
        assert sorted(heard) == sorted(f"line {i}" for i in range(12))
        assert len({m.seq for m in sent}) == 12
        await sender.disconnect()
        await watcher.disconnect()


async def _frames_until_synced(ws) -> list[dict]:
    frames: list[dict] = []
    while not frames or frames[-1]["type"] != "synced":
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    return frames


async def test_a_join_burst_larger_than_the_outbox_limit_is_delivered_whole():
    """Welcome, roster and replay are owed to a newcomer or resumer however many: no 4008 for them."""
    async with Hub("127.0.0.1", 0, max_pending_frames=5, grace=30) as hub, Relay(hub.port) as relay:
        present = [OzWebClient(ping_interval=None) for _ in range(8)]
        for number, client in enumerate(present):
            await client.connect(hub.url, "Big", {"nickname": f"P{number}"})
        async with ws_connect(relay.url, ping_interval=None) as dropped:
            await dropped.send(json.dumps({"type": "hello", "line": "Big", "properties": {"nickname": "Drop"}}))
            welcome = (await _frames_until_synced(dropped))[0]
            relay.cut()  # lost, not closed: the number is kept for the grace period
        for i in range(12):
            await present[0].send_message(f"m{i}")
        hellos = {
            "newcomer": {"type": "hello", "line": "Big", "properties": {"nickname": "New"}},
            "resumer": {"type": "hello", "line": "Big", "lastSeq": 0, "epoch": welcome["epoch"],
                        "resume": {"phoneNumber": welcome["phoneNumber"], "token": welcome["resumeToken"]}},
        }
        for who, hello in hellos.items():
            async with ws_connect(hub.url, ping_interval=None) as ws:
                await ws.send(json.dumps(hello))
                frames = await _frames_until_synced(ws)
                assert frames[0]["type"] == "welcome", who
                assert frames[0]["resumed"] is (who == "resumer")
                roster = {c["properties"]["nickname"] for f in frames if f["type"] == "presence" for c in f["clients"]}
                assert {f"P{n}" for n in range(8)} <= roster, who
                assert [f["text"] for f in frames if f["type"] == "message"] [:12] == [f"m{i}" for i in range(12)], who
                await ws.send(json.dumps({"type": "send", "text": f"{who} made it", "id": "x1"}))
                while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "ack":
                    pass
                assert frame["id"] == "x1"
        for client in present:
            await client.disconnect()


async def test_a_client_dropped_for_reading_too_slowly_keeps_its_number_for_the_grace_period():
    """4008 is an end the client did not start: others see nothing until the grace period ends."""
    async with Hub("127.0.0.1", 0, max_pending_frames=50, grace=60, close_timeout=0.5) as hub:
        sender, watcher = (OzWebClient(ping_interval=None, reconnect=False) for _ in range(2))
        heard: list[str] = []
        watcher.on_message_received(lambda message: heard.append(message.text))
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        sleeper = await _hello_then_never_read(hub.port, "Sleeper")
        await sender.connect(hub.url, "Webphone1", {"nickname": "Sender"})
        for _ in range(1500):  # ~6 MB: more than the kernel buffers hold for one socket
            await sender.send_message("x" * 4000)
        loop = asyncio.get_running_loop()
        try:
            while await asyncio.wait_for(loop.sock_recv(sleeper, 65536), 10):
                pass  # read to the end: the hub has dropped the sleeper then
        except ConnectionResetError:
            pass  # the hub gave up waiting for its close frame to get through and cut the connection
        sleeper.close()
        await sender.send_message("sentinel")
        await asyncio.wait_for(_until(lambda: "sentinel" in heard), 10)
        assert {info.nickname for info in watcher.roster} == {"Sender", "Sleeper"}
        await sender.disconnect()
        await watcher.disconnect()


async def test_a_client_that_sends_a_close_frame_but_keeps_tcp_open_is_offline_once_the_keepalive_cuts_it():
    async with Hub("127.0.0.1", 0, grace=60, close_timeout=0.5, ping_interval=0.5, ping_timeout=0.5) as hub:
        watcher = OzWebClient(ping_interval=None, reconnect=False)
        gone = asyncio.Event()
        watcher.on_client_state_changed(
            lambda info: gone.set() if info.status is ClientStatus.OFFLINE and info.nickname == "Lingerer" else None
        )
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        lingerer = await _hello_then_never_read(hub.port, "Lingerer")
        await _until(lambda: any(info.nickname == "Lingerer" for info in watcher.roster))
        mask = os.urandom(4)
        code = (1000).to_bytes(2, "big")
        await asyncio.get_running_loop().sock_sendall(
            lingerer, bytes([0x88, 0x80 | len(code)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(code))
        )
        await asyncio.wait_for(gone.wait(), 10)  # cut by the keepalive as a left client, not kept for the grace period
        lingerer.close()
        await watcher.disconnect()
