"""The header: the line shown, who I am on it (nickname and phone number), the other lines with unread
messages, and the shown line's connection state."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label

from ...protocol import ClientInfo
from ...text import printable
from ..nick_colours import nickname_style

CONNECTION_TONES = ("connecting", "connected", "reconnecting", "closed")


class StatusBar(Horizontal):
    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        & > Label { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
        & > #status-line { text-style: bold; color: $accent; }
        & > #status-me { width: auto; max-width: 50%; }
        & > #status-unread { width: auto; max-width: 40%; display: none; }
        & > #status-state { width: 1fr; content-align-horizontal: right; color: $text-muted; }
        & > #status-state.-connecting { color: $warning; }
        & > #status-state.-connected { color: $success; }
        & > #status-state.-reconnecting { color: $warning; text-style: bold; }
        & > #status-state.-closed { color: $error; text-style: bold; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Label("ozchat", id="status-line")
        yield Label("", id="status-me")
        yield Label("", id="status-unread")
        yield Label("", id="status-state")

    def show_line(self, line: str, me: ClientInfo | None = None) -> None:
        """The line shown, and who I am on it (nobody yet: None)."""
        self.query_one("#status-line", Label).update(Text(f"ozchat #{printable(line)}"))
        if me is None:
            self.query_one("#status-me", Label).update("")
        else:
            self.show_me(me)

    def show_unread(self, lines: Content) -> None:
        """The other lines with unread messages, e.g. `#Sales (3 @)`; empty when none."""
        label = self.query_one("#status-unread", Label)
        label.display = bool(lines)
        label.update(Content("unread: ") + lines)

    def show_me(self, me: ClientInfo) -> None:
        name = Text(printable(me.display_name), nickname_style(me.display_name))
        self.query_one("#status-me", Label).update(Text.assemble(name, (f" {me.phone_number}", "dim")))

    def show_state(self, tone: str, text: str) -> None:
        """`tone` is one of CONNECTION_TONES and picks the colour; `text` may hold a reason."""
        label = self.query_one("#status-state", Label)
        label.set_classes(f"-{tone}")
        label.update(Text(f"● {printable(text)}"))
