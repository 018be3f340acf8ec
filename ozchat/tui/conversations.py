"""The chat's tabs: one per line the app is on, and after each the direct conversations of that line.

Each tab keeps its unread count; a direct tab belongs to one line (`Conversation.line_tab`), and
the status bar is told (`Conversations.UnreadChanged`) which other lines have unread messages.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Static, TabbedContent, TabPane
from textual.widgets.tabbed_content import ContentTab

from ..protocol import ChatMessage, ClientInfo
from ..text import printable
from .ignoring import IgnoreList

if TYPE_CHECKING:
    from .notifications import Notifier, RateLimit
from .texts import HIDDEN_KEY, followed_text, hidden_text, offline_text
from .unread import UNREAD_MARKS, Unread, mentions
from .widgets import ChatLog

LINE_TAB = "line"  # the first line's tab; the lines joined later are line-2, line-3…
MAX_DIRECT_TABS = 20  # direct messages that would open more tabs are shown in the line's tab


class Conversation(TabPane):
    """One tab: a whole line, or a direct conversation on a line (`line_tab`: the id of that line's tab)."""

    DEFAULT_CSS = """
    Conversation {
        padding: 0;
        height: 1fr;
        & > .unseen { dock: bottom; height: 1; width: 1fr; background: $warning 30%; content-align-horizontal: center; }
    }
    """

    def __init__(
        self,
        caption: str,
        partner: str | None,
        max_entries: int,
        *,
        id: str,
        line_tab: str | None = None,
        line_caption: str | None = None,
    ) -> None:
        self.caption = caption
        self.partner = partner
        self.line_caption = line_caption  # a direct tab's line, shown after its caption while several lines are open
        self.line_tab = line_tab or id
        self.unread = 0
        self.unread_level = Unread.NONE
        self.chat = ChatLog(max_entries)
        self.unseen_notice = Static("", classes="unseen")
        self.unseen_notice.display = False
        super().__init__(self.label(), self.chat, self.unseen_notice, id=id)

    def label(self) -> Content:
        shown = f"{self.caption} · {self.line_caption}" if self.line_caption else self.caption
        title = Content(printable(shown))
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


class Conversations(TabbedContent):
    """Each line's tab, followed by its direct tabs as they open; a tab shown is marked read."""

    @dataclass
    class UnreadChanged(Message):
        """Some tab's unread count changed: `unread_elsewhere` says what the other lines hold now."""

    DEFAULT_CSS = """
    Conversations {
        width: 1fr;
        height: 1fr;
        & > ContentSwitcher { height: 1fr; }
    }
    """

    def __init__(
        self,
        max_entries: int,
        bell_limit: RateLimit,
        clock: Callable[[], datetime],
        notifier: Notifier,
        *,
        id: str | None = None,
    ) -> None:
        """Compose it with the line's `Conversation` inside; direct tabs keep `max_entries` chat entries.

        A message for me is told by `notifier` while the terminal is not focused (and rings unless it says "off").

        A message for me (direct, or naming me) rings the bell as often as `bell_limit` allows;
        the notices a tab gets are stamped by `clock`.
        """
        super().__init__(id=id)
        self._max_entries = max_entries
        self._bell_limit = bell_limit
        self._clock = clock
        self._notifier = notifier
        self._shown: Conversation | None = None

    def on_mount(self) -> None:
        # The terminal's focus (AppFocus/AppBlur) decides, with the tab shown, whether a tab is being read.
        self.watch(self.app, "app_focus", self._reading_changed, init=False)
        self._shown = self.active_conversation

    def _reading_changed(self, focused: bool) -> None:
        self.active_conversation.chat.set_reading(focused)

    @property
    def line(self) -> Conversation:
        """The tab of the line the shown tab belongs to."""
        return self.home(self.active_conversation)

    def home(self, conversation: Conversation) -> Conversation:
        """The tab of the line `conversation` belongs to."""
        return self.query_one(f"#{conversation.line_tab}", Conversation)

    @property
    def active_conversation(self) -> Conversation:
        try:
            pane = self.active_pane
        except NoMatches:  # the active tab is being removed
            pane = None
        return pane if isinstance(pane, Conversation) else self.query(Conversation).first()

    def of_line(self, home: Conversation) -> list[Conversation]:
        """The line's tab and its direct tabs, in their order."""
        return [tab for tab in self.query(Conversation) if tab.line_tab == home.id]

    def direct(self, phone_number: str, home: Conversation | None = None) -> Conversation | None:
        """The direct tab on `home`'s line (by default the line shown) whose partner has this number now (a tab
        follows its partner to a new number)."""
        return next((tab for tab in self.of_line(home or self.line) if tab.partner == phone_number), None)

    def direct_count(self) -> int:
        return sum(1 for conversation in self.query(Conversation) if conversation.partner is not None)

    def _detached(self, name: str, present: Container[str], home: Conversation) -> list[Conversation]:
        """The line's direct tabs with someone called `name` whose number is not `present` on the line."""
        folded = name.casefold()
        return [
            tab
            for tab in self.of_line(home)
            if tab.partner is not None and tab.partner not in present and tab.caption.casefold() == folded
        ][:1]

    async def open(self, phone_number: str, name: str, home: Conversation, *, activate: bool = False) -> Conversation:
        """The direct-message tab with this number on `home`'s line, added (captioned `name`) after its tabs if new."""
        conversation = self.direct(phone_number, home)
        if conversation is None:
            caption = self._unique_caption(name, phone_number, None, home)
            tab_id = self._new_tab_id(phone_number, home)
            line_caption = self._line_caption(home)
            conversation = Conversation(
                caption, phone_number, self._max_entries, id=tab_id, line_tab=home.id, line_caption=line_caption
            )
            conversation.chat.set_reading(False)  # not shown yet: its first message needs no marker, the next do
            await self.add_pane(conversation, after=self.of_line(home)[-1])
            self.app.refresh_bindings()
        if activate:
            self.active = conversation.id or LINE_TAB
        return conversation

    async def receive(
        self,
        message: ChatMessage,
        me: ClientInfo | None,
        present: Container[str],
        name_of: Callable[[str, str | None], str],
        home: Conversation,
        ignoring: IgnoreList,
    ) -> bool:
        """Show a chat message of `home`'s line in its tab, opening a direct one if needed; count it unread, ring if
        it is for me.

        `present` holds the numbers on the line; `name_of(number, nickname)` is the name shown for a number.
        False if it was hidden (its sender is one the line's `ignoring` hides).
        """
        own = me is not None and message.sender == me.phone_number
        if not own and ignoring.hides(message.sender, name_of(message.sender, message.nickname)):
            ignoring.hidden += 1
            home.chat.add_system(self._clock(), hidden_text(ignoring.hidden), key=HIDDEN_KEY)
            return False
        tag = None
        if message.to is None:
            conversation = home
        else:
            partner = message.to if own else message.sender
            found = self.direct(partner, home)
            if found is None and partner in present and self.direct_count() < MAX_DIRECT_TABS:
                found = await self.open(partner, name_of(partner, None), home)
            if found is None:
                # No tab for someone gone, nor past the cap: a script must not open tabs without end.
                conversation = home
                tag = f"direct to {name_of(partner, None)}" if own else "direct"
            else:
                conversation = found
        mention = not own and not message.history and me is not None and mentions(message.text, me.display_name)
        sender = me.display_name if own and me is not None else name_of(message.sender, message.nickname)
        conversation.chat.add_message(
            datetime.fromtimestamp(message.ts / 1000, tz=self._clock().tzinfo),
            sender,
            message.text,
            action=message.action,
            own=own,
            mention=mention,
            history=message.history,
            tag=tag,
        )
        direct = message.to is not None and not own
        if conversation is not self.active_pane and not message.history:
            conversation.count_unread(Unread.DIRECT if direct else Unread.MENTION if mention else Unread.MESSAGE)
            self.relabel(conversation)
        if mention or (direct and not message.history):
            if self._notifier.rings and self._bell_limit.allow():
                self.app.bell()
            title = f"{sender} (direct)" if direct else f"{sender} in {home.caption}"
            said = f"* {sender} {message.text}" if message.action else message.text
            self._notifier.tell(title, said, focused=self.app.app_focus)
        return True

    def partner_left(self, info: ClientInfo, find: Callable[[str], list[ClientInfo]], home: Conversation) -> None:
        """Say so in the line's direct tab with `info`'s number; it follows them if `find` has them back already."""
        conversation = self.direct(info.phone_number, home)
        if conversation is None:
            return
        conversation.chat.add_system(self._clock(), offline_text(info.display_name))
        back = find(conversation.caption)
        if len(back) == 1:  # already back under a new number, before this goodbye arrived
            self.follow(conversation, back[0])

    def partner_joined(self, info: ClientInfo, present: Container[str], home: Conversation) -> None:
        """A direct tab of the line with someone of this name whose number left now reaches their new number."""
        for detached in self._detached(info.display_name, present, home):
            self.follow(detached, info)

    def partner_renamed(self, info: ClientInfo, home: Conversation) -> None:
        conversation = self.direct(info.phone_number, home)
        if conversation is not None:
            self.retitle(conversation, info.display_name)

    def follow(self, conversation: Conversation, info: ClientInfo) -> None:
        """The tab's partner came back under a new number (a new connection): the tab now reaches that number."""
        if conversation.partner == info.phone_number or self.direct(info.phone_number, self.home(conversation)):
            return
        conversation.partner = info.phone_number
        conversation.chat.add_system(self._clock(), followed_text(info))

    def _new_tab_id(self, phone_number: str, home: Conversation) -> str:
        taken = {conversation.id for conversation in self.query(Conversation)}
        prefix = "dm" if home.id == LINE_TAB else f"{home.id}-dm"  # numbers are the hub's: two lines may share one
        tab_id = base = f"{prefix}-{phone_number}"
        n = 1
        while tab_id in taken:  # a tab that followed its partner elsewhere keeps its first id
            n += 1
            tab_id = f"{base}-{n}"
        return tab_id

    def _unique_caption(
        self, name: str, phone_number: str, conversation: Conversation | None, home: Conversation
    ) -> str:
        """`name`, or `name number` when another tab of the line already shows that name: no two tabs look alike
        (tabs of different lines differ by their line's name, shown while several are open)."""
        folded = name.casefold()
        if any(other is not conversation and other.caption.casefold() == folded for other in self.of_line(home)):
            return f"{name} {phone_number}"
        return name

    def _line_caption(self, home: Conversation) -> str | None:
        """The line's name as its direct tabs show it: only while more than one line is open."""
        several = sum(1 for tab in self.query(Conversation) if tab.partner is None) > 1
        return home.caption if several else None

    def lines_changed(self) -> None:
        """A line was opened, closed or renamed: each direct tab shows its line's name, or not, as that now asks."""
        for conversation in self.query(Conversation):
            if conversation.partner is not None:
                conversation.line_caption = self._line_caption(self.home(conversation))
                self.relabel(conversation)

    def retitle(self, conversation: Conversation, caption: str) -> None:
        if conversation.partner is not None:
            caption = self._unique_caption(caption, conversation.partner, conversation, self.home(conversation))
        conversation.caption = caption
        self.relabel(conversation)
        if conversation.partner is None:
            self.lines_changed()

    def relabel(self, conversation: Conversation) -> None:
        if not conversation.is_attached:
            return
        try:
            tab = self.get_tab(conversation)
        except NoMatches:
            self.call_after_refresh(self.relabel, conversation)  # its tab is still being mounted
            return
        tab.label = conversation.label()
        self.post_message(self.UnreadChanged())

    def unread_elsewhere(self) -> Content:
        """The other lines with unread messages, as the status bar shows them: `#Sales (3 @)`, highest level."""
        shown = self.active_conversation.line_tab
        lines: dict[str, list[Conversation]] = {}
        for tab in self.query(Conversation):
            lines.setdefault(tab.line_tab, []).append(tab)
        parts: list[Content] = []
        for line_tab, tabs in lines.items():
            unread = sum(tab.unread for tab in tabs)
            if line_tab == shown or not unread:
                continue
            marker, style = UNREAD_MARKS[max(tab.unread_level for tab in tabs)]
            home = next(tab for tab in tabs if tab.id == line_tab)
            parts.append(Content(printable(home.caption)) + Content.styled(f" ({unread}{marker})", style or "bold"))
        return Content(" ").join(parts)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.app.refresh_bindings()
        conversation = event.pane
        if isinstance(conversation, Conversation) and conversation is not self._shown:
            if self._shown is not None and self._shown.is_attached:
                self._shown.chat.set_reading(False)
            conversation.chat.set_reading(self.app.app_focus)
            self._shown = conversation
        if isinstance(conversation, Conversation) and conversation.unread:
            conversation.mark_read()
            self.relabel(conversation)
        self.post_message(self.UnreadChanged())

    def offers(self, action: str) -> bool:
        """F3 and F4 are offered only where they do something: F3 with two tabs or more, F4 in a direct tab."""
        if action in ("next_tab", "show_tab"):
            return self.tab_count > 1
        if action == "close_tab":
            return self.active_conversation.partner is not None
        return True

    def in_tab_order(self) -> list[Conversation]:
        """The tabs as the tab bar shows them (a direct tab goes in after its line's tabs; its pane goes last)."""
        return [pane for tab in self.query(ContentTab) if isinstance(pane := self.get_pane(tab), Conversation)]

    def show_next(self, step: int = 1) -> None:
        """Show the tab `step` tabs after (before, if negative) the one shown, round the end."""
        panes = self.in_tab_order()
        index = panes.index(self.active_conversation)
        self.active = panes[(index + step) % len(panes)].id or LINE_TAB

    def show_number(self, number: int) -> None:
        """Show the tab at this place, counting from 1; nothing if there are fewer tabs."""
        panes = self.in_tab_order()
        if 1 <= number <= len(panes):
            self.active = panes[number - 1].id or LINE_TAB

    async def close_active(self) -> None:
        """Close the tab shown if it is a direct one, and show its line's."""
        conversation = self.active_conversation
        if conversation.partner is not None:
            await self.remove_pane(conversation.id or "")
            self.active = conversation.line_tab
            self.app.refresh_bindings()
