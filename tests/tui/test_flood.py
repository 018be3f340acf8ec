"""A join storm: hundreds of presence events at once must not freeze typing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ozchat import OzWebClient
from ozchat.hub import Hub
from ozchat.tui.widgets import PeopleList

from .conftest import joined, said, until

CROWD = 500


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    """The usual test hub with the default keepalive: the crowd shares one busy process, and on a
    loaded machine its answers to pings come late; dropped guests would never all be listed."""
    async with Hub("127.0.0.1", 0, hello_timeout=2.0, close_timeout=0.5, grace=1.0) as running:
        yield running


async def test_five_hundred_joins_at_once_keep_the_app_responsive(hub, chat_app):
    app = chat_app(nickname="John")
    crowd = [OzWebClient(ping_interval=None, reconnect=False) for _ in range(CROWD)]
    people = None
    async with joined(app) as pilot:
        people = app.query_one(PeopleList)
        joins = asyncio.gather(
            *(client.connect(hub.url, "Webphone1", {"nickname": f"guest{i:03}"}) for i, client in enumerate(crowd))
        )
        await pilot.press(*"still typing")
        await joins
        await pilot.press(*" fine")
        await until(pilot, lambda: people.option_count == CROWD + 1, timeout=None)
        assert app.query_one("#composer").value == "still typing fine"
        assert people.border_title == f"People {CROWD + 1}"
        assert said(app, "others are ONLINE")
        # Sorted by nickname, and the sidebar follows as the crowd leaves again.
        assert [option.id for option in people.options[:2]] == [crowd[0].phone_number, crowd[1].phone_number]
        await asyncio.gather(*(client.disconnect() for client in crowd))
        await until(pilot, lambda: people.option_count == 1, timeout=None)
        assert people.options[0].id == app.me.phone_number
