"""A first connection that keeps trying: what it tries again, what it gives up on, and how it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from ozchat.client import ConnectionStateChanged, OzWebClient
from ozchat.exceptions import ConnectionClosed, ConnectionFailed
from ozchat.protocol import ConnectionState


class SilentListener:
    """A TCP listener that takes connections and never answers: an attempt to it hangs until stopped."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def __aenter__(self) -> SilentListener:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.accepted.put((reader, writer))

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        while not self.accepted.empty():
            self.accepted.get_nowait()[1].close()


def _recording(client: OzWebClient) -> list[ConnectionStateChanged]:
    changes: list[ConnectionStateChanged] = []
    client.on_connection_state_changed(changes.append)
    return changes


async def test_disconnect_during_an_attempt_cancels_it_closes_its_socket_and_ends_closed():
    async with SilentListener() as listener:
        client = OzWebClient(ping_interval=None, connect_timeout=600.0)
        changes = _recording(client)
        connecting = asyncio.create_task(
            client.connect(f"127.0.0.1:{listener.port}", "Webphone1", {"nickname": "Patient"}, keep_trying=True)
        )
        reader, _ = await asyncio.wait_for(listener.accepted.get(), 30)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"GET / HTTP/1.1")  # the attempt is mid-handshake
        await client.disconnect()
        with pytest.raises(ConnectionClosed):
            await connecting
        assert await asyncio.wait_for(reader.read(), 30) == b""  # the attempt's socket was closed
        assert [change.state for change in changes] == [ConnectionState.CONNECTION_CLOSED]


@pytest.fixture
async def odd_server() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start a WebSocket server on loopback that answers a handshake or a hello as a hub never would."""
    servers = []

    async def start(
        status: int | None = None, answer: str | None = None
    ) -> str:
        def process_request(connection: ServerConnection, request: Request) -> Response | None:
            if status is None:
                return None
            return connection.respond(HTTPStatus(status), "not a hub\n")

        async def handler(connection: ServerConnection) -> None:
            await connection.recv()
            await connection.send(answer or "")
            await connection.wait_closed()

        server = await serve(handler, "127.0.0.1", 0, process_request=process_request)
        servers.append(server)
        return f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("status", "answer", "said"),
    [
        (404, None, r"cannot reach ws://127\.0\.0\.1:\d+/: server rejected WebSocket connection: HTTP 404$"),
        (500, None, r"HTTP 500$"),
        (None, '{"type": "synced", "lastSeq": 0}', r"answered the hello with a Synced frame$"),
        (None, "not json", r"did not answer the hello: "),
    ],
)
async def test_keep_trying_gives_up_at_once_on_what_trying_again_cannot_mend(odd_server, status, answer, said):
    address = await odd_server(status, answer)
    client = OzWebClient(ping_interval=None)
    changes = _recording(client)
    with pytest.raises(ConnectionFailed, match=said) as failed:
        await client.connect(address, "Webphone1", {"nickname": "Hopeful"}, keep_trying=True)
    assert failed.value.permanent
    assert [(change.state, change.retrying) for change in changes] == [(ConnectionState.CONNECTION_FAILED, False)]


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_keep_trying_tries_a_hub_that_says_later_again(odd_server, status):
    address = await odd_server(status)
    client = OzWebClient(ping_interval=None, backoff_base=0.01, backoff_cap=0.01)
    changes = _recording(client)
    second = asyncio.Event()
    client.on_connection_state_changed(lambda change: "attempt 2;" in (change.reason or "") and second.set())
    connecting = asyncio.create_task(
        client.connect(address, "Webphone1", {"nickname": "Hopeful"}, keep_trying=True)
    )
    await asyncio.wait_for(second.wait(), 30)
    await client.disconnect()
    with pytest.raises(ConnectionClosed):
        await connecting
    assert all(change.retrying for change in changes[:-1])
    assert f"HTTP {status}" in (changes[0].reason or "")
    assert changes[-1].state is ConnectionState.CONNECTION_CLOSED
