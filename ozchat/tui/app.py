"""OzChatApp: the chat screen. A worker owns the client and turns its events into Messages."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from enum import IntEnum
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import constants, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.screen import Screen
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static, TabbedContent, TabPane

from ..avatars import AvatarError, AvatarService
from ..client import ConnectionStateChanged, OzWebClient, RenumberedClient
from ..exceptions import ConnectionFailed, OzchatError, RequestRejected
from ..protocol import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ErrorFrame, Gap, Synced
from ..roster import Roster
from ..text import printable
from . import commands
from .settings import save_setting
from .avatar_choice import AvatarChoiceError, AvatarFileError, choose_avatar, read_avatar_file
from .messages import AvatarLoaded, ChatReceived, ConnectionChanged, HistoryGap, HubErrorReceived, PresenceChanged, SystemNotice
from .palette import nickname_style
from .widgets import AvatarBoard, ChatLog, Composer, PeopleList, ProfileCard, StatusBar
from .widgets.avatar import RETRY_FAILED, plain_reason
from .widgets.confirm import Confirm
from .widgets.profile_card import property_text
from .widgets.roster import is_away

PRESENCE_TICK = 0.05  # seconds a presence event may wait to be drawn with others
FIRST_CONNECT_RETRY = 1.0  # seconds before trying a hub that could not be reached again, doubling
LAST_CONNECT_RETRY = 30.0
RETRY_KEY = "retrying"  # the one chat line that says how trying to reach the hub goes
NAMES_IN_ANNOUNCEMENT = 3  # more joins than this in one tick are summed up in one line
MAX_DIRECT_TABS = 20  # direct messages that would open more tabs are shown in the line's tab
LINE_TAB = "line"
HISTORY_RESET_NOTICE = "The hub's history was reset; below is everything it still has (older messages are gone from it)"
LARGE_PASTE_LINES = 5  # a message of more lines is sent only once confirmed, like a paste in WeeChat
KEYS_HELP = (
    "Enter sends, Shift+Enter or Ctrl+J starts a new line; PgUp/PgDn scroll the chat while you type, Ctrl+Home/Ctrl+End go to its oldest/newest line; "
    "F1 help, F2 people (shows the list on a small screen), F3 next tab, F4 close tab, Esc back to the input, Ctrl+Q quit"
)


COMPACT_FOOTER_WIDTH = 110
SMALL_SCREEN_WIDTH = 80  # below it the sidebar hides (F2 shows it)
BELL_INTERVAL = 5.0  # seconds: others ring the bell at most this often, however fast they write


class Unread(IntEnum):
    """How much the unread messages in a tab matter: a tab shows the highest."""

    NONE = 0
    MESSAGE = 1
    MENTION = 2
    DIRECT = 3


UNREAD_MARKS = {
    Unread.NONE: ("", ""),
    Unread.MESSAGE: ("", "dim"),
    Unread.MENTION: (" @", "bold $text-warning"),
    Unread.DIRECT: (" DM", "bold $text-error"),
}


class RateLimit:
    """Allows one event per `interval` seconds of `clock`."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def allow(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True


@dataclass(frozen=True)
class Join:
    """Where the app's worker connects its client."""

    server: str
    line: str
    properties: dict[str, Any] = field(default_factory=dict)
    token: str | None = None


def local_now() -> datetime:
    return datetime.now().astimezone()


def name_text(name: str) -> Text:
    """Someone's name, terminal-safe and in that name's colour."""
    return Text(printable(name), nickname_style(name))


class PresenceBatcher:
    """Collects client-state events and posts them as one PresenceChanged per tick."""

    def __init__(self, post: Callable[[Message], object], interval: float) -> None:
        self._post = post
        self._interval = interval
        self._pending: list[ClientInfo] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, info: ClientInfo) -> None:
        self._pending.append(info)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._post(PresenceChanged(tuple(self._pending)))
            self._pending = []


class Conversation(TabPane):
    """One tab: the whole line, or a direct conversation with one phone number."""

    def __init__(self, caption: str, partner: str | None, max_entries: int, *, id: str) -> None:
        self.caption = caption
        self.partner = partner
        self.unread = 0
        self.unread_level = Unread.NONE
        self.chat = ChatLog(max_entries)
        self.unseen_notice = Static("", classes="unseen")
        self.unseen_notice.display = False
        super().__init__(self.label(), self.chat, self.unseen_notice, id=id)

    def label(self) -> Content:
        title = Content(printable(self.caption))
        if not self.unread:
            return title
        marker, style = UNREAD_MARKS[self.unread_level]
        return title + Content.styled(f" ({self.unread}{marker})", style)

    def count_unread(self, level: Unread) -> None:
        self.unread += 1
        self.unread_level = max(self.unread_level, level)

    def mark_read(self) -> None:
        self.unread = 0
        self.unread_level = Unread.NONE

    def on_chat_log_unseen(self, message: ChatLog.Unseen) -> None:
        message.stop()
        self.unseen_notice.display = message.count > 0
        plural = "message" if message.count == 1 else "messages"
        self.unseen_notice.update(f"↓ {message.count} new {plural} below (End or Ctrl+End)")


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
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "focus_composer", "Back to input", show=False),
    ]

    DEFAULT_CSS = """
    #main { height: 1fr; }
    #conversations { width: 1fr; height: 1fr; }
    #conversations > ContentSwitcher { height: 1fr; }
    #conversations TabPane { padding: 0; height: 1fr; }
    #conversations .unseen { dock: bottom; height: 1; width: 1fr; background: $warning 30%; content-align-horizontal: center; }
    Screen.-small PeopleList, Screen.-narrow PeopleList { width: 24; }
    Screen.-small PeopleList { display: none; }
    Screen.-small PeopleList.-shown { display: block; }
    Screen.-wide PeopleList { width: 38; }
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
        connect_retry: tuple[float, float] = (FIRST_CONNECT_RETRY, LAST_CONNECT_RETRY),
        monotonic: Callable[[], float] = time.monotonic,
        settings_file: Path | None = None,
    ) -> None:
        """`join=None` connects nowhere: the screen shows only the Messages posted to it.

        `avatars` loads the pictures people share (without it only identicons are drawn) and is
        closed with the app; `avatar_file` is uploaded once connected and shared as the avatar.
        A failed avatar load is tried again `avatar_retry` seconds later, when next drawn. A hub
        not reached at the start is tried again after `connect_retry` (first, longest) seconds, doubling.
        `monotonic` is the clock the bell's rate limit reads. A theme picked while running is
        kept in `settings_file` (the user's settings.toml), if given, for the next start.
        """
        super().__init__()
        self.client = client
        self.roster = Roster()
        self.me: ClientInfo | None = None
        self.line = join.line if join is not None else None
        self._join = join
        self.avatars = AvatarBoard(avatars, self.run_worker, self.post_message, retry_after=avatar_retry)
        self._avatar_file = avatar_file
        self._connect_retry = connect_retry
        self._bell_limit = RateLimit(BELL_INTERVAL, monotonic)
        self._avatar_failures_told: set[str] = set()
        self._settings_file = settings_file
        self._people_redraw: Timer | None = None
        self._clock = clock
        self._max_chat_lines = max_chat_lines
        self._start_theme = theme
        self._has_joined = False
        # Set before running: a line for the chat pane and the status bar, e.g. "local hub started".
        self.startup_notice: str | None = None
        # Set before running when this app may start a local hub: did it start the one now running?
        self.hub_started_here: Callable[[], bool] = lambda: False

    # ---- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="main"):
            with TabbedContent(id="conversations"):
                yield Conversation(f"#{self.line or 'line'}", None, self._max_chat_lines, id=LINE_TAB)
            yield PeopleList(self.avatars, id="people")
        yield Composer(self.nicknames, id="composer")
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
            self._run_client(self._join)
        else:
            status.show_state("closed", "not connected")
        self.query_one(Composer).focus()

    def watch_theme(self, theme: str) -> None:
        if self._settings_file is None or not self.is_mounted or theme == (self._start_theme or constants.DEFAULT_THEME):
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
        for name, command in commands.COMMANDS.items():
            yield SystemCommand(command.usage, command.summary, partial(self._begin_command, name))
        everyone = sorted([*self.roster, *([self.me] if self.me else [])], key=lambda info: info.display_name.casefold())
        for info in everyone:
            shown = printable(info.display_name)
            if info is not self.me:
                yield SystemCommand(
                    f"Message {shown}", f"direct messages with {shown} ({info.phone_number})", partial(self._message_person, info.phone_number)
                )
            yield SystemCommand(f"Profile of {shown}", f"what {shown} ({info.phone_number}) shares", partial(self.show_profile, info.phone_number))

    def _begin_command(self, name: str) -> None:
        composer = self.query_one(Composer)
        composer.value = f"/{name} "
        composer.focus()

    async def _message_person(self, phone_number: str) -> None:
        if phone_number in self.roster:
            await self.open_conversation(phone_number, activate=True)
        self.query_one(Composer).focus()

    def on_resize(self) -> None:
        # Keys sit closer together on a narrow screen, and on a small one the palette's key goes, so the footer is never cut.
        footer = self.query_one(Footer)
        footer.compact = self.size.width < COMPACT_FOOTER_WIDTH
        footer.show_command_palette = self.size.width >= SMALL_SCREEN_WIDTH

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F3 and F4 are offered only where they do something: F3 with two tabs or more, F4 in a direct tab."""
        if not self.is_mounted or not self.query(TabbedContent):
            return True
        if action == "next_tab":
            return self.tabs.tab_count > 1
        if action == "close_tab":
            return self.active_conversation.partner is not None
        return True

    async def on_unmount(self) -> None:
        with contextlib.suppress(OzchatError, TimeoutError):
            await asyncio.wait_for(self.client.disconnect(), 2.0)
        if self.avatars.service is not None:
            await self.avatars.service.aclose()

    @property
    def people(self) -> PeopleList:
        return self.query_one(PeopleList)

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    @property
    def line_conversation(self) -> Conversation:
        return self.query_one(f"#{LINE_TAB}", Conversation)

    @property
    def active_conversation(self) -> Conversation:
        try:
            pane = self.tabs.active_pane
        except NoMatches:  # the active tab is being removed
            return self.line_conversation
        return pane if isinstance(pane, Conversation) else self.line_conversation

    def direct_conversation(self, phone_number: str) -> Conversation | None:
        """The direct tab whose partner has this number now (a tab follows its partner to a new number)."""
        return next((conversation for conversation in self.query(Conversation) if conversation.partner == phone_number), None)

    def nicknames(self) -> list[str]:
        names = [info.display_name for info in self.roster]
        return names + [self.me.display_name] if self.me is not None else names

    def now(self) -> datetime:
        return self._clock()

    # ---- the client's worker ------------------------------------------------------------

    @work(exclusive=True, group="client")
    async def _run_client(self, join: Join) -> None:
        retry = self._connect_retry[0]
        attempt = 0
        while True:
            events = self.client.events()
            attempt += 1
            try:
                await self.client.connect(join.server, join.line, join.properties, token=join.token)
            except ConnectionFailed as failure:
                events.close()
                # Never connected yet: keep trying, as the client does once a connection drops.
                reason = f"{failure} (attempt {attempt}; trying again in {retry:g} s)"
                self.post_message(ConnectionChanged(ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason=reason, retrying=True)))
                await asyncio.sleep(retry)
                retry = min(retry * 2, self._connect_retry[1])
                continue
            except OzchatError:
                pass  # refused: the event stream reports it
            break
        batcher = PresenceBatcher(self.post_message, PRESENCE_TICK)
        try:
            async for event in events:
                if isinstance(event, ClientInfo):
                    batcher.add(event)
                    continue
                batcher.flush()  # presence stays ahead of whatever followed it
                if not isinstance(event, Synced):  # the roster and history need no marker
                    self.post_message(self._message_for(event))
            batcher.flush()
        finally:
            events.close()

    def _message_for(self, event: ConnectionStateChanged | ChatMessage | ErrorFrame | Gap) -> Message:
        if isinstance(event, ConnectionStateChanged):
            return ConnectionChanged(event, self.client.me, self.client.line)
        if isinstance(event, ChatMessage):
            return ChatReceived(event)
        if isinstance(event, Gap):
            return HistoryGap(event)
        return HubErrorReceived(event)

    # ---- events from the worker -------------------------------------------------------

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        change = message.change
        status = self.query_one(StatusBar)
        log = self.line_conversation.chat
        if change.state is ConnectionState.ACCESS_GRANTED:
            log.discard(RETRY_KEY)
            self.me = message.me
            self.line = message.line or self.line
            if self.line is not None:
                status.show_line(self.line)
                self._retitle(self.line_conversation, f"#{self.line}")
            if self.me is not None:
                status.show_me(self.me)
                joined = "are back on" if self._has_joined else "joined"
                log.add_system(
                    self.now(),
                    Text.assemble(f"You {joined} #{printable(self.line or '')} as ", name_text(self.me.display_name), f" ({self.me.phone_number})"),
                )
                self._has_joined = True
                if change.taken_nickname is not None:
                    log.add_system(
                        self.now(), Text.assemble(name_text(change.taken_nickname), " was taken; you are ", name_text(self.me.display_name))
                    )
                if self._avatar_file is not None:
                    self._upload_avatar(self.line_conversation, self._avatar_file)
                    self._avatar_file = None
            if change.history_reset:  # so the replay that follows is not taken for new messages
                log.add_system(self.now(), HISTORY_RESET_NOTICE, kind="error")
            status.show_state("connected", "connected to a local hub started here" if self.hub_started_here() else "connected")
        else:
            if not change.retrying:
                self.roster.clear()  # while reconnecting the client reconciles it at sync
            description = describe_state(change)
            status.show_state("reconnecting" if change.retrying else "closed", description)
            # Attempt after attempt updates one line rather than adding one each.
            log.add_system(self.now(), description, kind="system" if change.retrying else "error", key=RETRY_KEY if change.retrying else None)
        self.people.show(self.roster, self.me)

    def on_presence_changed(self, message: PresenceChanged) -> None:
        joined: list[ClientInfo] = []
        left: list[ClientInfo] = []
        log = self.line_conversation.chat
        now = self.now()
        for info in message.clients:
            if self.me is not None and info.phone_number == self.me.phone_number:
                continue
            if isinstance(info, RenumberedClient):  # the same person, back under a new number after a hub restart
                self.roster.apply(ClientInfo(info.previous_phone_number, ClientStatus.OFFLINE, info.properties))
                self.roster.apply(ClientInfo(info.phone_number, info.status, info.properties))
                continue
            previous = self.roster.apply(info)
            conversation = self.direct_conversation(info.phone_number)
            if info.status is ClientStatus.OFFLINE:
                left.append(previous or info)
                if conversation is not None:
                    conversation.chat.add_system(now, Text.assemble(name_text(info.display_name), " is OFFLINE"))
                    back = self.roster.find(conversation.caption)
                    if len(back) == 1:  # already back under a new number, before this goodbye arrived
                        self._follow(conversation, back[0])
            elif previous is None:
                joined.append(info)
                for detached in self._detached_conversations(info.display_name):
                    self._follow(detached, info)
            else:
                if previous.display_name != info.display_name:
                    log.add_system(now, Text.assemble(name_text(previous.display_name), " is now known as ", name_text(info.display_name)))
                    if conversation is not None:
                        self._retitle(conversation, info.display_name)
                if is_away(previous) != is_away(info):
                    log.add_system(now, away_text(info))
        self._announce(joined, "ONLINE")
        self._announce(left, "OFFLINE")
        self.people.show(self.roster, self.me)

    def _detached_conversations(self, name: str) -> list[Conversation]:
        """Direct tabs with someone called `name` whose number has left the line."""
        folded = name.casefold()
        return [
            conversation
            for conversation in self.query(Conversation)
            if conversation.partner is not None and conversation.partner not in self.roster and conversation.caption.casefold() == folded
        ][:1]

    def _follow(self, conversation: Conversation, info: ClientInfo) -> None:
        """The tab's partner came back under a new number (a new connection): the tab now reaches that number."""
        if conversation.partner == info.phone_number or self.direct_conversation(info.phone_number) is not None:
            return
        conversation.partner = info.phone_number
        conversation.chat.add_system(
            self.now(), Text.assemble(name_text(info.display_name), f" is back as {info.phone_number}; this tab now reaches them")
        )

    def _announce(self, infos: list[ClientInfo], state: str) -> None:
        if not infos:
            return
        log = self.line_conversation.chat
        if len(infos) <= NAMES_IN_ANNOUNCEMENT + 1:  # "and 1 others" would say no more than a fourth line
            for info in infos:
                log.add_system(self.now(), Text.assemble(name_text(info.display_name), f" is {state}"))
            return
        names = Text(", ").join(name_text(info.display_name) for info in infos[:NAMES_IN_ANNOUNCEMENT])
        others = len(infos) - NAMES_IN_ANNOUNCEMENT
        log.add_system(self.now(), Text.assemble(names, f" and {others} others are {state}"))

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

    def _my_avatar_url(self) -> str | None:
        value = self.me.get("avatar") if self.me is not None else None
        if not isinstance(value, str) or self.avatars.service is None:
            return None
        try:
            return self.avatars.service.resolve(value.strip())
        except AvatarError:
            return None

    def _tell_if_my_avatar_failed(self, message: AvatarLoaded | None = None) -> None:
        """My own avatar is fetched under the rules everyone's client follows: if it fails here, say so once."""
        mine = self._my_avatar_url()
        if mine is None or mine in self._avatar_failures_told:
            return
        if message is None:
            error = self.avatars.failure(mine)  # loaded before it was mine: someone shares it, or it was mine before
        else:
            error = message.result.error if message.key.url == mine else None
        if error is None:
            return
        self._avatar_failures_told.add(mine)
        self.line_conversation.chat.add_system(self.now(), f"others cannot load your avatar: {plain_reason(error)} ({error})", kind="error")

    def _redraw_people(self) -> None:
        self._people_redraw = None
        self.people.redraw()

    async def on_chat_received(self, received: ChatReceived) -> None:
        message = received.message
        own = self.me is not None and message.sender == self.me.phone_number
        tag = None
        if message.to is None:
            conversation = self.line_conversation
        else:
            partner = message.to if own else message.sender
            found = self.direct_conversation(partner)
            if found is None and partner in self.roster and self._direct_tab_count() < MAX_DIRECT_TABS:
                found = await self.open_conversation(partner)
            if found is None:
                # No tab for someone gone, nor past the cap: a script must not open tabs without end.
                conversation = self.line_conversation
                tag = f"direct to {self._name_of(partner)}" if own else "direct"
            else:
                conversation = found
        mention = not own and not message.history and self._mentions_me(message.text)
        conversation.chat.add_message(
            datetime.fromtimestamp(message.ts / 1000, tz=self.now().tzinfo),
            self._sender_name(message, own),
            message.text,
            action=message.action,
            own=own,
            mention=mention,
            history=message.history,
            tag=tag,
        )
        direct = message.to is not None and not own
        if conversation is not self.tabs.active_pane and not message.history:
            conversation.count_unread(Unread.DIRECT if direct else Unread.MENTION if mention else Unread.MESSAGE)
            self._relabel(conversation)
        if (mention or (direct and not message.history)) and self._bell_limit.allow():
            self.bell()

    def on_history_gap(self, message: HistoryGap) -> None:
        missing = message.gap.before_seq - message.gap.after_seq - 1
        kind = "direct messages" if message.gap.direct else "messages"
        self.line_conversation.chat.add_system(self.now(), f"{missing} earlier {kind} could not be replayed")

    def on_system_notice(self, message: SystemNotice) -> None:
        self.line_conversation.chat.add_system(self.now(), message.text)

    def on_hub_error_received(self, message: HubErrorReceived) -> None:
        error = message.error
        self.line_conversation.chat.add_system(self.now(), f"the hub says {error.code}: {error.message}", kind="error")

    def _sender_name(self, message: ChatMessage, own: bool) -> str:
        if own and self.me is not None:
            return self.me.display_name
        info = self.roster.get(message.sender)
        return info.display_name if info is not None else message.nickname or message.sender

    def _name_of(self, phone_number: str) -> str:
        info = self.roster.get(phone_number)
        return info.display_name if info is not None else phone_number

    def _mentions_me(self, text: str) -> bool:
        if self.me is None:
            return False
        pattern = rf"(?<!\w){re.escape(self.me.display_name)}(?!\w)"
        return re.search(pattern, text, re.IGNORECASE) is not None

    # ---- conversations ----------------------------------------------------------------

    def _direct_tab_count(self) -> int:
        return sum(1 for conversation in self.query(Conversation) if conversation.partner is not None)

    async def open_conversation(self, phone_number: str, *, activate: bool = False) -> Conversation:
        """The direct-message tab with this number, added next to the line's tab if new."""
        conversation = self.direct_conversation(phone_number)
        if conversation is None:
            title = self._unique_caption(self._name_of(phone_number), phone_number, None)
            conversation = Conversation(title, phone_number, self._max_chat_lines, id=self._new_tab_id(phone_number))
            await self.tabs.add_pane(conversation)
            self.refresh_bindings()
        if activate:
            self.tabs.active = conversation.id or LINE_TAB
        return conversation

    def _new_tab_id(self, phone_number: str) -> str:
        taken = {conversation.id for conversation in self.query(Conversation)}
        tab_id, n = f"dm-{phone_number}", 1
        while tab_id in taken:  # a tab that followed its partner elsewhere keeps its first id
            n += 1
            tab_id = f"dm-{phone_number}-{n}"
        return tab_id

    def _unique_caption(self, name: str, phone_number: str, conversation: Conversation | None) -> str:
        """`name`, or `name number` when another tab already shows that name: no two tabs look alike."""
        folded = name.casefold()
        if any(other is not conversation and other.caption.casefold() == folded for other in self.query(Conversation)):
            return f"{name} {phone_number}"
        return name

    def _retitle(self, conversation: Conversation, caption: str) -> None:
        if conversation.partner is not None:
            caption = self._unique_caption(caption, conversation.partner, conversation)
        conversation.caption = caption
        self._relabel(conversation)

    def _relabel(self, conversation: Conversation) -> None:
        if not conversation.is_attached:
            return
        try:
            tab = self.tabs.get_tab(conversation)
        except NoMatches:
            self.call_after_refresh(self._relabel, conversation)  # its tab is still being mounted
            return
        tab.label = conversation.label()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        conversation = event.pane
        if isinstance(conversation, Conversation) and conversation.unread:
            conversation.mark_read()
            self._relabel(conversation)

    @on(OptionList.OptionSelected, "#people")
    def _person_selected(self, event: OptionList.OptionSelected) -> None:
        self.show_profile(event.option.id or "")

    def show_profile(self, number: str) -> None:
        """The profile card of the person with this number (me included); Message on it opens a direct tab."""
        is_me = self.me is not None and number == self.me.phone_number
        info = self.me if is_me else self.roster.get(number)
        if info is None:
            return

        async def message_chosen(phone_number: str | None) -> None:
            if phone_number is not None and phone_number not in self.roster:
                self.active_conversation.chat.add_system(self.now(), self._left_text(info.display_name))
            elif phone_number is not None:
                await self.open_conversation(phone_number, activate=True)
            self.query_one(Composer).focus()

        self.push_screen(ProfileCard(info, self.avatars, is_me=is_me), message_chosen)

    # ---- what the user types ----------------------------------------------------------

    @on(Composer.Submitted, "#composer")
    async def _submitted(self, event: Composer.Submitted) -> None:
        text = event.value
        conversation = self.active_conversation
        try:
            command = commands.parse(text)
        except commands.CommandError as error:
            conversation.chat.add_system(self.now(), str(error), kind="error")
            return
        await self.run_command(command, conversation, text)

    async def run_command(self, command: commands.Command, conversation: Conversation, typed: str = "") -> None:
        """Carry out `command` in `conversation`; `typed` is what was typed, put back if a question is declined."""
        log = conversation.chat
        if isinstance(command, commands.Say | commands.Me) and self._partner_left(conversation):
            log.add_system(self.now(), self._left_text(conversation.caption), kind="error")
            return
        match command:
            case commands.Say(text):
                self._send_text(conversation, text, typed)
            case commands.Me(action):
                self._send_text(conversation, action, typed, action=True)
            case commands.Msg(target, text):
                person = self._find_one(target, log)
                if person is not None and person is self.me:
                    log.add_system(self.now(), "you cannot send a direct message to yourself", kind="error")
                elif person is not None:
                    direct = await self.open_conversation(person.phone_number, activate=True)
                    self._send_text(direct, text, typed)
            case commands.Nick(name):
                self._share(conversation, {"nickname": name}, Text.assemble("You are now known as ", name_text(name)))
            case commands.Avatar(value):
                self._choose_avatar(conversation, value)
            case commands.Away(reason):
                self._share(conversation, {"away": reason or True}, "You are marked as away")
            case commands.Back():
                self._share(conversation, {"away": None}, "You are back")
            case commands.Set(key, None):
                self._share(conversation, {key: None}, f"You no longer share {key}")
            case commands.Set(key, value):
                self._share(conversation, {key: value}, f"You share {key}: {value}")
            case commands.Who():
                log.add_system(self.now(), self._who_text())
            case commands.Whois(target):
                person = self._find_one(target, log)
                if person is not None:
                    log.add_system(self.now(), whois_text(person))
            case commands.Clear():
                log.clear()
            case commands.Help(topic):
                log.add_system(self.now(), help_text(topic))
            case commands.Quit():
                await self.action_quit()

    def _send_text(self, conversation: Conversation, text: str, typed: str, *, action: bool = False) -> None:
        """Send to the conversation's partner or line; ask first if it is long or would go in pieces."""
        limit = self.client.limits.max_text_chars
        pieces = commands.split_text(text, limit)
        lines = text.count("\n") + 1
        to = conversation.partner

        async def send_pieces() -> None:
            for piece in pieces:
                await self.client.send_message(piece, to=to, action=action)

        def answered(yes: bool | None) -> None:
            if yes:
                self._request(conversation, send_pieces())
            else:
                self.query_one(Composer).restore(typed)

        if len(pieces) > 1:
            self.push_screen(
                Confirm(
                    f"This message has {len(text):,} characters and the hub takes {limit:,} at a time. "
                    f"Send it as {len(pieces)} messages, cut at spaces or line breaks?"
                ),
                answered,
            )
        elif lines > LARGE_PASTE_LINES:
            self.push_screen(Confirm(f"Send these {lines} lines ({len(text):,} characters) as one message?"), answered)
        else:
            self._request(conversation, send_pieces())

    def _partner_left(self, conversation: Conversation) -> bool:
        """A direct tab whose number left the line; once closed for good, sending says why instead."""
        if conversation.partner is None or conversation.partner in self.roster:
            return False
        return self.client.connected or self.client.reconnecting

    def _left_text(self, name: str) -> Text:
        """`Mary has left`, and how to reach a Mary who is on the line now (a new connection, a new number)."""
        left = Text.assemble(name_text(name), f" has left #{printable(self.line or '')}")
        if not self.roster.find(name):
            return left
        return Text.assemble(left, f"; /msg {printable(commands.quote_name(name))} to reach their new connection")

    def _request(self, conversation: Conversation, request: Awaitable[Any], done: Text | str | None = None) -> None:
        """Send without blocking the screen; a refusal becomes a one-line error in the tab."""
        if self.client.reconnecting:  # so nobody types it again thinking it was lost
            conversation.chat.add_system(self.now(), "Not connected: this goes out as soon as the line is back")

        async def send() -> None:
            try:
                result = await request
            except RequestRejected as error:
                conversation.chat.add_system(self.now(), f"the hub refused: {error.code}: {error.message}", kind="error")
                return
            except OzchatError as error:
                conversation.chat.add_system(self.now(), f"not sent: {error}", kind="error")
                return
            if isinstance(result, ClientInfo):
                self.me = result
                self.query_one(StatusBar).show_me(result)
                self.people.show(self.roster, self.me)
                self._tell_if_my_avatar_failed()
            if done is not None:
                conversation.chat.add_system(self.now(), done)

        self.run_worker(send(), group="requests")

    def _share(self, conversation: Conversation, changes: dict[str, Any], done: Text | str) -> None:
        self._request(conversation, self.client.update_properties(changes), done)

    def _choose_avatar(self, conversation: Conversation, value: str) -> None:
        """Share a URL or a bundled avatar's name, or upload a local file first."""

        async def choose() -> None:
            try:
                choice = await asyncio.to_thread(choose_avatar, value)
            except AvatarChoiceError as error:
                conversation.chat.add_system(self.now(), f"avatar not changed: {error}", kind="error")
                return
            if isinstance(choice, Path):
                self._upload_avatar(conversation, choice)
            else:
                self._share(conversation, {"avatar": choice}, f"Your avatar is now {choice}")

        self.run_worker(choose(), group="requests")

    def _upload_avatar(self, conversation: Conversation, path: Path) -> None:
        """Read `path` off the loop, give it to the hub, then share the name the hub serves it under."""

        async def upload() -> None:
            try:
                data = await asyncio.to_thread(read_avatar_file, path)
                name = await self.client.upload_avatar(data)
            except AvatarFileError as error:
                conversation.chat.add_system(self.now(), f"avatar not changed: {error}", kind="error")
                return
            except RequestRejected as error:
                conversation.chat.add_system(
                    self.now(), f"avatar not changed: the hub refused {path.name}: {error.code}: {error.message}", kind="error"
                )
                return
            except OzchatError as error:
                conversation.chat.add_system(self.now(), f"avatar not changed: {path.name} was not uploaded: {error}", kind="error")
                return
            self._share(conversation, {"avatar": name}, f"Your avatar is now {path.name}, uploaded as {name}")

        self.run_worker(upload(), group="requests")

    def _find_one(self, target: str, log: ChatLog) -> ClientInfo | None:
        """The one person (me included) a nickname or number names; otherwise say why not in the tab."""
        everyone = [*self.roster, *([self.me] if self.me is not None else [])]
        folded = target.casefold()
        matches = [info for info in everyone if info.phone_number == target] or [
            info for info in everyone if info.display_name.casefold() == folded
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            log.add_system(self.now(), f"no one called {target} is on #{self.line}", kind="error")
        else:
            numbers = ", ".join(info.phone_number for info in matches)
            log.add_system(self.now(), f"{len(matches)} people are called {target}; use a number: {numbers}", kind="error")
        return None

    def _who_text(self) -> Text:
        everyone = sorted([*self.roster, *([self.me] if self.me else [])], key=lambda info: info.display_name.casefold())
        lines = [Text(f"{len(everyone)} on #{printable(self.line or '')}:")]
        for info in everyone:
            line = Text.assemble("  ", name_text(info.display_name), f"  {info.phone_number}")
            if is_away(info):
                line.append("  away", "italic")
            lines.append(line)
        return Text("\n").join(lines)

    # ---- key bindings -----------------------------------------------------------------

    def action_help(self) -> None:
        self.active_conversation.chat.add_system(self.now(), help_text(None))

    def action_scroll_chat(self, where: str) -> None:
        """Scroll the shown tab's chat from wherever the focus is: page_up, page_down, oldest or newest."""
        chat = self.active_conversation.chat
        if where == "page_up":
            chat.scroll_page_up(animate=False)
        elif where == "page_down":
            chat.scroll_page_down(animate=False)
        elif where == "oldest":
            chat.scroll_home(animate=False)
        else:
            chat.action_scroll_end()

    def action_people(self) -> None:
        """Focus the people list; on a small screen, show it, or hide it again if it has the focus."""
        people = self.people
        if self.screen.has_class("-small") and people.has_focus and people.has_class("-shown"):
            people.remove_class("-shown")
            self.query_one(Composer).focus()
            return
        people.add_class("-shown")
        people.focus()

    def action_focus_composer(self) -> None:
        self.people.remove_class("-shown")  # on a small screen the list shown by F2 goes again
        self.query_one(Composer).focus()

    def action_next_tab(self) -> None:
        panes = list(self.query(Conversation))
        index = panes.index(self.active_conversation)
        self.tabs.active = panes[(index + 1) % len(panes)].id or LINE_TAB

    async def action_close_tab(self) -> None:
        conversation = self.active_conversation
        if conversation.partner is not None:
            await self.tabs.remove_pane(conversation.id or "")
            self.tabs.active = LINE_TAB
            self.refresh_bindings()

    async def action_quit(self) -> None:
        with contextlib.suppress(OzchatError, TimeoutError):
            await asyncio.wait_for(self.client.disconnect(), 2.0)
        self.exit()


def describe_state(change: ConnectionStateChanged) -> str:
    """`reconnecting: …` or `closed: ACCESS_DENIED bad_token …`, as the header shows it."""
    detail = " ".join(str(part) for part in (change.code, change.reason) if part not in (None, ""))
    if change.retrying:
        trying = "connecting" if change.state is ConnectionState.CONNECTION_FAILED else "reconnecting"
        return f"{trying}{': ' + detail if detail else ''}"
    return f"closed: {change.state.value}{' ' + detail if detail else ''}"


def away_text(info: ClientInfo) -> Text:
    if not is_away(info):
        return Text.assemble(name_text(info.display_name), " is back")
    reason = info.get("away")
    why = f" ({property_text(reason)})" if isinstance(reason, str) else ""
    return Text.assemble(name_text(info.display_name), f" is away{why}")


def whois_text(info: ClientInfo) -> Text:
    lines = [Text.assemble(name_text(info.display_name), f" is {info.phone_number}")]
    for key, value in sorted(info.properties.items(), key=lambda item: item[0].casefold()):
        lines.append(Text(f"  {printable(key)}: {property_text(value)}"))
    if not info.properties:
        lines.append(Text("  shares no properties"))
    return Text("\n").join(lines)


def help_text(topic: str | None) -> Text:
    chosen: Iterable[str] = [topic] if topic is not None else commands.COMMANDS
    width = max(len(commands.COMMANDS[name].usage) for name in chosen)
    lines = [Text(f"{commands.COMMANDS[name].usage:<{width}}  {commands.COMMANDS[name].summary}") for name in chosen]
    if topic is None:
        lines.insert(0, Text("Commands (Tab completes, Up/Down recall, // sends a leading slash):"))
        lines.append(Text("Keys: " + KEYS_HELP))
    return Text("\n").join(lines)
