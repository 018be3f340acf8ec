"""The typing line under the chat, with a real hub: who it names, when it goes, and what this chat sends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, TypingNotice
from ozchat.cli import build_parser
from ozchat.protocol import TYPING_SHOWN
from ozchat.settings import ChatSettings, load_settings
from ozchat.tui.app import OzChatApp
from ozchat.tui.texts import TYPING_HELP, help_text
from ozchat.tui.typing_hooks import counts_as_typing
from ozchat.tui.widgets import Composer, TypingIndicator
from ozchat.tui.widgets.typing_indicator import typing_text

from .conftest import joined, listed, make_app, said, until


def shown(app: OzChatApp) -> str:
    """The typing line as drawn: empty while it is hidden."""
    indicator = app.query_one(TypingIndicator)
    return str(indicator.render()) if indicator.display else ""


async def _raw(hub: Any, nickname: str) -> tuple[ClientConnection, str]:
    """A bare WebSocket joined to Webphone1, its frames up to synced read; its phone number."""
    ws = await ws_connect(hub.url, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": nickname}}))
    number = json.loads(await ws.recv())["phoneNumber"]
    while json.loads(await ws.recv())["type"] != "synced":
        pass
    return ws, number


class FakeTimers:
    """The typing line's clock and timer, moved on by the test: nothing waits on the wall clock."""

    def __init__(self, indicator: TypingIndicator) -> None:
        self.now = 1000.0
        self.due: list[tuple[float, Callable[[], None]]] = []
        indicator.clock = lambda: self.now
        indicator.schedule = lambda delay, callback: self.due.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        """Move the clock on and fire every timer due by then."""
        self.now += seconds
        for when, callback in [entry for entry in self.due if entry[0] <= self.now]:
            self.due.remove((when, callback))
            callback()


def test_the_typing_text_names_one_or_two_and_counts_more():
    assert typing_text([]) == ""
    assert typing_text(["Mary"]) == "Mary is typing…"
    assert typing_text(["Mary", "John"]) == "Mary and John are typing…"
    assert typing_text(["Mary", "John", "Ann"]) == "3 people are typing…"


async def test_someone_typing_is_named_under_the_chat_until_their_message_arrives(hub):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        FakeTimers(app.query_one(TypingIndicator))  # nobody's typing times out meanwhile
        ws, number = await _raw(hub, "Mary")
        await until(pilot, lambda: app.roster.get(number) is not None)
        assert shown(app) == ""
        await ws.send(json.dumps({"type": "typing"}))
        await until(pilot, lambda: shown(app) == "Mary is typing…")
        await ws.send(json.dumps({"type": "send", "text": "hello there"}))  # no `stopped`: the message ends it
        await until(pilot, lambda: said(app, "hello there"))
        assert shown(app) == ""
        await ws.close()


async def test_the_typing_line_goes_a_few_seconds_after_the_last_typing(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        timers = FakeTimers(app.query_one(TypingIndicator))
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        await mary.send_typing()
        await until(pilot, lambda: shown(app) == "Mary is typing…")
        assert [when for when, _ in timers.due] == [timers.now + TYPING_SHOWN]
        timers.advance(TYPING_SHOWN - 0.5)
        assert shown(app) == "Mary is typing…"
        timers.advance(0.5)
        assert shown(app) == "" and timers.due == []


async def test_two_typists_are_named_and_one_leaving_goes_at_once(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        FakeTimers(app.query_one(TypingIndicator))
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        ann, _ = await listed(pilot, app, connect(nickname="Ann"))
        await mary.send_typing()
        await until(pilot, lambda: shown(app) == "Mary is typing…")
        await ann.send_typing()
        await until(pilot, lambda: shown(app) == "Mary and Ann are typing…")
        mary_number = mary.phone_number
        await mary.disconnect()
        await until(pilot, lambda: app.roster.get(mary_number) is None)
        assert shown(app) == "Ann is typing…"


async def test_a_nickname_with_markup_is_shown_as_typed(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        FakeTimers(app.query_one(TypingIndicator))  # nobody's typing times out meanwhile
        eve, _ = await listed(pilot, app, connect(nickname="[b]Eve[/b] [@click=app.quit]x[/]"))
        await eve.send_typing()
        await until(pilot, lambda: shown(app) == "[b]Eve[/b] [@click=app.quit]x[/] is typing…")
        assert app.is_running


async def test_direct_typing_shows_in_its_tab_only(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        FakeTimers(app.query_one(TypingIndicator))  # nobody's typing times out meanwhile
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        assert app.me is not None
        await mary.send_typing(to=app.me.phone_number)
        await mary.send_message("sentinel")  # sends a `stopped` for the line, which Mary never typed in: none
        await until(pilot, lambda: said(app, "sentinel"))
        assert shown(app) == ""
        await app.open_conversation(mary.phone_number, activate=True)
        await until(pilot, lambda: shown(app) == "Mary is typing…")


async def test_each_line_shows_its_own_typists_and_my_typing_goes_to_the_line_shown(hub, connect):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        FakeTimers(app.query_one(TypingIndicator))
        await until(pilot, lambda: len(app.lines) == 2 and all(line.me is not None for line in app.lines))
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        bob, bob_events = await connect("Sales", nickname="Bob")
        await until(pilot, lambda: app.lines[1].roster.get(bob.phone_number) is not None)
        await bob.send_typing()
        await mary.send_typing()
        await until(pilot, lambda: shown(app) == "Mary is typing…")
        app.tabs.active = "line-2"
        await until(pilot, lambda: shown(app) == "Bob is typing…")
        app.tabs.active = "line"
        await until(pilot, lambda: app.active_line is app.lines[0])
        assert shown(app) == "Mary is typing…"  # Bob's typing, arrived by now, is on the other line only
        app.tabs.active = "line-2"
        await until(pilot, lambda: app.active_line is app.lines[1])
        await pilot.press("h", "i")
        started = await bob_events.wait_for(lambda e: isinstance(e, TypingNotice))
        assert started.sender == app.lines[1].me.phone_number
        await mary.send_message("sentinel")  # Mary would have had John's typing before it
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
        assert mary_events.of_type(TypingNotice) == []


async def test_my_typing_is_sent_while_keys_are_pressed_and_stopped_when_the_message_goes(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        _, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        await pilot.press("h", "i")
        started = await mary_events.wait_for(lambda e: isinstance(e, TypingNotice))
        assert (started.sender, started.to, started.stopped) == (app.me.phone_number, None, False)
        await pilot.press("enter")
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "hi")
        heard = [(type(e).__name__, getattr(e, "stopped", None)) for e in mary_events.events
                 if isinstance(e, (TypingNotice, ChatMessage))]
        assert heard == [("TypingNotice", False), ("TypingNotice", True), ("ChatMessage", None)]


async def test_a_command_is_not_typing_and_clearing_the_input_sends_stopped(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        _, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        composer = app.query_one(Composer)
        await pilot.press("/", "h", "e", "l", "p")
        await app.client.send_message("sentinel")  # a typing frame sent for the command would come first
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
        assert mary_events.of_type(TypingNotice) == []
        composer.clear()
        await pilot.press("o", "k")
        await mary_events.wait_for(lambda e: isinstance(e, TypingNotice))
        composer.clear()
        await mary_events.wait_for(lambda e: isinstance(e, TypingNotice) and e.stopped)
        assert [e.stopped for e in mary_events.of_type(TypingNotice)] == [False, True]


async def test_with_typing_off_nothing_is_sent(hub, connect):
    app = make_app(hub.url, "John", typing=False)
    async with joined(app) as pilot:
        _, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        await pilot.press("h", "e", "l", "l", "o")
        await pilot.press("enter")  # the message is the sentinel: a typing frame sent before it would come first
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "hello")
        assert mary_events.of_type(TypingNotice) == []


def test_a_message_being_written_is_typing_a_command_is_not_and_help_says_so():
    assert [counts_as_typing(text) for text in ("hi", "  hi", "//slash", "/me waves", "/help", "   ", "")] == [
        True, True, True, False, False, False, False,
    ]
    assert TYPING_HELP in help_text(None).plain.splitlines()


def test_typing_is_on_unless_the_settings_or_the_command_line_turn_it_off(tmp_path):
    assert build_parser(ChatSettings()).parse_args([]).typing is True
    assert build_parser(ChatSettings()).parse_args(["--no-typing"]).typing is False
    path = tmp_path / "settings.toml"
    path.write_text("typing = false\n", encoding="utf-8")
    settings = load_settings(path)
    assert build_parser(settings).parse_args([]).typing is False
    assert build_parser(settings).parse_args(["--typing"]).typing is True


async def test_someone_ignored_is_not_shown_typing(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        FakeTimers(app.query_one(TypingIndicator))
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        ann, _ = await listed(pilot, app, connect(nickname="Ann"))
        await pilot.press(*"/ignore mary", "enter")
        await until(pilot, lambda: said(app, "You now ignore Mary"))
        await mary.send_typing()
        await ann.send_typing()  # the sentinel: Mary's typing, relayed first, would be shown with it
        await until(pilot, lambda: "Ann" in shown(app))
        assert shown(app) == "Ann is typing…"


async def test_leaving_a_tab_with_text_in_the_input_stops_my_typing_there(hub, connect):
    app = make_app(hub.url, "John")
    async with joined(app) as pilot:
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        await pilot.press("h", "i")
        await mary_events.wait_for(lambda e: isinstance(e, TypingNotice))
        await app.open_conversation(mary.phone_number, activate=True)  # "hi" stays in the shared input
        stopped = await mary_events.wait_for(lambda e: isinstance(e, TypingNotice) and e.stopped)
        assert (stopped.sender, stopped.to) == (app.me.phone_number, None)  # on the line, not to Mary
        assert app.query_one(Composer).value == "hi"
