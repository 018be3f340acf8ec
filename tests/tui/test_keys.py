"""Alt+1…9 rest on a private Textual table: a Textual that changes it fails here, not silently in a terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest
from textual import _ansi_sequences
from textual._xterm_parser import XTermParser

from ozchat.tui import keys


def test_a_fresh_textual_still_maps_esc_digits_to_characters_that_the_keys_module_drops():
    # In a fresh process: in this one an app made earlier has already dropped the entries.
    code = (
        "from ozchat.tui.keys import ALT_DIGITS, alt_digit_table, read_alt_digits_as_alt\n"
        "print(''.join(alt_digit_table()[key] for key in ALT_DIGITS))\n"
        "read_alt_digits_as_alt()\n"
        "print(any(key in alt_digit_table() for key in ALT_DIGITS))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == ["¡™£¢∞§¶•ª", "False"]


def test_esc_digit_is_read_as_alt_digit():
    keys.read_alt_digits_as_alt()
    parser = XTermParser()
    events = [*parser.feed("\x1b2"), *parser.feed("")]
    assert [getattr(event, "key", None) for event in events] == ["alt+2"]


def test_a_table_not_shaped_as_expected_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_ansi_sequences, "ANSI_SEQUENCES_KEYS", {"\x1b2": ("alt", "2")})
    with pytest.raises(TypeError, match=r"this Textual version needs ozchat\.tui\.keys updated"):
        keys.read_alt_digits_as_alt()
    monkeypatch.delattr(_ansi_sequences, "ANSI_SEQUENCES_KEYS")
    with pytest.raises(TypeError, match="ANSI_SEQUENCES_KEYS is not the table"):
        keys.read_alt_digits_as_alt()
