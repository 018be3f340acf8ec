"""Chat settings: TOML defaults under command-line flags."""

from __future__ import annotations

import pytest

from ozchat.cli import build_parser
from ozchat.tui.settings import ChatSettings, SettingsError, load_settings


def test_missing_file_means_no_settings(tmp_path):
    assert load_settings(tmp_path / "settings.toml") == ChatSettings()


def test_settings_are_defaults_and_flags_win(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('host = "chat.example"\nport = 7900\nnick = "John"\ntheme = "nord"\n[properties]\nmood = "sunny"\n')
    settings = load_settings(path)
    args = build_parser(settings).parse_args(["--nick", "Johnny", "--prop", "team=blue"])
    assert (args.host, args.port, args.nick, args.theme) == ("chat.example", 7900, "Johnny", "nord")
    assert args.settings_properties == {"mood": "sunny"} and args.prop == [("team", "blue")]


@pytest.mark.parametrize(("text", "error"), [("port = 'x'", "port should be a int"), ("colour = 1", "unknown setting"), ("nick = ", "cannot read")])
def test_bad_settings_are_explained(tmp_path, text, error):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=error):
        load_settings(path)
