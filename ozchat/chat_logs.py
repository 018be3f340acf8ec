"""Chat logs on disk: one file a day per conversation, one line per message, like irssi's.

    <user data dir>/logs/<host>_<port>/<line>/<YYYY-MM-DD>.log
    <user data dir>/logs/<host>_<port>/<line>/direct-<nickname>/<YYYY-MM-DD>.log

Each line is `YYYY-MM-DD HH:MM:SS <nick> text`, `... * nick text` for an action and
`... -- John is ONLINE` for an event, with control characters shown as on screen (`printable`).
Folders are 0700 and files 0600: what people said to you is for your eyes only.

History the hub replays on every join is logged once: `LoggedUpTo` (pure) remembers, per line,
the highest sequence number written and the epoch it counts in; it is kept beside the logs.
Appends go through files kept open; the chat makes them in a thread of its own (`tui/chat_logger.py`).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import platformdirs

from .files import write_atomically
from .protocol import server_url
from .text import printable

FOLDER_MODE = 0o700
FILE_MODE = 0o600
STATE_FILE = "logged.json"  # in the line's folder: what has been written already
_NOT_IN_NAMES = frozenset('/\\:*?"<>|')  # characters no file name on any system may hold


def logs_root() -> Path:
    return Path(platformdirs.user_data_dir("ozchat")) / "logs"


def name_part(name: str) -> str:
    """`name` as one file name: unprintable and path characters become `_`, and it is never `.` or `..`."""
    shown = "".join("_" if char in _NOT_IN_NAMES else char for char in printable(name))
    return shown if shown.strip(".") else "_" + shown


def hub_folder(server: str) -> str:
    """`<host>_<port>` for a hub address such as `localhost`, `[::1]:7779` or `wss://chat.example.com/`."""
    parts = urlsplit(server_url(server))
    port = parts.port or (443 if parts.scheme == "wss" else 80)  # a bare host was given DEFAULT_PORT already
    return name_part(f"{parts.hostname}_{port}")


def line_folder(root: Path, server: str, line: str) -> Path:
    return root / hub_folder(server) / name_part(line)


def message_text(name: str, text: str, *, action: bool = False) -> str:
    """`<John> hello` or `* John waves`, on one line whatever the text holds."""
    if action:
        return f"* {printable(name)} {printable(text)}"
    return f"<{printable(name)}> {printable(text)}"


def event_text(text: str) -> str:
    """`-- John is ONLINE`: an event, not something said."""
    return f"-- {printable(text)}"


def log_line(time: datetime, text: str) -> str:
    return f"{time:%Y-%m-%d %H:%M:%S} {text}\n"


class LoggedUpTo:
    """The highest sequence numbers logged, per numbering (the line's, or my direct messages'), in one epoch.

    A message is new unless its number is at most the highest logged in the same epoch: a hub
    that lost its history numbers afresh under a new epoch, and all it replays then is new.
    """

    def __init__(self, epoch: str | None = None, highest: dict[str, int] | None = None) -> None:
        self.epoch = epoch
        self.highest: dict[str, int] = dict(highest or {})

    def take(self, epoch: str | None, numbering: str, seq: int) -> bool:
        """Whether the message numbered `seq` in `numbering` is to be logged; if so it counts as logged."""
        if epoch != self.epoch:
            self.epoch, self.highest = epoch, {}
        if seq <= self.highest.get(numbering, 0):
            return False
        self.highest[numbering] = seq
        return True

    def to_json(self) -> bytes:
        return json.dumps({"epoch": self.epoch, "highest": self.highest}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LoggedUpTo:
        """What `to_json` wrote; anything else (a torn or foreign file) counts as nothing logged."""
        try:
            loaded: Any = json.loads(data)
            epoch, highest = loaded["epoch"], loaded["highest"]
        except (ValueError, TypeError, KeyError):
            return cls()
        if not (epoch is None or isinstance(epoch, str)) or not isinstance(highest, dict):
            return cls()
        counts = {key: seq for key, seq in highest.items() if isinstance(seq, int) and not isinstance(seq, bool)}
        return cls(epoch, counts)


def make_private_folder(folder: Path, root: Path) -> None:
    """Create `folder` and those between it and `root`, each 0700 (and the user data folder if missing)."""
    root.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    missing = [path for path in [folder, *folder.parents] if not path.exists() and root in [path, *path.parents]]
    for path in reversed(missing):
        path.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(path, FOLDER_MODE)  # the umask may have narrowed it, never widened: set it as meant


class LineLogs:
    """The logs of one line on one hub: the line's file and one folder per direct partner."""

    def __init__(self, root: Path, server: str, line: str) -> None:
        self.root = root
        self.folder = line_folder(root, server, line)
        self._open: dict[Path, IO[str]] = {}
        try:
            self.logged = LoggedUpTo.from_json((self.folder / STATE_FILE).read_bytes())
        except OSError:  # none yet, or unreadable: the first write says what is wrong
            self.logged = LoggedUpTo()

    def path(self, day: datetime, partner: str | None = None) -> Path:
        """The file for that day: the line's, or the direct conversation's with `partner` (a nickname)."""
        folder = self.folder if partner is None else self.folder / f"direct-{name_part(partner)}"
        return folder / f"{day:%Y-%m-%d}.log"

    def write(self, time: datetime, text: str, partner: str | None = None) -> None:
        """Append one line (`message_text` or `event_text`) to the day's file; raises OSError."""
        path = self.path(time, partner)
        file = self._open.get(path)
        if file is None:
            for old in [p for p in self._open if p.parent == path.parent]:  # yesterday's file is done
                self._open.pop(old).close()
            make_private_folder(path.parent, self.root)
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            os.fchmod(descriptor, FILE_MODE)
            file = self._open[path] = os.fdopen(descriptor, "a", encoding="utf-8", newline="\n")
        file.write(log_line(time, text))
        file.flush()

    def write_numbered(
        self, epoch: str | None, numbering: str, seq: int, time: datetime, text: str, partner: str | None = None
    ) -> bool:
        """`write` a message unless it was logged before (`LoggedUpTo.take`), and keep that on disk for the
        next start; False if it was logged before. Raises OSError."""
        if not self.logged.take(epoch, numbering, seq):
            return False
        self.write(time, text, partner)
        state = self.folder / STATE_FILE
        write_atomically(state, self.logged.to_json())
        os.chmod(state, FILE_MODE)
        return True

    def close(self) -> None:
        for file in self._open.values():
            file.close()
        self._open.clear()
