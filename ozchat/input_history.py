"""What was typed in the chat, kept per hub and line across runs so Up/Down and Ctrl+R find it.

One JSON string a line (an input may hold line breaks) in
`<user data dir>/input-history/<host>_<port>/<line>.jsonl`, 0600 in 0700 folders, bounded:
past twice `max_entries` lines it is rewritten with the newest `max_entries`.
A file that cannot be read or written costs only the recall across runs, never the chat.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from .chat_logs import FILE_MODE, hub_folder, make_private_folder, name_part
from .files import write_atomically

MAX_ENTRIES = 500


def input_history_root() -> Path:
    return Path(platformdirs.user_data_dir("ozchat")) / "input-history"


def input_history_path(server: str, line: str) -> Path:
    return input_history_root() / hub_folder(server) / f"{name_part(line)}.jsonl"


class InputHistory:
    """The inputs kept in `path`, oldest first, at most `max_entries` of them."""

    def __init__(self, path: Path, max_entries: int = MAX_ENTRIES, *, root: Path | None = None) -> None:
        """`root` (by default the file's folder) and the folders below it are made 0700."""
        self.path = path
        self.root = root if root is not None else path.parent
        self.max_entries = max_entries
        self._lines = 0  # lines in the file, counted at load and on each append

    def load(self) -> list[str]:
        """The kept inputs; lines that are not a JSON string (a torn write) are skipped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []
        self._lines = len(lines)
        inputs = []
        for line in lines:
            try:
                text = json.loads(line)
            except ValueError:
                continue
            if isinstance(text, str):
                inputs.append(text)
        return inputs[-self.max_entries :]

    def add(self, text: str) -> None:
        """Keep one more input; a failure to write is dropped (only the next run misses it)."""
        try:
            self._append(text)
        except OSError:
            return

    def _append(self, text: str) -> None:
        make_private_folder(self.path.parent, self.root)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        with os.fdopen(descriptor, "a", encoding="utf-8") as file:
            file.write(json.dumps(text) + "\n")
        self._lines += 1
        if self._lines > 2 * self.max_entries:
            kept = self.load()
            write_atomically(self.path, "".join(json.dumps(entry) + "\n" for entry in kept).encode())
            os.chmod(self.path, FILE_MODE)
            self._lines = len(kept)
