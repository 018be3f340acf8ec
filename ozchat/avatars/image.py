"""Avatars as pictures for the terminal: decode to a small square, and draw identicons.

The shared rules (formats, pixel cap, decoding) are in `ozchat.images`; Pillow is imported
only inside the functions. Everything here blocks: call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import colorsys
import hashlib
from typing import TYPE_CHECKING

from ..images import MAX_PIXELS, RGB, fit_square, load_image

if TYPE_CHECKING:
    from PIL import Image

Colour = str | RGB

MIN_SIZE = 2
MAX_SIZE = 128


def check_size(size: int) -> int:
    """Return `size` if it is an even side in pixels the renderer can draw, else raise ValueError."""
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE or size % 2:
        raise ValueError(f"an avatar side is an even number of pixels from {MIN_SIZE} to {MAX_SIZE}, not {size!r}")
    return size


def to_rgb(colour: Colour) -> RGB:
    """Read a colour given as "#rrggbb", a CSS name or rgb(...), or an (r, g, b) tuple."""
    if isinstance(colour, str):
        from PIL import ImageColor

        red, green, blue = ImageColor.getrgb(colour)[:3]
        return red, green, blue
    if len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
        raise ValueError(f"not an (r, g, b) colour: {colour!r}")
    return colour[0], colour[1], colour[2]


def decode_avatar(
    data: bytes, size: int, background: Colour = (0, 0, 0), *, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Decode `data` into a `size` x `size` RGB avatar, transparency laid over `background`."""
    from PIL import Image

    check_size(size)
    picture = fit_square(load_image(data, max_pixels=max_pixels, draft=size), size)
    base = Image.new("RGBA", picture.size, (*to_rgb(background), 255))
    return Image.alpha_composite(base, picture).convert("RGB")


def identicon_pixels(seed: str, size: int) -> list[list[RGB]]:
    """A deterministic symmetric 5x5 pattern in a colour derived from `seed`, `size` pixels square,
    as rows of colours: no Pillow, so a sidebar of a thousand identicons is drawn in a blink."""
    check_size(size)
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    ink = _rgb(colorsys.hls_to_rgb(hue, 0.42 + digest[2] / 255 * 0.16, 0.55 + digest[3] / 255 * 0.3))
    paper = _rgb(colorsys.hls_to_rgb(hue, 0.93, 0.35))
    bits = int.from_bytes(digest[4:6], "big")
    grid = [
        [ink if bits >> (row * 3 + min(column, 4 - column)) & 1 else paper for column in range(5)]  # 3, 4 mirror 1, 0
        for row in range(5)
    ]
    # Sampling at pixel centres (as Pillow's NEAREST does) keeps the mirror symmetry at any size.
    source = [min(4, int((index + 0.5) * 5 / size)) for index in range(size)]
    return [[grid[y][x] for x in source] for y in source]


def _rgb(channels: tuple[float, float, float]) -> RGB:
    red, green, blue = (round(channel * 255) for channel in channels)
    return red, green, blue
