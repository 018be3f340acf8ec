"""How much an unread message matters, and how a tab marks it: direct above a mention above a plain one."""

from __future__ import annotations

import re
from enum import IntEnum


class Unread(IntEnum):
    """How much the unread messages in a tab matter: a tab shows the highest."""

    NONE = 0
    MESSAGE = 1
    MENTION = 2
    DIRECT = 3


UNREAD_MARKS = {
    Unread.NONE: ("", ""),
    Unread.MESSAGE: ("", "dim"),
    Unread.MENTION: (" @", "bold $text-warning"),
    Unread.DIRECT: (" DM", "bold $text-error"),
}


def mentions(text: str, name: str) -> bool:
    """Whether `text` names `name` as a word of its own, ignoring case."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None
