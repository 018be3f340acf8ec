"""Avatars as terminal cells. Widgets draw them only through an `AvatarPainter`.

`IdenticonAvatars` is the stand-in: a mirrored block pattern coloured from the phone
number. Pixel-art avatars from URLs come in as another painter with the same two methods.
"""

from __future__ import annotations

import colorsys
import hashlib
from typing import Protocol

from rich.color import Color
from rich.style import Style
from rich.text import Text

from ...protocol import ClientInfo

SMALL_SIZE = (4, 2)  # cells (width, height) in the sidebar
LARGE_SIZE = (16, 8)  # cells on the profile card


class AvatarPainter(Protocol):
    def small(self, info: ClientInfo) -> Text:
        """SMALL_SIZE cells."""
        ...

    def large(self, info: ClientInfo) -> Text:
        """LARGE_SIZE cells."""
        ...


def _pixels(phone_number: str, size: int) -> tuple[Color, Color, list[list[bool]]]:
    digest = hashlib.sha256(phone_number.encode("utf-8")).digest()
    hue = digest[0] / 255
    on = Color.from_rgb(*(round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.6, 0.65)))
    off = Color.from_rgb(*(round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.22, 0.35)))
    bits = int.from_bytes(digest[1:], "big")
    half = (size + 1) // 2
    rows = []
    for y in range(size):
        left = [bool(bits >> (y * half + x) & 1) for x in range(half)]
        rows.append(left + left[: size - half][::-1])  # mirrored, as identicons are
    return on, off, rows


class IdenticonAvatars:
    """Deterministic placeholder avatars: the same number always gets the same picture."""

    def small(self, info: ClientInfo) -> Text:
        # 4x4 pixels, two per cell stacked with an upper half block: square-ish on screen.
        on, off, rows = _pixels(info.phone_number, 4)
        text = Text()
        for y in range(0, 4, 2):
            if y:
                text.append("\n")
            for top, bottom in zip(rows[y], rows[y + 1]):
                text.append("▀", Style(color=on if top else off, bgcolor=on if bottom else off))
        return text

    def large(self, info: ClientInfo) -> Text:
        # 8x8 pixels, each two cells wide and one tall.
        on, off, rows = _pixels(info.phone_number, 8)
        text = Text()
        for y, row in enumerate(rows):
            if y:
                text.append("\n")
            for pixel in row:
                text.append("  ", Style(bgcolor=on if pixel else off))
        return text
