"""Alt+1…9 as terminals send them: `ESC 1` … `ESC 9`, which Textual would read as ¡ ™ £ ¢ ∞ § ¶ • ª.

tmux and most Linux terminals send Alt+2 as ESC followed by "2". Textual's key table maps those
pairs to the characters WezTerm on macOS means by them (Option+2 is ™), so the input box would
type "™" and no `alt+2` binding would ever fire. `read_alt_digits_as_alt` drops those entries:
Textual's parser then reads ESC 2 as it reads any ESC-prefixed character, `alt+2` carrying the
character "2". That character is printable, so the input box would still type it: the app's
Alt+digit bindings are priority bindings, seen before the focused widget. Alt+Left and Alt+Right
(`ESC [1;3D`, `ESC [1;3C`) Textual already reads as `alt+left` and `alt+right`.
"""

from __future__ import annotations

from typing import cast

from textual._ansi_sequences import ANSI_SEQUENCES_KEYS

TAB_KEYS = 9  # Alt+1 … Alt+9


def read_alt_digits_as_alt() -> None:
    """Make Textual's parser read `ESC 1` … `ESC 9` as alt+1 … alt+9 (for the whole process)."""
    table = cast(dict[str, object], ANSI_SEQUENCES_KEYS)
    for digit in range(1, TAB_KEYS + 1):
        table.pop(f"\x1b{digit}", None)
