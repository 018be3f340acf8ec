"""Several lines in one app: a tab and a connection each, keys as a terminal sends them, /join and /part."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual._xterm_parser import XTermParser
from textual.widgets import Label

from ozchat import OzWebClient
from ozchat.bundled_avatars import bundled_avatar
from ozchat.cli import build_chat_app
from ozchat.cli.options import build_parser, chat_lines
from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore
from ozchat.protocol import MAX_LINE_CHARS
from ozchat.settings import ChatSettings, SettingsError, load_settings
from ozchat.tui import commands
from ozchat.tui.app import OzChatApp
from ozchat.tui.widgets import Composer

from .conftest import joined, listed, make_app, people_ids, said, until


def terminal_sends(app: OzChatApp, data: str) -> None:
    """Post the events Textual's terminal parser makes of `data`, as the driver does with what a terminal writes."""
    parser = XTermParser()
    for event in [*parser.feed(data), *parser.feed("")]:  # the end of input ends a lone ESC, as the key delay would
        app.post_message(event)


def unread_elsewhere(app: OzChatApp) -> str:
    label = app.query_one("#status-unread", Label)
    return str(label.visual) if label.display else ""


def active_tab(app: OzChatApp) -> str:
    return app.tabs.active


async def both_joined(pilot, app: OzChatApp) -> None:
    await until(pilot, lambda: len(app.lines) == 2 and all(line.me is not None for line in app.lines))


async def test_each_line_has_its_own_tab_connection_and_people(hub, connect):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        await both_joined(pilot, app)
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        bob, bob_events = await connect("Sales", nickname="Bob")
        john_webphone, john_sales = (line.me.phone_number for line in app.lines)
        # Each line has its own connection: others see John on both lines.
        await until(pilot, lambda: john_webphone in mary.roster and john_sales in bob.roster)
        assert set(people_ids(app)) == {mary.phone_number, john_webphone}  # the sidebar shows the line shown

        await mary.send_message("on the first line")
        await bob.send_message("on sales")
        await until(pilot, lambda: said(app, "on sales", "line-2") and said(app, "on the first line"))
        assert not said(app, "on sales") and not said(app, "on the first line", "line-2")

        terminal_sends(app, "\x1b2")  # Alt+2 as tmux and most terminals send it
        await until(pilot, lambda: active_tab(app) == "line-2")
        await until(pilot, lambda: set(people_ids(app)) == {bob.phone_number, john_sales})
        assert app.query_one(Composer).value == ""  # not typed into the input
        await pilot.press(*"to sales", "enter")
        await bob_events.wait_for(lambda e: getattr(e, "text", None) == "to sales")
        await mary.send_message("sentinel")
        await until(pilot, lambda: said(app, "sentinel"))
        assert not any(getattr(e, "text", None) == "to sales" for e in mary_events.events)


async def test_alt_arrows_and_alt_digits_arrive_as_a_terminal_sends_them(hub):
    app = make_app(hub.url, more_lines=["Sales", "Support"])
    async with joined(app) as pilot:
        await until(pilot, lambda: len(app.lines) == 3)
        terminal_sends(app, "\x1b[1;3C")  # Alt+Right
        await until(pilot, lambda: active_tab(app) == "line-2")
        terminal_sends(app, "\x1b[1;3C")
        await until(pilot, lambda: active_tab(app) == "line-3")
        terminal_sends(app, "\x1b[1;3D")  # Alt+Left
        await until(pilot, lambda: active_tab(app) == "line-2")
        terminal_sends(app, "\x1b1")
        await until(pilot, lambda: active_tab(app) == "line")
        terminal_sends(app, "\x1b[1;3D")  # round the start
        await until(pilot, lambda: active_tab(app) == "line-3")
        terminal_sends(app, "\x1b9")  # no ninth tab: nothing moves, nothing is typed
        terminal_sends(app, "x")
        await until(pilot, lambda: app.query_one(Composer).value == "x")
        assert active_tab(app) == "line-3"
        # A real Escape (ESC alone) is still Escape: it closes the search and leaves the input focused.
        await pilot.press("ctrl+f")
        terminal_sends(app, "\x1b")
        await until(pilot, lambda: app.focused is app.query_one(Composer))


async def test_other_lines_unread_messages_show_in_the_status_bar(hub, connect):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        await both_joined(pilot, app)
        bob, _ = await connect("Sales", nickname="Bob")
        await until(pilot, lambda: bob.phone_number in app.lines[1].roster)
        assert unread_elsewhere(app) == ""
        await bob.send_message("hello all")
        await until(pilot, lambda: unread_elsewhere(app) == "unread: #Sales (1)")
        await bob.send_message("john, a word?")
        await until(pilot, lambda: unread_elsewhere(app) == "unread: #Sales (2 @)")
        await bob.send_message("in private", to=app.lines[1].me.phone_number)
        await until(pilot, lambda: unread_elsewhere(app) == "unread: #Sales (3 DM)")
        # The direct tab opened under Sales, after its line's tab, not after the first line's.
        dm_tab = f"line-2-dm-{bob.phone_number}"
        assert [pane.id for pane in app.tabs.query("Conversation")] == ["line", "line-2", dm_tab]
        await pilot.press("alt+3")  # Sales is the line shown: its tabs show their own marks
        await until(pilot, lambda: unread_elsewhere(app) == "")
        await pilot.press("alt+1")  # the direct message was read; Sales' own tab was not
        await until(pilot, lambda: unread_elsewhere(app) == "unread: #Sales (2 @)")
        await pilot.press("alt+2", "alt+1")
        await until(pilot, lambda: active_tab(app) == "line" and unread_elsewhere(app) == "")
        # While Sales is shown, a message on the first line counts there.
        await pilot.press("alt+2")
        await until(pilot, lambda: app.active_line is app.lines[1])
        mary, _ = await connect(nickname="Mary")
        await mary.send_message("back here")
        await until(pilot, lambda: unread_elsewhere(app) == "unread: #Webphone1 (1)")


async def test_a_direct_message_is_answered_through_its_own_line(hub, connect):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        await both_joined(pilot, app)
        bob, bob_events = await connect("Sales", nickname="Bob")
        await bob.send_message("ping", to=app.lines[1].me.phone_number)
        dm_tab = f"line-2-dm-{bob.phone_number}"
        await until(pilot, lambda: said(app, "ping", dm_tab))
        app.tabs.active = dm_tab
        await until(pilot, lambda: app.active_line is app.lines[1])
        await pilot.press(*"pong", "enter")
        reply = await bob_events.wait_for(lambda e: getattr(e, "text", None) == "pong")
        assert reply.to == bob.phone_number and reply.sender == app.lines[1].me.phone_number


async def test_join_opens_a_line_and_part_leaves_it(hub, connect):
    app = make_app(hub.url)
    async with joined(app) as pilot:
        bob, _ = await connect("Sales", nickname="Bob")
        await pilot.press(*"/part", "enter")
        await until(pilot, lambda: said(app, "this is the only line you are on"))
        await pilot.press(*"/join Sales", "enter")
        await until(pilot, lambda: active_tab(app) == "line-2" and app.lines[1].me is not None)
        sales_number = app.lines[1].me.phone_number
        await until(pilot, lambda: sales_number in bob.roster)
        await pilot.press("alt+1", *"/join Sales", "enter")  # already on it: shown, not joined twice
        await until(pilot, lambda: active_tab(app) == "line-2")
        assert len(app.lines) == 2 and not app.query("#line-3")
        await pilot.press(*"/part", "enter")
        await until(pilot, lambda: sales_number not in bob.roster)
        await until(pilot, lambda: active_tab(app) == "line" and not app.query("#line-2"))
        assert [line.name for line in app.lines] == ["Webphone1"]


async def test_input_history_is_kept_per_line(hub):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        await both_joined(pilot, app)
        composer = app.query_one(Composer)
        await pilot.press(*"/who", "enter")
        await pilot.press("alt+2")
        await until(pilot, lambda: app.active_line is app.lines[1])
        await pilot.press("up")
        assert composer.value == ""  # Sales has no inputs yet
        await pilot.press(*"/clear", "enter")
        await pilot.press("alt+1")
        await until(pilot, lambda: app.active_line is app.lines[0])
        await pilot.press("up")
        assert composer.value == "/who"


def test_lines_come_from_flags_or_settings(tmp_path):
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text('lines = ["Sales", "Support"]\n')
    settings = load_settings(settings_file)
    assert settings.lines == ["Sales", "Support"]
    assert chat_lines(build_parser(settings).parse_args([])) == ["Sales", "Support"]
    flags = ["--line", "Webphone1", "--line", "Sales", "--line", "Webphone1"]
    assert chat_lines(build_parser(settings).parse_args(flags)) == ["Webphone1", "Sales"]
    assert chat_lines(build_parser(ChatSettings(line="Lobby")).parse_args([])) == ["Lobby"]
    assert chat_lines(build_parser(ChatSettings()).parse_args([])) == ["Webphone1"]
    settings_file.write_text("lines = []\n")
    try:
        load_settings(settings_file)
    except SettingsError as error:
        assert "lines should be a list of line names" in str(error)
    else:
        raise AssertionError("an empty lines list was taken")


async def test_keys_follow_the_tab_bar_where_a_direct_tab_sits_after_its_line(hub, connect):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        await both_joined(pilot, app)
        mary, _ = await connect(nickname="Mary")
        await mary.send_message("psst", to=app.lines[0].me.phone_number)
        dm_tab = f"dm-{mary.phone_number}"
        await until(pilot, lambda: said(app, "psst", dm_tab))
        assert [pane.id for pane in app.tabs.in_tab_order()] == ["line", dm_tab, "line-2"]
        terminal_sends(app, "\x1b[1;3C")  # Alt+Right: the next tab in the bar, Mary's
        await until(pilot, lambda: active_tab(app) == dm_tab)
        terminal_sends(app, "\x1b[1;3C")
        await until(pilot, lambda: active_tab(app) == "line-2")
        terminal_sends(app, "\x1b2")
        await until(pilot, lambda: active_tab(app) == dm_tab)


async def test_an_ignore_list_is_the_lines_own(hub, connect):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        await both_joined(pilot, app)
        bob_sales, _ = await connect("Sales", nickname="Bob")
        bob_webphone, _ = await connect(nickname="Bob")
        await until(pilot, lambda: bob_sales.phone_number in app.lines[1].roster)
        await pilot.press("alt+2", *"/ignore Bob", "enter")
        await until(pilot, lambda: said(app, "You now ignore Bob", "line-2"))
        await bob_sales.send_message("hidden on sales")
        await bob_webphone.send_message("shown on webphone1")
        await until(pilot, lambda: said(app, "shown on webphone1") and said(app, "1 message hidden", "line-2"))
        assert not said(app, "hidden on sales", "line-2")


def test_join_refuses_a_line_name_the_hub_would_refuse():
    with pytest.raises(commands.CommandError, match="cannot join"):
        commands.parse("/join " + "x" * (MAX_LINE_CHARS + 1))
    assert commands.parse("/join Sales") == commands.JoinLine("Sales")


@pytest.fixture
async def upload_hub(tmp_path) -> AsyncIterator[Hub]:
    async with Hub("127.0.0.1", 0, uploads=UploadStore(tmp_path / "uploads"), grace=1.0) as running:
        yield running


async def test_the_command_line_opens_each_line_with_its_own_files_and_avatar(upload_hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("me.png").write_bytes(bundled_avatar("owl") or b"")
    bob = OzWebClient(ping_interval=None)
    await bob.connect(f"127.0.0.1:{upload_hub.port}", "Sales", {"nickname": "Bob"})
    options = ["--host", f"127.0.0.1:{upload_hub.port}", "--nick", "John", "--avatar", "./me.png", "--no-autostart"]
    lines = ["--line", "Webphone1", "--line", "Sales"]
    app = build_chat_app(build_parser(ChatSettings()).parse_args([*options, *lines]), "John")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: len(app.lines) == 2 and app.lines[1].me is not None)
            sales_number = app.lines[1].me.phone_number

            def bob_sees() -> str:
                info = bob.roster.get(sales_number)
                return (info.get("avatar") if info is not None else None) or ""

            await until(pilot, lambda: re.fullmatch(r"[0-9a-f]{32}\.png", bob_sees()) is not None)
            ignore_files = [line.ignoring.path for line in app.lines]
            assert [path.name for path in ignore_files if path is not None] == ["Webphone1.json", "Sales.json"]
            await pilot.press("alt+2", *"/log", "enter")
            await until(pilot, lambda: said(app, "This tab is logged", "line-2"))
            logged = next(line for line in app.lines[1].tab.chat.plain_lines if "This tab is logged" in line)
            assert "/Sales/" in logged and "/Webphone1/" not in logged
    finally:
        await bob.disconnect()


def tab_label(app: OzChatApp, tab: str) -> str:
    """A tab's name as the tab bar shows it, its unread mark included."""
    return app.tabs.get_tab(tab).label.plain


async def test_direct_tabs_name_their_line_while_several_lines_are_open(hub, connect):
    app = make_app(hub.url, more_lines=["Sales"])
    async with joined(app) as pilot:
        await both_joined(pilot, app)
        mary_webphone, webphone_events = await connect(nickname="Mary")
        mary_sales, sales_events = await connect("Sales", nickname="Mary")
        await mary_webphone.send_message("from webphone1", to=app.lines[0].me.phone_number)
        await mary_sales.send_message("from sales", to=app.lines[1].me.phone_number)
        webphone_dm, sales_dm = f"dm-{mary_webphone.phone_number}", f"line-2-dm-{mary_sales.phone_number}"
        await until(pilot, lambda: said(app, "from webphone1", webphone_dm) and said(app, "from sales", sales_dm))
        await until(pilot, lambda: tab_label(app, sales_dm) == "Mary · #Sales (1 DM)")
        assert tab_label(app, webphone_dm) == "Mary · #Webphone1 (1 DM)"
        assert [pane.id for pane in app.tabs.in_tab_order()] == ["line", webphone_dm, "line-2", sales_dm]

        await pilot.press("alt+4")  # Mary of Sales: read, and /msg goes to her, not to Mary of Webphone1
        await until(pilot, lambda: tab_label(app, sales_dm) == "Mary · #Sales")
        await pilot.press(*"/msg Mary back to sales", "enter")
        reply = await sales_events.wait_for(lambda e: getattr(e, "text", None) == "back to sales")
        assert reply.to == mary_sales.phone_number
        await mary_webphone.send_message("sentinel", to=app.lines[0].me.phone_number)
        await until(pilot, lambda: tab_label(app, webphone_dm) == "Mary · #Webphone1 (2 DM)")
        assert not any(getattr(e, "text", None) == "back to sales" for e in webphone_events.events)
        assert len(app.tabs.in_tab_order()) == 4

        await pilot.press("alt+3", *"/part", "enter")  # one line left: its direct tab looks as a one-line user's
        await until(pilot, lambda: len(app.lines) == 1 and tab_label(app, webphone_dm) == "Mary (2 DM)")
        await pilot.press(*"/join Sales", "enter")
        await until(pilot, lambda: tab_label(app, webphone_dm) == "Mary · #Webphone1 (2 DM)")
