"""The profile card: a large avatar, the phone number and every property someone shares."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ...protocol import ClientInfo
from ...text import printable
from ..avatar_board import AvatarBoard, AvatarView, plain_reason, rgb
from ..nick_colours import nickname_style
from .people_list import is_away

LARGE_AVATAR = 32  # pixels (32 columns by 16 rows) when the screen is tall enough
SMALL_AVATAR = 16  # pixels on a short screen such as 80x24
TALL_SCREEN = 36  # rows needed for the large avatar, its card's text and buttons


def property_text(value: Any) -> str:
    """A property as one readable line: strings as they are, anything else as JSON."""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return printable(shown)


def avatar_note(view: AvatarView) -> Text | None:
    """Under the name: that the avatar is loading, or why it is not shown."""
    if view.loading:
        return Text("avatar loading…", "dim italic")
    if view.error is None:
        return None
    return Text.assemble(
        f"Avatar not shown: {plain_reason(view.error)}.\n",
        (f"{view.error.code.value}: {printable(view.error.message)}", "dim"),
    )


class ProfileCard(ModalScreen[str | None]):
    """Dismissed with the phone number to message, or None; the avatar is drawn again when it loads."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("m", "message", "Message"),
    ]

    DEFAULT_CSS = """
    ProfileCard {
        align: center middle;
        & > #card {
            width: 72;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $primary;
            background: $surface;
            padding: 1 2;
        }
        & #card-top { height: auto; }
        & #card-avatar { width: auto; height: auto; margin-right: 2; }
        & #card-avatar-note { height: auto; margin-top: 1; }
        & #card-names { width: 1fr; height: auto; }
        & #card-name { text-style: bold; }
        & #card-number { color: $text-muted; }
        & #card-away { color: $warning; }
        & #card-properties { height: auto; max-height: 12; margin-top: 1; }
        & .card-property { height: auto; }
        & #card-buttons { height: auto; margin-top: 1; align-horizontal: right; }
        & #card-buttons > Button { margin-left: 2; }
    }
    """

    def __init__(self, info: ClientInfo, avatars: AvatarBoard, *, is_me: bool) -> None:
        super().__init__()
        self._info = info
        self._avatars = avatars
        self._is_me = is_me

    def compose(self) -> ComposeResult:
        info = self._info
        card = Vertical(id="card")
        card.border_title = "Profile"
        with card:
            with Horizontal(id="card-top"):
                yield Static(id="card-avatar")
                with Vertical(id="card-names"):
                    name = printable(info.display_name)
                    shown = Text(name + (" (you)" if self._is_me else ""), nickname_style(info.display_name))
                    yield Label(shown, id="card-name")
                    yield Label(Text(f"phone number {info.phone_number}"), id="card-number")
                    if is_away(info):
                        yield Label(Text("away"), id="card-away")
                    yield Static(id="card-avatar-note")
            with VerticalScroll(id="card-properties"):
                for key, value in sorted(info.properties.items(), key=lambda item: item[0].casefold()):
                    line = Text.assemble((printable(key), "bold"), ": ", property_text(value))
                    yield Static(line, classes="card-property")
                if not info.properties:
                    yield Static(Text("shares no properties", "dim italic"), classes="card-property")
            with Horizontal(id="card-buttons"):
                yield Button("Message", id="card-message", variant="primary", disabled=self._is_me)
                yield Button("Close", id="card-close")

    @property
    def avatar_size(self) -> int:
        return LARGE_AVATAR if self.app.size.height >= TALL_SCREEN else SMALL_AVATAR

    def show_avatar(self) -> None:
        """Draw the avatar as it is now: the picture, or the identicon and why."""
        picture = self.query_one("#card-avatar", Static)
        view = self._avatars.view(self._info, self.avatar_size, rgb(picture.background_colors[1]))
        picture.update(view.avatar)
        note = self.query_one("#card-avatar-note", Static)
        text = avatar_note(view)
        note.display = text is not None
        note.update(text or "")

    def on_mount(self) -> None:
        self.show_avatar()
        self.query_one("#card-close" if self._is_me else "#card-message", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "card-message":
            self.action_message()
        else:
            self.dismiss(None)

    def action_message(self) -> None:
        if not self._is_me:
            self.dismiss(self._info.phone_number)
