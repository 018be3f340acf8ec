"""Making text from other people safe to put on a terminal. No I/O.

Rich and Textual strip neither OSC nor CSI sequences, so everything another client sends
passes through `printable` before it is drawn or printed.
"""

from __future__ import annotations

import unicodedata

# Bidirectional overrides and isolates can make a line read backwards: shown, not obeyed.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control picture: ESC shows as ␛
    if code == 0x7F:
        return "\u2421"
    return f"<U+{code:04X}>"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Replace every control character (C0, DEL, C1, bidi controls) with a visible stand-in."""
    out = []
    for char in text:
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char == "\t":
            out.append(" ")
        elif char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs"):
            out.append(_visible(char))
        else:
            out.append(char)
    return "".join(out)
