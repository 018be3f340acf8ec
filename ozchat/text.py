"""Which characters may reach a terminal, and making text from other people safe to show. No I/O.

Rich and Textual strip neither OSC nor CSI sequences, so everything another client sends
passes through `printable` before it is drawn or printed. The hub refuses the same characters
in line names, property names, nicknames and avatar names (`ozchat.protocol`).
"""

from __future__ import annotations

import unicodedata

# Zero-width joiner stays: emoji sequences (👨‍👩‍👧) need it.
_KEPT_FORMAT_CHARS = frozenset("\u200d")


def is_unprintable(char: str) -> bool:
    """True for controls, surrogates, line and paragraph separators and invisible format characters
    (bidi overrides, tag characters, zero-width spaces); the zero-width joiner is printable."""
    category = unicodedata.category(char)
    if category == "Cf":
        return char not in _KEPT_FORMAT_CHARS
    return category in ("Cc", "Cs", "Zl", "Zp")


def has_unprintable(text: str, *, or_space: bool = False) -> bool:
    """Whether any character of `text` is unprintable (or, with `or_space`, white space).

    `str.isprintable()` answers most text at C speed: it is False for every category above and
    for every space but U+0020, so only text it refuses is looked at character by character.
    """
    if text.isprintable():
        return or_space and " " in text
    return any(is_unprintable(char) or (or_space and char.isspace()) for char in text)


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control picture: ESC shows as ␛
    if code == 0x7F:
        return "\u2421"
    return f"<U+{code:04X}>"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Replace every unprintable character with a visible stand-in; a tab becomes a space."""
    out = []
    for char in text:
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char == "\t":
            out.append(" ")
        elif is_unprintable(char):
            # Shown as what it is, never obeyed.
            out.append(_visible(char))
        else:
            out.append(char)
    return "".join(out)
