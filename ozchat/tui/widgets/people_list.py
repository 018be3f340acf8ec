"""The presence sidebar: everyone on the line in one Line-API list, sorted by nickname."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...avatars import RenderedAvatar
from ...protocol import ClientInfo
from ...roster import roster_order
from ...text import printable
from ..avatar_board import AvatarBoard, rgb
from ..messages import RGB
from ..nick_colours import nickname_style

WIDE_ROW_WIDTH = 28  # a sidebar this wide draws 8-pixel avatars (4 rows), a narrower one 4-pixel (2 rows)


def is_away(info: ClientInfo) -> bool:
    return info.get("away") not in (None, False, "")


class PeopleList(OptionList):
    """One option per person, as tall as the avatar; options are reused so a rebuild only re-sorts."""

    DEFAULT_CSS = """
    PeopleList {
        width: 30;
        height: 1fr;
        border: round $foreground 20%;
        border-title-color: $text-muted;
        padding: 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &:focus { border: round $primary; border-title-color: $text; }
        & > .option-list--option { padding: 0 1 0 0; }
    }
    Screen.-small PeopleList, Screen.-narrow PeopleList { width: 24; }
    Screen.-small PeopleList { display: none; }
    Screen.-small PeopleList.-shown { display: block; }  /* F2 shows it on a small screen */
    Screen.-wide PeopleList { width: 38; }
    """
    SCOPED_CSS = False  # its width follows the screen's size class

    def __init__(
        self, avatars: AvatarBoard, *, ignored: Callable[[ClientInfo], bool] = lambda info: False, id: str | None = None
    ) -> None:
        """`ignored(person)` says whose row is dimmed (/ignore)."""
        super().__init__(id=id)
        self._avatars = avatars
        self._ignored = ignored
        self._rows: dict[str, tuple[ClientInfo, bool, RenderedAvatar, Option]] = {}
        self._shown: tuple[list[ClientInfo], ClientInfo | None] = ([], None)
        self._drawn_with: tuple[int, RGB] | None = None
        self.border_title = "People 0"

    @property
    def avatar_size(self) -> int:
        return 8 if self.size.width >= WIDE_ROW_WIDTH else 4

    @property
    def avatar_background(self) -> RGB:
        """The list's own colour under the avatars, so transparent pixels blend into the theme.

        The focus tint is left out: focusing the list must not draw every avatar again.
        """
        return rgb(self.background_colors[0] + self.styles.background)

    def _option(self, info: ClientInfo, is_me: bool, size: int, background: RGB) -> Option:
        avatar = self._avatars.picture(info, size, background)
        cached = self._rows.get(info.phone_number)
        if cached is not None and cached[0] == info and cached[1] == is_me and cached[2] is avatar:
            return cached[3]
        lines = avatar.text_lines()
        ignored = self._ignored(info)
        name = Text(printable(info.display_name), "dim" if ignored else nickname_style(info.display_name))
        lines[0].append_text(Text.assemble(" ", name))
        if ignored:
            lines[0].append(" ignored", "dim italic")
        if is_me:
            lines[0].append(" (you)", "dim")
        lines[1].append_text(Text.assemble(" ", (info.phone_number, "dim")))
        if is_away(info):
            lines[1].append(" away", "italic yellow")
        option = Option(Text("\n").join(lines), id=info.phone_number)
        self._rows[info.phone_number] = (info, is_me, avatar, option)
        return option

    def avatar_of(self, phone_number: str) -> RenderedAvatar | None:
        """The avatar this person's row draws now."""
        row = self._rows.get(phone_number)
        return row[2] if row is not None else None

    def show_or_hide(self, *, small_screen: bool) -> bool:
        """F2: focus the list (shown over the chat on a small screen); if it has the focus there, hide it.

        False when it was hidden: the focus is for the caller to place.
        """
        if small_screen and self.has_focus and self.has_class("-shown"):
            self.remove_class("-shown")
            return False
        self.add_class("-shown")
        self.focus()
        return True

    def restyle(self) -> None:
        """Draw every row afresh: who is ignored changed."""
        self._rows.clear()
        self.redraw()

    def redraw(self) -> None:
        """Draw the people last shown again: an avatar arrived, the theme or the width changed."""
        self.show(*self._shown)

    def on_resize(self) -> None:
        if self._drawn_with is not None and self._drawn_with[0] != self.avatar_size:
            self.redraw()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._drawn_with is not None and self._drawn_with[1] != self.avatar_background:
            self.call_after_refresh(self.redraw)

    def show(self, people: Iterable[ClientInfo], me: ClientInfo | None) -> None:
        """Show exactly these people (and me); keeps the highlighted person and the scroll."""
        people = list(people)
        self._shown = (people, me)
        size, background = self.avatar_size, self.avatar_background
        self._drawn_with = (size, background)
        everyone = people if me is None else [*people, me]
        everyone.sort(key=roster_order)
        me_number = me.phone_number if me is not None else None
        options = [self._option(info, info.phone_number == me_number, size, background) for info in everyone]
        present = {info.phone_number for info in everyone}
        for number in [number for number in self._rows if number not in present]:
            del self._rows[number]
            self._avatars.forget(number)
        highlighted = self.highlighted_option.id if self.highlighted_option is not None else None
        scroll_y = self.scroll_y
        self.set_options(options)
        if highlighted in present:
            self.highlighted = self.get_option_index(highlighted)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self.border_title = f"People {len(options)}"
