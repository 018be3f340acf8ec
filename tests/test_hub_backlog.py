"""A burst of connections bigger than asyncio's default listen backlog (100) is queued whole, not left retrying."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from ozchat.hub import Hub

BURST = 300
TCP_ESTABLISHED = 1  # tcpi_state, the first byte of Linux's struct tcp_info


def _somaxconn() -> int:
    path = Path("/proc/sys/net/core/somaxconn")
    return int(path.read_text()) if path.exists() else 0


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or _somaxconn() < BURST,
    reason="reads TCP_INFO (Linux), and the kernel's own cap on a listen backlog must allow the burst",
)
async def test_a_burst_of_connections_is_established_before_the_hub_accepts_any(hub: Hub):
    # No await in between: the hub's loop accepts nothing, so each connection waits in its listen queue.
    clients = []
    for _ in range(BURST):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", hub.port))
        clients.append(client)
    try:
        states = [client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] for client in clients]
        assert states.count(TCP_ESTABLISHED) == BURST
        # The last of the burst is a working connection once the hub gets to it.
        async with connect(hub.url, sock=clients.pop(), ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "L", "properties": {"nickname": "Last"}}))
            assert json.loads(await ws.recv())["type"] == "welcome"
    finally:
        for client in clients:
            client.close()
