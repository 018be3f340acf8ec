"""The input box: one message, on several lines if need be; recalls earlier inputs and completes with Tab.

Up on the first row (Down on the last) walks the earlier inputs, kept across runs when given an
`InputHistory`; Ctrl+R finds the newest earlier input holding what is typed, and again the next.

Enter sends; Shift+Enter or Ctrl+J starts a new line. A bracketed paste is inserted whole. A
terminal that pastes without brackets types the text: an Enter followed at once by more text
is part of such a paste, so it becomes a line break instead of sending half of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import Document

from ...input_history import InputHistory
from ..commands import Completion, complete

SCROLL_KEYS = Binding.Group("Scroll")
NEWLINE_KEYS = ("shift+enter", "ctrl+j")
PASTE_SETTLE = 0.03  # seconds an Enter waits for more typed text before it sends


class Composer(TextArea):
    """Where messages and /commands are typed; Enter posts Composer.Submitted with the text."""

    @dataclass
    class Submitted(Message):
        """The text to send, as typed; the composer is empty again (Up recalls it)."""

        composer: Composer
        value: str

        @property
        def control(self) -> Composer:
            return self.composer

    BINDINGS = [
        Binding("up", "recall(-1)", "Earlier input", show=False),
        Binding("down", "recall(1)", "Later input", show=False),
        Binding("tab", "complete", "Complete", show=False),
        Binding("ctrl+r", "search_history", "Search earlier inputs", show=False),
        # The chat scrolls while the focus stays here, so typing goes on.
        Binding("pageup", "app.scroll_chat('page_up')", "Scroll up", key_display="PgUp", group=SCROLL_KEYS),
        Binding("pagedown", "app.scroll_chat('page_down')", "Scroll down", key_display="PgDn", group=SCROLL_KEYS),
        Binding("ctrl+home", "app.scroll_chat('oldest')", "Oldest", show=False),
        Binding("ctrl+end", "app.scroll_chat('newest')", "Newest", show=False),
        Binding("end", "end", "End of line", show=False),
    ]

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 8;
        border: tall $foreground 15%;
        &:focus { border: tall $primary; }
    }
    """

    def __init__(
        self,
        nicknames: Callable[[], Iterable[str]],
        *,
        max_recall: int = 200,
        paste_settle: float = PASTE_SETTLE,
        history: InputHistory | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            tab_behavior="focus",
            highlight_cursor_line=False,
            placeholder="Message, or /help (Shift+Enter: new line)",
        )
        self._nicknames = nicknames
        self._max_recall = max_recall
        self._paste_settle = paste_settle
        self._enters = 0
        self._pending_enter: int | None = None  # the Enter waiting to send, by its count
        self._history = history
        self._recall: list[str] = history.load()[-max_recall:] if history is not None else []
        self._history_query: str | None = None  # what Ctrl+R looks for, while its finds are shown
        self._recall_index = len(self._recall)  # past the newest: the draft
        self._draft = ""
        self._completion: Completion | None = None
        self._completion_index = 0
        self._completed_value: str | None = None

    # ---- the text as one string -------------------------------------------------------

    @property
    def value(self) -> str:
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    @property
    def cursor_index(self) -> int:
        """The cursor as an offset into `value`."""
        return cast(Document, self.document).get_index_from_location(self.cursor_location)

    @cursor_index.setter
    def cursor_index(self, index: int) -> None:
        self.move_cursor(cast(Document, self.document).get_location_from_index(index))

    # ---- Enter, new lines and pastes typed without brackets ---------------------------

    @dataclass
    class EnterSettled(Message, bubble=False):
        """Posted `paste_settle` seconds after an Enter: behind any keys of a paste already queued here."""

        enter: int

    async def _on_key(self, event: events.Key) -> None:
        if self._pending_enter is not None:
            self._pending_enter = None
            if event.key == "enter" or event.is_printable:
                self.insert("\n")  # text right after an Enter: a paste, and that Enter was one of its lines
            else:
                self._submit()
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self._enters += 1
            enter = self._pending_enter = self._enters
            self.set_timer(self._paste_settle, lambda: self.post_message(self.EnterSettled(enter)))
        elif event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
        # Any other key goes on to TextArea's own handler.

    def on_composer_enter_settled(self, message: EnterSettled) -> None:
        if message.enter == self._pending_enter:
            self._submit()

    def _submit(self) -> None:
        """Hand the text over and empty the box at once, so what is typed next is kept for the next message."""
        self._pending_enter = None
        text = self.value
        if not text.strip():
            return
        self.remember(text)
        self.value = ""
        self.post_message(self.Submitted(self, text))

    def restore(self, text: str) -> None:
        """Put back a message that was not sent, ahead of whatever was typed since."""
        typed = self.value
        self.value = text + ("\n" + typed if typed else "")

    # ---- recall and completion --------------------------------------------------------

    def use_history(self, history: InputHistory | None, recall: list[str]) -> None:
        """Walk `recall` and keep new inputs in it and in `history` from now on (another line's inputs)."""
        self._history = history
        self._recall = recall
        self._recall_index = len(recall)
        self._history_query = None
        self._draft = ""

    def remember(self, text: str) -> None:
        """Keep a submitted input for Up/Down; repeats of the last one are kept once."""
        if text and (not self._recall or self._recall[-1] != text):
            self._recall.append(text)
            del self._recall[: -self._max_recall]
            if self._history is not None:
                self._history.add(text)
        self._history_query = None
        self.border_title = None
        self._recall_index = len(self._recall)
        self._draft = ""

    def action_recall(self, step: int) -> None:
        """Up on the first line (Down on the last) recalls; elsewhere it moves between the lines."""
        row = self.cursor_location[0]
        if step < 0 and row > 0:
            self.action_cursor_up()
            return
        if step > 0 and row < self.document.line_count - 1:
            self.action_cursor_down()
            return
        index = self._recall_index + step
        if not 0 <= index <= len(self._recall):
            return
        if self._recall_index == len(self._recall):
            self._draft = self.value
        self._recall_index = index
        self.value = self._recall[index] if index < len(self._recall) else self._draft

    def _showing_find(self) -> bool:
        """Whether the text is what Ctrl+R found last."""
        index = self._recall_index
        return self._history_query is not None and index < len(self._recall) and self.value == self._recall[index]

    def action_search_history(self) -> None:
        """Ctrl+R: the newest earlier input holding what is typed (any case); pressed again, the next older."""
        if not self._showing_find():
            self._history_query = self.value
            if self._recall_index == len(self._recall):
                self._draft = self.value  # Down past the newest input brings it back
            start = len(self._recall)
        else:
            start = self._recall_index
        query = self._history_query or ""
        for index in range(start - 1, -1, -1):
            if query.casefold() in self._recall[index].casefold():
                self._recall_index = index
                self.value = self._recall[index]
                self.border_title = f"earlier input with {query!r} (Ctrl+R: older)"
                return
        self.border_title = f"no earlier input with {query!r}"

    def on_text_area_changed(self) -> None:
        if self.border_title and not self._showing_find():
            self._history_query = None
            self.border_title = None

    async def action_end(self) -> None:
        """End goes to the end of the line; pressed there, to the newest line of the chat."""
        if self.cursor_at_end_of_line:
            await self.run_action("app.scroll_chat('newest')")
        else:
            self.action_cursor_line_end()

    def action_complete(self) -> None:
        if self._completion is not None and self.value == self._completed_value:
            # Tab again: the next candidate replaces the one just inserted.
            self._completion_index = (self._completion_index + 1) % len(self._completion.candidates)
            end = self.cursor_index
        else:
            self._completion = complete(self.value, self.cursor_index, self._nicknames())
            self._completion_index = 0
            if self._completion is None:
                return
            end = self._completion.end
        start = self._completion.start
        candidate = self._completion.candidates[self._completion_index]
        self.value = self.value[:start] + candidate + self.value[end:]
        self.cursor_index = start + len(candidate)
        self._completed_value = self.value
