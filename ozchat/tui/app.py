"""OzChatApp: composes the chat screen and routes the Messages the client bridge posts.

The rooms it routes to: `lines` (each line's client, people and files, and what its Messages do),
`bridge` (the worker that owns a line's client), `conversations` (the tabs), `command_runner` (what a
typed command does), `keys` (Alt+digits as terminals send them), `texts` (how things are worded), `palette` (Ctrl+P).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from textual import constants, getters, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, OptionList

from ..avatars import AvatarService
from ..chat_logs import LineLogs
from ..client import OzWebClient
from ..input_history import InputHistory
from ..protocol import ClientInfo
from ..roster import Roster
from ..settings import save_setting
from . import texts
from .avatar_board import RETRY_FAILED, AvatarBoard
from .bridge import PRESENCE_TICK, Join
from .chat_logger import ChatLogger
from .command_runner import CommandRunner
from .conversations import LINE_TAB, Conversation, Conversations
from .ignoring import IgnoreList
from .keys import TAB_KEYS, read_alt_digits_as_alt
from .lines import LineFactory, LineParts, LineSession, join_line, same_hub
from .messages import (
    AvatarLoaded,
    ChatReceived,
    ConnectionChanged,
    FromLine,
    HistoryGap,
    HubErrorReceived,
    PresenceChanged,
    SystemNotice,
    while_running,
)
from .notifications import Notifier, RateLimit
from .own_avatar import OwnAvatarWatch
from .palette import chat_commands
from .typing_hooks import TypingHooks
from .widgets import Composer, PeopleList, ProfileCard, SearchBox, StatusBar, TypingIndicator

__all__ = ["BELL_INTERVAL", "Join", "LineParts", "OzChatApp"]

COMPACT_FOOTER_WIDTH = 110
SMALL_SCREEN_WIDTH = 80  # below it the sidebar hides (F2 shows it)
BELL_INTERVAL = 5.0  # seconds: others ring the bell at most this often, however fast they write


def local_now() -> datetime:
    return datetime.now().astimezone()


class OzChatApp(TypingHooks, App[None]):
    """Presence sidebar, chat tabs and an input line over one OzWebClient per line joined."""

    TITLE = "ozchat"
    # Below 80 columns the sidebar hides, so the chat keeps the width; F2 shows it.
    HORIZONTAL_BREAKPOINTS = [(0, "-small"), (SMALL_SCREEN_WIDTH, "-narrow"), (110, "-normal"), (170, "-wide")]

    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "people", "People"),
        Binding("f3", "next_tab", "Next", tooltip="Show the next tab"),
        Binding("f4", "close_tab", "Close", tooltip="Close this direct-message tab"),
        Binding("ctrl+f", "search", "Search", show=False),
        # Priority: a terminal sends Alt+2 as ESC 2, read as alt+2 carrying "2", which the input box would type
        # (keys.py).
        *(Binding(f"alt+{n}", f"show_tab({n})", f"Tab {n}", show=False, priority=True) for n in range(1, TAB_KEYS + 1)),
        Binding("alt+left", "next_tab(-1)", "Previous tab", show=False, priority=True),
        Binding("alt+right", "next_tab", "Next tab", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "focus_composer", "Back to input", show=False),
    ]

    # How the screen's parts share it; each widget keeps its own look in its DEFAULT_CSS.
    DEFAULT_CSS = """
    #main { height: 1fr; }
    Screen Footer.-compact FooterLabel { margin-right: 1; }  /* a group's label ("Scroll") would touch the next key */
    """

    def __init__(
        self,
        client: OzWebClient,
        *,
        join: Join | None,
        avatars: AvatarService | None = None,
        avatar_file: Path | None = None,
        clock: Callable[[], datetime] = local_now,
        max_chat_lines: int = 2000,
        theme: str | None = None,
        avatar_retry: float = RETRY_FAILED,
        monotonic: Callable[[], float] = time.monotonic,
        settings_file: Path | None = None,
        chat_logs: LineLogs | None = None,
        input_history: InputHistory | None = None,
        ignoring: IgnoreList | None = None,
        notify: str = "bell",
        terminal: Callable[[str], object] | None = None,
        more_lines: Iterable[str] = (),
        line_factory: LineFactory | None = None,
        typing: bool = True,
    ) -> None:
        """`join=None` connects nowhere: the screen shows only the Messages posted to it.

        `avatars` loads the pictures people share (without it only identicons are drawn) and is
        closed with the app; `avatar_file` is uploaded once connected and shared as the avatar.
        A failed avatar load is tried again `avatar_retry` seconds later, when next drawn. A hub
        not reached at the start is tried again as the client's reconnect policy says.
        `monotonic` is the clock the bell's rate limit reads. A theme picked while running is
        kept in `settings_file` (the user's settings.toml), if given, for the next start.
        `chat_logs`, `input_history`, `ignoring`: the line's logs, inputs and ignore list on disk (None: not kept).
        `notify` is how a message for me is told while the terminal is not focused (`notifications.py`),
        written to `terminal` (the app's terminal by default) at most every few seconds of `monotonic`.

        `client` and `join` are the first line's; `more_lines` are joined too once running, each (and each line
        `/join` opens) with its own client and files from `line_factory(line)` (by default: a client like the
        first's options would give, joining the same hub with the same properties, keeping no files).
        `typing=False` tells nobody when I type (others' typing is still shown).
        """
        super().__init__()
        self.send_typing = typing
        self.max_chat_lines = max_chat_lines
        first = LineParts(client, join, chat_logs, input_history, ignoring, avatar_file)
        self.lines = [LineSession(self, first, LINE_TAB, max_chat_lines)]
        self._more_lines = list(more_lines)
        self.line_factory = line_factory or partial(same_hub, first)
        self._shown_line = self.lines[0]
        read_alt_digits_as_alt()
        self.avatars = AvatarBoard(avatars, self.run_worker, self.post_message, retry_after=avatar_retry)
        self.command_runner = CommandRunner(self)
        self._bell_limit = RateLimit(BELL_INTERVAL, monotonic)
        self._own_avatar = OwnAvatarWatch(self.avatars)
        self._settings_file = settings_file
        self._people_redraw: Timer | None = None
        self._clock = clock
        self._start_theme = theme
        self.notifier = Notifier(notify, terminal or self.write_to_terminal, monotonic)
        # Set before running: a line for the chat pane and the status bar, e.g. "local hub started".
        self.startup_notice: str | None = None
        # Set before running when this app may start a local hub: did it start the one now running?
        self.hub_started_here: Callable[[], bool] = lambda: False

    # ---- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="main"):
            with Conversations(self.max_chat_lines, self._bell_limit, self.now, self.notifier, id="conversations"):
                yield self.lines[0].tab
            yield PeopleList(self.avatars, ignored=lambda info: self.ignoring.covers(info), id="people")
        yield TypingIndicator(self.typing_name, (LINE_TAB, None), id="typing")
        yield SearchBox(id="search")
        yield Composer(self.nicknames, id="composer")
        yield Footer()

    async def on_mount(self) -> None:
        if self._start_theme:
            self.theme = self._start_theme
        first = self.lines[0]
        self.query_one(Composer).use_history(first.input_history, first.recall)
        first.draw()
        if self.startup_notice:
            first.tab.chat.add_system(self.now(), self.startup_notice)
        first.start()
        for line in self._more_lines:
            await join_line(self, line, activate=False)
        self.query_one(Composer).focus()

    def watch_theme(self, theme: str) -> None:
        unchanged = theme == (self._start_theme or constants.DEFAULT_THEME)
        if self._settings_file is None or unchanged:
            return
        try:
            save_setting(self._settings_file, "theme", theme)
        except OSError as error:
            self.notify(f"the theme is not kept for next time: {error}", severity="warning")
            return
        self._start_theme = theme

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette offers ozchat's own commands and, for each person, a direct message and their profile."""
        yield from super().get_system_commands(screen)
        yield from chat_commands(self)

    def on_resize(self) -> None:
        # Keys sit closer on a narrow screen, and on a small one the palette's key goes: the footer is never cut.
        footer = self.query_one(Footer)
        footer.compact = self.size.width < COMPACT_FOOTER_WIDTH
        footer.show_command_palette = self.size.width >= SMALL_SCREEN_WIDTH

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F3 and F4 are offered only where they do something (`Conversations.offers`)."""
        return self.tabs.offers(action) if self.query(Conversations) else True

    async def on_unmount(self) -> None:
        for line in self.lines:
            await line.close()
        if self.avatars.service is not None:
            await self.avatars.service.aclose()

    people = getters.query_one(PeopleList)
    tabs = getters.query_one(Conversations)

    @property
    def active_line(self) -> LineSession:
        """The line of the tab shown (the first line until the tabs are there)."""
        return self._shown_line

    def line_of(self, conversation: Conversation) -> LineSession:
        return next((line for line in self.lines if line.tab_id == conversation.line_tab), self.active_line)

    # What the shown line has: the sidebar, the status bar, the palette and completion show that line.
    client = property(lambda self: self.active_line.client)
    roster: Roster = property(lambda self: self.active_line.roster)  # type: ignore[assignment]
    me: ClientInfo | None = property(lambda self: self.active_line.me)  # type: ignore[assignment]
    line: str | None = property(lambda self: self.active_line.name)  # type: ignore[assignment]
    ignoring: IgnoreList = property(lambda self: self.active_line.ignoring)  # type: ignore[assignment]
    chat_logger: ChatLogger = property(lambda self: self.active_line.chat_logger)  # type: ignore[assignment]

    @property
    def line_conversation(self) -> Conversation:
        return self.active_line.tab

    @property
    def active_conversation(self) -> Conversation:
        return self.tabs.active_conversation

    def everyone(self) -> list[ClientInfo]:
        return self.active_line.everyone()

    def nicknames(self) -> list[str]:
        return self.active_line.nicknames()

    def write_to_terminal(self, sequence: str) -> None:
        """Send an escape sequence to the terminal as it is, as `App.bell` does."""
        if not self.is_headless and self._driver is not None:
            self._driver.write(sequence)

    def now(self) -> datetime:
        return self._clock()

    @while_running
    def show_me(self, me: ClientInfo, line: LineSession | None = None) -> None:
        """The hub confirmed my properties on `line` (the shown one by default): show them, and say if others cannot
        load my avatar."""
        (line or self.active_line).show_me(me)
        self._tell_if_my_avatar_failed()

    async def open_conversation(
        self, phone_number: str, *, activate: bool = False, line: LineSession | None = None
    ) -> Conversation:
        """The direct-message tab with this number on `line` (the shown one by default), added after its tabs if new."""
        line = line or self.active_line
        return await self.tabs.open(phone_number, line.name_of(phone_number), line.tab, activate=activate)

    # ---- Messages from the client bridge ----------------------------------------------

    def line_for(self, message: FromLine) -> LineSession | None:
        """The line a worker's Message is about; None for one left since it was posted."""
        if message.line_tab is None:
            return self.active_line
        return next((line for line in self.lines if line.tab_id == message.line_tab), None)

    @while_running
    def on_connection_changed(self, message: ConnectionChanged) -> None:
        if line := self.line_for(message):
            line.connection_changed(message)

    @while_running
    def on_presence_changed(self, message: PresenceChanged) -> None:
        if line := self.line_for(message):
            line.presence_changed(message)
            self.query_one(TypingIndicator).presence(line.tab_id, message.clients)

    @while_running
    def on_avatar_loaded(self, message: AvatarLoaded) -> None:
        self.avatars.loaded(message)
        self._tell_if_my_avatar_failed(message)
        for screen in self.screen_stack:
            # A card not mounted yet draws the board's latest state in its own on_mount.
            if isinstance(screen, ProfileCard) and screen.is_mounted:
                screen.show_avatar()
        if self._people_redraw is None:
            # Loads land one by one; the sidebar is drawn once per tick for all of them.
            # The list owns the timer, so it stops with the list when the app closes.
            self._people_redraw = self.people.set_timer(PRESENCE_TICK, self._redraw_people)

    def _tell_if_my_avatar_failed(self, message: AvatarLoaded | None = None) -> None:
        told = self._own_avatar.failure_text(self.me, message)
        if told is not None:
            self.line_conversation.chat.add_system(self.now(), told, kind="error")

    def _redraw_people(self) -> None:
        self._people_redraw = None
        self.people.redraw()

    @while_running
    async def on_chat_received(self, received: ChatReceived) -> None:
        if line := self.line_for(received):
            self.query_one(TypingIndicator).message(line.tab_id, received.message, line.client.phone_number)
            await line.chat_received(received)

    @while_running
    def on_history_gap(self, message: HistoryGap) -> None:
        if line := self.line_for(message):
            line.history_gap(message)

    @while_running
    def on_system_notice(self, message: SystemNotice) -> None:
        if line := self.line_for(message):
            line.system_notice(message)

    @while_running
    def on_hub_error_received(self, message: HubErrorReceived) -> None:
        if line := self.line_for(message):
            line.hub_error(message)

    # ---- what the user does -----------------------------------------------------------

    @on(OptionList.OptionSelected, "#people")
    def _person_selected(self, event: OptionList.OptionSelected) -> None:
        self.command_runner.show_profile(event.option.id or "")

    @on(Composer.Submitted, "#composer")
    async def _submitted(self, event: Composer.Submitted) -> None:
        await self.command_runner.submit(event.value, self.active_conversation)

    def action_help(self) -> None:
        self.active_conversation.chat.add_system(self.now(), texts.help_text(None))

    def action_scroll_chat(self, where: str) -> None:
        """Scroll the shown tab's chat from wherever the focus is: page_up, page_down, oldest or newest."""
        self.active_conversation.chat.scroll_to_place(where)

    def action_people(self) -> None:
        """Focus the people list; on a small screen, show it, or hide it again if it has the focus."""
        if not self.people.show_or_hide(small_screen=self.screen.has_class("-small")):
            self.query_one(Composer).focus()

    def action_focus_composer(self) -> None:
        self.people.remove_class("-shown")  # on a small screen the list shown by F2 goes again
        self.query_one(SearchBox).close()
        self.query_one(Composer).focus()

    def action_search(self) -> None:
        search = self.query_one(SearchBox)
        search.open(self.active_conversation.chat)
        search.focus()

    def action_search_step(self, step: int) -> None:
        self.query_one(SearchBox).action_step(step)

    def on_tabbed_content_tab_activated(self) -> None:
        self.query_one(SearchBox).retarget(self.active_conversation.chat)
        line = self.line_of(self.active_conversation)
        self.query_one(TypingIndicator).show(line.tab_id, self.active_conversation.partner)
        if line is not self._shown_line:  # another line: its people, its state, its inputs
            self._shown_line = line
            line.draw()
            self.query_one(Composer).use_history(line.input_history, line.recall)

    def on_conversations_unread_changed(self) -> None:
        self.query_one(StatusBar).show_unread(self.tabs.unread_elsewhere())

    def action_next_tab(self, step: int = 1) -> None:
        self.tabs.show_next(step)

    def action_show_tab(self, number: int) -> None:
        self.tabs.show_number(number)

    async def action_close_tab(self) -> None:
        await self.tabs.close_active()

    async def action_quit(self) -> None:
        for line in self.lines:
            await line.close()
        self.exit()
