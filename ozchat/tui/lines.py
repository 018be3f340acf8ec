"""The lines the app is on: each with its own client (its own connection to the hub), people, tabs and files.

Each line's worker (`bridge.run_client`) posts the client's events as Messages stamped with the
id of the line's tab (`messages.FromLine`); the app hands each to its `LineSession`, which draws
it into that line's tabs, and into the sidebar and status bar while that line is the one shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message
from textual.worker import Worker

from ..chat_logs import LineLogs
from ..client import OzWebClient
from ..input_history import InputHistory
from ..protocol import ClientInfo, ConnectionState
from ..roster import Roster
from . import texts
from .bridge import Join, disconnect, run_client
from .chat_logger import ChatLogger
from .conversations import Conversation
from .ignoring import IgnoreList
from .messages import (
    ChatReceived,
    ConnectionChanged,
    FromLine,
    HistoryGap,
    HubErrorReceived,
    PresenceChanged,
    SystemNotice,
)
from .presence import apply_presence
from .widgets import StatusBar

if TYPE_CHECKING:
    from .app import OzChatApp

RETRY_KEY = "retrying"  # the one chat line that says how trying to reach the hub goes
MAX_RECALL = 200  # inputs Up walks back through, per line


@dataclass
class LineParts:
    """What one line is opened with: its own client, where it joins, and its files (None: not kept)."""

    client: OzWebClient
    join: Join | None
    chat_logs: LineLogs | None = None
    input_history: InputHistory | None = None
    ignoring: IgnoreList | None = None
    avatar_file: Path | None = None  # uploaded once connected, then shared as the avatar


LineFactory = Callable[[str], LineParts]  # the parts of a line joined with /join or a further --line


class LineSession:
    """One line: its client and worker, its roster and who I am on it, its tab, logs, inputs and ignore list."""

    def __init__(self, app: OzChatApp, parts: LineParts, tab_id: str, max_entries: int) -> None:
        self.app = app
        self.client = parts.client
        self.join = parts.join
        self.name: str | None = parts.join.line if parts.join is not None else None
        self.tab = Conversation(f"#{self.name or 'line'}", None, max_entries, id=tab_id)
        self.roster = Roster()
        self.me: ClientInfo | None = None
        self.ignoring = parts.ignoring if parts.ignoring is not None else IgnoreList()
        self.input_history = parts.input_history
        self.recall: list[str] = parts.input_history.load()[-MAX_RECALL:] if parts.input_history is not None else []
        self.chat_logger = ChatLogger(parts.chat_logs, self.name_of, lambda failure: self.notice(failure, "error"))
        self.state = ("connecting", f"connecting to {self.join.server}") if self.join else ("closed", "not connected")
        self._avatar_file = parts.avatar_file
        self._has_joined = False
        self._worker: Worker[None] | None = None

    @property
    def tab_id(self) -> str:
        return self.tab.id or ""

    @property
    def shown(self) -> bool:
        """Whether this is the line of the tab on screen (its people are in the sidebar)."""
        return self.app.active_line is self

    def start(self) -> None:
        """Connect the line's client in its own worker; nothing to do without somewhere to join."""
        if self.join is not None:
            connecting = run_client(self.client, self.join, self.post)
            self._worker = self.app.run_worker(connecting, exclusive=True, group=f"client-{self.tab_id}")

    async def close(self) -> None:
        """Stop the worker, leave the line and close its log file (its tabs are the app's to remove)."""
        if self._worker is not None:
            self._worker.cancel()
        await disconnect(self.client)
        await self.chat_logger.close()

    def post(self, message: Message) -> None:
        """Post a Message of this line's worker to the app, stamped with the line's tab."""
        if isinstance(message, FromLine):
            message.line_tab = self.tab_id
        self.app.post_message(message)

    def notice(self, text: str, kind: str = "system") -> None:
        self.post(SystemNotice(text, kind))

    def everyone(self) -> list[ClientInfo]:
        """Everyone on the line, me included, by nickname ignoring case."""
        people = [*self.roster, *([self.me] if self.me is not None else [])]
        return sorted(people, key=lambda info: info.display_name.casefold())

    def nicknames(self) -> list[str]:
        names = [info.display_name for info in self.roster]
        return [*names, self.me.display_name] if self.me is not None else names

    def name_of(self, phone_number: str, nickname: str | None = None) -> str:
        """The name shown for a number: as the roster has it, else the nickname a message carried, else the number."""
        info = self.roster.get(phone_number)
        return info.display_name if info is not None else nickname or phone_number

    def show_me(self, me: ClientInfo) -> None:
        self.me = me
        if self.shown:
            self.app.query_one(StatusBar).show_me(me)
            self.app.people.show(self.roster, self.me)

    def show_state(self, tone: str, text: str) -> None:
        self.state = (tone, text)
        if self.shown:
            self.app.query_one(StatusBar).show_state(tone, text)

    def draw(self) -> None:
        """Show this line in the status bar and the sidebar: it is now the line shown."""
        status = self.app.query_one(StatusBar)
        status.show_line(self.name or "line", self.me)
        status.show_state(*self.state)
        self.app.people.show(self.roster, self.me)

    # ---- Messages from the line's worker ------------------------------------------------

    def connection_changed(self, message: ConnectionChanged) -> None:
        app, change, log = self.app, message.change, self.tab.chat
        if change.state is ConnectionState.ACCESS_GRANTED:
            log.discard(RETRY_KEY)
            self.chat_logger.epoch = message.epoch
            self.me = message.me
            self.name = message.line or self.name
            app.tabs.retitle(self.tab, f"#{self.name}")
            if self.me is not None:
                log.add_system(app.now(), texts.joined_text(self.me, self.name or "", again=self._has_joined))
                self._has_joined = True
                if change.taken_nickname is not None:
                    log.add_system(app.now(), texts.nickname_taken_text(change.taken_nickname, self.me))
                if self._avatar_file is not None:
                    app.command_runner.upload_avatar(self.tab, self._avatar_file)
                    self._avatar_file = None
            if change.history_reset:  # so the replay that follows is not taken for new messages
                log.add_system(app.now(), texts.HISTORY_RESET_NOTICE, kind="error")
            here = " to a local hub started here" if app.hub_started_here() else ""
            self.state = ("connected", f"connected{here}")
        else:
            if not change.retrying:
                self.roster.clear()  # while reconnecting the client reconciles it at sync
                self.ignoring.forget_numbers()
            description = texts.describe_state(change)
            self.state = ("reconnecting" if change.retrying else "closed", description)
            # Attempt after attempt updates one line rather than adding one each.
            kind, key = ("system", RETRY_KEY) if change.retrying else ("error", None)
            log.add_system(app.now(), description, kind=kind, key=key)
        if self.shown:
            self.draw()

    def presence_changed(self, message: PresenceChanged) -> None:
        now = self.app.now()
        for info in message.clients:  # first: the sidebar drawn next dims whom the ignore list now covers
            if self.me is None or info.phone_number != self.me.phone_number:
                self.ignoring.saw(info)
        for event in apply_presence(message.clients, self.me, self.roster, self.app.tabs, self.tab):
            self.tab.chat.add_system(now, event)
            self.chat_logger.event(now, event.plain)  # joins, leaves, renames: logged as events
        if self.shown:
            self.app.people.show(self.roster, self.me)

    async def chat_received(self, received: ChatReceived) -> None:
        tabs = self.app.tabs
        if await tabs.receive(received.message, self.me, self.roster, self.name_of, self.tab, self.ignoring):
            self.chat_logger.message(received.message, self.me, self.app.now().tzinfo)

    def history_gap(self, message: HistoryGap) -> None:
        self.tab.chat.add_system(self.app.now(), texts.gap_text(message.gap))

    def system_notice(self, message: SystemNotice) -> None:
        self.tab.chat.add_system(self.app.now(), message.text, kind=message.kind)

    def hub_error(self, message: HubErrorReceived) -> None:
        error = message.error
        self.tab.chat.add_system(self.app.now(), f"the hub says {error.code}: {error.message}", kind="error")


def same_hub(first: LineParts, line: str) -> LineParts:
    """A line joined like the `first`: the same hub, properties, token and avatar file, with a client of its own;
    no files kept."""
    join = first.join
    joining = Join(join.server, line, join.properties, join.token) if join else None
    return LineParts(OzWebClient(), joining, avatar_file=first.avatar_file)


async def join_line(app: OzChatApp, name: str, *, activate: bool = True) -> LineSession:
    """The line of this name, joined with its own client (`app.line_factory`) and its tab put last, if new."""
    line = next((line for line in app.lines if line.name == name), None)
    if line is None:
        taken = {line.tab_id for line in app.lines}
        tab_id = next(f"line-{n}" for n in range(2, len(taken) + 3) if f"line-{n}" not in taken)
        line = LineSession(app, app.line_factory(name), tab_id, app.max_chat_lines)
        app.lines.append(line)
        await app.tabs.add_pane(line.tab)
        app.tabs.lines_changed()  # the direct tabs now say which line they are on
        line.start()
    if activate:
        app.tabs.active = line.tab_id
    return line


async def part_line(app: OzChatApp, line: LineSession) -> None:
    """Leave `line`: its connection, then its tabs; the tab of the line before it is shown."""
    index = app.lines.index(line)
    app.lines.remove(line)
    app.tabs.active = app.lines[max(index - 1, 0)].tab_id
    await line.close()
    for tab in app.tabs.of_line(line.tab):
        await app.tabs.remove_pane(tab.id or "")
    app.tabs.lines_changed()
    app.refresh_bindings()
