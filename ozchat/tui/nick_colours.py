"""Nickname colours: derived from names and numbers, stable across runs and machines."""

from __future__ import annotations

import zlib

from rich.style import Style

# Mid-tone hues that stay readable on dark and light themes alike.
_NICKNAME_COLOURS = (
    "#e06c75",
    "#d19a66",
    "#e5c07b",
    "#98c379",
    "#56b6c2",
    "#61afef",
    "#c678dd",
    "#ff7eb6",
    "#3ddbd9",
    "#be95ff",
    "#82cfff",
    "#ffab91",
)


def nickname_style(nickname: str, *, bold: bool = True) -> Style:
    """The same colour for the same nickname everywhere (chat pane, sidebar, card)."""
    index = zlib.crc32(nickname.casefold().encode("utf-8")) % len(_NICKNAME_COLOURS)
    return Style(color=_NICKNAME_COLOURS[index], bold=bold)
