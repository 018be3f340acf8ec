"""UI fixtures: an OzChatApp joined to the test hub, and a way to wait on what it shows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from ozchat import OzWebClient
from ozchat.avatars import AvatarService
from ozchat.hub import Hub
from ozchat.tui.app import Join, OzChatApp

FIXED_TIME = datetime(2024, 5, 17, 9, 30, tzinfo=timezone.utc)


def fixed_clock() -> datetime:
    return FIXED_TIME


async def until(pilot, predicate: Callable[[], object], timeout: float | None = 5.0) -> None:
    """Let the app run until `predicate()` holds; fail the test after `timeout` seconds.

    `timeout=None` waits as long as it takes (the suite's own per-test limit still ends a hang):
    for work whose duration depends on the machine, such as hundreds of joins.
    """
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path, monkeypatch) -> None:
    """No UI test reads or writes the user's own settings.toml (a theme picked is saved there)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def chat_app(hub: Hub) -> Callable[..., OzChatApp]:
    """`chat_app(nickname="John")`: an app whose worker joins Webphone1 on the test hub."""

    def _make(line: str = "Webphone1", *, avatars: AvatarService | None = None, **properties: object) -> OzChatApp:
        client = OzWebClient(ping_interval=None)
        return OzChatApp(client, join=Join(hub.url, line, dict(properties)), avatars=avatars, clock=fixed_clock)

    return _make


def chat_lines(app: OzChatApp, tab: str = "line") -> list[str]:
    """The text of every entry in a tab; none while the tab does not exist yet."""
    panes = app.query(f"#{tab}")
    return panes.first().chat.plain_lines if panes else []
