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

# A private Textual table, checked against textual 8.2.7 and 8.2.8: `alt_digit_table` fails loudly if it changes.
from textual import _ansi_sequences

TAB_KEYS = 9  # Alt+1 … Alt+9
ALT_DIGITS = tuple(f"\x1b{digit}" for digit in range(1, TAB_KEYS + 1))


def alt_digit_table() -> dict[str, object]:
    """Textual's key table, if a dict whose `ESC 1` … `ESC 9` entries are absent or one character; else TypeError."""
    table = getattr(_ansi_sequences, "ANSI_SEQUENCES_KEYS", None)
    if not isinstance(table, dict) or any(
        not (isinstance(entry, str) and len(entry) == 1) for entry in (table.get(key, "-") for key in ALT_DIGITS)
    ):
        raise TypeError(
            "textual._ansi_sequences.ANSI_SEQUENCES_KEYS is not the table of ESC + digit entries that "
            "ozchat.tui.keys drops to read Alt+1…9: this Textual version needs ozchat.tui.keys updated"
        )
    return table


def read_alt_digits_as_alt() -> None:
    """Make Textual's parser read `ESC 1` … `ESC 9` as alt+1 … alt+9 (for the whole process)."""
    table = alt_digit_table()
    for key in ALT_DIGITS:
        table.pop(key, None)
