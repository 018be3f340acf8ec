"""Chat settings: TOML defaults under command-line flags."""

from __future__ import annotations

import pytest

from ozchat.cli import build_parser
from ozchat.exceptions import OzchatError
from ozchat.settings import ChatSettings, SettingsError, load_settings
from ozchat.tui.widgets import ChatLog

from .conftest import FIXED_TIME


def test_missing_file_means_no_settings(tmp_path):
    assert load_settings(tmp_path / "settings.toml") == ChatSettings()


def test_settings_are_defaults_and_flags_win(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('host = "chat.example"\nport = 7900\nnick = "John"\ntheme = "nord"\n[properties]\nmood = "sunny"\n')
    settings = load_settings(path)
    args = build_parser(settings).parse_args(["--nick", "Johnny", "--prop", "team=blue"])
    assert (args.host, args.port, args.nick, args.theme) == ("chat.example", 7900, "Johnny", "nord")
    assert args.settings_properties == {"mood": "sunny"} and args.prop == [("team", "blue")]


@pytest.mark.parametrize(
    ("text", "error"),
    [("port = 'x'", "port should be a int"), ("colour = 1", "unknown setting"), ("nick = ", "cannot read")],
)
def test_bad_settings_are_explained(tmp_path, text, error):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=error) as raised:
        load_settings(path)
    assert isinstance(raised.value, OzchatError)  # one tree: a caller may catch every ozchat failure


@pytest.mark.parametrize("value", ["-1", "0", "many"])
def test_scrollback_below_one_is_refused_on_the_command_line(value, capsys):
    with pytest.raises(SystemExit):
        build_parser(ChatSettings()).parse_args(["--scrollback", value])
    assert "argument --scrollback" in capsys.readouterr().err


@pytest.mark.parametrize("value", [-1, 0])
def test_scrollback_below_one_is_refused_in_the_settings_file(tmp_path, value):
    path = tmp_path / "settings.toml"
    path.write_text(f"scrollback = {value}\n")
    with pytest.raises(SettingsError, match=f"scrollback should be at least 1, not {value}"):
        load_settings(path)


def test_a_chat_log_refuses_to_keep_fewer_than_one_entry_and_keeps_the_last_with_one():
    with pytest.raises(ValueError, match="at least 1 entry"):
        ChatLog(-1)
    log = ChatLog(1)
    for n in range(3):
        log.add_system(FIXED_TIME, f"line {n}")
    assert [entry.body.plain for entry in log.entries] == ["line 2"]


def test_save_setting_sets_a_top_level_key_and_keeps_the_rest(tmp_path):
    from ozchat.settings import save_setting

    path = tmp_path / "settings.toml"
    save_setting(path, "theme", "nord")
    assert load_settings(path).theme == "nord"
    path.write_text('# mine\nnick = "John"\ntheme = "gruvbox"\n\n[properties]\ntheme = "not this one"\n')
    save_setting(path, "theme", "textual-light")
    kept = '# mine\nnick = "John"\ntheme = "textual-light"\n\n[properties]\ntheme = "not this one"\n'
    assert path.read_text() == kept
    path.write_text('[properties]\nmood = "sunny"\n')
    save_setting(path, "theme", 'say "hi" ☃')
    settings = load_settings(path)
    assert (settings.theme, settings.properties) == ('say "hi" ☃', {"mood": "sunny"})


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('lines = ["Sales", "Sa les"]', r"lines: 'Sa les' is not a line name \(a line name has no spaces"),
        ('lines = ["Sales", "' + "x" * 65 + '"]', r"lines: 'x{65}' is not a line name \(a line name has 1 to 64"),
        ('line = "Bell\\u0007"', r"line: 'Bell\\x07' is not a line name \(a line name has no spaces or control"),
    ],
)
def test_line_names_the_hub_would_refuse_are_refused_in_the_settings_file(tmp_path, text, error):
    path = tmp_path / "settings.toml"
    path.write_text(text + "\n")
    with pytest.raises(SettingsError, match=error):
        load_settings(path)


def test_save_setting_replaces_the_file_whole_and_keeps_its_permissions(tmp_path):
    from ozchat.settings import save_setting

    path = tmp_path / "settings.toml"
    old = 'nick = "John"\ntheme = "gruvbox"\n'
    path.write_text(old)
    path.chmod(0o600)
    with path.open() as reader_of_the_old_file:
        save_setting(path, "theme", "nord")
        assert reader_of_the_old_file.read() == old  # written in place, an open reader would see it cut or changed
    assert path.read_text() == 'nick = "John"\ntheme = "nord"\n'
    assert path.stat().st_mode & 0o777 == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["settings.toml"]


def test_save_setting_through_a_symbolic_link_replaces_its_target(tmp_path):
    from ozchat.settings import save_setting

    (tmp_path / "dotfiles").mkdir()
    target = tmp_path / "dotfiles" / "settings.toml"
    target.write_text('nick = "John"\n')
    link = tmp_path / "settings.toml"
    link.symlink_to(target)
    save_setting(link, "theme", "nord")
    assert link.is_symlink() and load_settings(target).theme == "nord"
