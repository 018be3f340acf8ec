"""What the chat pane keeps and the rules it draws between lines; no widget here.

An `Entry` is one thing said or one event. Rules are full-width lines with a label: the end of
the replayed history, a new day, and where the reader stopped reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

HISTORY_LABEL = " history "
UNREAD_LABEL = " new since you looked away "


@dataclass(eq=False)
class Entry:
    """One thing said or one event; `kind` picks its component style."""

    time: datetime
    body: Text
    name: str | None = None  # shown before the body in the nickname's colour
    kind: str = "message"  # message, action, system or error
    own: bool = False  # said by this user: set apart
    mention: bool = False  # names this user: highlighted
    history: bool = False
    tag: str | None = None  # shown before the name, e.g. "direct" for a DM outside its tab
    key: str | None = None  # a newer entry with the same key replaces this one (a status that updates)
    _strips: tuple[int, list[Strip]] | None = field(default=None, repr=False)


def day_label(day: date) -> str:
    """` Friday 17 May 2024 `: the rule above the first entry of a new day."""
    return f" {day:%A %d %B %Y} "


def rule(width: int, label: str, style: Style) -> Strip:
    """A line across the pane with `label` in its middle."""
    side = max(0, width - len(label)) // 2
    text = "─" * side + label + "─" * max(0, width - side - len(label))
    return Strip([Segment(text[:width], style)], width)


def highlighted(body: Text, pattern: re.Pattern[str], style: Style) -> Text:
    """A copy of `body` with every match of `pattern` in `style`."""
    marked = body.copy()
    for found in pattern.finditer(marked.plain):
        marked.stylize(style, found.start(), found.end())
    return marked
