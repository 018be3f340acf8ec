"""Chat defaults from `settings.toml` in the user config directory; command-line flags win.

    host = "chat.example.com"
    port = 7779
    line = "Webphone1"
    lines = ["Webphone1", "Sales"]  # several lines, each in its own tab (instead of line)
    nick = "John"
    theme = "nord"
    scrollback = 5000
    log = false
    notify = "osc777"
    typing = false

    [properties]
    mood = "sunny"
"""

from __future__ import annotations

import json
import re
import stat
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from .exceptions import OzchatError, ProtocolError
from .files import write_atomically
from .protocol import validate_line

DEFAULT_SCROLLBACK = 2000
NOTIFY_CHOICES = ("osc777", "osc9", "bell", "off")  # how a message for me is told while the terminal is not focused


class SettingsError(OzchatError):
    """The settings file cannot be read or holds a value of the wrong kind."""


@dataclass(frozen=True)
class ChatSettings:
    host: str | None = None
    port: int | None = None
    line: str | None = None
    lines: list[str] | None = None  # each joined in its own tab; wins over `line`
    nick: str | None = None
    avatar: str | None = None
    token: str | None = None
    theme: str | None = None
    scrollback: int | None = None
    log: bool | None = None  # conversations logged to files (on unless false)
    notify: str | None = None  # one of NOTIFY_CHOICES
    typing: bool | None = None  # others told while I type (on unless false)
    properties: dict[str, Any] = field(default_factory=dict)

    def option_defaults(self) -> dict[str, Any]:
        """The settings that stand in for command-line options not given."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "properties" and getattr(self, f.name) is not None
        }


def settings_path() -> Path:
    return Path(platformdirs.user_config_dir("ozchat")) / "settings.toml"


_TYPES: dict[str, type] = {f.name: int if f.name in ("port", "scrollback") else str for f in fields(ChatSettings)}
_TYPES["log"] = bool
_TYPES["lines"] = list
_TYPES["typing"] = bool
_TYPES["properties"] = dict


def load_settings(path: Path) -> ChatSettings:
    """Read the file; a missing file means no settings."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ChatSettings()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    for key, value in data.items():
        expected = _TYPES.get(key)
        if expected is None:
            raise SettingsError(f"{path}: unknown setting {key!r}; known: {', '.join(_TYPES)}")
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            kind = {dict: "table", bool: "true or false", list: "list"}.get(expected, expected.__name__)
            raise SettingsError(f"{path}: {key} should be a {kind}")
        if key == "lines" and not (isinstance(value, list) and value and all(isinstance(n, str) and n for n in value)):
            raise SettingsError(f"{path}: lines should be a list of line names, such as [\"Webphone1\", \"Sales\"]")
        names: list[str] = [data[key]] if key == "line" else data[key] if key == "lines" else []
        for name in names:
            try:
                validate_line(name)  # the hub's own rule: a name it would refuse is refused here, before joining
            except ProtocolError as exc:
                raise SettingsError(f"{path}: {key}: {name!r} is not a line name ({exc.message})") from None
        if key == "notify" and value not in NOTIFY_CHOICES:
            raise SettingsError(f"{path}: notify should be one of {', '.join(NOTIFY_CHOICES)}, not {value!r}")
        if key == "scrollback" and isinstance(value, int) and value < 1:
            raise SettingsError(f"{path}: scrollback should be at least 1, not {value}")
    return ChatSettings(**data)


def save_setting(path: Path, key: str, value: str) -> None:
    """Set one top-level string setting in the file, keeping every other line as it was.

    Used for what is chosen inside the chat (the theme), so the next start begins with it.
    The file is replaced whole (a crash never leaves half of it), keeps its permissions, and a
    symbolic link (settings kept with one's dotfiles) stays a link: its target is replaced.
    """
    path = path.resolve()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    line = f"{key} = {json.dumps(value)}"  # a JSON string is a valid TOML basic string
    pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
    for index, existing in enumerate(lines):
        if existing.lstrip().startswith("["):
            lines.insert(0, line)  # a table begins: the key was not set at the top level
            break
        if pattern.match(existing):
            lines[index] = line
            break
    else:
        lines.insert(0, line)
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"), mode=mode)
