"""The header: which line, who I am (nickname and phone number), and the connection state."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
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
        yield Label("", id="status-state")

    def show_line(self, line: str) -> None:
        self.query_one("#status-line", Label).update(Text(f"ozchat #{printable(line)}"))

    def show_me(self, me: ClientInfo) -> None:
        name = Text(printable(me.display_name), nickname_style(me.display_name))
        self.query_one("#status-me", Label).update(Text.assemble(name, (f" {me.phone_number}", "dim")))

    def show_state(self, tone: str, text: str) -> None:
        """`tone` is one of CONNECTION_TONES and picks the colour; `text` may hold a reason."""
        label = self.query_one("#status-state", Label)
        label.set_classes(f"-{tone}")
        label.update(Text(f"● {printable(text)}"))
