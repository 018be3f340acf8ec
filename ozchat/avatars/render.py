"""Draw avatars as half-block pixel art with rich-pixels: two pixels per terminal cell, stacked.

`RenderedAvatar` is plain Rich segments; Pillow and rich-pixels load when a picture is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from ..images import RGB
from .image import check_size, decode_avatar

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True, slots=True)
class RenderedAvatar:
    """An avatar as terminal cells: `size` pixels square, drawn `size` columns by `size // 2` rows.

    It is a Rich renderable; `lines` (Segments) and `text_lines()` serve Line-API widgets.
    """

    size: int
    lines: tuple[tuple[Segment, ...], ...]

    @property
    def width(self) -> int:
        return self.size

    @property
    def height(self) -> int:
        return len(self.lines)

    def text_lines(self) -> list[Text]:
        """One Text per row of cells, e.g. for an OptionList prompt or a DataTable cell."""
        texts = []
        for line in self.lines:
            text = Text(no_wrap=True, overflow="crop")
            for segment in line:
                text.append(segment.text, segment.style)
            texts.append(text)
        return texts

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.size, self.size)


def render_image(image: Image.Image) -> RenderedAvatar:
    """Draw a square image with an even side; each cell is "▄" in the lower pixel's colour on the upper's."""
    from rich_pixels import HalfcellRenderer

    size = check_size(image.width)
    if image.height != size:
        raise ValueError(f"a rendered avatar is square, not {image.width}x{image.height}")
    segments = HalfcellRenderer().render(image.convert("RGB"), None)
    return RenderedAvatar(size, tuple(tuple(line) for line in Segment.split_lines(segments)))


def render_pixels(rows: list[list[RGB]]) -> RenderedAvatar:
    """Draw opaque square pixel rows as `render_image` draws the same image, without Pillow or rich-pixels."""
    size = check_size(len(rows))
    styles: dict[tuple[RGB, RGB], Style] = {}
    lines = []
    for upper, lower in zip(rows[::2], rows[1::2], strict=True):
        line = []
        for top, bottom in zip(upper, lower, strict=True):
            style = styles.get((top, bottom))
            if style is None:
                # The very style rich-pixels parses for such a cell, so both drawings compare equal.
                style = styles[top, bottom] = Style.parse(f"{_css(bottom)} on {_css(top)}")
            line.append(Segment("▄", style))
        lines.append(tuple(line))
    return RenderedAvatar(size, tuple(lines))


def _css(colour: RGB) -> str:
    return f"rgb({colour[0]},{colour[1]},{colour[2]})"


def render_avatar(data: bytes, size: int, background: RGB) -> RenderedAvatar:
    """Decode and draw image bytes in one go (blocking: meant for ``asyncio.to_thread``)."""
    return render_image(decode_avatar(data, size, background))
