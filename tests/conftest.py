"""Fixtures shared by the whole suite: a real hub on 127.0.0.1 and real clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ozchat import OzWebClient
from ozchat.hub import Hub

from processes import processes  # noqa: F401  (a fixture, shared by the process tests)
from redis_server import join, redis_server, start_hub  # noqa: F401  (fixtures, for the hubs that share lines)
from relay import Relay


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    """A hub on a free loopback port, with a short keepalive so dropped sockets show fast."""
    async with Hub(
        "127.0.0.1", 0, ping_interval=0.5, ping_timeout=0.5, hello_timeout=2.0, close_timeout=0.5, grace=1.0
    ) as running:
        yield running


@pytest.fixture
async def relay(hub: Hub) -> AsyncIterator[Relay]:
    """A TCP relay to the test hub: `relay.cut()` drops connections with no close frame, `hold()` keeps them out."""
    async with Relay(hub.port) as running:
        yield running


class Recorder:
    """Collects a client's events and waits for the ones a test expects."""

    def __init__(self, client: OzWebClient) -> None:
        self.client = client
        self.events: list[Any] = []
        self._changed = asyncio.Event()
        client.on_connection_state_changed(self._add)
        client.on_client_state_changed(self._add)
        client.on_message_received(self._add)
        client.on_error(self._add)
        client.on_synced(self._add)
        client.on_gap(self._add)
        client.on_typing(self._add)

    def _add(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    def of_type(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 30.0) -> Any:
        """Return the first recorded event matching `predicate`, waiting for it if need be.

        The timeout only turns a missing event into a clear failure; two busy cores may take seconds.
        """

        async def _wait() -> Any:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(_wait(), timeout)


@pytest.fixture
async def connect(hub: Hub) -> AsyncIterator[Callable[..., Awaitable[tuple[OzWebClient, Recorder]]]]:
    """Connect a real OzWebClient to the test hub: `client, events = await connect(nickname="John")`."""
    clients: list[OzWebClient] = []

    async def _connect(
        line: str = "Webphone1", *, options: dict[str, Any] | None = None, **properties: Any
    ) -> tuple[OzWebClient, Recorder]:
        client = OzWebClient(**{"ping_interval": None, **(options or {})})
        recorder = Recorder(client)
        await client.connect(hub.url, line, properties)
        clients.append(client)
        return client, recorder

    yield _connect
    for client in clients:
        await client.disconnect()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # SVG snapshots are drawn by one Textual release: the lowest-versions CI run leaves them out.
    for item in items:
        if "snap_compare" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.snapshot)
