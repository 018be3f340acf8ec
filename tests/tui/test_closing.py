"""Closing the app while workers still finish: what arrives once the screen is being torn down is dropped, no crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from avatars.helpers import AvatarServer, Request, head, quadrants
from avatars.helpers import encode as encode_image
from textual.message import Message
from textual.widget import Widget

from ozchat import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, Gap
from ozchat.protocol import ErrorFrame
from ozchat.tui.app import OzChatApp
from ozchat.tui.messages import (
    ChatReceived,
    ConnectionChanged,
    HistoryGap,
    HubErrorReceived,
    PresenceChanged,
    SystemNotice,
)
from ozchat.tui.widgets import PeopleList

from .conftest import FIXED_TIME, until
from .test_avatars_ui import service_for


@pytest.fixture
async def server() -> AsyncIterator[AvatarServer]:
    running = AvatarServer()
    await running.start()
    yield running
    await running.stop()


class TeardownWatch(Widget):
    """Mounted on the chat screen; as the screen is torn down, runs `late` once the people list is gone.

    The screen waits for this widget to unmount, so what `late` sets going reaches the app before it closes.
    """

    def __init__(self, sidebar: PeopleList, late: Callable[[OzChatApp], object]) -> None:
        super().__init__()
        self._sidebar = sidebar
        self._late = late
        self.ran = False

    async def on_unmount(self) -> None:
        app = self.app
        assert isinstance(app, OzChatApp)
        async with asyncio.timeout(10):
            while self._sidebar.is_attached:
                await asyncio.sleep(0.01)
            result = self._late(app)
            if asyncio.iscoroutine(result):
                await result
        self.ran = True


async def watch_teardown(app: OzChatApp, late: Callable[[OzChatApp], object]) -> TeardownWatch:
    watch = TeardownWatch(app.query_one(PeopleList), late)
    await app.screen.mount(watch)
    return watch


async def test_an_avatar_load_that_ends_while_the_app_closes_is_dropped(chat_app, connect, server, tmp_path):
    asked = asyncio.Event()
    release = asyncio.Event()
    image = encode_image(quadrants(), "PNG")

    async def held(request: Request, writer: asyncio.StreamWriter) -> None:
        asked.set()
        await release.wait()  # answered only once the app is closing
        writer.write(head("200 OK", {"Content-Type": "image/png", "Content-Length": str(len(image))}) + image)

    server.routes["/late.png"] = held

    async def release_and_wait_for_the_load(app: OzChatApp) -> None:
        release.set()
        # Its worker ends by posting AvatarLoaded to the app, which has not closed yet.
        while any(not worker.is_finished for worker in app.workers if worker.group == "avatars"):
            await asyncio.sleep(0.01)

    app = chat_app(nickname="John", avatars=service_for(server.host, tmp_path / "cache"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        await connect(nickname="Mary", avatar=server.url("/late.png"))
        await asyncio.wait_for(asked.wait(), 5)
        watch = await watch_teardown(app, release_and_wait_for_the_load)
    # Leaving run_test closed the app and raised nothing.
    assert watch.ran and server.count("/late.png") == 1
    assert all(worker.is_finished for worker in app.workers)


MARY = ClientInfo("M4ry0", ClientStatus.ONLINE, {"nickname": "Mary"})
LATE_MESSAGES: dict[str, Message] = {
    "connection": ConnectionChanged(ConnectionStateChanged(ConnectionState.ACCESS_GRANTED), me=MARY, line="Webphone1"),
    "dropped": ConnectionChanged(ConnectionStateChanged(ConnectionState.CONNECTION_CLOSED, retrying=True)),
    "presence": PresenceChanged((ClientInfo("B0bby", ClientStatus.ONLINE, {"nickname": "Bob"}),)),
    "chat": ChatReceived(ChatMessage(seq=1, ts=int(FIXED_TIME.timestamp() * 1000), sender="B0bby", text="hi")),
    "gap": HistoryGap(Gap(1, 5)),
    "notice": SystemNotice("a local hub started again"),
    "hub error": HubErrorReceived(ErrorFrame("rate_limited", "slow down")),
}


@pytest.mark.parametrize("kind", LATE_MESSAGES)
async def test_a_client_event_that_arrives_while_the_app_closes_is_dropped(chat_app, kind):
    """What the client's worker posts just before the app closes reaches it as the screen goes."""
    app = chat_app(nickname="John")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        watch = await watch_teardown(app, lambda late: late.post_message(LATE_MESSAGES[kind]))
    assert watch.ran
