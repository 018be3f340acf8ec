"""The typing line under the chat: "Mary is typing…", "Mary and John are typing…", "3 people are typing…".

It shows who is typing in the shown conversation, from the hub's `typing` frames, each for a few
seconds after their last (`TypingBoard`), and hides while nobody is. Its one timer, which drops
those shown long enough, belongs to the widget, so it stops with the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from rich.text import Text
from textual.widgets import Static

from ...events import RenumberedClient
from ...protocol import ChatMessage, ClientInfo, ClientStatus, TypingNotice
from ...text import printable
from ...typing_signals import Conversation, TypingBoard

# Calls back after a delay in seconds, as Widget.set_timer does (a test passes one it fires itself).
Schedule = Callable[[float, Callable[[], None]], object]


def typing_text(names: list[str]) -> str:
    """How the typists of one conversation are told; empty for nobody."""
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return f"{len(names)} people are typing…"


class TypingIndicator(Static):
    """Who is typing in the shown conversation of the shown line; one board per line (by its tab's id)."""

    DEFAULT_CSS = """
    TypingIndicator {
        display: none;
        height: 1;
        padding: 0 1;
        color: $text-muted;
        text-style: italic;
        &.-typing { display: block; }
    }
    """

    def __init__(
        self, name_of: Callable[[str, str], str], shown: tuple[str, Conversation], *, id: str | None = None
    ) -> None:
        """`name_of(line_tab, phone_number)`: the name shown for someone on that line; `shown`: the
        conversation on screen at first (the line's tab id, and None or the direct partner)."""
        super().__init__("", id=id)
        self._name_of = name_of
        self._boards: dict[str, TypingBoard] = {}
        self._shown = shown
        self._timer: object | None = None
        # Public seams: what time it is, and how to be called back later.
        self.clock: Callable[[], float] = time.monotonic
        self.schedule: Schedule = lambda delay, callback: self.set_timer(delay, callback)

    def show(self, line_tab: str, conversation: Conversation) -> None:
        """This conversation of this line is the one on screen now."""
        self._shown = (line_tab, conversation)
        self._redraw()

    def heard(self, line_tab: str, notice: TypingNotice) -> None:
        self._board(line_tab).heard(notice, self.clock())
        self._redraw()

    def message(self, line_tab: str, message: ChatMessage, me: str | None) -> None:
        """A message arrived: its sender is no longer typing there."""
        self._board(line_tab).message(message, me)
        self._redraw()

    def presence(self, line_tab: str, clients: Iterable[ClientInfo]) -> None:
        """Who went OFFLINE (or came back under a new number) types no more under the old one."""
        board = self._board(line_tab)
        for info in clients:
            if info.status is ClientStatus.OFFLINE:
                board.gone(info.phone_number)
            elif isinstance(info, RenumberedClient):
                board.gone(info.previous_phone_number)
        self._redraw()

    def forget(self, line_tab: str) -> None:
        """The line was left (or its connection ended): nobody types there."""
        self._boards.pop(line_tab, None)
        self._redraw()

    def _board(self, line_tab: str) -> TypingBoard:
        return self._boards.setdefault(line_tab, TypingBoard())

    def _expire(self) -> None:
        self._timer = None
        self._redraw()

    def _redraw(self) -> None:
        now = self.clock()
        due = [when for board in self._boards.values() if (when := board.expire(now)) is not None]
        names: list[str] = []
        if (board := self._boards.get(self._shown[0])) is not None:
            names = [self._name_of(self._shown[0], number) for number in board.typists(self._shown[1], now)]
        # Names as text, never markup: whatever someone chose as a nickname is drawn as it is.
        self.update(Text(printable(typing_text(names))))
        self.set_class(bool(names), "-typing")
        if due and self._timer is None and self.is_attached:
            self._timer = self.schedule(max(0.0, min(due) - now), self._expire)
