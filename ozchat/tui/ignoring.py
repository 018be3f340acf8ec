"""/ignore: the people whose messages, actions and direct messages are hidden, by nickname.

Kept per hub and line in `<user data dir>/ignored/<host>_<port>/<line>.json` (a JSON list of
nicknames, 0600), so an ignored person stays ignored in the next run, whatever their number.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from ..chat_logs import FILE_MODE, hub_folder, make_private_folder, name_part
from ..files import write_atomically


def ignored_root() -> Path:
    return Path(platformdirs.user_data_dir("ozchat")) / "ignored"


def ignored_path(server: str, line: str) -> Path:
    return ignored_root() / hub_folder(server) / f"{name_part(line)}.json"


class IgnoreList:
    """Nicknames ignored (any case), and how many messages they had hidden in this run.

    With `path`, the list is read from it and every change written back (folders from `root` 0700).
    """

    def __init__(self, path: Path | None = None, *, root: Path | None = None) -> None:
        self.path = path
        self.root = root if root is not None or path is None else path.parent
        self.hidden = 0
        self._names: dict[str, str] = {}
        try:
            loaded = json.loads(path.read_bytes()) if path is not None else []
        except (OSError, ValueError):
            loaded = []  # none yet, or unreadable: the next change writes it afresh
        for name in loaded if isinstance(loaded, list) else []:
            if isinstance(name, str):
                self._names[name.casefold()] = name

    def hides(self, name: str) -> bool:
        return name.casefold() in self._names

    def names(self) -> list[str]:
        return sorted(self._names.values(), key=str.casefold)

    def add(self, name: str) -> bool:
        """Ignore `name`; False if it was already. Raises OSError if the list cannot be kept."""
        if self.hides(name):
            return False
        self._names[name.casefold()] = name
        self._save()
        return True

    def remove(self, name: str) -> bool:
        """Stop ignoring `name`; False if it was not. Raises OSError if the list cannot be kept."""
        if self._names.pop(name.casefold(), None) is None:
            return False
        self._save()
        return True

    def _save(self) -> None:
        if self.path is None or self.root is None:
            return
        make_private_folder(self.path.parent, self.root)
        write_atomically(self.path, json.dumps(self.names()).encode())
        os.chmod(self.path, FILE_MODE)
