"""Making text from other people safe to put on a terminal. No I/O.

Rich and Textual strip neither OSC nor CSI sequences, so everything another client sends
passes through `printable` before it is drawn or printed.
"""

from __future__ import annotations

import unicodedata

# Zero-width joiner stays: emoji sequences (👨‍👩‍👧) need it.
_KEPT_FORMAT_CHARS = frozenset("\u200d")


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control picture: ESC shows as ␛
    if code == 0x7F:
        return "\u2421"
    return f"<U+{code:04X}>"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Replace every control or invisible format character with a visible stand-in."""
    out = []
    for char in text:
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char == "\t":
            out.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or (
            unicodedata.category(char) == "Cf" and char not in _KEPT_FORMAT_CHARS
        ):
            # Controls, bidi overrides, invisible format and tag characters, line separators:
            # shown as what they are, never obeyed.
            out.append(_visible(char))
        else:
            out.append(char)
    return "".join(out)
