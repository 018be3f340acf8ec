"""The presence sidebar: everyone on the line in one Line-API list, sorted by nickname."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...protocol import ClientInfo
from ...text import printable
from ..palette import nickname_style
from .avatar import AvatarPainter


def is_away(info: ClientInfo) -> bool:
    return info.get("away") not in (None, False, "")


def _sort_key(info: ClientInfo) -> tuple[str, str]:
    return (info.display_name.casefold(), info.phone_number)


class PeopleList(OptionList):
    """One two-line option per person; options are reused so a rebuild only re-sorts."""

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
    """

    def __init__(self, avatars: AvatarPainter, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._avatars = avatars
        self._rows: dict[str, tuple[ClientInfo, bool, Option]] = {}
        self.border_title = "People 0"

    def _option(self, info: ClientInfo, is_me: bool) -> Option:
        cached = self._rows.get(info.phone_number)
        if cached is not None and cached[0] == info and cached[1] == is_me:
            return cached[2]
        top, bottom = self._avatars.small(info).split("\n")
        name = Text(printable(info.display_name), nickname_style(info.display_name))
        line_one = Text.assemble(top, " ", name)
        if is_me:
            line_one.append(" (you)", "dim")
        line_two = Text.assemble(bottom, " ", (info.phone_number, "dim"))
        if is_away(info):
            line_two.append(" away", "italic yellow")
        option = Option(Text("\n").join([line_one, line_two]), id=info.phone_number)
        self._rows[info.phone_number] = (info, is_me, option)
        return option

    def show(self, people: Iterable[ClientInfo], me: ClientInfo | None) -> None:
        """Show exactly these people (and me); keeps the highlighted person and the scroll."""
        everyone = list(people) if me is None else [*people, me]
        everyone.sort(key=_sort_key)
        me_number = me.phone_number if me is not None else None
        options = [self._option(info, info.phone_number == me_number) for info in everyone]
        present = {info.phone_number for info in everyone}
        for number in [number for number in self._rows if number not in present]:
            del self._rows[number]
        highlighted = self.highlighted_option.id if self.highlighted_option is not None else None
        scroll_y = self.scroll_y
        self.set_options(options)
        if highlighted in present:
            self.highlighted = self.get_option_index(highlighted)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self.border_title = f"People {len(options)}"
