"""UI fixtures and helpers: an OzChatApp joined to the test hub, and ways to wait on what it shows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot

from ozchat import OzWebClient
from ozchat.avatars import AvatarService
from ozchat.hub import Hub
from ozchat.tui.app import Join, OzChatApp
from ozchat.tui.widgets import ChatLog, PeopleList

FIXED_TIME = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)
SIZE = (120, 40)  # the terminal most UI tests run in

Connected = TypeVar("Connected", bound=tuple[OzWebClient, Any])


def fixed_clock() -> datetime:
    return FIXED_TIME


async def until(pilot, predicate: Callable[[], object], timeout: float | None = 30.0) -> None:
    """Let the app run until `predicate()` holds; fail the test after `timeout` seconds.

    The timeout only turns a hang into a clear failure, well past what two busy cores need.

    `timeout=None` waits as long as it takes (the suite's own per-test limit still ends a hang):
    for work whose duration depends on the machine, such as hundreds of joins.
    """
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path, monkeypatch) -> None:
    """No UI test reads or writes the user's own settings.toml (a theme picked is saved there) or data (logs)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def make_app(
    address: str | None,
    nickname: str = "John",
    *,
    client: OzWebClient | None = None,
    line: str = "Webphone1",
    **options: Any,
) -> OzChatApp:
    """An app on the fixed clock whose worker joins `line` at `address` as `nickname`; `options` go to OzChatApp.

    With `address=None` it connects nowhere: it shows only the Messages a test posts to it.
    """
    client = client if client is not None else OzWebClient(ping_interval=None)
    join = Join(address, line, {"nickname": nickname}) if address is not None else None
    return OzChatApp(client, join=join, clock=fixed_clock, **options)


@pytest.fixture
def chat_app(hub: Hub) -> Callable[..., OzChatApp]:
    """`chat_app(nickname="John")`: an app whose worker joins Webphone1 on the test hub."""

    def _make(line: str = "Webphone1", *, avatars: AvatarService | None = None, **properties: object) -> OzChatApp:
        client = OzWebClient(ping_interval=None)
        return OzChatApp(client, join=Join(hub.url, line, dict(properties)), avatars=avatars, clock=fixed_clock)

    return _make


@asynccontextmanager
async def joined(app: OzChatApp, size: tuple[int, int] = SIZE) -> AsyncIterator[Pilot[None]]:
    """Run `app` at `size` until the hub has let its client in (it knows who it is on the line)."""
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.me is not None)
        yield pilot


def people_ids(app: OzChatApp) -> list[str | None]:
    """The phone numbers in the sidebar, in its order."""
    return [option.id for option in app.query_one(PeopleList).options]


async def listed(pilot, app: OzChatApp, connecting: Awaitable[Connected]) -> Connected:
    """Connect another client (`connect(...)`) and wait until the app's sidebar lists it."""
    connected = await connecting
    await until(pilot, lambda: connected[0].phone_number in people_ids(app))
    return connected


def chat_lines(app: OzChatApp, tab: str = "line") -> list[str]:
    """The text of every entry in a tab; none while the tab does not exist yet."""
    panes = app.query(f"#{tab}")
    return panes.first().chat.plain_lines if panes else []


def visible(chat: ChatLog) -> str:
    """A chat pane's text as it is on screen now."""
    return "\n".join(chat.render_line(y).text for y in range(chat.size.height))


def said(app: OzChatApp, text: str, tab: str = "line") -> bool:
    """Whether some entry of the tab contains `text`."""
    return any(text in line for line in chat_lines(app, tab))
