"""The input line: recalls earlier inputs with Up/Down and completes with Tab."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.binding import Binding
from textual.widgets import Input

from ..commands import Completion, complete


SCROLL_KEYS = Binding.Group("Scroll")


class Composer(Input):
    """Where messages and /commands are typed; Enter submits (Input.Submitted)."""

    BINDINGS = [
        Binding("up", "recall(-1)", "Earlier input", show=False),
        Binding("down", "recall(1)", "Later input", show=False),
        Binding("tab", "complete", "Complete", show=False),
        # The chat scrolls while the focus stays here, so typing goes on.
        Binding("pageup", "app.scroll_chat('page_up')", "Scroll up", key_display="PgUp", group=SCROLL_KEYS),
        Binding("pagedown", "app.scroll_chat('page_down')", "Scroll down", key_display="PgDn", group=SCROLL_KEYS),
        Binding("ctrl+home", "app.scroll_chat('oldest')", "Oldest", show=False),
        Binding("ctrl+end", "app.scroll_chat('newest')", "Newest", show=False),
    ]

    DEFAULT_CSS = """
    Composer {
        border: tall $foreground 15%;
        &:focus { border: tall $primary; }
    }
    """

    def __init__(self, nicknames: Callable[[], Iterable[str]], *, max_recall: int = 200, id: str | None = None) -> None:
        super().__init__(placeholder="Message, or /help for commands", id=id, select_on_focus=False)
        self._nicknames = nicknames
        self._max_recall = max_recall
        self._recall: list[str] = []
        self._recall_index = 0
        self._draft = ""
        self._completion: Completion | None = None
        self._completion_index = 0
        self._completed_value: str | None = None

    def remember(self, text: str) -> None:
        """Keep a submitted line for Up/Down; repeats of the last one are kept once."""
        if text and (not self._recall or self._recall[-1] != text):
            self._recall.append(text)
            del self._recall[: -self._max_recall]
        self._recall_index = len(self._recall)
        self._draft = ""

    def action_recall(self, step: int) -> None:
        index = self._recall_index + step
        if not 0 <= index <= len(self._recall):
            return
        if self._recall_index == len(self._recall):
            self._draft = self.value
        self._recall_index = index
        self.value = self._recall[index] if index < len(self._recall) else self._draft
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        if self._completion is not None and self.value == self._completed_value:
            # Tab again: the next candidate replaces the one just inserted.
            self._completion_index = (self._completion_index + 1) % len(self._completion.candidates)
            end = self.cursor_position
        else:
            self._completion = complete(self.value, self.cursor_position, self._nicknames())
            self._completion_index = 0
            if self._completion is None:
                return
            end = self._completion.end
        start = self._completion.start
        candidate = self._completion.candidates[self._completion_index]
        self.value = self.value[:start] + candidate + self.value[end:]
        self.cursor_position = start + len(candidate)
        self._completed_value = self.value
