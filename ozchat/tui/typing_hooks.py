"""What the chat app does about typing: tells the others of mine (unless turned off), shows theirs.

A mixin of `OzChatApp`, so the app itself needs only a line here and there: the typing line's
place in the layout, the events that end someone's typing (their message, their leaving) and
the conversation shown. The typing line keeps each line's typists apart, by the line's tab id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.widgets import TextArea

from .messages import TypingReceived
from .widgets.typing_indicator import TypingIndicator

if TYPE_CHECKING:
    from ..client import OzWebClient
    from .app import OzChatApp


def counts_as_typing(text: str) -> bool:
    """The input holds a message being written: some text, and not a /command (// sends a leading slash)."""
    start = text.lstrip()
    return bool(start) and (not start.startswith("/") or start.startswith("//"))


class TypingHooks:
    """Tells the hub while keys are pressed in the composer, and the typing line what the hub tells."""

    # Off (`typing = false`, `--no-typing`): this client sends no typing frames; it still shows others'.
    send_typing = True
    # Where my typing was last told (the line's client, the partner or None): the input is shared by
    # every tab, so a tab left with text in it gets its `stopped` rather than fading on its own.
    _typing_in: tuple[OzWebClient, str | None] | None = None

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        app = cast("OzChatApp", self)
        if not self.send_typing or event.text_area.id != "composer" or not app.client.connected:
            return
        stopped = not counts_as_typing(event.text_area.text)
        to = app.active_conversation.partner
        self._typing_in = (app.client, to)
        app.run_worker(app.client.send_typing(to, stopped=stopped), group="typing", exit_on_error=False)

    def on_tabbed_content_tab_activated(self) -> None:
        app = cast("OzChatApp", self)
        left, self._typing_in = self._typing_in, None
        if left is not None and left != (app.client, app.active_conversation.partner) and left[0].connected:
            client, to = left  # its client sends a `stopped` only after a `typing`
            app.run_worker(client.send_typing(to, stopped=True), group="typing", exit_on_error=False)

    def on_typing_received(self, message: TypingReceived) -> None:
        app = cast("OzChatApp", self)
        # Not once the app has begun to close (as `messages.while_running`), nor for a line left since.
        if not app.is_running or (line := app.line_for(message)) is None:
            return
        notice = message.notice
        # Someone ignored is not shown typing; their `stopped` still ends what was shown before /ignore.
        if not notice.stopped and line.ignoring.hides(notice.sender, line.name_of(notice.sender)):
            return
        app.query_one(TypingIndicator).heard(line.tab_id, notice)

    def typing_name(self, line_tab: str, phone_number: str) -> str:
        """The name the typing line shows for someone on the line of that tab."""
        app = cast("OzChatApp", self)
        line = next((line for line in app.lines if line.tab_id == line_tab), app.active_line)
        return line.name_of(phone_number)
