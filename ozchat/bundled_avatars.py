"""A dozen original 16x16 pixel-art avatars, drawn from the maps below; no internet needed.

    python -m ozchat.bundled_avatars OUTDIR     # writes OUTDIR/<name>.png for each

The PNGs shipped in ``ozchat/assets/avatars/`` are this module's output; the hub serves them
by name, reading them without Pillow; the hub and the client's avatars share this module and
no other of the avatar package. Each map gives the left half of a symmetric face,
mirrored to 16 columns; "." is transparent and every other letter a colour from the avatar's palette.
"""

from __future__ import annotations

import re
import sys
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

SIDE = 16

_SHIPPED = files("ozchat") / "assets" / "avatars"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")

_ART: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "cat": (
        {"k": "#3b2414", "o": "#f29b38", "p": "#f7a1b5", "e": "#5fc44b", "w": "#fbe9d0", "n": "#e0607e"},
        (
            "........",
            ".k......",
            ".kk.....",
            ".kpk....",
            ".kppk...",
            ".koookkk",
            "kooooooo",
            "kooooooo",
            "kooekooo",
            "kooekooo",
            "kooooooo",
            "koowwwwn",
            "kowwwwww",
            ".kowwwww",
            "..kkoooo",
            "....kkkk",
        ),
    ),
    "robot": (
        {"d": "#4a5263", "g": "#aab4c3", "r": "#ff4d4d", "y": "#ffd83d", "c": "#3fd0e0"},
        (
            "........",
            ".......y",
            ".......d",
            "..dddddd",
            "..dggggg",
            "..dgrrgg",
            "..dgrrgg",
            "dddggggg",
            "dddggggg",
            "..dgcccc",
            "..dgcdcd",
            "..dggggg",
            "..dddddd",
            "....dggg",
            "..dddggg",
            ".ddggggg",
        ),
    ),
    "ghost": (
        {"w": "#f4f6ff", "b": "#b9c3e8", "k": "#2b2d42", "p": "#f7a8c4"},
        (
            "........",
            ".....www",
            "...wwwww",
            "..wwwwww",
            ".bwwwwww",
            ".bwkkwww",
            ".bwkkwww",
            "bwwwwwww",
            "bwpwwwww",
            "bwwwwwwk",
            "bwwwwwww",
            "bwwwwwww",
            "bwwwwwww",
            "bwwwwwww",
            "bw.bw.ww",
            "b...b...",
        ),
    ),
    "owl": (
        {"n": "#7a4e2d", "l": "#e8cfa6", "y": "#ffd23f", "k": "#1d1d1d", "o": "#f08a24"},
        (
            "........",
            ".n......",
            ".nn.....",
            ".nnnnnnn",
            "nnyyyynn",
            "nyykkyyn",
            "nyykkyyn",
            "nnyyyyno",
            "nnnnnnoo",
            "nnnlllll",
            "nnllnlln",
            "nnlllnll",
            "nnllnlln",
            ".nnlllll",
            "..nnnnnn",
            "...oo.o.",
        ),
    ),
    "fox": (
        {"o": "#e8702a", "w": "#fff4e6", "k": "#2a1a12", "d": "#a8461a"},
        (
            "........",
            "d.......",
            "dd......",
            "dod.....",
            "dwod....",
            "dwwoddod",
            "oooooooo",
            "oooooooo",
            "okkooooo",
            "wkkooooo",
            "wwoooooo",
            ".wwwoooo",
            "..wwwwww",
            "...wwwww",
            "....wwwk",
            "......kk",
        ),
    ),
    "alien": (
        {"g": "#7ed957", "d": "#3f8f2b", "k": "#101418", "w": "#e8ffe0"},
        (
            "...d....",
            "....d...",
            ".....ggg",
            "...ggggg",
            "..gggggg",
            ".ggggggg",
            ".gkkkggg",
            "gkwkkkgg",
            "gkkkkkgg",
            ".gkkkggg",
            ".ggggggg",
            "..gggggg",
            "...ggggd",
            "....gggg",
            ".....ggg",
            "........",
        ),
    ),
    "frog": (
        {"g": "#4caf50", "l": "#c5e86c", "k": "#102010", "w": "#ffffff", "r": "#d63c3c"},
        (
            "........",
            "........",
            ".ggg....",
            "gwwwg...",
            "gwkkg...",
            "gwkkgggg",
            "gggggggg",
            "gggggggg",
            "gggggggg",
            "grgggggg",
            "ggrrrrrr",
            "gggggggg",
            ".gllllll",
            "..llllll",
            "...ggggg",
            "........",
        ),
    ),
    "penguin": (
        {"k": "#1f2430", "w": "#f8f8f8", "o": "#ffa62b", "b": "#3a4254"},
        (
            "........",
            ".....kkk",
            "...kkkkk",
            "..kkkkkk",
            "..kkwwww",
            ".kkwkwww",
            ".kkwkwww",
            ".kkwwwoo",
            "kkkwwwwo",
            "kbkwwwww",
            "kbkwwwww",
            "kbkwwwww",
            ".kkwwwww",
            ".kkkwwww",
            "..oooo..",
            "........",
        ),
    ),
    "bear": (
        {"b": "#8b5a2b", "l": "#d9b38c", "k": "#24160b", "p": "#c98f6a"},
        (
            "........",
            "........",
            ".bb.....",
            "bpbb....",
            "bbbbbbbb",
            ".bbbbbbb",
            ".bbbbbbb",
            ".bbkbbbb",
            ".bbkbbbb",
            ".bbbblll",
            ".bbbllkk",
            ".bbblllk",
            "..bbllll",
            "...bbbbb",
            ".....bbb",
            "........",
        ),
    ),
    "panda": (
        {"k": "#1b1b1b", "w": "#fafafa", "g": "#d8d8d8", "p": "#f4a6b8"},
        (
            "........",
            "........",
            ".kk.....",
            "kkkw....",
            "kkwwwwww",
            ".wwwwwww",
            ".wkkwwww",
            ".kkwkwww",
            ".kkkkwww",
            ".wkkwwww",
            ".pwwwwkk",
            ".wwwwwwk",
            "..wwwkkk",
            "...wwwww",
            ".....www",
            "........",
        ),
    ),
    "octopus": (
        {"p": "#a25bd8", "d": "#6b2f9e", "w": "#ffffff", "k": "#1a1024", "c": "#f49ac1"},
        (
            "........",
            ".....ppp",
            "...ppppp",
            "..pppppp",
            ".ppppppp",
            ".ppwkppp",
            ".ppwkppp",
            ".cpppppp",
            ".ppppppd",
            "..pppppp",
            ".ppppppp",
            "pp.pp.pp",
            "p..p..p.",
            "p.dp.p..",
            ".p..p...",
            "........",
        ),
    ),
    "bunny": (
        {"w": "#fdfdfd", "p": "#f6a5c0", "k": "#2b2b2b", "g": "#d5d5de"},
        (
            "..gg....",
            ".gwpg...",
            ".gwpg...",
            ".gwpg...",
            ".gwpg...",
            "..gwgggg",
            ".gwwwwww",
            ".gwwwwww",
            ".gwwkwww",
            ".gwwkwww",
            ".gppwwwp",
            ".gwwwwkw",
            "..gwwwwk",
            "...gwwww",
            "....gggg",
            "........",
        ),
    ),
}

NAMES: tuple[str, ...] = tuple(sorted(_ART))


def bundled_names() -> list[str]:
    """The names of the bundled avatars, sorted, e.g. ``["alien", "bear", ...]``."""
    return sorted(item.name.removesuffix(".png") for item in _SHIPPED.iterdir() if item.name.endswith(".png"))


def bundled_avatar(name: str) -> bytes | None:
    """The PNG of the bundled avatar `name` ("cat" or "cat.png"), or None for any other name."""
    stem = name.removesuffix(".png")
    if not _NAME.fullmatch(stem):
        return None
    try:
        return (_SHIPPED / f"{stem}.png").read_bytes()
    except OSError:
        return None


def draw(name: str) -> Image.Image:
    """The avatar `name` as a 16x16 RGBA image with a transparent background."""
    from PIL import Image, ImageColor  # only here: the hub serves the shipped files without Pillow

    palette, half = _ART[name]
    image = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    for y, row in enumerate(half):
        for x, key in enumerate(row + row[::-1]):
            if key != ".":
                image.putpixel((x, y), ImageColor.getcolor(palette[key], "RGBA"))
    return image


def write_all(directory: Path) -> list[Path]:
    """Write every avatar as `directory`/<name>.png; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in NAMES:
        path = directory / f"{name}.png"
        draw(name).save(path, "PNG", optimize=True)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ozchat.bundled_avatars OUTDIR", file=sys.stderr)
        return 2
    for path in write_all(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
