"""The chat pane: timestamped lines, rewrapped to the pane's width, bounded in memory.

A Line-API `ScrollView` that keeps entries (not rendered lines), so a resize rewraps every
message with a hanging indent and a theme change restyles them. It follows the newest line
unless the reader scrolled up; then it counts the messages that arrive below the screen.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...text import printable
from ..nick_colours import nickname_style
from .chat_entry import HISTORY_LABEL, UNREAD_LABEL, Entry, day_label, highlighted, rule

__all__ = ["ChatLog", "Entry"]


class ChatLog(ScrollView, can_focus=True):
    """Chat lines for one conversation; live lines below a divider that ends the history."""

    BINDINGS = [
        Binding("n", "app.search_step(-1)", "Older match", show=False),
        Binding("N", "app.search_step(1)", "Newer match", show=False),
    ]

    @dataclass
    class Unseen(Message):
        """How many messages arrived below the screen since the reader scrolled up (0: at the bottom again)."""

        chat_log: ChatLog
        count: int

    COMPONENT_CLASSES = {
        "chat-log--time",
        "chat-log--own",
        "chat-log--mention",
        "chat-log--system",
        "chat-log--error",
        "chat-log--history",
        "chat-log--divider",
        "chat-log--tag",
        "chat-log--match",
        "chat-log--current-match",
        "chat-log--day",
        "chat-log--unread",
    }

    DEFAULT_CSS = """
    ChatLog {
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
        & > .chat-log--time { color: $text-muted; }
        & > .chat-log--own { background: $primary 12%; }
        & > .chat-log--mention { background: $warning 22%; }
        & > .chat-log--system { color: $text-muted; text-style: italic; }
        & > .chat-log--error { color: $text-error; }
        & > .chat-log--history { color: $text-muted; }
        & > .chat-log--divider { color: $secondary; }
        & > .chat-log--tag { color: $accent; text-style: bold; }
        & > .chat-log--match { background: $warning 45%; }
        & > .chat-log--current-match { background: $accent; color: $text; text-style: bold; }
        & > .chat-log--day { color: $text-muted; }
        & > .chat-log--unread { color: $error; }
    }
    """

    def __init__(self, max_entries: int = 2000, *, id: str | None = None) -> None:
        if max_entries < 1:
            raise ValueError(f"a chat log keeps at least 1 entry, not {max_entries}")
        super().__init__(id=id)
        self.max_entries = max_entries
        self._history: deque[Entry] = deque()
        self._live: deque[Entry] = deque()
        self._lines: list[Strip] | None = None
        self._lines_width = 0
        self._drawn_styles: tuple[Style, ...] | None = None
        self._restyled = True
        self._following = True
        self.unseen = 0
        self.entries_laid_out = 0  # entries wrapped and styled so far: a focus change must not add to it
        self._search: re.Pattern[str] | None = None
        self.current_match: Entry | None = None
        self._entry_lines: dict[int, int] = {}  # each entry's first line, by id, as last laid out
        self._reading = True  # the reader sees this log: its tab is shown and the terminal focused
        self._awaiting_marker = False  # looked away: the next message gets the marker above it
        self._unread_marker: Entry | None = None

    @property
    def following(self) -> bool:
        """Whether the newest line is kept in view: true unless the reader scrolled up."""
        return self._following

    @property
    def entries(self) -> list[Entry]:
        return [*self._history, *self._live]

    @property
    def plain_lines(self) -> list[str]:
        """The text of every entry, unwrapped: what a reader sees, for tests and copying."""
        return [self._line_text(entry).plain for entry in self.entries]

    # ---- adding -----------------------------------------------------------------------

    def add(self, entry: Entry) -> None:
        if entry.key is not None:
            self._drop_keyed(entry.key)
        if self._awaiting_marker and entry.name is not None and not entry.history:
            self._awaiting_marker = False
            self._unread_marker = entry if self._history or self._live else None  # none above the first line
        (self._history if entry.history else self._live).append(entry)
        while len(self._history) + len(self._live) > self.max_entries:
            (self._history or self._live).popleft()
        self._lines = None
        if not self._following and entry.name is not None:
            self._set_unseen(self.unseen + 1)
        self._refresh_size()

    def add_message(
        self,
        time: datetime,
        name: str,
        text: str,
        *,
        action: bool = False,
        own: bool = False,
        mention: bool = False,
        history: bool = False,
        tag: str | None = None,
    ) -> None:
        """Someone's message; `name`, `text` and `tag` are shown literally, never as markup."""
        kind = "action" if action else "message"
        shown_tag = printable(tag) if tag is not None else None
        shown = Text(printable(text, keep_newlines=True))
        self.add(Entry(time, shown, printable(name), kind, own, mention, history, shown_tag))

    def add_system(self, time: datetime, text: Text | str, *, kind: str = "system", key: str | None = None) -> None:
        """A line from ozchat itself (`John is ONLINE`); names in a Text must be printable already.

        With a `key`, the line replaces the earlier one with that key, and is shown last.
        """
        body = text if isinstance(text, Text) else Text(printable(text, keep_newlines=True))
        self.add(Entry(time, body, None, kind, key=key))

    def discard(self, key: str) -> None:
        """Remove the line added with `key`, if it is still there."""
        if self._drop_keyed(key):
            self._refresh_size()

    def _drop_keyed(self, key: str) -> bool:
        kept = deque(entry for entry in self._live if entry.key != key)
        if len(kept) == len(self._live):
            return False
        self._live = kept
        self._lines = None
        return True

    def set_reading(self, reading: bool) -> None:
        """Whether the reader sees this log. Looking away moves the marker of where reading stopped:
        it goes above the first message that arrives next, and stays there once back."""
        if self._reading and not reading:
            self._unread_marker = None
            self._awaiting_marker = True
            self._lines = None
            self.refresh()
        elif reading:
            self._awaiting_marker = False
        self._reading = reading

    def clear(self) -> None:
        self._history.clear()
        self._live.clear()
        self._unread_marker = None
        self._lines = None
        self._following = True
        self._set_unseen(0)
        self._refresh_size()

    # ---- search -----------------------------------------------------------------------

    def search(self, term: str) -> None:
        """Highlight every match of `term`, ignoring case, in what was said ('' for none)."""
        self._search = re.compile(re.escape(term), re.IGNORECASE) if term else None
        self.current_match = None
        self._forget_lines()

    def matching_entries(self) -> list[Entry]:
        """The entries that hold a match, oldest first."""
        pattern = self._search
        if pattern is None:
            return []
        return [entry for entry in self.entries if pattern.search(entry.body.plain)]

    def show_match(self, entry: Entry) -> None:
        """Mark `entry` as the match being read and scroll it into the middle of the pane."""
        for marked in (self.current_match, entry):
            if marked is not None:
                marked._strips = None
        self.current_match = entry
        self._lines = None
        lines = self._all_lines()
        y = self._entry_lines.get(id(entry), 0)
        self.virtual_size = Size(self.scrollable_content_region.width, len(lines))
        self._following = False
        self.scroll_to(y=max(0, y - self.scrollable_content_region.height // 2), animate=False, force=True)
        self.refresh()

    def _forget_lines(self) -> None:
        for entry in self.entries:
            entry._strips = None
        self._lines = None
        self.refresh()

    def _body(self, entry: Entry) -> Text:
        """What was said, with the search's matches marked; the match being read stands out."""
        if self._search is None:
            return entry.body
        return highlighted(entry.body, self._search, self._style(
            "chat-log--current-match" if entry is self.current_match else "chat-log--match"
        ))

    # ---- drawing ----------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # Called before the component styles are updated, and on every focus change: compared when next drawn.
        self._restyled = True

    def _drop_lines_if_restyled(self) -> None:
        """Forget the rendered lines only if the styles they were drawn with changed."""
        self._restyled = False
        styles = tuple(self._style(component) for component in sorted(self.COMPONENT_CLASSES))
        if styles == self._drawn_styles:
            return
        self._drawn_styles = styles
        for entry in self.entries:
            entry._strips = None
        self._lines = None

    def _on_resize(self) -> None:
        self._refresh_size()

    def _refresh_size(self) -> None:
        if not self.is_mounted:
            return  # the first resize sizes it
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._all_lines()))
        if self._following:
            # After the layout: a scrollbar that appears narrows the pane and rewraps the lines.
            self.call_after_refresh(self._scroll_to_newest)
        self.refresh()

    def _scroll_to_newest(self) -> None:
        if not self._following:
            return
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._all_lines()))
        self.scroll_to(y=self.max_scroll_y, animate=False, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._following = round(new_value) >= self.max_scroll_y
        if self._following:
            self._set_unseen(0)

    def _set_unseen(self, count: int) -> None:
        if count != self.unseen:
            self.unseen = count
            self.post_message(self.Unseen(self, count))

    def scroll_to_place(self, where: str) -> None:
        """Scroll by the keys' words: page_up, page_down, oldest or newest."""
        if where == "page_up":
            self.scroll_page_up(animate=False)
        elif where == "page_down":
            self.scroll_page_down(animate=False)
        elif where == "oldest":
            self.scroll_home(animate=False)
        else:
            self.action_scroll_end()

    def action_scroll_end(self) -> None:
        """Back to the newest line, following again."""
        self._following = True
        self._set_unseen(0)
        self._refresh_size()

    def _prefix(self, entry: Entry) -> Text:
        prefix = Text(entry.time.strftime("%H:%M "), self._style("chat-log--time"))
        if entry.tag is not None:
            prefix.append(f"[{entry.tag}] ", self._style("chat-log--tag"))
        if entry.kind == "action":
            prefix.append("* ")
            prefix.append(entry.name or "", nickname_style(entry.name or ""))
            prefix.append(" ")
        elif entry.name is not None:
            prefix.append("<")
            prefix.append(entry.name, nickname_style(entry.name))
            prefix.append("> ")
        elif entry.kind == "error":
            prefix.append("! ", self._style("chat-log--error"))
        return prefix

    def _line_text(self, entry: Entry) -> Text:
        return Text.assemble(self._prefix(entry), entry.body)

    def _entry_style(self, entry: Entry) -> Style:
        if entry.own:
            return self._style("chat-log--own")
        if entry.mention:
            return self._style("chat-log--mention")
        if entry.kind in ("system", "error"):
            return self._style(f"chat-log--{entry.kind}")
        if entry.history:
            return self._style("chat-log--history")
        return Style()

    def _style(self, component: str) -> Style:
        """A component's style with translucent colours blended over this log's background."""
        styles = self.get_component_styles(component)
        base = self.background_colors[1]
        color = (base + styles.color).rich_color if styles.has_rule("color") else None
        background = (base + styles.background).rich_color if styles.has_rule("background") else None
        return Style(color=color, bgcolor=background) + styles.text_style

    def _render_entry(self, entry: Entry, width: int) -> list[Strip]:
        if entry._strips is not None and entry._strips[0] == width:
            return entry._strips[1]
        console = self.app.console
        style = self._entry_style(entry)
        prefix = self._prefix(entry)
        indent = prefix.cell_len if prefix.cell_len <= width // 2 else 0
        body = self._body(entry)
        if indent:
            # A hanging indent keeps wrapped lines clear of the time and the name.
            wrapped = body.wrap(console, width - indent)
            lines = [Text.assemble(prefix if n == 0 else " " * indent, line) for n, line in enumerate(wrapped)]
        else:
            lines = list(Text.assemble(prefix, body).wrap(console, width))
        for line in lines:
            line.stylize_before(style)
        strips = [
            Strip(Segment.adjust_line_length(list(line.render(console, "")), width, style), width)
            for line in lines or [Text()]
        ]
        entry._strips = (width, strips)
        self.entries_laid_out += 1
        return strips

    def _all_lines(self) -> list[Strip]:
        if self._restyled:
            self._drop_lines_if_restyled()
        width = self.scrollable_content_region.width
        if self._lines is None or width != self._lines_width:
            lines: list[Strip] = []
            self._entry_lines = {}
            previous: date | None = None
            first_live = self._live[0] if self._live else None
            for entry in self.entries if width > 0 else []:
                if entry is first_live and self._history:
                    lines.append(rule(width, HISTORY_LABEL, self._style("chat-log--divider")))
                day = entry.time.date()
                if previous is not None and day != previous:
                    lines.append(rule(width, day_label(day), self._style("chat-log--day")))
                previous = day
                if entry is self._unread_marker:
                    lines.append(rule(width, UNREAD_LABEL, self._style("chat-log--unread")))
                self._entry_lines[id(entry)] = len(lines)
                lines.extend(self._render_entry(entry, width))
            if width > 0 and self._history and not self._live:
                lines.append(rule(width, HISTORY_LABEL, self._style("chat-log--divider")))
            self._lines, self._lines_width = lines, width
        return self._lines

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        lines = self._all_lines()
        index = self.scroll_offset.y + y
        if index >= len(lines):
            return Strip.blank(width, self.rich_style)
        return lines[index].crop_extend(0, width, self.rich_style).apply_style(self.rich_style)
