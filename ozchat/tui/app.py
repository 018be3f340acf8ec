"""OzChatApp: composes the chat screen and routes the Messages the client bridge posts.

The rooms it routes to: `bridge` (the worker that owns the client), `conversations` (the tabs),
`command_runner` (what a typed command does), `texts` (how things are worded), `palette` (Ctrl+P).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
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
from ..protocol import ClientInfo, ConnectionState
from ..roster import Roster
from ..settings import save_setting
from . import texts
from .avatar_board import RETRY_FAILED, AvatarBoard
from .bridge import PRESENCE_TICK, Join, disconnect, run_client
from .chat_logger import ChatLogger
from .command_runner import CommandRunner
from .conversations import LINE_TAB, Conversation, Conversations, RateLimit
from .ignoring import IgnoreList
from .messages import (
    AvatarLoaded,
    ChatReceived,
    ConnectionChanged,
    HistoryGap,
    HubErrorReceived,
    PresenceChanged,
    SystemNotice,
    while_running,
)
from .notifications import Notifier
from .own_avatar import OwnAvatarWatch
from .palette import chat_commands
from .presence import apply_presence
from .widgets import Composer, PeopleList, ProfileCard, SearchBox, StatusBar

__all__ = ["BELL_INTERVAL", "Join", "OzChatApp"]

RETRY_KEY = "retrying"  # the one chat line that says how trying to reach the hub goes
COMPACT_FOOTER_WIDTH = 110
SMALL_SCREEN_WIDTH = 80  # below it the sidebar hides (F2 shows it)
BELL_INTERVAL = 5.0  # seconds: others ring the bell at most this often, however fast they write


def local_now() -> datetime:
    return datetime.now().astimezone()


class OzChatApp(App[None]):
    """Presence sidebar, chat tabs and an input line over one OzWebClient."""

    TITLE = "ozchat"
    # Below 80 columns the sidebar hides, so the chat keeps the width; F2 shows it.
    HORIZONTAL_BREAKPOINTS = [(0, "-small"), (SMALL_SCREEN_WIDTH, "-narrow"), (110, "-normal"), (170, "-wide")]

    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "people", "People"),
        Binding("f3", "next_tab", "Next", tooltip="Show the next tab"),
        Binding("f4", "close_tab", "Close", tooltip="Close this direct-message tab"),
        Binding("ctrl+f", "search", "Search", show=False),
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
        """
        super().__init__()
        self.client = client
        self.roster = Roster()
        self.me: ClientInfo | None = None
        self.line = join.line if join is not None else None
        self._join = join
        self.avatars = AvatarBoard(avatars, self.run_worker, self.post_message, retry_after=avatar_retry)
        self.command_runner = CommandRunner(self)
        self._avatar_file = avatar_file
        self._bell_limit = RateLimit(BELL_INTERVAL, monotonic)
        self._own_avatar = OwnAvatarWatch(self.avatars)
        self._settings_file = settings_file
        self._people_redraw: Timer | None = None
        self._clock = clock
        self._max_chat_lines = max_chat_lines
        self._start_theme = theme
        self._has_joined = False
        self._input_history = input_history
        self.ignoring = ignoring if ignoring is not None else IgnoreList()
        self.notifier = Notifier(notify, terminal or self.write_to_terminal, monotonic)
        self.chat_logger = ChatLogger(
            chat_logs, self._name_of, lambda failure: self.post_message(SystemNotice(failure, "error"))
        )
        # Set before running: a line for the chat pane and the status bar, e.g. "local hub started".
        self.startup_notice: str | None = None
        # Set before running when this app may start a local hub: did it start the one now running?
        self.hub_started_here: Callable[[], bool] = lambda: False

    # ---- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="main"):
            with Conversations(
                self._max_chat_lines, self._bell_limit, self.now, self.ignoring, self.notifier, id="conversations"
            ):
                yield Conversation(f"#{self.line or 'line'}", None, self._max_chat_lines, id=LINE_TAB)
            yield PeopleList(self.avatars, ignored=self.ignoring.hides, id="people")
        yield SearchBox(id="search")
        yield Composer(self.nicknames, history=self._input_history, id="composer")
        yield Footer()

    def on_mount(self) -> None:
        if self._start_theme:
            self.theme = self._start_theme
        status = self.query_one(StatusBar)
        if self.line is not None:
            status.show_line(self.line)
        if self.startup_notice:
            self.line_conversation.chat.add_system(self.now(), self.startup_notice)
        if self._join is not None:
            status.show_state("connecting", f"connecting to {self._join.server}")
            connecting = run_client(self.client, self._join, self.post_message)
            self.run_worker(connecting, exclusive=True, group="client")
        else:
            status.show_state("closed", "not connected")
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
        await disconnect(self.client)
        self.chat_logger.close()
        if self.avatars.service is not None:
            await self.avatars.service.aclose()

    people = getters.query_one(PeopleList)
    tabs = getters.query_one(Conversations)

    @property
    def line_conversation(self) -> Conversation:
        return self.tabs.line

    @property
    def active_conversation(self) -> Conversation:
        return self.tabs.active_conversation

    def everyone(self) -> list[ClientInfo]:
        """Everyone on the line, me included, by nickname ignoring case."""
        people = [*self.roster, *([self.me] if self.me is not None else [])]
        return sorted(people, key=lambda info: info.display_name.casefold())

    def nicknames(self) -> list[str]:
        names = [info.display_name for info in self.roster]
        return [*names, self.me.display_name] if self.me is not None else names

    def write_to_terminal(self, sequence: str) -> None:
        """Send an escape sequence to the terminal as it is, as `App.bell` does."""
        if not self.is_headless and self._driver is not None:
            self._driver.write(sequence)

    def now(self) -> datetime:
        return self._clock()

    @while_running
    def show_me(self, me: ClientInfo) -> None:
        """The hub confirmed my properties: show them, and say if others cannot load my avatar."""
        self.me = me
        self.query_one(StatusBar).show_me(me)
        self.people.show(self.roster, self.me)
        self._tell_if_my_avatar_failed()

    async def open_conversation(self, phone_number: str, *, activate: bool = False) -> Conversation:
        """The direct-message tab with this number, added next to the line's tab if new."""
        return await self.tabs.open(phone_number, self._name_of(phone_number), activate=activate)

    # ---- Messages from the client bridge ----------------------------------------------

    @while_running
    def on_connection_changed(self, message: ConnectionChanged) -> None:
        change = message.change
        status = self.query_one(StatusBar)
        log = self.line_conversation.chat
        if change.state is ConnectionState.ACCESS_GRANTED:
            log.discard(RETRY_KEY)
            self.chat_logger.epoch = message.epoch
            self.me = message.me
            self.line = message.line or self.line
            if self.line is not None:
                status.show_line(self.line)
                self.tabs.retitle(self.line_conversation, f"#{self.line}")
            if self.me is not None:
                status.show_me(self.me)
                log.add_system(self.now(), texts.joined_text(self.me, self.line or "", again=self._has_joined))
                self._has_joined = True
                if change.taken_nickname is not None:
                    log.add_system(self.now(), texts.nickname_taken_text(change.taken_nickname, self.me))
                if self._avatar_file is not None:
                    self.command_runner.upload_avatar(self.line_conversation, self._avatar_file)
                    self._avatar_file = None
            if change.history_reset:  # so the replay that follows is not taken for new messages
                log.add_system(self.now(), texts.HISTORY_RESET_NOTICE, kind="error")
            here = " to a local hub started here" if self.hub_started_here() else ""
            status.show_state("connected", f"connected{here}")
        else:
            if not change.retrying:
                self.roster.clear()  # while reconnecting the client reconciles it at sync
            description = texts.describe_state(change)
            status.show_state("reconnecting" if change.retrying else "closed", description)
            # Attempt after attempt updates one line rather than adding one each.
            kind, key = ("system", RETRY_KEY) if change.retrying else ("error", None)
            log.add_system(self.now(), description, kind=kind, key=key)
        self.people.show(self.roster, self.me)

    @while_running
    def on_presence_changed(self, message: PresenceChanged) -> None:
        now = self.now()
        for event in apply_presence(message.clients, self.me, self.roster, self.tabs):
            self.line_conversation.chat.add_system(now, event)
            self.chat_logger.event(now, event.plain)  # joins, leaves, renames: logged as events
        self.people.show(self.roster, self.me)

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
        if await self.tabs.receive(received.message, self.me, self.roster, self._name_of):  # not hidden by /ignore
            self.chat_logger.message(received.message, self.me, self.now().tzinfo)

    @while_running
    def on_history_gap(self, message: HistoryGap) -> None:
        self.line_conversation.chat.add_system(self.now(), texts.gap_text(message.gap))

    @while_running
    def on_system_notice(self, message: SystemNotice) -> None:
        self.line_conversation.chat.add_system(self.now(), message.text, kind=message.kind)

    @while_running
    def on_hub_error_received(self, message: HubErrorReceived) -> None:
        error = message.error
        self.line_conversation.chat.add_system(self.now(), f"the hub says {error.code}: {error.message}", kind="error")

    def _name_of(self, phone_number: str, nickname: str | None = None) -> str:
        """The name shown for a number: as the roster has it, else the nickname a message carried, else the number."""
        info = self.roster.get(phone_number)
        return info.display_name if info is not None else nickname or phone_number

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

    def action_next_tab(self) -> None:
        self.tabs.show_next()

    async def action_close_tab(self) -> None:
        await self.tabs.close_active()

    async def action_quit(self) -> None:
        await disconnect(self.client)
        self.exit()
