"""The search box (Ctrl+F or /search): finds text in the shown tab's chat, newest match first.

Every match is highlighted, ignoring case; Enter (or n in the chat) goes to the next older
match, Shift+Enter (or N) to the next newer one. Escape, or /search alone, ends the search.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from .chat_log import ChatLog


class SearchBox(Input):
    """What to find in one chat log; hidden while no search runs."""

    BINDINGS = [Binding("shift+enter", "step(1)", "Newer match", show=False)]

    DEFAULT_CSS = """
    SearchBox {
        display: none;
        border: tall $accent;
        &.-open { display: block; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="Search this tab: Enter older match, Shift+Enter newer, Esc ends", id=id)
        self.chat: ChatLog | None = None

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, chat: ChatLog, term: str | None = None) -> None:
        """Show the box over `chat`; with `term`, search for it at once."""
        self.add_class("-open")
        self.chat = chat
        if term is not None and term != self.value:
            self.value = term  # Input.Changed runs the search
        else:
            self.find()

    def close(self) -> bool:
        """End the search: highlights go, the box hides. False if no search was running."""
        if not self.is_open:
            return False
        self.remove_class("-open")
        if self.chat is not None:
            self.chat.search("")
        self.chat = None
        return True

    def retarget(self, chat: ChatLog) -> None:
        """Another tab is shown: search there instead."""
        if self.is_open and chat is not self.chat:
            if self.chat is not None:
                self.chat.search("")
            self.chat = chat
            self.find()

    def find(self) -> None:
        """Highlight the matches of what is typed and go to the newest."""
        if self.chat is None:
            return
        self.chat.search(self.value)
        self.action_step(0)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.is_open:
            self.find()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_step(-1)

    def action_step(self, step: int) -> None:
        """Go `step` matches newer (negative: older); 0 goes to the newest."""
        chat = self.chat
        if chat is None:
            return
        matches = chat.matching_entries()
        if not self.value:
            self.border_title = None
            return
        if not matches:
            self.border_title = "no match"
            return
        current = chat.current_match
        index = len(matches) - 1 if step == 0 or current not in matches else matches.index(current) + step
        index = max(0, min(len(matches) - 1, index))
        chat.show_match(matches[index])
        self.border_title = f"match {len(matches) - index} of {len(matches)}, newest first"
